//! The pure stages on a scan built in memory: grouping and the keep order
//! (`maildedup::group::group`), the plan (`maildedup::act::plan::plan`) and the JSON and
//! text reports (`maildedup::render::report::Report`). No store is read or written: every
//! path is under `/nonexistent`, so a stage that touched the disk would find nothing.
//!
//! Left out on purpose: the conflict explanation of the report (it re-reads one copy of
//! each variant) and incident causes (they read the Received headers of extras in a
//! burst; these scans have far too few extras for one).

use maildedup::act::plan::{plan, Plan};
use maildedup::group::{group, Class, GroupClass, GroupOptions, Grouping, KeepRule, Scope};
use maildedup::identity::{Digest, Flags};
use maildedup::model::{Loc, MessageCopy, ScanOutput, Store, StoreKind, Sub};
use maildedup::render::report::Report;
use serde_json::Value;
use std::path::PathBuf;

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200;

/// A scan being built: stores, then copies in them.
struct Scan(ScanOutput);

impl Scan {
    fn new() -> Scan {
        Scan(ScanOutput {
            stores: Vec::new(),
            copies: Vec::new(),
            skipped: Vec::new(),
            comparisons: Default::default(),
        })
    }

    /// Adds a store at `/nonexistent/NAME`; returns its index.
    fn store(&mut self, name: &str, kind: StoreKind) -> u32 {
        self.0.stores.push(Store {
            path: PathBuf::from("/nonexistent").join(name),
            kind,
        });
        (self.0.stores.len() - 1) as u32
    }

    /// Adds a copy to `store`: a Maildir file `cur/NAME` or, in an mbox, the entry at
    /// offset `1000 * (copies so far)`. `id`: its Message-ID; `content`: the byte its
    /// content hash is made of (equal bytes, equal content); `t`: delivered at `T0 + t`;
    /// `flags`: Maildir flag letters. Returns its index.
    fn copy(
        &mut self,
        store: u32,
        name: &str,
        id: Option<&str>,
        content: u8,
        t: Option<i64>,
        flags: &str,
    ) -> usize {
        let n = self.0.copies.len();
        let loc = match self.0.stores[store as usize].kind {
            StoreKind::Maildir => Loc::Maildir {
                sub: Sub::Cur,
                name: std::ffi::OsStr::new(name).into(),
            },
            StoreKind::Mbox => Loc::Mbox {
                offset: 1000 * n as u64,
            },
            StoreKind::Eml => Loc::Eml {
                name: std::ffi::OsStr::new(name).into(),
            },
            StoreKind::Imap => Loc::Imap {
                uid: n as u32 + 1,
                uidvalidity: 1,
            },
        };
        self.0.copies.push(MessageCopy {
            store,
            time_source: None,
            loc,
            length: 100 + n as u64,
            id_key: id.map_or(0, |s| s.len() as u64 + 1),
            message_id: id.map(Into::into),
            header_key: None,
            content: Some(Box::new(digest(content))),
            delivered_at: t.map(|t| T0 + t),
            flags: Flags::from_maildir(flags),
            mtime: 0,
            rejected_times: 0,
        });
        n
    }

    fn group(&self, opts: &GroupOptions) -> Grouping {
        group(&self.0, opts)
    }
}

fn digest(b: u8) -> Digest {
    [b; 32]
}

fn across() -> GroupOptions {
    GroupOptions {
        across_folders: true,
        ..GroupOptions::default()
    }
}

/// The copies of the only group, as (kept, extras, kept elsewhere).
fn only_group(g: &Grouping) -> (usize, Vec<usize>, Vec<usize>) {
    assert_eq!(g.groups.len(), 1, "one group expected: {g:#?}");
    let gr = &g.groups[0];
    (
        gr.kept(),
        gr.extras().iter().map(|m| m.copy).collect(),
        gr.kept_elsewhere().iter().map(|m| m.copy).collect(),
    )
}

// ---- grouping ----

#[test]
fn same_message_id_and_same_content_is_one_group_keeping_the_earliest() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let late = s.copy(md, "2", Some("<a@x>"), 1, Some(600), "");
    let early = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    let g = s.group(&GroupOptions::default());
    assert_eq!(only_group(&g), (early, vec![late], vec![]));
    assert!(g.conflicts.is_empty());
    let gr = &g.groups[0];
    assert_eq!(gr.message_id.as_deref(), Some("<a@x>"));
    assert_eq!(gr.content_hash, digest(1));
    let m = &gr.extras()[0];
    assert_eq!(m.class, Some(Class::DifferentTime));
    assert_eq!(m.relative_to, early);
    assert_eq!(m.scope, Some(Scope::SameFolder));
    assert_eq!(gr.members[0].class, None, "the kept copy has no class");
    assert_eq!(gr.class(), GroupClass::DifferentTime);
}

