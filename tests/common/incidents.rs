//! Generated mail stores for the incident-forensics tests (`tests/forensics.rs`) and the
//! example store `cargo run --example gen_incidents -- DIR` (used for the HTML screenshot
//! in `.ci/run`). Deterministic: a fixed xorshift seed per store.
//!
//! Maildir files get both a leading name timestamp and an mtime equal to their delivery
//! time (maildedup takes the earlier of the two); mbox copies a From_ line date.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200;
pub const DAY: i64 = 86_400;

/// A deterministic pseudo-random sequence (xorshift64).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: i64) -> i64 {
        (self.next() % n as u64) as i64
    }
}

pub fn rfc2822(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .unwrap()
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

pub fn asctime(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .unwrap()
        .strftime("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// One message. `top` is prepended (extra trace headers written by the last hops);
/// the server chain below it depends only on `i` and `sent`.
pub fn message(i: usize, sent: i64, top: &str, delivered_to: &str, mid: &str) -> String {
    format!(
        "Return-Path: <sender{i}@example.org>\n\
{top}Delivered-To: {delivered_to}\n\
Received: from out{m}.example.org (out{m}.example.org [192.0.2.{m}])\n\tby mx.example.com (Postfix) with ESMTPS id 4Q{i:05}X; {d}\n\
Received: from [198.51.100.7] by out{m}.example.org with ESMTPSA id a{i}; {d}\n\
Message-ID: {mid}\n\
From: Sender {i} <sender{i}@example.org>\n\
To: jane@example.com\n\
Subject: Message number {i}\n\
Date: {d}\n\
\n\
Hello Jane,\n\nthis is message {i}.\n",
        m = i % 200 + 1,
        d = rfc2822(sent),
    )
}

pub fn mid(i: usize) -> String {
    format!("<msg{i}.{}@example.org>", i * 7919)
}

pub fn lmtp(i: usize, t: i64, copy: usize) -> String {
    format!(
        "Received: from mx.example.com by imap.example.com with LMTP id L{i}c{copy}; {}\n",
        rfc2822(t)
    )
}

/// A Maildir(++) folder writer that names files uniquely and sets their mtime.
pub struct Maildir {
    root: PathBuf,
    seq: usize,
}

impl Maildir {
    pub fn new(root: &Path) -> Maildir {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        Maildir {
            root: root.to_path_buf(),
            seq: 0,
        }
    }

    pub fn deliver(&mut self, t: i64, text: &str) -> PathBuf {
        self.seq += 1;
        let p = self.root.join("cur").join(format!(
            "{t}.M{}P{}.mx.example.com,S={}:2,S",
            self.seq,
            1000 + self.seq,
            text.len()
        ));
        fs::write(&p, text).unwrap();
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64))
            .unwrap();
        p
    }
}

/// `n` unique messages spread over `days` days from T0, into `md`.
pub fn background(md: &mut Maildir, rng: &mut Rng, from: usize, n: usize, days: i64) {
    for i in from..from + n {
        let t = T0 + rng.below(days * DAY);
        md.deliver(
            t,
            &message(i, t - 3, &lmtp(i, t, 0), "jane@example.com", &mid(i)),
        );
    }
}

/// Originals spread over six months (half filed into an Archive folder), then a POP3
/// client re-downloads 400 of them within two hours into the INBOX: identical bytes,
/// identical Received chain. Some scattered same-time duplicates as background.
pub fn redownload_store(root: &Path) -> (i64, i64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut inbox = Maildir::new(&root.join("Maildir"));
    let mut archive = Maildir::new(&root.join("Maildir/.Archive"));
    let burst_start = T0 + 200 * DAY + 10 * 3_600;
    let burst_len = 2 * 3_600;
    for i in 0..400 {
        let t = T0 + rng.below(180 * DAY);
        let text = message(i, t - 5, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        if i % 2 == 0 {
            archive.deliver(t, &text);
        } else {
            inbox.deliver(t, &text);
        }
        let again = burst_start + rng.below(burst_len);
        inbox.deliver(again, &text);
    }
    background(&mut inbox, &mut rng, 1000, 300, 200);
    // scattered same-time duplicates: a delivery retried now and then
    for i in 2000..2015 {
        let t = T0 + rng.below(180 * DAY);
        let text = message(i, t - 5, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        inbox.deliver(t + 1, &text);
    }
    (burst_start, burst_start + burst_len)
}

/// `n` messages (numbered from `from`) sent to jane@ and to the alias team@ (which
/// includes jane) within `len` seconds from `start`: each delivered twice in the same
/// second, with a different Delivered-To and LMTP id.
pub fn alias_burst(md: &mut Maildir, rng: &mut Rng, from: usize, n: usize, start: i64, len: i64) {
    for i in from..from + n {
        let t = start + rng.below(len);
        let sent = t - 2;
        md.deliver(
            t,
            &message(i, sent, &lmtp(i, t, 0), "jane@example.com", &mid(i)),
        );
        md.deliver(
            t,
            &message(i, sent, &lmtp(i, t, 1), "team@example.com", &mid(i)),
        );
    }
}

/// `n` messages (numbered from `from`) delivered by the server into `md` over the first
/// `days` days; from `start`, fetchmail fetches each again (one every ~6 s), adding its
/// own Received hop on top of the same chain. Returns the mbox the fetcher wrote.
pub fn fetcher_burst(
    md: &mut Maildir,
    rng: &mut Rng,
    from: usize,
    n: usize,
    days: i64,
    start: i64,
) -> String {
    let mut mbox = String::new();
    for (k, i) in (from..from + n).enumerate() {
        let t = T0 + rng.below(days * DAY);
        let sent = t - 4;
        md.deliver(t, &message(i, sent, "", "jane@example.com", &mid(i)));
        let f = start + k as i64 * 6 + rng.below(5);
        let hop = format!(
            "Received: from pop.example.com [203.0.113.5]\n\tby localhost with POP3 (fetchmail-6.4.37)\n\tfor <jane@localhost> (single-drop); {}\n",
            rfc2822(f)
        );
        mbox.push_str(&format!(
            "From sender{i}@example.org {}\n{}\n",
            asctime(f),
            message(i, sent, &hop, "jane@example.com", &mid(i))
        ));
    }
    mbox
}

/// Every kind of incident in one store under `root`: `Maildir/` (INBOX, `.Archive`,
/// `.Lists.rust`) and `fetched.mbox`. A re-download burst (400 copies in 2 h, day 200), an
/// alias burst (150 same-time copies in 3 h, day 60), a fetchmail re-fetch (200 copies,
/// day 150), scattered duplicates of both classes, and 600 unique messages.
pub fn incident_store(root: &Path) {
    redownload_store(root);
    let mut rng = Rng(0xC0FFEE);
    let mut inbox = Maildir::new(&root.join("Maildir"));
    let mut lists = Maildir::new(&root.join("Maildir/.Lists.rust"));
    background(&mut lists, &mut rng, 3000, 300, 220);
    alias_burst(
        &mut inbox,
        &mut rng,
        4000,
        150,
        T0 + 60 * DAY + 9 * 3_600,
        3 * 3_600,
    );
    let mbox = fetcher_burst(
        &mut inbox,
        &mut rng,
        5000,
        200,
        120,
        T0 + 150 * DAY + 20 * 3_600,
    );
    fs::write(root.join("fetched.mbox"), mbox).unwrap();
    for i in 6000..6025 {
        let t = T0 + rng.below(220 * DAY);
        let text = message(i, t - 2, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        inbox.deliver(t + 3_600 + rng.below(20 * DAY), &text);
    }
}

/// A procmail recipe with the `c` flag doubles every message delivered into the INBOX
/// from 11:00 to 14:54 on day 40 (one message every 6 minutes: 40 messages, each stored
/// twice in the same second, byte for byte). Ordinary unique mail before (30 days, and
/// that morning every 10 minutes) and after (that afternoon and the next days). Returns
/// the first and last doubled delivery times.
pub fn steady_doubling_store(root: &Path) -> (i64, i64) {
    let mut rng = Rng(0x5EED_0017);
    let mut inbox = Maildir::new(&root.join("Maildir"));
    background(&mut inbox, &mut rng, 0, 300, 30);
    let day = T0 + 40 * DAY;
    // the morning: one every 10 minutes, 07:00 to 10:50
    for k in 0..24 {
        let i = 1000 + k;
        let t = day + 7 * 3_600 + k as i64 * 600 + rng.below(60);
        inbox.deliver(
            t,
            &message(i, t - 3, &lmtp(i, t, 0), "jane@example.com", &mid(i)),
        );
    }
    let start = day + 11 * 3_600;
    for k in 0..40 {
        let i = 2000 + k;
        let t = start + k as i64 * 360;
        let text = message(i, t - 3, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        inbox.deliver(t, &text);
    }
    // the afternoon after the recipe was fixed: 15:10 to 19:00
    for k in 0..24 {
        let i = 3000 + k;
        let t = day + 15 * 3_600 + 600 + k as i64 * 600 + rng.below(60);
        inbox.deliver(
            t,
            &message(i, t - 3, &lmtp(i, t, 0), "jane@example.com", &mid(i)),
        );
    }
    for i in 4000..4050 {
        let t = day + DAY + rng.below(5 * DAY);
        inbox.deliver(
            t,
            &message(i, t - 3, &lmtp(i, t, 0), "jane@example.com", &mid(i)),
        );
    }
    (start, start + 39 * 360)
}
