//! Comparisons of two message contents made before: what `group::conflict` found between
//! the copy with content hash A and the one with content hash B, kept in the fingerprint
//! cache so that a conflict is explained once, not by reading both copies on every run.
//! Content hashes name the bytes that matter exactly, so a comparison never goes stale.
//! The values are opaque here: `group::conflict` encodes and decodes them.

use crate::identity::Digest;
use std::collections::HashMap;
use std::sync::Mutex;

/// The key of a comparison: the two content hashes, in the order compared.
pub type PairKey = [u8; 64];

/// Comparisons known at the start of a run, and those made during it.
#[derive(Debug, Default)]
pub struct Comparisons {
    known: Mutex<HashMap<PairKey, Vec<u8>>>,
    added: Mutex<Vec<(PairKey, Vec<u8>)>>,
}

/// The key of the comparison of content `a` with content `b`.
pub fn pair_key(a: &Digest, b: &Digest) -> PairKey {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(a);
    k[32..].copy_from_slice(b);
    k
}

impl Comparisons {
    /// Comparisons loaded from the cache.
    pub fn from_known(known: HashMap<PairKey, Vec<u8>>) -> Comparisons {
        Comparisons {
            known: Mutex::new(known),
            added: Mutex::default(),
        }
    }

    pub fn get(&self, key: &PairKey) -> Option<Vec<u8>> {
        self.known.lock().ok()?.get(key).cloned()
    }

    /// Records a comparison made in this run.
    pub fn put(&self, key: PairKey, value: Vec<u8>) {
        if let Ok(mut k) = self.known.lock() {
            if k.insert(key, value.clone()).is_some() {
                return;
            }
        }
        if let Ok(mut a) = self.added.lock() {
            a.push((key, value));
        }
    }

    /// The comparisons made in this run (for the cache), taken out.
    pub fn take_added(&self) -> Vec<(PairKey, Vec<u8>)> {
        self.added
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }
}
