//! Mail keeps arriving while `quarantine` and `restore` run: a thread appends messages to
//! an mbox under the same locks a delivery agent takes (a dotlock `FILE.lock` created by
//! link() of a temporary file, then an fcntl write lock on the file it opened before
//! waiting, with no re-check that it was replaced: it must not be, the mbox keeps its
//! inode), and drops new files into a Maildir `new/` (written in `tmp/`, renamed into
//! `new/`). Afterwards every appended or dropped message is in its
//! store, and restore gives back the original stores plus exactly the new messages.

mod common;

use common::*;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

const UNIQUE: usize = 3000;
const DUPLICATES: usize = 1500;
const MAILDIR_UNIQUE: usize = 150;

fn message(id: &str, subject: &str, n: usize) -> String {
    let mut body = String::new();
    for i in 0..12 {
        body.push_str(&format!(
            "Line {i} of message {n}: the quick brown fox jumps over the lazy dog.\n"
        ));
    }
    if n.is_multiple_of(7) {
        body.push_str(">From a quoted line in the body\n");
    }
    format!(
        "Message-ID: <{id}@concurrency.example.org>\nFrom: Sender {n} <s{n}@example.org>\n\
To: rcpt@example.org\nSubject: {subject}\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\
MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n{body}"
    )
}

fn from_line(day: usize, n: usize) -> String {
    format!(
        "From s{n}@example.org Mon Jan {:>2} {:02}:{:02}:{:02} 2024\n",
        1 + day,
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60
    )
}

/// A big mbox: UNIQUE messages, then a second delivery (a day later) of the first
/// DUPLICATES of them.
fn big_mbox(path: &Path) {
    let mut out = String::new();
    for n in 0..UNIQUE {
        out.push_str(&from_line(0, n));
        out.push_str(&message(&format!("m{n}"), &format!("message {n}"), n));
        out.push('\n');
    }
    for n in 0..DUPLICATES {
        out.push_str(&from_line(1, n));
        out.push_str(&message(&format!("m{n}"), &format!("message {n}"), n));
        out.push('\n');
    }
    fs::write(path, out).unwrap();
}

/// A Maildir with MAILDIR_UNIQUE messages, every third delivered twice.
fn maildir(dir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for n in 0..MAILDIR_UNIQUE {
        let msg = message(&format!("d{n}"), &format!("maildir message {n}"), n);
        let t = 1_704_067_200 + n as u64 * 100;
        fs::write(dir.join(format!("cur/{t}.M{n}P1.example.org:2,S")), &msg).unwrap();
        if n.is_multiple_of(3) {
            fs::write(
                dir.join(format!("cur/{}.M{n}P2.example.org:2,S", t + 1)),
                &msg,
            )
            .unwrap();
        }
    }
}

/// Takes `MBOX.lock` the NFS-safe way (link() of a unique temporary file holding our
/// pid). Returns how long it waited, if it had to.
fn dotlock(mbox: &Path) -> Option<Duration> {
    let lock = PathBuf::from(format!("{}.lock", mbox.display()));
    let tmp = mbox.with_file_name(format!(".lk-test-{}", std::process::id()));
    let mut waited: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let _ = fs::remove_file(&tmp);
        fs::write(&tmp, format!("{}\n", std::process::id())).unwrap();
        let ok = fs::hard_link(&tmp, &lock).is_ok();
        fs::remove_file(&tmp).unwrap();
        if ok {
            return waited.map(|t| t.elapsed());
        }
        waited.get_or_insert_with(Instant::now);
        assert!(
            Instant::now() < deadline,
            "dotlock {} never freed",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Takes (or, with F_UNLCK, releases) an OFD lock on the whole file; without `wait`,
/// returns false if another process holds a conflicting lock.
fn ofd_lock(f: &fs::File, kind: i16, wait: bool) -> bool {
    // SAFETY: all-zero is a valid `flock`; the descriptor is open and the pointer live.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as i16;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    // SAFETY: as above.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), cmd, &fl) };
    if r == 0 {
        return true;
    }
    let e = std::io::Error::last_os_error();
    assert!(
        !wait && matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)),
        "fcntl: {e}"
    );
    false
}

