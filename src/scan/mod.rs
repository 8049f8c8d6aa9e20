//! The scan pipeline: discover → read → fingerprint (two stages) → a list of copies.
//!
//! Stage 1 reads only the header block of every copy (the first 16 KiB of a Maildir file,
//! a slice of a window of the mbox read with `pread`). Stage 2 digests bodies only for the copies that can
//! have a duplicate: those sharing a Message-ID with another copy, or, without a
//! Message-ID, sharing a header digest. `ScanOptions::hash_all` digests every body; the
//! test suite checks that both give the same groups.
//!
//! No mail file is memory-mapped: another program that truncates or rewrites a file while
//! it is read (mutt syncing an mbox) would fault the process (SIGBUS). Files are read with
//! `pread`; a file that shrank or changed while it was read is skipped, with a reason.

mod imap_reader;
mod incremental;
mod maildir_reader;
mod mbox_reader;
mod seen;
pub mod time;

use crate::cache::{Cache, FileId};
use crate::identity::{message_hash_and_id, Digest, Flags};
use crate::model::{Loc, MessageCopy, ScanOutput, Skipped, Store, StoreKind, Sub};
use crate::observe::Observer;
use crate::store::discover::discover;
use crate::store::mbox;
use incremental::{cached_maildir_content, cached_mbox_content, records, use_maildir_cache};
use maildir_reader::fingerprint;
use mbox_reader::{by_window, changed_reason, open_mbox, read_mbox, OpenMbox};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Digest every body, not only those that can have a duplicate.
    pub hash_all: bool,
    /// The fingerprint cache folder (see [`crate::cache`]); `None`: no cache.
    pub cache: Option<PathBuf>,
    /// With the cache: stat every cached Maildir file and check its size and mtime.
    pub paranoid: bool,
    /// How to reach IMAP accounts given as PATHs (`imaps://user@host/`).
    pub imap: crate::store::imap::ImapOptions,

    /// Threads that read files (and fingerprint what they read); `None`: 4 per core, at
    /// most 32 ([`default_io_threads`]).
    pub io_threads: Option<usize>,
}

/// More reads in flight than cores: a read waiting on the disk holds no core, and a disk
/// (or its queue) serves many requests at once. On a cold page cache, 8 threads on 2 cores
/// scanned a 421 MB Maildir store in about half the time of 2; warm, no slower.
pub fn default_io_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 4).clamp(4, 32)
}

/// Bytes of a Maildir file read in stage 1: enough for almost every header block.
const HEAD_CHUNK: usize = 8 * 1024;

/// Per-thread reusable buffers.
#[derive(Default)]
struct Buffers {
    data: Vec<u8>,
    scratch: Vec<u8>,
}

/// One unit of stage-1 work: a Maildir or `.eml` file (`sub` is the Maildir subfolder;
/// unused for `.eml`, whose folder is `dirs[0]`). (mbox entries are fingerprinted while
/// their file is listed, window by window, so their pages can be released behind.)
struct Work {
    store: u32,
    sub: Sub,
    name: Box<OsStr>,
    /// The index of its record in the store's cache view, if it has one.
    cached: Option<u32>,
}

/// A listed store: the Maildir files still to read, or the mbox copies already
/// fingerprinted, and what was skipped.
struct Listed {
    opened: Opened,
    work: Vec<Work>,
    ready: Vec<MessageCopy>,
    skipped: Vec<Skipped>,
}

/// What listing a store gives: its Maildir folders (open, for openat) or its open mbox.
#[derive(Default)]
struct Opened {
    dirs: [Option<rustix::fd::OwnedFd>; 2],
    mbox: Option<OpenMbox>,
    /// Maildir with the cache: the folder's identity (the cache's records are used only
    /// when it matches) and the unique names listed more than once (never taken from
    /// the cache).
    maildir_id: Option<FileId>,
    cache_usable: bool,
    dup_uniques: HashSet<Box<[u8]>>,
    /// Messages of this store taken from the cache, and those read (or hashed) afresh:
    /// a store whose every record was used and nothing was read keeps its record as it is.
    hits: AtomicUsize,
    fresh: AtomicUsize,
}