#[test]
fn the_same_time_window_decides_the_class_of_each_extra() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let kept = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    let within = s.copy(md, "2", Some("<a@x>"), 1, Some(5), "");
    let beyond = s.copy(md, "3", Some("<a@x>"), 1, Some(6), "");
    let g = s.group(&GroupOptions::default());
    let gr = &g.groups[0];
    assert_eq!(gr.kept(), kept);
    let class = |c: usize| {
        gr.extras()
            .iter()
            .find(|m| m.copy == c)
            .and_then(|m| m.class)
    };
    assert_eq!(
        class(within),
        Some(Class::SameTime),
        "5 s is inside the default window"
    );
    assert_eq!(
        class(beyond),
        Some(Class::DifferentTime),
        "6 s is outside it"
    );
    assert_eq!(gr.class(), GroupClass::Mixed);

    let wide = s.group(&GroupOptions {
        window_secs: 60,
        ..GroupOptions::default()
    });
    assert_eq!(wide.groups[0].class(), GroupClass::SameTime);
}

#[test]
fn a_copy_without_a_delivery_time_is_never_kept_before_a_dated_one_and_is_different_time() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let undated = s.copy(md, "0", Some("<a@x>"), 1, None, "");
    let dated = s.copy(md, "9", Some("<a@x>"), 1, Some(1000), "");
    let g = s.group(&GroupOptions::default());
    assert_eq!(only_group(&g), (dated, vec![undated], vec![]));
    assert_eq!(g.groups[0].extras()[0].class, Some(Class::DifferentTime));
}

#[test]
fn same_message_id_with_different_content_is_a_conflict_not_a_group() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let a = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    let b = s.copy(md, "2", Some("<a@x>"), 2, Some(0), "");
    let g = s.group(&GroupOptions::default());
    assert!(g.groups.is_empty(), "{g:#?}");
    assert_eq!(g.conflicts.len(), 1);
    assert_eq!(&*g.conflicts[0].message_id, "<a@x>");
    assert_eq!(
        g.conflicts[0].copies,
        vec![a, b],
        "every copy, in path order"
    );
}

#[test]
fn identical_copies_inside_a_conflict_still_form_a_group() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let a1 = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    let a2 = s.copy(md, "2", Some("<a@x>"), 1, Some(3), "");
    let b = s.copy(md, "3", Some("<a@x>"), 2, Some(9), "");
    let g = s.group(&GroupOptions::default());
    assert_eq!(g.conflicts.len(), 1);
    assert_eq!(g.conflicts[0].copies, vec![a1, a2, b]);
    assert_eq!(only_group(&g), (a1, vec![a2], vec![]));
    assert_eq!(g.groups[0].content_hash, digest(1));
}

#[test]
fn without_a_message_id_copies_group_by_content_alone() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let a1 = s.copy(md, "1", None, 1, Some(0), "");
    let a2 = s.copy(md, "2", None, 1, Some(100), "");
    s.copy(md, "3", None, 2, Some(100), "");
    let g = s.group(&GroupOptions::default());
    assert_eq!(only_group(&g), (a1, vec![a2], vec![]));
    assert_eq!(g.groups[0].message_id, None);
    assert!(g.conflicts.is_empty(), "no Message-ID, no conflict");
}

#[test]
fn different_message_ids_never_group_even_with_the_same_content() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    s.copy(md, "2", Some("<b@x>"), 1, Some(0), "");
    s.copy(md, "3", None, 1, Some(0), "");
    let g = s.group(&GroupOptions::default());
    assert!(g.groups.is_empty() && g.conflicts.is_empty(), "{g:#?}");
}

#[test]
fn keep_latest_keeps_the_copy_delivered_last() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let early = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    let late = s.copy(md, "2", Some("<a@x>"), 1, Some(600), "");
    let g = s.group(&GroupOptions {
        keep: KeepRule::Latest,
        ..GroupOptions::default()
    });
    assert_eq!(only_group(&g), (late, vec![early], vec![]));
}

