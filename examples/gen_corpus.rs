//! Deterministic generator of realistic mail stores for benchmarks and tests.
//!
//! ```text
//! cargo run --release --example gen_corpus -- OUT --messages 20000 [--seed 1]
//!     [--dup-rate 0.10] [--layout mixed|maildir|mbox] [--attachment-rate 0.05]
//!     [--mbox-bytes 1G] [--list-duplicates]
//! ```
//!
//! Layouts (all under OUT):
//! * `mixed`   – a Maildir++ tree `Maildir/` (INBOX `cur`/`new`/`tmp` plus the
//!   folders `.Lists`, `.Archive`, `.Sent`) and two mbox files
//!   `mbox/archive.mbox` (classic `From sender@host asctime` separators) and
//!   `mbox/takeout.mbox` (Google-Takeout style separators and `X-Gmail-Labels`).
//! * `maildir` – the same Maildir++ tree only.
//! * `mbox`    – a single `mbox/big.mbox` (`--mbox-bytes` sizes it instead of
//!   `--messages`).
//!
//! `--messages` counts every stored copy. `--dup-rate` of them are *extra*
//! copies of another message (so a tool should report exactly that many
//! duplicates), split over the classes:
//! * `exact`          – byte-identical copy (Maildir: the same file name in another
//!   folder, as `cp -a` leaves it; mbox: the same entry twice, same `From_` line);
//! * `same_time`      – delivered a second time within one second, with a
//!   different `Delivered-To` and final `Received` hop;
//! * `different_time` – re-downloaded a day later (new final `Received`, new
//!   Maildir name time and file mtime, new `From_` time);
//! * `cross_store`    – the same message in the Maildir part and in an mbox,
//!   delivered within 3 s of the original (Takeout copies gain `X-GM-THRID`/
//!   `X-Gmail-Labels` headers and a Google `Received` hop; bodies are
//!   `>From `-quoted in mbox, mboxrd style).
//!
//! Every original has at most one extra copy, so every duplicate group has
//! exactly two members. The true counts go to `OUT/EXPECTED.json`;
//! `--list-duplicates` also writes `OUT/DUPLICATES.tsv` (class, original,
//! extra), where a Maildir message is its path relative to OUT and an mbox
//! message is `mbox/FILE.mbox:<byte offset of its From_ line>`.
//! Output depends only on the options (never on the clock or the machine).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(about = "Generate a deterministic Maildir++/mbox corpus with known duplicates")]
struct Args {
    /// Output directory (must not exist, or be empty).
    out: PathBuf,
    /// Number of stored messages, duplicates included.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Seed of the generator; same options + seed = same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of stored messages that are extra copies of another one (0..=0.5).
    #[arg(long, default_value_t = 0.10)]
    dup_rate: f64,
    /// Store layout.
    #[arg(long, value_enum, default_value_t = Layout::Mixed)]
    layout: Layout,
    /// Share of messages carrying a base64 attachment (of --attachment-size).
    #[arg(long, default_value_t = 0.05)]
    attachment_rate: f64,
    /// Encoded size range of an attachment, MIN-MAX (K and M suffixes), skewed towards
    /// MIN (mean about 2.8 x MIN at the default ratio of 15). The default, 100K-1500K, is
    /// a mailbox of office documents; `--attachment-rate 0.5 --attachment-size 10K-150K`
    /// resembles a real business store (~19 KB a message, many small attachments).
    #[arg(long, default_value = "100K-1500K", value_parser = parse_size_range)]
    attachment_size: (u64, u64),
    /// Size the store by bytes instead of --messages (e.g. 1G, 500M); the
    /// message count is estimated from the size model, so the result is close
    /// to, not exactly, this size.
    #[arg(long)]
    mbox_bytes: Option<String>,
    /// Also write OUT/DUPLICATES.tsv listing every (original, extra) pair.
    #[arg(long)]
    list_duplicates: bool,
    /// Do not print the summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Layout {
    Mixed,
    Maildir,
    Mbox,
}

// ---------------------------------------------------------------- PRNG

/// SplitMix64: tiny, fast, good enough for test data, and fully specified.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    /// Independent stream for (seed, a, b).
    fn derive(seed: u64, a: u64, b: u64) -> Self {
        let mut r =
            Rng(seed ^ mix(a.wrapping_mul(0xA076_1D64_78BD_642F) ^ mix(b ^ 0xE703_7ED1_A0B4_28DB)));
        r.next();
        r
    }
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in 0..n (n > 0).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in lo..=hi.
    #[inline]
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    #[inline]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    #[inline]
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------- dates

const DOW: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    y: i64,
    mo: usize, // 1..=12
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    dow: &'static str,
}

fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let y = yoe + era * 400 + if mo <= 2 { 1 } else { 0 };
    Civil {
        y,
        mo,
        d,
        h: (sod / 3600) as u32,
        mi: (sod / 60 % 60) as u32,
        s: (sod % 60) as u32,
        dow: DOW[days.rem_euclid(7) as usize],
    }
}

/// `Sat, 03 Jan 2022 01:05:34 +0100`
fn rfc2822(secs: i64, offset_min: i64) -> String {
    let c = civil(secs + offset_min * 60);
    let sign = if offset_min < 0 { '-' } else { '+' };
    let o = offset_min.abs();
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {}{:02}{:02}",
        c.dow,
        c.d,
        MON[c.mo - 1],
        c.y,
        c.h,
        c.mi,
        c.s,
        sign,
        o / 60,
        o % 60
    )
}

/// asctime, as in classic mbox separators: `Sat Jan  3 01:05:34 2022`
fn asctime(secs: i64) -> String {
    let c = civil(secs);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        c.dow,
        MON[c.mo - 1],
        c.d,
        c.h,
        c.mi,
        c.s,
        c.y
    )
}

