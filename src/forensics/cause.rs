//! Why an extra copy exists: its class, its folder and its server-side trace (the
//! `Received:` chain and the envelope recipient) compared with the kept copy's.
//!
//! `Received:` and `Delivered-To:` are left out of the content hash, so two copies of one
//! group may differ there: that difference is the evidence. The rules (docs/forensics.md,
//! "Incident forensics"):
//!
//! | class | trace compared with the kept copy | cause |
//! |---|---|---|
//! | same-time | in another folder | copy or move gone wrong |
//! | same-time | other envelope recipient | alias / forward expanded twice |
//! | same-time | otherwise | delivery-side duplicate |
//! | different-time | Received chain identical | client re-downloaded |
//! | different-time | one extra hop from a fetcher on top, or only the top hop differs and the extra copy's is a fetcher's | fetcher re-fetched |
//! | different-time | only the last server hop differs | delivery retried |
//! | different-time | chains differ below the top | arrived by another route |
//! | either | no Received header in either copy, or unreadable | unknown |

use crate::group::Class;
use crate::identity::header::{name_is, normalise_value, scan_fields};
use crate::model::MessageCopy;
use crate::model::Store;
use crate::store::read::read_head;
use std::collections::BTreeSet;
use std::io::{self};

/// The likely cause of one extra copy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// Different time, Received chain identical: the client fetched the same server
    /// message again.
    ReDownload,
    /// Different time, one extra (or a different) fetcher hop on top.
    FetcherRefetch,
    /// Different time, only the last server hop differs: delivered again.
    DeliveryRetry,
    /// Same time, in another folder than the kept copy.
    CopyOrMove,
    /// Same time, a different envelope recipient (Delivered-To, X-Original-To).
    AliasExpansion,
    /// Same time, same folder and recipient.
    DeliveryDuplicate,
    /// Different time, Received chains differ below the top hop.
    OtherRoute,
    /// No trace to compare.
    Unknown,
}

