//! Incident forensics: when the extra copies appeared, and why.
//!
//! - [`timeline`]: extra copies by delivery time and class, in buckets sized from the span;
//! - [`incidents`]: bursts where extra copies cluster;
//! - [`rate`]: lasting changes in the share of a folder's deliveries that get a same-time
//!   extra copy (a filter or alias doubling every message, one every few minutes);
//! - [`fleet`]: the same incident in many mailboxes at once (`--each`): a server-side cause;
//! - [`cause`]: the likely cause of each extra copy in a burst, from its class, its folder
//!   and its Received chain compared with the kept copy's;
//! - the terminal rendering lives in [`crate::render::chart`].
//!
//! Only copies in an incident are read again (their header block, at most 64 KiB each, and
//! at most [`SAMPLE_MAX`] per incident, [`SAMPLE_TOTAL`] shared by all incidents, never
//! under [`SAMPLE_MIN`] each): unique messages and scattered duplicates cost
//! nothing here.

pub mod cause;
pub mod fleet;
pub mod incidents;
pub mod rate;
pub mod timeline;

use crate::group::{Class, GroupClass, Grouping};
use crate::model::encode::rfc3339;
use crate::model::ScanOutput;
use crate::model::StoreKind;
use cause::{Cause, Chain, Trace};
use rayon::prelude::*;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use timeline::Bucket;

/// At most this many copies of one incident are read to find its cause (evenly sampled).
pub const SAMPLE_MAX: usize = 2_000;

/// Copies read over all incidents together: each incident's share of this, in proportion
/// to its size, but never fewer than [`SAMPLE_MIN`] (or all its copies). A store with
/// hundreds of incidents (a fetcher that re-fetched every night for a year) costs a few
/// thousand header reads, not two per extra copy.
pub const SAMPLE_TOTAL: usize = 2_000;

/// Every incident gets at least this many of its copies read (all, if it has fewer).
pub const SAMPLE_MIN: usize = 20;

/// How many copies of an incident of `n` are read, when the incidents hold `total`.
pub fn sample_size(n: usize, total: usize) -> usize {
    let share = (SAMPLE_TOTAL * n).div_ceil(total.max(1));
    share.clamp(SAMPLE_MIN, SAMPLE_MAX).min(n)
}

/// An incident's class is that of at least this share of its copies, else `mixed`.
pub const CLASS_SHARE: f64 = 0.9;

/// The forensics part of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Forensics {
    /// The width of each timeline bucket.
    pub timeline_bucket_seconds: i64,
    #[serde(serialize_with = "ser_buckets")]
    pub timeline: Vec<Bucket>,
    /// Extra copies without a delivery time (left out of the timeline and incidents).
    pub undated_extra_copies: usize,
    pub incidents: Vec<Incident>,
    /// Per store: its messages, extra copies by class, kept copies, and the incidents
    /// (indices into `incidents`) that hold its copies.
    pub stores: Vec<StoreForensics>,
    /// The cause code of each extra copy that belongs to an incident (by copy index).
    #[serde(skip)]
    pub copy_cause: HashMap<usize, Cause>,
}

/// One store's line in the per-store section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct StoreForensics {
    pub path: String,
    pub kind: StoreKind,
    pub messages: usize,
    pub extras_same_time: usize,
    pub extras_different_time: usize,
    pub kept: usize,
    pub incidents: Vec<usize>,
}

