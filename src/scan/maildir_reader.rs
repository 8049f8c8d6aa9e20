//! Stage 1 for Maildir files: read the head of each file through its folder descriptor
//! and fingerprint it.

use super::incremental::stat_matches;
use super::seen::SeenKeys;
use super::time::{eml_time, maildir_time};
use super::{id_key, Buffers, Opened, Work, HEAD_CHUNK};
use crate::cache::Cache;
use crate::identity::{
    header_digest, message_hash, message_hash_and_id, Digest, Flags, HeaderFacts,
};
use crate::model::{Loc, MessageCopy, Skipped, Store, StoreKind};
use crate::store::maildir::MaildirName;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

/// Maildir files larger than this are read in stage 1 without readahead: stage 1 wants
/// their header block (8 KiB), and the device's readahead (8 MB here) would pull in the
/// rest. On a 816 MB store of 20 KB messages, 16 KiB (was 128 KiB) cut the bytes read off
/// a cold disk from 785 MB to 651 MB.
const NO_READAHEAD_ABOVE: u64 = 16 * 1024;

/// Stage 1 for one message: header facts only, no digest unless it has no Message-ID.
pub(crate) fn fingerprint(
    w: Work,
    stores: &[Store],
    opened: &[Opened],
    bufs: &mut Buffers,
    cache: Option<&Cache>,
    seen: &SeenKeys,
) -> Result<MessageCopy, Skipped> {
    let Work {
        store,
        sub,
        name,
        cached,
    } = w;
    if stores[store as usize].kind == StoreKind::Eml {
        return fingerprint_eml(store, name, stores, opened, bufs, seen);
    }
    let dir = &stores[store as usize].path;
    let path = || dir.join(sub.as_str()).join(&*name);
    let dir_fd = opened[store as usize].dirs[sub as usize].as_ref();
    if let (Some(at), Some(cache)) = (cached, cache) {
        let rec = cache.view(store as usize).and_then(|v| v.rec(at as usize));
        if let Some(rec) = rec {
            if !cache.paranoid || stat_matches(dir_fd, &name, &rec) {
                opened[store as usize].hits.fetch_add(1, Relaxed);
                // A fresh copy of this message met later is hashed in stage 1.
                seen.insert(rec.id_key);
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
    let key = facts.message_id.as_deref().map_or(0, id_key);
    let (content, message_id) = early_hash(content, key, length, seen, bufs);
    Ok(MessageCopy {
        store,
        time_source,
        loc: Loc::Maildir { sub, name },
        length,
        id_key: key,
        message_id,
        header_key: header_key.map(Box::new),
        content: content.map(Box::new),
        delivered_at,
        flags,
        mtime: mtime.unwrap_or(0),
        rejected_times,
    })
}

/// Stage 1 for one `.eml` file: as a Maildir file, with no flags (a saved message has
/// none) and its delivery time from its headers, then its mtime.
fn fingerprint_eml(
    store: u32,
    name: Box<OsStr>,
    stores: &[Store],
    opened: &[Opened],
    bufs: &mut Buffers,
    seen: &SeenKeys,
) -> Result<MessageCopy, Skipped> {
    let dir = &stores[store as usize].path;
    let path = || {
        if name.is_empty() {
            dir.clone()
        } else {
            dir.join(&*name)
        }
    };
    let dir_fd = opened[store as usize].dirs[0].as_ref();
    opened[store as usize].fresh.fetch_add(1, Relaxed);
    let (facts, length, mtime, header_key, content) =
        read_maildir_file(dir_fd, &name, &path, bufs)?;
    let (delivered_at, time_source, rejected_times) = eml_time(mtime, &facts);
    let key = facts.message_id.as_deref().map_or(0, id_key);
    let (content, message_id) = early_hash(content, key, length, seen, bufs);
    Ok(MessageCopy {
        store,
        time_source,
        loc: Loc::Eml { name },
        length,
        id_key: key,
        message_id,
        header_key: header_key.map(Box::new),
        content: content.map(Box::new),
        delivered_at,
        flags: Flags(0),
        mtime: mtime.unwrap_or(0),
        rejected_times,
    })
}

/// The content hash (and normalised Message-ID) of a file stage 1 read whole, when
/// another copy with its Message-ID key was met before: it is a candidate, and hashing it
/// now spares stage 2 opening and reading it again. `content`: a hash stage 1 computed
/// already (a message without a Message-ID).
fn early_hash(
    content: Option<Digest>,
    key: u64,
    length: u64,
    seen: &SeenKeys,
    bufs: &mut Buffers,
) -> (Option<Digest>, Option<Box<str>>) {
    let met = seen.insert(key);
    match content {
        Some(c) => (Some(c), None),
        None if met && bufs.data.len() as u64 == length => {
            let (c, id) = message_hash_and_id(&bufs.data, &mut bufs.scratch);
            (Some(c), id.map(String::into_boxed_str))
        }
        None => (None, None),
    }
}

/// What stage 1 learns of a Maildir file: its header facts, size and mtime, the header
/// key (no Message-ID only) and, when the whole file was read anyway and it has no
/// Message-ID, its content hash.
pub(crate) type MaildirFacts = (
    HeaderFacts,
    u64,
    Option<i64>,
    Option<Digest>,
    Option<Digest>,
);

/// Reads the header block of a Maildir file: the first 8 KiB, more only if the header
/// block is longer. The body is not read.
pub(crate) fn read_maildir_file(
    dir_fd: Option<&rustix::fd::OwnedFd>,
    name: &OsStr,
    path: &dyn Fn() -> PathBuf,
    bufs: &mut Buffers,
) -> Result<MaildirFacts, Skipped> {
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            Skipped::vanished(
                path(),
                "vanished during the scan (renamed or removed by another program)",
            )
        } else {
            Skipped::io(path(), "cannot read", &e)
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
        return Err(Skipped::not_mail(path(), "not a regular file"));
    }
    let size = meta.len();
    if size == 0 {
        return Err(Skipped::empty(path()));
    }
    if size > NO_READAHEAD_ABOVE {
        // Stage 1 wants the header block only: no readahead of a large body (on a cold
        // cache it would pull in whole attachments that are never hashed). Files of two
        // header chunks or less are left alone: little to save, and the call costs.
        let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Random);
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
            return Err(Skipped::not_mail(
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

pub(crate) fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
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