/// Runs discovery and both fingerprint stages. An IMAP account that cannot be reached
/// or logged in to is recorded as an unreadable entry; [`try_scan`] makes it an error.
pub fn scan(paths: &[PathBuf], opts: &ScanOptions, progress: &dyn Observer) -> ScanOutput {
    match try_scan(paths, opts, progress) {
        Ok(out) => out,
        Err(e) => {
            // Nothing is scanned then (a report of the local stores alone would look
            // complete): the account's failure is the one, unreadable, entry.
            let account = paths
                .iter()
                .find(|p| is_imap_path(p))
                .cloned()
                .unwrap_or_default();
            ScanOutput {
                stores: Vec::new(),
                copies: Vec::new(),
                skipped: vec![Skipped::unreadable(account, e)],
                ..ScanOutput::default()
            }
        }
    }
}

/// Is this PATH an IMAP account URL (`imap://`, `imaps://`)?
pub fn is_imap_path(p: &std::path::Path) -> bool {
    p.to_str().is_some_and(crate::store::imap::url::is_imap_url)
}

/// [`scan`], failing when an IMAP account cannot be reached, secured or logged in to
/// (the error is a sentence naming the account, never its password).
pub fn try_scan(
    paths: &[PathBuf],
    opts: &ScanOptions,
    progress: &dyn Observer,
) -> Result<ScanOutput, String> {
    let threads = opts.io_threads.unwrap_or_else(default_io_threads).max(1);
    match io_pool(threads) {
        Some(pool) => pool.install(|| scan_in_pool(paths, opts, progress)),
        // No threads to be had: the current pool reads.
        None => scan_in_pool(paths, opts, progress),
    }
}

/// The reading pool of `threads` threads, made once per process and shared by every scan
/// (`--each` scans thousands of mailboxes, some at the same time: starting 8 threads for
/// each doubled the run's time). `None` when the threads cannot be started.
fn io_pool(threads: usize) -> Option<std::sync::Arc<rayon::ThreadPool>> {
    use std::sync::{Arc, Mutex};
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().ok()?;
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Some(p.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("maildedup-io-{i}"))
        .build()
        .ok()?;
    let pool = Arc::new(pool);
    pools.push((threads, pool.clone()));
    Some(pool)
}