#[test]
fn a_preferred_path_wins_over_the_keep_rule() {
    let mut s = Scan::new();
    let a = s.store("a", StoreKind::Maildir);
    let b = s.store("b", StoreKind::Maildir);
    let early = s.copy(a, "1", Some("<a@x>"), 1, Some(0), "");
    let late = s.copy(b, "2", Some("<a@x>"), 1, Some(600), "");
    let g = s.group(&GroupOptions {
        prefer: vec![PathBuf::from("/nonexistent/b")],
        ..across()
    });
    assert_eq!(only_group(&g), (late, vec![early], vec![]));
}

#[test]
fn a_deleted_copy_is_never_kept_while_a_live_one_exists() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let deleted = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "ST");
    let live = s.copy(md, "2", Some("<a@x>"), 1, Some(600), "S");
    for keep in [KeepRule::Earliest, KeepRule::Latest] {
        let g = s.group(&GroupOptions {
            keep,
            ..GroupOptions::default()
        });
        assert_eq!(only_group(&g), (live, vec![deleted], vec![]), "{keep:?}");
    }
}

#[test]
fn copies_that_are_all_deleted_are_no_group() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    s.copy(md, "1", Some("<a@x>"), 1, Some(0), "T");
    s.copy(md, "2", Some("<a@x>"), 1, Some(600), "ST");
    let g = s.group(&GroupOptions::default());
    assert!(g.groups.is_empty() && g.cross_folder.is_empty(), "{g:#?}");
    assert_eq!(g.deleted_only, 1);
}

#[test]
fn expunged_copies_are_not_grouped_at_all() {
    let mut s = Scan::new();
    let mb = s.store("INBOX", StoreKind::Mbox);
    s.copy(mb, "", Some("<a@x>"), 1, Some(0), "");
    let gone = s.copy(mb, "", Some("<a@x>"), 1, Some(1), "");
    s.0.copies[gone].flags = Flags::EXPUNGED;
    let g = s.group(&GroupOptions::default());
    assert!(g.groups.is_empty(), "{g:#?}");
    assert_eq!(g.deleted_only, 0);
}

#[test]
fn the_folder_rule_keeps_one_copy_in_every_folder() {
    let mut s = Scan::new();
    let inbox = s.store("INBOX", StoreKind::Maildir);
    let arch = s.store(".Archive", StoreKind::Maildir);
    let first = s.copy(inbox, "1", Some("<a@x>"), 1, Some(0), "");
    let second = s.copy(inbox, "2", Some("<a@x>"), 1, Some(2), "");
    let in_archive = s.copy(arch, "3", Some("<a@x>"), 1, Some(900), "");

    let g = s.group(&GroupOptions::default());
    assert!(!g.across_folders);
    assert_eq!(only_group(&g), (first, vec![second], vec![in_archive]));
    let gr = &g.groups[0];
    assert_eq!(gr.extras()[0].scope, Some(Scope::SameFolder));
    assert_eq!(gr.extras()[0].class, Some(Class::SameTime));
    let elsewhere = &gr.kept_elsewhere()[0];
    assert_eq!(elsewhere.class, None, "kept in its own folder");
    assert_eq!(elsewhere.scope, Some(Scope::CrossFolder));
    assert_eq!(g.cross_folder_copies(), 1);

    let g = s.group(&across());
    assert!(g.across_folders);
    assert_eq!(only_group(&g), (first, vec![second, in_archive], vec![]));
    let m = g.groups[0].extras().iter().find(|m| m.copy == in_archive);
    assert_eq!(m.map(|m| m.scope), Some(Some(Scope::CrossFolder)));
    assert_eq!(m.map(|m| m.class), Some(Some(Class::DifferentTime)));
}

#[test]
fn one_copy_in_each_of_two_folders_moves_nothing_under_the_folder_rule() {
    let mut s = Scan::new();
    let inbox = s.store("INBOX", StoreKind::Maildir);
    let mb = s.store("saved.mbox", StoreKind::Mbox);
    let a = s.copy(inbox, "1", Some("<a@x>"), 1, Some(0), "");
    let b = s.copy(mb, "", Some("<a@x>"), 1, Some(0), "");
    let g = s.group(&GroupOptions::default());
    assert!(g.groups.is_empty(), "{g:#?}");
    assert_eq!(g.cross_folder.len(), 1);
    assert_eq!(g.cross_folder[0].n_extras, 0);
    assert_eq!(g.cross_folder[0].kept(), a);
    assert_eq!(g.cross_folder[0].kept_elsewhere()[0].copy, b);

    let g = s.group(&across());
    assert_eq!(only_group(&g), (a, vec![b], vec![]));
}

