//! Real mail programs deliver into an mbox while `maildedup quarantine` and `maildedup
//! restore` rewrite it (issue 11): mutt appending its Fcc copy (fcntl, then dotlock),
//! procmail `:0` (fcntl only) and `:0:` (dotlock, then fcntl), and dovecot-lda (fcntl,
//! then dotlock; run as an unprivileged user). Each runs in a loop, one numbered message
//! at a time, from a few seconds before the maildedup run until a few after it exits.
//!
//! The mbox is over 100 MB (text messages of a few KB, some with attachments of about a
//! megabyte), a third of its messages delivered twice (same From_ line, or a day later),
//! so quarantine has a lot to move and rewrites the file while the writers wait on its
//! locks. After each phase: every message a writer delivered (exit code 0) is in the mbox
//! exactly once, found by its token and compared byte for byte with the body we gave it;
//! every original message is in the mbox or, extracted, in QDIR; after restore the mbox is
//! the original file byte for byte followed by exactly the deliveries.
//!
//! Four rounds: twice mutt and procmail during quarantine and restore; then, on the
//! restored mbox, the same plus dovecot-lda; then dovecot-lda alone on a fresh copy of the
//! mbox that it delivered into once before the quarantine. Alone, nothing else changes
//! the file, so its index stays current and each delivery is an append (with
//! `mbox_very_dirty_syncs`): it makes most of its deliveries there, the mixed round only
//! a few dozen, as each re-syncs the 100 MB mbox the others changed. Dovecot keeps its
//! UID counter in an `X-IMAPbase:` header of the mbox's first message and updates it in
//! place as it delivers, also when that header was written before the quarantine, so an
//! mbox it delivered into after the quarantine is no longer the rewritten file plus
//! appends, and `restore` leaves its messages in QDIR: rounds 3 and 4 check only that
//! nothing is lost (and print what restore did and the first byte that differs). The
//! end prints a table of delivered / found / lost per writer, round and phase, and each
//! round's time.
//!
//! procmail `:0:` takes the dotlock before the fcntl lock, mutt and dovecot-lda the other
//! way round: run at the same moment they deadlock each other (mutt gives up after about
//! 5 s, the others wait for minutes), with or without maildedup. The test keeps `:0:` apart
//! from those two; procmail `:0` runs alongside all of them. mutt gives up on an fcntl
//! lock that stays taken for about 5 s and warns "Fcc to MBOX failed" (exit code 0): such
//! runs are counted and printed apart, not as deliveries. Each phase prints how long
//! maildedup held the dotlock.
//!
//! Missing tools: with `CI` set the test fails; otherwise it prints `skipped: ...`.

mod common;

use common::*;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The mbox is at least this big.
const MBOX_BYTES: usize = 100 << 20;
/// How long the writers run before maildedup starts, and go on after it exited.
const LEAD: Duration = Duration::from_secs(5);
const AFTER: Duration = Duration::from_secs(3);
/// Between two deliveries of one writer.
const PAUSE: Duration = Duration::from_millis(40);
/// A writer run that takes longer than this is killed and counted as failed.
const WRITER_TIMEOUT: Duration = Duration::from_secs(150);
/// Deliveries each writer must have made over the whole test.
const MIN_DELIVERIES: usize = 200;
/// Round 4 (dovecot-lda alone, X-IMAPbase written before the quarantine): whether the
/// restored mbox must be the original plus the deliveries.
const DOVECOT_EXACT_RESTORE: bool = false;
const DOVECOT_LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const DOVECOT_USER: &str = "mdinterop";

// ------------------------------------------------------------------ the mbox

/// A small deterministic generator (xorshift), so the mbox is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORDS: &[&str] = &[
    "the",
    "meeting",
    "invoice",
    "attached",
    "please",
    "review",
    "quarterly",
    "numbers",
    "tomorrow",
    "project",
    "deadline",
    "thanks",
    "regards",
    "update",
    "server",
    "backup",
    "schedule",
    "budget",
    "minutes",
    "draft",
    "contract",
    "customer",
    "release",
    "notes",
];

