//! Stage 1 (and the mbox side of stage 2) for mbox files: open one, read it in
//! windows with pread, split it, and fingerprint each entry.

use super::incremental::{grown_from, mbox_copy_from};
use super::time::{header_time, TimeCheck};
use super::{id_key, Buffers};
use crate::cache::{self, FileId};
use crate::identity::{header_digest, Digest, HeaderFacts};
use crate::model::{Loc, MessageCopy, Skipped, TimeSource};
use crate::observe::Observer;
use crate::store::mbox::{self, MboxEntry};
use crate::store::read::{shrank, FileSource};
use rayon::prelude::*;
use std::fs::File;
use std::io;
use std::path::Path;

/// mbox files at least this big have the pages of the part already read dropped from
/// the page cache (`posix_fadvise`), so one scan of a huge mbox does not evict
/// everything else. Smaller ones stay cached: the scan reads them again in stage 2, and
/// the next scan reads them from memory.
pub(crate) const DROP_CACHE_ABOVE: u64 = 1 << 30;

/// Bytes of an mbox read (and fingerprinted) at a time, by each thread.
pub(crate) const MBOX_WINDOW: usize = 4 << 20;

/// Unwanted bytes between two items that a read of both may take along; a wider gap
/// starts a read of its own.
const MBOX_GAP: usize = 64 << 10;

/// Stage 1 for every entry of an mbox: window by window, windows in parallel.
pub(crate) fn fingerprint_mbox(
    store: u32,
    m: &OpenMbox,
    entries: &[MboxEntry],
    progress: &dyn Observer,
) -> io::Result<Vec<MessageCopy>> {
    // An entry whose Message-ID key an earlier entry of this mbox has is a candidate:
    // hashed now, from the window in hand, not read again in stage 2 (a POP client that
    // downloaded a mailbox twice into one mbox doubles every message in it).
    let seen = super::seen::SeenKeys::new(entries.len());
    by_window(
        m,
        entries,
        |e| (e.offset, e.end),
        |e, bytes, base, bufs| {
            progress.advance(1);
            let mut c = mbox_copy(store, bytes, base, e, bufs);
            if seen.insert(c.id_key) {
                // Exactly as stage 2 hashes an mbox candidate (`scan::scan_in_pool`).
                let (start, end) = (e.offset - base, e.end - base);
                let (_, msg_start) = crate::identity::header::line_at(bytes, start);
                let msg_end = mbox::message_end(bytes, msg_start, end);
                let (content, id) = crate::identity::message_hash_and_id(
                    &bytes[msg_start..msg_end],
                    &mut bufs.scratch,
                );
                c.content = Some(Box::new(content));
                c.message_id = id.map(String::into_boxed_str);
            }
            c
        },
    )
}

/// `f(item, bytes, base, buffers)` for every item (in file order, `span` giving each
/// one's byte range), in order. The items are cut into runs that cover about
/// `MBOX_WINDOW` bytes of the file; the runs are read in parallel, each with `pread`
/// into a buffer its thread reuses, `bytes` being the file from offset `base` to the end
/// of the run's last item. A read that comes back short (the file shrank) is an error.
pub(crate) fn by_window<T: Sync, R: Send>(
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
        // A run stops at a gap of more than `MBOX_GAP` between two items: stage 2's
        // candidates lie scattered over the file, and the bytes between them are not
        // wanted (stage 1's entries touch each other, so its runs are whole windows).
        let n = (1..n)
            .find(|&k| span(&items[at + k]).0 > span(&items[at + k - 1]).1 + MBOX_GAP)
            .unwrap_or(n);
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
pub(crate) fn mbox_copy(
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

/// An open, read-locked mbox (never mapped: see the module comment).
pub struct OpenMbox {
    pub(crate) file: File,
    /// The file's identity when it was opened (for the cache, and to tell whether another
    /// program changed it since).
    pub(crate) id: FileId,
    /// Length of the preamble before the first From_ line.
    pub(crate) first: usize,
    /// The split's horizon (see [`mbox::Split::horizon`]).
    pub(crate) horizon: usize,
    /// mbox records from the cache are valid for entries before this offset.
    pub(crate) cached_before: u64,
    /// The last-entry and sample hashes, when the cache's record of an unchanged file
    /// already holds them.
    pub(crate) prior: Option<(Digest, Digest)>,
    /// The last-entry and sample hashes of what this scan read (for the cache record).
    pub(crate) hashes: Option<(Digest, Digest)>,
    /// What those hashes cover: the last entry's offset and the sampled entries.
    pub(crate) layout: Option<(u64, Vec<(u64, u64)>)>,
}

/// The reason recorded for an mbox that another program changed while it was read.
pub(crate) fn changed_reason(e: &io::Error) -> String {
    format!("changed by another program while it was read ({e}): not scanned, run the scan again")
}

impl OpenMbox {
    pub(crate) fn source(&self) -> FileSource<'_> {
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
    pub(crate) fn check_unchanged(&self) -> io::Result<()> {
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
    pub(crate) fn prefix_intact(&self) -> io::Result<bool> {
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
    pub(crate) fn done_with(&self, off: usize, len: usize) {
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
    pub(crate) fn hash_tail(&self, off: u64) -> io::Result<Digest> {
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
    pub(crate) fn sample_hash(
        &self,
        entries: impl Iterator<Item = (u64, u64)>,
    ) -> io::Result<Option<Digest>> {
        sample_hash_of(&self.source(), entries)
    }
}

/// [`cache::sample_hash`] over a [`mbox::Source`] (the same bytes hashed the same way).
pub(crate) fn sample_hash_of(
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
pub(crate) fn open_mbox(path: &Path) -> Result<OpenMbox, Skipped> {
    let fail = |e: io::Error| Skipped::io(path, "cannot read", &e);
    let f = crate::fsutil::open_regular(path).map_err(fail)?;
    let meta = f.metadata().map_err(fail)?;
    if meta.len() == 0 {
        return Err(Skipped::empty(path));
    }
    // A shared fcntl lock keeps writers that lock (delivery agents, mail clients) from
    // truncating or rewriting the file in place while it is read. One that does not lock
    // is caught by the short reads and the size and mtime check after reading.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::store::lock::try_read_lock(&f) {
        if std::time::Instant::now() >= deadline {
            return Err(Skipped::locked(
                path,
                "locked by another program for more than 10 s",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Under the lock: what was stat-ed before may have changed while we waited.
    let meta = f.metadata().map_err(fail)?;
    if meta.len() == 0 {
        return Err(Skipped::empty(path));
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
pub(crate) fn read_mbox(
    store: u32,
    path: &Path,
    m: &mut OpenMbox,
    view: Option<&cache::StoreView>,
    progress: &dyn Observer,
) -> Result<Vec<MessageCopy>, Skipped> {
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Skipped::changed(path, changed_reason(&e))
        } else {
            Skipped::io(path, "cannot read", &e)
        }
    };
    let copies = read_mbox_copies(store, m, view, progress).map_err(fail)?;
    let Some(copies) = copies else {
        return Err(Skipped::not_mail(
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
pub(crate) fn mbox_hashes(
    m: &OpenMbox,
    copies: &[MessageCopy],
) -> io::Result<Option<(Digest, Digest)>> {
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
pub(crate) fn read_mbox_copies(
    store: u32,
    m: &mut OpenMbox,
    view: Option<&cache::StoreView>,
    progress: &dyn Observer,
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
                progress.advance(copies.len() as u64);
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
                    progress.advance(copies.len() as u64);
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
