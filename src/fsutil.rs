//! Durable file operations: every change to a store is a rename or link that is fsynced
//! together with the directories involved, and nothing is ever overwritten.

use crate::fault;
use rustix::fs::{renameat_with, RenameFlags, CWD};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opens a file for reading only if it is a regular file, never following a symlink in
/// its last component and never blocking: a FIFO or a device put where a message was
/// (opening a FIFO without `O_NONBLOCK` waits for a writer forever) is refused with
/// "not a regular file", a symlink with `ELOOP` ("symbolic link: not followed").
pub fn open_regular(path: &Path) -> io::Result<File> {
    use rustix::fs::{open, Mode, OFlags};
    let fd = open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            io::Error::new(io::ErrorKind::InvalidInput, "symbolic link: not followed")
        } else {
            io::Error::from(e)
        }
    })?;
    regular(File::from(fd))
}

/// The file, if it is a regular file (checked on the open descriptor, so nothing can
/// be swapped in between the check and the read).
pub fn regular(f: File) -> io::Result<File> {
    if f.metadata()?.is_file() {
        Ok(f)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

/// [`open_regular`], then the whole file.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open_regular(path)?;
    let mut data = Vec::new();
    f.read_to_end(&mut data)?;
    Ok(data)
}

/// `e` with `what` (the path or paths it concerns) before its message, keeping its kind:
/// every error of the helpers below that change a store names what it failed on, so no
/// caller can print a bare "Permission denied (os error 13)".
fn named(what: impl std::fmt::Display, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// fsyncs a directory so that renames, links and unlinks in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    fsync_dir_raw(dir).map_err(|e| named(format!("syncing folder {}", dir.display()), e))
}

fn fsync_dir_raw(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Renames `from` to `to`, failing with `AlreadyExists` rather than replacing `to`.
/// Falls back to link + unlink where the filesystem lacks `RENAME_NOREPLACE`. The error
/// names both paths.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    rename_noreplace_raw(from, to).map_err(|e| {
        named(
            format!("renaming {} to {}", from.display(), to.display()),
            e,
        )
    })
}

/// [`rename_noreplace`] with the OS error as it is (its errno kept, for `EXDEV`).
fn rename_noreplace_raw(from: &Path, to: &Path) -> io::Result<()> {
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            std::fs::hard_link(from, to)?;
            fault::point("rename.linked");
            std::fs::remove_file(from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Are two paths on the same filesystem?
pub fn same_fs(a: &Path, b: &Path) -> io::Result<bool> {
    let dev = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.dev())
            .map_err(|e| named(p.display(), e))
    };
    Ok(dev(a)? == dev(b)?)
}

/// Writes `data` to a new file `path` (failing if it exists), with `mode`, and fsyncs it.
pub fn write_new_synced(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_new_inner(path, data, mode, true)
}

/// Writes `data` to a new file `path` (failing if it exists), with `mode`, *not* synced:
/// for a file of a batch made durable together by [`SyncBatch::sync`].
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_new_inner(path, data, mode, false)
}

fn write_new_inner(path: &Path, data: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| named(format!("creating {}", path.display()), e))?;
    let r = f
        .write_all(data)
        .and_then(|_| if sync { f.sync_all() } else { Ok(()) });
    if let Err(e) = r {
        // Our own partial file, never mail that existed before.
        let _ = std::fs::remove_file(path);
        return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
    }
    Ok(())
}

/// Moves a file to `to` without replacing anything, durably: a rename on one filesystem;
/// across filesystems a copy to `tmp` (on the target's filesystem), fsync, rename into
/// place (never replacing), then unlink of the source. The directories involved are fsynced.
pub fn move_file(from: &Path, to: &Path, tmp: &Path) -> io::Result<()> {
    move_file_inner(from, to, tmp).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("moving {} to {}: {e}", from.display(), to.display()),
        )
    })
}

fn move_file_inner(from: &Path, to: &Path, tmp: &Path) -> io::Result<()> {
    let from_dir = parent(from);
    let to_dir = parent(to);
    let renamed = same_fs(from_dir, to_dir)?
        && match rename_noreplace_raw(from, to) {
            Ok(()) => true,
            // The same filesystem under another mount (a bind mount): copy instead.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => false,
            Err(e) => return Err(e),
        };
    if renamed {
        fault::point("move.renamed");
    } else {
        let data = read_regular(from)?;
        let mode = std::fs::symlink_metadata(from)?.mode() & 0o777;
        if tmp.exists() {
            std::fs::remove_file(tmp)?; // our own leftover from an interrupted run
        }
        write_new_synced(tmp, &data, mode)?;
        fault::point("move.copied");
        // A rename, not link + unlink: a crash must not leave the temporary copy behind
        // (in a store, on restore, it would stay there for good).
        rename_noreplace_raw(tmp, to)?;
        fsync_dir_raw(to_dir)?;
        fault::point("move.linked");
        std::fs::remove_file(from)?;
        fault::point("move.unlinked");
    }
    fsync_dir_raw(to_dir)?;
    fsync_dir_raw(from_dir)?;
    fault::point("move.synced");
    Ok(())
}