fn text_lines(rng: &mut Rng, lines: usize) -> String {
    let mut out = String::new();
    for _ in 0..lines {
        let n = 6 + (rng.next() % 8) as usize;
        let words: Vec<&str> = (0..n)
            .map(|_| WORDS[(rng.next() % WORDS.len() as u64) as usize])
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

/// Message `n` of the mbox (without its From_ line): a text mail of a few KB, every
/// 100th with a base64 attachment of about 1 MB (a third of those have a duplicate).
fn original_message(n: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let head = format!(
        "Return-Path: <sender{s}@example.org>\nMessage-ID: <orig-{n}@real-writers.example.org>\n\
From: Sender {s} <sender{s}@example.org>\nTo: Team <team@example.org>\n\
Subject: report {n}: {w}\nDate: Mon, 01 Jan 2024 {h:02}:{m:02}:00 +0000\nMIME-Version: 1.0\n",
        s = n % 37,
        w = WORDS[n % WORDS.len()],
        h = (n / 60) % 24,
        m = n % 60,
    );
    let mut body = text_lines(&mut rng, 20 + n % 40);
    if n % 50 == 7 {
        body.push_str(">From the archive: a quoted line\n");
    }
    if n % 100 == 50 {
        let raw: Vec<u8> = (0..700_000).map(|_| rng.next() as u8).collect();
        let b64 = base64_lines(&raw);
        format!(
            "{head}Content-Type: multipart/mixed; boundary=\"b{n}\"\n\n--b{n}\n\
Content-Type: text/plain; charset=us-ascii\n\n{body}\n--b{n}\n\
Content-Type: application/octet-stream; name=\"data{n}.bin\"\n\
Content-Transfer-Encoding: base64\n\n{b64}--b{n}--\n"
        )
    } else {
        format!("{head}Content-Type: text/plain; charset=us-ascii\n\n{body}")
    }
}

fn base64_lines(raw: &[u8]) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut out = String::with_capacity(s.len() + s.len() / 76 + 1);
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn from_line(n: usize, day: usize) -> String {
    format!(
        "From sender{}@example.org Mon Jan {:>2} {:02}:{:02}:00 2024\n",
        n % 37,
        1 + day,
        (n / 60) % 24,
        n % 60
    )
}

/// Writes the big mbox: every message once, then a second delivery of every third one
/// (alternately with the same From_ line, a same-time duplicate, and a day later, a
/// different-time one). The first message has no duplicate, so it is always kept.
/// Returns (file size, number of extra copies).
fn write_mbox(path: &Path) -> (usize, usize) {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let mut extras = 0;
    let mut n = 0;
    while first.len() + second.len() < MBOX_BYTES {
        let msg = original_message(n);
        first.extend_from_slice(from_line(n, 0).as_bytes());
        first.extend_from_slice(msg.as_bytes());
        first.push(b'\n');
        if n % 3 == 1 {
            let day = if n % 6 == 1 { 0 } else { 1 };
            second.extend_from_slice(from_line(n, day).as_bytes());
            second.extend_from_slice(msg.as_bytes());
            second.push(b'\n');
            extras += 1;
        }
        n += 1;
    }
    first.extend_from_slice(&second);
    fs::write(path, &first).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    (first.len(), extras)
}

// ------------------------------------------------------------------ the writers

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Writer {
    Mutt,
    Procmail,
    ProcmailLocked,
    DovecotLda,
}

impl Writer {
    fn name(self) -> &'static str {
        match self {
            Writer::Mutt => "mutt-fcc",
            Writer::Procmail => "procmail-:0",
            Writer::ProcmailLocked => "procmail-:0:",
            Writer::DovecotLda => "dovecot-lda",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Writer::Mutt => "mutt",
            Writer::Procmail => "pm0",
            Writer::ProcmailLocked => "pm0l",
            Writer::DovecotLda => "lda",
        }
    }
}

/// Where everything lives, and how to run the writers.
struct Setup {
    dir: PathBuf,
    mbox: PathBuf,
    qdir: PathBuf,
    /// `sendmail` for mutt: reads the message and drops it.
    sendmail: PathBuf,
    rc_plain: PathBuf,
    rc_locked: PathBuf,
    dovecot_conf: PathBuf,
    /// `runuser -u USER --` when we are root (dovecot-lda must not deliver as root).
    run_as: Vec<String>,
}

/// One delivery attempt.
struct Delivery {
    writer: Writer,
    token: String,
    /// The body bytes we handed over (what must be in the mbox, byte for byte).
    body: Vec<u8>,
    /// Exited 0.
    ok: bool,
    /// mutt exited 0 but warned "Fcc to MBOX failed": it told its user the copy was not
    /// saved (it gives up after about 5 s on a dotlock someone else holds).
    fcc_failed: bool,
    /// Exit status and stderr.
    failure: String,
}

fn delivered_body(token: &str, n: usize) -> Vec<u8> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (n as u64 + 7).wrapping_mul(0x9E37_79B9));
    let mut body = format!("rw-token: {token}\n");
    body.push_str(&text_lines(&mut rng, 3 + n % 25));
    body.push_str(&format!("end of {token}\n"));
    body.into_bytes()
}

