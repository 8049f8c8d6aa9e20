//! Issue 17, item 4: the chart of `scan --html` tells the story at any scale. Drives the
//! binary on generated Maildirs (one extra copy; a 2,000-copy burst next to weeks of 1 to
//! 3 copies; 20 nightly incidents side by side) and reads the SVG back: the axis fits the
//! data, its ticks are distinct true counts, every non-empty bucket is visible, incident
//! labels never overlap, and paths in the group cards wrap at their separators.

use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const NO_CONFIG_HOME: &str = "/nonexistent/maildedup-tests/xdg-config";
const CACHE_HOME: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/xdg-cache");
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200;
const DAY: i64 = 86_400;
/// An upper bound of one bold 12 px character (DejaVu Sans `#` is 0.84 em).
const GLYPH_BOLD: f64 = 12.0 * 0.84;

struct Maildir {
    root: PathBuf,
    seq: usize,
}

impl Maildir {
    fn new(root: &Path) -> Maildir {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        Maildir {
            root: root.to_path_buf(),
            seq: 0,
        }
    }

    /// Delivers `text` at `t`: in the file name and the mtime.
    fn deliver(&mut self, t: i64, text: &str) -> PathBuf {
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

fn message(i: usize, sent: i64) -> String {
    format!(
        "Return-Path: <sender{i}@example.org>\n\
Delivered-To: jane@example.com\n\
Received: from out.example.org by mx.example.com (Postfix) with ESMTPS id 4Q{i:05}X; {sent}\n\
Message-ID: <chart-{i}@example.org>\n\
From: Sender {i} <sender{i}@example.org>\n\
To: jane@example.com\n\
Subject: Chart test message {i}\n\
\n\
Body of message {i}.\n"
    )
}

/// Runs `scan --json --html` on `Maildir` under `dir`: the JSON report and the page.
fn scan(dir: &Path) -> (Value, String) {
    let out = Command::cargo_bin("maildedup")
        .unwrap()
        .env("XDG_CONFIG_HOME", NO_CONFIG_HOME)
        .env("XDG_CACHE_HOME", CACHE_HOME)
        .current_dir(dir)
        .args([
            "scan",
            "--json",
            "--no-progress",
            "--html",
            "r.html",
            "Maildir",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    (j, fs::read_to_string(dir.join("r.html")).unwrap())
}

/// The timeline's SVG element.
fn svg(page: &str) -> &str {
    let a = page.find("<svg").expect("the page has a chart");
    let b = page[a..].find("</svg>").expect("the chart ends") + a;
    &page[a..b]
}

fn attr(element: &str, name: &str) -> f64 {
    let k = format!(" {name}=\"");
    let i = element
        .find(&k)
        .unwrap_or_else(|| panic!("{name} in {element}"));
    let v = &element[i + k.len()..];
    v[..v.find('"').unwrap()].parse().unwrap()
}

/// `(element, text after it)` of each `<tag class="class" …>`.
fn elements<'a>(svg: &'a str, tag: &str, class: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag} class=\"{class}\" ");
    svg.match_indices(&open)
        .map(|(i, _)| {
            let e = &svg[i..];
            let end = e.find('>').unwrap();
            let text = e[end + 1..].split('<').next().unwrap();
            (&e[..end], text)
        })
        .collect()
}

/// The y tick labels, parsed as numbers; they must be distinct, ascending, from 0.
fn ticks(svg: &str) -> Vec<u64> {
    let t: Vec<u64> = elements(svg, "text", "yt")
        .iter()
        .map(|(_, text)| text.parse().unwrap_or_else(|_| panic!("tick {text:?}")))
        .collect();
    assert_eq!(t.first(), Some(&0), "{t:?}");
    assert!(t.windows(2).all(|w| w[0] < w[1]), "ticks {t:?}");
    t
}

/// Each drawn bucket: (same-time, different-time, drawn height in px).
fn bars(svg: &str) -> Vec<(u64, u64, f64)> {
    svg.split("<g><title>")
        .skip(1)
        .filter(|g| g.contains("class=\"bar\""))
        .map(|g| {
            let title = &g[..g.find("</title>").unwrap()];
            let counts = title.rsplit(": ").next().unwrap();
            let n: Vec<u64> = counts
                .split(", ")
                .map(|p| p.split(' ').next().unwrap().parse().unwrap())
                .collect();
            let h: f64 = elements(g, "rect", "bar")
                .iter()
                .map(|(e, _)| attr(e, "height"))
                .sum();
            (n[0], n[1], h)
        })
        .collect()
}

fn max_bucket(j: &Value) -> u64 {
    j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["same_time"].as_u64().unwrap() + b["different_time"].as_u64().unwrap())
        .max()
        .unwrap()
}