impl Cause {
    /// The stable code used in the JSON report (`cause_code`).
    pub fn code(self) -> &'static str {
        match self {
            Cause::ReDownload => "re-download",
            Cause::FetcherRefetch => "fetcher-refetch",
            Cause::DeliveryRetry => "delivery-retry",
            Cause::CopyOrMove => "copy-or-move",
            Cause::AliasExpansion => "alias-expansion",
            Cause::DeliveryDuplicate => "delivery-duplicate",
            Cause::OtherRoute => "other-route",
            Cause::Unknown => "unknown",
        }
    }

    /// The cause in plain words.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::ReDownload => {
                "client re-download: the same server message was downloaded again (a POP3 \
                 session that never reached QUIT, a \"leave on server\" client that lost its \
                 UIDL state, or a web-mail/antivirus proxy that re-fetched)"
            }
            Cause::FetcherRefetch => {
                "fetcher re-fetch: a fetcher (fetchmail, getmail) fetched the message again \
                 and added its own Received hop"
            }
            Cause::DeliveryRetry => {
                "delivery retry: the last server hop delivered the message again later (a \
                 delivery retried after a timeout, or a re-run queue)"
            }
            Cause::CopyOrMove => {
                "copy or move gone wrong: the message was copied into a second folder (a \
                 client or migration copy, a filter that both filed and kept it)"
            }
            Cause::AliasExpansion => {
                "delivery-side duplicate through an alias or forward: the same message was \
                 delivered once per envelope recipient"
            }
            Cause::DeliveryDuplicate => {
                "delivery-side duplicate: the delivery agent stored the message twice (a \
                 retried delivery, a server that stored one message twice)"
            }
            Cause::OtherRoute => {
                "arrived by another route: the copies came through different servers (sent \
                 to a second address that forwards here, or a second account)"
            }
            Cause::Unknown => "unknown: the copies carry no Received headers to compare",
        }
    }

    /// The cause in plain words for a rate incident (every delivery to a folder doubled
    /// for a while, not a burst): a rule rather than a one-off event.
    pub fn describe_rate(self) -> &'static str {
        match self {
            Cause::DeliveryDuplicate => {
                "delivery-side duplicate: a delivery rule, alias or filter stores every \
                 message twice (a procmail recipe with the c flag, a Sieve fileinto plus \
                 keep, an alias or .forward that lists the user twice)"
            }
            Cause::AliasExpansion => {
                "delivery-side duplicate through an alias or forward: every message is \
                 delivered once per envelope recipient (an alias or list that includes the \
                 user and is addressed too, a forward to an address delivered here)"
            }
            Cause::CopyOrMove => {
                "copy or move gone wrong: a filter files every message into a second folder \
                 and also keeps it (a Sieve fileinto without stop, a procmail c recipe)"
            }
            c => c.describe(),
        }
    }

    /// Every cause, in code order.
    pub const ALL: [Cause; 8] = [
        Cause::ReDownload,
        Cause::FetcherRefetch,
        Cause::DeliveryRetry,
        Cause::CopyOrMove,
        Cause::AliasExpansion,
        Cause::DeliveryDuplicate,
        Cause::OtherRoute,
        Cause::Unknown,
    ];

    /// How this happens: the mechanisms that leave exactly this trace (all of them where
    /// the trace cannot tell them apart).
    pub fn mechanism(self) -> &'static str {
        match self {
            Cause::ReDownload => {
                "the copies carry the same Received chain, so the server delivered the message \
                 once and a client downloaded it twice. Either a POP3 session ended before QUIT \
                 (the UPDATE state never ran, so the server kept the messages and the client \
                 did not save its list of seen UIDs), or the client is set to leave mail on the \
                 server and lost or reset that list, or a POP/IMAP proxy (antivirus, web mail) \
                 broke sessions and fetched again; the trace cannot tell these apart"
            }
            Cause::FetcherRefetch => {
                "the extra copy carries one more hop from a fetcher (fetchmail, getmail) on top \
                 of the same server chain: the fetcher took the message from the server again. \
                 Either its session was cut before QUIT/UPDATE (killed, timed out, a network \
                 drop), so the server kept the messages and the fetcher's seen-UID file was \
                 not written, or it keeps mail on the server (fetchmail `keep` without \
                 `uidl`, getmail `delete = false`) and lost its seen-UID file, or a proxy in \
                 between broke the sessions"
            }
            Cause::DeliveryRetry => {
                "only the last server hop differs (a new LMTP/SMTP id), so the last server \
                 delivered the message a second time: the delivery agent stored it but the \
                 server did not see the success (a timeout, a crash after the write), and the \
                 queue retried; a re-injected or restored queue leaves the same trace"
            }
            Cause::CopyOrMove => {
                "the copies were stored in the same second in two folders: a filter filed the \
                 message and also kept it (a Sieve `fileinto` without `stop`, with an implicit \
                 or explicit `keep`; a procmail recipe with the `c` flag), or a client or \
                 migration tool copied it and kept the date; the trace cannot tell a filter \
                 from a copy that kept the date"
            }
            Cause::AliasExpansion => {
                "the copies differ only in their envelope recipient, so the server delivered \
                 the message once per recipient address that ends in this mailbox: an alias \
                 or list that includes the user and is also addressed, an alias that lists the \
                 user twice, or a forward to an address that is delivered here as well"
            }
            Cause::DeliveryDuplicate => {
                "the copies were stored in the same second in the same folder for the same \
                 recipient: the delivery step wrote the message twice. A delivery rule that \
                 copies (a procmail recipe with the `c` flag that delivers to the same folder \
                 as the default, a Sieve `fileinto \"INBOX\"` plus `keep`), an alias or \
                 `.forward` that names the mailbox twice without a distinct recipient header, \
                 or a delivery agent that stored one message twice; the trace cannot tell \
                 these apart"
            }
            Cause::OtherRoute => {
                "the Received chains differ below the top hop, so the copies came through \
                 different servers: the message was sent to two addresses that both end up \
                 here (a second address that forwards here, a second account fetched into \
                 the same mailbox, a Gmail or list copy)"
            }
            Cause::Unknown => {
                "neither copy has a Received header to compare (exports such as Takeout or \
                 an mbox archive often strip them), or a copy could not be read again"
            }
        }
    }

    /// What to check or change so it does not happen again. `rate`: the incident is a
    /// lasting change in a folder's share of doubled deliveries rather than a burst.
    pub fn next_step(self, rate: bool) -> &'static str {
        match (self, rate) {
            (Cause::ReDownload, _) => {
                "check the client's \"leave messages on server\" setting and its seen-UID \
                 state (fetchmail `~/.fetchids`, getmail `oldmail-*` files, a mail client's \
                 popstate/UIDL cache); in the POP3 server's log look for sessions at these \
                 times that end without QUIT; if a POP proxy or antivirus sits in between, \
                 check its log for broken sessions"
            }
            (Cause::FetcherRefetch, _) => {
                "look at the fetcher named in the hop: fetchmail's `~/.fetchids` (is it \
                 written, is `uidl` set with `keep`?), getmail's `oldmail-*` files and its \
                 `delete`/`read_all` settings; check whether the fetcher was killed or timed \
                 out at these times (cron overlap, a lock, a network drop) and the POP3 \
                 server's log for sessions without QUIT; then make it delete after a \
                 completed fetch or keep its UID list"
            }
            (Cause::DeliveryRetry, _) => {
                "in the mail server's log (Postfix `maillog`, the LMTP server's log) look at \
                 these times for deliveries deferred or timed out after the mailbox was \
                 written (LMTP/local delivery timeouts, a slow disk, a quota check); raise \
                 the delivery timeout or fix the slow step"
            }
            (Cause::CopyOrMove, true) => {
                "a delivery rule files these messages into the other folder and also keeps \
                 them: look in the Sieve script (`~/.dovecot.sieve`: `fileinto` needs `stop`, \
                 or remove the `keep`) or the procmail recipe that files into that folder \
                 (drop the `c` flag) that changed at the start time"
            }
            (Cause::CopyOrMove, false) => {
                "check the mail client's or migration tool's copy/move jobs at these times, \
                 and the Sieve/procmail rules that file into these folders (`fileinto` \
                 without `stop`, a procmail `c` flag)"
            }
            (Cause::AliasExpansion, _) => {
                "look at the recipients named in Delivered-To/X-Original-To of the copies: \
                 in the alias table (`/etc/aliases`, the virtual alias map), the list's \
                 membership and the user's `.forward`, find the alias or list that contains \
                 this user and is addressed too; have it expand once (or enable duplicate \
                 suppression: Dovecot `duplicate` / `lda_original_recipient_header`)"
            }
            (Cause::DeliveryDuplicate, true) => {
                "something in the delivery path doubles every message since the start time: \
                 look for a procmail recipe with the `c` flag (`:0 c`) that delivers to the \
                 default folder, a Sieve `fileinto \"INBOX\"` plus `keep`, a `.forward` or \
                 alias that names the mailbox twice, and at what changed at the start time \
                 (a new filter, an upgraded delivery agent)"
            }
            (Cause::DeliveryDuplicate, false) => {
                "in the mail server's log look at these times for the message being handed to \
                 the delivery agent twice; check the procmail/Sieve rules (`:0 c`, \
                 `fileinto` plus `keep`) and the user's `.forward` and aliases"
            }
            (Cause::OtherRoute, _) => {
                "compare the Received chains of a kept and an extra copy (`--html` shows them \
                 side by side): the first server where they part names the second route; \
                 remove the forward or the second account fetch, or filter one of them"
            }
            (Cause::Unknown, _) => {
                "the trace holds nothing to compare: look at the folders and times named here \
                 (an import or restore at that time?) and at the mail client's or server's \
                 logs for those times"
            }
        }
    }

    /// The evidence for one copy, as a phrase completing "... for N of M copies".
    pub fn evidence(self) -> &'static str {
        match self {
            Cause::ReDownload => "Received chain identical to the kept copy's",
            Cause::FetcherRefetch => "one Received hop from a fetcher on top of the same chain",
            Cause::DeliveryRetry => "only the last server hop of the Received chain differs",
            Cause::CopyOrMove => "in another folder than the kept copy, delivered at the same time",
            Cause::AliasExpansion => "a different envelope recipient (Delivered-To/X-Original-To)",
            Cause::DeliveryDuplicate => "same folder and recipient, delivered at the same time",
            Cause::OtherRoute => "Received chains differ below the top hop",
            Cause::Unknown => "no Received headers to compare (or the copy could not be read)",
        }
    }
}

