//! `maildedup.toml`: the options a scheduled run repeats (paths, quarantine folder, keep
//! policy, window, ...), so that a crontab line or a systemd unit stays short.
//!
//! The file is read before the command line is parsed, and each key becomes the default
//! value of the command-line argument of the same name. So a flag on the command line
//! wins over the file, the file wins over the built-in default, and every value goes
//! through the same parser (and error messages) as its flag. `--help` is always rendered
//! from the built-in definitions, so it shows the built-in defaults.

use anyhow::{bail, Context};
use clap::Command;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How a key's TOML value becomes command-line values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string, number or boolean, or an array of them, passed on as it is written.
    Value,
    /// A path, or an array of paths: `~/` is the home folder, and a relative path is
    /// relative to the folder holding the config file.
    Path,
}

/// The keys a config file may hold. Each is the id of a command-line argument (the field
/// name in `src/cli.rs`; `-` may be written for `_`) and applies to every subcommand that
/// has that argument. Adding a key is one line here.
const KEYS: &[(&str, Kind)] = &[
    ("paths", Kind::Path),
    ("to", Kind::Path),
    ("keep", Kind::Value),
    ("prefer", Kind::Path),
    ("same_time_window", Kind::Value),
    ("across_folders", Kind::Value),
    ("merge_conflicts", Kind::Value),
    ("only", Kind::Value),
    ("mbox_lock", Kind::Value),
    ("lock_timeout", Kind::Value),
    ("log", Kind::Path),
    ("cache", Kind::Path),
    ("no_cache", Kind::Value),
    ("paranoid", Kind::Value),
    ("io_threads", Kind::Value),
    ("jobs", Kind::Value),
    ("fleet_threshold", Kind::Value),
    ("fleet_window", Kind::Value),
    ("imap_pass_cmd", Kind::Value),
    ("imap_ca", Kind::Path),
];

/// The keys, for messages and tests.
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(k, _)| *k)
}

/// A loaded config file: for each key it sets, the values in command-line form.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub values: Vec<(&'static str, Vec<OsString>)>,
}

/// `$XDG_CONFIG_HOME/maildedup/maildedup.toml`, else `~/.config/maildedup/maildedup.toml`.
pub fn default_path() -> Option<PathBuf> {
    Some(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("maildedup.toml"))
}

/// maildedup's folder under an XDG base directory: `$VAR/maildedup` when `VAR` is set
/// and absolute (the spec says to ignore a relative one), else `~/FALLBACK/maildedup`.
pub fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    let base = std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home().map(|h| h.join(fallback)))?;
    Some(base.join("maildedup"))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The `--config` value in `args` (the program name first), without parsing the rest:
/// the config must be read before clap parses, since it supplies clap's defaults.
pub fn config_arg(args: &[OsString]) -> Option<PathBuf> {
    let mut found = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            found = it.next().map(PathBuf::from);
        } else if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            found = Some(PathBuf::from(v));
        }
    }
    found
}

/// Loads the config: `explicit` (from `--config`) must exist; the default file may be
/// missing (then there is no config).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Option<Config>> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("{}: cannot read the config file", path.display()))
        }
    };
    parse(&path, &text).map(Some)
}

