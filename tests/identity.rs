//! Identity on real mail (issue 13): copies built from real messages
//! (`tests/fixtures/identity/`, origins in `tests/fixtures/SOURCES.md`), with the header
//! fields real list and outbound servers add.
//!
//! - the same message arriving directly and through a list that only adds fields groups;
//! - a list copy with a `[tag]` subject or a footer is a `list-copy` conflict;
//! - 8bit vs quoted-printable or base64 is a `transfer-encoding` conflict;
//! - only the Date changed is a `resend` conflict;
//! - delivery times that cannot be true (the epoch, before the Date, the future) are not
//!   used and are counted;
//! - files that are not mail are skipped, never grouped.

mod common;

use common::md_cmd;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/identity")
        .join(name);
    let data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    // The corpus files keep their mbox From_ line: drop it, a Maildir file has none.
    match data.strip_prefix(b"From ") {
        Some(_) => {
            let nl = data.iter().position(|&b| b == b'\n').unwrap();
            data[nl + 1..].to_vec()
        }
        None => data,
    }
}

/// A message as raw header fields (continuation lines and line break included) and body.
#[derive(Clone)]
struct Msg {
    fields: Vec<String>,
    body: Vec<u8>,
}

impl Msg {
    fn parse(data: &[u8]) -> Msg {
        let end = data
            .windows(2)
            .position(|w| w == b"\n\n")
            .expect("a header block");
        let head = String::from_utf8_lossy(&data[..end + 1]).into_owned();
        let mut fields: Vec<String> = Vec::new();
        for line in head.split_inclusive('\n') {
            match fields.last_mut() {
                Some(f) if line.starts_with([' ', '\t']) => f.push_str(line),
                _ => fields.push(line.to_string()),
            }
        }
        Msg {
            fields,
            body: data[end + 2..].to_vec(),
        }
    }

    fn name(f: &str) -> &str {
        f.split(':').next().unwrap_or("").trim()
    }

    /// Without the fields named (case-insensitive; a name ending in `*` is a prefix).
    fn without(mut self, names: &[&str]) -> Msg {
        self.fields.retain(|f| {
            let n = Self::name(f).to_ascii_lowercase();
            !names.iter().any(|p| match p.strip_suffix('*') {
                Some(pre) => n.starts_with(&pre.to_ascii_lowercase()),
                None => n == p.to_ascii_lowercase(),
            })
        });
        self
    }

    /// With `lines` (whole fields, `\n`-terminated) added on top, as servers add them.
    fn on_top(mut self, lines: &[&str]) -> Msg {
        for l in lines.iter().rev() {
            self.fields.insert(0, l.to_string());
        }
        self
    }

    /// With the value of field `name` replaced.
    fn set(mut self, name: &str, value: &str) -> Msg {
        let f = self
            .fields
            .iter_mut()
            .find(|f| Self::name(f).eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("no {name} field"));
        *f = format!("{}: {value}\n", Self::name(f));
        self
    }

    fn get(&self, name: &str) -> String {
        let f = self
            .fields
            .iter()
            .find(|f| Self::name(f).eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("no {name} field"));
        f.split_once(':').unwrap().1.trim().to_string()
    }

    fn body(mut self, body: Vec<u8>) -> Msg {
        self.body = body;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.fields.concat().into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }
}

/// Fields Debian's list server (`X-Mailing-List`, `Resent-*`, ...), Mailman (`Sender`,
/// `List-*`, `X-Beenthere`, ...) and the receiving servers added to the fixtures.
const LIST_AND_TRACE: &[&str] = &[
    "Return-Path",
    "Delivered-To",
    "Received",
    "Old-Return-Path",
    "X-Loop",
    "X-Loop-Convert",
    "Sender",
    "Errors-To",
    "Resent-*",
    "X-Mailing-List",
    "List-*",
    "Precedence",
    "X-Beenthere",
    "X-Mailman-Version",
    "X-Spam-*",
    "X-Hashcash",
];