/// The server-side trace of one copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// `Received:` values, topmost (latest) first, whitespace-normalised.
    pub received: Vec<Vec<u8>>,
    /// Envelope recipients (`Delivered-To`, `X-Original-To`, `Envelope-To`,
    /// `X-Delivered-To`, `X-Envelope-To`), lowercased.
    pub recipients: BTreeSet<Vec<u8>>,
}

const RECIPIENT_FIELDS: &[&str] = &[
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-delivered-to",
    "x-envelope-to",
];

impl Trace {
    /// The trace of a header block (anything after the blank line is ignored).
    pub fn parse(head: &[u8]) -> Trace {
        let mut t = Trace::default();
        scan_fields(head, |name, value| {
            if name_is(name, "received") {
                let mut v = Vec::new();
                normalise_value(value, &mut v);
                t.received.push(v);
            } else if RECIPIENT_FIELDS.iter().any(|f| name_is(name, f)) {
                let mut v = Vec::new();
                normalise_value(value, &mut v);
                v.make_ascii_lowercase();
                t.recipients.insert(v);
            }
        });
        t
    }

    /// Reads the header block of a copy (at most 64 KiB) and parses its trace.
    pub fn read(c: &MessageCopy, stores: &[Store]) -> io::Result<Trace> {
        Ok(Trace::parse(&read_head(c, stores)?))
    }
}

