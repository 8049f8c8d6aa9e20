//! Checking a manifest before `restore` acts on it. The manifest is written by
//! `quarantine`, but it is a file: a crash can cut its last line short, and anyone who
//! can write it can change its numbers. Every record is checked on its own and against
//! the others (ids unique, the extract records a rewrite names exist and agree with it,
//! a rewrite's edits sorted, inside the file and adding up to its sizes), so `restore`
//! acts only on records whose numbers are consistent, and names the line of any other.

use super::{Record, MANIFEST};
use crate::model::encode::unb64;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Component, Path};

/// A manifest as read for `restore`.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every record that could be parsed, in file order.
    pub records: Vec<Record>,
    /// The 1-based manifest line of each record.
    pub lines: Vec<usize>,
    /// Per record: why it must not be acted on, or `None` when it is consistent.
    pub rejected: Vec<Option<String>>,
    /// Lines that are no record: (line number, what is wrong and what that means).
    pub unreadable: Vec<(usize, String)>,
    /// The lines among them that were cut off while being written.
    pub incomplete: Vec<Cut>,
    /// The lines of the `run` records, to tell which run a line belongs to.
    pub run_lines: Vec<usize>,
}

/// A manifest line cut off while it was being appended, with what its beginning says.
#[derive(Debug, Clone)]
pub struct Cut {
    pub line: usize,
    /// Its `type` (`mbox-rewrite`, ...), when the cut came after it.
    pub kind: Option<String>,
    /// Its `mbox` or `source`, when the cut came after it.
    pub target: Option<std::path::PathBuf>,
}

impl Cut {
    /// Reads what it can from the beginning of a cut-off record.
    fn of(line: usize, text: &[u8]) -> Cut {
        // The JSON string after `"key":`, if complete.
        let field = |key: &str| -> Option<String> {
            let pat = format!("\"{key}\":");
            let at = memchr::memmem::find(text, pat.as_bytes())? + pat.len();
            serde_json::Deserializer::from_slice(text.get(at..)?)
                .into_iter::<String>()
                .next()?
                .ok()
        };
        Cut {
            line,
            kind: field("type"),
            target: field("mbox")
                .or_else(|| field("source"))
                .map(std::path::PathBuf::from),
        }
    }

    /// `an mbox-rewrite record for PATH`, as far as known.
    pub fn describe(&self) -> String {
        match (&self.kind, &self.target) {
            (Some(k), Some(t)) => format!("an {k} record for {}", t.display()),
            (Some(k), None) => format!("an {k} record"),
            _ => "a record".to_string(),
        }
    }
}

impl Loaded {
    /// The line of the record with this id (the first, if ids repeat).
    /// The incomplete line after `line` and before the next run's first line: a record
    /// of the same run that was being written when it was interrupted.
    pub fn cut_after(&self, line: usize) -> Option<&Cut> {
        let next_run = self
            .run_lines
            .iter()
            .copied()
            .find(|&r| r > line)
            .unwrap_or(usize::MAX);
        self.incomplete
            .iter()
            .find(|c| c.line > line && c.line < next_run)
    }

    pub fn line_of(&self, id: &str) -> Option<usize> {
        self.records
            .iter()
            .position(|r| record_id(r) == Some(id))
            .map(|i| self.lines[i])
    }
}

/// Reads `QDIR/manifest.jsonl` and checks every record.
pub fn load(qdir: &Path) -> io::Result<Loaded> {
    let path = qdir.join(MANIFEST);
    let f = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut out = Loaded::default();
    let mut lines = BufReader::new(f).split(b'\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line =
            line.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let n = i + 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) => {
                if matches!(r, Record::Run { .. }) {
                    out.run_lines.push(n);
                }
                out.records.push(r);
                out.lines.push(n);
            }
            Err(e) => {
                // A line that ends before its JSON does (or the last line, with no line
                // break) was being appended when its run was interrupted: a record is
                // fsynced complete *before* the change it announces is made.
                let last = lines.peek().is_none();
                let cut = e.is_eof() || (last && !line.ends_with(b"}"));
                out.unreadable.push((
                    n,
                    if cut {
                        let c = Cut::of(n, &line);
                        let what = c.describe();
                        out.incomplete.push(c);
                        format!(
                            "line {n} ({what}, {} bytes) is incomplete: a run was interrupted while writing it. A record is written complete before the change it announces is made, so that change was never made; the line is ignored",
                            line.len()
                        )
                    } else {
                        format!("line {n} is not a manifest record ({e}); ignored")
                    },
                ));
            }
        }
    }
    out.rejected = check(&out.records, &out.lines);
    Ok(out)
}