#[test]
fn under_across_folders_a_tie_goes_to_the_folder_read_first() {
    // Same delivery time: the INBOX wins over any folder, any folder over Trash, whatever
    // the path order ("/nonexistent/.Trash" sorts before "/nonexistent/zz").
    let mut s = Scan::new();
    let trash = s.store(".Trash", StoreKind::Maildir);
    let other = s.store("zz.mbox", StoreKind::Mbox);
    let in_trash = s.copy(trash, "1", Some("<a@x>"), 1, Some(0), "");
    let in_other = s.copy(other, "", Some("<a@x>"), 1, Some(0), "");
    let g = s.group(&across());
    assert_eq!(only_group(&g), (in_other, vec![in_trash], vec![]));

    let inbox = s.store("inbox.mbox", StoreKind::Mbox);
    let in_inbox = s.copy(inbox, "", Some("<a@x>"), 1, Some(0), "");
    let g = s.group(&across());
    assert_eq!(g.groups[0].kept(), in_inbox);
}

// ---- plan ----

fn moved(p: &Plan) -> Vec<usize> {
    p.moves.iter().map(|m| m.copy).collect()
}

#[test]
fn the_plan_moves_every_extra_and_merges_its_flags_into_the_kept_copy() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let kept = s.copy(md, "1", Some("<a@x>"), 1, Some(0), "S");
    // Flagged, replied and passed carry over; Trashed and Draft never do.
    let extra = s.copy(md, "2", Some("<a@x>"), 1, Some(900), "FPRTD");
    let g = s.group(&GroupOptions::default());
    let p = plan(&s.0, &g, None);
    assert_eq!(moved(&p), vec![extra]);
    let m = &p.moves[0];
    assert_eq!((m.group, m.kept, m.class), (0, kept, Class::DifferentTime));
    assert_eq!(m.scope, Scope::SameFolder);
    assert_eq!(p.flag_merges.len(), 1);
    assert_eq!(p.flag_merges[0].copy, kept);
    assert_eq!(p.flag_merges[0].add.to_string(), "FPR");
    assert!(p.also_in.is_empty());
}

#[test]
fn a_kept_mbox_copy_gains_only_the_flags_an_mbox_can_carry() {
    let mut s = Scan::new();
    let mb = s.store("INBOX", StoreKind::Mbox);
    let kept = s.copy(mb, "", Some("<a@x>"), 1, Some(0), "");
    s.copy(mb, "", Some("<a@x>"), 1, Some(900), "FPS");
    let g = s.group(&GroupOptions::default());
    let p = plan(&s.0, &g, None);
    assert_eq!(p.flag_merges.len(), 1);
    assert_eq!(p.flag_merges[0].copy, kept);
    assert_eq!(
        p.flag_merges[0].add.to_string(),
        "FS",
        "no Passed in an mbox"
    );
}

#[test]
fn no_flag_merge_when_the_kept_copy_has_every_flag_already() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    s.copy(md, "1", Some("<a@x>"), 1, Some(0), "FS");
    s.copy(md, "2", Some("<a@x>"), 1, Some(900), "S");
    let p = plan(&s.0, &s.group(&GroupOptions::default()), None);
    assert_eq!(p.moves.len(), 1);
    assert!(p.flag_merges.is_empty(), "{:?}", p.flag_merges);
}

#[test]
fn only_class_limits_the_plan_to_that_class() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    let same = s.copy(md, "2", Some("<a@x>"), 1, Some(1), "F");
    let diff = s.copy(md, "3", Some("<a@x>"), 1, Some(900), "R");
    let g = s.group(&GroupOptions::default());
    assert_eq!(moved(&plan(&s.0, &g, None)).len(), 2);
    let p = plan(&s.0, &g, Some(Class::SameTime));
    assert_eq!(moved(&p), vec![same]);
    assert_eq!(
        p.flag_merges[0].add.to_string(),
        "F",
        "flags of moved copies only"
    );
    let p = plan(&s.0, &g, Some(Class::DifferentTime));
    assert_eq!(moved(&p), vec![diff]);
    assert_eq!(p.flag_merges[0].add.to_string(), "R");
}