/// One extra copy: one bar, the ticks 0 and 1 once each (issue 17: four zeros), and the
/// copies' paths break after separators only.
#[test]
fn one_extra_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut md = Maildir::new(&tmp.path().join("Maildir/.Archive.2024.Lists.rust-users"));
    for i in 0..10 {
        md.deliver(T0 + i as i64 * 7_919, &message(i, T0));
    }
    let extra = md.deliver(T0 + 2 * DAY, &message(7, T0));
    let (j, page) = scan(tmp.path());
    assert_eq!(j["summary"]["extra_copies"], 1);
    let s = svg(&page);
    assert_eq!(ticks(s), [0, 1]);
    let b = bars(s);
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!((b[0].0, b[0].1), (0, 1));
    assert!(b[0].2 > 100.0, "the one copy fills the axis: {b:?}");
    // the extra copy's path: broken after '/', '.' and ',' only, never shown unbroken
    let name = extra.file_name().unwrap().to_str().unwrap();
    assert!(!page.contains(name), "{name} is shown without break points");
    let broken = name.replace('.', ".<wbr>").replace(',', ",<wbr>");
    assert!(page.contains(&format!("cur/<wbr>{broken}")), "{broken}");
    assert!(page.contains("Maildir/<wbr>.Archive.<wbr>2024.<wbr>Lists.<wbr>rust-users/<wbr>cur/"));
    assert!(page.contains("overflow-wrap:anywhere"), "the CSS fallback");
}

/// A 2,000-copy burst and weeks of 1 to 3 copies over a year: the axis top is a nice
/// number just above the burst, and every scattered week is a bar at least 10 px tall
/// (on a linear axis to 2,000 a copy would be 0.1 px).
#[test]
fn a_huge_burst_leaves_small_weeks_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let mut md = Maildir::new(&tmp.path().join("Maildir"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for (k, week) in (2..52).step_by(6).enumerate() {
        let i = 100 + k;
        let t = T0 + week * 7 * DAY + rnd(4) as i64 * DAY;
        md.deliver(t, &message(i, t));
        for c in 0..=rnd(3) as i64 {
            md.deliver(t + (c + 1) * 3_600, &message(i, t));
        }
    }
    let t = T0 + 30 * 7 * DAY;
    md.deliver(t, &message(5_000, t));
    for c in 0..2_000 {
        md.deliver(t + 600 + c * 3, &message(5_000, t));
    }
    let (j, page) = scan(tmp.path());
    let max = max_bucket(&j);
    assert!(max >= 2_000, "{max}");
    let s = svg(&page);
    let t = ticks(s);
    let top = *t.last().unwrap();
    assert!(
        top >= max && top < 2 * max,
        "axis top {top} for {max}: {t:?}"
    );
    let b = bars(s);
    assert!(b.len() >= 9, "{b:?}");
    for &(same, diff, h) in &b {
        if same + diff <= 3 {
            assert!(
                h >= 10.0,
                "a bar of {} copies is {h} px: {b:?}",
                same + diff
            );
        }
    }
    assert!(
        s.contains("scale, so that small counts stay visible"),
        "{s}"
    );
    assert_eq!(j["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(elements(s, "text", "il").len(), 1);
}

/// 20 re-download incidents on 20 nights in a row: every one is numbered in the chart,
/// no two labels' boxes (character count × an upper bound of the glyph width) intersect,
/// and the shaded windows do not lie on each other.
#[test]
fn nightly_incidents_get_labels_that_never_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let mut md = Maildir::new(&tmp.path().join("Maildir"));
    let mut x: u64 = 11;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n) as i64
    };
    let (nights, per) = (20, 40);
    for night in 0..nights {
        let start = T0 + (200 + night as i64) * DAY + 2 * 3_600;
        for k in 0..per {
            let i = night * per + k;
            let t = T0 + rnd(180 * DAY as u64);
            md.deliver(t, &message(i, t - 5));
            md.deliver(start + rnd(600), &message(i, t - 5));
        }
    }
    let (j, page) = scan(tmp.path());
    let n = j["incidents"].as_array().unwrap().len();
    assert_eq!(n, nights, "{:#}", j["incidents"]);
    let s = svg(&page);
    let labels = elements(s, "text", "il");
    assert_eq!(labels.len(), n, "every incident is numbered");
    let boxes: Vec<(f64, f64, f64, f64)> = labels
        .iter()
        .map(|(e, text)| {
            let (x, y) = (attr(e, "x"), attr(e, "y"));
            let w = text.chars().count() as f64 * GLYPH_BOLD;
            (x - w / 2.0, x + w / 2.0, y - 12.0, y + 3.0)
        })
        .collect();
    for (i, a) in boxes.iter().enumerate() {
        assert!(a.2 >= 0.0 && a.0 >= 0.0, "inside the chart: {a:?}");
        for b in &boxes[i + 1..] {
            let overlap = a.0 < b.1 && b.0 < a.1 && a.2 < b.3 && b.2 < a.3;
            assert!(!overlap, "{a:?} and {b:?}");
        }
    }
    let bands: Vec<(f64, f64)> = elements(s, "rect", "band")
        .iter()
        .map(|(e, _)| (attr(e, "x"), attr(e, "x") + attr(e, "width")))
        .collect();
    assert!(!bands.is_empty());
    for (i, a) in bands.iter().enumerate() {
        for b in &bands[i + 1..] {
            assert!(a.1 <= b.0 || b.1 <= a.0, "{a:?} and {b:?}");
        }
    }
    assert!(!page.contains("not numbered in the chart"));
}
