//! The timeline: extra copies counted by delivery time and class, in buckets whose size
//! is chosen from the span (a minute to a quarter year), so there are at most
//! [`MAX_BUCKETS`].

use crate::group::Class;

/// Bucket sizes to choose from, in seconds: 1 min, 5 min, 15 min, 1 h, 6 h, 1 day,
/// 1 week, 30 days, 91 days, 365 days.
pub const LADDER: &[i64] = &[
    60, 300, 900, 3_600, 21_600, 86_400, 604_800, 2_592_000, 7_862_400, 31_536_000,
];

/// The timeline never has more buckets than this (unless the span exceeds 90 years).
pub const MAX_BUCKETS: i64 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Unix seconds, inclusive.
    pub start: i64,
    /// Unix seconds, exclusive.
    pub end: i64,
    pub same_time: usize,
    pub different_time: usize,
}

impl Bucket {
    pub fn total(&self) -> usize {
        self.same_time + self.different_time
    }
}

/// Where buckets of this width start: weeks on Mondays (the epoch was a Thursday),
/// everything else on multiples of the width since the epoch (UTC midnight for days).
fn align(t: i64, width: i64) -> i64 {
    let shift = if width == 604_800 { 4 * 86_400 } else { 0 };
    (t - shift).div_euclid(width) * width + shift
}

/// The smallest bucket width from [`LADDER`] that covers `first..=last` in at most
/// [`MAX_BUCKETS`] buckets.
pub fn bucket_width(first: i64, last: i64) -> i64 {
    for &w in LADDER {
        let n = (align(last, w) - align(first, w)) / w + 1;
        if n <= MAX_BUCKETS {
            return w;
        }
    }
    LADDER[LADDER.len() - 1]
}

/// The timeline of `(delivery time, class)` points: contiguous buckets from the first to
/// the last point, empty ones included. Empty when there are no points.
pub fn timeline(points: &[(i64, Class)]) -> (i64, Vec<Bucket>) {
    let (Some(first), Some(last)) = (
        points.iter().map(|p| p.0).min(),
        points.iter().map(|p| p.0).max(),
    ) else {
        return (0, Vec::new());
    };
    let w = bucket_width(first, last);
    let start = align(first, w);
    let n = ((align(last, w) - start) / w + 1) as usize;
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: start + i as i64 * w,
            end: start + (i as i64 + 1) * w,
            same_time: 0,
            different_time: 0,
        })
        .collect();
    for &(t, class) in points {
        let i = ((t - start) / w) as usize;
        if let Some(b) = buckets.get_mut(i) {
            match class {
                Class::SameTime => b.same_time += 1,
                Class::DifferentTime => b.different_time += 1,
            }
        }
    }
    (w, buckets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_follows_the_span() {
        let t0 = 1_700_000_000;
        assert_eq!(bucket_width(t0, t0), 60);
        assert_eq!(bucket_width(t0, t0 + 3_000), 60);
        assert_eq!(bucket_width(t0, t0 + 2 * 3_600), 300);
        assert_eq!(bucket_width(t0, t0 + 20 * 86_400), 21_600);
        assert_eq!(bucket_width(t0, t0 + 30 * 86_400), 86_400);
        assert_eq!(bucket_width(t0, t0 + 60 * 86_400), 86_400);
        assert_eq!(bucket_width(t0, t0 + 365 * 86_400), 604_800);
        assert_eq!(bucket_width(t0, t0 + 5 * 365 * 86_400), 2_592_000);
    }

    #[test]
    fn counts_every_point_in_contiguous_buckets() {
        let t0 = 1_700_000_000;
        let pts = vec![
            (t0, Class::SameTime),
            (t0 + 10, Class::DifferentTime),
            (t0 + 5 * 86_400, Class::DifferentTime),
        ];
        let (w, b) = timeline(&pts);
        assert_eq!(w, 21_600);
        assert!(b.len() <= MAX_BUCKETS as usize);
        assert_eq!(b.iter().map(Bucket::total).sum::<usize>(), 3);
        assert!(b.windows(2).all(|p| p[0].end == p[1].start));
        assert!(b[0].start <= t0 && t0 < b[0].end);
        assert_eq!((b[0].same_time, b[0].different_time), (1, 1));
        assert_eq!(b[b.len() - 1].different_time, 1);
        let week = bucket_width(t0, t0 + 365 * 86_400);
        assert_eq!(align(t0, week) % 86_400, 0);
        // 1970-01-05 was a Monday
        assert_eq!((align(t0, week) - 4 * 86_400) % week, 0);
        assert_eq!(timeline(&[]).1.len(), 0);
    }
}