/// How an incident was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Extra copies clustered in time ([`incidents`]).
    Burst,
    /// A lasting change in a folder's share of doubled deliveries ([`rate`]).
    Rate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    #[serde(serialize_with = "ser_time")]
    pub start: i64,
    #[serde(serialize_with = "ser_time")]
    pub end: i64,
    pub extra_copies: usize,
    /// `same-time`, `different-time` (at least 90% of the copies), or `mixed`.
    pub class: GroupClass,
    pub same_time: usize,
    pub different_time: usize,
    /// The cause in plain words.
    pub likely_cause: &'static str,
    /// The cause as a stable code.
    pub cause_code: Cause,
    /// Why, in plain words, with numbers.
    pub evidence: String,
    /// The stores (folders, mbox files) holding the extra copies, most copies first.
    pub stores: Vec<String>,
    /// The same, with counts.
    pub folders: Vec<FolderCount>,
    /// The stores holding the kept copies, most first.
    pub kept_stores: Vec<String>,
    /// When the kept copies of the duplicated messages were delivered.
    pub original_span: Span,
    /// How long after (or before, with `--keep latest`) the kept copy the extra copies
    /// were delivered.
    pub delay_seconds: Delay,
    /// How many of the examined copies each cause explains.
    pub causes: BTreeMap<&'static str, usize>,
    /// How many copies were read to find the cause (all, or an even sample).
    pub examined: usize,
    /// `burst` or `rate`.
    pub kind: Kind,
    /// How this cause comes about (every mechanism the trace cannot tell apart).
    pub mechanism: &'static str,
    /// What to check or change, and where.
    pub next_step: &'static str,
    /// Rate incidents: the folder whose deliveries got the extra copies; null for bursts.
    pub folder: Option<String>,
    /// Rate incidents: deliveries to the folder during the incident; null for bursts.
    pub deliveries: Option<usize>,
    /// Rate incidents: how many of those got a same-time extra copy.
    pub duplicated_deliveries: Option<usize>,
    /// Rate incidents: the share of deliveries with an extra copy before the incident
    /// (null when it started with the folder's first delivery, and for bursts).
    pub rate_before: Option<f64>,
    /// Rate incidents: the same share during the incident.
    pub rate_during: Option<f64>,
    /// Rate incidents: the same share after it (null when still going).
    pub rate_after: Option<f64>,
    /// Rate incidents: it lasts up to the folder's last delivery.
    pub still_going: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderCount {
    pub path: String,
    pub extra_copies: usize,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Span {
    #[serde(serialize_with = "ser_opt_time")]
    pub start: Option<i64>,
    #[serde(serialize_with = "ser_opt_time")]
    pub end: Option<i64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Delay {
    pub min: Option<i64>,
    pub median: Option<i64>,
    pub max: Option<i64>,
}

fn ser_time<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    rfc3339(*t).serialize(s)
}

fn ser_opt_time<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    t.and_then(rfc3339).serialize(s)
}

fn ser_buckets<S: Serializer>(b: &[Bucket], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Out {
        start: Option<String>,
        end: Option<String>,
        same_time: usize,
        different_time: usize,
    }
    s.collect_seq(b.iter().map(|b| Out {
        start: rfc3339(b.start),
        end: rfc3339(b.end),
        same_time: b.same_time,
        different_time: b.different_time,
    }))
}

/// One extra copy, placed in time.
#[derive(Debug, Clone, Copy)]
struct Extra {
    time: i64,
    copy: usize,
    kept: usize,
    class: Class,
}