/// The id of a record that has one (every kind but `run` and `restored`).
pub fn record_id(r: &Record) -> Option<&str> {
    match r {
        Record::MaildirMove { id, .. }
        | Record::MaildirFlags { id, .. }
        | Record::MboxExtract { id, .. }
        | Record::MboxRewrite { id, .. }
        | Record::MboxWrite { id, .. } => Some(id),
        // `mbox-write-done` names the write it finishes, as `restored` names its record.
        Record::Run { .. } | Record::Restored { .. } | Record::MboxWriteDone { .. } => None,
    }
}

/// A quarantined file name must be `cur/NAME` with a plain NAME (no `/`, not `.`/`..`).
pub fn quarantined_ok(q: &str) -> bool {
    match q.strip_prefix("cur/") {
        Some(name) => !name.is_empty() && !name.contains('/') && name != "." && name != "..",
        None => false,
    }
}

fn is_b3(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn plain_abs(p: &Path) -> bool {
    p.is_absolute() && !p.components().any(|c| matches!(c, Component::ParentDir))
}

/// Checks every record; returns, per record, why it must not be acted on.
pub fn check(records: &[Record], lines: &[usize]) -> Vec<Option<String>> {
    let line = |i: usize| lines.get(i).copied().unwrap_or(0);
    let mut ids: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(id) = record_id(r) {
            ids.entry(id).or_default().push(i);
        }
    }
    let mut out: Vec<Option<String>> = records.iter().map(check_one).collect();
    for idx in ids.values().filter(|v| v.len() > 1) {
        let at: Vec<String> = idx.iter().map(|&i| line(i).to_string()).collect();
        for &i in idx {
            out[i].get_or_insert_with(|| {
                format!(
                    "its id is used by more than one record (lines {})",
                    at.join(", ")
                )
            });
        }
    }
    // Which rewrite names each extract.
    let mut named_by: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Record::MboxRewrite { edits, .. } = r {
            for x in edits.iter().filter_map(|e| e.extract.as_deref()) {
                named_by.entry(x).or_default().push(i);
            }
        }
    }
    for (i, r) in records.iter().enumerate() {
        let Record::MboxRewrite { mbox, edits, .. } = r else {
            continue;
        };
        if out[i].is_some() {
            continue;
        }
        let mut why = None;
        for (k, e) in edits.iter().enumerate() {
            let Some(x) = e.extract.as_deref() else {
                continue;
            };
            let found = ids.get(x).map(Vec::as_slice).unwrap_or(&[]);
            why = match found {
                [] => Some(format!("edit {k} names extract {x}, which no record has")),
                [j, ..] => match &records[*j] {
                    Record::MboxExtract {
                        mbox: m,
                        offset,
                        length,
                        ..
                    } => {
                        if out[*j].is_some() {
                            Some(format!(
                                "edit {k} names extract {x}, whose record (line {}) is invalid",
                                line(*j)
                            ))
                        } else if m != mbox || *offset != e.offset || *length != e.length {
                            Some(format!(
                                "edit {k} (offset {}, length {}) does not match its extract {x} (line {}: offset {offset}, length {length})",
                                e.offset,
                                e.length,
                                line(*j)
                            ))
                        } else if named_by.get(x).is_some_and(|v| v.len() > 1) {
                            Some(format!(
                                "extract {x} is named by more than one mbox-rewrite record"
                            ))
                        } else {
                            None
                        }
                    }
                    _ => Some(format!(
                        "edit {k} names {x}, which is not an mbox-extract record"
                    )),
                },
            };
            if why.is_some() {
                break;
            }
        }
        out[i] = why;
    }
    out
}

