//! Locking an mbox the way delivery agents and mail clients do, so none of them writes to
//! it while it is being rewritten: a dotlock (`FILE.lock`, created with link() so it works
//! over NFS, stale-lock rules as liblockfile) and an OFD `fcntl` write lock on the file.
//! Both are on by default; `--mbox-lock` chooses.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LockMethod {
    /// Both a dotlock and an fcntl lock (what Postfix, procmail and mutt use on Debian).
    Both,
    /// Only `FILE.lock`.
    Dotlock,
    /// Only an fcntl lock.
    Fcntl,
}

#[derive(Debug, Clone)]
pub struct LockOptions {
    pub method: LockMethod,
    pub timeout: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            method: LockMethod::Both,
            timeout: Duration::from_secs(30),
        }
    }
}

/// liblockfile's rule: a dotlock older than this, whose holder can't be checked, is stale.
const STALE_AFTER: Duration = Duration::from_secs(300);

/// A held mbox lock. Dropping it releases both locks.
pub struct MboxLock {
    dotlock: Option<PathBuf>,
    /// The open mbox, holding the fcntl lock (an OFD lock, so other descriptors of the
    /// same file opened and closed meanwhile do not release it).
    pub file: File,
}

/// How long we try for the fcntl lock while holding the dotlock before letting the
/// dotlock go again (a writer that takes the fcntl lock first may be waiting for it).
const FCNTL_TRY: Duration = Duration::from_millis(200);

impl MboxLock {
    /// Locks `mbox`, waiting up to `opts.timeout`. The error names the holder if known.
    ///
    /// Order: dotlock first (as procmail and Postfix), then the fcntl lock, tried for a
    /// short while only. mutt takes them the other way round: holding its fcntl lock, it
    /// waits for the dotlock. So if the fcntl lock is not had soon, the dotlock is let go,
    /// and taken again after a short randomised pause: neither side waits for the other
    /// forever, and two maildedups do not retry in step.
    pub fn acquire(mbox: &Path, opts: &LockOptions) -> io::Result<MboxLock> {
        let deadline = Instant::now() + opts.timeout;
        let mut rng = Backoff::new();
        loop {
            let dotlock = if opts.method != LockMethod::Fcntl {
                Some(dotlock(mbox, deadline)?)
            } else {
                None
            };
            let file = match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(mbox)
            {
                Ok(f) => f,
                Err(e) => {
                    if let Some(d) = &dotlock {
                        let _ = std::fs::remove_file(d);
                    }
                    return Err(io::Error::new(e.kind(), format!("{}: {e}", mbox.display())));
                }
            };
            let lock = MboxLock { dotlock, file };
            if opts.method == LockMethod::Dotlock {
                return Ok(lock);
            }
            let try_until = if opts.method == LockMethod::Fcntl {
                deadline
            } else {
                deadline.min(Instant::now() + FCNTL_TRY)
            };
            loop {
                match ofd_lock(&lock.file, libc::F_WRLCK as i16) {
                    Ok(()) => return Ok(lock),
                    Err(e)
                        if e.raw_os_error() == Some(libc::EAGAIN)
                            || e.raw_os_error() == Some(libc::EACCES) =>
                    {
                        if Instant::now() >= try_until {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(e),
                }
            }
            let holder = fcntl_holder(&lock.file);
            drop(lock); // lets the dotlock go
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{}: fcntl lock held by another process ({holder})",
                        mbox.display(),
                    ),
                ));
            }
            let pause = Duration::from_millis(20 + rng.next() % 180);
            std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        }
    }
}

/// A small xorshift sequence seeded from the clock and the pid: pauses that differ
/// between processes.
struct Backoff(u64);

impl Backoff {
    fn new() -> Backoff {
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Backoff((t ^ (u64::from(std::process::id()) << 32)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

impl Drop for MboxLock {
    fn drop(&mut self) {
        let _ = ofd_lock(&self.file, libc::F_UNLCK as i16);
        if let Some(d) = &self.dotlock {
            let _ = std::fs::remove_file(d);
        }
    }
}

/// A shared (read) OFD lock for scanning, taken without waiting. Returns whether it was
/// had; the scan reads either way.
pub fn try_read_lock(f: &File) -> bool {
    ofd_lock(f, libc::F_RDLCK as i16).is_ok()
}

fn ofd_lock(f: &File, kind: i16) -> io::Result<()> {
    // SAFETY: `flock` is a plain C struct for which all-zero is a valid value; we pass a
    // valid open descriptor and a pointer to a live, initialised struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = 0;
    fl.l_len = 0; // the whole file
                  // SAFETY: see above; F_OFD_SETLK only reads the struct.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Who holds a conflicting fcntl lock, as far as the kernel tells.
fn fcntl_holder(f: &File) -> String {
    // SAFETY: as in `ofd_lock`; F_GETLK fills the struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    // SAFETY: valid fd and pointer to a live struct.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r == 0 && fl.l_type != libc::F_UNLCK as i16 {
        if fl.l_pid > 0 {
            format!("pid {}", fl.l_pid)
        } else {
            "an OFD lock; `lslocks` shows the holder".to_string()
        }
    } else {
        "holder unknown".to_string()
    }
}

/// Creates `MBOX.lock` the NFS-safe way: write a unique temporary file holding our pid,
/// link() it to the lock name, and check the link count.
fn dotlock(mbox: &Path, deadline: Instant) -> io::Result<PathBuf> {
    let mut lock = mbox.as_os_str().to_owned();
    lock.push(".lock");
    let lock = PathBuf::from(lock);
    let dir = crate::fsutil::parent(mbox);
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let pid = std::process::id();
    let tmp = dir.join(format!(
        ".lk{pid}{}",
        host.chars().take(20).collect::<String>()
    ));
    loop {
        let _ = std::fs::remove_file(&tmp);
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
            if let Err(e) = writeln!(f, "{pid}") {
                // Never leave our temporary file in the mail folder (a full disk).
                drop(f);
                let _ = std::fs::remove_file(&tmp);
                return Err(io::Error::new(e.kind(), format!("{}: {e}", tmp.display())));
            }
        }
        let linked = std::fs::hard_link(&tmp, &lock);
        let ok = match linked {
            Ok(()) => true,
            // link() over NFS can report failure while succeeding: trust the link count.
            Err(_) => std::fs::metadata(&tmp)
                .map(|m| std::os::unix::fs::MetadataExt::nlink(&m) == 2)
                .unwrap_or(false),
        };
        let _ = std::fs::remove_file(&tmp);
        if ok {
            return Ok(lock);
        }
        if is_stale(&lock) {
            let _ = std::fs::remove_file(&lock);
            continue;
        }
        if Instant::now() >= deadline {
            let holder = std::fs::read_to_string(&lock).unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{}: locked by another program (dotlock {} held by pid {})",
                    mbox.display(),
                    lock.display(),
                    holder.trim()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// liblockfile's stale rules: the pid written in the lock is dead on this host, or the
/// lock has not been touched for five minutes.
fn is_stale(lock: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(lock) else {
        return false;
    };
    if let Ok(text) = std::fs::read_to_string(lock) {
        if let Ok(pid) = text.trim().parse::<i32>() {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                // ESRCH: no such process.
                if let Err(e) = rustix::process::test_kill_process(pid) {
                    return e == rustix::io::Errno::SRCH;
                }
                return false;
            }
        }
    }
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_AFTER)
}
