//! One maildedup run per store at a time. Two `quarantine` runs over the same store
//! (into different quarantine folders) would each move copies the other had planned to
//! move, and a `restore` writing into a store while a `quarantine` moves its copies out
//! would race it the same way. A run therefore takes a *run lock* on every store it will
//! write before it reads or changes anything: `flock(LOCK_EX|LOCK_NB)` on an open
//! descriptor of the store's folder (a Maildir: the Maildir itself; an mbox: the folder
//! holding it — never the mbox file, which mail programs lock for their own writes and
//! would then wait on us for the whole run). The folders are locked in sorted order,
//! each retried for a bounded time (`--lock-timeout`), so two runs never wait on each
//! other forever.
//!
//! Locks are counted per process: a folder this process already holds is not locked a
//! second time (a second `flock` on another open descriptor of the same folder would
//! conflict with our own), so a caller may lock the stores under its paths before the
//! scan and `Quarantine::start` lock the scanned stores again.
//!
//! A filesystem that does not support `flock` on a folder (some network filesystems) is
//! run on without the lock; every change is still checked against what the scan saw.

use crate::model::{Store, StoreKind};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A locked folder, by device and inode (the same folder reached by two paths is one lock).
type Key = (u64, u64);

/// The folders this process holds, with how many `RunLock`s share each.
static HELD: Mutex<BTreeMap<Key, (File, usize)>> = Mutex::new(BTreeMap::new());

/// Run locks on a set of stores, released when dropped.
#[derive(Debug, Default)]
pub struct RunLock {
    keys: Vec<Key>,
    /// Whether another run held one of the folders when we first tried (we waited for it).
    pub waited: bool,
}

/// The folder whose lock stands for a store: a Maildir itself, an mbox's parent.
pub fn lock_dir(store: &Path, kind: StoreKind) -> PathBuf {
    match kind {
        StoreKind::Maildir => store.to_path_buf(),
        // A folder of .eml files; one .eml given as a PATH: its folder.
        StoreKind::Eml if store.is_dir() => store.to_path_buf(),
        StoreKind::Eml => crate::fsutil::parent(store).to_path_buf(),
        StoreKind::Mbox => crate::fsutil::parent(store).to_path_buf(),
        // Never locked: quarantine and restore refuse IMAP stores before locking.
        StoreKind::Imap => store.to_path_buf(),
    }
}

impl RunLock {
    /// Locks the folders of `stores` (each named by its store's path), in sorted order,
    /// waiting at most `timeout` for each. Fails, having released what it took, with an
    /// error naming the store when another run keeps one locked that long. A folder that
    /// no longer exists is skipped (nothing can be written into it).
    pub fn acquire(stores: &[(PathBuf, StoreKind)], timeout: Duration) -> io::Result<RunLock> {
        let mut dirs: Vec<(PathBuf, &Path)> = stores
            .iter()
            .map(|(p, k)| (lock_dir(p, *k), p.as_path()))
            .collect();
        dirs.sort();
        dirs.dedup_by(|a, b| a.0 == b.0);
        let mut lock = RunLock::default();
        for (dir, store) in dirs {
            lock.add(&dir, store, timeout)?;
        }
        Ok(lock)
    }

    /// [`RunLock::acquire`] for a scan's or discovery's stores.
    pub fn for_stores(stores: &[Store], timeout: Duration) -> io::Result<RunLock> {
        let list: Vec<(PathBuf, StoreKind)> =
            stores.iter().map(|s| (s.path.clone(), s.kind)).collect();
        RunLock::acquire(&list, timeout)
    }

    /// Locks every store found under `paths` (as `scan` would find them), so the scan of
    /// a run that will change them sees them after any other run is done with them.
    pub fn for_paths(paths: &[PathBuf], timeout: Duration) -> io::Result<RunLock> {
        let (stores, _) = crate::store::discover::discover(paths);
        RunLock::for_stores(&stores, timeout)
    }

    fn add(&mut self, dir: &Path, store: &Path, timeout: Duration) -> io::Result<()> {
        let file = match File::open(dir) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
        };
        let meta = file
            .metadata()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let key = (meta.dev(), meta.ino());
        if self.keys.contains(&key) {
            return Ok(());
        }
        {
            let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, n)) = held.get_mut(&key) {
                *n += 1;
                self.keys.push(key);
                return Ok(());
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                    self.waited = true;
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!(
                                "{}: another maildedup run is working on this store (it holds the run lock on {} for more than {} s); nothing was changed",
                                store.display(),
                                dir.display(),
                                timeout.as_secs()
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                // No flock on this filesystem: run without the lock.
                Err(_) => return Ok(()),
            }
        }
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(key, (file, 1));
        self.keys.push(key);
        Ok(())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        for key in self.keys.drain(..) {
            if let Some((_, n)) = held.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    // Closing the descriptor releases the flock.
                    held.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_within_a_process_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let md = d.path().join("md");
        std::fs::create_dir_all(md.join("cur")).unwrap();
        let stores = vec![(md.clone(), StoreKind::Maildir)];
        let a = RunLock::acquire(&stores, Duration::ZERO).unwrap();
        // Again in this process: shared, not a conflict.
        let b = RunLock::acquire(&stores, Duration::ZERO).unwrap();
        assert!(!b.waited);
        // Another open file description of the folder conflicts while either is held.
        let other = File::open(&md).unwrap();
        drop(a);
        assert!(
            rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                .is_err()
        );
        drop(b);
        rustix::fs::flock(&other, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        // Now held elsewhere: acquiring times out with a message naming the store.
        let e = RunLock::acquire(&stores, Duration::from_millis(120)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let msg = e.to_string();
        assert!(msg.contains(&md.display().to_string()), "{msg}");
        assert!(msg.contains("another maildedup run"), "{msg}");
        assert!(msg.contains("nothing was changed"), "{msg}");
    }

    #[test]
    fn an_mbox_locks_its_folder_not_itself() {
        let d = tempfile::tempdir().unwrap();
        let mbox = d.path().join("in.mbox");
        std::fs::write(&mbox, "From a\n\n").unwrap();
        let _l = RunLock::acquire(&[(mbox.clone(), StoreKind::Mbox)], Duration::ZERO).unwrap();
        let f = File::open(&mbox).unwrap();
        rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        let dir = File::open(d.path()).unwrap();
        assert!(
            rustix::fs::flock(&dir, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
        );
    }
}
