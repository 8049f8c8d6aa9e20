//! Which Message-ID keys stage 1 has met already, so a small file whose key was met before
//! is hashed in stage 1, from the bytes it just read whole, instead of being opened and
//! read a second time in stage 2 (issue 16: "read each byte at most once").
//!
//! A filter, not a set: two bits per key in a shared bit array of about 16 bits per
//! message, set with atomic `fetch_or`, so the parallel stage 1 never waits on a lock and
//! the memory is 2 bytes a message. A false "met before" (about 1.4% of unique keys at
//! 16 bits a key) only hashes a message that turns out to need no hash; a key met first
//! is never hashed early, so the first copy of each group is still hashed in stage 2.
//! Either way every hash is the same function over the same whole file, so the result
//! of a scan does not depend on which stage hashed a copy.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub(crate) struct SeenKeys {
    bits: Vec<AtomicU64>,
    mask: u64,
}

impl SeenKeys {
    /// A filter sized for `n` keys.
    pub(crate) fn new(n: usize) -> SeenKeys {
        let bits = (n.max(1) * 16).next_power_of_two().max(64) as u64;
        SeenKeys {
            bits: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
        }
    }

    /// Marks `key` (a Message-ID key, itself a hash; 0 means none) and says whether it
    /// was (probably) marked before.
    pub(crate) fn insert(&self, key: u64) -> bool {
        if key == 0 {
            return false;
        }
        let mut before = true;
        for bit in [
            key & self.mask,
            (key >> 32 ^ key.rotate_left(17)) & self.mask,
        ] {
            let word = &self.bits[(bit / 64) as usize];
            let m = 1u64 << (bit % 64);
            before &= word.fetch_or(m, Relaxed) & m != 0;
        }
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_seen_the_second_time_and_few_are_taken_for_seen() {
        let s = SeenKeys::new(10_000);
        assert!(!s.insert(0) && !s.insert(0), "no key: never seen");
        let keys: Vec<u64> = (1..=10_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let false_seen = keys.iter().filter(|&&k| s.insert(k)).count();
        assert!(
            false_seen < 300,
            "{false_seen} of 10,000 new keys taken for seen"
        );
        assert!(
            keys.iter().all(|&k| s.insert(k)),
            "every key seen the second time"
        );
    }
}
