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

use crate::cache::{self, BlobWriter, Cache, FileId, Head, Rec, Record};
use crate::cli::progress::Progress;
use crate::identity::{
    header_digest, message_hash, message_hash_and_id, Digest, Flags, HeaderFacts,
};
use crate::model::{Loc, MessageCopy, ScanOutput, Skipped, Store, StoreKind, Sub, TimeSource};
use crate::store::discover::discover;
use crate::store::maildir::MaildirName;
use crate::store::mbox::{self, MboxEntry};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Digest every body, not only those that can have a duplicate.
    pub hash_all: bool,
    /// The fingerprint cache folder (see [`crate::cache`]); `None`: no cache.
    pub cache: Option<PathBuf>,
    /// With the cache: stat every cached Maildir file and check its size and mtime.
    pub paranoid: bool,
}

/// Bytes of a Maildir file read in stage 1: enough for almost every header block.
const HEAD_CHUNK: usize = 8 * 1024;

/// Per-thread reusable buffers.
#[derive(Default)]
struct Buffers {
    data: Vec<u8>,
    scratch: Vec<u8>,
}

/// One unit of stage-1 work: a Maildir file. (mbox entries are fingerprinted while
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

/// Runs discovery and both fingerprint stages.
pub fn scan(paths: &[PathBuf], opts: &ScanOptions, progress: &Progress) -> ScanOutput {
    let (stores, mut skipped) = discover(paths);
    let loaded = opts
        .cache
        .as_deref()
        .and_then(|dir| Cache::load(dir, &stores, opts.paranoid));
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
    copies.par_extend(work.into_par_iter().map_init(Buffers::default, |bufs, w| {
        progress.inc(1);
        match fingerprint(w, &stores, &opened, bufs, cache) {
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
    copies.retain(|c| c.length != FAILED.length);
    // Filled in parallel: sorted, so the same stores always give the same report.
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.extend(failed);

    let need = candidates(&copies, opts.hash_all);
    let todo: usize = need.iter().filter(|&&n| n).count();
    progress.stage("hashing", "candidate bodies", Some(todo as u64));
    let is_mbox = |c: &MessageCopy| matches!(c.loc, Loc::Mbox { .. });
    let mut failures: Vec<(usize, Skipped)> = copies
        .par_iter_mut()
        .enumerate()
        .filter(|(i, c)| need[*i] && c.content.is_none() && !is_mbox(c))
        .map_init(Buffers::default, |bufs, (i, c)| {
            progress.inc(1);
            if cached_maildir_content(c, cache, &opened) {
                return None;
            }
            opened[c.store as usize].fresh.fetch_add(1, Relaxed);
            digest(c, &stores, bufs).err().map(|e| (i, e))
        })
        .flatten()
        .collect();
    // mbox candidates: in file order, window by window, releasing each window behind.
    if let Some(cache) = cache {
        for (i, c) in copies.iter_mut().enumerate() {
            if need[i] && is_mbox(c) {
                cached_mbox_content(c, cache, &opened);
            }
        }
    }
    let jobs: Vec<usize> = (0..copies.len())
        .filter(|&i| need[i] && is_mbox(&copies[i]) && copies[i].content.is_none())
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
                    .map(|&i| (i, Skipped::new(path, "mbox no longer open"))),
            );
            continue;
        };
        let span = |&i: &usize| {
            let off = copies[i].offset().unwrap_or(0) as usize;
            (off, off + copies[i].length as usize)
        };
        let read = by_window(m, run, span, |&i, bytes, base, bufs| {
            progress.inc(1);
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
                skipped.push(Skipped::new(path, changed_reason(&e)));
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
        cache.save(paths, records);
    }
    ScanOutput {
        stores,
        copies,
        skipped,
    }
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
fn digest(c: &mut MessageCopy, stores: &[Store], bufs: &mut Buffers) -> Result<(), Skipped> {
    let path = c.path(stores);
    let fail = |e: io::Error| Skipped::new(&path, format!("cannot read: {e}"));
    let changed = || Skipped::new(&path, "changed during the scan (size differs)");
    let mut f = crate::fsutil::open_regular(&path).map_err(fail)?;
    let len = f.metadata().map_err(fail)?.len();
    if len != c.length {
        return Err(changed());
    }
    // Read, never mapped: a file truncated by another program while it is read must
    // not fault the process.
    bufs.data.clear();
    bufs.data.reserve(len as usize);
    f.read_to_end(&mut bufs.data).map_err(fail)?;
    if bufs.data.len() as u64 != c.length {
        return Err(changed());
    }
    let (content, id) = message_hash_and_id(&bufs.data, &mut bufs.scratch);
    c.content = Some(Box::new(content));
    c.message_id = id.map(String::into_boxed_str);
    Ok(())
}

/// Lists a store: a Maildir's `cur/` and `new/` (opened, so files are opened relative to
/// them: one path component for the kernel to resolve), or an mbox read and split.
fn list_store(index: u32, store: &Store, progress: &Progress, cache: Option<&Cache>) -> Listed {
    let mut opened = Opened::default();
    let mut work = Vec::new();
    let mut ready = Vec::new();
    let mut skipped = Vec::new();
    match store.kind {
        StoreKind::Maildir => {
            // Never through a symlinked cur/, new/ or tmp/ (discovery skips such a
            // Maildir; this catches one swapped in since).
            if let Some(sub) = crate::store::discover::symlinked_maildir_sub(&store.path) {
                skipped.push(Skipped::new(
                    store.path.join(sub),
                    crate::store::discover::SYMLINKED_SUB,
                ));
                return Listed {
                    opened,
                    work,
                    ready,
                    skipped,
                };
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
                            || std::fs::symlink_metadata(&d)
                                .is_ok_and(|m| m.file_type().is_symlink()) =>
                    {
                        skipped.push(Skipped::new(&d, crate::store::discover::SYMLINKED_SUB));
                        work.clear();
                        break;
                    }
                    Err(e) => {
                        skipped.push(Skipped::new(
                            &d,
                            format!("cannot list: {}", io::Error::from(e)),
                        ));
                        continue;
                    }
                };
                let rd = match rustix::fs::Dir::read_from(&fd) {
                    Ok(rd) => rd,
                    Err(e) => {
                        skipped.push(Skipped::new(
                            &d,
                            format!("cannot list: {}", io::Error::from(e)),
                        ));
                        continue;
                    }
                };
                opened.dirs[sub as usize] = Some(fd);
                let first = work.len();
                for ent in rd {
                    let ent = match ent {
                        Ok(ent) => ent,
                        Err(e) => {
                            skipped.push(Skipped::new(
                                &d,
                                format!("cannot list: {}", io::Error::from(e)),
                            ));
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
                        t = match opened.dirs[sub as usize].as_ref().map(|fd| {
                            rustix::fs::statat(fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                        }) {
                            Some(Ok(st)) => T::from_raw_mode(st.st_mode),
                            Some(Err(e)) => {
                                skipped.push(Skipped::new(
                                    d.join(name),
                                    format!("cannot stat: {}", io::Error::from(e)),
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
                        T::Symlink => {
                            skipped.push(Skipped::new(d.join(name), "symbolic link: not followed"))
                        }
                        _ => skipped.push(Skipped::new(d.join(name), "not a regular file")),
                    }
                }
                work[first..].sort_unstable_by(|a, b| a.name.cmp(&b.name));
            }
            if let Some(cache) = cache {
                use_maildir_cache(&mut opened, &mut work, store, cache.view(index as usize));
            }
        }
        StoreKind::Mbox => {
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
                        ready = copies;
                        opened.mbox = Some(m);
                        break;
                    }
                    (Err(s), Ok(())) => {
                        skipped.push(s);
                        break;
                    }
                    (_, Err(_)) if again => again = false,
                    (_, Err(e)) => {
                        skipped.push(Skipped::new(&store.path, changed_reason(&e)));
                        break;
                    }
                }
            }
        }
    }
    Listed {
        opened,
        work,
        ready,
        skipped,
    }
}

/// mbox files at least this big have the pages of the part already read dropped from
/// the page cache (`posix_fadvise`), so one scan of a huge mbox does not evict
/// everything else. Smaller ones stay cached: the scan reads them again in stage 2, and
/// the next scan reads them from memory.
const DROP_CACHE_ABOVE: u64 = 1 << 30;

/// Bytes of an mbox read (and fingerprinted) at a time, by each thread.
const MBOX_WINDOW: usize = 4 << 20;

/// Stage 1 for every entry of an mbox: window by window, windows in parallel.
fn fingerprint_mbox(
    store: u32,
    m: &OpenMbox,
    entries: &[MboxEntry],
    progress: &Progress,
) -> io::Result<Vec<MessageCopy>> {
    by_window(
        m,
        entries,
        |e| (e.offset, e.end),
        |e, bytes, base, bufs| {
            progress.inc(1);
            mbox_copy(store, bytes, base, e, bufs)
        },
    )
}

/// `f(item, bytes, base, buffers)` for every item (in file order, `span` giving each
/// one's byte range), in order. The items are cut into runs that cover about
/// `MBOX_WINDOW` bytes of the file; the runs are read in parallel, each with `pread`
/// into a buffer its thread reuses, `bytes` being the file from offset `base` to the end
/// of the run's last item. A read that comes back short (the file shrank) is an error.
fn by_window<T: Sync, R: Send>(
    m: &OpenMbox,
    items: &[T],
    span: impl Fn(&T) -> (usize, usize) + Sync,
    f: impl Fn(&T, &[u8], usize, &mut Buffers) -> R + Sync,
) -> io::Result<Vec<R>> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < items.len() {
        let start = span(&items[at]).0;
        let n = items[at..]
            .partition_point(|x| span(x).0 < start + MBOX_WINDOW)
            .max(1);
        runs.push(at..at + n);
        at += n;
    }
    let src = m.source();
    let parts: Vec<io::Result<Vec<R>>> = runs
        .par_iter()
        .map_init(
            || (Vec::new(), Buffers::default()),
            |(buf, bufs), r| {
                let run = &items[r.clone()];
                let (Some(first), Some(last)) = (run.first(), run.last()) else {
                    return Ok(Vec::new());
                };
                let (start, end) = (span(first).0, span(last).1);
                mbox::Source::read_into(&src, start, end - start, buf)?;
                if buf.len() != end - start {
                    return Err(shrank());
                }
                let out = run.iter().map(|x| f(x, buf, start, bufs)).collect();
                m.done_with(start, end - start);
                Ok(out)
            },
        )
        .collect();
    let mut all = Vec::with_capacity(items.len());
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}

/// Stage 1 for one mbox entry, `bytes` holding the file from offset `base` on.
fn mbox_copy(
    store: u32,
    bytes: &[u8],
    base: usize,
    e: &MboxEntry,
    bufs: &mut Buffers,
) -> MessageCopy {
    let entry = MboxEntry {
        offset: e.offset - base,
        message_start: e.message_start - base,
        message_end: e.message_end - base,
        end: e.end - base,
    };
    let map = bytes;
    let msg = entry.message(map);
    let facts = HeaderFacts::read_facts(msg);
    let header_key = facts
        .message_id
        .is_none()
        .then(|| Box::new(header_digest(msg, &mut bufs.scratch)));
    let mut check = TimeCheck::new(facts.date);
    let (delivered_at, time_source) = match check.ok(mbox::from_line_time(entry.from_line(map))) {
        Some(t) => (Some(t), Some(TimeSource::MboxFromLine)),
        None => header_time(&facts, &mut check),
    };
    MessageCopy {
        store,
        time_source,
        loc: Loc::Mbox {
            offset: e.offset as u64,
        },
        length: entry.len() as u64,
        id_key: facts.message_id.as_deref().map_or(0, id_key),
        message_id: None,
        header_key,
        content: None,
        delivered_at,
        flags: facts.mbox_flags,
        mtime: 0,
        rejected_times: check.rejected,
    }
}

/// Stage 1 for one message: header facts only, no digest unless it has no Message-ID.
fn fingerprint(
    w: Work,
    stores: &[Store],
    opened: &[Opened],
    bufs: &mut Buffers,
    cache: Option<&Cache>,
) -> Result<MessageCopy, Skipped> {
    let Work {
        store,
        sub,
        name,
        cached,
    } = w;
    let dir = &stores[store as usize].path;
    let path = || dir.join(sub.as_str()).join(&*name);
    let dir_fd = opened[store as usize].dirs[sub as usize].as_ref();
    if let (Some(at), Some(cache)) = (cached, cache) {
        let rec = cache.view(store as usize).and_then(|v| v.rec(at as usize));
        if let Some(rec) = rec {
            if !cache.paranoid || stat_matches(dir_fd, &name, &rec) {
                opened[store as usize].hits.fetch_add(1, Relaxed);
                let flags = Flags::from_maildir(MaildirName::parse(&name.to_string_lossy()).flags);
                return Ok(MessageCopy {
                    store,
                    time_source: rec.time_source,
                    loc: Loc::Maildir { sub, name },
                    length: rec.length,
                    id_key: rec.id_key,
                    message_id: None,
                    header_key: rec.header_key.map(Box::new),
                    content: None,
                    delivered_at: rec.delivered_at,
                    flags,
                    mtime: rec.mtime,
                    rejected_times: rec.rejected_times,
                });
            }
        }
    }
    opened[store as usize].fresh.fetch_add(1, Relaxed);
    let (facts, length, mtime, header_key, content) =
        read_maildir_file(dir_fd, &name, &path, bufs)?;
    let (delivered_at, time_source, rejected_times) = maildir_time(&name, mtime, &facts);
    let flags = Flags::from_maildir(MaildirName::parse(&name.to_string_lossy()).flags);
    Ok(MessageCopy {
        store,
        time_source,
        loc: Loc::Maildir { sub, name },
        length,
        id_key: facts.message_id.as_deref().map_or(0, id_key),
        message_id: None,
        header_key: header_key.map(Box::new),
        content: content.map(Box::new),
        delivered_at,
        flags,
        mtime: mtime.unwrap_or(0),
        rejected_times,
    })
}

/// What stage 1 learns of a Maildir file: its header facts, size and mtime, the header
/// key (no Message-ID only) and, when the whole file was read anyway and it has no
/// Message-ID, its content hash.
type MaildirFacts = (
    HeaderFacts,
    u64,
    Option<i64>,
    Option<Digest>,
    Option<Digest>,
);

/// Reads the header block of a Maildir file: the first 8 KiB, more only if the header
/// block is longer. The body is not read.
fn read_maildir_file(
    dir_fd: Option<&rustix::fd::OwnedFd>,
    name: &OsStr,
    path: &dyn Fn() -> PathBuf,
    bufs: &mut Buffers,
) -> Result<MaildirFacts, Skipped> {
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            Skipped::new(
                path(),
                "vanished during the scan (renamed or removed by another program)",
            )
        } else {
            Skipped::new(path(), format!("cannot read: {e}"))
        }
    };
    let mut f = match dir_fd {
        Some(fd) => {
            use rustix::fs::{openat, Mode, OFlags};
            File::from(
                openat(
                    fd,
                    name,
                    // Never block on a FIFO swapped in since the listing.
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| fail(e.into()))?,
            )
        }
        None => crate::fsutil::open_regular(&path()).map_err(fail)?,
    };
    let meta = f.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(Skipped::new(path(), "not a regular file"));
    }
    let size = meta.len();
    if size == 0 {
        return Err(Skipped::new(path(), "empty file"));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.as_second());
    let mut want = HEAD_CHUNK.min(size as usize);
    bufs.data.clear();
    loop {
        let have = bufs.data.len();
        bufs.data.resize(want, 0);
        let n = read_full(&mut f, &mut bufs.data[have..]).map_err(fail)?;
        bufs.data.truncate(have + n);
        let at_eof = n < want - have || bufs.data.len() as u64 >= size;
        if have == 0 && !crate::identity::header::begins_like_mail(&bufs.data) {
            return Err(Skipped::new(
                path(),
                "not mail: does not begin with a header field",
            ));
        }
        let facts = HeaderFacts::read_facts(&bufs.data);
        if facts.complete || at_eof {
            let (key, content) = if facts.message_id.is_some() {
                (None, None)
            } else {
                let key = header_digest(&bufs.data, &mut bufs.scratch);
                let content = at_eof.then(|| message_hash(&bufs.data, &mut bufs.scratch));
                (Some(key), content)
            };
            return Ok((facts, size, mtime, key, content));
        }
        want = (want * 4).min(size as usize).max(want + 1);
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Why a delivery time found for a copy was not used (bits of [`MessageCopy::rejected_times`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The epoch or another placeholder: before [`PLACEHOLDER_BEFORE`].
    Placeholder = 1,
    /// More than [`BEFORE_DATE_SLACK`] before the message's own `Date:`.
    BeforeDate = 2,
    /// More than [`FUTURE_SLACK`] after the scan's clock.
    Future = 4,
}

/// Times before 1980-01-02 00:00 UTC are placeholders, not deliveries: the Unix epoch
/// (`From MAILER-DAEMON Thu Jan  1 00:00:00 1970`), a zero or negative mtime, and the
/// FAT/ZIP epoch (1980-01-01) of files that passed through an archive without times.
pub const PLACEHOLDER_BEFORE: i64 = 315_619_200;
/// A delivery can precede the `Date:` its sender's client wrote only by that client's
/// clock error; more than 3 days is not a delivery time of this message.
pub const BEFORE_DATE_SLACK: i64 = 3 * 86_400;
/// A delivery in the future of the scan is not a delivery; one day covers a From_ line
/// written in local time (read as UTC) in any zone, and small clock differences.
pub const FUTURE_SLACK: i64 = 86_400;

/// Checks time sources in order of preference, recording why any was rejected.
struct TimeCheck {
    date: Option<i64>,
    now: i64,
    rejected: u8,
}

impl TimeCheck {
    fn new(date: Option<i64>) -> TimeCheck {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        TimeCheck {
            date,
            now,
            rejected: 0,
        }
    }

    /// `t` if it can be a delivery of this message, else `None` (and the reason noted).
    fn ok(&mut self, t: Option<i64>) -> Option<i64> {
        let t = t?;
        let why = if t < PLACEHOLDER_BEFORE {
            Rejected::Placeholder
        } else if t > self.now.saturating_add(FUTURE_SLACK) {
            Rejected::Future
        } else if self
            .date
            .is_some_and(|d| t < d.saturating_sub(BEFORE_DATE_SLACK))
        {
            Rejected::BeforeDate
        } else {
            return Some(t);
        };
        self.rejected |= why as u8;
        None
    }
}

/// A Maildir copy's delivery time: the earlier of the file's mtime and its name's leading
/// timestamp (a copy without `-p` resets mtimes to the copy time, which is later; an IMAP
/// APPEND with an internal date sets mtime to the original date, which is earlier than the
/// name); then `Delivery-date:`, then the topmost `Received:`. A time that cannot be a
/// delivery ([`TimeCheck::ok`]) is passed over.
fn maildir_time(
    name: &OsStr,
    mtime: Option<i64>,
    facts: &HeaderFacts,
) -> (Option<i64>, Option<TimeSource>, u8) {
    let mut check = TimeCheck::new(facts.date);
    let from_name = check.ok(MaildirName::parse(&name.to_string_lossy()).timestamp);
    let mtime = check.ok(mtime);
    let (t, source) = match (mtime, from_name) {
        (Some(m), Some(n)) if n < m => (Some(n), Some(TimeSource::MaildirName)),
        (Some(m), _) => (Some(m), Some(TimeSource::MaildirMtime)),
        (None, Some(n)) => (Some(n), Some(TimeSource::MaildirName)),
        (None, None) => header_time(facts, &mut check),
    };
    (t, source, check.rejected)
}

fn header_time(facts: &HeaderFacts, check: &mut TimeCheck) -> (Option<i64>, Option<TimeSource>) {
    if let Some(t) = check.ok(facts.delivery_date) {
        (Some(t), Some(TimeSource::DeliveryDate))
    } else if let Some(t) = check.ok(facts.received_date) {
        (Some(t), Some(TimeSource::Received))
    } else {
        (None, None)
    }
}

/// An open, read-locked mbox (never mapped: see the module comment).
pub struct OpenMbox {
    file: File,
    /// The file's identity when it was opened (for the cache, and to tell whether another
    /// program changed it since).
    id: FileId,
    /// Length of the preamble before the first From_ line.
    first: usize,
    /// The split's horizon (see [`mbox::Split::horizon`]).
    horizon: usize,
    /// mbox records from the cache are valid for entries before this offset.
    cached_before: u64,
    /// The last-entry and sample hashes, when the cache's record of an unchanged file
    /// already holds them.
    prior: Option<(Digest, Digest)>,
    /// The last-entry and sample hashes of what this scan read (for the cache record).
    hashes: Option<(Digest, Digest)>,
    /// What those hashes cover: the last entry's offset and the sampled entries.
    layout: Option<(u64, Vec<(u64, u64)>)>,
}

/// The bytes of an open mbox, read with `pread` (`FileExt::read_at`).
struct FileSource<'a> {
    file: &'a File,
    len: usize,
}

impl mbox::Source for FileSource<'_> {
    fn file_len(&self) -> usize {
        self.len
    }

    fn read_into(&self, off: usize, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        let want = off.saturating_add(len).min(self.len).saturating_sub(off);
        // Resizing without clearing first: only bytes past the old length are zeroed.
        buf.resize(want, 0);
        let mut done = 0;
        while done < want {
            match self.file.read_at(&mut buf[done..], (off + done) as u64) {
                Ok(0) => {
                    buf.truncate(done);
                    return Err(shrank());
                }
                Ok(k) => done += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The error of a read that came back short: the file shrank since it was opened.
fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "it is shorter than when it was opened",
    )
}

/// The reason recorded for an mbox that another program changed while it was read.
fn changed_reason(e: &io::Error) -> String {
    format!("changed by another program while it was read ({e}): not scanned, run the scan again")
}

impl OpenMbox {
    fn source(&self) -> FileSource<'_> {
        FileSource {
            file: &self.file,
            len: self.id.size as usize,
        }
    }

    /// Ok if the file still has the inode, size and mtime it had when it was opened.
    /// A file that only grew keeps the bytes that were read when its last entry and
    /// sampled From_ lines are unchanged (the check the cache trusts for an mbox that
    /// grew, [`grown_from`]): mail appended by a delivery agent that takes only a dotlock
    /// does not make the scan skip the file.
    fn check_unchanged(&self) -> io::Result<()> {
        let now = FileId::of(&self.file.metadata()?);
        if now.ino != self.id.ino {
            return Err(io::Error::other("it was replaced by another file"));
        }
        if now.size == self.id.size && now.mtime == self.id.mtime {
            return Ok(());
        }
        if now.size > self.id.size && self.prefix_intact()? {
            return Ok(());
        }
        if now.size != self.id.size {
            Err(io::Error::other(format!(
                "its size went from {} to {} bytes",
                self.id.size, now.size
            )))
        } else {
            Err(io::Error::other("its modification time changed"))
        }
    }

    /// Are the last entry and the sampled From_ lines read by this scan still the same?
    fn prefix_intact(&self) -> io::Result<bool> {
        let (Some((last_hash, sample_hash)), Some((tail, samples))) =
            (self.hashes, self.layout.as_ref())
        else {
            return Ok(false);
        };
        Ok(self.hash_tail(*tail)? == last_hash
            && self.sample_hash(samples.iter().copied())? == Some(sample_hash))
    }

    /// This scan is done with `len` bytes at `off`: on a huge file, drop them from the
    /// page cache (see [`DROP_CACHE_ABOVE`]). Only a hint; errors are ignored.
    fn done_with(&self, off: usize, len: usize) {
        if self.id.size >= DROP_CACHE_ABOVE {
            let _ = rustix::fs::fadvise(
                &self.file,
                off as u64,
                std::num::NonZeroU64::new(len as u64),
                rustix::fs::Advice::DontNeed,
            );
        }
    }

    /// blake3 of the bytes from `off` to the end of the file (read as it was opened).
    fn hash_tail(&self, off: u64) -> io::Result<Digest> {
        let src = self.source();
        let mut h = blake3::Hasher::new();
        let mut buf = Vec::new();
        let mut at = off as usize;
        while at < src.len {
            mbox::Source::read_into(&src, at, 8 * MBOX_WINDOW, &mut buf)?;
            h.update(&buf);
            at += buf.len();
        }
        Ok(*h.finalize().as_bytes())
    }

    /// [`cache::sample_hash`] over the file, reading only the sampled bytes.
    fn sample_hash(&self, entries: impl Iterator<Item = (u64, u64)>) -> io::Result<Option<Digest>> {
        sample_hash_of(&self.source(), entries)
    }
}

/// [`cache::sample_hash`] over a [`mbox::Source`] (the same bytes hashed the same way).
fn sample_hash_of(
    src: &dyn mbox::Source,
    entries: impl Iterator<Item = (u64, u64)>,
) -> io::Result<Option<Digest>> {
    let mut h = blake3::Hasher::new();
    let mut buf = Vec::new();
    for (off, len) in entries {
        let take = len.min(64) as usize;
        src.read_into(off as usize, take, &mut buf)?;
        if buf.len() != take {
            return Ok(None);
        }
        h.update(&off.to_le_bytes());
        h.update(&buf);
    }
    Ok(Some(*h.finalize().as_bytes()))
}

/// Opens and read-locks an mbox (reading nothing yet).
fn open_mbox(path: &Path) -> Result<OpenMbox, Skipped> {
    let fail = |e: io::Error| Skipped::new(path, format!("cannot read: {e}"));
    let f = crate::fsutil::open_regular(path).map_err(fail)?;
    let meta = f.metadata().map_err(fail)?;
    if meta.len() == 0 {
        return Err(Skipped::new(path, "empty file"));
    }
    // A shared fcntl lock keeps writers that lock (delivery agents, mail clients) from
    // truncating or rewriting the file in place while it is read. One that does not lock
    // is caught by the short reads and the size and mtime check after reading.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::store::lock::try_read_lock(&f) {
        if std::time::Instant::now() >= deadline {
            return Err(Skipped::new(
                path,
                "locked by another program for more than 10 s",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Under the lock: what was stat-ed before may have changed while we waited.
    let meta = f.metadata().map_err(fail)?;
    if meta.len() == 0 {
        return Err(Skipped::new(path, "empty file"));
    }
    let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Sequential);
    Ok(OpenMbox {
        file: f,
        id: FileId::of(&meta),
        first: 0,
        horizon: usize::MAX,
        cached_before: 0,
        prior: None,
        hashes: None,
        layout: None,
    })
}

/// Stage 1 of an mbox: from the cache's record when the file is unchanged; the record's
/// prefix and a split of the tail when it only grew; else a split of the whole file.
fn read_mbox(
    store: u32,
    path: &Path,
    m: &mut OpenMbox,
    view: Option<&cache::StoreView>,
    progress: &Progress,
) -> Result<Vec<MessageCopy>, Skipped> {
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Skipped::new(path, changed_reason(&e))
        } else {
            Skipped::new(path, format!("cannot read: {e}"))
        }
    };
    let copies = read_mbox_copies(store, m, view, progress).map_err(fail)?;
    let Some(copies) = copies else {
        return Err(Skipped::new(
            path,
            "not mail: no mbox From_ line at the start",
        ));
    };
    if m.hashes.is_none() {
        m.hashes = match m.prior {
            Some(p) => Some(p),
            None => mbox_hashes(m, &copies).map_err(fail)?,
        };
    }
    m.layout = copies.last().map(|last| {
        let samples = cache::sample_indexes(copies.len() - 1)
            .map(|k| (copies[k].offset().unwrap_or(0), copies[k].length))
            .collect();
        (last.offset().unwrap_or(0), samples)
    });
    Ok(copies)
}

/// The last-entry and sample hashes of the cache record of `copies`, all of the mbox's
/// entries in file order.
fn mbox_hashes(m: &OpenMbox, copies: &[MessageCopy]) -> io::Result<Option<(Digest, Digest)>> {
    let Some(last) = copies.last() else {
        return Ok(None);
    };
    let samples = cache::sample_indexes(copies.len() - 1).map(|k| {
        let c = &copies[k];
        (c.offset().unwrap_or(0), c.length)
    });
    let Some(sample) = m.sample_hash(samples)? else {
        return Ok(None);
    };
    Ok(Some((m.hash_tail(last.offset().unwrap_or(0))?, sample)))
}

/// [`read_mbox`]'s reading part (`None`: not an mbox).
fn read_mbox_copies(
    store: u32,
    m: &mut OpenMbox,
    view: Option<&cache::StoreView>,
    progress: &Progress,
) -> io::Result<Option<Vec<MessageCopy>>> {
    let (first, _) = mbox::source_head(&m.source())?;
    m.first = first;
    let view =
        view.filter(|v| v.head.id.dev == m.id.dev && v.head.id.ino == m.id.ino && !v.is_empty());
    if let Some(v) = view {
        if v.head.id == m.id {
            let copies: Option<Vec<MessageCopy>> = (0..v.len())
                .map(|i| v.rec(i).map(|r| mbox_copy_from(store, &r)))
                .collect();
            if let Some(copies) = copies {
                progress.inc(copies.len() as u64);
                m.horizon = v.head.horizon as usize;
                m.cached_before = u64::MAX;
                m.prior = Some((v.head.last_hash, v.head.sample_hash));
                return Ok(Some(copies));
            }
        } else if let Some(last) = grown_from(v, m)? {
            if let Some(split) = mbox::split_source(&m.source(), Some(last.offset as usize))? {
                let mut copies: Vec<MessageCopy> = (0..v.len() - 1)
                    .filter_map(|i| v.rec(i).map(|r| mbox_copy_from(store, &r)))
                    .collect();
                if copies.len() == v.len() - 1 {
                    progress.inc(copies.len() as u64);
                    copies.extend(fingerprint_mbox(store, m, &split.entries, progress)?);
                    m.horizon = split.horizon.max(v.head.horizon as usize);
                    m.cached_before = last.offset;
                    return Ok(Some(copies));
                }
            }
        }
    }
    let Some(split) = mbox::split_source(&m.source(), None)? else {
        return Ok(None);
    };
    m.horizon = split.horizon;
    m.cached_before = 0;
    Ok(Some(fingerprint_mbox(store, m, &split.entries, progress)?))
}

/// If the mbox only grew since its record was written (same file, longer, the old last
/// entry's bytes and the sampled From_ lines unchanged, and no separator before the old
/// last entry depending on bytes past the old end), the old last entry's record.
fn grown_from<'a>(v: &'a cache::StoreView, m: &OpenMbox) -> io::Result<Option<Rec<'a>>> {
    let old = v.head.id.size;
    if m.id.size <= old {
        return Ok(None);
    }
    let Some(last) = v.rec(v.len() - 1) else {
        return Ok(None);
    };
    if last.offset.checked_add(last.length) != Some(old) || v.head.horizon > last.offset {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    mbox::Source::read_into(
        &m.source(),
        last.offset as usize,
        last.length as usize,
        &mut bytes,
    )?;
    if bytes.len() as u64 != last.length || blake3::hash(&bytes).as_bytes() != &v.head.last_hash {
        return Ok(None);
    }
    drop(bytes);
    let samples: Option<Vec<(u64, u64)>> = cache::sample_indexes(v.len() - 1)
        .map(|i| v.rec(i).map(|r| (r.offset, r.length)))
        .collect();
    let Some(samples) = samples else {
        return Ok(None);
    };
    if m.sample_hash(samples.into_iter())? != Some(v.head.sample_hash) {
        return Ok(None);
    }
    Ok(Some(last))
}

fn mbox_copy_from(store: u32, r: &Rec) -> MessageCopy {
    MessageCopy {
        store,
        time_source: r.time_source,
        loc: Loc::Mbox { offset: r.offset },
        length: r.length,
        id_key: r.id_key,
        message_id: None,
        header_key: r.header_key.map(Box::new),
        content: None,
        delivered_at: r.delivered_at,
        flags: r.flags,
        mtime: 0,
        rejected_times: r.rejected_times,
    }
}

/// With `--paranoid`: does the file still have the size and mtime of its record?
fn stat_matches(dir_fd: Option<&rustix::fd::OwnedFd>, name: &OsStr, rec: &Rec) -> bool {
    let Some(fd) = dir_fd else {
        return false;
    };
    match rustix::fs::statat(fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st.st_size as u64 == rec.length && st.st_mtime == rec.mtime,
        Err(_) => false,
    }
}

/// Marks the listed Maildir files that the cache knows (by unique name), when the
/// cache's record is of this very folder.
fn use_maildir_cache(
    opened: &mut Opened,
    work: &mut [Work],
    store: &Store,
    view: Option<&cache::StoreView>,
) {
    let Ok(meta) = std::fs::metadata(&store.path) else {
        return;
    };
    let id = FileId::of(&meta);
    opened.maildir_id = Some(id);
    let mut uniques: Vec<&[u8]> = work
        .iter()
        .map(|w| crate::store::maildir::unique(w.name.as_bytes()))
        .collect();
    uniques.sort_unstable();
    let dups: HashSet<Box<[u8]>> = uniques
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| Box::from(w[0]))
        .collect();
    drop(uniques);
    let Some(view) = view.filter(|v| v.head.id.dev == id.dev && v.head.id.ino == id.ino) else {
        opened.dup_uniques = dups;
        return;
    };
    opened.cache_usable = true;
    for w in work.iter_mut() {
        let u = crate::store::maildir::unique(w.name.as_bytes());
        if !dups.contains(u) {
            w.cached = view.find_name(u).and_then(|i| u32::try_from(i).ok());
        }
    }
    opened.dup_uniques = dups;
}

/// Stage 2 from the cache for a Maildir candidate: its content hash and Message-ID, if a
/// scan ever computed them for this very file (same unique name, size and mtime).
fn cached_maildir_content(c: &mut MessageCopy, cache: Option<&Cache>, opened: &[Opened]) -> bool {
    let (Some(cache), Loc::Maildir { name, .. }) = (cache, &c.loc) else {
        return false;
    };
    let o = &opened[c.store as usize];
    if !o.cache_usable {
        return false;
    }
    let u = crate::store::maildir::unique(name.as_bytes());
    if o.dup_uniques.contains(u) {
        return false;
    }
    let Some(view) = cache.view(c.store as usize) else {
        return false;
    };
    let Some(r) = view.find_name(u).and_then(|i| view.rec(i)) else {
        return false;
    };
    match r.content {
        Some(h) if r.length == c.length && r.mtime == c.mtime => {
            c.content = Some(Box::new(h));
            c.message_id = r.message_id.map(Box::from);
            true
        }
        _ => false,
    }
}

/// Stage 2 from the cache for an mbox candidate in the unchanged part of its file.
fn cached_mbox_content(c: &mut MessageCopy, cache: &Cache, opened: &[Opened]) {
    let Some(m) = opened[c.store as usize].mbox.as_ref() else {
        return;
    };
    let Some(offset) = c.offset().filter(|&o| o < m.cached_before) else {
        return;
    };
    let Some(view) = cache.view(c.store as usize) else {
        return;
    };
    if let Some(r) = view.find_offset(offset).and_then(|i| view.rec(i)) {
        if let (Some(h), true) = (r.content, r.length == c.length) {
            c.content = Some(Box::new(h));
            c.message_id = r.message_id.map(Box::from);
        }
    }
}

fn rec_of<'a>(c: &'a MessageCopy, name: &'a [u8]) -> Rec<'a> {
    Rec {
        name,
        offset: c.offset().unwrap_or(0),
        length: c.length,
        mtime: c.mtime,
        delivered_at: c.delivered_at,
        time_source: c.time_source,
        rejected_times: c.rejected_times,
        id_key: c.id_key,
        flags: if c.offset().is_some() {
            c.flags
        } else {
            Flags(0)
        },
        header_key: c.header_key.as_deref().copied(),
        content: c.content_hash(),
        message_id: c.message_id.as_deref(),
    }
}

/// The new cache records, one per store (`None`: nothing to keep for it).
fn records(
    stores: &[Store],
    copies: &[MessageCopy],
    opened: &[Opened],
    clean: &[bool],
) -> Vec<Record> {
    let mut per: Vec<Vec<u32>> = vec![Vec::new(); stores.len()];
    for (i, c) in copies.iter().enumerate() {
        if let Some(v) = per.get_mut(c.store as usize) {
            v.push(i as u32);
        }
    }
    per.into_par_iter()
        .enumerate()
        .map(|(s, idx)| {
            if clean[s] {
                Record::Keep
            } else {
                store_record(&stores[s], &opened[s], copies, idx)
                    .map_or(Record::Remove, Record::Put)
            }
        })
        .collect()
}

/// One store's new record (`None`: no record can be kept for it).
fn store_record(
    store: &Store,
    opened: &Opened,
    copies: &[MessageCopy],
    mut idx: Vec<u32>,
) -> Option<Vec<u8>> {
    let rec = rec_of;
    match store.kind {
        StoreKind::Maildir => {
            let id = opened.maildir_id?;
            let unique = |i: &u32| match &copies[*i as usize].loc {
                Loc::Maildir { name, .. } => crate::store::maildir::unique(name.as_bytes()),
                Loc::Mbox { .. } => b"",
            };
            idx.sort_unstable_by(|a, b| unique(a).cmp(unique(b)));
            let mut w = BlobWriter::new(&Head {
                kind: cache::KIND_MAILDIR,
                id: FileId {
                    dev: id.dev,
                    ino: id.ino,
                    ..FileId::default()
                },
                ..Head::default()
            });
            for run in idx.chunk_by(|a, b| unique(a) == unique(b)) {
                if let [i] = run {
                    w.push(&rec(&copies[*i as usize], unique(i)));
                }
            }
            Some(w.finish())
        }
        StoreKind::Mbox => {
            let m = opened.mbox.as_ref()?;
            idx.sort_unstable_by_key(|&i| copies[i as usize].offset());
            // The records must tile the file, or a later run could not trust them.
            let first = copies[*idx.first()? as usize].offset()?;
            let mut at = first;
            for &i in &idx {
                let c = &copies[i as usize];
                if c.offset() != Some(at) {
                    return None;
                }
                at += c.length;
            }
            if at != m.id.size || first != m.first as u64 {
                return None;
            }
            // Hashed when the file was read (the records tile the file, so they are the
            // entries those hashes were computed over).
            let (last_hash, sample_hash) = m.hashes?;
            let mut w = BlobWriter::new(&Head {
                kind: cache::KIND_MBOX,
                id: m.id,
                horizon: m.horizon as u64,
                last_hash,
                sample_hash,
            });
            for &i in &idx {
                w.push(&rec(&copies[i as usize], b""));
            }
            Some(w.finish())
        }
    }
}

/// The message bytes of a copy as it is stored: the whole Maildir file, or for an mbox
/// entry the message without its From_ line and separator (quoting left as it is).
/// Opened as every store file is ([`crate::fsutil::open_regular`]): a symlink or FIFO
/// swapped in since the scan is an error, never followed nor waited on.
pub fn message_bytes(c: &MessageCopy, stores: &[Store]) -> io::Result<Vec<u8>> {
    let path = c.path(stores);
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    match c.loc {
        Loc::Maildir { .. } => crate::fsutil::read_regular(&path).map_err(named),
        Loc::Mbox { offset } => {
            // pread, never a map: the mbox may be rewritten by another program meanwhile.
            let f = crate::fsutil::open_regular(&path).map_err(named)?;
            let src = FileSource {
                file: &f,
                len: usize::try_from(offset.saturating_add(c.length)).unwrap_or(usize::MAX),
            };
            let mut entry = Vec::new();
            mbox::Source::read_into(&src, offset as usize, c.length as usize, &mut entry)
                .map_err(named)?;
            let (_, start) = crate::identity::header::line_at(&entry, 0);
            let end = mbox::message_end(&entry, start, entry.len());
            entry.truncate(end);
            entry.drain(..start);
            Ok(entry)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