/// How an extra copy's Received chain relates to the kept copy's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chain {
    /// Neither copy has a Received header.
    Missing,
    Identical,
    /// One copy has one more hop on top of the other's chain; `fetcher` when that hop
    /// looks like a fetcher's. `hop` is that hop.
    ExtraHop {
        fetcher: bool,
        hop: Vec<u8>,
    },
    /// Same length, only the topmost hop differs; `fetcher` when the extra copy's top hop
    /// looks like a fetcher's.
    TopHopDiffers {
        fetcher: bool,
        hop: Vec<u8>,
    },
    /// The chains differ below the top hop.
    Different,
}

/// Does a Received value look like a fetcher's hop (fetchmail, getmail, a POP3/IMAP
/// pull into the local host)?
pub fn is_fetcher_hop(hop: &[u8]) -> bool {
    let h = hop.to_ascii_lowercase();
    let has = |s: &str| memchr::memmem::find(&h, s.as_bytes()).is_some();
    has("fetchmail")
        || has("getmail")
        || has("with pop")
        || has("with imap")
        || has("by localhost")
        || has("by 127.0.0.1")
        || has("by [127.0.0.1]")
}

pub fn relate(extra: &Trace, kept: &Trace) -> Chain {
    let (e, k) = (&extra.received, &kept.received);
    if e.is_empty() && k.is_empty() {
        return Chain::Missing;
    }
    if e == k {
        return Chain::Identical;
    }
    let on_top =
        |long: &[Vec<u8>], short: &[Vec<u8>]| long.len() == short.len() + 1 && long[1..] == *short;
    if on_top(e, k) {
        return Chain::ExtraHop {
            fetcher: is_fetcher_hop(&e[0]),
            hop: e[0].clone(),
        };
    }
    if on_top(k, e) {
        // The kept copy was fetched, the extra one came without the fetcher: not a
        // re-fetch.
        return Chain::ExtraHop {
            fetcher: false,
            hop: k[0].clone(),
        };
    }
    if e.len() == k.len() && !e.is_empty() && e[1..] == k[1..] {
        // The extra copy's own last hop decides: a fetcher's hop means it was fetched
        // (again) from the server that delivered the kept copy.
        return Chain::TopHopDiffers {
            fetcher: is_fetcher_hop(&e[0]),
            hop: e[0].clone(),
        };
    }
    Chain::Different
}

