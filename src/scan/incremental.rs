//! The fingerprint cache seen from the scan: which records still describe the files on
//! disk, copies rebuilt from them, and the records a scan writes back.

use super::mbox_reader::OpenMbox;
use super::{Opened, Work};
use crate::cache::{self, BlobWriter, Cache, CachedMessage, FileId, Head, StoreUpdate};
use crate::identity::Flags;
use crate::model::{Loc, MessageCopy, Store, StoreKind};
use crate::store::mbox;
use rayon::prelude::*;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

/// If the mbox only grew since its record was written (same file, longer, the old last
/// entry's bytes and the sampled From_ lines unchanged, and no separator before the old
/// last entry depending on bytes past the old end), the old last entry's record.
pub(crate) fn grown_from<'a>(
    v: &'a cache::StoreView,
    m: &OpenMbox,
) -> io::Result<Option<CachedMessage<'a>>> {
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

pub(crate) fn mbox_copy_from(store: u32, r: &CachedMessage) -> MessageCopy {
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
pub(crate) fn stat_matches(
    dir_fd: Option<&rustix::fd::OwnedFd>,
    name: &OsStr,
    rec: &CachedMessage,
) -> bool {
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
pub(crate) fn use_maildir_cache(
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
pub(crate) fn cached_maildir_content(
    c: &mut MessageCopy,
    cache: Option<&Cache>,
    opened: &[Opened],
) -> bool {
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
pub(crate) fn cached_mbox_content(c: &mut MessageCopy, cache: &Cache, opened: &[Opened]) {
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

pub(crate) fn rec_of<'a>(c: &'a MessageCopy, name: &'a [u8]) -> CachedMessage<'a> {
    CachedMessage {
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
pub(crate) fn records(
    stores: &[Store],
    copies: &[MessageCopy],
    opened: &[Opened],
    clean: &[bool],
) -> Vec<StoreUpdate> {
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
                StoreUpdate::Keep
            } else {
                store_record(&stores[s], &opened[s], copies, idx)
                    .map_or(StoreUpdate::Remove, StoreUpdate::Put)
            }
        })
        .collect()
}

/// One store's new record (`None`: no record can be kept for it).
pub(crate) fn store_record(
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
                Loc::Mbox { .. } | Loc::Eml { .. } | Loc::Imap { .. } => b"",
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
        // Not cached yet: every .eml is read afresh.
        StoreKind::Eml | StoreKind::Imap => None,
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
