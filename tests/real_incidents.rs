//! Incident tests with real mail software (issue 17, item 6): a private Dovecot on
//! loopback serves POP3, dovecot-lda delivers into its Maildirs, fetchmail fetches from it
//! and hands each message to procmail, and libfaketime (`faketime`) sets the clock of
//! every program that names or stamps a delivery. Then `maildedup scan --json` must name
//! the right incident with the right cause:
//!
//! 1. a POP3 session killed before QUIT (fetchmail deleting, `uidl`): the next run
//!    downloads the same messages again → different-time burst, `fetcher-refetch`;
//! 2. leave-on-server (`keep uidl`) with a lost `.fetchids` → the same;
//! 3. an alias expansion: one message delivered twice in one second to one mailbox, for
//!    two envelope recipients → same-time burst, `alias-expansion` (and without any
//!    envelope-recipient header, `delivery-duplicate`, the documented limit);
//! 4. a procmail `:0 c` recipe into the same Maildir, one message every 6 minutes over
//!    hours → a `rate` incident from the time the recipe was added, in that folder;
//! 5. a procmail file-and-keep rule (`:0 c` into `.Archive`, then INBOX): under the folder
//!    rule nothing leaves INBOX and the copies are reported `cross-folder` with `also_in`;
//!    with `--across-folders` a same-time burst, `copy-or-move`, in `.Archive`.
//!
//! How the programs are run (see `/work/shared/notes/real-mail-programs.md`): procmail is
//! installed setuid root, so the dynamic loader ignores `LD_PRELOAD` for it: the test runs
//! a copy without the setuid bit, with `-p` (keep the environment). dovecot-lda cleans its
//! environment: the configuration imports `LD_PRELOAD`, `FAKETIME` and `FAKETIME_SHARED`.
//! Dovecot itself runs as root on the real clock (only the POP3 server; it names no
//! client file); its mail belongs to the user `mdinterop`. dovecot-lda, and fetchmail
//! with the procmail it starts, run as that user through `runuser`, each under a
//! `faketime` started as that user (see `faketime_as_user`). Each test starts its own
//! Dovecot on 127.0.0.1 and a free port; a Drop guard stops it.
//!
//! Needs root (Dovecot's master process) and the programs above. With `CI` set a missing
//! one fails the test; otherwise it prints `skipped: ...` and passes.

use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOVECOT_LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const DOVECOT_POP3: &str = "/usr/lib/dovecot/pop3";
const MAIL_USER: &str = "mdinterop";
/// The POP3 account's password (plaintext on loopback, test instance only).
const PASSWORD: &str = "incident-test";
/// A command that takes longer than this is killed and fails the test.
const TIMEOUT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------ prerequisites

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    // SAFETY: getuid() has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// What this test cannot run without, if anything: `tools` on PATH, `files`, and root
/// when `root` (Dovecot's master process, runuser).
fn missing(tools: &[&str], files: &[&str], root: bool) -> Vec<String> {
    let mut out: Vec<String> = tools
        .iter()
        .filter(|t| !on_path(t))
        .map(|t| t.to_string())
        .collect();
    out.extend(
        files
            .iter()
            .filter(|p| !Path::new(p).exists())
            .map(|p| p.to_string()),
    );
    if root && !is_root() {
        out.push("root (Dovecot's master process, runuser)".to_string());
    }
    out
}

/// Runs the scenario only when everything is there: with `CI` set a missing program
/// fails the test, otherwise the test prints `skipped: ...` and returns false.
fn can_run(name: &str, tools: &[&str], files: &[&str], root: bool) -> bool {
    let missing = missing(tools, files, root);
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name}: CI must install {missing:?}"
    );
    eprintln!("skipped: {name}: missing {missing:?}");
    false
}

/// A POP3 scenario: Dovecot serves, dovecot-lda fills the server, fetchmail fetches and
/// procmail delivers, under faketime.
const POP3_TOOLS: &[&str] = &["dovecot", "runuser", "faketime", "fetchmail", "procmail"];
const DOVECOT_FILES: &[&str] = &[DOVECOT_LDA, DOVECOT_POP3];

/// uid and gid of MAIL_USER, creating the user when it does not exist.
fn mail_user() -> (u32, u32) {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(MAIL_USER).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let made = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", MAIL_USER])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        // Tests run in parallel: another one may have made the user in the meantime.
        assert!(
            made || id("-u").is_some(),
            "cannot create the user {MAIL_USER}"
        );
    }
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => (u, g),
        _ => panic!("no uid/gid for {MAIL_USER}"),
    }
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

