//! The cache's binary codec: one blob per store, a head (what the store was) and one
//! fixed-layout entry per message, written by [`BlobWriter`] and read by [`StoreView`]
//! without copying.

use crate::identity::{Digest, Flags};
use crate::model::TimeSource;

/// A file's identity and change times, as the cache compares them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileId {
    pub fn of(m: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// What a store's record says about the store itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Head {
    pub kind: u8,
    /// Maildir: the folder's device and inode. mbox: the file's identity.
    pub id: FileId,
    /// mbox: see [`crate::store::mbox::Split::horizon`].
    pub horizon: u64,
    /// mbox: blake3 of the last entry's bytes (to the end of the file).
    pub last_hash: Digest,
    /// mbox: blake3 of sampled From_ lines of the other entries ([`sample_hash`]).
    pub sample_hash: Digest,
}

pub const KIND_MAILDIR: u8 = 1;

pub const KIND_MBOX: u8 = 2;

/// One message's cached fingerprint.
#[derive(Debug, Clone, Default)]
pub struct CachedMessage<'a> {
    /// Maildir: the unique name. mbox: empty.
    pub name: &'a [u8],
    /// mbox: the From_ line's offset. Maildir: 0.
    pub offset: u64,
    pub length: u64,
    /// Maildir: the file's mtime (Unix seconds; 0 when unknown).
    pub mtime: i64,
    pub delivered_at: Option<i64>,
    pub time_source: Option<TimeSource>,
    /// Delivery times found but not used ([`crate::scan::time::Rejected`] bits).
    pub rejected_times: u8,
    pub id_key: u64,
    /// mbox: flags from Status/X-Status/X-Mozilla-Status(2). Maildir: unused (flags come
    /// from the name).
    pub flags: Flags,
    pub header_key: Option<Digest>,
    /// The content hash and Message-ID, when a scan ever computed them.
    pub content: Option<Digest>,
    pub message_id: Option<&'a str>,
}

fn ts_code(t: Option<TimeSource>) -> u8 {
    match t {
        None => 0,
        Some(TimeSource::MboxFromLine) => 1,
        Some(TimeSource::MaildirMtime) => 2,
        Some(TimeSource::MaildirName) => 3,
        Some(TimeSource::DeliveryDate) => 4,
        Some(TimeSource::Received) => 5,
        Some(TimeSource::FileMtime) => 6,
        Some(TimeSource::ImapInternalDate) => 7,
    }
}

fn ts_decode(c: u8) -> Option<Option<TimeSource>> {
    Some(match c {
        0 => None,
        1 => Some(TimeSource::MboxFromLine),
        2 => Some(TimeSource::MaildirMtime),
        3 => Some(TimeSource::MaildirName),
        4 => Some(TimeSource::DeliveryDate),
        5 => Some(TimeSource::Received),
        6 => Some(TimeSource::FileMtime),
        7 => Some(TimeSource::ImapInternalDate),
        _ => return None,
    })
}

/// Builds one store's record.
pub struct BlobWriter {
    buf: Vec<u8>,
    count_at: usize,
    count: u32,
}

impl BlobWriter {
    pub fn new(head: &Head) -> BlobWriter {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"MDC");
        buf.push(head.kind);
        for v in [head.id.dev, head.id.ino, head.id.size] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        for (s, ns) in [head.id.mtime, head.id.ctime] {
            buf.extend_from_slice(&s.to_le_bytes());
            buf.extend_from_slice(&ns.to_le_bytes());
        }
        buf.extend_from_slice(&head.horizon.to_le_bytes());
        buf.extend_from_slice(&head.last_hash);
        buf.extend_from_slice(&head.sample_hash);
        let count_at = buf.len();
        buf.extend_from_slice(&0u32.to_le_bytes());
        BlobWriter {
            buf,
            count_at,
            count: 0,
        }
    }

    /// Adds a record. Maildir records must come in unique-name order, mbox records in
    /// offset order (lookups binary-search them).
    pub fn push(&mut self, r: &CachedMessage) {
        let b = &mut self.buf;
        let name = &r.name[..r.name.len().min(u16::MAX as usize)];
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&r.offset.to_le_bytes());
        b.extend_from_slice(&r.length.to_le_bytes());
        b.extend_from_slice(&r.mtime.to_le_bytes());
        b.extend_from_slice(&r.delivered_at.unwrap_or(i64::MIN).to_le_bytes());
        // Low 4 bits: the time source; high 4: the rejected times.
        b.push(ts_code(r.time_source) | (r.rejected_times & 0x0f) << 4);
        b.extend_from_slice(&r.id_key.to_le_bytes());
        b.extend_from_slice(&r.flags.0.to_le_bytes());
        let id = r
            .message_id
            .filter(|m| m.len() <= u16::MAX as usize && r.content.is_some());
        let bits = u8::from(r.header_key.is_some())
            | u8::from(r.content.is_some()) << 1
            | u8::from(id.is_some()) << 2;
        b.push(bits);
        if let Some(h) = &r.header_key {
            b.extend_from_slice(h);
        }
        if let Some(h) = &r.content {
            b.extend_from_slice(h);
        }
        if let Some(m) = id {
            b.extend_from_slice(&(m.len() as u16).to_le_bytes());
            b.extend_from_slice(m.as_bytes());
        }
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf[self.count_at..self.count_at + 4].copy_from_slice(&self.count.to_le_bytes());
        let sum = blake3::hash(&self.buf);
        self.buf.extend_from_slice(sum.as_bytes());
        self.buf
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn digest(&mut self) -> Option<Digest> {
        self.take(32)?.try_into().ok()
    }
}

