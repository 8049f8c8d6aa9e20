//! The scan report: the JSON contract (`--json`) and the human summary.

use crate::group::conflict::{explain_known, ConflictKind, Differences};
use crate::group::{Class, Group, GroupClass, Grouping, Scope};
use crate::model::encode::{hex, rfc3339};
use crate::model::Store;
use crate::model::{MessageCopy, ScanOutput};
use serde::Serialize;
use std::fmt::Write as _;

pub const REPORT_VERSION: u32 = 1;

/// The report. Groups are not held as strings: they are serialized one at a time from
/// the scan (a store with a million duplicates would otherwise need a million paths as
/// strings at once).
#[derive(Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub summary: Summary,
    /// The timeline and incident windows (`timeline_bucket_seconds`, `timeline`,
    /// `undated_extra_copies`, `incidents`): see `src/forensics/`.
    #[serde(flatten)]
    pub forensics: crate::forensics::Forensics,
    pub groups: Groups<'a>,
    /// Groups with nothing to move: one copy in each of several folders, each kept in its
    /// folder (the folder rule; empty with `--across-folders`). Same shape as `groups`:
    /// every copy `keep: true`, and all but the first `scope: "cross-folder"`.
    pub cross_folder: Groups<'a>,
    pub conflicts: Vec<ConflictReport>,
    pub skipped: Vec<SkippedReport>,
    /// Thunderbird messages marked expunged (deleted, dropped at the folder's next
    /// compaction): counted in `summary.messages`, but never grouped nor moved.
    pub awaiting_compaction: usize,
    /// The same per mbox, for the mboxes that hold any.
    pub awaiting_compaction_stores: Vec<StoreCount>,
}

#[derive(Debug, Serialize)]
pub struct StoreCount {
    pub path: String,
    pub messages: usize,
}

/// The groups of a report, serialized lazily.
pub struct Groups<'a> {
    scan: &'a ScanOutput,
    groups: &'a [Group],
    /// The cause code of each extra copy in an incident, by copy index.
    causes: std::collections::HashMap<usize, crate::forensics::cause::Cause>,
}

impl Groups<'_> {
    pub fn len(&self) -> usize {
        self.groups.len()
    }
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
    /// The report of group `i`.
    pub fn get(&self, i: usize) -> GroupReport {
        group_report(&self.groups[i], self.scan, &self.causes)
    }
}

impl Serialize for Groups<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = ser.serialize_seq(Some(self.len()))?;
        for i in 0..self.len() {
            seq.serialize_element(&self.get(i))?;
        }
        seq.end()
    }
}

fn group_report(
    g: &Group,
    scan: &ScanOutput,
    causes: &std::collections::HashMap<usize, crate::forensics::cause::Cause>,
) -> GroupReport {
    let first = g.kept();
    GroupReport {
        message_id: g.message_id.as_deref().map(str::to_string),
        content_hash: hex(&g.content_hash),
        class: g.class(),
        merged_kind: g.merged_kind,
        copies: g
            .members
            .iter()
            .map(|m| CopyReport {
                keep: Some(m.class.is_none()),
                class: Some(m.class),
                scope: Some(m.scope),
                relative_to: Some((m.copy != first).then(|| place(scan, m.relative_to))),
                also_in: Some(also_in(g, m.copy, scan)),
                cause_code: Some(causes.get(&m.copy).copied()),
                ..copy_report(&scan.copies[m.copy], &scan.stores)
            })
            .collect(),
    }
}

/// The other folders (store paths) holding a copy of `g` than the one holding `copy`.
pub fn also_in(g: &Group, copy: usize, scan: &ScanOutput) -> Vec<String> {
    let own = scan.copies[copy].store;
    let mut stores: Vec<u32> = g
        .members
        .iter()
        .map(|m| scan.copies[m.copy].store)
        .filter(|&s| s != own)
        .collect();
    stores.sort_unstable();
    stores.dedup();
    stores
        .into_iter()
        .map(|s| scan.stores[s as usize].path.to_string_lossy().into_owned())
        .collect()
}

/// Where a copy is: its file, and its offset in an mbox.
#[derive(Debug, Serialize)]
pub struct Place {
    pub path: String,
    pub offset: Option<u64>,
}