/// Google Takeout separator date: `Sat Jan 03 01:05:34 +0000 2022`
fn takeout_date(secs: i64) -> String {
    let c = civil(secs);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} +0000 {}",
        c.dow,
        MON[c.mo - 1],
        c.d,
        c.h,
        c.mi,
        c.s,
        c.y
    )
}

// ---------------------------------------------------------------- plan

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Loc {
    Inbox,
    Lists,
    Archive,
    Sent,
    ArchiveMbox,
    TakeoutMbox,
    BigMbox,
}

impl Loc {
    fn is_mbox(self) -> bool {
        matches!(self, Loc::ArchiveMbox | Loc::TakeoutMbox | Loc::BigMbox)
    }
    fn folder(self) -> &'static str {
        match self {
            Loc::Inbox => "Maildir",
            Loc::Lists => "Maildir/.Lists",
            Loc::Archive => "Maildir/.Archive",
            Loc::Sent => "Maildir/.Sent",
            Loc::ArchiveMbox => "mbox/archive.mbox",
            Loc::TakeoutMbox => "mbox/takeout.mbox",
            Loc::BigMbox => "mbox/big.mbox",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Personal,
    List,
    Sent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Original = 0,
    Exact = 1,
    SameTime = 2,
    DifferentTime = 3,
    CrossStore = 4,
}

const CLASS_NAMES: [&str; 5] = [
    "original",
    "exact",
    "same_time",
    "different_time",
    "cross_store",
];

#[derive(Clone, Copy)]
struct Orig {
    loc: Loc,
    kind: Kind,
    t_us: i64,
}

#[derive(Clone, Copy)]
struct Entry {
    orig: u32,
    class: Class,
    loc: Loc,
    t_us: i64,
}

const START: i64 = 1_546_300_800; // 2019-01-01T00:00:00Z
const SPAN: i64 = 5 * 365 * 86_400;

fn plan(args: &Args, n: u64) -> (Vec<Orig>, Vec<Entry>) {
    let mut rng = Rng::derive(args.seed, 0x504C_414E, 0);
    let dup_rate = args.dup_rate.clamp(0.0, 0.5);
    let d = ((n as f64) * dup_rate).round() as u64;
    let u = n - d;
    assert!(u <= u32::MAX as u64, "too many messages");

    // Where the originals live.
    let weights: &[(Loc, f64)] = match args.layout {
        Layout::Mixed => &[
            (Loc::Inbox, 0.35),
            (Loc::Lists, 0.20),
            (Loc::Archive, 0.15),
            (Loc::Sent, 0.05),
            (Loc::ArchiveMbox, 0.10),
            (Loc::TakeoutMbox, 0.15),
        ],
        Layout::Maildir => &[
            (Loc::Inbox, 0.45),
            (Loc::Lists, 0.25),
            (Loc::Archive, 0.22),
            (Loc::Sent, 0.08),
        ],
        Layout::Mbox => &[(Loc::BigMbox, 1.0)],
    };
    let step = (SPAN / u.max(1) as i64).max(1);
    let mut origs = Vec::with_capacity(u as usize);
    for i in 0..u {
        let mut x = rng.unit();
        let mut loc = weights[weights.len() - 1].0;
        for &(l, w) in weights {
            if x < w {
                loc = l;
                break;
            }
            x -= w;
        }
        let kind = match loc {
            Loc::Sent => Kind::Sent,
            Loc::Lists => Kind::List,
            Loc::Inbox => Kind::Personal,
            Loc::Archive => {
                if rng.chance(0.25) {
                    Kind::List
                } else {
                    Kind::Personal
                }
            }
            _ => {
                let k = rng.unit();
                if k < 0.25 {
                    Kind::List
                } else if k < 0.33 {
                    Kind::Sent
                } else {
                    Kind::Personal
                }
            }
        };
        let t_us =
            (START + i as i64 * step) * 1_000_000 + rng.below(step as u64 * 1_000_000) as i64;
        origs.push(Orig { loc, kind, t_us });
    }

    // How many extras of each class.
    let shares: [(Class, f64); 4] = match args.layout {
        Layout::Mixed => [
            (Class::Exact, 0.20),
            (Class::SameTime, 0.30),
            (Class::DifferentTime, 0.30),
            (Class::CrossStore, 0.20),
        ],
        _ => [
            (Class::Exact, 0.25),
            (Class::SameTime, 0.375),
            (Class::DifferentTime, 0.375),
            (Class::CrossStore, 0.0),
        ],
    };
    let mut counts = [0u64; 4];
    let mut left = d;
    for (i, &(_, s)) in shares.iter().enumerate() {
        counts[i] = if i == 3 || (i == 2 && shares[3].1 == 0.0) {
            left
        } else {
            ((d as f64) * s).round() as u64
        }
        .min(left);
        left -= counts[i];
    }

    // Pick distinct originals: re-deliveries need a delivered (non-Sent) original.
    let mut idx: Vec<u32> = (0..u as u32).collect();
    rng.shuffle(&mut idx);
    let (mut delivered, mut sent): (Vec<u32>, Vec<u32>) = idx
        .into_iter()
        .partition(|&i| origs[i as usize].kind != Kind::Sent);
    let need_delivered = (counts[1] + counts[2]) as usize;
    assert!(
        delivered.len() >= need_delivered,
        "not enough delivered originals for re-delivery duplicates"
    );
    let mut rest = delivered.split_off(need_delivered);
    rest.append(&mut sent);
    rng.shuffle(&mut rest);

    let mut entries: Vec<Entry> = Vec::with_capacity(n as usize);
    for (i, o) in origs.iter().enumerate() {
        entries.push(Entry {
            orig: i as u32,
            class: Class::Original,
            loc: o.loc,
            t_us: o.t_us,
        });
    }
    let maildir_folders = [Loc::Inbox, Loc::Lists, Loc::Archive, Loc::Sent];
    let mut take_delivered = delivered.into_iter();
    let mut take_rest = rest.into_iter();
    for (ci, &(class, _)) in shares.iter().enumerate() {
        for _ in 0..counts[ci] {
            let oi = match class {
                Class::SameTime | Class::DifferentTime => take_delivered.next(),
                _ => take_rest.next(),
            }
            .expect("enough originals");
            let o = origs[oi as usize];
            let (loc, t_us) = match class {
                Class::Exact => {
                    let loc = if o.loc.is_mbox() {
                        o.loc
                    } else {
                        // Same file name in another folder, as a `cp -a` of it leaves.
                        loop {
                            let l = *rng.pick(&maildir_folders);
                            if l != o.loc {
                                break l;
                            }
                        }
                    };
                    (loc, o.t_us)
                }
                Class::SameTime => {
                    let loc = if o.loc.is_mbox() || rng.chance(0.7) {
                        o.loc
                    } else if o.loc == Loc::Inbox {
                        Loc::Lists
                    } else {
                        Loc::Inbox
                    };
                    (loc, o.t_us + rng.range(1_000, 999_999) as i64)
                }
                Class::DifferentTime => (
                    o.loc,
                    o.t_us + (86_400 + rng.range(0, 7_200) as i64) * 1_000_000,
                ),
                Class::CrossStore => {
                    let loc = if o.loc.is_mbox() {
                        if rng.chance(0.6) {
                            Loc::Inbox
                        } else {
                            Loc::Archive
                        }
                    } else if rng.chance(0.7) {
                        Loc::TakeoutMbox
                    } else {
                        Loc::ArchiveMbox
                    };
                    (loc, o.t_us + rng.range(0, 3_000_000) as i64)
                }
                Class::Original => unreachable!(),
            };
            entries.push(Entry {
                orig: oi,
                class,
                loc,
                t_us,
            });
        }
    }
    // Chronological, originals before their copies.
    entries.sort_by_key(|e| (e.t_us, e.class, e.orig));
    (origs, entries)
}

// ---------------------------------------------------------------- content

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "that",
    "is",
    "for",
    "it",
    "with",
    "as",
    "was",
    "on",
    "be",
    "at",
    "by",
    "this",
    "we",
    "have",
    "from",
    "or",
    "an",
    "but",
    "not",
    "are",
    "will",
    "can",
    "all",
    "would",
    "there",
    "their",
    "if",
    "about",
    "which",
    "when",
    "so",
    "could",
    "more",
    "some",
    "other",
    "time",
    "into",
    "also",
    "after",
    "only",
    "new",
    "just",
    "should",
    "because",
    "any",
    "these",
    "two",
    "first",
    "way",
    "well",
    "even",
    "over",
    "through",
    "meeting",
    "report",
    "budget",
    "schedule",
    "release",
    "server",
    "backup",
    "invoice",
    "project",
    "review",
    "draft",
    "patch",
    "kernel",
    "build",
    "quarter",
    "deadline",
    "contract",
    "travel",
    "agenda",
    "minutes",
    "offer",
    "customer",
    "ticket",
    "deploy",
    "migration",
    "database",
    "network",
    "storage",
    "password",
    "account",
    "team",
    "weekend",
    "holiday",
    "family",
    "garden",
    "dinner",
    "weather",
    "conference",
    "slides",
    "feedback",
    "question",
    "answer",
    "proposal",
    "estimate",
    "shipping",
    "order",
    "payment",
    "receipt",
    "update",
    "version",
    "issue",
    "comment",
    "thanks",
    "please",
    "attached",
    "tomorrow",
    "yesterday",
    "morning",
    "afternoon",
    "evening",
    "week",
    "month",
    "year",
    "office",
    "remote",
    "call",
    "video",
    "phone",
    "message",
    "thread",
    "list",
    "subscribe",
    "maintainer",
    "upstream",
    "regression",
    "benchmark",
    "latency",
    "throughput",
    "memory",
    "cache",
    "disk",
    "mailbox",
    "folder",
    "archive",
    "duplicate",
    "filter",
    "rule",
    "spam",
    "certificate",
    "renewal",
    "domain",
    "quickly",
    "carefully",
    "probably",
    "certainly",
    "maybe",
    "really",
    "actually",
    "already",
    "still",
    "again",
    "important",
    "simple",
    "large",
    "small",
    "late",
    "early",
    "final",
    "initial",
    "next",
    "previous",
    "open",
    "closed",
    "ready",
    "pending",
    "blocked",
    "merged",
    "fixed",
    "broken",
    "slow",
    "fast",
    "good",
    "great",
];
const FIRST: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yolanda", "Zoe",
    "Marta", "Jonas", "Priya", "Kenji", "Lena", "Omar", "Sofia", "Tomasz", "Ines",
];
const LAST: &[&str] = &[
    "Smith", "Jones", "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson",
    "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
    "Walker", "Young", "King", "Wright", "Schmidt", "Novak", "Rossi", "Tanaka", "Kowalski",
    "Dubois", "Silva",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "corp.example",
    "uni.example.edu",
    "shop.example",
    "bank.example",
    "friends.example",
    "ops.example.net",
];
const LISTS: &[(&str, &str)] = &[
    ("dev", "lists.example.org"),
    ("announce", "lists.example.org"),
    ("users", "lists.example.net"),
    ("kernel-janitors", "vger.example.org"),
    ("rust-users", "lists.example.com"),
    ("garden-club", "friends.example"),
];
const ZONES: &[i64] = &[
    0, 60, 120, -300, -240, -420, 330, 540, 600, -180, 60, 60, 0, 120,
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
    "Mutt/2.2.9 (2022-11-12)",
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3731.700.6)",
    "K-9 Mail for Android",
    "Roundcube Webmail/1.6.5",
];
const ATTACH: &[(&str, &str)] = &[
    ("application/pdf", "pdf"),
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("application/zip", "zip"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
];
const ME: &str = "alice@home.example";
const ME_NAME: &str = "Alice Example";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn person(rng: &mut Rng) -> (String, String) {
    let f = rng.pick(FIRST);
    let l = rng.pick(LAST);
    let d = rng.pick(DOMAINS);
    (
        format!("{f} {l}"),
        format!("{}.{}@{}", f.to_lowercase(), l.to_lowercase(), d),
    )
}

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = rng.range(5, 16);
    for i in 0..n {
        let w = rng.pick(WORDS);
        if i == 0 {
            let mut cs = w.chars();
            if let Some(c) = cs.next() {
                out.extend(c.to_uppercase());
                out.push_str(cs.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
            if rng.chance(0.06) {
                out.push(',');
            }
        }
    }
    out.push(*rng.pick(&['.', '.', '.', '.', '?', '!']));
}

/// Plain text of about `target` bytes, wrapped at 72 columns.
fn text(rng: &mut Rng, target: usize, from_line: bool, quoted_from: bool) -> String {
    let mut out = String::with_capacity(target + 200);
    let greet = *rng.pick(&["Hi", "Hello", "Dear all", "Hey", "Good morning"]);
    out.push_str(greet);
    out.push_str(",\n\n");
    let mut para_no = 0;
    while out.len() < target {
        para_no += 1;
        if from_line && para_no == 2 {
            // Sits at the start of a line: must become ">From " inside an mbox.
            out.push_str("From what I can tell the numbers below are right, but please check.\n\n");
        }
        if quoted_from && para_no == 3 {
            out.push_str(">From the minutes of the last meeting, quoted as it was.\n\n");
        }
        let quoted = rng.chance(0.12);
        let mut para = String::new();
        for _ in 0..rng.range(2, 6) {
            if !para.is_empty() {
                para.push(' ');
            }
            sentence(rng, &mut para);
        }
        let prefix = if quoted { "> " } else { "" };
        let mut col = 0;
        out.push_str(prefix);
        for w in para.split(' ') {
            if col > 0 && col + 1 + w.len() > 72 {
                out.push('\n');
                out.push_str(prefix);
                col = 0;
            } else if col > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(w);
            col += w.len();
        }
        out.push_str("\n\n");
    }
    out.push_str("-- \n");
    out.push_str(rng.pick::<&str>(&["Cheers", "Best regards", "Thanks", "Sent from my phone"]));
    out.push('\n');
    out
}

fn html_of(text: &str) -> String {
    let mut h = String::with_capacity(text.len() + text.len() / 4 + 100);
    h.push_str("<html><body>\n");
    for p in text.split("\n\n") {
        if p.is_empty() {
            continue;
        }
        h.push_str("<p>");
        for c in p.chars() {
            match c {
                '<' => h.push_str("&lt;"),
                '>' => h.push_str("&gt;"),
                '&' => h.push_str("&amp;"),
                _ => h.push(c),
            }
        }
        h.push_str("</p>\n");
    }
    h.push_str("</body></html>\n");
    h
}

/// Base64 (76-column lines) of `encoded_len` bytes of pseudo-random content.
fn base64_random(rng: &mut Rng, encoded_len: usize, out: &mut Vec<u8>) {
    let lines = encoded_len.div_ceil(77).max(1);
    out.reserve(lines * 77);
    let mut raw = [0u8; 64];
    for _ in 0..lines {
        for c in raw.chunks_exact_mut(8) {
            c.copy_from_slice(&rng.next().to_le_bytes());
        }
        for t in raw[..57].chunks_exact(3) {
            let v = (t[0] as u32) << 16 | (t[1] as u32) << 8 | t[2] as u32;
            out.extend_from_slice(&[
                B64[(v >> 18) as usize & 63],
                B64[(v >> 12) as usize & 63],
                B64[(v >> 6) as usize & 63],
                B64[v as usize & 63],
            ]);
        }
        out.push(b'\n');
    }
}

/// Sizes drawn first from the message stream, so they can be estimated cheaply.
fn draw_sizes(rng: &mut Rng, attachment_rate: f64, size: (u64, u64)) -> (usize, Option<usize>) {
    let body = rng.range(1_200, 8_500) as usize;
    let att = if rng.chance(attachment_rate) {
        // Encoded MIN .. MAX, skewed towards the small end (default 100 KB .. 1.5 MB,
        // mean ~280 KB).
        let u = rng.unit();
        let (min, max) = (size.0 as f64, size.1.max(size.0) as f64);
        Some((min * (max / min).powf(u * u * u)) as usize)
    } else {
        None
    };
    (body, att)
}

/// The part of a message that every copy shares: headers from the author's
/// side and the body.
struct Core {
    from_addr: String,
    list: Option<(&'static str, &'static str)>,
    thrid: u64,
    sender_hops: String,
    headers: String,
    body: Vec<u8>,
    has_attachment: bool,
}

fn gen_core(seed: u64, idx: u32, o: &Orig, attachment_rate: f64, size: (u64, u64)) -> Core {
    let mut rng = Rng::derive(seed, 0x434F_5245, idx as u64);
    let (body_len, att_len) = draw_sizes(&mut rng, attachment_rate, size);
    let (from_name, from_addr, to_hdr) = match o.kind {
        Kind::Sent => {
            let (n, a) = person(&mut rng);
            (ME_NAME.to_string(), ME.to_string(), format!("{n} <{a}>"))
        }
        _ => {
            let (n, a) = person(&mut rng);
            (n, a, format!("{ME_NAME} <{ME}>"))
        }
    };
    let list = if o.kind == Kind::List {
        Some(*rng.pick(LISTS))
    } else {
        None
    };
    let zone = *rng.pick(ZONES);
    let date_secs = o.t_us / 1_000_000 - rng.range(60, 900) as i64;
    let sender_domain = from_addr
        .split('@')
        .nth(1)
        .unwrap_or("example.com")
        .to_string();
    let msgid = format!("<{:016x}.{:08x}@{}>", rng.next(), idx, sender_domain);
    let thrid = 1_600_000_000_000_000_000 + rng.below(400_000_000_000_000_000);

    let mut words = String::new();
    for i in 0..rng.range(2, 8) {
        if i > 0 {
            words.push(' ');
        }
        words.push_str(rng.pick::<&str>(WORDS));
    }
    let subject = match (list, rng.below(4)) {
        (Some((name, _)), _) => format!("[{name}] {words}"),
        (None, 0) => format!("Re: {words}"),
        (None, 1) => format!("Fwd: {words}"),
        _ => words,
    };

    // Hops on the author's side, shared by every copy.
    let mut sender_hops = String::new();
    if o.kind != Kind::Sent {
        let ip = format!("198.51.100.{}", rng.range(1, 254));
        let t = date_secs + rng.range(1, 20) as i64;
        sender_hops.push_str(&format!(
            "Received: from [{ip}] (unknown [{ip}])\n\tby smtp.{sender_domain} (Postfix) with ESMTPSA id {:X}\n\tfor <{}>; {}\n",
            rng.next() & 0xFFF_FFFF_FFFF,
            list.map(|(n, h)| format!("{n}@{h}")).unwrap_or_else(|| ME.to_string()),
            rfc2822(t, zone)
        ));
        if let Some((_, lh)) = list {
            sender_hops.insert_str(
                0,
                &format!(
                    "Received: from smtp.{sender_domain} (smtp.{sender_domain} [203.0.113.{}])\n\tby {lh} (Postfix) with ESMTPS id {:X}\n\tfor <{}>; {}\n",
                    rng.range(1, 254),
                    rng.next() & 0xFFF_FFFF_FFFF,
                    list.map(|(n, h)| format!("{n}@{h}")).unwrap_or_default(),
                    rfc2822(t + rng.range(1, 30) as i64, 0)
                ),
            );
        }
    }

    let mut h = String::with_capacity(1024);
    h.push_str(&format!("From: {from_name} <{from_addr}>\n"));
    h.push_str(&format!("To: {to_hdr}\n"));
    if let Some((name, host)) = list {
        h.push_str(&format!("Cc: {name}@{host}\n"));
    } else if rng.chance(0.2) {
        let (n, a) = person(&mut rng);
        h.push_str(&format!("Cc: {n} <{a}>\n"));
    }
    h.push_str(&format!("Subject: {subject}\n"));
    h.push_str(&format!("Date: {}\n", rfc2822(date_secs, zone)));
    h.push_str(&format!("Message-ID: {msgid}\n"));
    if subject.starts_with("Re:") {
        h.push_str(&format!(
            "In-Reply-To: <{:016x}@{sender_domain}>\n",
            rng.next()
        ));
    }
    h.push_str(&format!("User-Agent: {}\n", rng.pick(AGENTS)));
    if let Some((name, host)) = list {
        h.push_str(&format!("List-Id: {name} discussion <{name}.{host}>\n"));
        h.push_str(&format!(
            "List-Unsubscribe: <mailto:{name}-unsubscribe@{host}>\n"
        ));
        h.push_str(&format!("List-Post: <mailto:{name}@{host}>\n"));
        h.push_str("Precedence: list\n");
    }
    h.push_str("MIME-Version: 1.0\n");

    let from_line = rng.chance(0.04);
    let quoted_from = rng.chance(0.01);
    let mut body = Vec::with_capacity(body_len + att_len.unwrap_or(0) + 1024);
    let boundary = format!("=_{:016x}", rng.next());
    if let Some(alen) = att_len {
        let t = text(&mut rng, body_len, from_line, quoted_from);
        let (ctype, ext) = *rng.pick(ATTACH);
        let fname = format!("{}-{}.{}", rng.pick(WORDS), rng.range(1, 9999), ext);
        h.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\n"
        ));
        body.extend_from_slice(b"This is a multi-part message in MIME format.\n\n");
        body.extend_from_slice(
            format!(
                "--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(t.as_bytes());
        body.extend_from_slice(
            format!(
                "\n--{boundary}\nContent-Type: {ctype}; name=\"{fname}\"\nContent-Disposition: attachment; filename=\"{fname}\"\nContent-Transfer-Encoding: base64\n\n"
            )
            .as_bytes(),
        );
        base64_random(&mut rng, alen, &mut body);
        body.extend_from_slice(format!("\n--{boundary}--\n").as_bytes());
    } else if rng.chance(0.3) {
        let t = text(&mut rng, body_len * 2 / 5, from_line, quoted_from);
        let html = html_of(&t);
        h.push_str(&format!(
            "Content-Type: multipart/alternative; boundary=\"{boundary}\"\n"
        ));
        body.extend_from_slice(
            format!(
                "--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{t}\n--{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{html}\n--{boundary}--\n"
            )
            .as_bytes(),
        );
    } else {
        let t = text(&mut rng, body_len, from_line, quoted_from);
        h.push_str("Content-Type: text/plain; charset=utf-8; format=flowed\n");
        h.push_str("Content-Transfer-Encoding: 8bit\n");
        body.extend_from_slice(t.as_bytes());
    }
    Core {
        from_addr,
        list,
        thrid,
        sender_hops,
        headers: h,
        body,
        has_attachment: att_len.is_some(),
    }
}

/// Headers added on the way into one mailbox: differ between deliveries.
fn envelope(seed: u64, e: &Entry, core: &Core, o: &Orig, out: &mut Vec<u8>) {
    // Exact copies reuse the original's envelope byte for byte.
    let variant = if e.class == Class::Exact {
        Class::Original
    } else {
        e.class
    };
    let mut rng = Rng::derive(seed, 0x454E_5600 | variant as u64, e.orig as u64);
    let secs = e.t_us / 1_000_000;
    let takeout = e.loc == Loc::TakeoutMbox;
    if takeout {
        let labels = match o.kind {
            Kind::Sent => "Sent",
            Kind::List => *rng.pick(&["Lists,Opened", "Lists,Archived", "Category Forums,Opened"]),
            Kind::Personal => *rng.pick(&[
                "Inbox,Opened",
                "Archived,Opened",
                "Important,Inbox,Opened",
                "Inbox,Unread",
            ]),
        };
        out.extend_from_slice(
            format!("X-GM-THRID: {}\nX-Gmail-Labels: {labels}\n", core.thrid).as_bytes(),
        );
    }
    if o.kind == Kind::Sent {
        return;
    }
    let rcpt = if e.class == Class::SameTime {
        *rng.pick(&[
            "alice.example@home.example",
            "postmaster@home.example",
            "a.example@home.example",
        ])
    } else {
        ME
    };
    let return_path = match core.list {
        Some((name, host)) => format!("{name}-bounces+{}@{host}", rcpt.replace('@', "=")),
        None => core.from_addr.clone(),
    };
    out.extend_from_slice(
        format!("Return-Path: <{return_path}>\nDelivered-To: {rcpt}\n").as_bytes(),
    );
    if takeout {
        out.extend_from_slice(
            format!(
                "Received: by 2002:a05:6a10:{:x}:b0:{:x}:{:x} with SMTP id {}csp{};\n        {} (PST)\n",
                rng.below(0xffff),
                rng.below(0xfff),
                rng.below(0xffff),
                rng.range(10, 99),
                rng.range(100_000, 9_999_999),
                rfc2822(secs, -480)
            )
            .as_bytes(),
        );
    } else {
        out.extend_from_slice(
            format!(
                "Received: from mx{}.home.example (mx{}.home.example [192.0.2.{}])\n\tby mail.home.example (Postfix) with ESMTPS id {:X}\n\tfor <{rcpt}>; {} (UTC)\n",
                rng.range(1, 3),
                rng.range(1, 3),
                rng.range(2, 250),
                rng.next() & 0xFFF_FFFF_FFFF,
                rfc2822(secs, 0)
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "Received: from {} ({} [203.0.113.{}])\n\tby mx.home.example (Postfix) with ESMTPS id {:X};\n\t{}\n",
            core.list.map(|l| l.1).unwrap_or("smtp.example.net"),
            core.list.map(|l| l.1).unwrap_or("smtp.example.net"),
            rng.range(1, 254),
            rng.next() & 0xFFF_FFFF_FFFF,
            rfc2822(secs - rng.range(0, 2) as i64, 0)
        )
        .as_bytes(),
    );
    out.extend_from_slice(core.sender_hops.as_bytes());
    if !takeout && rng.chance(0.5) {
        out.extend_from_slice(
            format!(
                "X-Spam-Status: No, score=-{}.{} required=5.0 tests=BAYES_00,DKIM_SIGNED,DKIM_VALID\n",
                rng.range(0, 4),
                rng.range(0, 9)
            )
            .as_bytes(),
        );
    }
}

fn message(seed: u64, e: &Entry, core: &Core, o: &Orig) -> Vec<u8> {
    let mut m = Vec::with_capacity(core.headers.len() + core.body.len() + 1024);
    envelope(seed, e, core, o, &mut m);
    m.extend_from_slice(core.headers.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(&core.body);
    if m.last() != Some(&b'\n') {
        m.push(b'\n');
    }
    m
}

/// Writes `msg` mboxrd-quoted: every line matching `^>*From ` gets one more
/// `>`. Returns the bytes written.
fn write_mbox_body(w: &mut impl Write, msg: &[u8]) -> std::io::Result<u64> {
    use memchr::memmem;
    let needs = msg.starts_with(b"From ")
        || msg.starts_with(b">")
        || memmem::find(msg, b"\nFrom ").is_some()
        || memmem::find(msg, b"\n>").is_some();
    if !needs {
        w.write_all(msg)?;
        return Ok(msg.len() as u64);
    }
    let mut n = 0u64;
    let mut start = 0;
    while start < msg.len() {
        let end = memchr::memchr(b'\n', &msg[start..])
            .map(|p| start + p + 1)
            .unwrap_or(msg.len());
        let line = &msg[start..end];
        let unquoted = &line[line.iter().position(|&b| b != b'>').unwrap_or(line.len())..];
        if unquoted.starts_with(b"From ") {
            w.write_all(b">")?;
            n += 1;
        }
        w.write_all(line)?;
        n += line.len() as u64;
        start = end;
    }
    Ok(n)
}

// ---------------------------------------------------------------- output

fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        'T' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    Some((v * mult as f64) as u64)
}

struct MboxOut {
    w: BufWriter<File>,
    offset: u64,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    if args.out.exists() && fs::read_dir(&args.out)?.next().is_some() {
        eprintln!("gen_corpus: {} exists and is not empty", args.out.display());
        std::process::exit(2);
    }

    let mut n = args.messages;
    if let Some(b) = &args.mbox_bytes {
        let Some(target) = parse_bytes(b) else {
            eprintln!("gen_corpus: bad --mbox-bytes {b:?}");
            std::process::exit(2);
        };
        // Estimate the mean stored size from the size model (calibrated on seed 1:
        // headers and MIME overhead minus the shorter alternative parts).
        let samples = 20_000u32;
        let mut sum = 0f64;
        for i in 0..samples {
            let mut r = Rng::derive(args.seed, 0x434F_5245, i as u64);
            let (b, a) = draw_sizes(&mut r, args.attachment_rate, args.attachment_size);
            sum += 550.0 + b as f64 + a.map(|a| a as f64 * 1.02).unwrap_or(0.0);
        }
        n = ((target as f64) / (sum / samples as f64)).round().max(1.0) as u64;
    }
    if n == 0 {
        eprintln!("gen_corpus: --messages must be > 0");
        std::process::exit(2);
    }

    let (origs, entries) = plan(&args, n);
    let out = &args.out;
    if args.layout != Layout::Mbox {
        for f in [
            "Maildir",
            "Maildir/.Lists",
            "Maildir/.Archive",
            "Maildir/.Sent",
        ] {
            for s in ["cur", "new", "tmp"] {
                fs::create_dir_all(out.join(f).join(s))?;
            }
            if f != "Maildir" {
                File::create(out.join(f).join("maildirfolder"))?;
            }
        }
        fs::write(out.join("Maildir/subscriptions"), "Lists\nArchive\nSent\n")?;
    }
    if args.layout != Layout::Maildir {
        fs::create_dir_all(out.join("mbox"))?;
    }

    let mut mboxes: HashMap<Loc, MboxOut> = HashMap::new();
    let mut dup_list = if args.list_duplicates {
        Some(BufWriter::new(File::create(out.join("DUPLICATES.tsv"))?))
    } else {
        None
    };
    if let Some(w) = dup_list.as_mut() {
        writeln!(w, "class\toriginal\tduplicate")?;
    }
    // Where each original that has a copy went (only with --list-duplicates).
    let mut has_copy = vec![false; if args.list_duplicates { origs.len() } else { 0 }];
    if args.list_duplicates {
        for e in &entries {
            if e.class != Class::Original {
                has_copy[e.orig as usize] = true;
            }
        }
    }
    let mut orig_where: HashMap<u32, String> = HashMap::new();

    #[derive(Default, Clone, Copy)]
    struct Tally {
        messages: u64,
        bytes: u64,
    }
    let mut per_loc: HashMap<Loc, Tally> = HashMap::new();
    let mut by_class = [0u64; 5];
    let mut both_maildir = 0u64;
    let mut both_mbox = 0u64;
    let mut same_folder = 0u64;
    let mut same_maildir_folder = 0u64;
    let mut with_att = 0u64;
    let mut total_bytes = 0u64;
    let mut from_quoted = 0u64;

    for (k, e) in entries.iter().enumerate() {
        let o = &origs[e.orig as usize];
        let core = gen_core(
            args.seed,
            e.orig,
            o,
            args.attachment_rate,
            args.attachment_size,
        );
        let msg = message(args.seed, e, &core, o);
        if core.has_attachment {
            with_att += 1;
        }
        by_class[e.class as usize] += 1;
        if e.class != Class::Original {
            if e.loc.is_mbox() == o.loc.is_mbox() {
                if e.loc.is_mbox() {
                    both_mbox += 1;
                } else {
                    both_maildir += 1;
                }
            }
            if e.loc == o.loc {
                same_folder += 1;
                if !e.loc.is_mbox() {
                    same_maildir_folder += 1;
                }
            }
        }
        let erng = Rng::derive(
            args.seed,
            0x454E_5452 | (e.class as u64) << 32,
            e.orig as u64,
        );
        let where_: String;
        let stored: u64;
        if e.loc.is_mbox() {
            let path = out.join(e.loc.folder());
            let mb = match mboxes.get_mut(&e.loc) {
                Some(m) => m,
                None => {
                    let f = File::create(&path)?;
                    mboxes.insert(
                        e.loc,
                        MboxOut {
                            w: BufWriter::with_capacity(1 << 20, f),
                            offset: 0,
                        },
                    );
                    mboxes.get_mut(&e.loc).unwrap()
                }
            };
            where_ = format!("{}:{}", e.loc.folder(), mb.offset);
            let secs = e.t_us / 1_000_000;
            let sep = if e.loc == Loc::TakeoutMbox {
                format!("From {}@xxx {}\n", core.thrid, takeout_date(secs))
            } else {
                format!("From {} {}\n", core.from_addr, asctime(secs))
            };
            mb.w.write_all(sep.as_bytes())?;
            let body_n = write_mbox_body(&mut mb.w, &msg)?;
            if body_n != msg.len() as u64 {
                from_quoted += 1;
            }
            mb.w.write_all(b"\n")?;
            stored = sep.len() as u64 + body_n + 1;
            mb.offset += stored;
        } else {
            // <unix>.M<usec>P<pid>.<host>,S=<size>:2,<flags>
            // Exact copies keep the original's name (a `cp -a` of the file).
            let mut nrng = if e.class == Class::Exact {
                Rng::derive(args.seed, 0x454E_5452, e.orig as u64)
            } else {
                erng.clone()
            };
            let secs = e.t_us / 1_000_000;
            let usec = e.t_us % 1_000_000;
            let pid = nrng.range(1_000, 65_000);
            let in_new = e.loc == Loc::Inbox && nrng.chance(0.03);
            let flags = {
                let x = nrng.unit();
                if o.kind == Kind::Sent || x < 0.80 {
                    "S"
                } else if x < 0.86 {
                    "RS"
                } else if x < 0.89 {
                    "FS"
                } else if x < 0.90 {
                    "FRS"
                } else {
                    ""
                }
            };
            let base = format!("{secs}.M{usec}P{pid}.mail.home.example,S={}", msg.len());
            let rel = if in_new {
                format!("{}/new/{base}", e.loc.folder())
            } else {
                format!("{}/cur/{base}:2,{flags}", e.loc.folder())
            };
            let path = out.join(&rel);
            debug_assert!(!path.exists(), "name clash {rel}");
            let mut f = File::create(&path)?;
            f.write_all(&msg)?;
            f.set_modified(UNIX_EPOCH + Duration::from_micros(e.t_us as u64))?;
            where_ = rel;
            stored = msg.len() as u64;
        }
        let t = per_loc.entry(e.loc).or_default();
        t.messages += 1;
        t.bytes += stored;
        total_bytes += stored;
        if let Some(w) = dup_list.as_mut() {
            if e.class == Class::Original {
                if has_copy[e.orig as usize] {
                    orig_where.insert(e.orig, where_);
                }
            } else {
                let ow = orig_where.remove(&e.orig).expect("original written first");
                writeln!(w, "{}\t{ow}\t{where_}", CLASS_NAMES[e.class as usize])?;
            }
        }
        if !args.quiet && k > 0 && k % 100_000 == 0 {
            eprintln!(
                "gen_corpus: {k}/{} messages, {:.1} MB",
                entries.len(),
                total_bytes as f64 / 1e6
            );
        }
    }
    for (loc, mut m) in mboxes.drain() {
        m.w.flush()?;
        let f = m.w.into_inner().map_err(|e| e.into_error())?;
        // An mbox file carries the time of its last delivery.
        let last = entries
            .iter()
            .rev()
            .find(|e| e.loc == loc)
            .map(|e| e.t_us)
            .unwrap_or(0);
        f.set_modified(UNIX_EPOCH + Duration::from_micros(last as u64))?;
    }
    if let Some(mut w) = dup_list {
        w.flush()?;
    }
    let maildir_tally = [Loc::Inbox, Loc::Lists, Loc::Archive, Loc::Sent]
        .iter()
        .filter_map(|l| per_loc.get(l))
        .fold(Tally::default(), |a, t| Tally {
            messages: a.messages + t.messages,
            bytes: a.bytes + t.bytes,
        });
    if args.layout != Layout::Mbox {
        // Courier/Dovecot quota file: not a message, tools must skip it.
        fs::write(
            out.join("Maildir/maildirsize"),
            format!("0S\n{} {}\n", maildir_tally.bytes, maildir_tally.messages),
        )?;
    }

    let dups: u64 = by_class[1..].iter().sum();
    let mut parts = serde_json::Map::new();
    let mut locs: Vec<_> = per_loc.iter().collect();
    locs.sort_by_key(|(l, _)| **l);
    for (l, t) in locs {
        parts.insert(
            l.folder().to_string(),
            serde_json::json!({"messages": t.messages, "bytes": t.bytes}),
        );
    }
    let expected = serde_json::json!({
        "generator": "examples/gen_corpus.rs",
        "seed": args.seed,
        "layout": format!("{:?}", args.layout).to_lowercase(),
        "dup_rate": args.dup_rate,
        "attachment_rate": args.attachment_rate,
        "messages": entries.len(),
        "unique_messages": by_class[0],
        "duplicates": dups,
        "duplicate_groups": dups,
        "duplicates_by_class": {
            "exact": by_class[1],
            "same_time": by_class[2],
            "different_time": by_class[3],
            "cross_store": by_class[4],
        },
        "duplicates_by_delivery": {
            "same_time": by_class[1] + by_class[2] + by_class[4],
            "different_time": by_class[3],
        },
        "duplicates_within_maildir": both_maildir,
        "duplicates_within_mbox": both_mbox,
        "duplicates_within_one_folder": same_folder,
        "duplicates_within_one_maildir_folder": same_maildir_folder,
        "duplicates_within_one_mbox_file": same_folder - same_maildir_folder,
        "messages_with_attachment": with_att,
        "mbox_messages_with_quoted_from": from_quoted,
        "bytes": total_bytes,
        "maildir": {"messages": maildir_tally.messages, "bytes": maildir_tally.bytes},
        "parts": parts,
        "notes": "duplicates = stored messages minus unique messages; every group has exactly 2 members. \
    duplicates_by_delivery: same_time = the extra copy was delivered within 3 s of the original \
    (exact and cross_store copies included), different_time = one to two hours over a day later.",
    });
    let mut f = File::create(out.join("EXPECTED.json"))?;
    serde_json::to_writer_pretty(&mut f, &expected)?;
    f.write_all(b"\n")?;

    if !args.quiet {
        println!(
            "gen_corpus: wrote {} ({:?} layout, seed {})",
            out.display(),
            args.layout,
            args.seed
        );
        println!(
            "  messages {}  unique {}  duplicates {}  bytes {} ({:.1} MB)  with attachment {}",
            entries.len(),
            by_class[0],
            dups,
            total_bytes,
            total_bytes as f64 / 1e6,
            with_att
        );
        println!(
            "  duplicates by class: exact {}  same_time {}  different_time {}  cross_store {}",
            by_class[1], by_class[2], by_class[3], by_class[4]
        );
        println!(
            "  both copies in Maildir {}  both in mbox {}  same folder/file {}",
            both_maildir, both_mbox, same_folder
        );
        for (l, t) in {
            let mut v: Vec<_> = per_loc.iter().collect();
            v.sort_by_key(|(l, _)| **l);
            v
        } {
            println!(
                "  {:<20} {:>9} messages {:>14} bytes",
                l.folder(),
                t.messages,
                t.bytes
            );
        }
        println!("  took {:.2} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// `MIN-MAX` with optional K/M suffixes (powers of 1000), MIN >= 1.
fn parse_size_range(s: &str) -> Result<(u64, u64), String> {
    let one = |t: &str| -> Result<u64, String> {
        let t = t.trim();
        let (num, mul) = match t.chars().last() {
            Some('K' | 'k') => (&t[..t.len() - 1], 1_000),
            Some('M' | 'm') => (&t[..t.len() - 1], 1_000_000),
            _ => (t, 1),
        };
        num.parse::<u64>()
            .map(|n| n * mul)
            .map_err(|e| format!("{t}: {e}"))
    };
    let (a, b) = s.split_once('-').ok_or("expected MIN-MAX, e.g. 10K-150K")?;
    let (a, b) = (one(a)?, one(b)?);
    if a == 0 || b < a {
        return Err(format!("{s}: need 1 <= MIN <= MAX"));
    }
    Ok((a, b))
}
