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

/// fsyncs a directory so that renames, links and unlinks in it are durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Renames `from` to `to`, failing with `AlreadyExists` rather than replacing `to`.
/// Falls back to link + unlink where the filesystem lacks `RENAME_NOREPLACE`.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
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
    Ok(std::fs::metadata(a)?.dev() == std::fs::metadata(b)?.dev())
}

/// Writes `data` to a new file `path` (failing if it exists), with `mode`, and fsyncs it.
pub fn write_new_synced(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    let r = f.write_all(data).and_then(|_| f.sync_all());
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
        && match rename_noreplace(from, to) {
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
        rename_noreplace(tmp, to)?;
        fsync_dir(to_dir)?;
        fault::point("move.linked");
        std::fs::remove_file(from)?;
        fault::point("move.unlinked");
    }
    fsync_dir(to_dir)?;
    fsync_dir(from_dir)?;
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
