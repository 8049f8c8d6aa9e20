//! Grouping copies into duplicate groups and conflicts, choosing the copy to keep, and
//! classifying every extra copy.
//!
//! - Copies with the same normalised Message-ID *and* the same content hash form a group.
//! - Copies without a Message-ID group by content hash alone (the hash covers Date, From,
//!   Subject and the body, so two automated messages differing only in Date stay apart).
//! - Copies that share a Message-ID but whose content differs are a conflict: reported,
//!   never merged with each other. Copies inside a conflict that are identical to each other
//!   still form a group, because they are duplicates whatever the other variant is.
//! - A copy marked deleted (Maildir `T`, mbox `X-Status: D`, Thunderbird's IMAP-deleted
//!   flag) is never kept while a live copy exists; a group of deleted copies only is left
//!   as it is. Thunderbird's expunged messages (awaiting compaction) are not grouped at all.
//! - The folder rule (the default): a folder (a Maildir folder, each Maildir++ subfolder
//!   on its own, or an mbox file) is never left without a copy of a message it held. Each
//!   folder keeps its first copy in the keep order; only the other copies in that same
//!   folder are extras, classed against that folder's kept copy. A folder whose copies are
//!   all marked deleted is left as it is. `across_folders` applies the keep order across
//!   folders instead (one kept copy per group), with ties going to the folder read first
//!   ([`folder_rank`]).

pub mod conflict;
pub mod merge;

use crate::identity::Digest;
use crate::model::{MessageCopy, ScanOutput};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeepRule {
    /// Keep the copy delivered first (the original delivery).
    Earliest,
    /// Keep the copy delivered last.
    Latest,
}

#[derive(Debug, Clone)]
pub struct GroupOptions {
    pub keep: KeepRule,
    /// Copies under these paths are kept in preference, in this order.
    pub prefer: Vec<PathBuf>,
    /// Extra copies delivered within this many seconds of the kept copy are `same-time`.
    pub window_secs: i64,
    /// Apply the keep order across folders (one kept copy per group) instead of the
    /// folder rule (one kept copy per folder).
    pub across_folders: bool,
    /// Conflicts of these kinds are treated as duplicates ([`merge`]); empty: none.
    pub merge_conflicts: Vec<merge::MergeKind>,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            keep: KeepRule::Earliest,
            prefer: Vec::new(),
            window_secs: DEFAULT_WINDOW_SECS,
            across_folders: false,
            merge_conflicts: Vec::new(),
        }
    }
}

/// Default `--same-time-window`: two deliveries of one message by one delivery agent
/// (an alias expanding to the same mailbox, a retried LMTP transaction) land within a
/// second or two; a re-download by a POP3 client happens on its next poll, minutes later.
pub const DEFAULT_WINDOW_SECS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    SameTime,
    DifferentTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupClass {
    SameTime,
    DifferentTime,
    Mixed,
}

impl Class {
    /// The name used in reports and the manifest (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::SameTime => "same-time",
            Class::DifferentTime => "different-time",
        }
    }
}

impl GroupClass {
    /// The name used in reports (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupClass::SameTime => "same-time",
            GroupClass::DifferentTime => "different-time",
            GroupClass::Mixed => "mixed",
        }
    }
}

/// Whether a copy shares its folder with the copy it is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// An extra copy in the same folder as the copy kept for it.
    SameFolder,
    /// A copy in another folder than the group's first kept copy: kept in its folder
    /// under the folder rule; an extra (moved) only with `across_folders`.
    CrossFolder,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::SameFolder => "same-folder",
            Scope::CrossFolder => "cross-folder",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    /// Index into [`ScanOutput::copies`].
    pub copy: usize,
    /// `None` for a kept copy.
    pub class: Option<Class>,
    /// The kept copy this one is relative to (for an extra, the copy kept in its place;
    /// for a copy kept in another folder, the group's first kept copy); itself for the
    /// group's first kept copy.
    pub relative_to: usize,
    /// `None` for the group's first kept copy.
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub message_id: Option<Box<str>>,
    pub content_hash: Digest,
    /// The first kept copy, then the extra copies, then the copies kept in their own
    /// folders (folder rule only).
    pub members: Vec<Member>,
    /// How many extra copies follow the first kept copy.
    pub n_extras: usize,
    /// A conflict of this kind merged into one group (`--merge-conflicts`); `None` for
    /// every ordinary group.
    pub merged_kind: Option<conflict::ConflictKind>,
}