/// Builds the timeline and finds and explains the incidents.
pub fn analyze(scan: &ScanOutput, grouping: &Grouping) -> Forensics {
    let mut extras = Vec::new();
    let mut undated = 0;
    for g in &grouping.groups {
        for m in g.extras() {
            let Some(class) = m.class else { continue };
            let kept = m.relative_to;
            match scan.copies[m.copy].delivered_at {
                Some(time) => extras.push(Extra {
                    time,
                    copy: m.copy,
                    kept,
                    class,
                }),
                None => undated += 1,
            }
        }
    }
    extras.sort_by_key(|e| (e.time, e.copy));
    let points: Vec<(i64, Class)> = extras.iter().map(|e| (e.time, e.class)).collect();
    let (width, buckets) = timeline::timeline(&points);
    let times: Vec<i64> = extras.iter().map(|e| e.time).collect();
    // Bursts first; a copy in a burst is not counted again by the rate detector.
    let mut jobs: Vec<Job> = incidents::find(&times)
        .into_iter()
        .map(|r| Job {
            extras: r.collect(),
            rate: None,
            kind: Kind::Burst,
        })
        .collect();
    let mut burst_of: Vec<Option<usize>> = vec![None; extras.len()];
    for (b, j) in jobs.iter().enumerate() {
        for &i in &j.extras {
            burst_of[i] = Some(b);
        }
    }
    // A burst of same-time copies that is also a change in its folder's share of doubled
    // deliveries keeps its kind, but gains the rates (the same copies, one incident).
    for (members, info) in rate_segments(scan, grouping, &extras, |i| burst_of[i].is_some()) {
        let mut by_burst: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in &members {
            if let Some(b) = burst_of[i] {
                *by_burst.entry(b).or_default() += 1;
            }
        }
        if let Some((&b, &k)) = by_burst.iter().max_by_key(|(_, k)| **k) {
            let whole = jobs[b].extras.len();
            if 10 * k >= 9 * members.len() && 10 * k >= 9 * whole && jobs[b].rate.is_none() {
                jobs[b].rate = Some(info);
            }
        }
    }
    jobs.extend(
        rate_segments(scan, grouping, &extras, |i| burst_of[i].is_none())
            .into_iter()
            .map(|(extras, info)| Job {
                extras,
                rate: Some(info),
                kind: Kind::Rate,
            }),
    );
    let total: usize = jobs.iter().map(|j| j.extras.len()).sum();
    // In parallel: a store with hundreds of small incidents would otherwise wake the
    // thread pool once per incident for a few reads each.
    let mut found: Vec<(Incident, Vec<usize>)> = jobs
        .into_par_iter()
        .map(|j| {
            let k = sample_size(j.extras.len(), total);
            let mine: Vec<Extra> = j.extras.iter().map(|&i| extras[i]).collect();
            let mut inc = explain(scan, &mine, k, j.rate.is_some());
            inc.kind = j.kind;
            if let Some(r) = j.rate {
                r.apply(&mut inc);
            }
            (inc, j.extras)
        })
        .collect();
    // The largest first.
    found.sort_by_key(|(i, _)| (std::cmp::Reverse(i.extra_copies), i.start));
    let mut copy_cause = HashMap::new();
    let mut store_incidents: Vec<Vec<usize>> = vec![Vec::new(); scan.stores.len()];
    for (n, (inc, members)) in found.iter().enumerate() {
        for &i in members {
            let e = &extras[i];
            copy_cause.insert(e.copy, inc.cause_code);
            for s in [scan.copies[e.copy].store, scan.copies[e.kept].store] {
                if let Some(v) = store_incidents.get_mut(s as usize) {
                    if v.last() != Some(&n) {
                        v.push(n);
                    }
                }
            }
        }
    }
    let incidents: Vec<Incident> = found.into_iter().map(|(i, _)| i).collect();
    for v in &mut store_incidents {
        v.sort_unstable();
        v.dedup();
    }
    Forensics {
        timeline_bucket_seconds: width,
        timeline: buckets,
        undated_extra_copies: undated,
        incidents,
        stores: store_section(scan, grouping, store_incidents),
        copy_cause,
    }
}

/// One incident to explain: indices into the sorted extra copies, and for a rate incident
/// its rates.
struct Job {
    extras: Vec<usize>,
    rate: Option<RateInfo>,
    kind: Kind,
}

/// What the rate detector measured for one incident.
#[derive(Debug, Clone)]
struct RateInfo {
    folder: String,
    start: i64,
    end: i64,
    deliveries: usize,
    duplicated: usize,
    before: (usize, usize),
    after: (usize, usize),
    still_going: bool,
}

