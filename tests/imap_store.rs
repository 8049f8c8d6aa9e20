//! IMAP accounts as stores (issue 19, scan side) against a real server: a private Dovecot
//! IMAP instance on 127.0.0.1 with TLS from a test CA made by `openssl`, filled with
//! Python's imaplib `APPEND` (chosen `INTERNALDATE`s). Checks that the groups and classes
//! of the account equal those of the same messages as a local Maildir, that nothing is
//! marked `\Seen`, that a wrong password, an untrusted certificate and a server without
//! STARTTLS fail with exit 2 and a clear message, a mixed run, and that quarantine refuses
//! an IMAP account and changes nothing.
//!
//! Needs root (Dovecot's master process), `dovecot` with `/usr/lib/dovecot/imap`
//! (Debian: `dovecot-imapd`), `openssl` and `python3`. With `CI` set a missing one fails
//! the test; otherwise it prints `skipped:`. The 10,000-message measurement is
//! `cargo test --test imap_store -- --ignored --nocapture imap_10k`.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MAIL_USER: &str = "mdinterop";
const PASSWORD: &str = "imap-test-pw";
const IMAP_BIN: &str = "/usr/lib/dovecot/imap";

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn can_run(name: &str) -> bool {
    let mut missing: Vec<String> = ["dovecot", "doveadm", "openssl", "python3"]
        .iter()
        .filter(|t| !on_path(t))
        .map(|t| t.to_string())
        .collect();
    if !Path::new(IMAP_BIN).exists() {
        missing.push(IMAP_BIN.to_string());
    }
    if !is_root() {
        missing.push("root (Dovecot's master process)".to_string());
    }
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
        assert!(made || id("-u").is_some(), "cannot create {MAIL_USER}");
    }
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => (u, g),
        _ => panic!("no uid/gid for {MAIL_USER}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn sh(what: &str, script: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private Dovecot serving IMAP (STARTTLS) and IMAPS on 127.0.0.1.
struct Server {
    _td: tempfile::TempDir,
    root: PathBuf,
    conf: PathBuf,
    imap: u16,
    imaps: u16,
    ca: PathBuf,
    uid: u32,
    gid: u32,
}

impl Server {
    /// Makes the CA and server certificate and the configuration; `fill` may write the
    /// user's Maildir before the server starts.
    fn start(fill: impl FnOnce(&Path, u32, u32)) -> Server {
        let td = tempfile::TempDir::new().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = td.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        sh("chmod", &format!("chmod 755 {}", root.display()));
        let (uid, gid) = mail_user();
        let d = root.join("dovecot");
        let srv = root.join("server");
        // rawlog/: Dovecot's own record of every session's input (the commands counted
        // by imap_10k), written as the mail user.
        for p in [
            d.join("run"),
            d.join("state"),
            srv.clone(),
            srv.join("rawlog"),
        ] {
            fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        }
        // A CA, and a server certificate it signs for IP 127.0.0.1 (rustls checks the SAN).
        sh(
            "openssl",
            &format!(
                "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=maildedup-test-CA \
                 -keyout ca.key -out ca.pem 2>&1 && \
                 openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout srv.key -out srv.csr 2>&1 && \
                 printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext && \
                 openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
                 -extfile ext -out srv.pem 2>&1",
                d = d.display()
            ),
        );
        fs::write(d.join("passwd"), format!("alice:{{PLAIN}}{PASSWORD}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let home = srv.join("alice");
        fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{e}"));
        fill(&home, uid, gid);
        sh("chown", &format!("chown -R {uid}:{gid} {}", srv.display()));
        let (imap, imaps) = (free_port(), free_port());
        let conf = d.join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "protocols = imap\nlisten = 127.0.0.1\nssl = yes\n\
ssl_cert = <{d}/srv.pem\nssl_key = <{d}/srv.key\n\
auth_mechanisms = plain\n\
base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\ninfo_log_path = {d}/log\n\
mail_location = maildir:~/Maildir\n\
passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={srv}/%u\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n\
  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n\
service stats {{\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n\
protocol imap {{\n  rawlog_dir = {srv}/rawlog\n}}\n",
                d = d.display(),
                srv = srv.display(),
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let out = fs::File::create(d.join("start.out")).unwrap_or_else(|e| panic!("{e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap_or_else(|e| panic!("dovecot: {e}"));
        assert!(
            status.success(),
            "dovecot: {status}: {}",
            fs::read_to_string(d.join("start.out")).unwrap_or_default()
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", imaps)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", imap)).is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "Dovecot did not listen: {}",
                fs::read_to_string(d.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            _td: td,
            ca: d.join("ca.pem"),
            root,
            conf,
            imap,
            imaps,
            uid,
            gid,
        }
    }

    fn url(&self, folder: &str) -> String {
        format!("imaps://alice@127.0.0.1:{}/{folder}", self.imaps)
    }

    /// Runs a Python snippet with `M`, an imaplib session logged in as alice over TLS.
    fn python(&self, body: &str) -> String {
        let script = format!(
            "import imaplib, ssl, sys, json\n\
ctx = ssl.create_default_context(cafile={ca:?})\n\
M = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ctx)\n\
M.login('alice', {pw:?})\n{body}\nM.logout()\n",
            ca = self.ca.display().to_string(),
            port = self.imaps,
            pw = PASSWORD,
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        assert!(
            out.status.success(),
            "python3 imaplib: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn md(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Out {
        let mut env = vec![
            ("MAILDEDUP_IMAP_PASSWORD", PASSWORD),
            ("HOME", "/nonexistent"),
        ];
        env.extend_from_slice(extra_env);
        // The measurement may run another build (`MAILDEDUP_BENCH_BIN=target/release/maildedup`).
        if let Some(bin) = std::env::var_os("MAILDEDUP_BENCH_BIN") {
            let mut cmd = Command::new(bin);
            test_env(&mut cmd).args(args);
            for (k, v) in &env {
                cmd.env(k, v);
            }
            return Out::from(cmd.output().unwrap_or_else(|e| panic!("run: {e}")));
        }
        md_env(args, &env)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = (&self.root, self.uid, self.gid);
    }
}

/// One message to place: folder, delivery (INTERNALDATE) time, bytes.
struct Placed {
    folder: &'static str,
    at: i64,
    bytes: Vec<u8>,
    /// Maildir flag letters, in order (the IMAP copy gets the matching system flags).
    flags: &'static str,
}

fn crafted(id: Option<&str>, subject: &str) -> Vec<u8> {
    let mid = id
        .map(|i| format!("Message-ID: <{i}>\n"))
        .unwrap_or_default();
    format!(
        "From: Ann <ann@example.org>\nTo: bob@example.com\nSubject: {subject}\n\
Date: Tue, 2 Jan 2024 09:59:00 +0000\n{mid}\nBody of {subject}.\n"
    )
    .into_bytes()
}

/// Real messages from the fixtures plus duplicates of each class: same-time (seconds
/// apart), different-time (days apart), without a Message-ID, and across folders.
fn corpus() -> Vec<Placed> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let base = now - 40 * 86_400;
    let mut out = Vec::new();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/Maildir/cur");
    let mut names: Vec<PathBuf> = fs::read_dir(&real)
        .unwrap_or_else(|e| panic!("{}: {e}", real.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for (i, p) in names.iter().enumerate() {
        let bytes = fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.push(Placed {
            folder: "INBOX",
            flags: "",
            at: base + i as i64 * 3600,
            bytes: bytes.clone(),
        });
        match i {
            // A same-time duplicate of a real message.
            0 => out.push(Placed {
                folder: "INBOX",
                flags: "",
                at: base + 2,
                bytes,
            }),
            // A different-time duplicate (three days later).
            1 => out.push(Placed {
                folder: "INBOX",
                flags: "",
                at: base + 3600 + 3 * 86_400,
                bytes,
            }),
            // A copy in another folder.
            2 => out.push(Placed {
                folder: "Archive",
                flags: "",
                at: base + 7200 + 5 * 86_400,
                bytes,
            }),
            _ => {}
        }
    }
    let a = crafted(Some("same-time@example.org"), "same");
    let b = crafted(Some("diff-time@example.org"), "diff");
    let c = crafted(None, "no id");
    let t = base + 20 * 86_400;
    for (bytes, later, flags) in [(a, 3, "FR"), (b, 4 * 86_400, "ST"), (c, 1, "D")] {
        out.push(Placed {
            folder: "INBOX",
            flags: "",
            at: t,
            bytes: bytes.clone(),
        });
        out.push(Placed {
            folder: "INBOX",
            flags: "",
            at: t + later,
            bytes: bytes.clone(),
        });
        out.push(Placed {
            folder: "INBOX",
            flags,
            at: t + 2 * later,
            bytes,
        });
    }
    out
}

fn append_all(server: &Server, placed: &[Placed], dir: &Path) {
    let mut body = String::from("M.create('Archive')\n");
    for (i, p) in placed.iter().enumerate() {
        let f = dir.join(format!("msg{i}"));
        fs::write(&f, &p.bytes).unwrap_or_else(|e| panic!("{e}"));
        let flags: Vec<&str> = p
            .flags
            .chars()
            .filter_map(|c| match c {
                'S' => Some("\\\\Seen"),
                'R' => Some("\\\\Answered"),
                'F' => Some("\\\\Flagged"),
                'D' => Some("\\\\Draft"),
                'T' => Some("\\\\Deleted"),
                _ => None,
            })
            .collect();
        let flags = if flags.is_empty() {
            "None".to_string()
        } else {
            format!("'({})'", flags.join(" "))
        };
        body.push_str(&format!(
            "typ, d = M.append({folder:?}, {flags}, imaplib.Time2Internaldate({at}), open({f:?}, 'rb').read())\nassert typ == 'OK', d\n",
            folder = p.folder,
            at = p.at,
            f = f.display().to_string(),
        ));
    }
    server.python(&body);
}

/// The same messages as a local Maildir (INBOX the root, Archive a Maildir++ folder),
/// each file's name and mtime its delivery time.
fn write_maildir(root: &Path, placed: &[Placed]) {
    for (i, p) in placed.iter().enumerate() {
        let dir = match p.folder {
            "INBOX" => root.to_path_buf(),
            f => root.join(format!(".{f}")),
        };
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("{e}"));
        }
        let f = dir
            .join("cur")
            .join(format!("{}.M{i}P1.test:2,{}", p.at, p.flags));
        fs::write(&f, &p.bytes).unwrap_or_else(|e| panic!("{e}"));
        let t = std::time::UNIX_EPOCH + Duration::from_secs(p.at as u64);
        fs::File::options()
            .write(true)
            .open(&f)
            .and_then(|h| h.set_modified(t))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Groups as comparable values: per group its Message-ID, content hash and class, and
/// per copy (in delivery order) its delivery time, class, keep, scope and flags.
fn shape(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups: {report}"))
        .iter()
        .map(|g| {
            let mut copies: Vec<String> = g["copies"]
                .as_array()
                .map(|v| v.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    format!(
                        "{} {} keep={} {} {}",
                        c["delivered_at"], c["class"], c["keep"], c["scope"], c["flags"]
                    )
                })
                .collect();
            copies.sort();
            format!(
                "{} {} {} [{}]",
                g["message_id"],
                g["content_hash"],
                g["class"],
                copies.join("; ")
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn imap_account_scans_like_the_same_maildir() {
    if !can_run("imap_account_scans_like_the_same_maildir") {
        return;
    }
    let server = Server::start(|_, _, _| {});
    let work = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    let placed = corpus();
    append_all(&server, &placed, work.path());
    let local = work.path().join("Maildir");
    write_maildir(&local, &placed);

    let ca = s(&server.ca);
    let url = server.url("");
    let flags_now = || {
        server.python(
            "for f in ('INBOX', 'Archive'):\n    M.select(f, readonly=True)\n    \
             print(f, M.uid('FETCH', '1:*', '(FLAGS)')[1])",
        )
    };
    let flags_before = flags_now();
    assert!(flags_before.contains("\\\\Flagged"), "{flags_before}");
    let imap = server.md(
        &["scan", "--json", "--no-cache", "--imap-ca", &ca, &url],
        &[],
    );
    assert!(matches!(imap.code, Some(0 | 1)), "{}", imap.show());
    // For a look at the report (or a contract check) outside the test.
    if let Some(out) = std::env::var_os("MAILDEDUP_IMAP_REPORT_OUT") {
        fs::write(out, &imap.stdout).unwrap_or_else(|e| panic!("{e}"));
    }
    let imap = imap.json();
    let maildir = md(["scan", "--json", "--no-cache", &s(&local)]).json();
    let (a, b) = (shape(&imap), shape(&maildir));
    assert_eq!(a, b, "IMAP groups differ from the Maildir's");
    assert!(a.len() >= 5, "groups: {a:#?}");
    let classes: Vec<&str> = imap["groups"]
        .as_array()
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g["class"].as_str())
        .collect();
    assert!(
        classes.contains(&"same-time") && classes.contains(&"different-time"),
        "{classes:?}"
    );
    // Stores are IMAP folders; copies carry folder, UID and UIDVALIDITY.
    let stores = imap["stores"]
        .as_array()
        .map(|v| v.as_slice())
        .unwrap_or_default();
    assert_eq!(stores.len(), 2, "{stores:?}");
    for st in stores {
        assert_eq!(st["kind"], "imap");
        let p = st["path"].as_str().unwrap_or_default();
        assert!(
            p.starts_with("imaps://alice@127.0.0.1:") && !p.contains(PASSWORD),
            "{p}"
        );
    }
    let c = &imap["groups"][0]["copies"][0];
    assert!(c["imap"]["uid"].as_u64().is_some_and(|u| u > 0), "{c}");
    assert!(
        c["imap"]["uidvalidity"].as_u64().is_some_and(|u| u > 0),
        "{c}"
    );
    assert!(c["imap"]["folder"].is_string(), "{c}");
    assert_eq!(c["time_source"], "imap-internaldate");

    // No flag changed (nothing marked \Seen) by the scan: EXAMINE, BODY.PEEK.
    assert_eq!(flags_before, flags_now(), "the scan changed flags");

    // The text summary and the HTML page (which re-read copies: from what stage 2 kept).
    let html = work.path().join("report.html");
    let text = server.md(
        &[
            "scan",
            "-v",
            "--no-cache",
            "--imap-ca",
            &ca,
            "--html",
            &s(&html),
            &url,
        ],
        &[],
    );
    assert!(matches!(text.code, Some(0 | 1)), "{}", text.show());
    assert!(text.stdout.contains("2 IMAP"), "{}", text.show());
    assert!(!text.stderr.contains("not fetched"), "{}", text.show());
    let page = fs::read_to_string(&html).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        page.contains("same-time@example.org"),
        "HTML without the group"
    );

    // One folder only.
    let inbox = server.md(
        &[
            "scan",
            "--json",
            "--no-cache",
            "--imap-ca",
            &ca,
            &server.url("INBOX"),
        ],
        &[],
    );
    assert!(matches!(inbox.code, Some(0 | 1)), "{}", inbox.show());
    assert_eq!(inbox.json()["stores"].as_array().map(|v| v.len()), Some(1));

    // A mixed run: the account and the local Maildir together, one group per message
    // holding the copies of both.
    let mixed = server.md(
        &[
            "scan",
            "--json",
            "--no-cache",
            "--imap-ca",
            &ca,
            &url,
            &s(&local),
        ],
        &[],
    );
    assert!(matches!(mixed.code, Some(0 | 1)), "{}", mixed.show());
    let mixed = mixed.json();
    assert_eq!(mixed["stores"].as_array().map(|v| v.len()), Some(4));
    // Every distinct message (8 real, 3 made here) is on both sides: 11 groups, in
    // `groups` (extras within a folder) or `cross_folder`, each with copies of both.
    let all: Vec<&Value> = ["groups", "cross_folder"]
        .iter()
        .flat_map(|k| {
            mixed[*k]
                .as_array()
                .map(|v| v.as_slice())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(all.len(), 11, "{mixed}");
    for g in all {
        let paths: Vec<&str> = g["copies"]
            .as_array()
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["path"].as_str())
            .collect();
        assert!(paths.iter().any(|p| p.starts_with("imaps://")), "{g}");
        assert!(paths.iter().any(|p| p.starts_with('/')), "{g}");
    }

    // Quarantine refuses the account and changes nothing there.
    let q = work.path().join("q");
    let before =
        server.python("M.select('INBOX', readonly=True)\nprint(M.search(None, 'ALL')[1][0])");
    let out = server.md(&["quarantine", "--imap-ca", &ca, "--to", &s(&q), &url], &[]);
    out.expect_code(2, "quarantine on IMAP");
    assert!(out.stderr.contains("not supported yet"), "{}", out.show());
    assert!(!q.exists(), "quarantine wrote {}", q.display());
    let after =
        server.python("M.select('INBOX', readonly=True)\nprint(M.search(None, 'ALL')[1][0])");
    assert_eq!(before, after);
}

#[test]
fn imap_failures_are_clear_and_exit_2() {
    if !can_run("imap_failures_are_clear_and_exit_2") {
        return;
    }
    let server = Server::start(|_, _, _| {});
    let ca = s(&server.ca);
    let url = server.url("");
    // Wrong password.
    let out = server.md(
        &["scan", "--json", "--no-cache", "--imap-ca", &ca, &url],
        &[("MAILDEDUP_IMAP_PASSWORD", "wrong")],
    );
    out.expect_code(2, "wrong password");
    assert!(out.stderr.contains("login refused"), "{}", out.show());
    // The test CA not given: the certificate is not trusted.
    let out = server.md(&["scan", "--json", "--no-cache", &url], &[]);
    out.expect_code(2, "untrusted certificate");
    assert!(out.stderr.contains("not trusted"), "{}", out.show());
    // A password in the URL is refused before any connection.
    let bad = format!("imaps://alice:{PASSWORD}@127.0.0.1:{}/", server.imaps);
    let out = server.md(&["scan", "--json", "--no-cache", &bad], &[]);
    out.expect_code(2, "password in URL");
    assert!(
        out.stderr.contains("password in the URL is refused"),
        "{}",
        out.show()
    );
    assert!(!out.stderr.contains(PASSWORD), "{}", out.show());
    // No password anywhere.
    let out = md_env(
        ["scan", "--json", "--no-cache", "--imap-ca", &ca, &url],
        &[("HOME", "/nonexistent")],
    );
    out.expect_code(2, "no password");
    assert!(out.stderr.contains("no password"), "{}", out.show());
    // imap:// with STARTTLS works; the password command is used.
    let plain = format!("imap://alice@127.0.0.1:{}/INBOX", server.imap);
    let out = md_env(
        [
            "scan",
            "--json",
            "--no-cache",
            "--imap-ca",
            &ca,
            "--imap-pass-cmd",
            &format!("echo {PASSWORD}"),
            &plain,
        ],
        &[("HOME", "/nonexistent")],
    );
    assert!(matches!(out.code, Some(0 | 1)), "STARTTLS: {}", out.show());
    // ~/.netrc.
    let home = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        home.path().join(".netrc"),
        format!(
            "machine other login alice password nope
machine 127.0.0.1 login alice password {PASSWORD}
"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = md_env(
        ["scan", "--json", "--no-cache", "--imap-ca", &ca, &url],
        &[("HOME", &s(home.path()))],
    );
    assert!(matches!(out.code, Some(0 | 1)), "netrc: {}", out.show());
    // A password command that fails.
    let out = md_env(
        [
            "scan",
            "--json",
            "--no-cache",
            "--imap-ca",
            &ca,
            "--imap-pass-cmd",
            "exit 3",
            &url,
        ],
        &[("HOME", "/nonexistent")],
    );
    out.expect_code(2, "failing pass command");
    assert!(
        out.stderr.contains("--imap-pass-cmd failed"),
        "{}",
        out.show()
    );
    // A server that offers no STARTTLS: refused, the password never sent.
    let port = free_port();
    let fake = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('127.0.0.1', {port})); s.listen(1); print('ready', flush=True)\n\
c, _ = s.accept(); c.sendall(b'* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] plain only\\r\\n')\n\
f = c.makefile('rb'); seen = []\n\
while True:\n    l = f.readline()\n    if not l: break\n    seen.append(l)\n    tag = l.split(b' ')[0]\n    \
c.sendall(tag + b' BAD unknown command\\r\\n')\n\
print('got', seen, flush=True)\n"
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let mut fake = fake;
    let mut stdout =
        std::io::BufReader::new(fake.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap_or_else(|e| panic!("{e}"));
    let out = server.md(
        &[
            "scan",
            "--json",
            "--no-cache",
            &format!("imap://alice@127.0.0.1:{port}/"),
        ],
        &[],
    );
    out.expect_code(2, "no STARTTLS");
    assert!(
        out.stderr.contains("refusing to send a password"),
        "{}",
        out.show()
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap_or_else(|e| panic!("{e}"));
    let _ = fake.wait();
    assert!(
        !rest.contains(PASSWORD) && !rest.contains("LOGIN"),
        "sent in clear: {rest}"
    );
}

/// The 10,000-message figures of docs/imap.md: the account's Maildir is written before
/// the server starts (faster than 10,000 APPENDs), 500 messages with a second copy.
#[test]
#[ignore]
fn imap_10k() {
    if !can_run("imap_10k") {
        return;
    }
    const N: usize = 10_000;
    let server = Server::start(|home, _, _| {
        let cur = home.join("Maildir").join("cur");
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(home.join("Maildir").join(sub)).unwrap_or_else(|e| panic!("{e}"));
        }
        let base = 1_700_000_000i64;
        for i in 0..N {
            let n = if i >= N - 500 { i - (N - 500) } else { i };
            let body = format!(
                "From: a{n}@example.org\nTo: b@example.com\nSubject: message {n}\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <m{n}@example.org>\n\n{}\n",
                format!("line {n} of the body\n").repeat(40)
            );
            let at = base + i as i64 * 60;
            let f = cur.join(format!("{at}.M{i}P1.test:2,"));
            fs::write(&f, body).unwrap_or_else(|e| panic!("{e}"));
        }
    });
    let ca = s(&server.ca);
    // The first run includes Dovecot indexing the folder; the second finds the index.
    for run in ["first", "second"] {
        let start = Instant::now();
        let out = server.md(
            &[
                "scan",
                "--json",
                "--no-cache",
                "--imap-ca",
                &ca,
                &server.url(""),
            ],
            &[],
        );
        let took = start.elapsed();
        assert!(matches!(out.code, Some(0 | 1)), "{}", out.show());
        let r = out.json();
        eprintln!(
            "imap_10k ({run} run): {} messages, {} groups, {:.2} s; {}",
            r["summary"]["messages"],
            r["groups"].as_array().map(|v| v.len()).unwrap_or(0),
            took.as_secs_f64(),
            out.stderr.trim()
        );
        assert_eq!(r["groups"].as_array().map(|v| v.len()), Some(500));
    }
    // The server's count: tagged command lines in each session's rawlog input.
    let dir = server.root.join("server").join("rawlog");
    let mut sessions: Vec<(String, usize, Vec<String>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "in"))
        .map(|p| {
            let text = fs::read(&p).unwrap_or_default();
            // Each line: "SECONDS.MICROS TAG COMMAND ..." (LOGIN is read by imap-login,
            // before the session's rawlog starts).
            let cmds: Vec<String> = text
                .split(|&b| b == b'\n')
                .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
                .filter_map(|l| {
                    let mut w = l.splitn(4, ' ');
                    let (_, tag, cmd) = (w.next()?, w.next()?, w.next()?);
                    let tagged = !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric());
                    let upper = cmd.chars().next().is_some_and(|c| c.is_ascii_uppercase());
                    (tagged && upper).then(|| cmd.to_string())
                })
                .collect();
            (p.display().to_string(), cmds.len(), cmds)
        })
        .collect();
    sessions.sort();
    for (p, n, cmds) in &sessions {
        eprintln!("imap_10k: server rawlog {p}: {n} commands: {cmds:?}");
    }
    assert_eq!(sessions.len(), 2, "rawlogs in {}", dir.display());
    for (_, n, _) in &sessions {
        // LIST, EXAMINE, UID FETCH, EXAMINE, 2 x UID FETCH, LOGOUT (+ LOGIN before).
        assert_eq!(*n, 7);
    }
    if let Some(keep) = std::env::var_os("MAILDEDUP_KEEP_RAWLOG") {
        let _ = Command::new("cp").arg("-r").arg(&dir).arg(keep).status();
    }
}