/// Appends `entry` to `mbox` as a delivery agent does: under its dotlock (if `dot`) and an
/// fcntl write lock (if `fcntl`), opening the file before waiting for the fcntl lock and
/// writing to that open file once it has the lock, as mutt does (it never re-checks that
/// the file was replaced meanwhile: maildedup must never replace it). Returns how long it
/// waited for a lock, if it had to.
fn deliver(mbox: &Path, entry: &[u8], dot: bool, fcntl: bool) -> Option<Duration> {
    let mut waited = if dot { dotlock(mbox) } else { None };
    let f = OpenOptions::new().append(true).open(mbox).unwrap();
    if fcntl && !ofd_lock(&f, libc::F_WRLCK as i16, false) {
        let t = Instant::now();
        assert!(ofd_lock(&f, libc::F_WRLCK as i16, true));
        waited = Some(waited.unwrap_or_default() + t.elapsed());
    }
    assert_eq!(
        f.metadata().unwrap().ino(),
        fs::metadata(mbox).unwrap().ino(),
        "the mbox was replaced while a writer had it open"
    );
    (&f).write_all(entry).unwrap();
    f.sync_all().unwrap();
    if fcntl {
        ofd_lock(&f, libc::F_UNLCK as i16, false);
    }
    if dot {
        fs::remove_file(format!("{}.lock", mbox.display())).unwrap();
    }
    waited
}

/// Appends as mutt does: the fcntl lock first (waiting for it), then, holding it, the
/// dotlock. maildedup takes them the other way round; neither may wait for the other
/// forever.
fn deliver_fcntl_first(mbox: &Path, entry: &[u8]) -> Option<Duration> {
    let f = OpenOptions::new().append(true).open(mbox).unwrap();
    let t = Instant::now();
    let mut waited = None;
    if !ofd_lock(&f, libc::F_WRLCK as i16, false) {
        assert!(ofd_lock(&f, libc::F_WRLCK as i16, true));
        waited = Some(t.elapsed());
    }
    if let Some(w) = dotlock(mbox) {
        waited = Some(waited.unwrap_or_default() + w);
    }
    assert_eq!(
        f.metadata().unwrap().ino(),
        fs::metadata(mbox).unwrap().ino(),
        "the mbox was replaced while a writer had it open"
    );
    (&f).write_all(entry).unwrap();
    f.sync_all().unwrap();
    fs::remove_file(format!("{}.lock", mbox.display())).unwrap();
    ofd_lock(&f, libc::F_UNLCK as i16, false);
    waited
}

/// The `--mbox-lock` value a scenario runs maildedup with.
fn method(lock: &str) -> &str {
    if lock == "mutt-order" {
        "both"
    } else {
        lock
    }
}

#[derive(Default)]
struct Arrivals {
    mbox_entries: Vec<Vec<u8>>,
    maildir_files: Vec<(PathBuf, Vec<u8>)>,
    during: usize,
    waited: usize,
    longest_wait: Duration,
}

