//! The edges a cron job and a new user hit (issue 18): a PATH that yields no store, files
//! that cannot be read, the exit codes that say so (and the README's table of them), one
//! error for a missing PATH, TOML errors on real lines, plurals and thousands separators,
//! `--color`, and a man page per subcommand written by `man --dir`.

mod common;

use common::*;
use std::fs;
use std::path::Path;

#[test]
fn a_missing_path_is_named_and_the_others_are_still_scanned() {
    let (dir, demo) = demo_copy();
    let missing = dir.path().join("not-mounted");
    let out = md(["scan", "--no-cache", &s(&demo), &s(&missing)]);
    out.expect_code(4, "scan demo + a missing PATH");
    assert!(out.stdout.contains("Scanned 30 messages"), "{}", out.show());
    assert!(
        out.stderr
            .contains(&format!("{}: no such file or directory", s(&missing))),
        "{}",
        out.show()
    );
    assert!(out.stderr.contains("incomplete"), "{}", out.show());
    // --check -q in cron: exit 4 (not 0, not 1) and the error on stderr.
    let out = md([
        "scan",
        "--check",
        "-q",
        "--no-cache",
        &s(&demo),
        &s(&missing),
    ]);
    out.expect_code(4, "scan --check -q with a missing PATH");
    assert!(out.stdout.is_empty(), "{}", out.show());
    assert!(out.stderr.contains(&s(&missing)), "{}", out.show());
    // quarantine goes on with the rest and says so too.
    let q = dir.path().join("Q");
    let out = md([
        "quarantine",
        "--no-cache",
        &s(&demo),
        &s(&missing),
        "--to",
        &s(&q),
    ]);
    out.expect_code(4, "quarantine demo + a missing PATH");
    assert!(out.stderr.contains(&s(&missing)), "{}", out.show());
    assert!(out.stdout.contains("Moved "), "{}", out.show());
}

#[test]
fn a_path_without_any_store_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-folder");
    fs::create_dir(&empty).unwrap();
    let text = dir.path().join("notes.txt");
    fs::write(&text, "just some text\n").unwrap();
    let missing = dir.path().join("typo");
    for (path, says) in [
        (&empty, "no mail store found in this folder"),
        (&text, "not a mail store"),
        (&missing, "no such file or directory"),
    ] {
        let out = md(["scan", "--check", "-q", "--no-cache", &s(path)]);
        out.expect_code(2, &format!("scan {}", s(path)));
        assert!(
            out.stderr.contains(&format!("{}: {says}", s(path))),
            "{}",
            out.show()
        );
    }
    // An empty mbox is a mailbox whose mail was all read: no error.
    let mbox = dir.path().join("alice");
    fs::write(&mbox, "").unwrap();
    md(["scan", "--check", "-q", "--no-cache", &s(&mbox)]).expect_code(0, "an empty mbox");
}

#[test]
fn unreadable_files_make_the_run_incomplete() {
    let (dir, demo) = demo_copy();
    let victim = fs::read_dir(demo.join("Maildir/cur"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let root = rustix::process::geteuid().is_root();
    let args = ["scan", "--check", "-q", "--no-cache", &s(&demo)];
    let out = if root {
        // Root reads every file: run as nobody, who can read all of the copy but that file.
        let mut mode = dir.path().to_path_buf();
        loop {
            let _ = fs::set_permissions(&mode, std::os::unix::fs::PermissionsExt::from_mode(0o755));
            if !mode.pop() || mode == Path::new("/") {
                break;
            }
        }
        if std::process::Command::new("setpriv")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("skipped: setpriv missing (util-linux), cannot drop root");
            return;
        }
        Out::from(md_cmd_unprivileged().args(args).output().unwrap())
    } else {
        md(args)
    };
    if root && out.stderr.contains("Permission denied") && !out.stderr.contains(&s(&victim)) {
        // The binary or the copy is not reachable for nobody on this machine.
        println!("skipped: nobody cannot reach the test tree: {}", out.show());
        return;
    }
    out.expect_code(4, "scan --check with an unreadable file");
    assert!(out.stderr.contains(&s(&victim)), "{}", out.show());
    assert!(
        out.stderr.contains("1 file or folder could not be read"),
        "{}",
        out.show()
    );
}

#[test]
fn no_path_is_one_error_not_two() {
    let out = md(["scan"]);
    out.expect_code(2, "scan without PATH");
    assert_eq!(out.stderr.matches("error").count(), 1, "{}", out.show());
    assert!(out.stderr.contains("no PATH given"), "{}", out.show());
    assert!(
        out.stderr.contains("Usage: maildedup scan"),
        "{}",
        out.show()
    );
}

#[test]
fn a_toml_error_prints_on_lines_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.toml");
    fs::write(&conf, "paths = [\n").unwrap();
    let out = md(["scan", "--config", &s(&conf), &s(&repo().join("demo"))]);
    out.expect_code(2, "bad TOML");
    assert!(!out.stderr.contains("\\n"), "literal \\n:\n{}", out.show());
    assert!(out.stderr.lines().count() >= 3, "{}", out.show());
    assert!(out.stderr.contains(&s(&conf)), "{}", out.show());
}