/// [`try_scan`], on the thread pool it runs in.
fn scan_in_pool(
    paths: &[PathBuf],
    opts: &ScanOptions,
    progress: &dyn Observer,
) -> Result<ScanOutput, String> {
    let (local, remote): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.iter().cloned().partition(|p| !is_imap_path(p));
    let (mut stores, mut skipped) = discover(&local);
    // IMAP stage 1 first (one session per account, kept open for stage 2); its folders
    // are stores after the local ones.
    let mut imap_copies = Vec::new();
    let mut accounts = Vec::new();
    if !remote.is_empty() {
        progress.stage("reading", "IMAP headers", None);
    }
    for p in &remote {
        let raw = p.to_str().unwrap_or_default();
        accounts.push(imap_reader::list_account(
            raw,
            &opts.imap,
            &mut stores,
            &mut imap_copies,
            &mut skipped,
            progress,
        )?);
    }
    let loaded = opts
        .cache
        .as_deref()
        .and_then(|dir| Cache::load(dir, &stores, opts.paranoid, progress));
    let cache = loaded.as_ref();
    progress.stage("reading", "messages", None);
    // List every store (in parallel), then fingerprint all messages in one parallel pass
    // that writes straight into the final vector (no per-store copies to merge).
    let listed: Vec<Listed> = stores
        .par_iter()
        .enumerate()
        .map(|(i, store)| list_store(i as u32, store, progress, cache))
        .collect();
    let files: usize = listed.iter().map(|l| l.work.len()).sum();
    let ready: usize = listed.iter().map(|l| l.ready.len()).sum();
    let mut work = Vec::with_capacity(files);
    let mut opened = Vec::with_capacity(listed.len());
    let mut mbox_copies = Vec::with_capacity(listed.len());
    for l in listed {
        work.extend(l.work);
        mbox_copies.push(l.ready);
        skipped.extend(l.skipped);
        opened.push(l.opened);
    }
    let failed = std::sync::Mutex::new(Vec::new());
    let mut copies: Vec<MessageCopy> = Vec::with_capacity(files + ready);
    let seen = seen::SeenKeys::new(files);
    copies.par_extend(work.into_par_iter().map_init(Buffers::default, |bufs, w| {
        progress.advance(1);
        match fingerprint(w, &stores, &opened, bufs, cache, &seen) {
            Ok(c) => c,
            Err(s) => {
                if let Ok(mut f) = failed.lock() {
                    f.push(s);
                }
                FAILED
            }
        }
    }));
    for r in mbox_copies {
        copies.extend(r);
    }
    drop(seen);
    copies.extend(imap_copies);
    copies.retain(|c| c.length != FAILED.length);
    // Filled in parallel: sorted, so the same stores always give the same report.
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.extend(failed);

    let need = candidates(&copies, opts.hash_all);
    let todo: usize = need.iter().filter(|&&n| n).count();
    progress.stage("hashing", "candidate bodies", Some(todo as u64));
    let is_mbox = |c: &MessageCopy| matches!(c.loc, Loc::Mbox { .. } | Loc::Imap { .. });
    let mut failures: Vec<(usize, Skipped)> = Vec::new();
    let mut imap_commands = 0;
    for acct in accounts {
        let (failed, commands) =
            imap_reader::hash_account(acct, &mut copies, &need, &stores, progress);
        failures.extend(failed);
        imap_commands += commands;
    }
    if imap_commands > 0 {
        progress.info(&format!("IMAP: {imap_commands} commands sent"));
    }
    failures.extend(
        copies
            .par_iter_mut()
            .enumerate()
            .filter(|(i, c)| need[*i] && c.content.is_none() && !is_mbox(c))
            .map_init(Buffers::default, |bufs, (i, c)| {
                progress.advance(1);
                if cached_maildir_content(c, cache, &opened) {
                    return None;
                }
                opened[c.store as usize].fresh.fetch_add(1, Relaxed);
                digest(c, &stores, &opened, bufs).err().map(|e| (i, e))
            })
            .flatten()
            .collect::<Vec<_>>(),
    );
    // mbox candidates: in file order, window by window, releasing each window behind.
    if let Some(cache) = cache {
        for (i, c) in copies.iter_mut().enumerate() {
            if need[i] && matches!(c.loc, Loc::Mbox { .. }) {
                cached_mbox_content(c, cache, &opened);
            }
        }
    }
    let jobs: Vec<usize> = (0..copies.len())
        .filter(|&i| {
            need[i] && matches!(copies[i].loc, Loc::Mbox { .. }) && copies[i].content.is_none()
        })
        .collect();
    let mut hashed: Vec<(usize, Digest, Option<String>)> = Vec::with_capacity(jobs.len());
    // mbox files that changed since stage 1 read them: none of their copies is kept.
    let mut changed: HashSet<u32> = HashSet::new();
    for run in jobs.chunk_by(|&a, &b| copies[a].store == copies[b].store) {
        let store = copies[run[0]].store as usize;
        let path = &stores[store].path;
        opened[store].fresh.fetch_add(run.len(), Relaxed);
        let Some(m) = opened[store].mbox.as_ref() else {
            failures.extend(
                run.iter()
                    .map(|&i| (i, Skipped::changed(path, "mbox no longer open"))),
            );
            continue;
        };
        let span = |&i: &usize| {
            let off = copies[i].offset().unwrap_or(0) as usize;
            (off, off + copies[i].length as usize)
        };
        let read = by_window(m, run, span, |&i, bytes, base, bufs| {
            progress.advance(1);
            let (start, end) = span(&i);
            let (start, end) = (start - base, end - base);
            let (_, msg_start) = crate::identity::header::line_at(bytes, start);
            let msg_end = mbox::message_end(bytes, msg_start, end);
            let (content, id) = message_hash_and_id(&bytes[msg_start..msg_end], &mut bufs.scratch);
            (i, content, id)
        });
        match read.and_then(|got| m.check_unchanged().map(|()| got)) {
            Ok(got) => hashed.extend(got),
            Err(e) => {
                changed.insert(store as u32);
                skipped.push(Skipped::changed(path, changed_reason(&e)));
            }
        }
    }
    for (i, content, id) in hashed {
        copies[i].content = Some(Box::new(content));
        copies[i].message_id = id.map(String::into_boxed_str);
    }
    if !failures.is_empty() || !changed.is_empty() {
        let bad: std::collections::HashSet<usize> = failures.iter().map(|(i, _)| *i).collect();
        skipped.extend(failures.into_iter().map(|(_, s)| s));
        let mut i = 0;
        copies.retain(|c| {
            i += 1;
            !bad.contains(&(i - 1)) && !changed.contains(&c.store)
        });
    }
    progress.finish();
    if let Some(mut cache) = loaded {
        let clean: Vec<bool> = opened
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let used = match (&o.mbox, cache.view(i)) {
                    (Some(m), Some(_)) => m.prior.is_some(),
                    (None, Some(v)) => o.cache_usable && o.hits.load(Relaxed) == v.len(),
                    (_, None) => false,
                };
                used && o.fresh.load(Relaxed) == 0
            })
            .collect();
        cache.drop_views();
        let records = records(&stores, &copies, &opened, &clean);
        cache.save(paths, records, progress);
    }
    Ok(ScanOutput {
        stores,
        copies,
        skipped,
        // Conflicts explained by earlier runs: `group::conflict` reads neither copy again.
        comparisons: opts
            .cache
            .as_deref()
            .map(crate::cache::comparisons::load)
            .unwrap_or_default(),
    })
}

