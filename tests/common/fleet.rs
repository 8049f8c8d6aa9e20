//! A generated mail server for the `--each` tests (`tests/fleet.rs`) and the fleet
//! benchmark (`cargo run --release --example gen_fleet -- DIR N`): Dovecot's layout,
//! `ROOT/example.com/userNNNN/Maildir`. Every mailbox holds the same mailing-list
//! messages (same Message-ID, same content: duplicates only if mailboxes were merged),
//! its own unique mail, and its own duplicates (same-time, in its INBOX). Mailboxes in
//! `burst` also get an alias burst in one shared hour: a fleet incident. Deterministic.
//! Needs `incidents.rs` as `super::gen` (both are included by path).
#![allow(dead_code)]

use super::gen::{alias_burst, background, lmtp, message, mid, Maildir, Rng, DAY, T0};
use std::path::{Path, PathBuf};

/// The list messages every mailbox holds.
pub const LIST_MESSAGES: usize = 20;
/// The start of the shared burst hour (day 100).
pub const BURST_START: i64 = T0 + 100 * DAY + 9 * 3_600;
/// Extra copies of the shared burst, per mailbox.
pub const BURST_COPIES: usize = 30;

/// The path of mailbox `k`.
pub fn mailbox(root: &Path, k: usize) -> PathBuf {
    root.join("example.com")
        .join(format!("user{k:04}"))
        .join("Maildir")
}

/// How many duplicated messages of its own mailbox `k` has (each delivered twice).
pub fn own_duplicates(k: usize) -> usize {
    k % 4 + 1
}

/// Writes mailbox `k` under `root`; `burst`: it shares the burst hour.
pub fn write_mailbox(root: &Path, k: usize, burst: bool) -> PathBuf {
    let dir = mailbox(root, k);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut inbox = Maildir::new(&dir);
    let base = 1_000_000 + k * 10_000;
    // The list: the same messages, delivered at the same times, in every mailbox.
    let mut lists = Maildir::new(&dir.join(".Lists"));
    for i in 0..LIST_MESSAGES {
        let t = T0 + i as i64 * 3 * DAY + 600;
        lists.deliver(t, &message(i, t - 5, "", "list@example.com", &mid(i)));
    }
    background(&mut inbox, &mut rng, base, 40, 180);
    // Its own duplicates: delivered twice within a second, scattered over months.
    for j in 0..own_duplicates(k) {
        let i = base + 5_000 + j;
        let t = T0 + (j as i64 * 37 + k as i64 % 29) * DAY + 4_000;
        let text = message(i, t - 2, &lmtp(i, t, 0), "jane@example.com", &mid(i));
        inbox.deliver(t, &text);
        inbox.deliver(t + 1, &text);
    }
    if burst {
        alias_burst(
            &mut inbox,
            &mut rng,
            base + 7_000,
            BURST_COPIES,
            BURST_START,
            3_600,
        );
    }
    dir
}

/// Writes `n` mailboxes; those with `k % burst_every == 0` share the burst (none with 0).
pub fn write_fleet(root: &Path, n: usize, burst_every: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|k| write_mailbox(root, k, burst_every > 0 && k % burst_every == 0))
        .collect()
}
