//! Past one machine (issue 14, part 3): `maildedup report merge`, and the glue in
//! `contrib/server/` (systemd instances per mailbox and per shard) and `contrib/k8s/` (an
//! indexed CronJob). The units are checked with `systemd-analyze verify`, the manifest
//! with `kubernetes-validate --strict` (from PyPI, in CI), and every command they hold is
//! run on a generated server: what the shards report, merged, is what one
//! `scan --each` over all mailboxes reports.

mod common;
#[path = "common/fleet.rs"]
mod fleetgen;
#[path = "common/incidents.rs"]
mod gen;

use common::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// A generated server of `n` mailboxes (every 5th in the shared burst hour).
fn server(n: usize) -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    let (td, root) = canonical_tempdir();
    let vmail = root.join("vmail");
    let boxes = fleetgen::write_fleet(&vmail, n, 5);
    (td, vmail, boxes)
}

fn each_json(paths: &[PathBuf]) -> String {
    let mut args = vec![
        "scan".to_string(),
        "--each".into(),
        "--json".into(),
        "--no-cache".into(),
    ];
    args.extend(paths.iter().map(|p| s(p)));
    let out = md(&args);
    out.expect_code(0, "scan --each --json");
    out.stdout
}

fn merge(args: &[String]) -> Out {
    let mut a = vec!["report".to_string(), "merge".into()];
    a.extend_from_slice(args);
    md(&a)
}

