//! Which of a quarantine folder's records a `restore` undoes: all of them, or those of some
//! runs (`--run`), of some stores or folders (`--store`), of some Message-IDs
//! (`--message-id`). Kinds of aim combine (a run *and* a store); several of one kind are
//! alternatives (this run *or* that one).
//!
//! An mbox rewrite is undone whole: it put the mbox back as it was before the rewrite, so
//! aiming at one message taken out of an mbox brings back the other copies that same
//! rewrite took out of it too (the outcome counts them). Flag merges carry no Message-ID:
//! an aim by Message-ID leaves them (a kept copy keeps the flags of all its copies).

use crate::act::manifest::Record;
use std::path::{Path, PathBuf};

/// What a restore is limited to; the default is everything.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Aim {
    /// Run ids (`restore --list` shows them); `last` is the newest run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<String>,
    /// Absolute paths: a record is aimed at when its store path or message path lies under
    /// one (or is one).
    #[serde(
        with = "crate::model::pathser::vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub under: Vec<PathBuf>,
    /// Message-IDs, without angle brackets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub message_ids: Vec<String>,
}

/// A Message-ID as compared: without surrounding blanks and angle brackets.
pub fn bare_message_id(id: &str) -> &str {
    let t = id.trim();
    let t = t.strip_prefix('<').unwrap_or(t);
    t.strip_suffix('>').unwrap_or(t).trim()
}

impl Aim {
    /// An aim with the given runs, paths (made absolute, and also resolved, so a path
    /// reached through a symlink still matches) and Message-IDs.
    pub fn new(runs: &[String], under: &[PathBuf], message_ids: &[String]) -> Aim {
        let mut paths = Vec::new();
        for p in under {
            if let Ok(a) = std::path::absolute(p) {
                paths.push(a);
            }
            if let Ok(c) = std::fs::canonicalize(p) {
                paths.push(c);
            }
        }
        paths.sort();
        paths.dedup();
        Aim {
            runs: runs.to_vec(),
            under: paths,
            message_ids: message_ids
                .iter()
                .map(|m| bare_message_id(m).to_string())
                .collect(),
        }
    }

    /// Whether nothing is left out.
    pub fn is_all(&self) -> bool {
        self.runs.is_empty() && self.under.is_empty() && self.message_ids.is_empty()
    }

    /// Replaces `last` by the newest run id of `runs` (file order), so matching compares
    /// ids only. Fails naming an id that is no run of the manifest.
    pub fn resolve_runs(&mut self, runs: &[&str]) -> Result<(), String> {
        for r in &mut self.runs {
            if r == "last" {
                match runs.last() {
                    Some(newest) => *r = newest.to_string(),
                    None => return Err("the manifest records no run".to_string()),
                }
            } else if !runs.contains(&r.as_str()) {
                return Err(format!(
                    "no run {r} in this quarantine folder (`restore --list` shows its runs)"
                ));
            }
        }
        Ok(())
    }

    fn run_ok(&self, run: Option<&str>) -> bool {
        self.runs.is_empty() || run.is_some_and(|r| self.runs.iter().any(|x| x == r))
    }

    fn path_ok(&self, p: &Path) -> bool {
        self.under.is_empty() || self.under.iter().any(|u| p.starts_with(u))
    }

    fn mid_ok(&self, mid: Option<&str>) -> bool {
        self.message_ids.is_empty()
            || mid.is_some_and(|m| {
                let m = bare_message_id(m);
                self.message_ids.iter().any(|x| x == m)
            })
    }

    /// Whether record `r`, of run `run`, is undone. `extract_mid` gives the Message-ID of
    /// an mbox-extract record by id (an mbox rewrite is aimed at when one of the messages
    /// it took out is).
    pub fn selects<'a>(
        &self,
        r: &Record,
        run: Option<&str>,
        extract_mid: impl Fn(&str) -> Option<&'a str>,
    ) -> bool {
        if self.is_all() {
            return true;
        }
        if !self.run_ok(run) {
            return false;
        }
        match r {
            Record::Run { .. } => self.under.is_empty() && self.message_ids.is_empty(),
            Record::MaildirMove {
                source, message_id, ..
            } => self.path_ok(source) && self.mid_ok(message_id.as_deref()),
            Record::MaildirFlags { old, .. } => self.path_ok(old) && self.message_ids.is_empty(),
            Record::MboxExtract {
                mbox, message_id, ..
            } => self.path_ok(mbox) && self.mid_ok(message_id.as_deref()),
            Record::MboxRewrite { mbox, edits, .. } => {
                self.path_ok(mbox)
                    && (self.message_ids.is_empty()
                        || edits
                            .iter()
                            .filter_map(|e| e.extract.as_deref())
                            .any(|x| self.mid_ok(extract_mid(x))))
            }
            // Bookkeeping records: never undone themselves.
            _ => false,
        }
    }
}

/// Per record of `records` (file order), the id of the run it belongs to: the `run`
/// record before it.
pub fn run_of_each(records: &[Record]) -> Vec<Option<&str>> {
    let mut current = None;
    records
        .iter()
        .map(|r| {
            if let Record::Run { run, .. } = r {
                current = Some(run.as_str());
            }
            current
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(source: &str, mid: Option<&str>) -> Record {
        Record::MaildirMove {
            id: "r-1".into(),
            source: source.into(),
            quarantined: "cur/x".into(),
            file_b3: String::new(),
            content_hash: String::new(),
            message_id: mid.map(str::to_string),
            group: String::new(),
            class: String::new(),
            kept: crate::act::manifest::KeptRef {
                path: "/k".into(),
                offset: None,
            },
        }
    }

    #[test]
    fn kinds_of_aim_combine_and_alternatives_do_not() {
        let r = mv("/m/alice/Maildir/cur/1", Some("<a@x>"));
        let no_mid = |_: &str| None;
        assert!(Aim::default().selects(&r, Some("1"), no_mid));
        let by_run = Aim::new(&["2".into(), "1".into()], &[], &[]);
        assert!(by_run.selects(&r, Some("1"), no_mid));
        assert!(!by_run.selects(&r, Some("3"), no_mid));
        let by_store = Aim::new(&[], &["/m/alice".into()], &[]);
        assert!(by_store.selects(&r, Some("1"), no_mid));
        // A path prefix is not a folder: /m/ali is not above /m/alice.
        assert!(!Aim::new(&[], &["/m/ali".into()], &[]).selects(&r, None, no_mid));
        let by_mid = Aim::new(&[], &[], &[" a@x ".into()]);
        assert!(by_mid.selects(&r, None, no_mid));
        assert!(!Aim::new(&[], &[], &["<b@x>".into()]).selects(&r, None, no_mid));
        let both = Aim::new(&["1".into()], &["/m/bob".into()], &[]);
        assert!(
            !both.selects(&r, Some("1"), no_mid),
            "a run and a store: both must hold"
        );
    }

    #[test]
    fn last_is_the_newest_run_and_unknown_runs_are_refused() {
        let mut a = Aim::new(&["last".into()], &[], &[]);
        a.resolve_runs(&["10-1", "20-1"]).unwrap();
        assert_eq!(a.runs, vec!["20-1".to_string()]);
        let mut b = Aim::new(&["30-1".into()], &[], &[]);
        assert!(b
            .resolve_runs(&["10-1"])
            .unwrap_err()
            .contains("no run 30-1"));
    }
}