/// The checks one record can pass or fail on its own.
fn check_one(r: &Record) -> Option<String> {
    let err = |s: String| Some(s);
    match r {
        Record::Run {
            stores, canonical, ..
        } => {
            if let Some(s) = stores.iter().chain(canonical).find(|s| !plain_abs(s)) {
                return err(format!(
                    "store {} is not an absolute path without `..`",
                    s.display()
                ));
            }
            if !canonical.is_empty() && canonical.len() != stores.len() {
                return err(format!(
                    "{} stores but {} resolved store paths",
                    stores.len(),
                    canonical.len()
                ));
            }
            None
        }
        Record::MaildirMove {
            source,
            quarantined,
            file_b3,
            ..
        } => {
            if !quarantined_ok(quarantined) {
                err(format!(
                    "quarantined name {quarantined:?} is not a plain cur/NAME"
                ))
            } else if !plain_abs(source) {
                err(format!(
                    "source {} is not an absolute path without `..`",
                    source.display()
                ))
            } else if !is_b3(file_b3) {
                err("file_b3 is not a blake3 hash".into())
            } else {
                None
            }
        }
        Record::MaildirFlags { old, new, .. } => {
            if !plain_abs(old) || !plain_abs(new) {
                err("old or new is not an absolute path without `..`".into())
            } else {
                None
            }
        }
        Record::MboxExtract {
            mbox,
            offset,
            length,
            entry_b3,
            from_line,
            separator,
            unquoted_lines,
            quarantined,
            ..
        } => {
            if !quarantined_ok(quarantined) {
                return err(format!(
                    "quarantined name {quarantined:?} is not a plain cur/NAME"
                ));
            }
            if !plain_abs(mbox) {
                return err(format!(
                    "mbox {} is not an absolute path without `..`",
                    mbox.display()
                ));
            }
            if !is_b3(entry_b3) {
                return err("entry_b3 is not a blake3 hash".into());
            }
            if offset.checked_add(*length).is_none() {
                return err(format!("offset {offset} + length {length} overflows"));
            }
            let (from, sep) = match (unb64(from_line), unb64(separator)) {
                (Ok(f), Ok(s)) => (f, s),
                _ => return err("from_line or separator is not base64".into()),
            };
            if (from.len() as u64).saturating_add(sep.len() as u64) > *length {
                return err(format!(
                    "its From_ line and separator ({} bytes) are longer than the entry ({length})",
                    from.len() + sep.len()
                ));
            }
            if unquoted_lines.windows(2).any(|w| w[0] >= w[1]) {
                return err("unquoted_lines are not in increasing order".into());
            }
            None
        }
        Record::MboxRewrite {
            mbox,
            pre_size,
            pre_b3,
            post_size,
            post_b3,
            edits,
            ..
        } => {
            if !plain_abs(mbox) {
                return err(format!(
                    "mbox {} is not an absolute path without `..`",
                    mbox.display()
                ));
            }
            if !is_b3(pre_b3) || !is_b3(post_b3) {
                return err("pre_b3 or post_b3 is not a blake3 hash".into());
            }
            // The edits in file order, none overlapping the next, all inside the old file;
            // the new file's size is the old one's with each edit's bytes replaced.
            let mut end = 0u64;
            let mut size: i128 = i128::from(*pre_size);
            for (k, e) in edits.iter().enumerate() {
                if e.offset < end {
                    return err(format!(
                        "edit {k} (offset {}) starts before the end of the edit before it ({end}): edits must be sorted and must not overlap",
                        e.offset
                    ));
                }
                end = match e.offset.checked_add(e.length) {
                    Some(x) if x <= *pre_size => x,
                    _ => {
                        return err(format!(
                        "edit {k} (offset {}, length {}) ends past the old file's size {pre_size}",
                        e.offset, e.length
                    ))
                    }
                };
                match (&e.extract, &e.original) {
                    (Some(_), Some(_)) => {
                        return err(format!("edit {k} is both an extract and a header edit"))
                    }
                    (Some(_), None) if e.replacement_len != 0 => {
                        return err(format!(
                            "edit {k} removes a message but replaces it with {} bytes",
                            e.replacement_len
                        ))
                    }
                    (None, Some(o)) => match unb64(o) {
                        Ok(b) if b.len() as u64 == e.length => {}
                        Ok(b) => {
                            return err(format!(
                                "edit {k}: its original bytes ({}) are not its length ({})",
                                b.len(),
                                e.length
                            ))
                        }
                        Err(_) => return err(format!("edit {k}: original is not base64")),
                    },
                    _ => {}
                }
                size = size - i128::from(e.length) + i128::from(e.replacement_len);
            }
            if size != i128::from(*post_size) {
                return err(format!(
                    "post_size {post_size} is not pre_size {pre_size} with its edits applied ({size})"
                ));
            }
            None
        }
        Record::MboxWrite {
            mbox,
            first,
            pre_size,
            post_size,
            tail,
            ..
        } => {
            if !plain_abs(mbox) {
                return err(format!(
                    "mbox {} is not an absolute path without `..`",
                    mbox.display()
                ));
            }
            let plain_tail = tail
                .strip_prefix("rewrite/")
                .is_some_and(|n| !n.is_empty() && !n.contains('/') && n != "." && n != "..");
            if !plain_tail {
                return err(format!("tail {tail:?} is not a plain rewrite/NAME"));
            }
            if first > pre_size || first > post_size {
                return err(format!(
                    "first changed offset {first} lies past the old ({pre_size}) or new ({post_size}) size"
                ));
            }
            None
        }
        Record::Restored { .. } | Record::MboxWriteDone { .. } => None,
    }
}
