//! The fingerprint cache that makes a nightly scan incremental.
//!
//! One redb database (`fingerprints.redb` in `$XDG_CACHE_HOME/maildedup/`, or
//! `~/.cache/maildedup/`, or the folder given with `--cache`) holds one record per store,
//! keyed by the store's canonical path. A record is replaced whole after each scan of its
//! store, so deleted messages never linger; records of stores that vanished (or are no
//! longer stores under a scanned path) are removed.
//!
//! - **Maildir**: a message is known by its unique name (the file name before `:2,`):
//!   Maildir files never change content, a flag change only renames the info part. A
//!   listed file whose unique name has a record is not opened nor even stat-ed (with
//!   `--paranoid` it is stat-ed, and its size and mtime must match).
//! - **mbox**: identified by device, inode, size, mtime and ctime. An mbox that only grew
//!   keeps the records of its unchanged prefix: the bytes of its old last entry must hash
//!   as before, sampled From_ lines must be where they were, and no separator before the
//!   old last entry may look past that entry's From_ line (a `Content-Length:` pointing
//!   further: [`crate::store::mbox::Split::horizon`]). Only the old last entry and the
//!   tail are split and fingerprinted again; any other change re-reads the file.
//!
//! The database is opened twice per run and held only for a moment each time (to load
//! the records the scan needs, and to write the new ones), never during the scan: a second
//! run at the same time waits for it briefly, or runs without the cache. A corrupt,
//! unreadable or old-format cache is rebuilt, with a warning on stderr. Each record
//! carries its own blake3 checksum.

use crate::identity::{Digest, Flags};
use crate::model::TimeSource;
use crate::model::{Store, StoreKind};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The cache file inside the cache folder.
pub const FILE_NAME: &str = "fingerprints.redb";

/// Version of the records' layout and of what they hold. A cache of another version is
/// rebuilt. 2: the content hash covers the identity fields only, Message-ID keys are
/// blake3, and the time-source byte carries the rejected delivery times; mbox flags include
/// Thunderbird's `X-Mozilla-Status`/`X-Mozilla-Status2` (and the expunged mark). (3: both
/// of these, merged; a version-2 cache written by either alone is rebuilt.)
pub const FORMAT: u64 = 3;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const STORES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("stores");

/// How long a run waits for another run to let go of the cache file.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// The default cache folder: `$XDG_CACHE_HOME/maildedup` (when set and absolute), else
/// `$HOME/.cache/maildedup`.
pub fn default_dir() -> Option<PathBuf> {
    crate::cli::config::xdg_dir("XDG_CACHE_HOME", ".cache")
}

fn warn(msg: impl std::fmt::Display) {
    eprintln!(
        "maildedup: warning: {}",
        crate::render::term::escape(&msg.to_string())
    );
}

