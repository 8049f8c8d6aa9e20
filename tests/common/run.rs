//! Running the binary: every run gets the same environment (no user config, the tests'
//! own cache folder, no fault injection), so no test reads or writes the user's files.
#![allow(dead_code)]

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The output of one run of the binary.
#[derive(Debug)]
pub struct Out {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn show(&self) -> String {
        format!(
            "exit {:?} signal {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.show()))
    }

    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: unexpected exit\n{}",
            self.show()
        );
        self
    }
}

/// `XDG_CONFIG_HOME` for every run of the binary in the tests: a folder that does not
/// exist, so no test ever reads the real user's `maildedup.toml`.
pub const NO_CONFIG_HOME: &str = "/nonexistent/maildedup-tests/xdg-config";

/// The fingerprint cache folder tests use (`XDG_CACHE_HOME` of every run), so that no
/// test writes into the real `~/.cache/maildedup`.
pub fn test_cache_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache")
}

pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("maildedup")
}

/// Gives `cmd` the environment every run of the binary in the tests has: no user config
/// (`XDG_CONFIG_HOME` points nowhere), the tests' own fingerprint cache, and no fault
/// injection. For runs that need a special invocation (a wrapper such as `setpriv`, a
/// child that is killed, stdin, a working folder), on whatever command runs the binary.
pub fn test_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("XDG_CONFIG_HOME", NO_CONFIG_HOME)
        .env("XDG_CACHE_HOME", test_cache_home())
        .env_remove("MAILDEDUP_FAULT_AT")
        .env_remove("MAILDEDUP_FAULT_COUNT")
}

/// The binary as a command with the tests' environment ([`test_env`]) and no arguments
/// yet: for runs that need more than [`md_env`] offers (a working folder, stdin, a child
/// to kill). Add `.env(..)` after it to override.
pub fn md_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(bin_path());
    test_env(&mut cmd);
    cmd
}

/// [`md_cmd`] as an `assert_cmd` command, for runs that need its `.timeout(..)`.
pub fn md_timed_cmd() -> assert_cmd::Command {
    assert_cmd::Command::from_std(md_cmd())
}

/// Whether the tests run as root (who is not denied by permission bits).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// [`md_cmd`], but run as user nobody (65534, through `setpriv`) when the tests run as
/// root, so that permission bits deny it what they would deny a user; as the current user
/// otherwise. Nobody cannot write the tests' cache folder: pass `--no-cache` or set
/// `XDG_CACHE_HOME` to a folder nobody owns.
pub fn md_cmd_unprivileged() -> std::process::Command {
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin_path());
        c
    } else {
        std::process::Command::new(bin_path())
    };
    test_env(&mut cmd);
    cmd
}

impl From<std::process::Output> for Out {
    fn from(out: std::process::Output) -> Out {
        use std::os::unix::process::ExitStatusExt;
        Out {
            code: out.status.code(),
            signal: out.status.signal(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `maildedup ARGS` with extra environment variables.
pub fn md_env<I, S>(args: I, env: &[(&str, &str)]) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = md_cmd();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Out::from(cmd.output().expect("run maildedup"))
}

pub fn md<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    md_env(args, &[])
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `maildedup scan --json PATHS` (with `--across-folders`), which must exit 0.
pub fn scan_json(paths: &[&Path]) -> Value {
    // `--across-folders`: these tests' trees hold one message in several folders and
    // were written for one kept copy per group (issue 14 made the folder rule the default;
    // tests/folder_rule.rs runs without it).
    scan_json_with(&["--across-folders"], paths)
}

/// `maildedup scan --json --no-progress FLAGS PATHS`, which must exit 0.
pub fn scan_json_with(flags: &[&str], paths: &[&Path]) -> Value {
    let mut args = vec![
        "scan".to_string(),
        "--json".to_string(),
        "--no-progress".to_string(),
    ];
    args.extend(flags.iter().map(|x| x.to_string()));
    args.extend(paths.iter().map(|p| s(p)));
    let out = md(&args);
    out.expect_code(0, "scan");
    out.json()
}

/// `maildedup quarantine PATHS --to QDIR EXTRA...` (with `--across-folders`).
pub fn quarantine(paths: &[&Path], qdir: &Path, extra: &[&str]) -> Out {
    quarantine_env(paths, qdir, extra, &[])
}

pub fn quarantine_env(paths: &[&Path], qdir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Out {
    // `--across-folders`: see `scan_json`.
    quarantine_with(&["--across-folders"], paths, qdir, extra, env)
}

/// `maildedup quarantine --no-progress FLAGS PATHS --to QDIR EXTRA...` with extra
/// environment variables.
pub fn quarantine_with(
    flags: &[&str],
    paths: &[&Path],
    qdir: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Out {
    let mut args = vec!["quarantine".to_string(), "--no-progress".to_string()];
    args.extend(flags.iter().map(|x| x.to_string()));
    args.extend(paths.iter().map(|p| s(p)));
    args.push("--to".into());
    args.push(s(qdir));
    args.extend(extra.iter().map(|x| x.to_string()));
    md_env(&args, env)
}

pub fn restore(qdir: &Path, extra: &[&str]) -> Out {
    restore_env(qdir, extra, &[])
}

pub fn restore_env(qdir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Out {
    let mut args = vec!["restore".to_string(), s(qdir)];
    args.extend(extra.iter().map(|x| x.to_string()));
    md_env(&args, env)
}