#[test]
fn scan_help_says_it_writes_the_cache() {
    let out = md(["scan", "--help"]);
    out.expect_code(0, "scan --help");
    assert!(out.stdout.contains("fingerprint cache"), "{}", out.show());
}

#[test]
fn counts_are_pluralised_and_grouped_by_thousands() {
    let dir = tempfile::tempdir().unwrap();
    let md_dir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md_dir.join(sub)).unwrap();
    }
    fs::write(
        md_dir.join("cur/1700000000.M1P1.host:2,S"),
        "From: a@example.org\nMessage-ID: <one@example.org>\nSubject: x\n\nbody\n",
    )
    .unwrap();
    let out = md(["scan", "--no-cache", &s(&md_dir)]);
    out.expect_code(0, "scan one message");
    assert!(
        out.stdout.contains("Scanned 1 message in 1 store ("),
        "{}",
        out.show()
    );
    assert!(out.stdout.contains("0 mixed groups"), "{}", out.show());
}

#[test]
fn color_flag_chooses_colour() {
    let demo = repo().join("demo");
    let always = md([
        "scan",
        "--color",
        "always",
        "--no-cache",
        "--largest",
        "2",
        &s(&demo),
    ]);
    always.expect_code(0, "--color always");
    assert!(always.stdout.contains("\x1b["), "{}", always.show());
    let never = md_env(
        [
            "scan",
            "--color=never",
            "--no-cache",
            "--largest",
            "2",
            &s(&demo),
        ],
        &[("TERM", "xterm")],
    );
    never.expect_code(0, "--color never");
    assert!(!never.stdout.contains('\x1b'), "{}", never.show());
    // NO_COLOR turns off auto, not always.
    let forced = md_env(
        [
            "scan",
            "--color",
            "always",
            "--no-cache",
            "--largest",
            "2",
            &s(&demo),
        ],
        &[("NO_COLOR", "1")],
    );
    assert!(forced.stdout.contains("\x1b["), "{}", forced.show());
    md(["scan", "--color", "sometimes", &s(&demo)]).expect_code(2, "--color sometimes");
}

#[test]
fn man_dir_writes_a_page_per_subcommand_with_the_sections_of_a_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = md(["man", "--dir", &s(dir.path())]);
    out.expect_code(0, "man --dir");
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "maildedup-completions.1",
            "maildedup-man.1",
            "maildedup-quarantine.1",
            "maildedup-report-merge.1",
            "maildedup-restore.1",
            "maildedup-scan.1",
            "maildedup.1"
        ]
    );
    for name in [
        "maildedup.1",
        "maildedup-scan.1",
        "maildedup-quarantine.1",
        "maildedup-restore.1",
    ] {
        let page = fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.starts_with(".TH "), "{name}");
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH ENVIRONMENT",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(page.contains(section), "{name} lacks {section}");
        }
        assert!(!page.contains("EXTRA"), "{name} has clap's EXTRA heading");
        assert!(
            page.contains("NO_COLOR") && page.contains("XDG_CACHE_HOME"),
            "{name}"
        );
    }
    for name in [
        "maildedup-scan.1",
        "maildedup-quarantine.1",
        "maildedup-restore.1",
    ] {
        let page = fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.contains(".SH EXAMPLES"), "{name} lacks EXAMPLES");
    }
    // Every page names only pages that exist.
    let main = fs::read_to_string(dir.path().join("maildedup.1")).unwrap();
    for sub in ["scan", "quarantine", "restore", "completions", "man"] {
        assert!(
            main.contains(&format!("maildedup\\-{sub}")),
            "SEE ALSO lacks {sub}"
        );
    }
    match std::process::Command::new("man")
        .arg("-l")
        .arg(dir.path().join("maildedup-quarantine.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
    {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(text.contains("EXIT STATUS"), "{text}");
        }
        Ok(o) => panic!("man -l failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => println!("skipped: man not installed"),
    }
}

/// The README's exit-code table lists exactly the codes these tests assert, and the man
/// page's EXIT STATUS the same ones.
#[test]
fn readme_exit_codes_match_the_tool() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("### Exit codes")
        .expect("README has ### Exit codes");
    let codes: Vec<String> = readme[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1).map(|c| c.trim().to_string()))
        .filter(|c| c.chars().all(|ch| ch.is_ascii_digit()) && !c.is_empty())
        .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4"], "README exit codes");
    let page = md(["man"]).stdout;
    for c in &codes {
        assert!(
            page.contains(&format!(".B {c}\n")),
            "man page lacks exit code {c}"
        );
    }
}