/// Fields Gmail's outbound servers add, as in sisimai's `not/is-not-bounce-02.eml`
/// (BSD-2-Clause), and a receiving hop.
const GMAIL_OUTBOUND: &[&str] = &[
    "Delivered-To: zzz@example.org\n",
    "Received: from mail-wr1-f65.google.com (mail-wr1-f65.google.com [209.85.221.65])\n\tby mx.example.org (Postfix) with ESMTPS id 4A1B2C3D4E\n\tfor <zzz@example.org>; Mon, 10 Feb 2003 02:07:40 +0000 (GMT)\n",
    "X-Gm-Message-State: AGRZ1gLAnFaJcDjt4iRW4PzS0X0QnTQ5BLx/Lm2RrO+yM8tDnEDTtZsQ\n\tHeAwyUhDqOUQ00M5A8jLXaTYMrbop30=\n",
    "X-Google-Smtp-Source: AJdET5co4A/o4N85mjHvSmpBbQe/DDaQewbpIO0i+QRaD4T9MUA4sPyR1kwTezrIJuz/b01z2Lq85A==\n",
    "X-Received: by 2002:adf:f68e:: with SMTP id v14-v6mr5304235wrp.261.1541716698186;\n        Thu, 08 Nov 2018 14:38:18 -0800 (PST)\n",
];

/// Writes a Maildir at `dir` with one file per message (`cur/`, names with delivery
/// timestamps a day apart from `t0`).
fn maildir(dir: &Path, t0: i64, msgs: &[&Msg]) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (i, m) in msgs.iter().enumerate() {
        let t = t0 + 86_400 * i as i64;
        let p = dir.join("cur").join(format!("{t}.M{i}P1.host:2,S"));
        fs::write(&p, m.bytes()).unwrap();
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(UNIX_EPOCH + Duration::from_secs(t as u64))
            .unwrap();
    }
}

fn scan(paths: &[&Path]) -> Value {
    let out = md_cmd()
        .arg("scan")
        .arg("--json")
        .arg("--no-cache")
        .args(paths)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Scans a Maildir of the two messages; returns the report.
fn pair(a: &Msg, b: &Msg) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Maildir");
    maildir(&dir, 1_044_900_000, &[a, b]);
    scan(&[&dir])
}

/// The single conflict's kind and differences of a report.
fn conflict(r: &Value) -> (String, Value) {
    assert_eq!(r["summary"]["conflicts"], 1, "{}", r["summary"]);
    assert_eq!(r["summary"]["groups"], 0, "{}", r["summary"]);
    let k = &r["conflicts"][0];
    (
        k["kind"].as_str().unwrap().to_string(),
        k["differs"].clone(),
    )
}

/// The Debian-list message (8bit gb2312 text) as its author's client sent it: without
/// what the list and the receiving servers added.
fn gb2312_direct() -> Msg {
    Msg::parse(&fixture("spamassassin-cjk-gb2312.2.eml")).without(LIST_AND_TRACE)
}

/// The Mailman message as its author sent it: no subject tag, no footer, no list fields.
fn mailman_author() -> Msg {
    let m = Msg::parse(&fixture("spamassassin-nice-001.eml"));
    let cut = find(
        &m.body,
        b"\n_______________________________________________",
    )
    .unwrap();
    let subject = m.get("Subject").replace("[HC Announce] ", "");
    let body = m.body[..cut + 1].to_vec();
    m.without(LIST_AND_TRACE)
        .set("Subject", &subject)
        .body(body)
}