/// The temporary file the rename-based mbox rewrite of older versions wrote beside
/// `path` (`.NAME.maildedup-tmp`): `restore` removes one a killed run left behind.
pub fn sibling_tmp(path: &Path) -> std::path::PathBuf {
    let fname = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent(path).join(format!(".{fname}.maildedup-tmp"))
}

/// New files made durable together, once per batch instead of once per file.
///
/// Why `syncfs` and not an fsync per file: on ext4 and XFS every `fsync` of a new file
/// writes its data and then commits the journal and flushes the disk cache, so a
/// thousand small files cost a thousand commits and cache flushes (measured: 150–210
/// messages a second). `syncfs` on the filesystem the files were written to writes
/// every dirty page and inode of that filesystem and commits and flushes once. It
/// reports a writeback error of any file on that filesystem since the descriptor it is
/// given was opened (Linux 5.8 and later; the descriptor is opened by [`SyncBatch::watch`]
/// before the batch's first write), so a failed write of one of our files is not missed.
/// Its cost is that it also writes other programs' dirty data on that filesystem,
/// which only takes time. Where `syncfs` does not exist (not Linux), each file is
/// fsynced instead. Either way the directories the files are then renamed into are
/// fsynced by the caller, once per batch.
#[derive(Default)]
pub struct SyncBatch {
    /// One open directory per filesystem (device) written to, opened before its writes.
    filesystems: Vec<(u64, File)>,
    /// The files written, for the fallback without `syncfs`.
    files: Vec<std::path::PathBuf>,
    /// The directories watched already.
    watched: Vec<std::path::PathBuf>,
}

impl SyncBatch {
    /// Notes that new files will be written in `dir`: opens it (once per filesystem)
    /// before the first write, so that `syncfs` reports any writeback error after it.
    pub fn watch(&mut self, dir: &Path) -> io::Result<()> {
        if self.watched.iter().any(|d| d == dir) {
            return Ok(());
        }
        self.watched.push(dir.to_path_buf());
        let f = File::open(dir).map_err(|e| named(dir.display(), e))?;
        let dev = f.metadata().map_err(|e| named(dir.display(), e))?.dev();
        if !self.filesystems.iter().any(|(d, _)| *d == dev) {
            self.filesystems.push((dev, f));
        }
        Ok(())
    }

    /// Notes a file written (not synced) in a watched directory.
    pub fn written(&mut self, path: &Path) {
        self.files.push(path.to_path_buf());
    }

