//! Incident forensics on generated stores: the timeline, incident windows, their class and
//! likely cause (docs/forensics.md, "Incident forensics"), and the self-contained HTML report.
//!
//! Every store is generated in a temporary folder by `tests/common/incidents.rs`.

mod common;
#[path = "common/incidents.rs"]
mod gen;

use common::md_cmd;
use gen::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

fn scan(args: &[&str], cwd: &Path) -> (i32, Value, String) {
    let out = md_cmd()
        .current_dir(cwd)
        .args(["scan", "--across-folders", "--json", "--no-progress"])
        .args(args)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        code,
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn human(args: &[&str], cwd: &Path) -> String {
    let out = md_cmd()
        .current_dir(cwd)
        .args(["scan", "--across-folders", "--no-progress", "-v"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn epoch(v: &Value) -> i64 {
    jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%Z", v.as_str().unwrap())
        .or_else(|_| v.as_str().unwrap().parse::<jiff::Timestamp>())
        .unwrap()
        .as_second()
}

fn incidents(j: &Value) -> &Vec<Value> {
    j["incidents"].as_array().expect("incidents array")
}

/// The timeline covers every dated extra copy, class by class.
fn check_timeline(j: &Value) {
    let t = j["timeline"].as_array().expect("timeline array");
    let sum = |k: &str| t.iter().map(|b| b[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        sum("same_time") + sum("different_time") + j["undated_extra_copies"].as_u64().unwrap(),
        j["summary"]["extra_copies"].as_u64().unwrap()
    );
    assert_eq!(
        sum("same_time"),
        j["summary"]["same_time"].as_u64().unwrap()
    );
    assert!(t.len() <= 100, "{} buckets", t.len());
    for w in t.windows(2) {
        assert_eq!(w[0]["end"], w[1]["start"], "buckets are contiguous");
    }
}

#[test]
fn redownload_burst_is_one_different_time_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, z) = redownload_store(tmp.path());
    let (code, j, err) = scan(&["Maildir"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["summary"]["extra_copies"], 415);
    check_timeline(&j);
    let inc = incidents(&j);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    let n = i["extra_copies"].as_u64().unwrap();
    assert!((360..=400).contains(&n), "{i:#}");
    assert!(epoch(&i["start"]) >= a && epoch(&i["end"]) < z, "{i:#}");
    assert_eq!(i["class"], "different-time");
    assert_eq!(i["cause_code"], "re-download");
    assert!(i["likely_cause"].as_str().unwrap().contains("re-download"));
    let ev = i["evidence"].as_str().unwrap();
    assert!(ev.contains("Received chain identical"), "{ev}");
    assert!(ev.contains(&format!("for {n} of {n} copies")), "{ev}");
    assert_eq!(i["stores"], serde_json::json!(["Maildir"]));
    assert_eq!(i["kept_stores"].as_array().unwrap().len(), 2);
    // the originals span most of the six months
    let os = &i["original_span"];
    assert!(epoch(&os["end"]) - epoch(&os["start"]) > 150 * DAY, "{os}");

    let text = human(&["Maildir"], tmp.path());
    assert!(text.contains("Timeline of extra copies"), "{text}");
    // Off a terminal without -v (cron): no chart, but the incident is still named.
    let out = md_cmd()
        .current_dir(tmp.path())
        .args(["scan", "--across-folders", "Maildir"])
        .output()
        .unwrap();
    let quiet = String::from_utf8_lossy(&out.stdout);
    assert!(!quiet.contains("Timeline of extra copies"), "{quiet}");
    assert!(
        quiet.contains("Likely cause: client re-download"),
        "{quiet}"
    );
    assert!(text.contains("Likely cause: client re-download"), "{text}");
    assert!(
        text.contains(&format!("{n} extra copies (different-time) in Maildir")),
        "{text}"
    );
}

/// Mail sent to jane@ and to the alias team@ (which includes jane) during a three-hour
/// window is delivered twice in the same second: same-time, through an alias.
#[test]
fn same_time_burst_is_a_delivery_side_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(42);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    background(&mut inbox, &mut rng, 0, 400, 120);
    let start = T0 + 60 * DAY + 9 * 3_600;
    alias_burst(&mut inbox, &mut rng, 500, 200, start, 3 * 3_600);
    // a few scattered re-downloads as background
    for i in 800..810 {
        let t = T0 + rng.below(120 * DAY);
        let text = message(i, t - 2, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        inbox.deliver(t + 3 * DAY, &text);
    }
    let (code, j, err) = scan(&["Maildir"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["summary"]["same_time"], 200);
    check_timeline(&j);
    let inc = incidents(&j);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    let n = i["extra_copies"].as_u64().unwrap();
    assert!((180..=200).contains(&n), "{i:#}");
    assert!(epoch(&i["start"]) >= start && epoch(&i["end"]) < start + 3 * 3_600);
    assert_eq!(i["class"], "same-time");
    assert_eq!(i["cause_code"], "alias-expansion");
    assert!(
        i["likely_cause"]
            .as_str()
            .unwrap()
            .starts_with("delivery-side duplicate"),
        "{i:#}"
    );
    assert!(i["evidence"]
        .as_str()
        .unwrap()
        .contains("envelope recipient"));
}

/// Messages delivered by the server into a Maildir; months later fetchmail fetched 300 of
/// them again into an mbox, adding its own Received hop on top of the same chain.
#[test]
fn fetcher_refetch_burst_names_the_fetcher() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    let mbox = fetcher_burst(&mut inbox, &mut rng, 0, 300, 120, T0 + 150 * DAY);
    background(&mut inbox, &mut rng, 1000, 200, 150);
    fs::write(tmp.path().join("fetched.mbox"), mbox).unwrap();
    let (code, j, err) = scan(&["Maildir", "fetched.mbox"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["summary"]["different_time"], 300);
    check_timeline(&j);
    let inc = incidents(&j);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    assert!(i["extra_copies"].as_u64().unwrap() >= 270, "{i:#}");
    assert_eq!(i["class"], "different-time");
    assert_eq!(i["cause_code"], "fetcher-refetch");
    assert_eq!(i["stores"], serde_json::json!(["fetched.mbox"]));
    let ev = i["evidence"].as_str().unwrap();
    assert!(ev.contains("fetchmail-6.4.37"), "{ev}");
}

/// Duplicates scattered over a year, none close to another: a timeline, but no incident.
#[test]
fn scattered_duplicates_make_no_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(1234);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    background(&mut inbox, &mut rng, 0, 500, 365);
    for i in 1000..1060 {
        let t = T0 + rng.below(365 * DAY);
        let text = message(i, t - 2, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        if i % 2 == 0 {
            inbox.deliver(t + 1, &text);
        } else {
            inbox.deliver(t + 3_600 + rng.below(30 * DAY), &text);
        }
    }
    let (code, j, err) = scan(&["Maildir"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["summary"]["extra_copies"], 60);
    check_timeline(&j);
    assert!(!j["timeline"].as_array().unwrap().is_empty());
    assert_eq!(incidents(&j).len(), 0, "{:#}", j["incidents"]);
    let text = human(&["Maildir"], tmp.path());
    assert!(text.contains("No incident"), "{text}");
}

/// `--html` writes one self-contained file that escapes what messages and file names hold.
#[test]
fn html_report_is_self_contained_and_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _) = redownload_store(tmp.path());
    let evil_dir = tmp.path().join("Maildir/.Evil<img onerror=alert(2)>");
    let mut evil = Maildir::new(&evil_dir);
    // The Message-ID normalises to `<<script>` (first `<` to first `>`); the subject
    // carries the whole `<script>alert(1)</script>` and is shown too.
    let hostile = "<<script>alert(1)</script>@x>";
    let t = T0 + 30 * DAY;
    let text = message(9999, t, "", "jane@example.com", hostile).replace(
        "Subject: Message number 9999",
        "Subject: </style><script>alert(1)</script>@x",
    );
    evil.deliver(t, &text);
    // three copies, so it is among the largest groups the page shows
    evil.deliver(t + 2 * DAY, &text);
    evil.deliver(
        t + DAY,
        &text.replace(
            "Return-Path: <sender9999@example.org>",
            "Return-Path: <\"><script>alert(4)</script>>",
        ),
    );
    let html = tmp.path().join("out/report.html");
    fs::create_dir_all(html.parent().unwrap()).unwrap();
    let out = md_cmd()
        .current_dir(tmp.path())
        .args(["scan", "--across-folders", "--no-progress", "--html"])
        .arg(&html)
        .arg("Maildir")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.len() < 2_000_000, "{} bytes", page.len());
    let lower = page.to_ascii_lowercase();
    for bad in [
        "<script", "http:", "https:", "src=", "<img", "@import", "url(",
    ] {
        assert!(!lower.contains(bad), "the page holds {bad:?}");
    }
    assert!(
        page.contains("&lt;&lt;script&gt;"),
        "the Message-ID is shown escaped"
    );
    assert!(page.contains("&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;@x"));
    assert!(page.contains("<svg"), "the timeline is inline SVG");
    assert!(page.contains("client re-download"), "the incident is named");
    assert!(
        page.contains("Evil&lt;img"),
        "the hostile folder name is shown escaped"
    );
    // --html with --json still prints the JSON report on stdout
    let (code, j, _) = scan(&["--html", "out/2.html", "Maildir"], tmp.path());
    assert_eq!(code, 0);
    assert!(j["summary"]["groups"].as_u64().unwrap() > 0);
    assert!(tmp.path().join("out/2.html").exists());
}

/// A folder name with a terminal escape sequence is printed escaped in the summary.
#[test]
fn human_summary_escapes_control_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(99);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    let mut bad = Maildir::new(&tmp.path().join("Maildir/.Bad\x1b[2J"));
    for i in 0..40 {
        let t = T0 + rng.below(90 * DAY);
        let text = message(i, t, "", "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        bad.deliver(T0 + 100 * DAY + i as i64 * 30, &text);
    }
    let text = human(&["Maildir"], tmp.path());
    assert!(text.contains("Incidents"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains(".Bad\\x1b[2J"), "{text}");
}

/// `quarantine --dry-run --html FILE` writes the same page and touches nothing;
/// without --dry-run, --html is a usage error.
#[test]
fn quarantine_dry_run_writes_the_html_page() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(5);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    alias_burst(&mut inbox, &mut rng, 0, 20, T0, 3_600);
    let run = |args: &[&str]| {
        md_cmd()
            .current_dir(tmp.path())
            .args([
                "quarantine",
                "--across-folders",
                "--no-progress",
                "Maildir",
                "--to",
                "q",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--html", "r.html"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!tmp.path().join("r.html").exists() && !tmp.path().join("q").exists());
    let out = run(&["--dry-run", "--html", "r.html"]);
    assert_eq!(out.status.code(), Some(0));
    let page = fs::read_to_string(tmp.path().join("r.html")).unwrap();
    assert!(page.contains("delivery-side duplicate through an alias"));
    assert!(!tmp.path().join("q").exists(), "a dry run creates nothing");
}

/// A POP3 client that re-downloads a batch every night for 80 nights: 80 incidents of 40
/// copies (3,200). The cause is still found for each, but the header reads are shared out
/// (`examined` per incident, 2,000 over all of them at most, and at least 20 each) instead
/// of two per extra copy.
#[test]
fn many_incidents_share_the_header_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(11);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    let nights = 80;
    let per = 40;
    for night in 0..nights {
        let start = T0 + (200 + night as i64) * DAY + 2 * 3_600;
        for k in 0..per {
            let i = night * per + k;
            let t = T0 + rng.below(180 * DAY);
            let text = message(i, t - 5, &lmtp(i, t, 0), "jane@example.com", &mid(i));
            inbox.deliver(t, &text);
            inbox.deliver(start + rng.below(600), &text);
        }
    }
    let (code, j, err) = scan(&["Maildir"], tmp.path());
    assert_eq!(code, 0, "{err}");
    check_timeline(&j);
    let inc = incidents(&j);
    assert_eq!(inc.len(), nights, "{:#?}", &inc[..2.min(inc.len())]);
    let mut examined = 0;
    for i in inc {
        assert_eq!(i["extra_copies"], per, "{i:#}");
        assert_eq!(i["cause_code"], "re-download", "{i:#}");
        let e = i["examined"].as_u64().unwrap();
        assert!((20..per as u64).contains(&e), "{i:#}");
        examined += e;
    }
    assert!(
        examined <= 2_000 + nights as u64,
        "{examined} copies read for {} extra copies in incidents",
        nights * per
    );
}

/// Issue 17: a procmail `c` recipe doubles every message delivered from 11:00 to 14:54,
/// one every 6 minutes. The copies never cluster into a burst, but the share of doubled
/// deliveries jumps from 0 to 40 of 40: exactly one `rate` incident, named on the
/// terminal, with its rates, mechanism and next step; every extra copy carries its cause.
#[test]
fn steady_doubling_is_one_rate_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, z) = steady_doubling_store(tmp.path());
    let (code, j, err) = scan(&["Maildir"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(j["summary"]["same_time"], 40);
    assert_eq!(j["summary"]["extra_copies"], 40);
    check_timeline(&j);
    let inc = incidents(&j);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    assert_eq!(i["kind"], "rate", "{i:#}");
    assert!((a..a + 60).contains(&epoch(&i["start"])), "{i:#}");
    assert!((z - 60..=z).contains(&epoch(&i["end"])), "{i:#}");
    assert_eq!(i["folder"], "Maildir");
    assert_eq!(i["extra_copies"], 40);
    assert_eq!(i["deliveries"], 40);
    assert_eq!(i["duplicated_deliveries"], 40);
    assert_eq!(i["rate_during"], 1.0);
    assert_eq!(i["rate_before"], 0.0);
    assert_eq!(i["rate_after"], 0.0);
    assert_eq!(i["still_going"], false);
    assert_eq!(i["class"], "same-time");
    assert_eq!(i["cause_code"], "delivery-duplicate");
    let next = i["next_step"].as_str().unwrap();
    assert!(next.contains(":0 c") && next.contains("Sieve"), "{next}");
    assert!(i["mechanism"].as_str().unwrap().contains("procmail"));
    let ev = i["evidence"].as_str().unwrap();
    assert!(ev.starts_with("40 of 40 deliveries to Maildir"), "{ev}");
    // every extra copy carries the incident's cause; kept copies null
    let mut with_cause = 0;
    for g in j["groups"].as_array().unwrap() {
        for c in g["copies"].as_array().unwrap() {
            if c["keep"] == true {
                assert!(c["cause_code"].is_null(), "{c:#}");
            } else {
                assert_eq!(c["cause_code"], "delivery-duplicate", "{c:#}");
                with_cause += 1;
            }
        }
    }
    assert_eq!(with_cause, 40);
    // the per-store section
    let stores = j["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 1, "{stores:#?}");
    let s = &stores[0];
    assert_eq!(s["path"], "Maildir");
    assert_eq!(s["kind"], "maildir");
    assert_eq!(s["messages"], 300 + 24 + 80 + 24 + 50);
    assert_eq!(s["extras_same_time"], 40);
    assert_eq!(s["extras_different_time"], 0);
    assert_eq!(s["kept"], 40);
    assert_eq!(s["incidents"], serde_json::json!([0]));

    let text = human(&["Maildir"], tmp.path());
    assert!(
        text.contains(
            "every message delivered to Maildir has a second copy in the same second (40 of 40)"
        ),
        "{text}"
    );
    assert!(text.contains("Next step: "), "{text}");
    assert!(!text.contains("No incident"), "{text}");
}

/// Every kind of incident in one store: each extra copy belongs to at most one incident
/// (the incidents' copies add up to the copies that carry a cause), bursts are not
/// reported again as rates, and every incident says what to do next.
#[test]
fn incidents_do_not_share_copies_and_all_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    incident_store(tmp.path());
    let (code, j, err) = scan(&["Maildir", "fetched.mbox"], tmp.path());
    assert_eq!(code, 0, "{err}");
    let inc = incidents(&j);
    assert_eq!(inc.len(), 3, "{inc:#?}");
    assert!(inc.iter().all(|i| i["kind"] == "burst"), "{inc:#?}");
    let mut codes: Vec<&str> = inc
        .iter()
        .map(|i| i["cause_code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(codes, ["alias-expansion", "fetcher-refetch", "re-download"]);
    for i in inc {
        assert!(i["next_step"].as_str().unwrap().len() > 40, "{i:#}");
        assert!(i["mechanism"].as_str().unwrap().len() > 40, "{i:#}");
        if i["class"] == "different-time" {
            assert!(i["rate_before"].is_null() && i["still_going"].is_null());
        } else {
            // the alias burst doubled every delivery to the INBOX for 3 hours: the burst
            // also carries its rates (one incident, not two)
            assert_eq!(i["folder"], "Maildir", "{i:#}");
            assert!(i["rate_during"].as_f64().unwrap() >= 0.9, "{i:#}");
            assert!(i["rate_before"].as_f64().unwrap() < 0.1, "{i:#}");
        }
    }
    let in_incidents: u64 = inc
        .iter()
        .map(|i| i["extra_copies"].as_u64().unwrap())
        .sum();
    let with_cause = j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["copies"].as_array().unwrap())
        .filter(|c| !c["cause_code"].is_null())
        .count() as u64;
    assert_eq!(in_incidents, with_cause);
    // the fetchmail incident points at the fetcher's state
    let f = inc
        .iter()
        .find(|i| i["cause_code"] == "fetcher-refetch")
        .unwrap();
    assert!(f["next_step"].as_str().unwrap().contains(".fetchids"));
    // stores point back at their incidents
    let stores = j["stores"].as_array().unwrap();
    let mbox = stores.iter().find(|s| s["path"] == "fetched.mbox").unwrap();
    assert_eq!(mbox["kind"], "mbox");
    let k = mbox["incidents"].as_array().unwrap();
    assert_eq!(k.len(), 1);
    assert_eq!(
        inc[k[0].as_u64().unwrap() as usize]["cause_code"],
        "fetcher-refetch"
    );
}

/// Twelve nightly re-download bursts: off a terminal (and with -v) the summary names
/// every one of them, largest first; nothing is cut to "3 of 12".
#[test]
fn summary_names_every_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(12);
    let mut inbox = Maildir::new(&tmp.path().join("Maildir"));
    for night in 0..12 {
        let start = T0 + (200 + night as i64) * DAY + 2 * 3_600;
        for k in 0..(20 + night) {
            let i = night * 100 + k;
            let t = T0 + rng.below(180 * DAY);
            let text = message(i, t - 5, &lmtp(i, t, 0), "jane@example.com", &mid(i));
            inbox.deliver(t, &text);
            inbox.deliver(start + rng.below(600), &text);
        }
    }
    let (_, j, _) = scan(&["Maildir"], tmp.path());
    assert_eq!(incidents(&j).len(), 12);
    for text in [
        human(&["Maildir"], tmp.path()),
        String::from_utf8_lossy(
            &md_cmd()
                .current_dir(tmp.path())
                .args(["scan", "Maildir"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned(),
    ] {
        assert!(text.contains("Incidents (12:"), "{text}");
        for n in 1..=12 {
            assert!(
                text.contains(&format!("\n  {n}. ")),
                "incident {n} missing: {text}"
            );
        }
        assert!(!text.contains("more incident"), "{text}");
        // largest first: 31 copies, then 30, ...
        let p31 = text.find("31 extra copies").unwrap();
        let p20 = text.find("20 extra copies").unwrap();
        assert!(p31 < p20);
    }
}

/// The steady doubling next to the other incidents (the example store): among many
/// scattered extra copies the burst detector's link gap grows, so the doubling may be
/// found as a burst; either way it is one incident holding all 40 copies, with the
/// folder's rates.
#[test]
fn steady_doubling_among_other_incidents_is_reported_once_with_its_rates() {
    let tmp = tempfile::tempdir().unwrap();
    incident_store(tmp.path());
    steady_doubling_store(&tmp.path().join("steady"));
    let (code, j, err) = scan(&["Maildir", "fetched.mbox", "steady"], tmp.path());
    assert_eq!(code, 0, "{err}");
    let inc = incidents(&j);
    let steady: Vec<&Value> = inc
        .iter()
        .filter(|i| i["stores"] == serde_json::json!(["steady/Maildir"]))
        .collect();
    assert_eq!(steady.len(), 1, "{inc:#?}");
    let i = steady[0];
    assert_eq!(i["extra_copies"], 40, "{i:#}");
    assert_eq!(i["folder"], "steady/Maildir", "{i:#}");
    assert_eq!(i["duplicated_deliveries"], 40, "{i:#}");
    assert_eq!(i["rate_during"], 1.0, "{i:#}");
    assert!(i["next_step"].as_str().unwrap().contains(":0 c"), "{i:#}");
    let in_incidents: u64 = inc
        .iter()
        .map(|i| i["extra_copies"].as_u64().unwrap())
        .sum();
    let with_cause = j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["copies"].as_array().unwrap())
        .filter(|c| !c["cause_code"].is_null())
        .count() as u64;
    assert_eq!(in_incidents, with_cause);
}