/// Placeholder for a message that could not be read (its `skipped` entry is recorded);
/// removed before the scan returns.
const FAILED: MessageCopy = MessageCopy {
    store: u32::MAX,
    time_source: None,
    loc: Loc::Mbox { offset: u64::MAX },
    length: u64::MAX,
    id_key: 0,
    message_id: None,
    header_key: None,
    content: None,
    delivered_at: None,
    flags: Flags(0),
    mtime: 0,
    rejected_times: 0,
};

/// A 64-bit key of a normalised Message-ID; never 0. blake3, not std's `DefaultHasher`:
/// the key is stored in the fingerprint cache, so it must not change with the Rust
/// release (std leaves `DefaultHasher`'s algorithm unspecified).
fn id_key(id: &str) -> u64 {
    let h = blake3::hash(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b).max(1)
}

/// Which copies need a content hash: those sharing a Message-ID key with another copy,
/// or (without a Message-ID) sharing a header digest.
fn candidates(copies: &[MessageCopy], all: bool) -> Vec<bool> {
    if all {
        return vec![true; copies.len()];
    }
    let mut need = vec![false; copies.len()];
    // Sorting 12-byte keys costs less memory than a hash map of them.
    let mut keys: Vec<(u64, u32)> = copies
        .iter()
        .enumerate()
        .filter(|(_, c)| c.id_key != 0)
        .map(|(i, c)| (c.id_key, i as u32))
        .collect();
    keys.sort_unstable();
    for run in keys.chunk_by(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            for &(_, i) in run {
                need[i as usize] = true;
            }
        }
    }
    drop(keys);
    let mut by_header: HashMap<&Digest, Vec<usize>> = HashMap::new();
    for (i, c) in copies.iter().enumerate() {
        if let (0, Some(k)) = (c.id_key, &c.header_key) {
            by_header.entry(k).or_default().push(i);
        }
    }
    for v in by_header.values().filter(|v| v.len() > 1) {
        for &i in v {
            need[i] = true;
        }
    }
    need
}

/// Stage 2 for a Maildir candidate: its content hash and Message-ID, from its whole file.
fn digest(
    c: &mut MessageCopy,
    stores: &[Store],
    opened: &[Opened],
    bufs: &mut Buffers,
) -> Result<(), Skipped> {
    let path = || c.path(stores);
    let fail = |e: io::Error| Skipped::io(path(), "cannot read", &e);
    let changed = || Skipped::changed(path(), "changed during the scan (size differs)");
    // Through the folder descriptor stage 1 listed it with (one name for the kernel to
    // look up, never a symlink or FIFO swapped in since), else by path.
    let dirs = &opened[c.store as usize].dirs;
    let (dir, name) = match &c.loc {
        Loc::Maildir { sub, name } => (dirs[*sub as usize].as_ref(), &**name),
        Loc::Eml { name } if !name.is_empty() => (dirs[0].as_ref(), &**name),
        _ => (None, OsStr::new("")),
    };
    let mut f = match dir {
        Some(fd) => {
            use rustix::fs::{openat, Mode, OFlags};
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            File::from(openat(fd, name, flags, Mode::empty()).map_err(|e| fail(e.into()))?)
        }
        None => crate::fsutil::open_regular(&path()).map_err(fail)?,
    };
    let meta = f.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(Skipped::not_mail(path(), "not a regular file"));
    }
    let len = meta.len();
    if len != c.length {
        return Err(changed());
    }
    // The whole file is wanted: read ahead freely.
    let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Sequential);
    // Read, never mapped: a file truncated by another program while it is read must
    // not fault the process. Sized from fstat: one read, no probing.
    bufs.data.clear();
    bufs.data.resize(len as usize, 0);
    let n = maildir_reader::read_full(&mut f, &mut bufs.data).map_err(fail)?;
    if n as u64 != c.length {
        return Err(changed());
    }
    let (content, id) = message_hash_and_id(&bufs.data, &mut bufs.scratch);
    c.content = Some(Box::new(content));
    c.message_id = id.map(String::into_boxed_str);
    Ok(())
}

