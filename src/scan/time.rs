//! When a copy was delivered, and which of the times found are believable: a Maildir
//! name or mtime, an mbox From_ line, or a Delivery-date/Received header, each checked
//! against the Date the author wrote and against the clock.

use crate::identity::HeaderFacts;
use crate::model::TimeSource;
use crate::store::maildir::MaildirName;
use std::ffi::OsStr;

/// Why a delivery time found for a copy was not used (bits of [`MessageCopy::rejected_times`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The epoch or another placeholder: before [`PLACEHOLDER_BEFORE`].
    Placeholder = 1,
    /// More than [`BEFORE_DATE_SLACK`] before the message's own `Date:`.
    BeforeDate = 2,
    /// More than [`FUTURE_SLACK`] after the scan's clock.
    Future = 4,
}

/// Times before 1980-01-02 00:00 UTC are placeholders, not deliveries: the Unix epoch
/// (`From MAILER-DAEMON Thu Jan  1 00:00:00 1970`), a zero or negative mtime, and the
/// FAT/ZIP epoch (1980-01-01) of files that passed through an archive without times.
pub const PLACEHOLDER_BEFORE: i64 = 315_619_200;

/// A delivery can precede the `Date:` its sender's client wrote only by that client's
/// clock error; more than 3 days is not a delivery time of this message.
pub const BEFORE_DATE_SLACK: i64 = 3 * 86_400;

/// A delivery in the future of the scan is not a delivery; one day covers a From_ line
/// written in local time (read as UTC) in any zone, and small clock differences.
pub const FUTURE_SLACK: i64 = 86_400;

/// Checks time sources in order of preference, recording why any was rejected.
pub(crate) struct TimeCheck {
    pub(crate) date: Option<i64>,
    pub(crate) now: i64,
    pub(crate) rejected: u8,
}

impl TimeCheck {
    pub(crate) fn new(date: Option<i64>) -> TimeCheck {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        TimeCheck {
            date,
            now,
            rejected: 0,
        }
    }

    /// `t` if it can be a delivery of this message, else `None` (and the reason noted).
    pub(crate) fn ok(&mut self, t: Option<i64>) -> Option<i64> {
        let t = t?;
        let why = if t < PLACEHOLDER_BEFORE {
            Rejected::Placeholder
        } else if t > self.now.saturating_add(FUTURE_SLACK) {
            Rejected::Future
        } else if self
            .date
            .is_some_and(|d| t < d.saturating_sub(BEFORE_DATE_SLACK))
        {
            Rejected::BeforeDate
        } else {
            return Some(t);
        };
        self.rejected |= why as u8;
        None
    }
}

/// A Maildir copy's delivery time: the earlier of the file's mtime and its name's leading
/// timestamp (a copy without `-p` resets mtimes to the copy time, which is later; an IMAP
/// APPEND with an internal date sets mtime to the original date, which is earlier than the
/// name); then `Delivery-date:`, then the topmost `Received:`. A time that cannot be a
/// delivery ([`TimeCheck::ok`]) is passed over.
pub(crate) fn maildir_time(
    name: &OsStr,
    mtime: Option<i64>,
    facts: &HeaderFacts,
) -> (Option<i64>, Option<TimeSource>, u8) {
    let mut check = TimeCheck::new(facts.date);
    let from_name = check.ok(MaildirName::parse(&name.to_string_lossy()).timestamp);
    let mtime = check.ok(mtime);
    let (t, source) = match (mtime, from_name) {
        (Some(m), Some(n)) if n < m => (Some(n), Some(TimeSource::MaildirName)),
        (Some(m), _) => (Some(m), Some(TimeSource::MaildirMtime)),
        (None, Some(n)) => (Some(n), Some(TimeSource::MaildirName)),
        (None, None) => header_time(facts, &mut check),
    };
    (t, source, check.rejected)
}

pub(crate) fn header_time(
    facts: &HeaderFacts,
    check: &mut TimeCheck,
) -> (Option<i64>, Option<TimeSource>) {
    if let Some(t) = check.ok(facts.delivery_date) {
        (Some(t), Some(TimeSource::DeliveryDate))
    } else if let Some(t) = check.ok(facts.received_date) {
        (Some(t), Some(TimeSource::Received))
    } else {
        (None, None)
    }
}

/// A `.eml` file's delivery time: the delivery headers it carries (`Delivery-date:`, the
/// top `Received:`), else the file's mtime (when it was saved, a poorer guess).
pub(crate) fn eml_time(
    mtime: Option<i64>,
    facts: &HeaderFacts,
) -> (Option<i64>, Option<TimeSource>, u8) {
    let mut check = TimeCheck::new(facts.date);
    let (t, source) = header_time(facts, &mut check);
    if t.is_some() {
        return (t, source, check.rejected);
    }
    match check.ok(mtime) {
        Some(m) => (Some(m), Some(TimeSource::FileMtime), check.rejected),
        None => (None, None, check.rejected),
    }
}

/// An IMAP copy's delivery time: its `INTERNALDATE` (the server's receive time), else the
/// delivery headers it carries.
pub(crate) fn imap_time(
    internal: Option<i64>,
    facts: &HeaderFacts,
) -> (Option<i64>, Option<TimeSource>, u8) {
    let mut check = TimeCheck::new(facts.date);
    if let Some(t) = check.ok(internal) {
        return (Some(t), Some(TimeSource::ImapInternalDate), check.rejected);
    }
    let (t, source) = header_time(facts, &mut check);
    (t, source, check.rejected)
}