impl RateInfo {
    fn apply(self, inc: &mut Incident) {
        let share = |(k, n): (usize, usize)| (n > 0).then(|| k as f64 / n as f64);
        let during = share((self.duplicated, self.deliveries));
        let mut ev = format!(
            "{} of {} deliveries to {} from {} to {} UTC got a same-time extra copy",
            self.duplicated,
            self.deliveries,
            self.folder,
            minute(self.start),
            minute(self.end)
        );
        if self.before.1 > 0 {
            ev.push_str(&format!(" ({} of {} before", self.before.0, self.before.1));
        } else {
            ev.push_str(" (from the folder's first delivery");
        }
        if self.still_going {
            ev.push_str("; still going at the last delivery)");
        } else {
            ev.push_str(&format!(", {} of {} after)", self.after.0, self.after.1));
        }
        inc.evidence = format!("{ev}; {}", inc.evidence);
        if inc.kind == Kind::Rate {
            inc.start = self.start;
            inc.end = self.end;
        }
        inc.folder = Some(self.folder);
        inc.deliveries = Some(self.deliveries);
        inc.duplicated_deliveries = Some(self.duplicated);
        inc.rate_before = share(self.before);
        inc.rate_during = during;
        inc.rate_after = if self.still_going {
            None
        } else {
            share(self.after)
        };
        inc.still_going = Some(self.still_going);
    }
}

/// The rate segments: per store, its deliveries (dated copies that are not extra copies)
/// in time order, flagged when they got a same-time extra copy that `counts`; each
/// segment with its extra copies (indices into `extras`) and rates.
fn rate_segments(
    scan: &ScanOutput,
    grouping: &Grouping,
    extras: &[Extra],
    counts: impl Fn(usize) -> bool,
) -> Vec<(Vec<usize>, RateInfo)> {
    // kept copy -> its same-time extras that count (indices into `extras`)
    let mut flagged: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, e) in extras.iter().enumerate() {
        if counts(i) && e.class == Class::SameTime {
            flagged.entry(e.kept).or_default().push(i);
        }
    }
    let mut per_store: BTreeMap<u32, usize> = BTreeMap::new();
    for &kept in flagged.keys() {
        *per_store.entry(scan.copies[kept].store).or_default() += 1;
    }
    per_store.retain(|_, n| *n >= rate::MIN_FLAGGED);
    if per_store.is_empty() {
        return Vec::new();
    }
    let mut is_extra = vec![false; scan.copies.len()];
    for g in &grouping.groups {
        for m in g.extras() {
            if m.class.is_some() {
                is_extra[m.copy] = true;
            }
        }
    }
    let mut deliveries: BTreeMap<u32, Vec<(i64, usize)>> =
        per_store.keys().map(|&s| (s, Vec::new())).collect();
    for (i, c) in scan.copies.iter().enumerate() {
        if is_extra[i] {
            continue;
        }
        if let (Some(t), Some(v)) = (c.delivered_at, deliveries.get_mut(&c.store)) {
            v.push((t, i));
        }
    }
    let mut jobs = Vec::new();
    for (store, mut d) in deliveries {
        d.sort_unstable();
        let x: Vec<bool> = d.iter().map(|(_, c)| flagged.contains_key(c)).collect();
        for seg in rate::find(&x) {
            let count =
                |r: std::ops::Range<usize>| (x[r.clone()].iter().filter(|&&b| b).count(), r.len());
            let (duplicated, n) = count(seg.clone());
            let mut members: Vec<usize> = d[seg.clone()]
                .iter()
                .filter_map(|(_, c)| flagged.get(c))
                .flatten()
                .copied()
                .collect();
            members.sort_unstable();
            let (Some(&(start, _)), Some(&(end, _))) = (d.get(seg.start), d.get(seg.end - 1))
            else {
                continue;
            };
            jobs.push((
                members,
                RateInfo {
                    folder: scan.stores[store as usize]
                        .path
                        .to_string_lossy()
                        .into_owned(),
                    start,
                    end,
                    deliveries: n,
                    duplicated,
                    before: count(0..seg.start),
                    after: count(seg.end..x.len()),
                    still_going: seg.end == x.len(),
                },
            ));
        }
    }
    jobs
}