/// Lists a folder of `.eml` files (opened, and read through its descriptor as a Maildir's
/// `cur/` is), or takes the one `.eml` file the store is.
fn list_eml(
    index: u32,
    store: &Store,
    opened: &mut Opened,
    work: &mut Vec<Work>,
    skipped: &mut Vec<Skipped>,
) {
    use rustix::fs::{open, FileType as T, Mode, OFlags};
    let one = |name: &OsStr| Work {
        store: index,
        sub: Sub::Cur,
        name: Box::from(name),
        cached: None,
    };
    if std::fs::symlink_metadata(&store.path).is_ok_and(|m| m.is_file()) {
        work.push(one(OsStr::new("")));
        return;
    }
    let d = &store.path;
    let fd = match open(
        d,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            skipped.push(Skipped::io(d, "cannot list", &io::Error::from(e)));
            return;
        }
    };
    let rd = match rustix::fs::Dir::read_from(&fd) {
        Ok(rd) => rd,
        Err(e) => {
            skipped.push(Skipped::io(d, "cannot list", &io::Error::from(e)));
            return;
        }
    };
    for ent in rd {
        let ent = match ent {
            Ok(ent) => ent,
            Err(e) => {
                skipped.push(Skipped::io(d, "cannot list", &io::Error::from(e)));
                break;
            }
        };
        let name = OsStr::from_bytes(ent.file_name().to_bytes());
        if name.as_bytes().first() == Some(&b'.')
            || !crate::store::discover::is_eml_name(&name.to_string_lossy())
        {
            continue;
        }
        let mut t = ent.file_type();
        if t == T::Unknown {
            t = match rustix::fs::statat(&fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => T::from_raw_mode(st.st_mode),
                Err(e) => {
                    skipped.push(Skipped::io(
                        d.join(name),
                        "cannot stat",
                        &io::Error::from(e),
                    ));
                    continue;
                }
            };
        }
        // Anything else (a symlink, a FIFO) is reported by discovery, which walks the
        // folder's entries too.
        if t == T::RegularFile {
            work.push(one(name));
        }
    }
    work.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    opened.dirs[0] = Some(fd);
}

/// Lists a store: a Maildir's `cur/` and `new/` (opened, so files are opened relative to
/// them: one path component for the kernel to resolve), or an mbox read and split.
fn list_store(index: u32, store: &Store, progress: &dyn Observer, cache: Option<&Cache>) -> Listed {
    let mut l = Listed {
        opened: Opened::default(),
        work: Vec::new(),
        ready: Vec::new(),
        skipped: Vec::new(),
    };
    match store.kind {
        StoreKind::Maildir => list_maildir(index, store, cache, &mut l),
        StoreKind::Eml => list_eml(index, store, &mut l.opened, &mut l.work, &mut l.skipped),
        StoreKind::Mbox => list_mbox(index, store, progress, cache, &mut l),
        // Read by `imap_reader` over its session, before the local stores.
        StoreKind::Imap => {}
    }
    l
}