/// Runs `cmd` with `input` on stdin; kills it after WRITER_TIMEOUT. Returns whether it
/// exited 0, and its exit status and stderr.
fn run_with_input(mut cmd: Command, input: &[u8]) -> (bool, String) {
    let mut child: Child = match cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot start: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > WRITER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return (false, format!("killed after {WRITER_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return (false, format!("wait: {e}")),
        }
    }
    match child.wait_with_output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Err(e) => (false, format!("wait: {e}")),
    }
}

impl Setup {
    fn deliver(&self, writer: Writer, phase: &str, n: usize) -> Delivery {
        let token = format!("rw-{}-{phase}-{n:05}", writer.tag());
        let body = delivered_body(&token, n);
        let headers = format!(
            "From: Writer {w} <{w}@example.org>\nTo: team@example.org\n\
Subject: {token}\nMessage-ID: <{token}@real-writers.example.org>\n\
Date: Thu, 03 Dec 2026 12:00:00 +0000\n",
            w = writer.tag()
        );
        let (ok, failure) = match writer {
            Writer::Mutt => {
                let mut cmd = Command::new("mutt");
                cmd.env("HOME", &self.dir)
                    .arg("-n")
                    .arg("-F")
                    .arg("/dev/null")
                    .arg("-e")
                    .arg(format!(
                        "set record={}; set copy=yes; set sendmail={}; \
set from={}@example.org; set mbox_type=mbox; set realname=''; \
my_hdr Message-ID: <{token}@real-writers.example.org>",
                        self.mbox.display(),
                        self.sendmail.display(),
                        writer.tag()
                    ))
                    .arg("-s")
                    .arg(&token)
                    .arg("team@example.org");
                run_with_input(cmd, &body)
            }
            Writer::Procmail | Writer::ProcmailLocked => {
                let rc = if writer == Writer::Procmail {
                    &self.rc_plain
                } else {
                    &self.rc_locked
                };
                let mut msg = format!(
                    "From {}@example.org Thu Dec  3 12:00:00 2026\n{headers}\n",
                    writer.tag()
                )
                .into_bytes();
                msg.extend_from_slice(&body);
                let mut cmd = Command::new("procmail");
                cmd.arg("-m").arg(rc);
                run_with_input(cmd, &msg)
            }
            Writer::DovecotLda => {
                let mut msg = format!("{headers}\n").into_bytes();
                msg.extend_from_slice(&body);
                let mut cmd = match self.run_as.split_first() {
                    Some((first, rest)) => {
                        let mut c = Command::new(first);
                        c.args(rest).arg(DOVECOT_LDA);
                        c
                    }
                    None => Command::new(DOVECOT_LDA),
                };
                cmd.arg("-c")
                    .arg(&self.dovecot_conf)
                    .arg("-f")
                    .arg(format!("{}@example.org", writer.tag()))
                    .arg("-e");
                run_with_input(cmd, &msg)
            }
        };
        let fcc_failed = writer == Writer::Mutt && ok && failure.contains("Fcc to");
        Delivery {
            writer,
            token,
            body,
            ok,
            fcc_failed,
            failure,
        }
    }
}

/// What is missing to run the test, if anything.
fn missing_tools(with_dovecot: bool) -> Vec<String> {
    let mut missing = Vec::new();
    for t in ["mutt", "procmail"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !found {
            missing.push(t.to_string());
        }
    }
    if with_dovecot && !Path::new(DOVECOT_LDA).exists() {
        missing.push(DOVECOT_LDA.to_string());
    }
    missing
}

fn is_root() -> bool {
    // SAFETY: getuid() has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// The uid and gid dovecot-lda runs as, creating the user DOVECOT_USER when we are root.
fn dovecot_identity() -> Result<(u32, u32, Vec<String>), String> {
    if !is_root() {
        // SAFETY: getuid()/getgid() have no preconditions and cannot fail.
        let (u, g) = unsafe { (libc::getuid(), libc::getgid()) };
        return Ok((u, g, Vec::new()));
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .arg(flag)
            .arg(DOVECOT_USER)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let made = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", DOVECOT_USER])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !made {
            return Err(format!("cannot create the user {DOVECOT_USER}"));
        }
    }
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Ok((
            u,
            g,
            vec![
                "runuser".into(),
                "-u".into(),
                DOVECOT_USER.into(),
                "--".into(),
            ],
        )),
        _ => Err(format!("no uid/gid for {DOVECOT_USER}")),
    }
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