/// Parses the text of the config file at `path`.
pub fn parse(path: &Path, text: &str) -> anyhow::Result<Config> {
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut values: Vec<(&'static str, Vec<OsString>)> = Vec::new();
    for (key, value) in &table {
        let norm = key.replace('-', "_");
        let Some(&(name, kind)) = KEYS.iter().find(|(k, _)| *k == norm) else {
            bail!(
                "{}: unknown key `{key}` (known keys: {})",
                path.display(),
                keys().collect::<Vec<_>>().join(", ")
            );
        };
        if values.iter().any(|(k, _)| *k == name) {
            bail!("{}: key `{key}` is given twice", path.display());
        }
        let items: Vec<&toml::Value> = match value {
            toml::Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        let mut vals = Vec::with_capacity(items.len());
        for item in items {
            let s = match item {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => bail!(
                    "{}: key `{key}`: expected a string, number or boolean (or an array of them)",
                    path.display()
                ),
            };
            vals.push(match kind {
                Kind::Value => OsString::from(s),
                Kind::Path => resolve(&s, base).into_os_string(),
            });
        }
        // An empty array sets nothing (`paths = []` leaves PATH... required).
        if !vals.is_empty() {
            values.push((name, vals));
        }
    }
    Ok(Config {
        path: path.to_path_buf(),
        values,
    })
}

/// `~/x` → `$HOME/x`; a relative path → relative to `base`; an IMAP URL as it is.
fn resolve(s: &str, base: &Path) -> PathBuf {
    if crate::store::imap::url::is_imap_url(s) {
        return PathBuf::from(s);
    }
    if let (Some(rest), Some(h)) = (s.strip_prefix("~/"), home()) {
        return h.join(rest);
    }
    if s == "~" {
        if let Some(h) = home() {
            return h;
        }
    }
    let p = PathBuf::from(s);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

impl Config {
    /// Makes each value the default of its argument, in every subcommand of `cmd` that
    /// has it. A value its argument's parser refuses is an error naming the key and file.
    pub fn apply(&self, mut cmd: Command) -> anyhow::Result<Command> {
        for (key, vals) in &self.values {
            for sub in cmd.get_subcommands() {
                let Some(arg) = sub.get_arguments().find(|a| a.get_id() == *key) else {
                    continue;
                };
                for v in vals {
                    if let Err(e) = check_value(arg, v) {
                        bail!("{}: key `{key}`: {}", self.path.display(), clap_message(&e));
                    }
                }
            }
        }
        for (key, vals) in &self.values {
            let names: Vec<String> = cmd
                .get_subcommands()
                .filter(|s| s.get_arguments().any(|a| a.get_id() == *key))
                .map(|s| s.get_name().to_string())
                .collect();
            for name in names {
                let vals = vals.clone();
                cmd = cmd.mut_subcommand(name, |s| {
                    s.mut_arg(*key, |a| a.required(false).default_values(vals))
                });
            }
        }
        Ok(cmd)
    }
}

/// Runs `value` through `arg`'s parser, as `--LONG=VALUE` of a command holding only a
/// copy of it (without the relations to other arguments a copy could not resolve).
fn check_value(arg: &clap::Arg, value: &OsString) -> Result<(), clap::Error> {
    let long = arg.get_long().unwrap_or(arg.get_id().as_str()).to_string();
    let probe = clap::Arg::new("value")
        .long(long.clone())
        .value_name(
            arg.get_value_names()
                .and_then(|n| n.first())
                .map(|n| n.to_string())
                .unwrap_or_else(|| "VALUE".into()),
        )
        .num_args(1)
        .value_parser(arg.get_value_parser().clone());
    let mut flag = OsString::from(format!("--{long}="));
    flag.push(value);
    Command::new("maildedup")
        .arg(probe)
        .try_get_matches_from([OsString::from("maildedup"), flag])
        .map(|_| ())
}

/// The first line of a clap error, without its `error: ` prefix, plus its hint of
/// possible values if any.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid value")
        .trim_start_matches("error: ")
        .to_string();
    match lines.find(|l| l.contains("possible values")) {
        Some(p) => format!("{first} {}", p.trim()),
        None => first,
    }
}

/// The default cache folder: `$XDG_CACHE_HOME/maildedup` (when set and absolute), else
/// `$HOME/.cache/maildedup`.
pub fn default_cache_dir() -> Option<PathBuf> {
    xdg_dir("XDG_CACHE_HOME", ".cache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_key_is_an_argument_of_some_subcommand() {
        let cmd = crate::cli::Cli::command();
        for k in keys() {
            assert!(
                cmd.get_subcommands()
                    .any(|s| s.get_arguments().any(|a| a.get_id() == k)),
                "config key {k} names no argument"
            );
        }
    }

    #[test]
    fn finds_config_arg() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_arg(&a(&["md", "scan", "--config", "x.toml"])),
            Some("x.toml".into())
        );
        assert_eq!(
            config_arg(&a(&["md", "--config=y.toml", "scan"])),
            Some("y.toml".into())
        );
        assert_eq!(config_arg(&a(&["md", "scan", "--", "--config", "z"])), None);
    }

    /// A boolean flag (as `--no-cache` will be) takes `true` from the file.
    #[test]
    fn boolean_flags_take_a_value_from_the_file() {
        let parse_with = |v: &str| {
            let c = Config {
                path: "t.toml".into(),
                values: vec![("hash_all", vec![OsString::from(v)])],
            };
            let m = c
                .apply(crate::cli::Cli::command())
                .unwrap()
                .try_get_matches_from(["maildedup", "scan", "x"])
                .unwrap();
            m.subcommand_matches("scan").unwrap().get_flag("hash_all")
        };
        assert!(parse_with("true"));
        assert!(!parse_with("false"));
        let c = Config {
            path: "t.toml".into(),
            values: vec![("hash_all", vec![OsString::from("yes please")])],
        };
        assert!(c.apply(crate::cli::Cli::command()).is_err());
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let c = parse(
            Path::new("/etc/md/maildedup.toml"),
            "paths = [\"a\", \"/b\"]\nsame-time-window = 9\n",
        )
        .unwrap();
        assert_eq!(
            c.values[0],
            (
                "paths",
                vec![OsString::from("/etc/md/a"), OsString::from("/b")]
            )
        );
        assert_eq!(c.values[1], ("same_time_window", vec![OsString::from("9")]));
    }
}