/// One store's record, loaded: the blob and where each message record starts.
pub struct StoreView {
    blob: Vec<u8>,
    pub head: Head,
    index: Vec<u32>,
}

impl StoreView {
    /// Checks and indexes a blob; `None` when it is damaged.
    pub(crate) fn parse(blob: Vec<u8>) -> Option<StoreView> {
        let body_len = blob.len().checked_sub(32)?;
        if blake3::hash(&blob[..body_len]).as_bytes() != &blob[body_len..] {
            return None;
        }
        let mut r = Reader {
            b: &blob[..body_len],
            pos: 0,
        };
        if r.take(3)? != b"MDC" {
            return None;
        }
        let kind = r.u8()?;
        let (dev, ino, size) = (r.u64()?, r.u64()?, r.u64()?);
        let mtime = (r.i64()?, r.i64()?);
        let ctime = (r.i64()?, r.i64()?);
        let head = Head {
            kind,
            id: FileId {
                dev,
                ino,
                size,
                mtime,
                ctime,
            },
            horizon: r.u64()?,
            last_hash: r.digest()?,
            sample_hash: r.digest()?,
        };
        let count = r.u32()? as usize;
        let mut index = Vec::with_capacity(count.min(body_len / 60 + 1));
        for _ in 0..count {
            index.push(u32::try_from(r.pos).ok()?);
            decode(&mut r)?;
        }
        if r.pos != body_len {
            return None;
        }
        Some(StoreView { blob, head, index })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The `i`-th record (in name or offset order).
    pub fn rec(&self, i: usize) -> Option<CachedMessage<'_>> {
        let at = *self.index.get(i)? as usize;
        decode(&mut Reader {
            b: &self.blob[..self.blob.len() - 32],
            pos: at,
        })
    }

    fn name_at(&self, i: usize) -> &[u8] {
        let at = self.index[i] as usize;
        let len = u16::from_le_bytes([self.blob[at], self.blob[at + 1]]) as usize;
        &self.blob[at + 2..at + 2 + len]
    }

    /// The index of the Maildir record with this unique name.
    pub fn find_name(&self, unique: &[u8]) -> Option<usize> {
        let mut lo = 0;
        let mut hi = self.index.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.name_at(mid).cmp(unique) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The index of the mbox record at this offset.
    pub fn find_offset(&self, offset: u64) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.index.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let o = self.rec(mid)?.offset;
            match o.cmp(&offset) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

fn decode<'a>(r: &mut Reader<'a>) -> Option<CachedMessage<'a>> {
    let n = r.u16()? as usize;
    let name = r.take(n)?;
    let offset = r.u64()?;
    let length = r.u64()?;
    let mtime = r.i64()?;
    let delivered_at = Some(r.i64()?).filter(|&t| t != i64::MIN);
    let ts = r.u8()?;
    let time_source = ts_decode(ts & 0x0f)?;
    let rejected_times = ts >> 4;
    let id_key = r.u64()?;
    let flags = Flags(r.u64()?);
    let bits = r.u8()?;
    if bits & !7 != 0 {
        return None;
    }
    let header_key = if bits & 1 != 0 {
        Some(r.digest()?)
    } else {
        None
    };
    let content = if bits & 2 != 0 {
        Some(r.digest()?)
    } else {
        None
    };
    let message_id = if bits & 4 != 0 {
        let n = r.u16()? as usize;
        Some(std::str::from_utf8(r.take(n)?).ok()?)
    } else {
        None
    };
    Some(CachedMessage {
        name,
        offset,
        length,
        mtime,
        delivered_at,
        time_source,
        rejected_times,
        id_key,
        flags,
        header_key,
        content,
        message_id,
    })
}

/// The entries whose From_ lines are sampled to check that an mbox's prefix is unchanged:
/// up to 16, spread evenly over the first `n`.
pub fn sample_indexes(n: usize) -> impl Iterator<Item = usize> {
    let k = n.min(16);
    (0..k).map(move |j| j * n / k)
}

/// blake3 over the first (up to) 64 bytes of each sampled entry, `(offset, length)` each.
pub fn sample_hash(buf: &[u8], entries: impl Iterator<Item = (u64, u64)>) -> Option<Digest> {
    let mut h = blake3::Hasher::new();
    for (off, len) in entries {
        let start = usize::try_from(off).ok()?;
        let end = start.checked_add(usize::try_from(len.min(64)).ok()?)?;
        h.update(&(off.to_le_bytes()));
        h.update(buf.get(start..end)?);
    }
    Some(*h.finalize().as_bytes())
}