fn setup(root: &Path) -> Setup {
    let dir = root.join("mail");
    fs::create_dir_all(&dir).unwrap();
    let mbox = dir.join("inbox.mbox");
    let sendmail = root.join("sendmail.sh");
    fs::write(&sendmail, "#!/bin/sh\ncat >/dev/null\nexit 0\n").unwrap();
    fs::set_permissions(&sendmail, fs::Permissions::from_mode(0o755)).unwrap();
    let rc_plain = root.join("procmailrc-plain");
    let rc_locked = root.join("procmailrc-locked");
    // LOCKSLEEP: retry a busy dotlock every second, not every 8 s (the default).
    fs::write(&rc_plain, format!("LOCKSLEEP=1\n:0\n{}\n", mbox.display())).unwrap();
    fs::write(
        &rc_locked,
        format!("LOCKSLEEP=1\n:0:\n{}\n", mbox.display()),
    )
    .unwrap();
    Setup {
        qdir: root.join("quarantine"),
        dovecot_conf: root.join("dovecot").join("dovecot.conf"),
        dir,
        mbox,
        sendmail,
        rc_plain,
        rc_locked,
        run_as: Vec::new(),
    }
}

/// A private Dovecot configuration: INBOX is our mbox, indexes in their own folder.
fn setup_dovecot(s: &mut Setup, root: &Path) -> Result<(), String> {
    let (uid, gid, run_as) = dovecot_identity()?;
    let dv = root.join("dovecot");
    fs::create_dir_all(dv.join("home")).unwrap();
    fs::create_dir_all(dv.join("index")).unwrap();
    fs::create_dir_all(dv.join("run")).unwrap();
    fs::create_dir_all(dv.join("folders")).unwrap();
    fs::write(
        &s.dovecot_conf,
        format!(
            "protocols =\nssl = no\nbase_dir = {d}/run\nlog_path = {d}/log\n\
info_log_path = {d}/log\n\
mail_location = mbox:{d}/folders:INBOX={mbox}:INDEX={d}/index\n\
mbox_dirty_syncs = yes\nmbox_very_dirty_syncs = yes\nmbox_lazy_writes = yes\n\
passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/home\n}}\n",
            d = dv.display(),
            mbox = s.mbox.display()
        ),
    )
    .unwrap();
    for p in [&dv, &dv.join("home"), &dv.join("index"), &dv.join("run")]
        .into_iter()
        .chain([&dv.join("folders"), &s.dovecot_conf, &s.dir, &s.mbox])
    {
        chown(p, uid, gid);
    }
    s.run_as = run_as;
    Ok(())
}

// ------------------------------------------------------------------ checking

/// Splits an mbox (or reads one message file) into (token → bodies found) for the
/// delivered messages, and the entries of the mbox.
fn tokens_in_message(msg: &[u8], found: &mut HashMap<String, Vec<Vec<u8>>>) {
    let Some(at) = memchr::memmem::find(msg, b"\n\n") else {
        return;
    };
    let body = &msg[at + 2..];
    if let Some(rest) = body.strip_prefix(b"rw-token: ") {
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let token = String::from_utf8_lossy(&rest[..end]).into_owned();
        found.entry(token).or_default().push(body.to_vec());
    }
}

fn delivered_in(mbox: &[u8], qdir: &Path) -> HashMap<String, Vec<Vec<u8>>> {
    let mut found = HashMap::new();
    for e in maildedup::store::mbox::split(mbox).unwrap_or_default() {
        tokens_in_message(&mbox[e.message_start..e.message_end], &mut found);
    }
    for name in names(&qdir.join("cur")) {
        if let Ok(d) = fs::read(qdir.join("cur").join(name)) {
            tokens_in_message(&d, &mut found);
        }
    }
    found
}

/// Removes the lines Dovecot rewrites in place (`X-IMAPbase:` in the first message,
/// `X-UID:`) and the flag lines a flag merge may change.
fn normalized(entry: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry.len());
    for line in entry.split_inclusive(|&b| b == b'\n') {
        let l = line.to_ascii_lowercase();
        if l.starts_with(b"x-imapbase:")
            || l.starts_with(b"x-uid:")
            || l.starts_with(b"status:")
            || l.starts_with(b"x-status:")
        {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

fn b3(d: &[u8]) -> [u8; 32] {
    *blake3::hash(d).as_bytes()
}

/// The original mbox entries (normalized entry hash, hash of the message as quarantine
/// extracts it), for checking that each is in the mbox or in QDIR.
fn original_entries(mbox: &[u8]) -> Vec<([u8; 32], [u8; 32])> {
    maildedup::store::mbox::split(mbox)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                b3(&normalized(&mbox[e.offset..e.end])),
                b3(&unquote(&mbox[e.message_start..e.message_end])),
            )
        })
        .collect()
}