impl Group {
    /// The group's first kept copy.
    pub fn kept(&self) -> usize {
        self.members[0].copy
    }
    /// The extra copies (the ones a quarantine moves).
    pub fn extras(&self) -> &[Member] {
        &self.members[1..1 + self.n_extras]
    }
    /// Copies kept in other folders than the first kept copy (folder rule only).
    pub fn kept_elsewhere(&self) -> &[Member] {
        &self.members[1 + self.n_extras..]
    }
    pub fn class(&self) -> GroupClass {
        let same = self
            .extras()
            .iter()
            .all(|m| m.class == Some(Class::SameTime));
        let diff = self
            .extras()
            .iter()
            .all(|m| m.class == Some(Class::DifferentTime));
        match (same, diff) {
            (true, _) => GroupClass::SameTime,
            (_, true) => GroupClass::DifferentTime,
            _ => GroupClass::Mixed,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Conflict {
    pub message_id: Box<str>,
    /// Every copy with this Message-ID, in path order.
    pub copies: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct Grouping {
    pub groups: Vec<Group>,
    pub conflicts: Vec<Conflict>,
    /// Sets of identical copies that are all marked deleted: no copy to keep, so they are
    /// no group and nothing of them moves.
    pub deleted_only: usize,
    /// Groups with no extra copy: each copy is alone in its folder and is kept there
    /// (folder rule). Nothing of them moves; they are reported as "also in".
    pub cross_folder: Vec<Group>,
    /// Grouped with `across_folders` (one kept copy per group).
    pub across_folders: bool,
    /// Conflicts merged into groups ([`merge`]).
    pub merged_conflicts: usize,
}

impl Grouping {
    /// Copies in another folder than their group's first kept copy (kept under the folder
    /// rule, extras with `across_folders`), over `groups` and `cross_folder`.
    pub fn cross_folder_copies(&self) -> usize {
        self.groups
            .iter()
            .chain(&self.cross_folder)
            .flat_map(|g| &g.members)
            .filter(|m| m.scope == Some(Scope::CrossFolder))
            .count()
    }
}

/// The class of extra copy `copy` relative to the copy `kept` in its place: same-time
/// when both were delivered within `window_secs` of each other.
pub fn class_of(
    kept: &crate::model::MessageCopy,
    copy: &crate::model::MessageCopy,
    window_secs: i64,
) -> Class {
    match (kept.delivered_at, copy.delivered_at) {
        (Some(a), Some(b)) if (a - b).abs() <= window_secs => Class::SameTime,
        _ => Class::DifferentTime,
    }
}

pub fn group(scan: &ScanOutput, opts: &GroupOptions) -> Grouping {
    let copies = &scan.copies;
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_hash: HashMap<Digest, Vec<usize>> = HashMap::new();
    for (i, c) in copies.iter().enumerate() {
        let Some(hash) = c.content_hash() else {
            continue;
        };
        // Expunged in Thunderbird, waiting for compaction: not mail the user has, so never
        // a duplicate of live mail nor the reason a live copy is an extra.
        if c.flags.is_expunged() {
            continue;
        }
        match &c.message_id {
            Some(id) => by_id.entry(id).or_default().push(i),
            None => by_hash.entry(hash).or_default().push(i),
        }
    }
    let ranker = Ranker::new(scan, opts);
    let mut out = Grouping {
        across_folders: opts.across_folders,
        ..Grouping::default()
    };
    for (id, members) in by_id {
        if members.len() < 2 {
            continue;
        }
        let mut variants: HashMap<Digest, Vec<usize>> = HashMap::new();
        for &m in &members {
            if let Some(h) = copies[m].content_hash() {
                variants.entry(h).or_default().push(m);
            }
        }
        if variants.len() > 1 {
            let mut all = members.clone();
            all.sort_by_key(|&m| ranker.location_key(m));
            out.conflicts.push(Conflict {
                message_id: id.into(),
                copies: all,
            });
        }
        for (hash, v) in variants {
            ranker.push_group(&mut out, Some(id.into()), hash, v);
        }
    }
    for (hash, v) in by_hash {
        ranker.push_group(&mut out, None, hash, v);
    }
    out.groups
        .sort_by_cached_key(|g| ranker.location_key(g.kept()));
    out.cross_folder
        .sort_by_cached_key(|g| ranker.location_key(g.kept()));
    out.conflicts
        .sort_by(|a, b| a.message_id.cmp(&b.message_id));
    out
}

struct Ranker<'a> {
    scan: &'a ScanOutput,
    opts: &'a GroupOptions,
    /// Canonical store paths, for matching `--prefer`.
    store_paths: Vec<PathBuf>,
    prefer: Vec<PathBuf>,
}

impl<'a> Ranker<'a> {
    fn new(scan: &'a ScanOutput, opts: &'a GroupOptions) -> Self {
        let canon = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        Ranker {
            scan,
            opts,
            store_paths: scan.stores.iter().map(|s| canon(&s.path)).collect(),
            prefer: opts.prefer.iter().map(canon).collect(),
        }
    }

    fn copy(&self, i: usize) -> &MessageCopy {
        &self.scan.copies[i]
    }

    /// Deterministic order of copies by location: path, then mbox offset.
    fn location_key(&self, i: usize) -> (PathBuf, u64) {
        let c = self.copy(i);
        (c.path(&self.scan.stores), c.offset().unwrap_or(0))
    }

    fn prefer_rank(&self, i: usize) -> usize {
        if self.prefer.is_empty() {
            return 0;
        }
        let c = self.copy(i);
        let store = &self.store_paths[c.store as usize];
        let full = match &c.loc {
            crate::model::Loc::Maildir { sub, name } => store.join(sub.as_str()).join(&**name),
            crate::model::Loc::Mbox { .. } => store.clone(),
            crate::model::Loc::Eml { name } if name.is_empty() => store.clone(),
            crate::model::Loc::Eml { name } => store.join(&**name),
            crate::model::Loc::Imap { .. } => store.clone(),
        };
        self.prefer
            .iter()
            .position(|p| full.starts_with(p))
            .unwrap_or(self.prefer.len())
    }

    /// Adds the group of identical copies `v`, if it is one: two copies or more, at least
    /// one of them live (not marked deleted).
    fn push_group(
        &self,
        out: &mut Grouping,
        message_id: Option<Box<str>>,
        content_hash: Digest,
        v: Vec<usize>,
    ) {
        if v.len() < 2 {
            return;
        }
        if v.iter().all(|&i| self.copy(i).flags.is_deleted()) {
            out.deleted_only += 1;
            return;
        }
        let g = self.make_group(message_id, content_hash, v);
        if g.n_extras == 0 {
            out.cross_folder.push(g);
        } else {
            out.groups.push(g);
        }
    }

    /// The keep order: live copies before copies marked deleted, then preferred paths,
    /// then by delivery time (copies without one last), then the folder read first
    /// ([`folder_rank`]), then by location. The first copy in this order is kept: a
    /// deleted copy only when every copy is deleted.
    fn keep_key(&self, i: usize) -> (bool, usize, bool, i64, u8, PathBuf, u64) {
        let c = self.copy(i);
        let t = match (c.delivered_at, self.opts.keep) {
            (Some(t), crate::group::KeepRule::Earliest) => t,
            (Some(t), crate::group::KeepRule::Latest) => -t,
            (None, _) => 0,
        };
        let (path, off) = self.location_key(i);
        (
            c.flags.is_deleted(),
            self.prefer_rank(i),
            c.delivered_at.is_none(),
            t,
            folder_rank(&self.scan.stores[c.store as usize]),
            path,
            off,
        )
    }

    fn class_against(&self, kept: usize, i: usize) -> Class {
        class_of(self.copy(kept), self.copy(i), self.opts.window_secs)
    }

    fn make_group(
        &self,
        message_id: Option<Box<str>>,
        content_hash: Digest,
        v: Vec<usize>,
    ) -> Group {
        self.make_group_preferring(message_id, content_hash, v, None)
    }

    /// [`Ranker::make_group`], with the copies in `first` ahead of all others in the keep
    /// order (a merged list copy keeps the undecorated variant).
    fn make_group_preferring(
        &self,
        message_id: Option<Box<str>>,
        content_hash: Digest,
        mut v: Vec<usize>,
        first: Option<&std::collections::HashSet<usize>>,
    ) -> Group {
        v.sort_by_cached_key(|&i| (first.is_some_and(|f| !f.contains(&i)), self.keep_key(i)));
        let first = v[0];
        let folder = |i: usize| self.copy(i).store;
        let member = |i: usize, class: Option<Class>, relative_to: usize| Member {
            copy: i,
            class,
            relative_to,
            scope: (i != first).then(|| {
                if folder(i) == folder(relative_to) {
                    Scope::SameFolder
                } else {
                    Scope::CrossFolder
                }
            }),
        };
        let mut members = vec![member(first, None, first)];
        let mut elsewhere = Vec::new();
        if self.opts.across_folders {
            for &i in &v[1..] {
                members.push(member(i, Some(self.class_against(first, i)), first));
            }
        } else {
            // Each folder's first copy in the keep order is kept there. A folder whose
            // copies are all marked deleted is left as it is: every copy in it is kept.
            let mut keeper: HashMap<u32, usize> = HashMap::new();
            let mut all_deleted: HashMap<u32, bool> = HashMap::new();
            for &i in &v {
                keeper.entry(folder(i)).or_insert(i);
                *all_deleted.entry(folder(i)).or_insert(true) &= self.copy(i).flags.is_deleted();
            }
            for &i in &v[1..] {
                let f = folder(i);
                let k = keeper.get(&f).copied().unwrap_or(i);
                if k == i || all_deleted.get(&f).copied().unwrap_or(true) {
                    elsewhere.push(member(i, None, first));
                } else {
                    members.push(member(i, Some(self.class_against(k, i)), k));
                }
            }
        }
        let n_extras = members.len() - 1;
        members.extend(elsewhere);
        Group {
            message_id,
            content_hash,
            members,
            n_extras,
            merged_kind: None,
        }
    }
}

/// How early a user reads a folder, for ties under `across_folders` (lower first):
/// 0 the INBOX (a Maildir that is not a Maildir++ subfolder, or an mbox named `inbox`
/// in any case; an mbox's `.mbox`/`.mbx` ending is not part of its name), 1 any other folder, 2 an archive (`Archive`, `Archives`, `All Mail`),
/// 3 sent mail and drafts (`Sent`, `Sent Items`, `Sent Messages`, `Sent Mail`, `Drafts`),
/// 4 junk (`Junk`, `Spam`, `Junk E-mail`, `Bulk Mail`), 5 trash (`Trash`, `Deleted Items`,
/// `Deleted Messages`, `Bin`). A Maildir++ folder is named by its last part:
/// `.INBOX.Trash` is `Trash`.
pub fn folder_rank(store: &crate::model::Store) -> u8 {
    let name = store
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let leaf = match store.kind {
        crate::model::StoreKind::Maildir => {
            let Some(sub) = name.strip_prefix('.') else {
                return 0;
            };
            sub.rsplit('.').next().unwrap_or(sub).to_ascii_lowercase()
        }
        crate::model::StoreKind::Eml => name.to_ascii_lowercase(),
        // `Lists.Archive` (Dovecot's `.` separator) is named by its last part too.
        crate::model::StoreKind::Imap => name
            .rsplit('.')
            .next()
            .unwrap_or(&name)
            .to_ascii_lowercase(),
        crate::model::StoreKind::Mbox => {
            let n = name.to_ascii_lowercase();
            let n = n
                .strip_suffix(".mbox")
                .or_else(|| n.strip_suffix(".mbx"))
                .unwrap_or(&n)
                .to_string();
            if n == "inbox" {
                return 0;
            }
            n
        }
    };
    match leaf.as_str() {
        "inbox" => 0,
        "archive" | "archives" | "all mail" => 2,
        "sent" | "sent items" | "sent messages" | "sent mail" | "drafts" => 3,
        "junk" | "spam" | "junk e-mail" | "bulk mail" => 4,
        "trash" | "deleted items" | "deleted messages" | "bin" => 5,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Flags;
    use crate::model::{Loc, Sub};
    use crate::model::{Store, StoreKind};

    /// A Maildir at `/nonexistent/md` holding one copy per `(name, delivered_at, flags)`,
    /// all of one message; `extra` copies of another message follow.
    fn scan_of(copies: &[(&str, i64, Flags)]) -> ScanOutput {
        ScanOutput {
            stores: vec![Store {
                path: PathBuf::from("/nonexistent/md"),
                kind: StoreKind::Maildir,
            }],
            copies: copies
                .iter()
                .map(|&(name, t, flags)| MessageCopy {
                    store: 0,
                    time_source: None,
                    loc: Loc::Maildir {
                        sub: Sub::Cur,
                        name: std::ffi::OsStr::new(name).into(),
                    },
                    length: 10,
                    id_key: 1,
                    message_id: Some("<a@b>".into()),
                    header_key: None,
                    content: Some(Box::new([7; 32])),
                    delivered_at: Some(t),
                    flags,
                    mtime: 0,
                    rejected_times: 0,
                })
                .collect(),
            skipped: Vec::new(),
            comparisons: Default::default(),
        }
    }

    fn flags(s: &str) -> Flags {
        Flags::from_maildir(s)
    }

    #[test]
    fn a_deleted_copy_is_never_kept_while_a_live_one_exists() {
        let scan = scan_of(&[
            ("a:2,ST", 1000, flags("ST")),
            ("b:2,S", 2000, flags("S")),
            ("c:2,T", 2001, flags("T")),
        ]);
        for keep in [KeepRule::Earliest, KeepRule::Latest] {
            for prefer in [vec![], vec![PathBuf::from("/nonexistent/md/cur/a:2,ST")]] {
                let opts = GroupOptions {
                    keep,
                    prefer,
                    ..GroupOptions::default()
                };
                let g = group(&scan, &opts);
                assert_eq!(g.groups.len(), 1);
                assert_eq!(g.groups[0].kept(), 1, "{keep:?}");
                // Classes are relative to the kept live copy (delivered at 2000).
                let mut classes: Vec<_> = g.groups[0]
                    .extras()
                    .iter()
                    .map(|m| (m.copy, m.class))
                    .collect();
                classes.sort_by_key(|c| c.0);
                assert_eq!(
                    classes,
                    [(0, Some(Class::DifferentTime)), (2, Some(Class::SameTime))],
                    "{keep:?}"
                );
            }
        }
    }

    #[test]
    fn a_group_of_deleted_copies_only_is_left_whole() {
        let scan = scan_of(&[("a:2,ST", 1000, flags("ST")), ("b:2,T", 2000, flags("T"))]);
        let g = group(&scan, &GroupOptions::default());
        assert!(g.groups.is_empty());
        assert_eq!(g.deleted_only, 1);
    }

    #[test]
    fn expunged_copies_are_not_grouped() {
        let exp = Flags(flags("S").0 | Flags::EXPUNGED.0);
        let scan = scan_of(&[("a", 1000, exp), ("b:2,S", 2000, flags("S"))]);
        let g = group(&scan, &GroupOptions::default());
        assert!(g.groups.is_empty() && g.conflicts.is_empty());
        assert_eq!(g.deleted_only, 0);
        let scan = scan_of(&[
            ("a", 1000, exp),
            ("b:2,S", 2000, flags("S")),
            ("c:2,", 2002, flags("")),
        ]);
        let g = group(&scan, &GroupOptions::default());
        assert_eq!(g.groups.len(), 1);
        let members: Vec<usize> = g.groups[0].members.iter().map(|m| m.copy).collect();
        assert_eq!(members, [1, 2]);
    }

    #[test]
    fn the_inbox_ranks_first_and_trash_last() {
        use crate::model::{Store, StoreKind};
        let rank = |p: &str, kind| {
            folder_rank(&Store {
                path: PathBuf::from(p),
                kind,
            })
        };
        assert_eq!(rank("/home/u/Maildir", StoreKind::Maildir), 0);
        assert_eq!(rank("/home/u/mail/INBOX", StoreKind::Mbox), 0);
        assert_eq!(rank("/home/u/mail/inbox.mbox", StoreKind::Mbox), 0);
        assert_eq!(rank("/home/u/Maildir/.Lists.rust", StoreKind::Maildir), 1);
        assert_eq!(rank("/home/u/Maildir/.Archive", StoreKind::Maildir), 2);
        assert_eq!(rank("/home/u/mail/archive.mbox", StoreKind::Mbox), 2);
        assert_eq!(rank("/home/u/Maildir/.Sent", StoreKind::Maildir), 3);
        assert_eq!(rank("/home/u/Maildir/.Junk", StoreKind::Maildir), 4);
        assert_eq!(rank("/home/u/Maildir/.INBOX.Trash", StoreKind::Maildir), 5);
    }

    #[test]
    fn each_folder_keeps_its_first_copy() {
        let mut scan = scan_of(&[
            ("a:2,S", 1000, flags("S")),
            ("b:2,S", 1100, flags("S")),
            ("c:2,S", 2000, flags("S")),
            ("d:2,S", 2002, flags("S")),
        ]);
        scan.stores.push(crate::model::Store {
            path: PathBuf::from("/nonexistent/md/.Archive"),
            kind: StoreKind::Maildir,
        });
        scan.copies[2].store = 1;
        scan.copies[3].store = 1;
        let g = group(&scan, &GroupOptions::default());
        assert_eq!(g.groups.len(), 1);
        let grp = &g.groups[0];
        assert_eq!(grp.kept(), 0);
        let extras: Vec<_> = grp
            .extras()
            .iter()
            .map(|m| (m.copy, m.class, m.relative_to, m.scope))
            .collect();
        assert_eq!(
            extras,
            [
                (1, Some(Class::DifferentTime), 0, Some(Scope::SameFolder)),
                (3, Some(Class::SameTime), 2, Some(Scope::SameFolder))
            ]
        );
        let elsewhere: Vec<_> = grp.kept_elsewhere().iter().map(|m| m.copy).collect();
        assert_eq!(elsewhere, [2]);
        assert_eq!(g.cross_folder_copies(), 1);
        let across = group(
            &scan,
            &GroupOptions {
                across_folders: true,
                ..GroupOptions::default()
            },
        );
        assert_eq!(across.groups[0].extras().len(), 3);
        assert!(across.groups[0].kept_elsewhere().is_empty());
        assert_eq!(across.cross_folder_copies(), 2);
    }

    #[test]
    fn class_names_match_their_serialized_form() {
        for c in [Class::SameTime, Class::DifferentTime] {
            assert_eq!(serde_json::to_value(c).ok(), Some(c.as_str().into()));
        }
        for g in [
            GroupClass::SameTime,
            GroupClass::DifferentTime,
            GroupClass::Mixed,
        ] {
            assert_eq!(serde_json::to_value(g).ok(), Some(g.as_str().into()));
        }
    }
}