/// The per-store section: messages, extra copies by class, kept copies, incidents.
fn store_section(
    scan: &ScanOutput,
    grouping: &Grouping,
    incidents: Vec<Vec<usize>>,
) -> Vec<StoreForensics> {
    let mut out: Vec<StoreForensics> = scan
        .stores
        .iter()
        .zip(incidents)
        .map(|(st, incidents)| StoreForensics {
            path: st.path.to_string_lossy().into_owned(),
            kind: st.kind,
            messages: 0,
            extras_same_time: 0,
            extras_different_time: 0,
            kept: 0,
            incidents,
        })
        .collect();
    for c in &scan.copies {
        if let Some(s) = out.get_mut(c.store as usize) {
            s.messages += 1;
        }
    }
    for g in &grouping.groups {
        for m in &g.members {
            let Some(s) = out.get_mut(scan.copies[m.copy].store as usize) else {
                continue;
            };
            match m.class {
                None => s.kept += 1,
                Some(Class::SameTime) => s.extras_same_time += 1,
                Some(Class::DifferentTime) => s.extras_different_time += 1,
            }
        }
    }
    out
}

/// Counts of `key` over `items`, most first (ties by key).
fn ranked<K: Ord + Clone>(items: impl Iterator<Item = K>) -> Vec<(K, usize)> {
    let mut m: BTreeMap<K, usize> = BTreeMap::new();
    for k in items {
        *m.entry(k).or_default() += 1;
    }
    let mut v: Vec<(K, usize)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn explain(scan: &ScanOutput, extras: &[Extra], sample_max: usize, rate: bool) -> Incident {
    let n = extras.len();
    let stores = &scan.stores;
    let store_name = |copy: usize| {
        stores[scan.copies[copy].store as usize]
            .path
            .to_string_lossy()
            .into_owned()
    };
    let same_time = extras.iter().filter(|e| e.class == Class::SameTime).count();
    let different_time = n - same_time;
    let class = if same_time as f64 >= CLASS_SHARE * n as f64 {
        GroupClass::SameTime
    } else if different_time as f64 >= CLASS_SHARE * n as f64 {
        GroupClass::DifferentTime
    } else {
        GroupClass::Mixed
    };
    let examined = examine(scan, extras, sample_max);
    let causes = ranked(examined.iter().map(|(c, _, _)| *c));
    let (top, top_n) = causes.first().copied().unwrap_or((Cause::Unknown, 0));

    let folders: Vec<FolderCount> = ranked(extras.iter().map(|e| store_name(e.copy)))
        .into_iter()
        .map(|(path, extra_copies)| FolderCount { path, extra_copies })
        .collect();
    let kept_stores: Vec<String> = ranked(extras.iter().map(|e| store_name(e.kept)))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let kept_times: Vec<i64> = extras
        .iter()
        .filter_map(|e| scan.copies[e.kept].delivered_at)
        .collect();
    let original_span = Span {
        start: kept_times.iter().min().copied(),
        end: kept_times.iter().max().copied(),
    };
    let mut delays: Vec<i64> = extras
        .iter()
        .filter_map(|e| scan.copies[e.kept].delivered_at.map(|k| (e.time - k).abs()))
        .collect();
    delays.sort_unstable();
    let delay_seconds = Delay {
        min: delays.first().copied(),
        median: delays.get(delays.len() / 2).copied(),
        max: delays.last().copied(),
    };

    // With `--keep latest` the kept copy is the last one, so the extras come before it.
    let before = extras
        .iter()
        .filter(|e| scan.copies[e.kept].delivered_at.is_some_and(|k| e.time < k))
        .count();
    let rel = if 2 * before > n {
        "before the kept copy"
    } else {
        "after the original"
    };
    let m = examined.len();
    let evidence = evidence(&Evidence {
        top,
        top_n,
        n,
        examined: &examined,
        causes: &causes,
        delay: &delay_seconds,
        rel,
        original_span: &original_span,
        one_folder: folders.len() == 1,
    });

    Incident {
        start: extras.first().map_or(0, |e| e.time),
        end: extras.last().map_or(0, |e| e.time),
        extra_copies: n,
        class,
        same_time,
        different_time,
        likely_cause: if rate {
            top.describe_rate()
        } else {
            top.describe()
        },
        cause_code: top,
        evidence,
        stores: folders.iter().map(|f| f.path.clone()).collect(),
        folders,
        kept_stores,
        original_span,
        delay_seconds,
        causes: causes.iter().map(|(c, k)| (c.code(), *k)).collect(),
        examined: m,
        kind: if rate { Kind::Rate } else { Kind::Burst },
        mechanism: top.mechanism(),
        next_step: top.next_step(rate),
        folder: None,
        deliveries: None,
        duplicated_deliveries: None,
        rate_before: None,
        rate_during: None,
        rate_after: None,
        still_going: None,
    }
}

/// What one examined extra copy shows: its cause, how its Received chain relates to the
/// kept copy's, and (for a recipient or route difference) a short quote of both traces.
type Examined = (Cause, Option<Chain>, Option<Quote>);

/// Reads the traces of every extra copy, or of an even sample of at most `sample_max`.
fn examine(scan: &ScanOutput, extras: &[Extra], sample_max: usize) -> Vec<Examined> {
    let n = extras.len();
    let stores = &scan.stores;
    // The cause of each examined copy (all of them, or an even sample).
    let step = n.div_ceil(sample_max.max(1)).max(1);
    let sample: Vec<&Extra> = extras.iter().step_by(step).collect();
    // Each examined copy: its cause, how its Received chain relates to the kept copy's,
    // and (for a recipient or route difference) a short quote of both traces.
    sample
        .par_iter()
        .map(|e| {
            let (c, k) = (&scan.copies[e.copy], &scan.copies[e.kept]);
            let traces = Trace::read(c, stores)
                .and_then(|t| Ok((t, Trace::read(k, stores)?)))
                .ok();
            let cause = cause::classify(
                e.class,
                c.store != k.store,
                traces.as_ref().map(|(a, b)| (a, b)),
            );
            let quote = traces.as_ref().map(|(a, b)| Quote::of(a, b));
            (cause, traces.map(|(a, b)| cause::relate(&a, &b)), quote)
        })
        .collect()
}

/// What [`evidence`] puts into words.
struct Evidence<'a> {
    top: Cause,
    top_n: usize,
    /// Extra copies in the incident.
    n: usize,
    examined: &'a [Examined],
    causes: &'a [(Cause, usize)],
    delay: &'a Delay,
    /// "after the original" or "before the kept copy".
    rel: &'static str,
    original_span: &'a Span,
    one_folder: bool,
}

