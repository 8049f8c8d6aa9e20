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

mod codec;
pub mod comparisons;

use crate::identity::Digest;
use crate::model::{Store, StoreKind};
use crate::observe::Observer;
pub use codec::{
    sample_hash, sample_indexes, BlobWriter, CachedMessage, FileId, Head, StoreView, KIND_MAILDIR,
    KIND_MBOX,
};
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
/// The keys of `STORES` (with each record's length), so that finding the records to remove
/// reads a few bytes per store instead of every record (a 30-message scan beside a 5 MB
/// cache read 4.6 MB of it). Written with `STORES` in the same transaction; a cache
/// without it (older versions) gets it at its next save.
const STORE_KEYS: TableDefinition<&[u8], u64> = TableDefinition::new("store_keys");

/// How long a run waits for another run to let go of the cache file.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// The key of a store: its canonical path (its absolute path if that fails).
pub fn store_key(path: &Path) -> Vec<u8> {
    let p = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    p.as_os_str().as_bytes().to_vec()
}

/// What to do with one store's record after a scan.
pub enum StoreUpdate {
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
fn open_checked(dir: &Path, obs: &dyn Observer) -> Option<(PathBuf, Db)> {
    if let Err(e) = create_private_dir(dir) {
        obs.warn(&format!(
            "cannot create the cache folder {}: {e}; scanning without the cache",
            dir.display()
        ));
        return None;
    }
    let file = dir.join(FILE_NAME);
    let db = match open_for_reading(&file) {
        Ok(db) => db,
        Err(OpenError::Corrupt(e)) => {
            obs.warn(&format!(
                "the cache {} is unreadable ({e}); rebuilding it",
                file.display()
            ));
            return rebuild(&file, obs).map(|db| (file, db));
        }
        Err(OpenError::Busy(e)) => {
            obs.warn(&format!("{e}; scanning without the cache"));
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
    obs.warn(&format!(
        "the cache {} {why}; rebuilding it",
        file.display()
    ));
    drop(db);
    rebuild(&file, obs).map(|db| (file, db))
}

fn write_format(db: &Database) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
        meta.insert("format", FORMAT).map_err(|e| e.to_string())?;
        txn.open_table(STORES).map_err(|e| e.to_string())?;
        txn.open_table(STORE_KEYS).map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())
}

/// Replaces a damaged cache file by a new, empty database.
fn rebuild(file: &Path, obs: &dyn Observer) -> Option<Db> {
    if let Err(e) = std::fs::remove_file(file) {
        if e.kind() != std::io::ErrorKind::NotFound {
            obs.warn(&format!(
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
            obs.warn(&format!("{e}; scanning without the cache"));
            return None;
        }
    };
    match write_format(&db) {
        Ok(()) => Some(Db::Rw(db)),
        Err(e) => {
            obs.warn(&format!(
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
    pub fn load(dir: &Path, stores: &[Store], paranoid: bool, obs: &dyn Observer) -> Option<Cache> {
        let (file, db) = open_checked(dir, obs)?;
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
                obs.warn(&format!(
                    "the cache {} is unreadable ({why}); rebuilding it",
                    file.display()
                ));
                rebuild(&file, obs)?;
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
                // Not cached yet: every .eml is read afresh.
                StoreKind::Eml | StoreKind::Imap => {
                    loaded.push(None);
                    views.push(None);
                    continue;
                }
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
            obs.warn(&format!(
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
    pub fn save(self, roots: &[PathBuf], records: Vec<StoreUpdate>, obs: &dyn Observer) {
        let mut changed: Vec<(&[u8], Option<Vec<u8>>)> = Vec::new();
        for ((key, rec), old) in self.keys.iter().zip(records).zip(&self.loaded) {
            match rec {
                StoreUpdate::Keep => {}
                StoreUpdate::Put(b) if old.as_ref() == Some(blake3::hash(&b).as_bytes()) => {}
                StoreUpdate::Put(b) => changed.push((key, Some(b))),
                StoreUpdate::Remove if old.is_none() => {}
                StoreUpdate::Remove => changed.push((key, None)),
            }
        }
        let not_updated = |e: &str| obs.warn(&format!("{e}; the cache was not updated"));
        let (stale, unindexed) = match open_for_reading(&self.file) {
            Ok(db) => match self.stale(&db, roots) {
                Ok(s) => s,
                Err(e) => return not_updated(&format!("cannot read {}: {e}", self.file.display())),
            },
            Err(OpenError::Busy(e) | OpenError::Corrupt(e)) => return not_updated(&e),
            Err(OpenError::NeedsRepair) => return,
        };
        if changed.is_empty() && stale.is_empty() && !unindexed {
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
                let mut keys = txn.open_table(STORE_KEYS).map_err(|x| e(&x))?;
                if unindexed {
                    let mut all: Vec<(Vec<u8>, u64)> = Vec::new();
                    for item in table.iter().map_err(|x| e(&x))? {
                        let (k, v) = item.map_err(|x| e(&x))?;
                        all.push((k.value().to_vec(), v.value().len() as u64));
                    }
                    for (k, len) in all {
                        keys.insert(k.as_slice(), len).map_err(|x| e(&x))?;
                    }
                }
                for (key, rec) in changed {
                    match rec {
                        Some(b) => {
                            table.insert(key, b.as_slice()).map_err(|x| e(&x))?;
                            keys.insert(key, b.len() as u64).map_err(|x| e(&x))?;
                        }
                        None => {
                            table.remove(key).map_err(|x| e(&x))?;
                            keys.remove(key).map_err(|x| e(&x))?;
                        }
                    }
                }
                for k in stale {
                    table.remove(k.as_slice()).map_err(|x| e(&x))?;
                    keys.remove(k.as_slice()).map_err(|x| e(&x))?;
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
    /// and of stores whose path no longer exists; and whether the cache lacks its key
    /// index (`STORE_KEYS`), which the save then builds.
    fn stale(&self, db: &Db, roots: &[PathBuf]) -> Result<(Vec<Vec<u8>>, bool), String> {
        let scanned: HashSet<&[u8]> = self.keys.iter().map(Vec::as_slice).collect();
        let roots: Vec<Vec<u8>> = roots
            .iter()
            .map(|r| {
                let mut k = store_key(r);
                k.push(b'/');
                k
            })
            .collect();
        let is_stale = |k: &[u8]| {
            if scanned.contains(k) {
                return false;
            }
            let under_root = roots
                .iter()
                .any(|r| k.starts_with(r) || k == &r[..r.len() - 1]);
            under_root
                || std::fs::symlink_metadata(Path::new(std::ffi::OsStr::from_bytes(k))).is_err()
        };
        quiet_catch(|| -> Result<(Vec<Vec<u8>>, bool), String> {
            let e = |e: &dyn std::fmt::Display| e.to_string();
            let txn = db.begin_read()?;
            let mut stale = Vec::new();
            match txn.open_table(STORE_KEYS) {
                Ok(keys) => {
                    for item in keys.iter().map_err(|x| e(&x))? {
                        let (k, _) = item.map_err(|x| e(&x))?;
                        if is_stale(k.value()) {
                            stale.push(k.value().to_vec());
                        }
                    }
                    Ok((stale, false))
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    let table = txn.open_table(STORES).map_err(|x| e(&x))?;
                    for item in table.iter().map_err(|x| e(&x))? {
                        let (k, _) = item.map_err(|x| e(&x))?;
                        if is_stale(k.value()) {
                            stale.push(k.value().to_vec());
                        }
                    }
                    Ok((stale, true))
                }
                Err(x) => Err(e(&x)),
            }
        })
        .unwrap_or_else(|| Err("redb panicked reading it".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeSource;

    #[test]
    fn records_round_trip_and_damage_is_seen() {
        let head = Head {
            kind: KIND_MAILDIR,
            horizon: 7,
            ..Head::default()
        };
        let mut w = BlobWriter::new(&head);
        let a = CachedMessage {
            name: b"a",
            length: 10,
            mtime: 5,
            delivered_at: Some(5),
            time_source: Some(TimeSource::MaildirMtime),
            id_key: 9,
            content: Some([1; 32]),
            message_id: Some("<x@y>"),
            ..CachedMessage::default()
        };
        let b = CachedMessage {
            name: b"b",
            header_key: Some([2; 32]),
            ..CachedMessage::default()
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