#[test]
fn under_the_folder_rule_the_plan_moves_nothing_across_folders_and_says_also_in() {
    let mut s = Scan::new();
    let inbox = s.store("INBOX", StoreKind::Maildir);
    let arch = s.store(".Archive", StoreKind::Maildir);
    let a = s.copy(inbox, "1", Some("<a@x>"), 1, Some(0), "");
    let b = s.copy(arch, "2", Some("<a@x>"), 1, Some(900), "F");
    let p = plan(&s.0, &s.group(&GroupOptions::default()), None);
    assert!(p.moves.is_empty() && p.flag_merges.is_empty(), "{p:#?}");
    assert_eq!(p.also_in.len(), 1);
    assert_eq!(p.also_in[0].copy, b);
    assert_eq!(p.also_in[0].folders, vec![inbox]);

    let p = plan(&s.0, &s.group(&across()), None);
    assert_eq!(moved(&p), vec![b]);
    assert_eq!(p.moves[0].kept, a);
    assert_eq!(p.moves[0].scope, Scope::CrossFolder);
    assert_eq!(p.flag_merges[0].add.to_string(), "F");
    assert!(p.also_in.is_empty());
}

#[test]
fn the_plan_of_several_groups_points_each_move_at_its_group() {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    s.copy(md, "a1", Some("<a@x>"), 1, Some(0), "");
    let a2 = s.copy(md, "a2", Some("<a@x>"), 1, Some(900), "");
    s.copy(md, "b1", Some("<b@x>"), 2, Some(0), "");
    let b2 = s.copy(md, "b2", Some("<b@x>"), 2, Some(900), "");
    let g = s.group(&GroupOptions::default());
    let p = plan(&s.0, &g, None);
    assert_eq!(p.moves.len(), 2);
    for m in &p.moves {
        assert!(g.groups[m.group].extras().iter().any(|e| e.copy == m.copy));
    }
    let mut all = moved(&p);
    all.sort_unstable();
    assert_eq!(all, vec![a2, b2]);
}

// ---- report ----

fn report_json(scan: &ScanOutput, g: &Grouping) -> Value {
    serde_json::to_value(Report::build(scan, g)).unwrap_or_else(|e| panic!("serialise: {e}"))
}

/// Two stores (a Maildir and an mbox), one message only once, a group with a same-time
/// and a different-time extra, and a group with one same-time extra.
fn mixed_scan() -> Scan {
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    let mb = s.store("old.mbox", StoreKind::Mbox);
    s.copy(md, "a1", Some("<a@x>"), 1, Some(0), "S"); // 100 bytes
    s.copy(md, "a2", Some("<a@x>"), 1, Some(2), ""); // 101
    s.copy(md, "a3", Some("<a@x>"), 1, Some(7200), "F"); // 102
    s.copy(mb, "", Some("<b@x>"), 2, Some(0), ""); // 103
    s.copy(mb, "", Some("<b@x>"), 2, Some(1), ""); // 104
    s.copy(md, "c1", Some("<c@x>"), 3, Some(0), ""); // 105
    s
}

#[test]
fn the_json_report_counts_stores_messages_groups_and_classes() {
    let s = mixed_scan();
    let g = s.group(&GroupOptions::default());
    let v = report_json(&s.0, &g);
    assert_eq!(v["version"], 1);
    let sum = &v["summary"];
    assert_eq!(sum["stores"], 2);
    assert_eq!(sum["maildir_stores"], 1);
    assert_eq!(sum["mbox_stores"], 1);
    assert_eq!(sum["messages"], 6);
    assert_eq!(sum["groups"], 2);
    assert_eq!(sum["extra_copies"], 3);
    assert_eq!(sum["same_time"], 2);
    assert_eq!(sum["different_time"], 1);
    assert_eq!(sum["mixed_groups"], 1);
    assert_eq!(sum["reclaimable_bytes"], 101 + 102 + 104);
    assert_eq!(sum["conflicts"], 0);
    assert_eq!(sum["skipped"], 0);
    assert_eq!(sum["deleted_only_groups"], 0);
    assert_eq!(sum["cross_folder_copies"], 0);
    assert_eq!(sum["across_folders"], false);
}