/// The key of a store: its canonical path (its absolute path if that fails).
pub fn store_key(path: &Path) -> Vec<u8> {
    let p = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    p.as_os_str().as_bytes().to_vec()
}

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
pub struct Rec<'a> {
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
    pub fn push(&mut self, r: &Rec) {
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
    fn parse(blob: Vec<u8>) -> Option<StoreView> {
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
    pub fn rec(&self, i: usize) -> Option<Rec<'_>> {
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

fn decode<'a>(r: &mut Reader<'a>) -> Option<Rec<'a>> {
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
    Some(Rec {
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

/// What to do with one store's record after a scan.
pub enum Record {
    /// The scan learnt nothing new about the store: leave its record as it is.
    Keep,
    /// Replace it with this one.
    Put(Vec<u8>),
    /// Remove it (the store could not be read, or its messages don't form a record).
    Remove,
}

/// The loaded cache: one view per store of the scan (`None`: no usable record).
pub struct Cache {
    file: PathBuf,
    pub paranoid: bool,
    views: Vec<Option<StoreView>>,
    keys: Vec<Vec<u8>>,
    /// blake3 of each store's record as loaded, so an unchanged record is not rewritten.
    loaded: Vec<Option<Digest>>,
}

/// Why the database could not be opened.
enum OpenError {
    /// Another run holds it (after waiting [`LOCK_WAIT`]).
    Busy(String),
    /// Not shut down cleanly: a read-only open can't repair it; a read-write one can.
    NeedsRepair,
    /// Damaged, not a redb file, or unreadable.
    Corrupt(String),
}

/// Opens the database read-only (`write` false: nothing is written, readers share it) or
/// read-write (created if missing), waiting a little for another run to let go of it.
fn open_with(file: &Path, write: bool) -> Result<Db, OpenError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let f = {
            use std::os::unix::fs::OpenOptionsExt;
            let mut o = std::fs::OpenOptions::new();
            o.read(true);
            if write {
                o.write(true).create(true).truncate(false).mode(0o600);
            }
            o.open(file)
                .map_err(|e| OpenError::Corrupt(format!("cannot open {}: {e}", file.display())))?
        };
        let r = quiet_catch(|| -> Result<Db, redb::DatabaseError> {
            let backend = redb::backends::FileBackend::new(f)?;
            Ok(if write {
                Db::Rw(redb::Builder::new().create_with_backend(backend)?)
            } else {
                Db::Ro(redb::Builder::new().open_read_only_with_backend(backend)?)
            })
        });
        match r {
            Some(Ok(db)) => return Ok(db),
            Some(Err(redb::DatabaseError::DatabaseAlreadyOpen)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(OpenError::Busy(format!(
                    "{} is in use by another maildedup run",
                    file.display()
                )))
            }
            Some(Err(redb::DatabaseError::RepairAborted)) if !write => {
                return Err(OpenError::NeedsRepair)
            }
            Some(Err(e)) => return Err(OpenError::Corrupt(e.to_string())),
            None => return Err(OpenError::Corrupt("redb panicked reading it".into())),
        }
    }
}

/// An open database, read-only or read-write.
enum Db {
    Ro(redb::ReadOnlyDatabase),
    Rw(Database),
}

impl Db {
    fn begin_read(&self) -> Result<redb::ReadTransaction, String> {
        match self {
            Db::Ro(d) => d.begin_read(),
            Db::Rw(d) => d.begin_read(),
        }
        .map_err(|e| e.to_string())
    }
}

/// Opens the database to read it: read-only when it exists (several runs may read at
/// once, and nothing is written), read-write to create it or repair it.
fn open_for_reading(file: &Path) -> Result<Db, OpenError> {
    let exists = std::fs::metadata(file).is_ok_and(|m| m.len() > 0);
    if exists {
        match open_with(file, false) {
            Err(OpenError::NeedsRepair) => {}
            r => return r,
        }
    }
    let db = open_with(file, true)?;
    if let Db::Rw(d) = &db {
        if let Ok(None) = format_of(&db) {
            write_format(d).map_err(OpenError::Corrupt)?;
        }
    }
    Ok(db)
}

/// Runs `f`, turning a panic (redb may panic on a file damaged outside redb) into `None`
/// without printing it.
fn quiet_catch<T>(f: impl FnOnce() -> T) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    std::panic::set_hook(hook);
    r
}

/// The format version recorded in the database (`None`: a new, empty database).
fn format_of(db: &Db) -> Result<Option<u64>, String> {
    quiet_catch(|| -> Result<Option<u64>, String> {
        let txn = db.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let v = meta.get("format").map_err(|e| e.to_string())?;
        Ok(Some(v.map_or(0, |v| v.value())))
    })
    .unwrap_or_else(|| Err("redb panicked reading it".into()))
}

/// Opens the database for reading, rebuilding it (with a warning) when it is corrupt,
/// unreadable or of another format. `None`: run without the cache (a warning was printed).
fn open_checked(dir: &Path) -> Option<(PathBuf, Db)> {
    if let Err(e) = create_private_dir(dir) {
        warn(format!(
            "cannot create the cache folder {}: {e}; scanning without the cache",
            dir.display()
        ));
        return None;
    }
    let file = dir.join(FILE_NAME);
    let db = match open_for_reading(&file) {
        Ok(db) => db,
        Err(OpenError::Corrupt(e)) => {
            warn(format!(
                "the cache {} is unreadable ({e}); rebuilding it",
                file.display()
            ));
            return rebuild(&file).map(|db| (file, db));
        }
        Err(OpenError::Busy(e)) => {
            warn(format!("{e}; scanning without the cache"));
            return None;
        }
        Err(OpenError::NeedsRepair) => return None,
    };
    let why = match format_of(&db) {
        Ok(Some(FORMAT)) => return Some((file, db)),
        Ok(Some(v)) => format!("has format {v}, this maildedup uses {FORMAT}"),
        Ok(None) => "has no format version".to_string(),
        Err(e) => format!("is unreadable ({e})"),
    };
    warn(format!("the cache {} {why}; rebuilding it", file.display()));
    drop(db);
    rebuild(&file).map(|db| (file, db))
}