/// A Maildir's `cur/` and `new/`, each opened and listed through its descriptor.
fn list_maildir(index: u32, store: &Store, cache: Option<&Cache>, l: &mut Listed) {
    let Listed {
        opened,
        work,
        skipped,
        ..
    } = l;
    // Never through a symlinked cur/, new/ or tmp/ (discovery skips such a
    // Maildir; this catches one swapped in since).
    if let Some(sub) = crate::store::discover::symlinked_maildir_sub(&store.path) {
        skipped.push(Skipped::not_mail(
            store.path.join(sub),
            crate::store::discover::SYMLINKED_SUB,
        ));
        return;
    }
    for sub in [Sub::Cur, Sub::New] {
        let d = store.path.join(sub.as_str());
        // Opened without following a symlink, then listed through that very
        // descriptor: nothing can be swapped in between.
        let fd = {
            use rustix::fs::{open, Mode, OFlags};
            open(
                &d,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let fd = match fd {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::NOENT => continue,
            Err(e)
                if e == rustix::io::Errno::LOOP
                    || std::fs::symlink_metadata(&d).is_ok_and(|m| m.file_type().is_symlink()) =>
            {
                skipped.push(Skipped::not_mail(&d, crate::store::discover::SYMLINKED_SUB));
                work.clear();
                break;
            }
            Err(e) => {
                skipped.push(Skipped::io(&d, "cannot list", &io::Error::from(e)));
                continue;
            }
        };
        let rd = match rustix::fs::Dir::read_from(&fd) {
            Ok(rd) => rd,
            Err(e) => {
                skipped.push(Skipped::io(&d, "cannot list", &io::Error::from(e)));
                continue;
            }
        };
        opened.dirs[sub as usize] = Some(fd);
        let first = work.len();
        for ent in rd {
            let ent = match ent {
                Ok(ent) => ent,
                Err(e) => {
                    skipped.push(Skipped::io(&d, "cannot list", &io::Error::from(e)));
                    break;
                }
            };
            let name = OsStr::from_bytes(ent.file_name().to_bytes());
            if name.as_bytes().first() == Some(&b'.') {
                continue;
            }
            use rustix::fs::FileType as T;
            let mut t = ent.file_type();
            if t == T::Unknown {
                // Filesystems that give no type in the listing: ask.
                t = match opened.dirs[sub as usize]
                    .as_ref()
                    .map(|fd| rustix::fs::statat(fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW))
                {
                    Some(Ok(st)) => T::from_raw_mode(st.st_mode),
                    Some(Err(e)) => {
                        skipped.push(Skipped::io(
                            d.join(name),
                            "cannot stat",
                            &io::Error::from(e),
                        ));
                        continue;
                    }
                    None => T::Unknown,
                };
            }
            match t {
                T::RegularFile => work.push(Work {
                    store: index,
                    sub,
                    name: Box::from(name),
                    cached: None,
                }),
                T::Symlink => skipped.push(Skipped::not_mail(
                    d.join(name),
                    "symbolic link: not followed",
                )),
                _ => skipped.push(Skipped::not_mail(d.join(name), "not a regular file")),
            }
        }
        work[first..].sort_unstable_by(|a, b| a.name.cmp(&b.name));
    }
    if let Some(cache) = cache {
        use_maildir_cache(opened, work, store, cache.view(index as usize));
    }
}

/// An mbox, read and split (stage 1 happens while it is read, window by window).
fn list_mbox(
    index: u32,
    store: &Store,
    progress: &dyn Observer,
    cache: Option<&Cache>,
    l: &mut Listed,
) {
    let Listed {
        opened,
        ready,
        skipped,
        ..
    } = l;
    let view = cache.and_then(|c| c.view(index as usize));
    // A file another program changed while it was read is read once more, then
    // skipped: its entries' offsets may point anywhere.
    let mut again = true;
    loop {
        let mut m = match open_mbox(&store.path) {
            Ok(m) => m,
            Err(s) => {
                skipped.push(s);
                break;
            }
        };
        let read = read_mbox(index, &store.path, &mut m, view, progress);
        match (read, m.check_unchanged()) {
            (Ok(copies), Ok(())) => {
                *ready = copies;
                opened.mbox = Some(m);
                break;
            }
            (Err(s), Ok(())) => {
                skipped.push(s);
                break;
            }
            (_, Err(_)) if again => again = false,
            (_, Err(e)) => {
                skipped.push(Skipped::changed(&store.path, changed_reason(&e)));
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache;
    use mbox_reader::sample_hash_of;

    #[test]
    fn sample_hash_over_a_source_is_the_cache_one() {
        let buf: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let entries = [(0u64, 100u64), (130, 20), (500, 400), (990, 10)];
        let src = mbox::Bytes(&buf);
        assert_eq!(
            sample_hash_of(&src, entries.into_iter()).ok().flatten(),
            cache::sample_hash(&buf, entries.into_iter())
        );
        let past_end = [(995u64, 10u64)];
        assert_eq!(
            sample_hash_of(&src, past_end.into_iter()).ok().flatten(),
            None
        );
        assert_eq!(cache::sample_hash(&buf, past_end.into_iter()), None);
    }
}