/// The incident's evidence in plain words: the top cause and how many copies show it, an
/// example hop or quote, the runner-up causes, the delays, the originals' span.
fn evidence(e: &Evidence) -> String {
    let Evidence {
        top,
        top_n,
        n,
        examined,
        causes,
        delay: delay_seconds,
        rel,
        original_span,
        one_folder,
    } = *e;
    let m = examined.len();
    let mut evidence = format!("{} for {top_n} of {m} copies", top.evidence());
    if m < n {
        evidence.push_str(&format!(" (an even sample of the {n})"));
    }
    if top == Cause::FetcherRefetch {
        if let Some(hop) = examined.iter().find_map(|(c, ch, _)| match (c, ch) {
            (
                Cause::FetcherRefetch,
                Some(Chain::ExtraHop { hop, .. } | Chain::TopHopDiffers { hop, .. }),
            ) => Some(hop),
            _ => None,
        }) {
            evidence.push_str(&format!(", e.g. \"{}\"", clip(hop, 100)));
        }
    }
    let quote = examined
        .iter()
        .find(|(c, _, _)| *c == top)
        .and_then(|(_, _, q)| q.as_ref());
    if let Some(q) = quote {
        match top {
            Cause::AliasExpansion => evidence.push_str(&format!(
                ", e.g. extra copy for {} where the kept copy is for {}",
                q.extra_to, q.kept_to
            )),
            Cause::ReDownload | Cause::DeliveryDuplicate if !q.kept_top.is_empty() => {
                evidence.push_str(&format!(", both with the last hop \"{}\"", q.kept_top))
            }
            Cause::DeliveryRetry | Cause::OtherRoute => evidence.push_str(&format!(
                ", e.g. \"{}\" where the kept copy has \"{}\"",
                q.extra_top, q.kept_top
            )),
            _ => {}
        }
    }
    for &(c, k) in causes.iter().skip(1).take(2) {
        if k * 10 >= m {
            evidence.push_str(&format!("; {} for {k}", c.evidence()));
        }
    }
    if let (Some(lo), Some(hi)) = (delay_seconds.min, delay_seconds.max) {
        if hi == 0 {
            evidence.push_str("; copies delivered in the same second as the original");
        } else if hi <= 60 {
            evidence.push_str(&format!("; copies within {hi} s of the original"));
        } else {
            let (a, b) = (duration(lo), duration(hi));
            if a == b {
                evidence.push_str(&format!("; copies {a} {rel}"));
            } else {
                evidence.push_str(&format!("; copies {a} to {b} {rel}"));
            }
        }
    }
    if let (Some(a), Some(b)) = (original_span.start, original_span.end) {
        evidence.push_str(&format!("; originals delivered {} to {}", day(a), day(b)));
    }
    if one_folder {
        evidence.push_str("; all extra copies in one folder");
    }

    evidence
}