fn write(p: &Path, text: &str) {
    if let Some(dir) = p.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
    fs::write(p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

// ------------------------------------------------------------------ running programs

/// Runs `cmd` (stdin `input`), kills it after TIMEOUT; panics unless it exits 0.
/// Returns its stdout and stderr.
fn run(what: &str, mut cmd: Command, input: &[u8]) -> (String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .unwrap_or_else(|e| panic!("{what}: stdin: {e}"));
    }
    let pid = child.id() as i32;
    let watchdog = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < TIMEOUT {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: kill with signal 0 only checks that the process group exists.
            if unsafe { libc::kill(-pid, 0) } != 0 {
                return false;
            }
        }
        // SAFETY: the process group of the child this test started (process_group(0)).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        true
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{what}: wait: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let _ = watchdog;
    (stdout, stderr)
}

/// `faketime 'AT' PROGRAM ARGS...`: the program (and its children) see a clock that
/// starts at AT (UTC) and runs on.
fn faketime(at: &str, program: &str) -> Command {
    let mut c = Command::new("faketime");
    c.env("TZ", "UTC").arg(at).arg(program);
    c
}

/// `runuser -u MAIL_USER -- env VARS... faketime 'AT' PROGRAM`: faketime must run as the
/// user of the program. Its shared clock (POSIX shared memory, mode 0600) is then that
/// user's: started as root, the wrapper's memory is closed to the program, and
/// libfaketime makes its own in every process, which a process that execs (sh, env)
/// never removes from /dev/shm.
fn faketime_as_user(at: &str, vars: &[(&str, &Path)], program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", MAIL_USER, "--", "env", "TZ=UTC"]);
    for (k, v) in vars {
        c.arg(format!("{k}={}", v.display()));
    }
    c.arg("faketime").arg(at).arg(program);
    c
}

/// One test's world: a temporary root, a private Dovecot serving POP3 on 127.0.0.1, a
/// procmail copy without the setuid bit, and the client's Maildir.
struct World {
    _td: tempfile::TempDir,
    root: PathBuf,
    conf: PathBuf,
    port: u16,
    procmail: PathBuf,
    /// The client's home (fetchmail's files) and Maildir (what maildedup scans).
    home: PathBuf,
    maildir: PathBuf,
    uid: u32,
    gid: u32,
    /// Dovecot's master process, stopped on drop.
    master: Option<i32>,
}

impl World {
    /// `server`: start the private Dovecot (POP3 and dovecot-lda scenarios).
    fn new(server: bool) -> World {
        let td = tempfile::TempDir::new().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = td
            .path()
            .canonicalize()
            .unwrap_or_else(|e| panic!("canonicalize: {e}"));
        // Dovecot's processes run as other users and must reach their folders.
        chmod(&root, 0o755);
        let (uid, gid) = if server { mail_user() } else { (0, 0) };
        let procmail = root.join("bin").join("procmail");
        fs::create_dir_all(root.join("bin")).unwrap_or_else(|e| panic!("mkdir bin: {e}"));
        let installed = Command::new("sh")
            .arg("-c")
            .arg("command -v procmail")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        // A copy without the setuid/setgid bits, so that libfaketime's LD_PRELOAD works.
        fs::copy(&installed, &procmail)
            .unwrap_or_else(|e| panic!("copy {installed} to {}: {e}", procmail.display()));
        chmod(&procmail, 0o755);
        // The client's home: its Maildir, fetchmail's files, procmail's log. In the
        // POP3 scenarios fetchmail and procmail run as MAIL_USER (as root, fetchmail
        // locks /var/run/fetchmail.pid, shared by every test), so it owns them.
        let home = root.join("client");
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub))
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", maildir.display()));
            if server {
                chown(&maildir.join(sub), uid, gid);
            }
        }
        if server {
            chown(&maildir, uid, gid);
            chown(&home, uid, gid);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let mut w = World {
            conf: root.join("dovecot").join("dovecot.conf"),
            _td: td,
            root,
            port,
            procmail,
            home,
            maildir,
            uid,
            gid,
            master: None,
        };
        if server {
            w.start_dovecot();
        }
        w
    }

    /// Writes the private configuration and starts Dovecot's master process.
    fn start_dovecot(&mut self) {
        let d = self.root.join("dovecot");
        let srv = self.root.join("server");
        for p in [d.join("run"), d.join("state"), d.join("lda"), srv.clone()] {
            fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        }
        chown(&srv, self.uid, self.gid);
        chown(&d.join("lda"), self.uid, self.gid);
        write(
            &d.join("passwd"),
            &format!("alice:{{PLAIN}}{PASSWORD}\nbob:{{PLAIN}}{PASSWORD}\n"),
        );
        write(
            &self.conf,
            &format!(
                "protocols = pop3\nlisten = 127.0.0.1\nssl = no\n\
disable_plaintext_auth = no\nauth_mechanisms = plain\n\
base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\ninfo_log_path = {d}/log\n\
mail_location = maildir:{srv}/%u/Maildir\npop3_uidl_format = %08Xu%08Xv\n\
import_environment = TZ LD_PRELOAD FAKETIME FAKETIME_SHARED\n\
passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={srv}/%u\n}}\n\
service pop3-login {{\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
service stats {{\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n\
protocol lda {{\n  log_path = {d}/lda/log\n  info_log_path = {d}/lda/log\n}}\n",
                d = d.display(),
                srv = srv.display(),
                uid = self.uid,
                gid = self.gid,
                port = self.port,
            ),
        );
        // The master process keeps the descriptors it was started with: no pipes here,
        // or reading them would wait for it to exit.
        let out = d.join("start.out");
        let file = fs::File::create(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        let err = file
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .status()
            .unwrap_or_else(|e| panic!("dovecot: cannot start: {e}"));
        assert!(
            status.success(),
            "dovecot -c {}: {status}: {}",
            self.conf.display(),
            fs::read_to_string(&out).unwrap_or_default()
        );
        let pidfile = d.join("run").join("master.pid");
        let start = Instant::now();
        loop {
            if let Some(pid) = fs::read_to_string(&pidfile)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                self.master = Some(pid);
            }
            if self.master.is_some()
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "Dovecot did not listen on 127.0.0.1:{}; its log: {}",
                self.port,
                fs::read_to_string(d.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Messages the POP3 server holds for `user` (its Maildir's new/ and cur/).
    fn on_server(&self, user: &str) -> usize {
        count_files(&self.root.join("server").join(user).join("Maildir"))
    }

    /// dovecot-lda delivers `msg` to `user` as MAIL_USER under the fake clock `at`.
    /// `rcpt`: the envelope recipient (`-a`). `mta_headers`: prepend what Postfix's
    /// pipe(8) with `flags=DO` prepends before it runs dovecot-lda (`Delivered-To:` the
    /// final recipient, `X-Original-To:` the original one): dovecot-lda itself writes no
    /// envelope-recipient header.
    fn lda(&self, at: &str, user: &str, rcpt: &str, mta_headers: bool, msg: &str) {
        let mut input = String::new();
        if mta_headers {
            input.push_str(&format!(
                "X-Original-To: {rcpt}\nDelivered-To: {user}@example.net\n"
            ));
        }
        input.push_str(msg);
        let mut c = faketime_as_user(at, &[], DOVECOT_LDA);
        c.arg("-c")
            .arg(&self.conf)
            .args(["-d", user, "-f", "sender@example.org", "-a", rcpt]);
        run(
            &format!("dovecot-lda -a {rcpt} at {at}"),
            c,
            input.as_bytes(),
        );
    }

    /// procmail (the non-setuid copy, `-p`) runs `rc` on `msg` under the fake clock `at`.
    fn procmail(&self, at: &str, rc: &Path, msg: &str) {
        let mut c = faketime(at, &self.procmail.to_string_lossy());
        c.arg("-p").arg("-m").arg(rc);
        run(&format!("procmail at {at}"), c, msg.as_bytes());
    }

    /// An rcfile: `recipes`, then the default delivery into the client's Maildir.
    fn rcfile(&self, name: &str, recipes: &str) -> PathBuf {
        let p = self.root.join(name);
        write(
            &p,
            &format!(
                "MAILDIR={m}\nDEFAULT={m}/\nLOGFILE={log}\n{recipes}",
                m = self.maildir.display(),
                log = self.home.join("procmail.log").display()
            ),
        );
        p
    }

    /// A fetchmail rcfile for alice's POP3 account; `options` e.g. `keep`; the MDA is
    /// `mda` (a command line).
    fn fetchmailrc(&self, name: &str, options: &str, mda: &str) -> PathBuf {
        let p = self.home.join(name);
        write(
            &p,
            &format!(
                "set no syslog\n\
poll 127.0.0.1 with proto POP3 port {port} uidl\n\
  user \"alice\" there with password \"{PASSWORD}\" is \"{MAIL_USER}\" here\n\
  options {options} no rewrite sslproto \"\"\n  mda \"{mda}\"\n",
                port = self.port
            ),
        );
        // fetchmail refuses an rcfile that others can read or its user does not own.
        chmod(&p, 0o600);
        chown(&p, self.uid, self.gid);
        p
    }

    /// fetchmail with `rc` under the fake clock `at`, seen-UID list in `ids`.
    fn fetchmail_cmd(&self, at: &str, rc: &Path, ids: &Path) -> Command {
        let vars = [("HOME", self.home.as_path()), ("FETCHMAILHOME", &self.home)];
        let mut c = faketime_as_user(at, &vars, "fetchmail");
        c.arg("-f").arg(rc).arg("-N").arg("--idfile").arg(ids);
        c
    }

    /// Runs fetchmail; returns its exit code (0: mail delivered, 1: no new mail) and
    /// output. Any other exit code fails the test.
    fn fetchmail(&self, at: &str, rc: &Path, ids: &Path) -> (i32, String) {
        let out = self
            .fetchmail_cmd(at, rc, ids)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("fetchmail: cannot start: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "fetchmail at {at}: {}: {text}",
            out.status
        );
        (code, text)
    }

    /// The procmail line fetchmail hands each message to.
    fn mda(&self, rc: &Path) -> String {
        format!("{} -p -m {}", self.procmail.display(), rc.display())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let Some(pid) = self.master else { return };
        // SAFETY: the Dovecot master process this test started (its pid file).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        // SAFETY: signal 0 only checks whether the process still exists.
        while unsafe { libc::kill(pid, 0) } == 0 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn count_files(maildir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|s| {
            fs::read_dir(maildir.join(s))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum()
}

/// Message `n`: it came in through two SMTP servers (the trace the copies share).
fn message(tag: &str, n: usize, date: &str) -> String {
    format!(
        "Received: from mx.example.net (mx.example.net [192.0.2.25])\n\
\tby mail.example.net (Postfix) with ESMTPS id {tag}{n:04}; {date}\n\
Received: from out.example.org (out.example.org [192.0.2.10])\n\
\tby mx.example.net (Postfix) with ESMTPS id X{n:04}; {date}\n\
Message-ID: <{tag}-{n}@incidents.example.org>\n\
From: Sender <sender@example.org>\nTo: Team <team@example.net>\nCc: alice@example.net\n\
Subject: {tag} message {n}\nDate: {date}\nMIME-Version: 1.0\n\
Content-Type: text/plain; charset=us-ascii\n\n\
Message {n} of the {tag} scenario.\nA second line, so that it is a body.\n"
    )
}

/// `HH:MM:SS` on 2026-01-05 plus `secs` seconds, as faketime's start time.
fn at(hh: u32, secs: u32) -> String {
    let t = hh * 3600 + secs;
    format!(
        "2026-01-05 {:02}:{:02}:{:02}",
        t / 3600,
        (t / 60) % 60,
        t % 60
    )
}

// ------------------------------------------------------------------ maildedup

fn maildedup(w: &World, args: &[&str], paths: &[&Path]) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_maildedup"));
    c.env("XDG_CACHE_HOME", w.root.join("cache"))
        .env("XDG_CONFIG_HOME", w.root.join("config"))
        .args(args)
        .args(paths);
    let (out, _) = run(&format!("maildedup {args:?}"), c, b"");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("maildedup {args:?}: JSON: {e}\n{out}"))
}

fn scan(w: &World, extra: &[&str], path: &Path) -> Value {
    let mut args = vec!["scan", "--json", "--no-cache"];
    args.extend_from_slice(extra);
    maildedup(w, &args, &[path])
}

/// The only incident of the report, with its extra copies checked against the groups.
fn only_incident(report: &Value) -> &Value {
    let incidents = report["incidents"]
        .as_array()
        .unwrap_or_else(|| panic!("no incidents array: {report:#}"));
    assert_eq!(
        incidents.len(),
        1,
        "want exactly one incident: {:#}",
        report["incidents"]
    );
    &incidents[0]
}

/// Extra (not kept) copies in the report's groups, with their per-copy cause codes.
fn extra_copies(report: &Value) -> Vec<&Value> {
    report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["copies"].as_array().into_iter().flatten())
        .filter(|c| c["keep"] == Value::Bool(false))
        .collect()
}

/// The trace fields of a message file's header block (what the cause rules compare), as
/// lines for the test's output.
fn trace_of(path: &str) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read: {e})"));
    let head = text.split("\n\n").next().unwrap_or_default();
    let mut out = String::new();
    let mut keep = false;
    for line in head.lines() {
        if !line.starts_with([' ', '\t']) {
            let name = line
                .split(':')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            keep = ["received", "delivered-to", "x-original-to", "return-path"]
                .contains(&name.as_str());
        }
        if keep {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Prints what maildedup said about the incident and the trace of one extra copy and
/// the copy it was measured against (`--nocapture` shows it; CI logs keep it).
fn show(name: &str, report: &Value) {
    for inc in report["incidents"].as_array().into_iter().flatten() {
        eprintln!(
            "real_incidents: {name}: {} {} {} from {} to {}: {} extra copies; evidence: {}",
            inc["kind"],
            inc["class"],
            inc["cause_code"],
            inc["start"],
            inc["end"],
            inc["extra_copies"],
            inc["evidence"]
        );
    }
    if let Some(extra) = extra_copies(report).first() {
        let kept = extra["relative_to"]["path"].as_str().unwrap_or_default();
        let path = extra["path"].as_str().unwrap_or_default();
        eprintln!(
            "real_incidents: {name}: extra copy {path} ({}):\n{}real_incidents: {name}: kept copy {kept}:\n{}",
            extra["delivered_at"],
            trace_of(path),
            trace_of(kept)
        );
    }
}

/// Checks kind, class, cause, folder and size of the one incident, and that every extra
/// copy carries that cause.
fn check_incident(report: &Value, kind: &str, class: &str, cause: &str, folder: &Path, n: usize) {
    show(cause, report);
    let inc = only_incident(report);
    let ctx = format!("{inc:#}");
    assert_eq!(inc["kind"], kind, "kind: {ctx}");
    assert_eq!(inc["class"], class, "class: {ctx}");
    assert_eq!(inc["cause_code"], cause, "cause_code: {ctx}");
    assert_eq!(inc["extra_copies"], n, "extra_copies: {ctx}");
    assert_eq!(inc["causes"][cause], n, "causes: {ctx}");
    let folders = inc["folders"].as_array().cloned().unwrap_or_default();
    assert_eq!(folders.len(), 1, "one folder: {ctx}");
    assert_eq!(
        folders[0]["path"],
        folder.to_string_lossy().as_ref(),
        "folder: {ctx}"
    );
    assert_eq!(
        folders[0]["extra_copies"], n,
        "folder's extra copies: {ctx}"
    );
    assert_eq!(report["summary"]["extra_copies"], n, "summary");
    let extras = extra_copies(report);
    assert_eq!(extras.len(), n, "extra copies in groups");
    for c in extras {
        assert_eq!(c["cause_code"], cause, "copy {c:#}");
        let path = c["path"].as_str().unwrap_or_default();
        assert!(
            Path::new(path).starts_with(folder),
            "extra copy outside {}: {path}",
            folder.display()
        );
    }
}

// ------------------------------------------------------------------ the scenarios

/// 1. fetchmail (deleting after download, `uidl`) is killed with SIGKILL after it handed
///    12 of 15 messages to procmail, before QUIT: Dovecot never enters UPDATE, so all 15
///    stay on the server, and `.fetchids` is not written. An hour later (fake clock) the
///    next run downloads all 15 and deletes them: 12 extra copies, different-time, each
///    with a fetchmail hop that differs only in its date from the kept copy's.
#[test]
fn pop3_session_killed_before_quit() {
    if !can_run(
        "pop3_session_killed_before_quit",
        POP3_TOOLS,
        DOVECOT_FILES,
        true,
    ) {
        return;
    }
    const ON_SERVER: usize = 15;
    const FETCHED_BEFORE_KILL: usize = 12;
    let w = World::new(true);
    for n in 0..ON_SERVER {
        let msg = message("killed", n, "Mon, 05 Jan 2026 09:30:00 +0000");
        w.lda(&at(10, n as u32), "alice", "alice@example.net", false, &msg);
    }
    assert_eq!(w.on_server("alice"), ON_SERVER);
    let rc = w.rcfile("procmailrc", "");
    // The MDA delivers with procmail, counts, and after the 12th message writes its pid
    // for the test and waits to be killed with the rest of the session.
    let mda = w.root.join("mda.sh");
    let count = w.home.join("mda.count");
    let marker = w.home.join("mda.enough");
    write(
        &mda,
        &format!(
            "#!/bin/sh\n{procmail} || exit $?\necho x >> {count}\n\
if [ \"$(wc -l < {count})\" -ge {FETCHED_BEFORE_KILL} ]; then\n\
  echo $$ > {marker}.tmp; mv {marker}.tmp {marker}; exec sleep 60\nfi\n",
            procmail = w.mda(&rc),
            count = count.display(),
            marker = marker.display()
        ),
    );
    chmod(&mda, 0o755);
    let fetchrc = w.fetchmailrc("fetchmailrc", "", &mda.to_string_lossy());
    let ids = w.home.join(".fetchids");
    let mut first = w.fetchmail_cmd(&at(11, 0), &fetchrc, &ids);
    let mut child = first
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("fetchmail: cannot start: {e}"));
    let start = Instant::now();
    while !marker.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("fetchmail ended before the kill: {status}");
        }
        assert!(start.elapsed() < TIMEOUT, "the MDA never saw message 12");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Kill fetchmail itself (its pid is in its lock file), as a crash or an OOM kill
    // would, then the MDA waiting in its sleep: faketime's wrapper reaps fetchmail,
    // removes its shared clock and exits, and runuser with it.
    let pid_in = |p: &Path| {
        fs::read_to_string(p)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()))
            .unwrap_or_else(|| panic!("no pid in {}", p.display()))
    };
    let lock = w.home.join("fetchmail.pid");
    let (fetchmail_pid, mda_pid) = (pid_in(&lock), pid_in(&marker));
    // SAFETY: fetchmail and its MDA, started by this test (their own files name them).
    unsafe {
        libc::kill(fetchmail_pid, libc::SIGKILL);
        libc::kill(mda_pid, libc::SIGKILL);
    }
    let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(!status.success(), "fetchmail was killed: {status}");
    // The pid in the lock is gone, so the next run takes the lock for a stale one, as
    // after a crash.
    assert!(lock.exists(), "the killed fetchmail left its lock");
    assert_eq!(count_files(&w.maildir), FETCHED_BEFORE_KILL);
    assert_eq!(
        w.on_server("alice"),
        ON_SERVER,
        "a session killed before QUIT must leave every message on the server"
    );
    assert!(
        !ids.exists(),
        "fetchmail wrote .fetchids before it was killed"
    );

    let rc2 = w.fetchmailrc("fetchmailrc2", "", &w.mda(&rc));
    let (code, log) = w.fetchmail(&at(12, 0), &rc2, &ids);
    assert_eq!(code, 0, "second run: {log}");
    assert!(log.contains("15 messages"), "second run: {log}");
    assert_eq!(count_files(&w.maildir), ON_SERVER + FETCHED_BEFORE_KILL);
    assert_eq!(w.on_server("alice"), 0, "the completed session deletes");

    let report = scan(&w, &[], &w.maildir);
    check_incident(
        &report,
        "burst",
        "different-time",
        "fetcher-refetch",
        &w.maildir,
        FETCHED_BEFORE_KILL,
    );
    let inc = only_incident(&report);
    let start = inc["start"].as_str().unwrap_or_default();
    assert!(start.starts_with("2026-01-05T12:00"), "start {start}");
    let evidence = inc["evidence"].as_str().unwrap_or_default();
    assert!(evidence.contains("fetchmail"), "evidence: {evidence}");
}

/// 2. fetchmail `keep uidl` downloads 12 messages and leaves them on the server; a second
///    run half an hour later downloads nothing (its `.fetchids` knows them); then
///    `.fetchids` is lost, and the run an hour after the first downloads all 12 again.
#[test]
fn leave_on_server_with_a_lost_uid_list() {
    if !can_run(
        "leave_on_server_with_a_lost_uid_list",
        POP3_TOOLS,
        DOVECOT_FILES,
        true,
    ) {
        return;
    }
    const N: usize = 12;
    let w = World::new(true);
    for n in 0..N {
        let msg = message("keep", n, "Mon, 05 Jan 2026 09:30:00 +0000");
        w.lda(&at(10, n as u32), "alice", "alice@example.net", false, &msg);
    }
    let rc = w.rcfile("procmailrc", "");
    let fetchrc = w.fetchmailrc("fetchmailrc", "keep", &w.mda(&rc));
    let ids = w.home.join(".fetchids");
    let (code, log) = w.fetchmail(&at(11, 0), &fetchrc, &ids);
    assert_eq!(code, 0, "first run: {log}");
    assert!(log.contains("12 messages"), "first run: {log}");
    assert_eq!(count_files(&w.maildir), N);
    assert!(ids.exists(), "fetchmail keep uidl writes .fetchids");
    let (code, log) = w.fetchmail(&at(11, 30 * 60), &fetchrc, &ids);
    assert_eq!(code, 1, "nothing new while .fetchids is there: {log}");
    assert_eq!(
        count_files(&w.maildir),
        N,
        "the UID list stops a re-download"
    );
    fs::remove_file(&ids).unwrap_or_else(|e| panic!("rm {}: {e}", ids.display()));
    let (code, log) = w.fetchmail(&at(12, 0), &fetchrc, &ids);
    assert_eq!(code, 0, "after the UID list was lost: {log}");
    assert_eq!(count_files(&w.maildir), 2 * N);
    assert_eq!(w.on_server("alice"), N, "keep leaves them on the server");

    let report = scan(&w, &[], &w.maildir);
    check_incident(
        &report,
        "burst",
        "different-time",
        "fetcher-refetch",
        &w.maildir,
        N,
    );
    let start = only_incident(&report)["start"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(start.starts_with("2026-01-05T12:00"), "start {start}");
}

/// 3. Each of 12 messages reaches alice twice in the same second through an alias: once
///    as alice@, once as team@ (an alias that contains alice). dovecot-lda delivers both
///    (`-a` the envelope recipient) after the MTA's pipe prepended `X-Original-To:` and
///    `Delivered-To:` → same-time burst, `alias-expansion`. The same deliveries to bob
///    without those headers (dovecot-lda `-a` alone records no recipient in the message)
///    are `delivery-duplicate`, the limit the README names.
#[test]
fn alias_expansion_delivers_twice_in_one_second() {
    if !can_run(
        "alias_expansion_delivers_twice_in_one_second",
        &["dovecot", "runuser", "faketime"],
        DOVECOT_FILES,
        true,
    ) {
        return;
    }
    const N: usize = 12;
    let w = World::new(true);
    for n in 0..N {
        let when = at(11, 20 * n as u32);
        let msg = message("alias", n, "Mon, 05 Jan 2026 10:59:00 +0000");
        for rcpt in ["alice@example.net", "team@example.net"] {
            w.lda(&when, "alice", rcpt, true, &msg);
        }
        for rcpt in ["bob@example.net", "team@example.net"] {
            w.lda(&when, "bob", rcpt, false, &msg);
        }
    }
    for (user, cause) in [("alice", "alias-expansion"), ("bob", "delivery-duplicate")] {
        let maildir = w.root.join("server").join(user).join("Maildir");
        assert_eq!(count_files(&maildir), 2 * N, "{user}");
        let report = scan(&w, &[], &maildir);
        check_incident(&report, "burst", "same-time", cause, &maildir, N);
        if cause == "alias-expansion" {
            let evidence = only_incident(&report)["evidence"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                evidence.contains("team@example.net"),
                "evidence: {evidence}"
            );
        }
    }
}

/// 4. procmail delivers one message every 6 minutes from 09:00 to 13:54 (fake clock per
///    delivery); a `:0 c` recipe into the same Maildir is in the rcfile from 11:00 to
///    12:54 only: 20 doubled deliveries, one every 6 minutes, never a burst → one `rate`
///    incident in that folder, starting at 11:00, 0% before and after.
#[test]
fn duplicating_recipe_is_a_rate_incident() {
    if !can_run(
        "duplicating_recipe_is_a_rate_incident",
        &["faketime", "procmail"],
        &[],
        false,
    ) {
        return;
    }
    let w = World::new(false);
    let plain = w.rcfile("procmailrc-plain", "");
    let copying = w.rcfile(
        "procmailrc-copy",
        &format!(":0 c\n{}/\n", w.maildir.display()),
    );
    let mut doubled = 0;
    for n in 0..50u32 {
        let secs = n * 6 * 60;
        let rc = if (20..40).contains(&n) {
            doubled += 1;
            &copying
        } else {
            &plain
        };
        let date = format!(
            "Mon, 05 Jan 2026 {} +0000",
            &at(9, secs.saturating_sub(30))[11..]
        );
        let msg = format!(
            "From sender@example.org Mon Jan  5 09:00:00 2026\n{}",
            message("recipe", n as usize, &date)
        );
        w.procmail(&at(9, secs), rc, &msg);
    }
    assert_eq!(count_files(&w.maildir), 50 + doubled);
    let report = scan(&w, &[], &w.maildir);
    check_incident(
        &report,
        "rate",
        "same-time",
        "delivery-duplicate",
        &w.maildir,
        doubled,
    );
    let inc = only_incident(&report);
    let ctx = format!("{inc:#}");
    assert!(
        inc["start"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2026-01-05T11:00"),
        "start: {ctx}"
    );
    assert!(
        inc["end"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2026-01-05T12:54"),
        "end: {ctx}"
    );
    assert_eq!(
        inc["folder"],
        w.maildir.to_string_lossy().as_ref(),
        "folder: {ctx}"
    );
    assert_eq!(inc["duplicated_deliveries"], doubled, "{ctx}");
    assert_eq!(inc["rate_before"], 0.0, "{ctx}");
    assert_eq!(inc["rate_during"], 1.0, "{ctx}");
    assert_eq!(inc["rate_after"], 0.0, "{ctx}");
}

/// 5. procmail files a copy of each of 12 messages into `.Archive` (`:0 c`) and keeps one
///    in INBOX. Under the folder rule nothing is an extra copy: a quarantine moves
///    nothing out of INBOX, and the scan lists every message as cross-folder with
///    `also_in`. With `--across-folders` the INBOX copy is kept (ties go to the INBOX)
///    and the archive copies are a same-time burst, `copy-or-move`, in `.Archive`.
#[test]
fn file_and_keep_rule() {
    if !can_run("file_and_keep_rule", &["faketime", "procmail"], &[], false) {
        return;
    }
    const N: usize = 12;
    let w = World::new(false);
    let archive = w.maildir.join(".Archive");
    let rc = w.rcfile("procmailrc", &format!(":0 c\n{}/\n", archive.display()));
    for n in 0..N {
        let msg = format!(
            "From sender@example.org Mon Jan  5 11:00:00 2026\n{}",
            message("filed", n, "Mon, 05 Jan 2026 10:59:00 +0000")
        );
        w.procmail(&at(11, 20 * n as u32), &rc, &msg);
    }
    assert_eq!(count_files(&w.maildir), N, "INBOX");
    assert_eq!(count_files(&archive), N, ".Archive");

    let report = scan(&w, &[], &w.maildir);
    let ctx = format!("{:#}", report["summary"]);
    assert_eq!(report["summary"]["extra_copies"], 0, "{ctx}");
    assert_eq!(report["summary"]["cross_folder_copies"], N, "{ctx}");
    assert_eq!(report["summary"]["cross_folder_groups"], N, "{ctx}");
    assert_eq!(report["groups"].as_array().map(|g| g.len()), Some(0));
    assert_eq!(report["incidents"].as_array().map(|g| g.len()), Some(0));
    let cross = report["cross_folder"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(cross.len(), N);
    let (inbox, arch) = (w.maildir.to_string_lossy(), archive.to_string_lossy());
    for g in &cross {
        let copies = g["copies"].as_array().cloned().unwrap_or_default();
        assert_eq!(copies.len(), 2, "{g:#}");
        for c in &copies {
            assert_eq!(c["keep"], true, "{c:#}");
            let path = c["path"].as_str().unwrap_or_default();
            let other = if Path::new(path).starts_with(&archive) {
                &inbox
            } else {
                &arch
            };
            let also: Vec<&str> = c["also_in"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            assert_eq!(also, [other.as_ref()], "{c:#}");
        }
    }
    let qdir = w.root.join("quarantine");
    let mut q = Command::new(env!("CARGO_BIN_EXE_maildedup"));
    q.env("XDG_CACHE_HOME", w.root.join("cache"))
        .env("XDG_CONFIG_HOME", w.root.join("config"))
        .arg("quarantine")
        .arg("--to")
        .arg(&qdir)
        .arg(&w.maildir);
    run("maildedup quarantine", q, b"");
    assert_eq!(
        count_files(&w.maildir),
        N,
        "quarantine took mail out of INBOX"
    );
    assert_eq!(
        count_files(&archive),
        N,
        "quarantine took mail out of .Archive"
    );

    let report = scan(&w, &["--across-folders"], &w.maildir);
    check_incident(&report, "burst", "same-time", "copy-or-move", &archive, N);
}
