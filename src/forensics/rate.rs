//! Rate incidents: a sustained change in the *share* of a folder's deliveries that get a
//! same-time extra copy (a procmail `c` recipe, a Sieve `fileinto` + `keep`, an alias that
//! lists the user twice). Such copies can arrive one every few minutes for days and never
//! cluster into a burst ([`super::incidents`]), yet every message since some time is
//! doubled.
//!
//! The rule (docs/forensics.md, "Incident forensics"): take a folder's deliveries (every copy with a
//! delivery time that is not an extra copy) in time order, each flagged when it got a
//! same-time extra copy that no burst already explains. Find the stretch whose flagged
//! share differs most from the rest (a CUSUM / maximum-scoring segment for a few candidate
//! rates, scored by the binomial log-likelihood ratio of "two rates" against "one rate"),
//! keep it when it holds at least [`MIN_FLAGGED`] flagged deliveries, a share of at least
//! [`MIN_RATE`] and [`RATE_FACTOR`] times the share outside it, and a log-likelihood ratio
//! of at least [`MIN_LLR`]; then look again before and after it. A folder where at least
//! half of all deliveries are flagged from its very first one is one incident as a whole.

use std::ops::Range;

/// Fewer flagged deliveries than this never make a rate incident.
pub const MIN_FLAGGED: usize = 10;
/// The share of flagged deliveries inside a rate incident is at least this.
pub const MIN_RATE: f64 = 0.2;
/// ... and at least this many times the share outside it.
pub const RATE_FACTOR: f64 = 3.0;
/// The binomial log-likelihood ratio (nats) a segment needs: about e^-10 by chance.
pub const MIN_LLR: f64 = 10.0;
/// A folder flagged at least this share from its first delivery is one incident.
pub const WHOLE_RATE: f64 = 0.5;

/// Candidate rates inside a segment, tried in turn (those above the background).
const CANDIDATES: &[f64] = &[0.2, 0.35, 0.5, 0.7, 0.9, 0.99];

/// `k ln(k/n) + (n-k) ln((n-k)/n)`: the binomial log-likelihood at its maximum.
fn ll(k: usize, n: usize) -> f64 {
    let f = |a: usize| {
        if a == 0 {
            0.0
        } else {
            a as f64 * (a as f64 / n as f64).ln()
        }
    };
    if n == 0 {
        0.0
    } else {
        f(k) + f(n - k)
    }
}

/// How much better two rates (inside `seg`, outside it) explain `x` than one.
pub fn llr(x: &[bool], seg: &Range<usize>) -> f64 {
    let k = x.iter().filter(|&&b| b).count();
    let k_in = x[seg.clone()].iter().filter(|&&b| b).count();
    let n_in = seg.len();
    ll(k_in, n_in) + ll(k - k_in, x.len() - n_in) - ll(k, x.len())
}

/// The flagged share of `x[r]`.
pub fn share(x: &[bool], r: Range<usize>) -> Option<f64> {
    let n = r.len();
    (n > 0).then(|| x[r].iter().filter(|&&b| b).count() as f64 / n as f64)
}

/// The rate-incident segments of `x` (deliveries in time order, flagged or not), as index
/// ranges starting and ending on flagged deliveries, in order.
pub fn find(x: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    search(x, 0, &mut out);
    let k = x.iter().filter(|&&b| b).count();
    if out.is_empty() && k >= MIN_FLAGGED && k as f64 >= WHOLE_RATE * x.len() as f64 {
        // Flagged from the start: nothing to compare with, but half the folder doubled is
        // an incident.
        if let (Some(a), Some(b)) = (x.iter().position(|&b| b), x.iter().rposition(|&b| b)) {
            out.push(a..b + 1);
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

fn search(x: &[bool], base: usize, out: &mut Vec<Range<usize>>) {
    let n = x.len();
    let k = x.iter().filter(|&&b| b).count();
    if k < MIN_FLAGGED {
        return;
    }
    let p0 = (k as f64 / n as f64).clamp(1e-3, 0.999);
    let mut best: Option<(f64, Range<usize>)> = None;
    for &p1 in CANDIDATES.iter().filter(|&&p| p > p0) {
        let (wp, wn) = ((p1 / p0).ln(), ((1.0 - p1) / (1.0 - p0)).ln());
        // Kadane: the segment with the highest sum of weights.
        let (mut sum, mut start) = (0.0f64, 0usize);
        let (mut top, mut seg) = (0.0f64, 0..0);
        for (i, &b) in x.iter().enumerate() {
            if sum <= 0.0 {
                sum = 0.0;
                start = i;
            }
            sum += if b { wp } else { wn };
            if sum > top {
                top = sum;
                seg = start..i + 1;
            }
        }
        if seg.is_empty() {
            continue;
        }
        let k_in = x[seg.clone()].iter().filter(|&&b| b).count();
        let rate_in = k_in as f64 / seg.len() as f64;
        let n_out = n - seg.len();
        let rate_out = if n_out == 0 {
            0.0
        } else {
            (k - k_in) as f64 / n_out as f64
        };
        let score = llr(x, &seg);
        if k_in >= MIN_FLAGGED
            && rate_in >= MIN_RATE
            && rate_in >= RATE_FACTOR * rate_out
            && score >= MIN_LLR
            && best.as_ref().is_none_or(|(s, _)| score > *s)
        {
            best = Some((score, seg));
        }
    }
    if let Some((_, seg)) = best {
        out.push(base + seg.start..base + seg.end);
        search(&x[..seg.start], base, out);
        search(&x[seg.end..], base + seg.end, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn a_steady_doubling_between_ordinary_mail_is_one_segment() {
        let mut x = vec![false; 60];
        x.extend([true; 40]);
        x.extend([false; 30]);
        assert_eq!(find(&x), vec![60..100]);
        assert!(llr(&x, &(60..100)) > MIN_LLR);
    }

    #[test]
    fn still_going_and_whole_folder() {
        let mut x = vec![false; 50];
        x.extend([true; 12]);
        assert_eq!(find(&x), vec![50..62]);
        // flagged from the start: the whole folder
        assert_eq!(find(&[true; 20]), vec![0..20]);
        // too few
        assert!(find(&[true; 9]).is_empty());
    }

    #[test]
    fn a_partial_rate_is_found_and_two_episodes_are_two() {
        let mut r = rng(3);
        let mut x: Vec<bool> = (0..300).map(|_| r() % 100 < 2).collect();
        x.extend((0..100).map(|_| r() % 100 < 50));
        x.extend((0..300).map(|_| r() % 100 < 2));
        x.extend([true; 20]);
        x.extend((0..300).map(|_| r() % 100 < 2));
        let found = find(&x);
        assert_eq!(found.len(), 2, "{found:?}");
        // the edges may take in a neighbouring flagged delivery of the background
        assert!(found[0].start >= 290 && found[0].end <= 415, "{found:?}");
        assert!(found[1].start >= 690 && found[1].end <= 725, "{found:?}");
    }

    #[test]
    fn scattered_flags_make_no_segment() {
        for seed in 1..60 {
            let mut r = rng(seed);
            let x: Vec<bool> = (0..1000).map(|_| r() % 100 < 5).collect();
            assert!(find(&x).is_empty(), "seed {seed}: {:?}", find(&x));
        }
    }
}
