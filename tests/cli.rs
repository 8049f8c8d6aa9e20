//! The command line around the pipeline: completions and man page, help texts, the
//! config file and its precedence, `--log` records, exit codes of `--check`, `-q`/`-v`,
//! colour (never with `NO_COLOR` or off a terminal), and the scheduling files in
//! `contrib/` (equal to the copies in docs/scheduled-use.md; `systemd-analyze verify` when installed).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A private copy of the demo store: `DIR/demo`.
fn write_config(path: &Path, text: &str) -> String {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    s(path)
}

/// The kept copy of every group, as (path, offset).
fn kept(report: &Value) -> BTreeSet<(String, Option<u64>)> {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["copies"].as_array().unwrap().iter())
        .filter(|c| c["keep"] == Value::Bool(true))
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["offset"].as_u64(),
            )
        })
        .collect()
}

fn summary(report: &Value, key: &str) -> u64 {
    report["summary"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("summary.{key} in {report}"))
}

fn scan_with(args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut a = vec!["scan", "--json", "--no-progress"];
    a.extend_from_slice(args);
    let out = md_env(&a, env);
    out.expect_code(0, "scan --json");
    out.json()
}

// ---------------------------------------------------------------------------------------
// Completions, man page, help

#[test]
fn completions_generate_for_each_shell() {
    let bash = md(["completions", "bash"]);
    bash.expect_code(0, "completions bash");
    for word in [
        "scan",
        "quarantine",
        "restore",
        "completions",
        "man",
        "--same-time-window",
        "--only",
        "--log",
        "--config",
    ] {
        assert!(bash.stdout.contains(word), "bash completion lacks {word}");
    }
    assert!(
        bash.stdout.contains("complete -F"),
        "not a bash completion script"
    );
    let zsh = md(["completions", "zsh"]);
    zsh.expect_code(0, "completions zsh");
    assert!(
        zsh.stdout.starts_with("#compdef maildedup"),
        "{}",
        zsh.show()
    );
    assert!(zsh.stdout.contains("--same-time-window"));
    let fish = md(["completions", "fish"]);
    fish.expect_code(0, "completions fish");
    assert!(
        fish.stdout.contains("complete -c maildedup"),
        "{}",
        fish.show()
    );
    assert!(fish.stdout.contains("same-time-window"));
    md(["completions", "tcsh"]).expect_code(2, "an unknown shell is a usage error");
}