/// Delivers mail to both stores until `child` exits.
fn deliver_while(
    child: &mut Child,
    mbox: &Path,
    md: &Path,
    tag: &str,
    lock: &str,
    a: &mut Arrivals,
) -> i32 {
    let mut n = a.mbox_entries.len();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        n += 1;
        let mut entry = format!("From new{n}@example.org Wed Jan 31 12:00:00 2024\n").into_bytes();
        entry.extend_from_slice(
            message(
                &format!("{tag}-new-{n}"),
                &format!("arrived during {tag} {n}"),
                10_000 + n,
            )
            .as_bytes(),
        );
        entry.push(b'\n');
        let waited = if lock == "mutt-order" {
            deliver_fcntl_first(mbox, &entry)
        } else {
            deliver(mbox, &entry, lock != "fcntl", lock != "dotlock")
        };
        if let Some(w) = waited {
            a.waited += 1;
            a.longest_wait = a.longest_wait.max(w);
        }
        a.mbox_entries.push(entry);
        let name = format!("1706702400.M{n}P{}.arrival.example.org", std::process::id());
        let data = message(
            &format!("{tag}-drop-{n}"),
            &format!("dropped during {tag} {n}"),
            20_000 + n,
        );
        fs::write(md.join("tmp").join(&name), &data).unwrap();
        fs::rename(md.join("tmp").join(&name), md.join("new").join(&name)).unwrap();
        a.maildir_files
            .push((PathBuf::from("new").join(&name), data.into_bytes()));
        if child.try_wait().unwrap().is_none() {
            a.during += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    code
}

#[test]
fn mail_arriving_during_quarantine_and_restore_is_never_lost() {
    scenario("both");
}

#[test]
fn mail_arriving_under_fcntl_locks_only() {
    scenario("fcntl");
}

#[test]
fn mail_arriving_under_dotlocks_only() {
    scenario("dotlock");
}

/// A writer that takes the fcntl lock first and then waits for the dotlock (mutt's
/// order): maildedup lets its dotlock go when the fcntl lock is not had soon, so neither
/// waits for the other until a timeout.
#[test]
fn mail_arriving_from_a_writer_locking_fcntl_first() {
    scenario("mutt-order");
}

/// Quarantine then restore with `--mbox-lock LOCK` while a delivery agent taking the same
/// locks appends to the mbox and drops files into the Maildir.
fn scenario(lock: &str) {
    let (_td, root) = canonical_tempdir();
    let tree = root.join("tree");
    let mbox = tree.join("inbox.mbox");
    let md = tree.join("Maildir");
    fs::create_dir_all(&tree).unwrap();
    big_mbox(&mbox);
    maildir(&md);
    let qdir = root.join("q");
    let original = snapshot(&tree);
    let orig_mbox = fs::read(&mbox).unwrap();
    let pre = scan_json(&[&tree]);
    let extra = pre["summary"]["extra_copies"].as_u64().unwrap() as usize;
    assert_eq!(extra, DUPLICATES + MAILDIR_UNIQUE.div_ceil(3));

    let ino = fs::metadata(&mbox).unwrap().ino();
    let started = Instant::now();
    let mut child = md_cmd()
        .args([
            "quarantine",
            "--no-progress",
            "--json",
            "--mbox-lock",
            method(lock),
        ])
        .arg(&tree)
        .arg("--to")
        .arg(&qdir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut a = Arrivals::default();
    let code = deliver_while(&mut child, &mbox, &md, "quarantine", lock, &mut a);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "--mbox-lock {lock}: quarantine took {:.1?}; {} deliveries while it ran, {} waited for its lock \
         (longest {:.1?})",
        started.elapsed(),
        a.during,
        a.waited,
        a.longest_wait
    );
    assert_eq!(code, 0, "quarantine exit\n{stdout}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        j["outcome"]["moved"].as_u64(),
        Some(extra as u64),
        "{stdout}"
    );
    assert!(
        a.during >= 3,
        "mail must arrive while quarantine runs ({})",
        a.during
    );
    assert!(
        a.waited >= 1,
        "a delivery must have waited for quarantine's lock"
    );
    assert!(!PathBuf::from(format!("{}.lock", mbox.display())).exists());

    // Everything that arrived is in its store.
    let now = fs::read(&mbox).unwrap();
    for e in &a.mbox_entries {
        assert!(
            find(&now, e),
            "appended message lost: {}",
            String::from_utf8_lossy(&e[..80])
        );
    }
    for (rel, data) in &a.maildir_files {
        assert_eq!(
            fs::read(md.join(rel)).ok().as_ref(),
            Some(data),
            "{}",
            rel.display()
        );
    }
    let post = scan_json(&[&tree]);
    assert_eq!(post["summary"]["groups"].as_u64(), Some(0));
    assert_eq!(
        post["summary"]["messages"].as_u64(),
        pre["summary"]["messages"]
            .as_u64()
            .map(|n| n - extra as u64 + (a.mbox_entries.len() + a.maildir_files.len()) as u64)
    );
    let lost = lost_messages(&originals(&original), &tree, &qdir);
    assert!(lost.is_empty(), "{lost:?}");

    // Restore while mail keeps arriving.
    let mut child = md_cmd()
        .args(["restore", "--json", "--mbox-lock", method(lock)])
        .arg(&qdir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let during_q = a.during;
    let code = deliver_while(&mut child, &mbox, &md, "restore", lock, &mut a);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code, 0, "restore exit\n{stdout}");
    eprintln!(
        "--mbox-lock {lock}: {} deliveries while restore ran",
        a.during - during_q
    );

    // The original, plus exactly what arrived, in order.
    let mut want = original.clone();
    let mut mbox_want = orig_mbox.clone();
    for e in &a.mbox_entries {
        mbox_want.extend_from_slice(e);
    }
    match want.0.get_mut(Path::new("inbox.mbox")) {
        Some(Node::File { data, .. }) => *data = mbox_want,
        _ => unreachable!(),
    }
    for (rel, data) in &a.maildir_files {
        want.0.insert(
            Path::new("Maildir").join(rel),
            Node::File {
                mode: 0o644,
                data: data.clone(),
            },
        );
    }
    assert_same(&want, &snapshot(&tree), "after restore");
    assert_eq!(
        fs::metadata(&mbox).unwrap().ino(),
        ino,
        "the mbox keeps its inode"
    );
}