fn place(scan: &ScanOutput, copy: usize) -> Place {
    let c = &scan.copies[copy];
    Place {
        path: c.path(&scan.stores).to_string_lossy().into_owned(),
        offset: c.offset(),
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub stores: usize,
    pub maildir_stores: usize,
    pub mbox_stores: usize,
    /// Folders of `.eml` files (and single `.eml` files given as PATHs).
    pub eml_stores: usize,
    /// IMAP folders (each folder of an account is a store).
    pub imap_stores: usize,
    pub messages: usize,
    pub groups: usize,
    pub extra_copies: usize,
    pub same_time: usize,
    pub different_time: usize,
    pub mixed_groups: usize,
    /// Copies in another folder than their group's first kept copy. Under the folder rule
    /// (the default) they are kept in their folders and not in `extra_copies`; with
    /// `--across-folders` they are extra copies (and counted in `extra_copies` too).
    pub cross_folder_copies: usize,
    /// Groups with nothing to move, only copies kept in their own folders (`cross_folder`).
    pub cross_folder_groups: usize,
    /// Whether `--across-folders` was given (else the folder rule applied).
    pub across_folders: bool,
    pub conflicts: usize,
    /// Conflicts by kind (`list-copy`, `transfer-encoding`, `resend`, `edited`).
    pub conflict_kinds: ConflictKinds,
    /// Conflicts treated as duplicates because `--merge-conflicts` named their kind (each
    /// is a group now, with `merged_kind`); 0 without that flag.
    pub merged_conflicts: usize,
    pub reclaimable_bytes: u64,
    pub skipped: usize,
    /// Sets of identical copies that are all marked deleted: no group, nothing moved.
    pub deleted_only_groups: usize,
    /// Copies with a delivery time that was found but not used, by why (a copy can count
    /// under more than one reason); the next time source was used instead.
    pub rejected_delivery_times: RejectedTimes,
}

#[derive(Debug, Default, Serialize)]
pub struct ConflictKinds {
    #[serde(rename = "list-copy")]
    pub list_copy: usize,
    #[serde(rename = "transfer-encoding")]
    pub transfer_encoding: usize,
    pub resend: usize,
    pub edited: usize,
}

impl ConflictKinds {
    fn add(&mut self, k: ConflictKind) {
        match k {
            ConflictKind::ListCopy => self.list_copy += 1,
            ConflictKind::TransferEncoding => self.transfer_encoding += 1,
            ConflictKind::Resend => self.resend += 1,
            ConflictKind::Edited => self.edited += 1,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct RejectedTimes {
    /// Before 1980-01-02: the epoch, a zero mtime and other placeholders.
    pub placeholder: usize,
    /// More than 3 days before the message's own `Date:`.
    pub before_date: usize,
    /// More than a day after the scan's clock.
    pub future: usize,
}

impl RejectedTimes {
    pub fn total(&self) -> usize {
        self.placeholder + self.before_date + self.future
    }
}

#[derive(Debug, Serialize)]
pub struct GroupReport {
    pub message_id: Option<String>,
    pub content_hash: String,
    pub class: GroupClass,
    /// Only on a conflict merged into a group (`--merge-conflicts`): its kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_kind: Option<crate::group::conflict::ConflictKind>,
    pub copies: Vec<CopyReport>,
}

#[derive(Debug, Serialize)]
pub struct CopyReport {
    pub path: String,
    pub offset: Option<u64>,
    pub length: u64,
    pub delivered_at: Option<String>,
    pub time_source: Option<&'static str>,
    pub flags: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Option<Class>>,
    /// In a group: `same-folder` for an extra copy in the folder of the copy kept for it,
    /// `cross-folder` for a copy in another folder than the group's first kept copy;
    /// `null` for that first kept copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Option<Scope>>,
    /// In a group: the kept copy this one is relative to (`null` for the first kept copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relative_to: Option<Option<Place>>,
    /// In a group: the other folders holding a copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub also_in: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// In a group: the cause code of the incident the copy belongs to (null for a kept
    /// copy and for an extra copy in no incident).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause_code: Option<Option<crate::forensics::cause::Cause>>,
    /// An IMAP copy only: its folder, UID and the folder's UIDVALIDITY (the `path` is
    /// `imaps://user@host:port/FOLDER/;UID=n`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap: Option<ImapPlace>,
}

/// Where an IMAP copy lives.
#[derive(Debug, Serialize)]
pub struct ImapPlace {
    pub folder: String,
    pub uid: u32,
    pub uidvalidity: u32,
}

#[derive(Debug, Serialize)]
pub struct ConflictReport {
    pub message_id: String,
    /// How many different contents share this Message-ID.
    pub variants: usize,
    /// `list-copy`, `transfer-encoding`, `resend` or `edited`.
    pub kind: ConflictKind,
    pub differs: Differences,
    pub copies: Vec<CopyReport>,
}

#[derive(Debug, Serialize)]
pub struct SkippedReport {
    pub path: String,
    pub offset: Option<u64>,
    pub reason: String,
}

fn copy_report(c: &MessageCopy, stores: &[Store]) -> CopyReport {
    CopyReport {
        path: c.path(stores).to_string_lossy().into_owned(),
        offset: c.offset(),
        length: c.length,
        delivered_at: c.delivered_at.and_then(rfc3339),
        time_source: c.time_source.map(|t| t.as_str()),
        flags: c.flags.to_string(),
        keep: None,
        class: None,
        scope: None,
        relative_to: None,
        also_in: None,
        content_hash: None,
        cause_code: None,
        imap: match c.loc {
            crate::model::Loc::Imap { uid, uidvalidity } => Some(ImapPlace {
                // The store path is `imaps://user@host:port/FOLDER`.
                folder: stores[c.store as usize]
                    .path
                    .to_string_lossy()
                    .splitn(4, '/')
                    .nth(3)
                    .unwrap_or_default()
                    .to_string(),
                uid,
                uidvalidity,
            }),
            _ => None,
        },
    }
}

impl<'a> Report<'a> {
    pub fn build(scan: &'a ScanOutput, grouping: &'a Grouping) -> Report<'a> {
        let stores = &scan.stores;
        let mut summary = Summary {
            stores: stores.len(),
            maildir_stores: stores
                .iter()
                .filter(|s| s.kind == crate::model::StoreKind::Maildir)
                .count(),
            mbox_stores: stores
                .iter()
                .filter(|s| s.kind == crate::model::StoreKind::Mbox)
                .count(),
            eml_stores: stores
                .iter()
                .filter(|s| s.kind == crate::model::StoreKind::Eml)
                .count(),
            imap_stores: stores
                .iter()
                .filter(|s| s.kind == crate::model::StoreKind::Imap)
                .count(),
            messages: scan.copies.len(),
            groups: grouping.groups.len(),
            conflicts: grouping.conflicts.len(),
            skipped: scan.skipped.len(),
            deleted_only_groups: grouping.deleted_only,
            cross_folder_copies: grouping.cross_folder_copies(),
            merged_conflicts: grouping.merged_conflicts,
            cross_folder_groups: grouping.cross_folder.len(),
            across_folders: grouping.across_folders,
            ..Summary::default()
        };
        for g in &grouping.groups {
            if g.class() == GroupClass::Mixed {
                summary.mixed_groups += 1;
            }
            for m in g.extras() {
                summary.extra_copies += 1;
                summary.reclaimable_bytes += scan.copies[m.copy].length;
                match m.class {
                    Some(Class::SameTime) => summary.same_time += 1,
                    Some(Class::DifferentTime) => summary.different_time += 1,
                    None => {}
                }
            }
        }
        for c in &scan.copies {
            use crate::scan::time::Rejected;
            let r = c.rejected_times;
            let n = &mut summary.rejected_delivery_times;
            n.placeholder += usize::from(r & Rejected::Placeholder as u8 != 0);
            n.before_date += usize::from(r & Rejected::BeforeDate as u8 != 0);
            n.future += usize::from(r & Rejected::Future as u8 != 0);
        }
        let mut forensics = crate::forensics::analyze(scan, grouping);
        let groups = Groups {
            scan,
            groups: &grouping.groups,
            causes: std::mem::take(&mut forensics.copy_cause),
        };
        let cross_folder = Groups {
            scan,
            groups: &grouping.cross_folder,
            causes: std::collections::HashMap::new(),
        };
        let conflicts: Vec<ConflictReport> = grouping
            .conflicts
            .iter()
            .map(|k| {
                let copies: Vec<&MessageCopy> = k.copies.iter().map(|&i| &scan.copies[i]).collect();
                let mut hashes: Vec<_> = copies.iter().filter_map(|c| c.content_hash()).collect();
                hashes.sort();
                hashes.dedup();
                // One representative per variant is enough to say what differs.
                let reps: Vec<&MessageCopy> = hashes
                    .iter()
                    .filter_map(|h| {
                        copies
                            .iter()
                            .find(|c| c.content_hash().as_ref() == Some(h))
                            .copied()
                    })
                    .collect();
                let (differs, kind) = explain_known(&reps, stores, &scan.comparisons);
                ConflictReport {
                    message_id: k.message_id.to_string(),
                    variants: hashes.len(),
                    kind,
                    differs,
                    copies: copies
                        .iter()
                        .map(|c| CopyReport {
                            content_hash: c.content_hash().map(|h| hex(&h)),
                            ..copy_report(c, stores)
                        })
                        .collect(),
                }
            })
            .collect();
        for k in &conflicts {
            summary.conflict_kinds.add(k.kind);
        }
        let skipped = scan
            .skipped
            .iter()
            .map(|s| SkippedReport {
                path: s.path.to_string_lossy().into_owned(),
                offset: s.offset,
                reason: s.reason.clone(),
            })
            .collect();
        let mut per_store = vec![0usize; stores.len()];
        for c in scan.copies.iter().filter(|c| c.flags.is_expunged()) {
            per_store[c.store as usize] += 1;
        }
        Report {
            version: REPORT_VERSION,
            summary,
            forensics,
            groups,
            cross_folder,
            conflicts,
            skipped,
            awaiting_compaction: per_store.iter().sum(),
            awaiting_compaction_stores: stores
                .iter()
                .zip(per_store)
                .filter(|(_, n)| *n > 0)
                .map(|(st, messages)| StoreCount {
                    path: st.path.to_string_lossy().into_owned(),
                    messages,
                })
                .collect(),
        }
    }

    /// The summary, with headings and class names painted by `paint`. Without `timeline`
    /// (a scheduled run off a terminal) the timeline chart is left out, but incident
    /// windows are still named: they are what a cron mail should say.
    pub fn human_painted(
        &self,
        verbose: bool,
        largest: usize,
        timeline: bool,
        paint: crate::render::style::Paint,
        width: Option<usize>,
    ) -> String {
        let s = &self.summary;
        let mut o = String::new();
        let eml = match s.eml_stores {
            0 => String::new(),
            n => format!(", {} eml", thousands(n)),
        };
        let eml = match s.imap_stores {
            0 => eml,
            n => format!("{eml}, {} IMAP", thousands(n)),
        };
        let _ = writeln!(
            o,
            "Scanned {} in {} ({} Maildir, {} mbox{eml}).",
            count(s.messages, "message", "messages"),
            count(s.stores, "store", "stores"),
            thousands(s.maildir_stores),
            thousands(s.mbox_stores)
        );
        let _ = writeln!(
            o,
            "Duplicate groups: {:>7}   extra copies: {} ({} same-time, {} different-time; {})",
            thousands(s.groups),
            thousands(s.extra_copies),
            thousands(s.same_time),
            thousands(s.different_time),
            count(s.mixed_groups, "mixed group", "mixed groups")
        );
        // Copies also in other folders are counted on this line (the summary keeps its
        // line count: scripts read it).
        let cross = match (s.cross_folder_copies, s.across_folders) {
            (0, _) => String::new(),
            (n, false) => format!(
                "   (not counted: {} also in other folders, kept: a folder is never emptied of a message; --across-folders moves them{})",
                count(n, "copy", "copies"),
                if verbose { "" } else { "; -v lists them" }
            ),
            (n, true) => format!(
                "   ({} of the extra copies in another folder than their kept copy: --across-folders)",
                thousands(n)
            ),
        };
        let _ = writeln!(
            o,
            "Reclaimable:      {:>7}{cross}",
            human_bytes(s.reclaimable_bytes)
        );
        let k = &s.conflict_kinds;
        let _ = writeln!(
            o,
            "Conflicts:        {:>7}   (same Message-ID, different content: reported, never moved){}",
            thousands(s.conflicts),
            if s.conflicts > 0 {
                format!(
                    "; {} list-copy, {} transfer-encoding, {} resend, {} edited",
                    thousands(k.list_copy),
                    thousands(k.transfer_encoding),
                    thousands(k.resend),
                    thousands(k.edited)
                )
            } else {
                String::new()
            }
        );
        if s.merged_conflicts > 0 {
            let _ = writeln!(
                o,
                "Merged conflicts: {:>7}   (treated as duplicates: --merge-conflicts)",
                thousands(s.merged_conflicts)
            );
        }
        if self.awaiting_compaction > 0 {
            let _ = writeln!(
                o,
                "Deleted, awaiting compaction: {}   (Thunderbird: expunged, not counted as duplicates, never moved)",
                thousands(self.awaiting_compaction)
            );
        }
        if s.deleted_only_groups > 0 {
            let _ = writeln!(
                o,
                "All copies deleted: {}   (identical copies all marked deleted: left as they are)",
                thousands(s.deleted_only_groups)
            );
        }
        let r = &s.rejected_delivery_times;
        if r.total() > 0 {
            let _ = writeln!(
                o,
                "Delivery times not used: {} placeholder (1970...), {} before the Date:, {} in the future",
                thousands(r.placeholder),
                thousands(r.before_date),
                thousands(r.future)
            );
        }
        let _ = writeln!(
            o,
            "Skipped:          {:>7}{}",
            thousands(s.skipped),
            if s.skipped > 0 && !verbose {
                "   (-v lists them)"
            } else {
                ""
            }
        );
        o.push_str(&crate::render::chart::human(
            &self.forensics,
            timeline,
            width,
            verbose,
        ));
        self.largest_groups(&mut o, largest, paint);
        if verbose {
            self.verbose_lists(&mut o, paint);
        }
        o
    }

    /// The largest groups, most copies first (`largest` of them).
    fn largest_groups(&self, o: &mut String, largest: usize, paint: crate::render::style::Paint) {
        use crate::render::term::escape as esc;
        if !self.groups.is_empty() && largest > 0 {
            let mut order: Vec<usize> = (0..self.groups.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(self.groups.groups[i].members.len()));
            let _ = writeln!(o, "\n{}", paint.heading("Largest groups:"));
            for &i in order.iter().take(largest) {
                let g = self.groups.get(i);
                let kept = g.copies.iter().find(|c| c.keep == Some(true));
                let _ = writeln!(
                    o,
                    "  {} copies  {}  {}\n            keep {}{}",
                    g.copies.len(),
                    paint.class(g.class.as_str(), 14),
                    esc(g.message_id.as_deref().unwrap_or("(no Message-ID)")),
                    esc(kept.map(|c| c.path.as_str()).unwrap_or("?")),
                    kept.and_then(|c| c.offset)
                        .map(|o| format!(" @{o}"))
                        .unwrap_or_default(),
                );
            }
        }
    }

    /// What `-v` adds: copies kept in their folders, every conflict, every skipped file.
    fn verbose_lists(&self, o: &mut String, paint: crate::render::style::Paint) {
        use crate::render::term::escape as esc;
        let s = &self.summary;
        if s.cross_folder_copies > 0 && !s.across_folders {
            let _ = writeln!(o, "\n{}", paint.heading("Also in other folders (kept):"));
            for g in self.groups.groups.iter().chain(self.cross_folder.groups) {
                for m in g.kept_elsewhere() {
                    let c = &self.groups.scan.copies[m.copy];
                    let _ = writeln!(
                        o,
                        "  {}{}  also in {}",
                        esc(&c.path(&self.groups.scan.stores).to_string_lossy()),
                        c.offset().map(|x| format!(" @{x}")).unwrap_or_default(),
                        esc(&also_in(g, m.copy, self.groups.scan).join(", "))
                    );
                }
            }
        }
        if !self.conflicts.is_empty() {
            let _ = writeln!(o, "\n{}", paint.heading("Conflicts:"));
            for k in &self.conflicts {
                let _ = writeln!(
                    o,
                    "  {}  {} variants; differ in: {}{}",
                    esc(&k.message_id),
                    k.variants,
                    esc(&k.differs.headers.join(", ")),
                    if k.differs.body {
                        if k.differs.headers.is_empty() {
                            "body"
                        } else {
                            ", body"
                        }
                    } else {
                        ""
                    }
                );
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(o, "\n{}", paint.heading("Skipped:"));
            for k in &self.skipped {
                let at = k.offset.map(|o| format!(" @{o}")).unwrap_or_default();
                let _ = writeln!(o, "  {}{}: {}", esc(&k.path), at, esc(&k.reason));
            }
        }
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `n` with thousands separators, as the progress bar prints it: `171,840`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count with its noun in the right number: `1 store`, `171,840 messages`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}