/// How many original entries are neither in the mbox (as entries) nor in QDIR/cur.
/// Counted: two identical originals need two copies.
fn originals_missing(orig: &[([u8; 32], [u8; 32])], mbox: &[u8], qdir: &Path) -> usize {
    let mut in_mbox: HashMap<[u8; 32], usize> = HashMap::new();
    for e in maildedup::store::mbox::split(mbox).unwrap_or_default() {
        *in_mbox
            .entry(b3(&normalized(&mbox[e.offset..e.end])))
            .or_default() += 1;
    }
    let mut in_q: HashMap<[u8; 32], usize> = HashMap::new();
    for name in names(&qdir.join("cur")) {
        if let Ok(d) = fs::read(qdir.join("cur").join(name)) {
            *in_q.entry(b3(&d)).or_default() += 1;
        }
    }
    let mut missing = 0;
    for (entry, msg) in orig {
        if let Some(n) = in_mbox.get_mut(entry).filter(|n| **n > 0) {
            *n -= 1;
        } else if let Some(n) = in_q.get_mut(msg).filter(|n| **n > 0) {
            *n -= 1;
        } else {
            missing += 1;
        }
    }
    missing
}

/// Per writer: runs that delivered (exit 0, no warning), of these found byte-exact
/// once, not found, found more than once; runs that failed (exit code); mutt runs that
/// warned that the Fcc failed.
#[derive(Default, Debug, Clone, Copy)]
struct Tally {
    delivered: usize,
    found: usize,
    lost: usize,
    doubled: usize,
    failed: usize,
    fcc_failed: usize,
}

fn tally(deliveries: &[Delivery], found: &HashMap<String, Vec<Vec<u8>>>) -> Vec<(Writer, Tally)> {
    let mut by: std::collections::BTreeMap<Writer, Tally> = Default::default();
    for d in deliveries {
        let t = by.entry(d.writer).or_default();
        if !d.ok {
            t.failed += 1;
            continue;
        }
        if d.fcc_failed {
            t.fcc_failed += 1;
            continue;
        }
        t.delivered += 1;
        match found.get(&d.token) {
            Some(v) if v.len() == 1 && v[0] == d.body => t.found += 1,
            Some(v) if v.contains(&d.body) => {
                t.found += 1;
                t.doubled += 1;
            }
            _ => t.lost += 1,
        }
    }
    by.into_iter().collect()
}

// ------------------------------------------------------------------ one phase

/// Starts the writers, after LEAD `maildedup ARGS`, and runs the writers in a loop until
/// it exited and AFTER has passed; and returns (its exit code, stdout, stderr, the deliveries, how long it ran).
fn phase(
    s: &Arc<Setup>,
    writers: &[Writer],
    name: &str,
    args: &[String],
) -> (Option<i32>, String, String, Vec<Delivery>, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let order = Arc::new(std::sync::RwLock::new(()));
    let threads: Vec<_> = writers
        .iter()
        .map(|&w| {
            let (s, stop, name) = (Arc::clone(s), Arc::clone(&stop), name.to_string());
            let order = Arc::clone(&order);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    // procmail `:0:` takes the dotlock first, mutt and dovecot-lda the fcntl
                    // lock first: run together they deadlock each other (until mutt gives
                    // up after 5 s, or forever), whatever maildedup does. Keep them apart.
                    let d = match w {
                        Writer::Procmail => s.deliver(w, &name, n),
                        Writer::ProcmailLocked => {
                            let _g = order.write().unwrap_or_else(|e| e.into_inner());
                            s.deliver(w, &name, n)
                        }
                        Writer::Mutt | Writer::DovecotLda => {
                            let _g = order.read().unwrap_or_else(|e| e.into_inner());
                            s.deliver(w, &name, n)
                        }
                    };
                    out.push(d);
                    n += 1;
                    // A pause, so that procmail `:0` (a fast writer) does not keep the fcntl
                    // lock taken nearly all the time: mutt only retries it once a second.
                    std::thread::sleep(PAUSE);
                }
                out
            })
        })
        .collect();
    std::thread::sleep(LEAD);
    let started = Instant::now();
    let child = md_cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start maildedup: {e}"));
    let held = watch_dotlock(&s.mbox, child.id(), Arc::clone(&stop));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for maildedup: {e}"));
    let took = started.elapsed();
    std::thread::sleep(AFTER);
    stop.store(true, Ordering::Relaxed);
    let mut deliveries = Vec::new();
    for t in threads {
        deliveries.extend(t.join().unwrap_or_default());
    }
    let (longest, total) = held.join().unwrap_or_default();
    eprintln!(
        "real_writers: {name}: maildedup held the dotlock {total:.1?} in all, at most \
         {longest:.1?} at a time"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        deliveries,
        took,
    )
}