fn write_format(db: &Database) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
        meta.insert("format", FORMAT).map_err(|e| e.to_string())?;
        txn.open_table(STORES).map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())
}

/// Replaces a damaged cache file by a new, empty database.
fn rebuild(file: &Path) -> Option<Db> {
    if let Err(e) = std::fs::remove_file(file) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn(format!(
                "cannot remove the damaged cache {}: {e}; scanning without the cache",
                file.display()
            ));
            return None;
        }
    }
    let db = match open_with(file, true) {
        Ok(Db::Rw(db)) => db,
        Ok(Db::Ro(_)) | Err(OpenError::NeedsRepair) => return None,
        Err(OpenError::Busy(e) | OpenError::Corrupt(e)) => {
            warn(format!("{e}; scanning without the cache"));
            return None;
        }
    };
    match write_format(&db) {
        Ok(()) => Some(Db::Rw(db)),
        Err(e) => {
            warn(format!(
                "cannot write the cache {}: {e}; scanning without the cache",
                file.display()
            ));
            None
        }
    }
}

/// Creates the cache folder (and missing parents) owner-only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl Cache {
    /// Loads the records of `stores` from the cache in `dir`. `None` when the cache can't
    /// be used this run (a warning says why).
    pub fn load(dir: &Path, stores: &[Store], paranoid: bool) -> Option<Cache> {
        let (file, db) = open_checked(dir)?;
        let keys: Vec<Vec<u8>> = stores.iter().map(|s| store_key(&s.path)).collect();
        let blobs = quiet_catch(|| -> Result<Vec<Option<Vec<u8>>>, String> {
            let txn = db.begin_read()?;
            let table = txn.open_table(STORES).map_err(|e| e.to_string())?;
            keys.iter()
                .map(|k| {
                    let v = table.get(k.as_slice()).map_err(|e| e.to_string())?;
                    Ok(v.map(|v| v.value().to_vec()))
                })
                .collect()
        });
        drop(db);
        let blobs = match blobs {
            Some(Ok(b)) => b,
            other => {
                let why = match other {
                    Some(Err(e)) => e,
                    _ => "redb panicked reading it".into(),
                };
                warn(format!(
                    "the cache {} is unreadable ({why}); rebuilding it",
                    file.display()
                ));
                rebuild(&file)?;
                vec![None; keys.len()]
            }
        };
        let mut damaged = 0;
        let mut loaded = Vec::with_capacity(blobs.len());
        let mut views = Vec::with_capacity(blobs.len());
        for (b, store) in blobs.into_iter().zip(stores) {
            let Some(b) = b else {
                loaded.push(None);
                views.push(None);
                continue;
            };
            let sum = *blake3::hash(&b).as_bytes();
            let want = match store.kind {
                StoreKind::Maildir => KIND_MAILDIR,
                StoreKind::Mbox => KIND_MBOX,
            };
            match StoreView::parse(b).filter(|v| v.head.kind == want) {
                Some(v) => {
                    loaded.push(Some(sum));
                    views.push(Some(v));
                }
                None => {
                    damaged += 1;
                    loaded.push(None);
                    views.push(None);
                }
            }
        }
        if damaged > 0 {
            warn(format!(
                "{damaged} damaged record(s) in the cache {}; those stores are read again",
                file.display()
            ));
        }
        Some(Cache {
            file,
            paranoid,
            views,
            keys,
            loaded,
        })
    }

    pub fn view(&self, store: usize) -> Option<&StoreView> {
        self.views.get(store).and_then(Option::as_ref)
    }

    /// Frees the loaded records (before the new ones are built).
    pub fn drop_views(&mut self) {
        self.views.clear();
    }

    /// Writes the new records: `records[i]` for store `i`, and removes the records of
    /// stores that vanished or are no longer stores under `roots`. When nothing changed,
    /// nothing is written.
    pub fn save(self, roots: &[PathBuf], records: Vec<Record>) {
        let mut changed: Vec<(&[u8], Option<Vec<u8>>)> = Vec::new();
        for ((key, rec), old) in self.keys.iter().zip(records).zip(&self.loaded) {
            match rec {
                Record::Keep => {}
                Record::Put(b) if old.as_ref() == Some(blake3::hash(&b).as_bytes()) => {}
                Record::Put(b) => changed.push((key, Some(b))),
                Record::Remove if old.is_none() => {}
                Record::Remove => changed.push((key, None)),
            }
        }
        let not_updated = |e: &str| warn(format!("{e}; the cache was not updated"));
        let stale = match open_for_reading(&self.file) {
            Ok(db) => match self.stale(&db, roots) {
                Ok(s) => s,
                Err(e) => return not_updated(&format!("cannot read {}: {e}", self.file.display())),
            },
            Err(OpenError::Busy(e) | OpenError::Corrupt(e)) => return not_updated(&e),
            Err(OpenError::NeedsRepair) => return,
        };
        if changed.is_empty() && stale.is_empty() {
            return;
        }
        let db = match open_with(&self.file, true) {
            Ok(Db::Rw(db)) => db,
            Ok(Db::Ro(_)) | Err(OpenError::NeedsRepair) => return,
            Err(OpenError::Busy(e) | OpenError::Corrupt(e)) => return not_updated(&e),
        };
        let r = quiet_catch(|| -> Result<(), String> {
            let e = |e: &dyn std::fmt::Display| e.to_string();
            let txn = db.begin_write().map_err(|x| e(&x))?;
            {
                let mut table = txn.open_table(STORES).map_err(|x| e(&x))?;
                for (key, rec) in changed {
                    match rec {
                        Some(b) => {
                            table.insert(key, b.as_slice()).map_err(|x| e(&x))?;
                        }
                        None => {
                            table.remove(key).map_err(|x| e(&x))?;
                        }
                    }
                }
                for k in stale {
                    table.remove(k.as_slice()).map_err(|x| e(&x))?;
                }
            }
            txn.commit().map_err(|x| e(&x))
        });
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => not_updated(&format!("cannot write {}: {e}", self.file.display())),
            None => not_updated(&format!(
                "cannot write {} (redb panicked)",
                self.file.display()
            )),
        }
    }

    /// The records to remove: of stores under a scanned path that this scan did not find,
    /// and of stores whose path no longer exists.
    fn stale(&self, db: &Db, roots: &[PathBuf]) -> Result<Vec<Vec<u8>>, String> {
        let scanned: HashSet<&[u8]> = self.keys.iter().map(Vec::as_slice).collect();
        let roots: Vec<Vec<u8>> = roots
            .iter()
            .map(|r| {
                let mut k = store_key(r);
                k.push(b'/');
                k
            })
            .collect();
        quiet_catch(|| -> Result<Vec<Vec<u8>>, String> {
            let e = |e: &dyn std::fmt::Display| e.to_string();
            let txn = db.begin_read()?;
            let table = txn.open_table(STORES).map_err(|x| e(&x))?;
            let mut stale = Vec::new();
            for item in table.iter().map_err(|x| e(&x))? {
                let (k, _) = item.map_err(|x| e(&x))?;
                let k = k.value();
                if scanned.contains(k) {
                    continue;
                }
                let under_root = roots
                    .iter()
                    .any(|r| k.starts_with(r) || k == &r[..r.len() - 1]);
                let path = Path::new(std::ffi::OsStr::from_bytes(k));
                if under_root || std::fs::symlink_metadata(path).is_err() {
                    stale.push(k.to_vec());
                }
            }
            Ok(stale)
        })
        .unwrap_or_else(|| Err("redb panicked reading it".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_seen() {
        let head = Head {
            kind: KIND_MAILDIR,
            horizon: 7,
            ..Head::default()
        };
        let mut w = BlobWriter::new(&head);
        let a = Rec {
            name: b"a",
            length: 10,
            mtime: 5,
            delivered_at: Some(5),
            time_source: Some(TimeSource::MaildirMtime),
            id_key: 9,
            content: Some([1; 32]),
            message_id: Some("<x@y>"),
            ..Rec::default()
        };
        let b = Rec {
            name: b"b",
            header_key: Some([2; 32]),
            ..Rec::default()
        };
        w.push(&a);
        w.push(&b);
        let blob = w.finish();
        let v = StoreView::parse(blob.clone()).expect("parses");
        assert_eq!(v.len(), 2);
        assert_eq!(v.find_name(b"b"), Some(1));
        assert_eq!(v.find_name(b"c"), None);
        let r = v.rec(0).expect("rec");
        assert_eq!(r.message_id, Some("<x@y>"));
        assert_eq!(r.content, Some([1; 32]));
        assert_eq!(v.rec(1).and_then(|r| r.header_key), Some([2; 32]));
        let mut bad = blob;
        bad[40] ^= 1;
        assert!(StoreView::parse(bad).is_none());
    }
}
