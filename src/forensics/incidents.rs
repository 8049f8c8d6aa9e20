//! Incident windows: bursts where extra copies cluster in time.
//!
//! The rule (docs/forensics.md, "Incident forensics"): sort the delivery times of the extra copies;
//! link two neighbours when the gap between them is at most a tenth of the mean gap over
//! the whole span (clamped to 5 minutes .. 6 hours); a run of linked copies is an incident
//! when it holds at least [`MIN_COPIES`] copies and either arrives at least
//! [`RATE_FACTOR`] times faster than the average over the whole span, or holds half of
//! all the extra copies. Scattered duplicates never form such a run.

use std::ops::Range;

/// Fewer extra copies than this never make an incident.
pub const MIN_COPIES: usize = 10;
/// Bounds of the linking gap, seconds.
pub const MIN_LINK: i64 = 300;
pub const MAX_LINK: i64 = 6 * 3_600;
/// How much denser than the background a burst must be.
pub const RATE_FACTOR: f64 = 5.0;

/// The linking gap for `n` points spread over `span` seconds.
pub fn link_gap(n: usize, span: i64) -> i64 {
    if n < 2 {
        return MIN_LINK;
    }
    let mean_gap = span.max(1) as f64 / (n - 1) as f64;
    ((mean_gap / 10.0) as i64).clamp(MIN_LINK, MAX_LINK)
}

/// The incident windows among `times` (sorted ascending), as index ranges into it,
/// in time order.
pub fn find(times: &[i64]) -> Vec<Range<usize>> {
    let n = times.len();
    if n < MIN_COPIES {
        return Vec::new();
    }
    let span = (times[n - 1] - times[0]).max(1);
    let link = link_gap(n, span);
    let overall_rate = n as f64 / span as f64;
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        if i < n && times[i] - times[i - 1] <= link {
            continue;
        }
        let len = i - start;
        let duration = (times[i - 1] - times[start]).max(link);
        let rate = len as f64 / duration as f64;
        if len >= MIN_COPIES && (2 * len >= n || rate >= RATE_FACTOR * overall_rate) {
            out.push(start..i);
        }
        start = i;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence (xorshift), for spreading points.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    const T0: i64 = 1_700_000_000;
    const YEAR: i64 = 365 * 86_400;

    #[test]
    fn scattered_points_make_no_incident() {
        for seed in 1..50 {
            let mut r = rng(seed);
            let mut t: Vec<i64> = (0..200).map(|_| T0 + (r() % YEAR as u64) as i64).collect();
            t.sort();
            assert!(find(&t).is_empty(), "seed {seed}");
        }
    }

    #[test]
    fn a_burst_among_scattered_points_is_found_whole() {
        let mut r = rng(7);
        let mut t: Vec<i64> = (0..100).map(|_| T0 + (r() % YEAR as u64) as i64).collect();
        let burst_start = T0 + 200 * 86_400;
        t.extend((0..400).map(|_| burst_start + (r() % 7_200) as i64));
        t.sort();
        let found = find(&t);
        assert_eq!(found.len(), 1, "{found:?}");
        let w = &found[0];
        let inside = t[w.clone()]
            .iter()
            .filter(|&&x| (burst_start..burst_start + 7_200).contains(&x))
            .count();
        assert_eq!(inside, 400);
        assert!(w.len() <= 402);
    }

    #[test]
    fn a_store_that_is_all_burst_is_one_incident() {
        let t: Vec<i64> = (0..50).map(|i| T0 + i * 20).collect();
        assert_eq!(find(&t), vec![0..50]);
        assert!(find(&t[..9]).is_empty());
    }
}
