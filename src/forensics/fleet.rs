//! Fleet incidents: the same kind of incident, with the same cause, in many mailboxes
//! within one time window. One user's burst is that user's client or filter; the same
//! burst in dozens of mailboxes at once is the server: a POP proxy, a fetcher or a
//! delivery agent failing for everyone.
//!
//! Each mailbox is analysed on its own ([`super::analyze`]); only its incidents' windows,
//! kinds and causes are kept for this, so a fleet of 100,000 mailboxes costs a few numbers
//! per incident.

use super::cause::Cause;
use super::Kind;
use crate::model::encode::rfc3339;
use serde::Serialize;

/// One mailbox's incident, as the fleet analysis needs it.
#[derive(Debug, Clone, Copy)]
pub struct MailboxIncident {
    /// The mailbox (an index into the caller's list).
    pub mailbox: usize,
    pub start: i64,
    pub end: i64,
    pub kind: Kind,
    pub cause: Cause,
    pub extra_copies: usize,
}

/// Incidents with one cause and kind in at least `threshold` mailboxes, each starting
/// within `window` seconds of the end of the ones before it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetIncident {
    #[serde(serialize_with = "ser_time")]
    pub start: i64,
    #[serde(serialize_with = "ser_time")]
    pub end: i64,
    pub kind: Kind,
    pub cause_code: Cause,
    /// The server-side cause in plain words.
    pub likely_cause: &'static str,
    /// How many mailboxes had such an incident in the window.
    pub mailbox_count: usize,
    /// Their extra copies in these incidents, all together.
    pub extra_copies: usize,
    /// The mailboxes (indices into the caller's list), in the caller's order.
    #[serde(skip)]
    pub mailboxes: Vec<usize>,
}

fn ser_time<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    rfc3339(*t).serialize(s)
}

/// The server-side reading of a cause seen in many mailboxes at once.
pub fn server_cause(cause: Cause) -> &'static str {
    match cause {
        Cause::ReDownload => {
            "a POP proxy or the POP/IMAP server failing for everyone: clients downloaded mail they already had (lost UID lists, a restored or migrated server)"
        }
        Cause::FetcherRefetch => {
            "a fetcher or POP proxy failing for everyone: it fetched every mailbox's mail again (lost state, killed before QUIT)"
        }
        Cause::DeliveryRetry => {
            "the delivery agent failing for everyone: LMTP/LDA delivered, then reported failure, and the MTA delivered again"
        }
        Cause::DeliveryDuplicate => {
            "the delivery agent or a server-wide filter delivering twice for everyone (a sieve/procmail rule, a duplicated transport)"
        }
        Cause::AliasExpansion => {
            "a server-wide alias, forward or list expanded twice for everyone"
        }
        Cause::CopyOrMove => {
            "a server-side copy for everyone: a migration, sync or global sieve script copying mail between folders"
        }
        Cause::OtherRoute => {
            "mail reaching every mailbox by two routes (a second MX, relay or gateway)"
        }
        Cause::Unknown => "a server-side event in many mailboxes at once (no trace to tell which)",
    }
}

/// The fleet incidents among `incidents` (any order), earliest first.
pub fn find(incidents: &[MailboxIncident], threshold: usize, window: i64) -> Vec<FleetIncident> {
    let mut sorted: Vec<&MailboxIncident> = incidents.iter().collect();
    sorted.sort_by_key(|i| (i.cause, kind_rank(i.kind), i.start, i.end, i.mailbox));
    let mut out = Vec::new();
    let mut k = 0;
    while k < sorted.len() {
        let first = sorted[k];
        let mut end = first.end;
        let mut j = k + 1;
        while j < sorted.len()
            && sorted[j].cause == first.cause
            && sorted[j].kind == first.kind
            && sorted[j].start <= end.saturating_add(window)
        {
            end = end.max(sorted[j].end);
            j += 1;
        }
        let cluster = &sorted[k..j];
        let mut mailboxes: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for i in cluster {
            if seen.insert(i.mailbox) {
                mailboxes.push(i.mailbox);
            }
        }
        if mailboxes.len() >= threshold.max(1) {
            mailboxes.sort_unstable();
            out.push(FleetIncident {
                start: first.start,
                end,
                kind: first.kind,
                cause_code: first.cause,
                likely_cause: server_cause(first.cause),
                mailbox_count: mailboxes.len(),
                extra_copies: cluster.iter().map(|i| i.extra_copies).sum(),
                mailboxes,
            });
        }
        k = j;
    }
    out.sort_by_key(|f| (f.start, f.end));
    out
}

fn kind_rank(k: Kind) -> u8 {
    match k {
        Kind::Burst => 0,
        Kind::Rate => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(mailbox: usize, start: i64, cause: Cause) -> MailboxIncident {
        MailboxIncident {
            mailbox,
            start,
            end: start + 600,
            kind: Kind::Burst,
            cause,
            extra_copies: 10,
        }
    }

    #[test]
    fn many_mailboxes_in_one_window_make_one_fleet_incident() {
        let mut v: Vec<_> = (0..5)
            .map(|m| inc(m, 1_000 + m as i64 * 60, Cause::FetcherRefetch))
            .collect();
        // The same cause a day later in two mailboxes, and another cause: neither counts.
        v.push(inc(0, 90_000, Cause::FetcherRefetch));
        v.push(inc(1, 90_100, Cause::FetcherRefetch));
        v.push(inc(2, 1_000, Cause::AliasExpansion));
        let f = find(&v, 3, 3_600);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].mailbox_count, 5);
        assert_eq!(f[0].extra_copies, 50);
        assert_eq!(f[0].start, 1_000);
        assert_eq!(f[0].end, 1_000 + 4 * 60 + 600);
        assert_eq!(f[0].cause_code, Cause::FetcherRefetch);
    }

    #[test]
    fn one_mailbox_many_times_is_no_fleet_incident() {
        let v: Vec<_> = (0..5)
            .map(|k| inc(7, 1_000 + k * 60, Cause::DeliveryDuplicate))
            .collect();
        assert!(find(&v, 3, 3_600).is_empty());
        assert_eq!(find(&v, 1, 3_600).len(), 1);
    }

    #[test]
    fn incidents_further_apart_than_the_window_are_separate() {
        let v: Vec<_> = (0..6)
            .map(|m| inc(m, m as i64 * 10_000, Cause::ReDownload))
            .collect();
        assert!(find(&v, 3, 3_600).is_empty());
        assert_eq!(find(&v, 3, 10_000)[0].mailbox_count, 6);
    }
}