#[test]
fn merged_shards_equal_one_run_over_all_mailboxes() {
    let (td, _vmail, boxes) = server(12);
    let all = each_json(&boxes);
    let (a, b) = boxes.split_at(5);
    let dir = td.path();
    fs::write(dir.join("shard-0.jsonl"), each_json(a)).unwrap();
    fs::write(dir.join("shard-1.jsonl"), each_json(b)).unwrap();
    let files = vec![s(&dir.join("shard-0.jsonl")), s(&dir.join("shard-1.jsonl"))];
    let merged = merge(&[&["--json".to_string()], &files[..]].concat());
    merged.expect_code(0, "report merge --json");
    assert_eq!(merged.stdout, all, "merged JSON Lines = one scan --each");
    let fleet: serde_json::Value =
        serde_json::from_str(merged.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(fleet["fleet"]["mailboxes"], 12);
    assert_eq!(
        fleet["fleet"]["incidents"].as_array().unwrap().len(),
        1,
        "{fleet}"
    );
    // The text: the fleet part of `scan --each`.
    let text = merge(&files);
    text.expect_code(0, "report merge");
    let mut args = vec!["scan".to_string(), "--each".into(), "--no-cache".into()];
    args.extend(boxes.iter().map(|p| s(p)));
    let one = md(&args);
    assert!(
        one.stdout.ends_with(&text.stdout),
        "merge:\n{}\nscan --each:\n{}",
        text.stdout,
        one.stdout
    );
    assert!(text.stdout.contains("Fleet incident:"), "{}", text.stdout);
    // Shards in another order: the same fleet line (mailboxes are named, not numbered).
    let swapped = merge(
        &[
            &["--json".to_string()],
            &[files[1].clone(), files[0].clone()][..],
        ]
        .concat(),
    );
    assert_eq!(
        swapped.stdout.lines().last(),
        merged.stdout.lines().last(),
        "the order of the reports does not change the fleet"
    );
}

#[test]
fn plain_reports_failures_and_refusals() {
    let (td, _vmail, boxes) = server(4);
    let dir = td.path();
    // A plain, pretty `scan --json` of one mailbox is a mailbox of its own.
    let out = md(["scan", "--json", "--no-cache", &s(&boxes[0])]);
    out.expect_code(0, "scan --json");
    fs::write(dir.join("one.json"), &out.stdout).unwrap();
    fs::write(dir.join("rest.jsonl"), each_json(&boxes[1..])).unwrap();
    let m = merge(&[
        "--json".into(),
        s(&dir.join("one.json")),
        s(&dir.join("rest.jsonl")),
    ]);
    m.expect_code(0, "merge of a plain report and JSON Lines");
    let first: serde_json::Value = serde_json::from_str(m.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["mailbox"],
        s(&boxes[0]),
        "named by the folder holding its stores"
    );
    assert!(
        m.stdout.lines().last().unwrap().contains("\"mailboxes\":4"),
        "{}",
        m.stdout
    );
    // A mailbox in two reports.
    let twice = merge(&[s(&dir.join("rest.jsonl")), s(&dir.join("rest.jsonl"))]);
    twice.expect_code(2, "a mailbox in two reports");
    assert!(twice.stderr.contains("is already in"), "{}", twice.show());
    // A failed mailbox (as `scan --each` writes it): merged, and exit 4.
    fs::write(
        dir.join("failed.jsonl"),
        "{\"mailbox\":\"/var/vmail/x/gone/Maildir\",\"error\":\"no such file or directory\"}\n",
    )
    .unwrap();
    let f = merge(&[s(&dir.join("rest.jsonl")), s(&dir.join("failed.jsonl"))]);
    f.expect_code(4, "a failed mailbox");
    assert!(
        f.stdout.contains("failed: /var/vmail/x/gone/Maildir"),
        "{}",
        f.show()
    );
    // Not a report: named, with its line.
    fs::write(dir.join("junk.jsonl"), "{\"a\": 1}\n").unwrap();
    let j = merge(&[s(&dir.join("junk.jsonl"))]);
    j.expect_code(2, "not a report");
    assert!(
        j.stderr
            .contains("junk.jsonl: line 1: not a maildedup report"),
        "{}",
        j.show()
    );
}

/// A unit file's `ExecStart=` command, with systemd's specifiers and escapes of it
/// resolved for instance `instance` (`%i`) and its path form `path` (`%f`).
fn exec_start(unit: &str, instance: &str, path: &str) -> String {
    let text = fs::read_to_string(repo().join(unit)).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{unit}: no ExecStart"));
    line.replace("%f", path)
        .replace("%i", instance)
        .replace("%%", "%")
        .replace("$$", "$")
        .replace("\\\\", "\\")
        .replace("/usr/bin/maildedup", &s(&bin_path()))
}

/// The per-mailbox template's command, run as systemd would for one mailbox.
#[test]
fn the_per_mailbox_unit_quarantines_its_mailbox() {
    let (td, _vmail, boxes) = server(3);
    let log = td.path().join("log");
    let cmd = exec_start("contrib/server/maildedup@.service", "x", &s(&boxes[1]))
        .replace("/var/log/maildedup", &s(&log));
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let out = Out::from(
        test_env(&mut Command::new(words[0]))
            .args(&words[1..])
            .output()
            .unwrap(),
    );
    out.expect_code(0, &cmd);
    let q = boxes[1].join(".Quarantine");
    assert!(q.join("manifest.jsonl").is_file(), "{}", out.show());
    assert!(
        !names(&q.join("cur")).is_empty(),
        "the mailbox had same-time duplicates"
    );
    assert!(
        !boxes[0].join(".Quarantine").exists(),
        "other mailboxes untouched"
    );
    assert!(log.join("runs.jsonl").is_file());
}

/// The shard units: every mailbox is in exactly one shard, and each shard's command works.
#[test]
fn the_shard_units_cover_every_mailbox_once() {
    let (td, vmail, boxes) = server(7);
    let log = td.path().join("log");
    for shard in 0..3 {
        let cmd = exec_start(
            "contrib/server/maildedup-shard@.service",
            &shard.to_string(),
            "",
        )
        .replace("/var/log/maildedup", &s(&log));
        let script = cmd
            .strip_prefix("/bin/sh -c '")
            .and_then(|c| c.strip_suffix('\''))
            .unwrap_or_else(|| panic!("not a /bin/sh -c '...' command: {cmd}"));
        let out = Out::from(
            test_env(&mut Command::new("/bin/sh"))
                .arg("-c")
                .arg(script)
                .env("MAILBOXES", format!("{}/*/*/Maildir", s(&vmail)))
                .env("SHARDS", "3")
                .output()
                .unwrap(),
        );
        out.expect_code(0, &format!("shard {shard}: {script}"));
    }
    for b in &boxes {
        assert!(
            b.join(".Quarantine/manifest.jsonl").is_file(),
            "{} in no shard",
            b.display()
        );
        let runs = manifest(&b.join(".Quarantine"));
        assert_eq!(
            records(&runs, "run").len(),
            1,
            "{} in one shard only",
            b.display()
        );
    }
}

#[test]
fn systemd_analyze_verifies_the_server_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "CI installs systemd");
        println!("skipped: systemd-analyze not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (unit, instance) in [
        (
            "maildedup@.service",
            "maildedup@var-vmail-example.com-jane-Maildir.service",
        ),
        (
            "maildedup@.timer",
            "maildedup@var-vmail-example.com-jane-Maildir.timer",
        ),
        ("maildedup-shard@.service", "maildedup-shard@0.service"),
        ("maildedup-shard@.timer", "maildedup-shard@0.timer"),
    ] {
        let text = fs::read_to_string(repo().join("contrib/server").join(unit))
            .unwrap()
            .replace("/usr/bin/maildedup", &s(&bin_path()));
        let p = dir.path().join(instance);
        fs::write(&p, text).unwrap();
        paths.push(s(&p));
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("maildedup")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify warns: {ours:?}");
}