/// Short quotes of an extra copy's and its kept copy's trace, for the evidence.
#[derive(Debug, Clone)]
struct Quote {
    /// The envelope recipients, joined (`(none)` when there are none).
    extra_to: String,
    kept_to: String,
    /// The topmost Received hop, clipped (empty when there is none).
    extra_top: String,
    kept_top: String,
}

impl Quote {
    fn of(extra: &Trace, kept: &Trace) -> Quote {
        let to = |t: &Trace| {
            if t.recipients.is_empty() {
                "(none)".to_string()
            } else {
                t.recipients
                    .iter()
                    .map(|r| clip(r, 60))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let top = |t: &Trace| t.received.first().map(|h| clip(h, 100)).unwrap_or_default();
        Quote {
            extra_to: to(extra),
            kept_to: to(kept),
            extra_top: top(extra),
            kept_top: top(kept),
        }
    }
}

/// At most `max` characters of a header value, lossily decoded.
fn clip(v: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// A rough duration in words, rounded: "45 s", "12 min", "5 h", "3 days", "7 weeks",
/// "4 months", "2.5 years".
pub fn duration(secs: i64) -> String {
    let s = secs.abs();
    let round = |unit: i64| (s + unit / 2) / unit;
    match s {
        0..=119 => format!("{s} s"),
        120..=5_399 => format!("{} min", round(60)),
        5_400..=172_799 => format!("{} h", round(3_600)),
        172_800..=1_209_599 => format!("{} days", round(86_400)),
        1_209_600..=5_183_999 => format!("{} weeks", round(604_800)),
        5_184_000..=63_071_999 => format!("{} months", round(2_592_000)),
        _ => format!("{:.1} years", s as f64 / 31_536_000.0),
    }
}

/// The UTC date of a time, `YYYY-MM-DD`.
pub fn day(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// A UTC time to the minute, `YYYY-MM-DD HH:MM`.
pub fn minute(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_share_a_total_budget() {
        // One incident, or few small ones: every copy (up to SAMPLE_MAX) is read.
        assert_eq!(sample_size(500, 500), 500);
        assert_eq!(sample_size(30_000, 30_000), SAMPLE_MAX);
        assert_eq!(sample_size(300, 1_500), 300);
        // Hundreds of incidents: a share each, never under SAMPLE_MIN.
        assert_eq!(sample_size(100, 30_000), SAMPLE_MIN);
        assert_eq!(sample_size(5_000, 10_000), 1_000);
        assert_eq!(sample_size(12, 30_000), 12);
        let total: usize = (0..300).map(|_| sample_size(100, 30_000)).sum();
        assert!(total <= SAMPLE_TOTAL + 300 * SAMPLE_MIN);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5), "5 s");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(3 * 86_400 + 5), "3 days");
        assert_eq!(duration(100 * 86_400), "3 months");
        assert_eq!(duration(7_140), "2 h");
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(minute(90), "1970-01-01 00:01");
    }
}