#[test]
fn man_pages_are_roff_and_render() {
    for (args, title) in [
        (vec!["man"], ".TH maildedup 1 "),
        (vec!["man", "scan"], ".TH maildedup-scan 1 "),
        (vec!["man", "quarantine"], ".TH maildedup-quarantine 1 "),
        (vec!["man", "restore"], ".TH maildedup-restore 1 "),
    ] {
        let out = md(&args);
        out.expect_code(0, "man");
        assert!(
            out.stdout.starts_with(title),
            "{args:?}: page must start with {title:?}:\n{}",
            &out.stdout[..out.stdout.len().min(300)]
        );
        assert!(
            out.stdout.contains("\n.SH NAME\n"),
            "{args:?}: no NAME section"
        );
        assert!(
            out.stdout.contains("\n.SH SYNOPSIS\n"),
            "{args:?}: no SYNOPSIS"
        );
        // groff's own check, when groff is installed: no warnings at all.
        if let Ok(g) = std::process::Command::new("groff")
            .args(["-ww", "-z", "-man"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        {
            use std::io::Write;
            let mut g = g;
            g.stdin
                .take()
                .unwrap()
                .write_all(out.stdout.as_bytes())
                .unwrap();
            let r = g.wait_with_output().unwrap();
            assert!(r.status.success(), "groff failed on {args:?}");
            assert_eq!(
                String::from_utf8_lossy(&r.stderr),
                "",
                "groff warns about {args:?}"
            );
        } else {
            println!("skipped: groff not installed");
        }
    }
    let page = md(["man"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("maildedup.1");
    fs::write(&file, &page).unwrap();
    match std::process::Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    {
        Ok(r) => {
            let text = String::from_utf8_lossy(&r.stdout);
            assert!(
                r.status.success(),
                "man -l failed: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            assert!(text.contains("SYNOPSIS"), "man -l rendered:\n{text}");
            assert!(text.contains("quarantine"), "man -l rendered:\n{text}");
        }
        Err(_) => println!("skipped: man not installed"),
    }
}

#[test]
fn help_of_every_subcommand_teaches() {
    for sub in ["scan", "quarantine", "restore", "completions", "man"] {
        let out = md([sub, "--help"]);
        out.expect_code(0, "--help");
        let text = out.stdout.to_lowercase();
        assert!(
            text.contains("examples:"),
            "{sub} --help has no example:\n{}",
            out.stdout
        );
        assert!(
            text.contains(&format!("maildedup {sub}")),
            "{sub} --help: the examples use the command"
        );
        assert!(
            text.contains("never"),
            "{sub} --help does not say what it never does"
        );
        // `help SUB` is the same text.
        let h = md(["help", sub]);
        h.expect_code(0, "help SUB");
        assert_eq!(h.stdout, out.stdout, "help {sub} differs from {sub} --help");
    }
    // The help shows the built-in defaults even when a config file sets other values.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        &dir.path().join("m.toml"),
        "same_time_window = 77\nkeep = \"latest\"\n",
    );
    let out = md(["scan", "--help", "--config", &cfg]);
    out.expect_code(0, "scan --help --config");
    assert!(out.stdout.contains("[default: 5]"), "{}", out.stdout);
    assert!(!out.stdout.contains("77"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------
// Config file

#[test]
fn config_window_file_beats_default_and_flag_beats_file() {
    let (dir, demo) = demo_copy();
    let d = s(&demo);
    let base = scan_with(&["--across-folders", &d], &[]);
    assert_eq!(
        summary(&base, "same_time"),
        4,
        "demo: 4 same-time copies by default"
    );
    let cfg = write_config(&dir.path().join("c.toml"), "same_time_window = 100000000\n");
    let file = scan_with(&["--config", &cfg, "--across-folders", &d], &[]);
    assert_eq!(summary(&file, "same_time"), 8, "the file's window applies");
    assert_eq!(summary(&file, "different_time"), 0);
    let flag = scan_with(
        &[
            "--config",
            &cfg,
            "--same-time-window",
            "5",
            "--across-folders",
            &d,
        ],
        &[],
    );
    assert_eq!(
        summary(&flag, "same_time"),
        4,
        "the flag wins over the file"
    );
    assert_eq!(summary(&flag, "different_time"), 4);
}

#[test]
fn config_cache_keys_move_or_turn_off_the_cache_and_flags_win() {
    let (dir, demo) = demo_copy();
    let d = s(&demo);
    let xdg = dir.path().join("xdg-cache");
    let x = s(&xdg);
    let env = [("XDG_CACHE_HOME", x.as_str())];
    let there = dir.path().join("from-config");
    let cfg = write_config(
        &dir.path().join("c.toml"),
        &format!("cache = \"{}\"\n", there.display()),
    );
    let with_file = scan_with(&["--config", &cfg, &d], &env);
    assert!(
        there.join("fingerprints.redb").is_file(),
        "the file's cache folder is used"
    );
    assert!(!xdg.join("maildedup").exists(), "not the default one");
    let flag = dir.path().join("from-flag");
    let with_flag = scan_with(&["--config", &cfg, "--cache", &s(&flag), &d], &env);
    assert!(
        flag.join("fingerprints.redb").is_file(),
        "the flag wins over the file"
    );
    assert_eq!(with_file["summary"], with_flag["summary"]);

    let off = write_config(&dir.path().join("off.toml"), "no_cache = true\n");
    scan_with(&["--config", &off, &d], &env);
    assert!(
        !xdg.join("maildedup").exists(),
        "no_cache = true: no cache written"
    );
    scan_with(&["--config", &off, "--no-cache=false", &d], &env);
    assert!(
        xdg.join("maildedup").join("fingerprints.redb").is_file(),
        "--no-cache=false on the command line wins over the file"
    );
}

#[test]
fn config_keep_file_beats_default_and_flag_beats_file() {
    let (dir, demo) = demo_copy();
    let d = s(&demo);
    let earliest = kept(&scan_with(&[&d], &[]));
    let latest = kept(&scan_with(&["--keep", "latest", &d], &[]));
    assert_ne!(earliest, latest, "the demo must tell the policies apart");
    let cfg = write_config(&dir.path().join("c.toml"), "keep = \"latest\"\n");
    assert_eq!(kept(&scan_with(&["--config", &cfg, &d], &[])), latest);
    assert_eq!(
        kept(&scan_with(
            &["--config", &cfg, "--keep", "earliest", &d],
            &[]
        )),
        earliest
    );
}

#[test]
fn config_paths_from_the_default_file_and_flag_paths_replace_them() {
    let (dir, demo) = demo_copy();
    let xdg = dir.path().join("xdg");
    // Relative to the config file's folder: xdg/maildedup/../../demo.
    write_config(
        &xdg.join("maildedup").join("maildedup.toml"),
        "paths = [\"../../demo\"]\n",
    );
    let env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    let all = scan_with(&[], &env);
    assert_eq!(
        summary(&all, "messages"),
        30,
        "paths from the default config file"
    );
    let mbox_only = scan_with(&[&s(&demo.join("mbox"))], &env);
    assert_eq!(
        summary(&mbox_only, "stores"),
        2,
        "PATH on the command line replaces `paths`"
    );
    assert_eq!(summary(&mbox_only, "mbox_stores"), 2);
    // Without the config, PATH is required, and the error says how to give it.
    let out = md(["scan", "--no-progress"]);
    out.expect_code(2, "scan without PATH or config");
    assert!(out.stderr.contains("PATH"), "{}", out.show());
    assert!(out.stderr.contains("`paths`"), "{}", out.show());
}

#[test]
fn config_to_and_only_for_quarantine_and_flags_win() {
    let (dir, demo) = demo_copy();
    let qfile = dir.path().join("q-from-file");
    let qflag = dir.path().join("q-from-flag");
    let cfg = write_config(
        &dir.path().join("c.toml"),
        &format!(
            "paths = [\"{}\"]\nto = \"{}\"\nonly = \"same-time\"\nacross_folders = true\n",
            demo.display(),
            qfile.display()
        ),
    );
    let plan = |extra: &[&str]| {
        let mut a = vec![
            "quarantine",
            "--dry-run",
            "--json",
            "--no-progress",
            "--config",
            &cfg,
        ];
        a.extend_from_slice(extra);
        let out = md(&a);
        out.expect_code(0, "quarantine --dry-run");
        out.json()
    };
    let p = plan(&[]);
    assert_eq!(p["qdir"], s(&qfile), "`to` from the file");
    assert_eq!(p["summary"]["moves"], 4, "`only = same-time` from the file");
    let p = plan(&["--to", &s(&qflag), "--only", "all"]);
    assert_eq!(p["qdir"], s(&qflag), "--to wins over the file");
    assert_eq!(
        p["summary"]["moves"], 8,
        "--only all undoes the file's `only`"
    );
    // A real run with everything from the file.
    let out = md(["quarantine", "--no-progress", "-q", "--config", &cfg]);
    out.expect_code(0, "quarantine from the config");
    assert_eq!(out.stdout, "", "-q prints nothing on stdout");
    assert!(qfile.join("manifest.jsonl").is_file());
    assert!(!qflag.exists(), "a dry run touches nothing");
    let after = scan_with(&["--across-folders", &s(&demo)], &[]);
    assert_eq!(summary(&after, "same_time"), 0);
    assert_eq!(
        summary(&after, "different_time"),
        4,
        "different-time copies stay"
    );
}

#[test]
fn config_unknown_key_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        &dir.path().join("maildedup.toml"),
        "keep = \"latest\"\nsame-time-windw = 3\n",
    );
    let out = md(["scan", "--config", &cfg, &s(&repo().join("demo"))]);
    out.expect_code(2, "unknown key");
    assert!(out.stderr.contains("`same-time-windw`"), "{}", out.show());
    assert!(
        out.stderr.contains(&cfg),
        "the error names the file: {}",
        out.show()
    );
    assert_eq!(out.stdout, "");
    // The same from the default location.
    let xdg = dir.path().join("xdg");
    let cfg = write_config(&xdg.join("maildedup/maildedup.toml"), "frobnicate = true\n");
    let out = md_env(
        ["scan", &s(&repo().join("demo"))],
        &[("XDG_CONFIG_HOME", xdg.to_str().unwrap())],
    );
    out.expect_code(2, "unknown key in the default file");
    assert!(
        out.stderr.contains("`frobnicate`") && out.stderr.contains(&cfg),
        "{}",
        out.show()
    );
}

#[test]
fn config_bad_value_and_bad_toml_name_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let demo = s(&repo().join("demo"));
    let cfg = write_config(&dir.path().join("a.toml"), "keep = \"middle\"\n");
    let out = md(["scan", "--config", &cfg, &demo]);
    out.expect_code(2, "bad value");
    assert!(
        out.stderr.contains("`keep`") && out.stderr.contains("middle") && out.stderr.contains(&cfg),
        "{}",
        out.show()
    );
    let cfg = write_config(&dir.path().join("b.toml"), "same_time_window = \"soon\"\n");
    let out = md(["scan", "--config", &cfg, &demo]);
    out.expect_code(2, "bad number");
    assert!(out.stderr.contains("`same_time_window`"), "{}", out.show());
    let cfg = write_config(&dir.path().join("c.toml"), "paths = [\n");
    let out = md(["scan", "--config", &cfg, &demo]);
    out.expect_code(2, "not TOML");
    assert!(out.stderr.contains(&cfg), "{}", out.show());
}

#[test]
fn missing_config_file_is_an_error_but_a_missing_default_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let demo = s(&repo().join("demo"));
    let out = md(["scan", "--config", &s(&missing), &demo]);
    out.expect_code(2, "missing --config file");
    assert!(out.stderr.contains(&s(&missing)), "{}", out.show());
    // XDG_CONFIG_HOME exists but holds no maildedup.toml.
    let out = md_env(
        ["scan", "--no-progress", &demo],
        &[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())],
    );
    out.expect_code(0, "no default config file");
    // completions and man never read the config.
    let bad = write_config(&dir.path().join("bad.toml"), "nonsense = 1\n");
    md(["completions", "bash", "--config", &bad]).expect_code(0, "completions ignore the config");
    md(["man", "--config", &bad]).expect_code(0, "man ignores the config");
}

#[test]
fn the_example_config_in_contrib_is_valid() {
    let out = md([
        "scan",
        "--no-progress",
        "--config",
        &s(&repo().join("contrib/maildedup.toml")),
        &s(&repo().join("demo")),
    ]);
    out.expect_code(0, "scan with contrib/maildedup.toml");
}

// ---------------------------------------------------------------------------------------
// --log, --check, -q, -v

fn log_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn log_appends_one_json_line_per_run() {
    let (dir, demo) = demo_copy();
    let log = dir.path().join("state/sub/runs.jsonl");
    let qdir = dir.path().join("q");
    let (d, l, q) = (s(&demo), s(&log), s(&qdir));
    md(["scan", "-q", "--across-folders", "--log", &l, &d]).expect_code(0, "scan --log");
    let recs = log_lines(&log);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(log.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    md(["scan", "-q", "--check", "--log", &l, &d]).expect_code(1, "scan --check --log");
    md([
        "quarantine",
        "-q",
        "--no-progress",
        "--only",
        "same-time",
        "--across-folders",
        "--to",
        &q,
        "--log",
        &l,
        &d,
    ])
    .expect_code(0, "quarantine --log");
    md(["restore", "-q", "--log", &l, &q]).expect_code(0, "restore --log");
    md(["scan", "--log", &l, &s(&dir.path().join("no-such-store"))]).expect_code(2, "bad path");
    let recs = log_lines(&log);
    assert_eq!(recs.len(), 5, "one line per run, appended");
    for r in &recs {
        let t = r["time"].as_str().unwrap();
        t.parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("time {t} is not RFC 3339: {e}"));
        assert_eq!(r["version"], 1);
        assert!(r["paths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.as_str().unwrap().starts_with('/')));
        assert!(
            r["errors"].is_array() && r["duration_secs"].is_number(),
            "{r}"
        );
    }
    let cmds: Vec<_> = recs
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(cmds, ["scan", "scan", "quarantine", "restore", "scan"]);
    let codes: Vec<_> = recs
        .iter()
        .map(|r| r["exit_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [0, 1, 0, 0, 2]);
    assert_eq!(recs[0]["paths"][0], d);
    assert_eq!(recs[0]["summary"]["groups"], 6);
    assert_eq!(recs[0]["summary"]["extra_copies"], 8);
    assert_eq!(recs[2]["summary"]["moved"], 4);
    assert_eq!(recs[2]["only"], "same-time");
    assert_eq!(recs[2]["qdir"], q);
    assert_eq!(recs[3]["summary"]["restored"], 4);
    assert_eq!(recs[0]["errors"].as_array().unwrap().len(), 0);
    let err = recs[4]["errors"][0].as_str().unwrap();
    assert!(err.contains("no-such-store"), "{err}");
}

#[test]
fn an_unwritable_log_stops_the_run_before_it_starts() {
    let (dir, demo) = demo_copy();
    let blocker = dir.path().join("file");
    fs::write(&blocker, "not a folder").unwrap();
    let qdir = dir.path().join("q");
    let out = md([
        "quarantine",
        "--no-progress",
        "--to",
        &s(&qdir),
        "--log",
        &s(&blocker.join("runs.jsonl")),
        &s(&demo),
    ]);
    out.expect_code(2, "log under a file");
    assert!(
        out.stderr.contains("runs.jsonl") || out.stderr.contains("file"),
        "{}",
        out.show()
    );
    assert!(!qdir.exists(), "nothing was quarantined");
}

#[test]
fn check_exit_codes() {
    let demo = repo().join("demo");
    md(["scan", "--check", "-q", &s(&demo)]).expect_code(1, "duplicates found");
    // A store with a conflict but no duplicate group.
    md([
        "scan",
        "--check",
        "-q",
        &s(&demo.join("Maildir/.Lists.rust-users")),
    ])
    .expect_code(0, "no duplicates");
    md(["scan", "--check", "-q", "/nonexistent/maildedup-store"]).expect_code(2, "fatal");
}

#[test]
fn quiet_prints_nothing_on_stdout() {
    let (dir, demo) = demo_copy();
    let q = s(&dir.path().join("q"));
    let d = s(&demo);
    for args in [
        vec!["scan", "-q", &d],
        vec!["scan", "-q", "-v", &d],
        vec!["quarantine", "-q", "--dry-run", "--to", &q, &d],
        vec!["quarantine", "-q", "--to", &q, &d],
        vec!["restore", "-q", "--dry-run", &q],
        vec!["restore", "-q", &q],
    ] {
        let out = md(&args);
        assert!(matches!(out.code, Some(0 | 1)), "{args:?}: {}", out.show());
        assert_eq!(out.stdout, "", "{args:?} printed on stdout");
        assert_eq!(out.stderr, "", "{args:?} printed on stderr");
    }
    md(["quarantine", "-q", "--json", "--to", &q, &d]).expect_code(2, "-q conflicts with --json");
}

#[test]
fn off_a_terminal_only_the_summary_and_verbose_explains_per_store() {
    let demo = s(&repo().join("demo"));
    let out = md(["scan", "--across-folders", &demo]);
    out.expect_code(0, "scan");
    assert!(
        out.stdout.starts_with("Scanned 30 messages"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Largest groups"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 5, "{}", out.stdout);
    let out = md(["scan", "--largest", "2", &demo]);
    assert!(out.stdout.contains("Largest groups"), "{}", out.stdout);
    let out = md(["scan", "-v", "--across-folders", &demo]);
    out.expect_code(0, "scan -v");
    let text = &out.stdout;
    assert!(text.contains("Per store:"), "{text}");
    assert!(
        text.contains("Conflicts:\n") && text.contains("Skipped:\n"),
        "{text}"
    );
    // One row per store, with its counts: messages groups extras same diff conflicts skipped.
    let row = |suffix: &str| -> Vec<u64> {
        let line = text
            .lines()
            .find(|l| l.ends_with(suffix))
            .unwrap_or_else(|| panic!("no row for {suffix}:\n{text}"));
        line.split_whitespace()
            .take(7)
            .map(|n| n.parse().unwrap())
            .collect()
    };
    assert_eq!(
        row("demo/Maildir/.Lists.rust-users (Maildir)"),
        [4, 0, 0, 0, 0, 1, 0]
    );
    assert_eq!(
        row("demo/mbox/archive-2023.mbox (mbox)"),
        [6, 3, 3, 1, 2, 0, 0]
    );
    let rows: u64 = text
        .lines()
        .filter(|l| l.ends_with("(Maildir)") || l.ends_with("(mbox)"))
        .map(|l| l.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(rows, 30, "the rows add up to the messages scanned");
}

// ---------------------------------------------------------------------------------------
// Colour

const ESC: char = '\u{1b}';

#[test]
fn no_escape_codes_off_a_terminal_or_with_no_color() {
    let demo = s(&repo().join("demo"));
    for env in [
        vec![],
        vec![("NO_COLOR", "1")],
        vec![("TERM", "xterm-256color")],
    ] {
        for args in [
            vec!["scan", "-v", "--largest", "5", &demo],
            vec!["scan", "--help"],
            vec!["quarantine", "--help"],
            vec!["scan", "--keep", "sometimes", &demo],
        ] {
            let out = md_env(&args, &env);
            assert!(
                !out.stdout.contains(ESC) && !out.stderr.contains(ESC),
                "{args:?} {env:?} wrote escape codes:\n{}",
                out.show()
            );
        }
    }
}

/// Runs `maildedup ARGS` on a pseudo-terminal (util-linux `script`), returning what the
/// terminal showed; `None` when `script` is not installed.
fn on_tty(args: &str, env: &[(&str, &str)]) -> Option<String> {
    // Not through `md`: the binary must run on a terminal, which `script` provides; it
    // passes its environment on, so `test_env` gives the run the tests' environment.
    let mut cmd = std::process::Command::new("script");
    test_env(&mut cmd);
    cmd.args(["-qec", &format!("{} {args}", s(&bin_path())), "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    let demo = s(&repo().join("demo"));
    let scan = format!("scan --no-progress --largest 3 -v {demo}");
    let Some(coloured) = on_tty(&scan, &[]) else {
        println!("skipped: `script` is not available");
        return;
    };
    assert!(
        coloured.contains(ESC),
        "a terminal gets colour:\n{coloured}"
    );
    assert!(coloured.contains("\u{1b}[1mLargest groups:"), "{coloured}");
    let plain = on_tty(&scan, &[("NO_COLOR", "1")]).unwrap();
    assert!(!plain.contains(ESC), "NO_COLOR on a terminal:\n{plain}");
    assert!(plain.contains("Largest groups:"), "{plain}");
    let plain = on_tty(&scan, &[("TERM", "dumb")]).unwrap();
    assert!(!plain.contains(ESC), "TERM=dumb:\n{plain}");
    // clap's help follows the same rule.
    let help = on_tty("scan --help", &[]).unwrap();
    assert!(help.contains(ESC), "help on a terminal is styled");
    let help = on_tty("scan --help", &[("NO_COLOR", "1")]).unwrap();
    assert!(!help.contains(ESC), "help with NO_COLOR:\n{help}");
}

/// `quarantine` and `restore` show their progress (copies and bytes of the total, the
/// store, the time left) on a terminal, and print nothing on a stderr that is not one.
#[test]
fn quarantine_and_restore_progress_only_on_a_terminal() {
    let (_td, root) = canonical_tempdir();
    let store = root.join("store");
    let q = root.join("q");
    copy_dir(&repo().join("demo"), &store);
    // Not a terminal (a pipe): no progress, nor anything else, on stderr.
    let out = md(["quarantine", &s(&store), "--to", &s(&q)]);
    out.expect_code(0, "quarantine");
    assert_eq!(out.stderr, "", "quarantine, stderr a pipe:\n{}", out.show());
    let out = md(["restore", &s(&q)]);
    out.expect_code(0, "restore");
    assert_eq!(out.stderr, "", "restore, stderr a pipe:\n{}", out.show());
    // On a terminal: the bar, its counts and the store.
    let tty = |args: String| on_tty(&args, &[]);
    let Some(shown) = tty(format!("quarantine {} --to {}", s(&store), s(&q))) else {
        println!("skipped: `script` is not available");
        return;
    };
    assert!(shown.contains("quarantine ["), "{shown}");
    assert!(shown.contains("3/3 copies"), "{shown}");
    assert!(shown.contains("3.83 KiB/3.83 KiB"), "{shown}");
    // The store worked on, its path's end (the line is cut to the terminal's width).
    assert!(shown.contains("copies · …/store/mbox/"), "{shown}");
    let shown = tty(format!("restore {}", s(&q))).unwrap_or_default();
    assert!(shown.contains("restore ["), "{shown}");
    assert!(shown.contains("3/3 copies"), "{shown}");
    // --no-progress on a terminal: none.
    let shown = on_tty(
        &format!("quarantine --no-progress {} --to {}", s(&store), s(&q)),
        &[],
    )
    .unwrap_or_default();
    assert!(shown.contains("Moved 3 extra copies"), "{shown}");
    assert!(!shown.contains("copies ·"), "{shown}");
    let shown = tty(format!("restore --no-progress {}", s(&q))).unwrap_or_default();
    assert!(shown.contains("Restored 3 copies"), "{shown}");
    assert!(!shown.contains("restore ["), "{shown}");
}

// ---------------------------------------------------------------------------------------
// contrib/: docs/scheduled-use.md shows the files as they are; systemd accepts the units

/// The fenced block that follows `<!-- REL -->` in the scheduled-use guide.
fn readme_block(readme: &str, rel: &str) -> Option<String> {
    let marker = format!("<!-- {rel} -->\n```");
    let start = readme.find(&marker)? + marker.len();
    let body = start + readme[start..].find('\n')? + 1;
    let end = body + readme[body..].find("\n```\n")? + 1;
    Some(readme[body..end].to_string())
}

fn contrib_files() -> Vec<String> {
    let mut files = vec!["contrib/maildedup.toml".to_string()];
    for sub in ["contrib/systemd", "contrib/cron"] {
        let mut names: Vec<String> = fs::read_dir(repo().join(sub))
            .unwrap()
            .map(|e| format!("{sub}/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        names.sort();
        files.extend(names);
    }
    files
}

#[test]
fn readme_shows_the_contrib_files_as_they_are() {
    // The guide the README links for scheduled use (docs/scheduled-use.md) shows them.
    let readme = fs::read_to_string(repo().join("docs/scheduled-use.md")).unwrap();
    let files = contrib_files();
    assert!(files.len() >= 6, "{files:?}");
    for rel in files {
        let file = fs::read_to_string(repo().join(&rel)).unwrap();
        let shown = readme_block(&readme, &rel)
            .unwrap_or_else(|| panic!("docs/scheduled-use.md has no block after <!-- {rel} -->"));
        assert_eq!(
            shown, file,
            "docs/scheduled-use.md's copy of {rel} differs from the file"
        );
    }
}

#[test]
fn systemd_units_verify() {
    let units: Vec<String> = contrib_files()
        .into_iter()
        .filter(|f| f.starts_with("contrib/systemd/"))
        .collect();
    for u in &units {
        let text = fs::read_to_string(repo().join(u)).unwrap();
        if u.ends_with(".service") {
            assert!(text.contains("ExecStart=%h/.cargo/bin/maildedup "), "{u}");
        }
    }
    let nightly =
        fs::read_to_string(repo().join("contrib/systemd/maildedup-nightly.service")).unwrap();
    assert!(
        nightly.contains("quarantine --only same-time"),
        "the nightly run moves same-time copies only"
    );
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipped: systemd-analyze not installed");
        return;
    }
    // Verified as installed, with the binary where the units expect it.
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for u in &units {
        let text = fs::read_to_string(repo().join(u))
            .unwrap()
            .replace("%h/.cargo/bin/maildedup", &s(&bin_path()));
        let name = Path::new(u).file_name().unwrap();
        let p = dir.path().join(name);
        fs::write(&p, text).unwrap();
        paths.push(s(&p));
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("maildedup")).collect();
    assert!(ours.is_empty(), "systemd-analyze verify warns: {ours:?}");
}

/// Every file under `dir`, relative, sorted.
fn tree_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| s(e.path().strip_prefix(dir).unwrap()))
        .collect();
    v.sort();
    v
}

/// The quarantine folder may not be inside a scanned path, however it is spelled: behind
/// a symlink or `x/..` (the folder not created yet), or from the config file relative to
/// the file's folder. Each run is refused (exit 2) and creates nothing.
#[test]
fn a_quarantine_folder_inside_a_scanned_path_is_refused_however_it_is_spelled() {
    let (dir, demo) = demo_copy();
    let root = dir.path();
    fs::create_dir(root.join("x")).unwrap();
    std::os::unix::fs::symlink(&demo, root.join("link")).unwrap();
    let before = tree_files(&demo);
    let cache = root.join("cache");
    let spellings = [
        demo.join("q"),
        root.join("x/../demo/q"),
        root.join("link/q"),
        root.join("link/new/../q"),
    ];
    for to in &spellings {
        let out = md([
            "quarantine",
            "--no-progress",
            "--cache",
            &s(&cache),
            &s(&demo),
            "--to",
            &s(to),
        ]);
        out.expect_code(2, &format!("--to {}", to.display()));
        assert!(
            out.stderr.contains("must not be inside"),
            "--to {}: {}",
            to.display(),
            out.show()
        );
        assert_eq!(tree_files(&demo), before, "--to {}", to.display());
    }
    // From the config file: `to` relative to the file's folder, through the symlink.
    let conf = write_config(
        &root.join("etc").join("maildedup.toml"),
        "paths = [\"../demo\"]\nto = \"../link/quarantine\"\nno_cache = true\n",
    );
    let out = md(["--config", &conf, "quarantine", "--no-progress"]);
    out.expect_code(2, "to from the config file");
    assert!(out.stderr.contains("must not be inside"), "{}", out.show());
    assert_eq!(tree_files(&demo), before);
}

/// A Maildir folder that cannot be listed (here `cur` is a file: "Not a directory", which
/// root cannot bypass as it can permissions) is named on stderr by `scan -q` and by
/// `quarantine -q` (whose stdout stays empty), and in the run log's `errors`.
#[test]
fn quiet_runs_still_name_what_could_not_be_read() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("M");
    fs::create_dir_all(store.join("new")).unwrap();
    fs::write(store.join("cur"), "not a folder\n").unwrap();
    let m = "Message-ID: <q@example.org>\nSubject: s\n\nhi\n";
    fs::write(store.join("new").join("1.M1.host"), m).unwrap();
    fs::write(store.join("new").join("2.M2.host"), m).unwrap();
    let log = tmp.path().join("runs.jsonl");
    let out = md(["scan", "-q", "--check", "--no-cache", &s(&store)]);
    // Exit 4 (incomplete) wins over 1 (duplicates): a folder could not be listed.
    out.expect_code(4, "scan -q --check");
    assert!(out.stdout.is_empty(), "{}", out.show());
    assert!(
        out.stderr.contains("skipped: ") && out.stderr.contains("cannot list"),
        "scan -q hides the unreadable folder\n{}",
        out.show()
    );
    let q = tmp.path().join("q");
    let out = md([
        "quarantine",
        "-q",
        "--no-cache",
        "--log",
        &s(&log),
        &s(&store),
        "--to",
        &s(&q),
    ]);
    out.expect_code(4, "quarantine -q");
    assert!(out.stdout.is_empty(), "{}", out.show());
    assert_eq!(
        out.stderr.matches("cannot list").count(),
        1,
        "quarantine -q: the unreadable folder named once\n{}",
        out.show()
    );
    let rec: Value = serde_json::from_str(fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert!(
        rec["errors"].to_string().contains("cannot list"),
        "run log: {rec}"
    );
}

/// `--log` never appends to a file that is not a run log (a mistyped path naming an mbox
/// would put a JSON line into its last message): the run stops first (exit 2) and the
/// file is unchanged. `--log /dev/null` works (a device has nothing to fsync).
#[test]
fn the_run_log_refuses_a_mail_file_and_accepts_dev_null() {
    let (dir, demo) = demo_copy();
    let mbox = dir.path().join("archive.mbox");
    let mail = "From ann@example.org Mon Jan  1 00:00:00 2024\nSubject: x\n\nhi\n";
    fs::write(&mbox, mail).unwrap();
    let out = md(["scan", "-q", "--no-cache", "--log", &s(&mbox), &s(&demo)]);
    out.expect_code(2, "--log naming an mbox");
    assert!(
        out.stderr.contains("not a maildedup run log"),
        "{}",
        out.show()
    );
    assert_eq!(fs::read_to_string(&mbox).unwrap(), mail);
    let log = dir.path().join("runs.jsonl");
    for _ in 0..2 {
        md(["scan", "-q", "--no-cache", "--log", &s(&log), &s(&demo)]).expect_code(0, "log");
    }
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 2);
    md(["scan", "-q", "--no-cache", "--log", "/dev/null", &s(&demo)])
        .expect_code(0, "--log /dev/null");
}

/// A flag on the command line wins over the file: `--cache DIR` over `no_cache = true`
/// (clap's conflict between the two only sees the command line), and `--no-cache` over
/// `cache = DIR`.
#[test]
fn cache_flags_on_the_command_line_win_over_the_config_file() {
    let (dir, demo) = demo_copy();
    let root = dir.path();
    let off = write_config(&root.join("off.toml"), "no_cache = true\n");
    let cache = root.join("cli-cache");
    md([
        "--config",
        &off,
        "scan",
        "-q",
        "--cache",
        &s(&cache),
        &s(&demo),
    ])
    .expect_code(0, "--cache over no_cache");
    assert!(
        cache.join("fingerprints.redb").exists(),
        "--cache DIR on the command line was ignored"
    );
    let file_cache = root.join("file-cache");
    let on = write_config(
        &root.join("on.toml"),
        &format!("cache = \"{}\"\n", s(&file_cache)),
    );
    md(["--config", &on, "scan", "-q", "--no-cache", &s(&demo)])
        .expect_code(0, "--no-cache over cache");
    assert!(
        !file_cache.exists(),
        "--no-cache on the command line was ignored"
    );
}