/// The CronJob's script (the `args` block of its container).
fn cronjob_script() -> String {
    let yaml = fs::read_to_string(repo().join("contrib/k8s/maildedup-cronjob.yaml")).unwrap();
    let mut lines = yaml
        .lines()
        .skip_while(|l| l.trim() != "- |")
        .skip(1)
        .peekable();
    let indent = lines
        .peek()
        .map(|l| l.len() - l.trim_start().len())
        .expect("a script after `- |`");
    let mut out = String::new();
    for l in lines {
        if !l.trim().is_empty() && l.len() - l.trim_start().len() < indent {
            break;
        }
        out.push_str(l.get(indent..).unwrap_or(""));
        out.push('\n');
    }
    out
}

/// Each pod's script, run as pods 0 and 1 of 2: the mailboxes are quarantined once, and
/// the two shard reports merge into what one `scan --each` reports.
#[test]
fn the_cronjob_pods_shard_quarantine_and_report() {
    let (td, vmail, boxes) = server(6);
    let bin = td.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(bin_path(), bin.join("maildedup")).unwrap();
    let reports = td.path().join("reports");
    fs::create_dir_all(&reports).unwrap();
    let script = cronjob_script().replace("/reports", &s(&reports));
    for pod in 0..2 {
        let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());
        let out = Out::from(
            test_env(&mut Command::new("/bin/sh"))
                .arg("-c")
                .arg(&script)
                .env("PATH", path)
                .env("JOB_COMPLETION_INDEX", pod.to_string())
                .env("SHARDS", "2")
                .env("MAILBOXES", format!("{}/*/*/Maildir", s(&vmail)))
                .output()
                .unwrap(),
        );
        out.expect_code(0, &format!("pod {pod}:\n{script}"));
    }
    for b in &boxes {
        let runs = manifest(&b.join(".Quarantine"));
        assert_eq!(
            records(&runs, "run").len(),
            1,
            "{} quarantined once",
            b.display()
        );
    }
    let merged = merge(&[
        "--json".into(),
        s(&reports.join("shard-0.jsonl")),
        s(&reports.join("shard-1.jsonl")),
    ]);
    merged.expect_code(0, "report merge of the pods' reports");
    let all = each_json(&boxes);
    assert_eq!(
        merged.stdout.lines().last(),
        all.lines().last(),
        "the pods' merged fleet line = one scan --each after the quarantine"
    );
}

#[test]
fn kubernetes_validate_accepts_the_cronjob() {
    let kv = std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let Ok(out) = Command::new(&kv)
        .args(["--strict", "--quiet"])
        .arg(repo().join("contrib/k8s/maildedup-cronjob.yaml"))
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs kubernetes-validate"
        );
        println!("skipped: {kv} not installed (pip install kubernetes-validate)");
        return;
    };
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_guide_shows_the_files_as_they_are() {
    let doc = fs::read_to_string(repo().join("docs/many-servers.md")).unwrap();
    for rel in [
        "contrib/server/maildedup@.service",
        "contrib/server/maildedup@.timer",
        "contrib/server/maildedup-shard@.service",
        "contrib/server/maildedup-shard@.timer",
        "contrib/k8s/maildedup-cronjob.yaml",
    ] {
        let file = fs::read_to_string(repo().join(rel)).unwrap();
        let marker = format!("<!-- {rel} -->\n```");
        let start = doc.find(&marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len();
        let body = start + doc[start..].find('\n').unwrap() + 1;
        let end = body + doc[body..].find("\n```\n").unwrap() + 1;
        assert_eq!(
            &doc[body..end],
            file,
            "docs/many-servers.md's copy of {rel}"
        );
    }
}

/// `--paths-from`: PATHs from a file or standard input (for more mailboxes than a command
/// line holds) give what the same PATHs as arguments give.
#[test]
fn paths_from_a_file_or_stdin_equal_the_same_arguments() {
    let (td, _vmail, boxes) = server(5);
    let list = td.path().join("mailboxes");
    let text: String = boxes.iter().map(|b| format!("{}\n\n", s(b))).collect();
    fs::write(&list, &text).unwrap();
    let from_file = md([
        "scan",
        "--each",
        "--json",
        "--no-cache",
        "--paths-from",
        &s(&list),
    ]);
    from_file.expect_code(0, "--paths-from FILE");
    assert_eq!(from_file.stdout, each_json(&boxes));
    let mut child = test_env(&mut Command::new(bin_path()))
        .args([
            "scan",
            "--each",
            "--json",
            "--no-cache",
            "--paths-from",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = Out::from(child.wait_with_output().unwrap());
    out.expect_code(0, "--paths-from -");
    assert_eq!(out.stdout, from_file.stdout);
    fs::write(&list, "\n").unwrap();
    let empty = md(["scan", "--paths-from", &s(&list)]);
    empty.expect_code(2, "an empty list");
    assert!(empty.stderr.contains("no path in it"), "{}", empty.show());
}