/// Watches `MBOX.lock` until `stop`: how long the process `pid` held it, at most at a
/// time and in all (sampled every 10 ms).
fn watch_dotlock(
    mbox: &Path,
    pid: u32,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Duration, Duration)> {
    let lock = PathBuf::from(format!("{}.lock", mbox.display()));
    std::thread::spawn(move || {
        let (mut longest, mut total) = (Duration::ZERO, Duration::ZERO);
        let mut since: Option<Instant> = None;
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let ours = fs::read_to_string(&lock)
                .map(|t| t.trim() == pid.to_string())
                .unwrap_or(false);
            let now = Instant::now();
            if ours {
                total += now - last;
                let start = *since.get_or_insert(last);
                longest = longest.max(now - start);
            } else {
                since = None;
            }
            last = now;
            std::thread::sleep(Duration::from_millis(10));
        }
        (longest, total)
    })
}

/// Checks the mbox after a phase: prints a line per writer and returns the problems.
fn check_phase(
    s: &Setup,
    round: &str,
    phase: &str,
    deliveries: &[Delivery],
    rows: &mut Vec<Row>,
) -> (Vec<String>, Vec<u8>) {
    let now = fs::read(&s.mbox).unwrap_or_else(|e| panic!("read {}: {e}", s.mbox.display()));
    let found = delivered_in(&now, &s.qdir);
    let mut problems = Vec::new();
    for (w, t) in tally(deliveries, &found) {
        eprintln!(
            "real_writers: {round} {phase:<10} {:<13} delivered {:>4}  found {:>4}  lost {:>4}  \
             doubled {}  failed runs {}  Fcc failed {}",
            w.name(),
            t.delivered,
            t.found,
            t.lost,
            t.doubled,
            t.failed,
            t.fcc_failed
        );
        rows.push(Row {
            round: round.to_string(),
            phase: phase.to_string(),
            writer: w,
            tally: t,
        });
        if t.lost > 0 {
            problems.push(format!(
                "{round} {phase}: {}: {} of {} delivered messages lost",
                w.name(),
                t.lost,
                t.delivered
            ));
        }
        if t.doubled > 0 {
            problems.push(format!(
                "{round} {phase}: {}: {} delivered messages are in the mbox more than once",
                w.name(),
                t.doubled
            ));
        }
        if t.fcc_failed > 0 {
            // Not a silent loss: mutt said so (interactively it offers to retry). It gives
            // up when the fcntl lock stays taken for about 5 s with the file size unchanged.
            let first = deliveries
                .iter()
                .find(|d| d.writer == w && d.fcc_failed)
                .map(|d| {
                    d.failure
                        .lines()
                        .rev()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
                .unwrap_or_default();
            eprintln!(
                "real_writers: {round} {phase}: {}: {} runs gave up on the lock and warned \
                 that the Fcc copy was not saved ({first})",
                w.name(),
                t.fcc_failed
            );
        }
        if t.failed > 0 {
            let first = deliveries
                .iter()
                .find(|d| d.writer == w && !d.ok)
                .map(|d| d.failure.clone())
                .unwrap_or_default();
            problems.push(format!(
                "{round} {phase}: {}: {} runs did not exit 0 (first: {first})",
                w.name(),
                t.failed
            ));
        }
    }
    (problems, now)
}

/// One line of the final table: a writer's tally in one phase of one round.
struct Row {
    round: String,
    phase: String,
    writer: Writer,
    tally: Tally,
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or(serde_json::Value::Null)
}

fn quarantine_args(s: &Setup) -> Vec<String> {
    [
        "quarantine",
        "--no-progress",
        "--json",
        &s.mbox.to_string_lossy(),
        "--to",
        &s.qdir.to_string_lossy(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn restore_args(s: &Setup) -> Vec<String> {
    vec![
        "restore".into(),
        "--json".into(),
        s.qdir.to_string_lossy().into_owned(),
    ]
}

/// One round: quarantine, then restore, with `writers` delivering throughout. With
/// `exact_restore`, the restored mbox must be the original bytes plus the deliveries.
fn round(
    s: &Arc<Setup>,
    round: &str,
    writers: &[Writer],
    extras: usize,
    exact_restore: bool,
    rows: &mut Vec<Row>,
    problems: &mut Vec<String>,
) {
    let round_started = Instant::now();
    let original = fs::read(&s.mbox).unwrap_or_else(|e| panic!("read {}: {e}", s.mbox.display()));
    let orig_entries = original_entries(&original);
    let _ = fs::remove_dir_all(&s.qdir);

    let (code, stdout, stderr, q_deliveries, took) =
        phase(s, writers, &format!("{round}q"), &quarantine_args(s));
    let j = json(&stdout);
    let moved = j["outcome"]["moved"].as_u64().unwrap_or(0) as usize;
    let left = j["outcome"]["left"]
        .as_array()
        .map(|a| a.len())
        .unwrap_or(0);
    eprintln!(
        "real_writers: {round} quarantine took {took:.1?}: exit {code:?}, moved {moved} of \
         {extras} extra copies, left {left}"
    );
    if code != Some(0) || moved != extras {
        problems.push(format!(
            "{round} quarantine: exit {code:?}, moved {moved} of {extras}; {left} left (first: \
             {}); stderr: {}",
            j["outcome"]["left"][0],
            stderr.lines().take(3).collect::<Vec<_>>().join(" / ")
        ));
    }
    let (p, now) = check_phase(s, round, "quarantine", &q_deliveries, rows);
    problems.extend(p);
    let missing = originals_missing(&orig_entries, &now, &s.qdir);
    eprintln!(
        "real_writers: {round} quarantine: {} original messages, {missing} in neither the mbox \
         nor QDIR",
        orig_entries.len()
    );
    if missing > 0 {
        problems.push(format!(
            "{round} quarantine: {missing} original messages lost"
        ));
    }

    let (code, stdout, stderr, r_deliveries, took) =
        phase(s, writers, &format!("{round}r"), &restore_args(s));
    let j = json(&stdout);
    eprintln!(
        "real_writers: {round} restore took {took:.1?}: exit {code:?}, restored {} messages, \
         {} problems (first: {})",
        j["outcome"]["restored"],
        j["outcome"]["problems"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0),
        j["outcome"]["problems"][0]
    );
    let (p, now) = check_phase(s, round, "restore", &r_deliveries, rows);
    problems.extend(p);
    let missing = originals_missing(&orig_entries, &now, &s.qdir);
    eprintln!(
        "real_writers: {round} restore: {missing} original messages in neither the mbox nor QDIR"
    );
    if missing > 0 {
        problems.push(format!("{round} restore: {missing} original messages lost"));
    }
    if !exact_restore {
        // Say what differs from the original file (Dovecot's in-place header update).
        let at = original
            .iter()
            .zip(&now)
            .position(|(a, b)| a != b)
            .unwrap_or(original.len().min(now.len()));
        eprintln!(
            "real_writers: {round} restore: first difference from the original file at byte \
             {at}: was {:?}, now {:?}",
            line_at(&original, at),
            line_at(&now, at)
        );
    }
    if exact_restore {
        if code != Some(0) {
            problems.push(format!(
                "{round} restore: exit {code:?}: {}; stderr: {}",
                j["outcome"]["problems"],
                stderr.trim()
            ));
        }
        // The original file, byte for byte, then each delivery of both phases once.
        if !now.starts_with(&original) {
            let at = original
                .iter()
                .zip(&now)
                .position(|(a, b)| a != b)
                .unwrap_or(original.len().min(now.len()));
            problems.push(format!(
                "{round} restore: the mbox does not start with the original file \
                 (first difference at byte {at} of {})",
                original.len()
            ));
        } else {
            let tail = &now[original.len()..];
            let appended = maildedup::store::mbox::split(tail)
                .unwrap_or_default()
                .len();
            let delivered = q_deliveries
                .iter()
                .chain(&r_deliveries)
                .filter(|d| d.ok && !d.fcc_failed)
                .count();
            eprintln!(
                "real_writers: {round} restore: original file intact, then {appended} entries \
                 ({delivered} delivered)"
            );
            if appended != delivered {
                problems.push(format!(
                    "{round} restore: {appended} entries after the original file, {delivered} \
                     deliveries"
                ));
            }
        }
    }
    eprintln!(
        "real_writers: {round} took {:.1?} in all (writers: {})",
        round_started.elapsed(),
        writers
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The line of `buf` that holds byte `at`.
fn line_at(buf: &[u8], at: usize) -> String {
    let at = at.min(buf.len());
    let start = memchr::memrchr(b'\n', &buf[..at]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i);
    String::from_utf8_lossy(&buf[start..end]).into_owned()
}

/// Replaces the mbox with a fresh copy of the original (Dovecot's indexes removed, so it
/// starts from this file) and has dovecot-lda deliver once, so that its `X-IMAPbase:`
/// header is written before the quarantine takes the originals.
fn fresh_mbox_for_dovecot(s: &Setup) -> usize {
    let t = Instant::now();
    let (_, extras) = write_mbox(&s.mbox);
    let index = s
        .dovecot_conf
        .parent()
        .map(|d| d.join("index"))
        .unwrap_or_default();
    for name in names(&index) {
        let p = index.join(name);
        let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
    }
    let _ = fs::remove_file(format!("{}.lock", s.mbox.display()));
    let first = s.deliver(Writer::DovecotLda, "prime4", 0);
    assert!(first.ok, "dovecot-lda: {}", first.failure);
    eprintln!(
        "real_writers: fresh mbox for dovecot-lda alone, primed in {:.1?}",
        t.elapsed()
    );
    extras
}

#[test]
fn real_writers_deliver_during_quarantine_and_restore() {
    let ci = std::env::var_os("CI").is_some();
    let missing = missing_tools(true);
    if !missing.is_empty() {
        assert!(!ci, "CI must install: {missing:?}");
        eprintln!("skipped: real_writers: missing {missing:?}");
        return;
    }
    let td = tempfile::TempDir::new().unwrap();
    let root = td.path().canonicalize().unwrap();
    // dovecot-lda runs as another user: it must reach the files.
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    let mut s = setup(&root);
    let t = Instant::now();
    let (size, extras) = write_mbox(&s.mbox);
    eprintln!(
        "real_writers: mbox of {size} bytes, {extras} extra copies, written in {:.1?}",
        t.elapsed()
    );
    if let Err(e) = setup_dovecot(&mut s, &root) {
        assert!(!ci, "dovecot-lda: {e}");
        eprintln!("skipped: real_writers: {e}");
        return;
    }
    let s = Arc::new(s);
    let mut rows: Vec<Row> = Vec::new();
    let mut problems = Vec::new();

    // Rounds 1 and 2: mutt and procmail; restore must give back the original plus the
    // deliveries (so round 2 has the same duplicates to move again).
    let plain = [Writer::Mutt, Writer::Procmail, Writer::ProcmailLocked];
    for name in ["round1", "round2"] {
        round(&s, name, &plain, extras, true, &mut rows, &mut problems);
    }

    // Round 3: the same with dovecot-lda. A first delivery puts Dovecot's X-IMAPbase
    // header into the first message (it moves the whole file to make room) before the
    // originals are taken.
    let first = s.deliver(Writer::DovecotLda, "prime", 0);
    assert!(first.ok, "dovecot-lda: {}", first.failure);
    let all = [
        Writer::Mutt,
        Writer::Procmail,
        Writer::ProcmailLocked,
        Writer::DovecotLda,
    ];
    round(&s, "round3", &all, extras, false, &mut rows, &mut problems);

    // Round 4: dovecot-lda alone, on a fresh copy of the mbox it delivered into once
    // before the quarantine. No other writer changes the file, so its index stays
    // current and each delivery is an append.
    let extras4 = fresh_mbox_for_dovecot(&s);
    round(
        &s,
        "round4",
        &[Writer::DovecotLda],
        extras4,
        DOVECOT_EXACT_RESTORE,
        &mut rows,
        &mut problems,
    );

    eprintln!("real_writers: per writer and phase:");
    eprintln!(
        "real_writers: {:<7} {:<10} {:<13} {:>9} {:>6} {:>5}",
        "round", "phase", "writer", "delivered", "found", "lost"
    );
    let mut totals: std::collections::BTreeMap<Writer, Tally> = Default::default();
    for r in &rows {
        eprintln!(
            "real_writers: {:<7} {:<10} {:<13} {:>9} {:>6} {:>5}",
            r.round,
            r.phase,
            r.writer.name(),
            r.tally.delivered,
            r.tally.found,
            r.tally.lost
        );
        let t = totals.entry(r.writer).or_default();
        t.delivered += r.tally.delivered;
        t.found += r.tally.found;
        t.lost += r.tally.lost;
    }
    let totals: Vec<(Writer, usize)> = totals
        .into_iter()
        .map(|(w, t)| {
            eprintln!(
                "real_writers: {:<7} {:<10} {:<13} {:>9} {:>6} {:>5}",
                "total",
                "",
                w.name(),
                t.delivered,
                t.found,
                t.lost
            );
            (w, t.delivered)
        })
        .collect();

    for (w, n) in &totals {
        eprintln!("real_writers: total {:<13} {n} deliveries", w.name());
        let want = MIN_DELIVERIES;
        if *n < want {
            problems.push(format!(
                "{}: only {n} deliveries over the test (want {want})",
                w.name()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