#[test]
fn the_json_report_lists_each_group_with_its_kept_copy_first_and_the_class_of_each_extra() {
    let s = mixed_scan();
    let g = s.group(&GroupOptions::default());
    let v = report_json(&s.0, &g);
    let groups = v["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2, "{v:#}");
    let a = groups
        .iter()
        .find(|g| g["message_id"] == "<a@x>")
        .unwrap_or_else(|| panic!("no group <a@x>: {v:#}"));
    assert_eq!(a["class"], "mixed");
    assert_eq!(a["content_hash"], "01".repeat(32));
    let copies = a["copies"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, Value, Value, String)> = copies
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap_or("").to_string(),
                c["keep"].clone(),
                c["class"].clone(),
                c["flags"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "/nonexistent/INBOX/cur/a1".into(),
                Value::from(true),
                Value::Null,
                "S".into()
            ),
            (
                "/nonexistent/INBOX/cur/a2".into(),
                false.into(),
                "same-time".into(),
                "".into()
            ),
            (
                "/nonexistent/INBOX/cur/a3".into(),
                false.into(),
                "different-time".into(),
                "F".into()
            ),
        ]
    );
    assert_eq!(copies[0]["delivered_at"], "2024-01-01T00:00:00Z");
    assert_eq!(
        copies[1]["relative_to"]["path"],
        "/nonexistent/INBOX/cur/a1"
    );
    assert_eq!(copies[1]["scope"], "same-folder");
    assert_eq!(copies[0]["relative_to"], Value::Null);

    let b = groups
        .iter()
        .find(|g| g["message_id"] == "<b@x>")
        .unwrap_or_else(|| panic!("no group <b@x>: {v:#}"));
    assert_eq!(b["class"], "same-time");
    assert_eq!(b["copies"][1]["offset"], 4000, "the mbox entry's offset");
}

#[test]
fn the_json_report_counts_cross_folder_copies_and_deleted_only_groups() {
    let mut s = Scan::new();
    let inbox = s.store("INBOX", StoreKind::Maildir);
    let arch = s.store(".Archive", StoreKind::Maildir);
    s.copy(inbox, "1", Some("<a@x>"), 1, Some(0), "");
    s.copy(arch, "2", Some("<a@x>"), 1, Some(900), "");
    s.copy(inbox, "3", Some("<d@x>"), 4, Some(0), "T");
    s.copy(inbox, "4", Some("<d@x>"), 4, Some(9), "T");
    let g = s.group(&GroupOptions::default());
    let v = report_json(&s.0, &g);
    assert_eq!(v["summary"]["groups"], 0);
    assert_eq!(v["summary"]["extra_copies"], 0);
    assert_eq!(v["summary"]["cross_folder_copies"], 1);
    assert_eq!(v["summary"]["cross_folder_groups"], 1);
    assert_eq!(v["summary"]["deleted_only_groups"], 1);
    assert_eq!(v["cross_folder"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        v["cross_folder"][0]["copies"][1]["also_in"],
        serde_json::json!(["/nonexistent/INBOX"])
    );

    let g = s.group(&across());
    let v = report_json(&s.0, &g);
    assert_eq!(v["summary"]["groups"], 1);
    assert_eq!(v["summary"]["extra_copies"], 1);
    assert_eq!(v["summary"]["cross_folder_copies"], 1);
    assert_eq!(v["summary"]["across_folders"], true);
}

#[test]
fn a_conflict_is_counted_in_the_grouping_the_report_would_explain() {
    // The report's conflict entry re-reads the copies to say what differs, so only the
    // grouping's side is checked here (tests/scan_cases.rs covers the report's).
    let mut s = Scan::new();
    let md = s.store("INBOX", StoreKind::Maildir);
    s.copy(md, "1", Some("<a@x>"), 1, Some(0), "");
    s.copy(md, "2", Some("<a@x>"), 2, Some(0), "");
    let g = s.group(&GroupOptions::default());
    assert_eq!(g.conflicts.len(), 1);
    assert!(g.groups.is_empty());
}

#[test]
fn the_text_summary_states_the_same_counts() {
    let s = mixed_scan();
    let g = s.group(&GroupOptions::default());
    let text = Report::build(&s.0, &g).human_painted(
        false,
        0,
        true,
        maildedup::render::style::Paint::plain(),
        None,
    );
    let first: Vec<&str> = text.lines().take(2).collect();
    assert_eq!(
        first[0], "Scanned 6 messages in 2 stores (1 Maildir, 1 mbox).",
        "{text}"
    );
    assert!(
        first[1].starts_with("Duplicate groups:")
            && first[1].contains("extra copies: 3 (2 same-time, 1 different-time; 1 mixed group)"),
        "{text}"
    );
}