    /// Has anything been written since the last sync?
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Makes every file written since the last sync durable (their data and inodes; the
    /// names they are renamed to afterwards need an fsync of their directory).
    pub fn sync(&mut self) -> io::Result<()> {
        if self.files.is_empty() {
            return Ok(());
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        for (_, dir) in &self.filesystems {
            rustix::fs::syncfs(dir).map_err(|e| named("syncing the filesystem", e.into()))?;
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        for f in &self.files {
            File::open(f)
                .and_then(|f| f.sync_all())
                .map_err(|e| named(f.display(), e))?;
        }
        self.files.clear();
        fault::point("batch.synced");
        Ok(())
    }
}

/// One file a [`move_batch`] moves: `from` to `to` (never replacing), through `tmp` (on
/// the target's filesystem) when it must be copied.
pub struct MoveItem<'a> {
    pub from: &'a Path,
    pub to: &'a Path,
    pub tmp: &'a Path,
}

/// What became of one [`MoveItem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// At `to`, durable, and gone from `from`.
    Moved,
    /// `from` had vanished (renamed or deleted by another program): nothing was done.
    Vanished,
}

/// The result of a [`move_batch`]: the fate of the first `done.len()` items, and the
/// error that stopped the batch there, if one did (the items after it are untouched or,
/// copied but not yet removed from `from`, present at both places).
pub struct BatchMoves {
    pub done: Vec<Moved>,
    pub error: Option<io::Error>,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Renamed,
    Copied,
    Linked,
    Vanished,
}

/// [`move_file`] for many files at once, durable together: renames on one filesystem
/// (then each directory involved is fsynced once); across filesystems every copy is
/// written, the batch synced once ([`SyncBatch`]), each copy renamed into place, the
/// target directories fsynced, and only then are the sources unlinked and their
/// directories fsynced. No source is removed before its copy is durable at `to`.
pub fn move_batch(items: &[MoveItem]) -> BatchMoves {
    let mut states: Vec<State> = Vec::with_capacity(items.len());
    let mut sync = SyncBatch::default();
    let mut error = None;
    for it in items {
        match move_first_half(it, &mut sync) {
            Ok(s) => states.push(s),
            Err(e) => {
                error = Some(named(
                    format!("moving {} to {}", it.from.display(), it.to.display()),
                    e,
                ));
                break;
            }
        }
    }
    // The copies: durable, then renamed into place.
    if states.contains(&State::Copied) {
        if let Err(e) = sync.sync() {
            error.get_or_insert(e);
        }
    }
    for (it, s) in items.iter().zip(states.iter_mut()) {
        if *s != State::Copied {
            continue;
        }
        if error.is_none() {
            match rename_noreplace_raw(it.tmp, it.to) {
                Ok(()) => {
                    *s = State::Linked;
                    fault::point("move.linked");
                    continue;
                }
                Err(e) => {
                    error = Some(named(
                        format!("moving {} to {}", it.from.display(), it.to.display()),
                        e,
                    ));
                }
            }
        }
        // Stopped: this copy stays where it came from; our temporary file goes.
        let _ = std::fs::remove_file(it.tmp);
    }
    let mut to_dirs: Vec<&Path> = Vec::new();
    let mut from_dirs: Vec<&Path> = Vec::new();
    for (it, s) in items.iter().zip(&states) {
        if matches!(s, State::Renamed | State::Linked) {
            to_dirs.push(parent(it.to));
            from_dirs.push(parent(it.from));
        }
    }
    to_dirs.sort();
    to_dirs.dedup();
    from_dirs.sort();
    from_dirs.dedup();
    for d in &to_dirs {
        if let Err(e) = fsync_dir(d) {
            error.get_or_insert(e);
        }
    }
    // Only now, every copy durable at its target, do the sources of copies go.
    if error.is_none() {
        for (it, s) in items.iter().zip(&states) {
            if *s == State::Linked {
                if let Err(e) = std::fs::remove_file(it.from) {
                    error = Some(named(format!("removing {}", it.from.display()), e));
                    break;
                }
                fault::point("move.unlinked");
            }
        }
    }
    for d in &from_dirs {
        if let Err(e) = fsync_dir(d) {
            error.get_or_insert(e);
        }
    }
    if !states.is_empty() {
        fault::point("move.synced");
    }
    let done = if error.is_some() {
        // Only what is certainly done counts: renames, and vanished sources.
        states
            .iter()
            .take_while(|s| matches!(s, State::Renamed | State::Vanished))
            .map(|s| match s {
                State::Vanished => Moved::Vanished,
                _ => Moved::Moved,
            })
            .collect()
    } else {
        states
            .iter()
            .map(|s| match s {
                State::Vanished => Moved::Vanished,
                _ => Moved::Moved,
            })
            .collect()
    };
    BatchMoves { done, error }
}

/// A rename on one filesystem; else the copy, written to `tmp` but not synced.
fn move_first_half(it: &MoveItem, sync: &mut SyncBatch) -> io::Result<State> {
    let vanished =
        |e: &io::Error| e.kind() == io::ErrorKind::NotFound && !it.from.exists() && !it.to.exists();
    let (from_dir, to_dir) = (parent(it.from), parent(it.to));
    let same = match same_fs(from_dir, to_dir) {
        Ok(s) => s,
        Err(e) if vanished(&e) => return Ok(State::Vanished),
        Err(e) => return Err(e),
    };
    if same {
        match rename_noreplace_raw(it.from, it.to) {
            Ok(()) => {
                fault::point("move.renamed");
                return Ok(State::Renamed);
            }
            // The same filesystem under another mount (a bind mount): copy instead.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
            Err(e) if vanished(&e) => return Ok(State::Vanished),
            Err(e) => return Err(e),
        }
    }
    let data = match read_regular(it.from) {
        Ok(d) => d,
        Err(e) if vanished(&e) => return Ok(State::Vanished),
        Err(e) => return Err(e),
    };
    let mode = std::fs::symlink_metadata(it.from)?.mode() & 0o777;
    if it.tmp.exists() {
        std::fs::remove_file(it.tmp)?; // our own leftover from an interrupted run
    }
    sync.watch(to_dir)?;
    write_new(it.tmp, &data, mode)?;
    sync.written(it.tmp);
    fault::point("move.copied");
    Ok(State::Copied)
}