/// The cause of one extra copy. `other_folder`: it is in another store than the kept copy.
/// `traces`: the extra's and the kept copy's traces, `None` when one could not be read.
pub fn classify(class: Class, other_folder: bool, traces: Option<(&Trace, &Trace)>) -> Cause {
    match class {
        Class::SameTime => {
            if other_folder {
                return Cause::CopyOrMove;
            }
            match traces {
                Some((e, k))
                    if !e.recipients.is_empty()
                        && !k.recipients.is_empty()
                        && e.recipients != k.recipients =>
                {
                    Cause::AliasExpansion
                }
                _ => Cause::DeliveryDuplicate,
            }
        }
        Class::DifferentTime => match traces.map(|(e, k)| relate(e, k)) {
            None | Some(Chain::Missing) => Cause::Unknown,
            Some(Chain::Identical) => Cause::ReDownload,
            Some(Chain::ExtraHop { fetcher: true, .. })
            | Some(Chain::TopHopDiffers { fetcher: true, .. }) => Cause::FetcherRefetch,
            Some(Chain::TopHopDiffers { fetcher: false, .. }) => Cause::DeliveryRetry,
            Some(Chain::ExtraHop { fetcher: false, .. }) | Some(Chain::Different) => {
                Cause::OtherRoute
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "Received: from mx.example.net (mx.example.net [192.0.2.1])\n\tby mail.example.com (Postfix) with ESMTPS id 4A1; Mon, 1 Jan 2024 10:00:00 +0000\nReceived: from out.example.org by mx.example.net with ESMTP id 77; Mon, 1 Jan 2024 09:59:58 +0000\n";

    fn trace(top: &str, to: &str) -> Trace {
        Trace::parse(
            format!(
                "{top}{SERVER}Delivered-To: {to}\nSubject: x\n\nbody\nReceived: not a header\n"
            )
            .as_bytes(),
        )
    }

    #[test]
    fn parses_chain_and_recipients_from_the_header_block_only() {
        let t = trace("", "Jane@Example.com");
        assert_eq!(t.received.len(), 2);
        assert!(
            t.received[0].starts_with(b"from mx.example.net (mx.example.net [192.0.2.1]) by mail")
        );
        assert_eq!(
            t.recipients.iter().next().map(|v| v.as_slice()),
            Some(&b"jane@example.com"[..])
        );
    }

    #[test]
    fn chain_relations() {
        let kept = trace("", "a@x");
        assert_eq!(relate(&trace("", "a@x"), &kept), Chain::Identical);
        let fetched = trace(
            "Received: from pop.example.net by localhost with POP3 (fetchmail-6.4.37) for <a@x> (single-drop); Tue, 2 Jan 2024 10:00:00 +0000\n",
            "a@x",
        );
        assert!(matches!(
            relate(&fetched, &kept),
            Chain::ExtraHop { fetcher: true, .. }
        ));
        let refetched = trace(
            "Received: from pop.example.net by localhost with POP3 (fetchmail-6.4.37) for <a@x> (single-drop); Wed, 3 Jan 2024 10:00:00 +0000\n",
            "a@x",
        );
        assert!(matches!(
            relate(&refetched, &fetched),
            Chain::TopHopDiffers { fetcher: true, .. }
        ));
        let lmtp1 = trace(
            "Received: from mail.example.com by imap.example.com with LMTP id 1\n",
            "a@x",
        );
        let lmtp2 = trace(
            "Received: from mail.example.com by imap.example.com with LMTP id 2\n",
            "a@x",
        );
        assert!(matches!(
            relate(&lmtp2, &lmtp1),
            Chain::TopHopDiffers { fetcher: false, .. }
        ));
        let other = Trace::parse(b"Received: from gmail by google\nReceived: from elsewhere\n\n");
        assert_eq!(relate(&other, &kept), Chain::Different);
        assert_eq!(relate(&Trace::default(), &Trace::default()), Chain::Missing);
    }

    #[test]
    fn every_cause_has_a_mechanism_and_a_next_step() {
        for c in Cause::ALL {
            for rate in [false, true] {
                assert!(c.next_step(rate).len() > 40, "{c:?}");
            }
            assert!(c.mechanism().len() > 40, "{c:?}");
            assert!(c
                .describe_rate()
                .starts_with(c.describe().split(':').next().unwrap_or("?")));
            assert!(!c.describe().is_empty() && !c.evidence().is_empty());
        }
        assert!(Cause::FetcherRefetch.next_step(false).contains(".fetchids"));
        assert!(Cause::FetcherRefetch.next_step(false).contains("oldmail-"));
        assert!(Cause::DeliveryDuplicate.next_step(true).contains(":0 c"));
    }

    #[test]
    fn causes() {
        let kept = trace("", "jane@x");
        let alias = trace("", "team@x");
        let d = Class::DifferentTime;
        let s = Class::SameTime;
        assert_eq!(classify(s, true, Some((&kept, &kept))), Cause::CopyOrMove);
        assert_eq!(
            classify(s, false, Some((&alias, &kept))),
            Cause::AliasExpansion
        );
        assert_eq!(
            classify(s, false, Some((&kept, &kept))),
            Cause::DeliveryDuplicate
        );
        assert_eq!(classify(s, false, None), Cause::DeliveryDuplicate);
        assert_eq!(classify(d, false, Some((&kept, &kept))), Cause::ReDownload);
        assert_eq!(classify(d, true, Some((&kept, &kept))), Cause::ReDownload);
        assert_eq!(classify(d, false, None), Cause::Unknown);
        let fetched = trace(
            "Received: from pop by localhost with POP3 (fetchmail)\n",
            "jane@x",
        );
        assert_eq!(
            classify(d, false, Some((&fetched, &kept))),
            Cause::FetcherRefetch
        );
        let forward = trace(
            "Received: from relay.example by mail.example.com\n",
            "jane@x",
        );
        assert_eq!(
            classify(d, false, Some((&forward, &kept))),
            Cause::OtherRoute
        );
    }
}