fn mailman_list_fields() -> Vec<String> {
    Msg::parse(&fixture("spamassassin-nice-001.eml"))
        .fields
        .into_iter()
        .filter(|f| {
            let n = Msg::name(f).to_ascii_lowercase();
            [
                "sender",
                "errors-to",
                "x-mailman-version",
                "precedence",
                "list-id",
                "x-beenthere",
                "received",
            ]
            .contains(&n.as_str())
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_list_copy_that_only_adds_fields_groups_with_the_direct_copy() {
    // The list copy exactly as the Debian list delivered it (X-Mailing-List, Resent-*,
    // List-*, X-Loop, Sender, ...); the direct copy with Gmail's outbound fields instead.
    let list = Msg::parse(&fixture("spamassassin-cjk-gb2312.2.eml"));
    let direct = gb2312_direct().on_top(GMAIL_OUTBOUND);
    let r = pair(&direct, &list);
    assert_eq!(r["summary"]["conflicts"], 0, "{}", r["conflicts"]);
    assert_eq!(r["summary"]["groups"], 1, "{}", r["summary"]);
    assert_eq!(r["groups"][0]["copies"].as_array().unwrap().len(), 2);
    // And the Mailman list's own fields alone do not count either.
    let author = mailman_author();
    let mut listed = author.clone();
    listed.fields.splice(0..0, mailman_list_fields());
    let r = pair(&author, &listed);
    assert_eq!(r["summary"]["groups"], 1, "{}", r["conflicts"]);
    assert_eq!(r["summary"]["conflicts"], 0);
}

#[test]
fn a_tagged_subject_is_a_list_copy_conflict() {
    let author = mailman_author();
    let tagged = author.clone().set(
        "Subject",
        &format!("[HC Announce] {}", author.get("Subject")),
    );
    let mut tagged = tagged;
    tagged.fields.splice(0..0, mailman_list_fields());
    let (kind, differs) = conflict(&pair(&author, &tagged));
    assert_eq!(kind, "list-copy");
    assert_eq!(differs["headers"], serde_json::json!(["subject"]));
    assert_eq!(differs["body"], false);
}

#[test]
fn a_footer_is_a_list_copy_conflict() {
    let author = mailman_author();
    // The real copy the list delivered: tag, footer and list fields.
    let delivered = Msg::parse(&fixture("spamassassin-nice-001.eml"));
    let (kind, differs) = conflict(&pair(&author, &delivered));
    assert_eq!(kind, "list-copy");
    assert_eq!(differs["body"], true);
    // The footer alone.
    let footer = author.clone().body(delivered.body.clone());
    let (kind, differs) = conflict(&pair(&author, &footer));
    assert_eq!(kind, "list-copy");
    assert_eq!(differs["headers"], serde_json::json!([]));
    assert_eq!(differs["body"], true);
    // A change inside the text is not a footer.
    let mut edited_body = author.body.clone();
    let at = find(&edited_body, b"Evolution").unwrap();
    edited_body[at] = b'e';
    let edited = author.clone().body(edited_body);
    assert_eq!(conflict(&pair(&author, &edited)).0, "edited");
}

/// Quoted-printable, 76 columns, as a server re-encoding 8bit text writes it.
fn qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        let mut col = 0;
        for &b in line {
            let enc = if b == b'=' || b >= 127 || (b < 32 && b != b'\t') {
                format!("={b:02X}").into_bytes()
            } else {
                vec![b]
            };
            if col + enc.len() > 75 {
                out.extend_from_slice(b"=\n");
                col = 0;
            }
            col += enc.len();
            out.extend_from_slice(&enc);
        }
    }
    out
}

fn base64(data: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (n, c) in data.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push(b'\n');
        }
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(v >> (18 - 6 * k) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out.push(b'\n');
    out
}

#[test]
fn re_encoding_8bit_text_is_a_transfer_encoding_conflict() {
    let direct = gb2312_direct();
    assert_eq!(direct.get("Content-Transfer-Encoding"), "8bit");
    assert!(direct.body.iter().any(|&b| b >= 128), "real 8bit text");
    let quoted = direct
        .clone()
        .set("Content-Transfer-Encoding", "quoted-printable")
        .body(qp(&direct.body));
    let (kind, differs) = conflict(&pair(&direct, &quoted));
    assert_eq!(kind, "transfer-encoding");
    assert_eq!(
        differs["headers"],
        serde_json::json!(["content-transfer-encoding"])
    );
    assert_eq!(differs["body"], true);
    let b64 = direct
        .clone()
        .set("Content-Transfer-Encoding", "base64")
        .body(base64(&direct.body));
    assert_eq!(conflict(&pair(&direct, &b64)).0, "transfer-encoding");
    // Re-encoded *and* changed inside the text: edited.
    let mut changed = direct.body.clone();
    let at = changed
        .iter()
        .position(|b| b.is_ascii_alphabetic())
        .unwrap();
    changed[at] ^= 0x20;
    let changed = direct
        .clone()
        .set("Content-Transfer-Encoding", "quoted-printable")
        .body(qp(&changed));
    assert_eq!(conflict(&pair(&direct, &changed)).0, "edited");
}

#[test]
fn only_a_new_date_is_a_resend_conflict() {
    let author = mailman_author();
    let resent = author.clone().set("Date", "16 May 2001 09:00:00 -0400");
    let (kind, differs) = conflict(&pair(&author, &resent));
    assert_eq!(kind, "resend");
    assert_eq!(differs["headers"], serde_json::json!(["date"]));
    // Without a Message-ID, two automated messages that differ only in Date stay apart.
    let a = author.clone().without(&["Message-Id"]);
    let b = resent.without(&["Message-Id"]);
    let r = pair(&a, &b);
    assert_eq!(r["summary"]["groups"], 0);
    assert_eq!(r["summary"]["conflicts"], 0);
    // The summary counts conflicts by kind.
    let r = pair(
        &author,
        &author.clone().set("Date", "17 May 2001 09:00:00 -0400"),
    );
    assert_eq!(
        r["summary"]["conflict_kinds"],
        serde_json::json!({"list-copy": 0, "transfer-encoding": 0, "resend": 1, "edited": 0})
    );
}

#[test]
fn delivery_times_that_cannot_be_true_are_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    // An mbox whose From_ lines carry the epoch (a real MAILER-DAEMON placeholder): the
    // delivery time falls through to the topmost Received header.
    let msg = Msg::parse(&fixture("spamassassin-cjk-gb2312.2.eml")).bytes();
    let mut mbox = Vec::new();
    for _ in 0..2 {
        mbox.extend_from_slice(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
        mbox.extend_from_slice(&msg);
        mbox.extend_from_slice(b"\n");
    }
    let path = tmp.path().join("epoch.mbox");
    fs::write(&path, &mbox).unwrap();
    let r = scan(&[&path]);
    assert_eq!(r["summary"]["groups"], 1, "{}", r["summary"]);
    for c in r["groups"][0]["copies"].as_array().unwrap() {
        assert_eq!(c["time_source"], "received-header", "{c}");
        assert_eq!(c["delivered_at"], "2003-02-10T11:01:48Z", "{c}");
    }
    assert_eq!(r["groups"][0]["class"], "same-time");
    assert_eq!(
        r["summary"]["rejected_delivery_times"],
        serde_json::json!({"placeholder": 2, "before_date": 0, "future": 0})
    );
    // A Maildir copy named four years before its Date:, with an mtime in 2099: neither
    // is a delivery time of it.
    let dir = tmp.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let p = dir.join("cur/915148800.M1P1.host:2,S");
    fs::write(&p, &msg).unwrap();
    fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(4_070_908_800))
        .unwrap();
    let r = scan(&[&dir, &path]);
    assert_eq!(
        r["summary"]["rejected_delivery_times"],
        serde_json::json!({"placeholder": 2, "before_date": 1, "future": 1})
    );
    let copies = r["groups"][0]["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 3);
    assert!(copies.iter().all(|c| c["time_source"] == "received-header"));
}

#[test]
fn only_mail_is_mail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Maildir");
    let real = gb2312_direct();
    maildir(&dir, 1_044_900_000, &[&real, &real]);
    fs::write(
        dir.join("cur/README.txt"),
        "This folder holds my mail.\nNote: do not edit by hand.\n",
    )
    .unwrap();
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(dir.join("cur/1044900000.M9P9.host:2,S"), &noise).unwrap();
    let r = scan(&[&dir]);
    assert_eq!(r["summary"]["messages"], 2, "{}", r["summary"]);
    assert_eq!(r["summary"]["groups"], 1);
    assert_eq!(r["summary"]["extra_copies"], 1);
    let skipped = r["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    for s in skipped {
        assert!(s["reason"].as_str().unwrap().starts_with("not mail"), "{s}");
    }
    let names: Vec<&str> = skipped
        .iter()
        .map(|s| s["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["1044900000.M9P9.host:2,S", "README.txt"]);
}
