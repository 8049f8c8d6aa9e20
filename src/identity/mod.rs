//! What identifies one copy of a message: its Message-ID, a digest of what the sender
//! wrote, its delivery time and its flags.
//!
//! Fingerprinting runs in two stages so that most bodies are never read:
//! 1. [`HeaderFacts::read`] digests the header block only. Its `header_digest` covers the
//!    identity fields (what the author's client wrote, [`IDENTITY_HEADERS`]); two copies
//!    whose header digests differ can never have equal content hashes.
//! 2. [`body_digest`] digests the body, only for copies that share a Message-ID or (without
//!    one) a header digest with another copy. [`content_hash`] combines both.
//!
//! The exact rule is documented in docs/identity.md ("What counts as a duplicate").

pub mod header;

use crate::identity::header::{line_at, name_is, normalise_value, scan_fields};

/// The header fields the content hash covers: what the author's mail client writes
/// (RFC 5322 section 3.6, RFC 2045/2183/3282 for the top-level MIME entity). Every other
/// field is route or store state (trace, list, spam-filter, store and MTA fields) and
/// never changes a message's identity. Names are lowercase. Why each one is on the list,
/// and why `Sender`, `Resent-*` and `X-Mailer` are not: docs/identity.md, "What counts as a
/// duplicate".
pub const IDENTITY_HEADERS: &[&str] = &[
    // Originator (RFC 5322 3.6.2). `Sender` is left out: list servers add or replace it.
    "from",
    "reply-to",
    // Destination (3.6.3).
    "to",
    "cc",
    "bcc",
    // Origination date (3.6.1).
    "date",
    // Identification (3.6.4).
    "message-id",
    "in-reply-to",
    "references",
    // Informational (3.6.5).
    "subject",
    "comments",
    "keywords",
    // The top-level MIME entity (RFC 2045, 2183, 3282).
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
    "content-description",
    "content-language",
];

/// Is this header field covered by the content hash?
pub fn is_identity(name: &[u8]) -> bool {
    // Most fields of real mail are not on the list: a cheap test on the length and first
    // letter avoids the list walk for most of them.
    if !(2..=25).contains(&name.len()) {
        return false;
    }
    match name.first().map(u8::to_ascii_lowercase) {
        Some(b'b' | b'c' | b'd' | b'f' | b'i' | b'k' | b'm' | b'r' | b's' | b't') => {}
        _ => return false,
    }
    IDENTITY_HEADERS.iter().any(|n| name_is(name, n))
}

/// Is this header field left out of the content hash (route or store state)?
pub fn is_ignored(name: &[u8]) -> bool {
    !is_identity(name)
}

pub type Digest = [u8; 32];

/// What the header block of one copy tells.
#[derive(Debug, Clone, Default)]
pub struct HeaderFacts {
    /// Normalised Message-ID (`<local@domain>`), if the message has a usable one.
    pub message_id: Option<String>,
    /// Digest of the identity header fields ([`header_digest`]).
    pub header_digest: Digest,
    /// Offset of the body within the message bytes.
    pub body_start: usize,
    /// Whether the whole header block was in the buffer.
    pub complete: bool,
    /// Unix time from `Date:` (the send time the author's client wrote).
    pub date: Option<i64>,
    /// Unix time from `Delivery-date:`.
    pub delivery_date: Option<i64>,
    /// Unix time from the topmost `Received:` header's date.
    pub received_date: Option<i64>,
    /// Flags from `Status:`/`X-Status:` and Thunderbird's `X-Mozilla-Status`/
    /// `X-Mozilla-Status2`, in Maildir letters (mbox copies), plus [`Flags::EXPUNGED`].
    pub mbox_flags: Flags,
    /// `Content-Length:` value (used by the mbox splitter).
    pub content_length: Option<u64>,
}

impl HeaderFacts {
    /// Reads the header block at the start of `msg`, digest included. `scratch` is a
    /// reusable buffer.
    pub fn read(msg: &[u8], scratch: &mut Vec<u8>) -> HeaderFacts {
        let mut facts = HeaderFacts::read_facts(msg);
        facts.header_digest = header_digest(msg, scratch);
        facts
    }

    /// Reads the header block without digesting it (stage 1 for copies with a
    /// Message-ID: their digest is only needed if another copy shares the Message-ID).
    pub fn read_facts(msg: &[u8]) -> HeaderFacts {
        let mut facts = HeaderFacts::default();
        let hb = scan_fields(msg, |name, value| {
            if name.is_empty() {
                return;
            }
            if name_is(name, "message-id") {
                if facts.message_id.is_none() {
                    facts.message_id = normalise_message_id(value);
                }
            } else if name_is(name, "date") {
                if facts.date.is_none() {
                    facts.date = parse_rfc822_date(value);
                }
            } else if name_is(name, "delivery-date") {
                if facts.delivery_date.is_none() {
                    facts.delivery_date = parse_rfc822_date(value);
                }
            } else if name_is(name, "received") {
                // The topmost Received is the last hop: the delivery to this store.
                if facts.received_date.is_none() {
                    facts.received_date = memchr::memrchr(b';', value)
                        .and_then(|i| parse_rfc822_date(&value[i + 1..]));
                }
            } else if name_is(name, "status") {
                facts.mbox_flags.add_status(value);
            } else if name_is(name, "x-status") {
                facts.mbox_flags.add_x_status(value);
            } else if name_is(name, "x-mozilla-status") {
                facts.mbox_flags.add_mozilla_status(value);
            } else if name_is(name, "x-mozilla-status2") {
                facts.mbox_flags.add_mozilla_status2(value);
            } else if name_is(name, "content-length") {
                facts.content_length = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
            }
        });
        facts.body_start = hb.body_start;
        facts.complete = hb.complete;
        facts
    }
}

/// The identity fields of `msg` ([`IDENTITY_HEADERS`]), each as lowercase name, `:` and
/// normalised value (folding undone, whitespace runs collapsed), ordered by name (fields of
/// one name keep their order): a server that reorders fields does not change identity.
pub fn identity_fields(msg: &[u8]) -> Vec<Vec<u8>> {
    let mut fields: Vec<Vec<u8>> = Vec::with_capacity(12);
    scan_fields(msg, |name, value| {
        if name.is_empty() || !is_identity(name) {
            return;
        }
        let mut f: Vec<u8> = name.iter().map(u8::to_ascii_lowercase).collect();
        f.push(b':');
        normalise_value(value, &mut f);
        fields.push(f);
    });
    // Stable: fields of one name keep their order.
    fields.sort_by(|a, b| field_name(a).cmp(field_name(b)));
    fields
}

fn field_name(f: &[u8]) -> &[u8] {
    &f[..memchr::memchr(b':', f).unwrap_or(f.len())]
}

/// Digest of the identity fields of `msg` (see [`identity_fields`]).
pub fn header_digest(msg: &[u8], scratch: &mut Vec<u8>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"maildedup-headers-v2\n");
    scratch.clear();
    for f in identity_fields(msg) {
        // Lengths first, so no value can run into the next field.
        scratch.extend_from_slice(&(f.len() as u64).to_le_bytes());
        scratch.extend_from_slice(&f);
    }
    hasher.update(scratch);
    *hasher.finalize().as_bytes()
}

/// The content hash of a whole message, from its bytes.
pub fn message_hash(msg: &[u8], scratch: &mut Vec<u8>) -> Digest {
    message_hash_and_id(msg, scratch).0
}

/// The content hash of a whole message and its normalised Message-ID.
pub fn message_hash_and_id(msg: &[u8], scratch: &mut Vec<u8>) -> (Digest, Option<String>) {
    let facts = HeaderFacts::read(msg, scratch);
    let body = body_digest(&msg[facts.body_start.min(msg.len())..], scratch);
    (content_hash(&facts.header_digest, &body), facts.message_id)
}

/// Normalises a Message-ID header value: the first `<...>` with whitespace removed, or
/// failing that the first whitespace-free token; `None` when empty.
pub fn normalise_message_id(value: &[u8]) -> Option<String> {
    let ws = |b: &u8| b.is_ascii_whitespace();
    let inner: &[u8] = match (memchr::memchr(b'<', value), memchr::memchr(b'>', value)) {
        (Some(a), Some(b)) if b > a + 1 => &value[a + 1..b],
        _ => {
            let start = value.iter().position(|b| !ws(b)).unwrap_or(value.len());
            let rest = &value[start..];
            let token = &rest[..rest.iter().position(ws).unwrap_or(rest.len())];
            let token = token.strip_prefix(b"<").unwrap_or(token);
            token.strip_suffix(b">").unwrap_or(token)
        }
    };
    let mut id = Vec::with_capacity(inner.len() + 2);
    id.push(b'<');
    id.extend(inner.iter().filter(|b| !ws(b)));
    if id.len() == 1 {
        return None;
    }
    id.push(b'>');
    Some(
        String::from_utf8(id)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Parses an RFC 5322 date (as in `Date:`, `Delivery-date:` or after `;` in `Received:`)
/// into Unix seconds, with mail-parser's tolerant date parser.
pub fn parse_rfc822_date(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let dt = mail_parser::DateTime::parse_rfc822(text.trim())?;
    if !dt.is_valid() {
        return None;
    }
    Some(dt.to_timestamp())
}

/// Digest of the normalised body ([`normalise_body`]).
pub fn body_digest(body: &[u8], scratch: &mut Vec<u8>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"maildedup-body-v1\n");
    hasher.update(normalise_body(body, scratch));
    *hasher.finalize().as_bytes()
}

/// The normalised body: line endings unified to LF, `>From `-quoting removed (`>*From `
/// at the start of a line counts as `From `), trailing line breaks dropped. Borrows
/// `body` when nothing needs changing, else is built in `scratch`.
pub fn normalise_body<'a>(body: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let trimmed = trim_trailing_breaks(body);
    let needs_work = memchr::memchr(b'\r', trimmed).is_some()
        || trimmed.first() == Some(&b'>')
        || memchr::memmem::find(trimmed, b"\n>").is_some();
    if !needs_work {
        return trimmed;
    }
    scratch.clear();
    let mut pos = 0;
    while pos < trimmed.len() {
        let (end, next) = line_at(trimmed, pos);
        let mut line = &trimmed[pos..end];
        let unquoted = line.iter().position(|&b| b != b'>').map(|i| &line[i..]);
        if let Some(rest) = unquoted {
            if rest.len() < line.len() && rest.starts_with(b"From ") {
                line = rest;
            }
        }
        scratch.extend_from_slice(line);
        if next > end {
            scratch.push(b'\n');
        }
        pos = next;
    }
    scratch
}

fn trim_trailing_breaks(b: &[u8]) -> &[u8] {
    let mut e = b.len();
    while e > 0 && matches!(b[e - 1], b'\r' | b'\n') {
        e -= 1;
    }
    &b[..e]
}

/// The content hash: what the sender wrote, headers and body.
pub fn content_hash(header: &Digest, body: &Digest) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(b"maildedup-content-v1\n");
    h.update(header);
    h.update(body);
    *h.finalize().as_bytes()
}

/// Message flags as a set of Maildir info letters (`D F P R S T`, plus Dovecot's lowercase
/// keyword letters), kept in a bitmask so a copy costs 8 bytes for them; bit 63 is
/// [`Flags::EXPUNGED`], which no Maildir letter has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u64);

/// Thunderbird's message flags (`nsMsgMessageFlags`) as its mbox headers carry them:
/// `X-Mozilla-Status` holds the low 16 bits in 4 hex digits, `X-Mozilla-Status2` the high
/// 16 bits (as `flags & 0xFFFF0000`, 8 hex digits).
pub mod mozilla {
    pub const READ: u32 = 0x0001;
    pub const REPLIED: u32 = 0x0002;
    pub const MARKED: u32 = 0x0004;
    /// Deleted in Thunderbird: hidden, and dropped at the folder's next compaction.
    pub const EXPUNGED: u32 = 0x0008;
    pub const FORWARDED: u32 = 0x1000;
    /// An IMAP message marked `\Deleted` on the server (in `X-Mozilla-Status2`).
    pub const IMAP_DELETED: u32 = 0x0020_0000;

    /// The hex number of an `X-Mozilla-Status`/`X-Mozilla-Status2` value (`None` if it
    /// is not one).
    pub fn parse(value: &[u8]) -> Option<u32> {
        let text = std::str::from_utf8(value).ok()?.trim();
        if text.is_empty() || text.len() > 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }
}

impl Flags {
    /// Not a Maildir letter: a Thunderbird mbox message marked expunged (deleted, awaiting
    /// the folder's compaction). Such a copy is no longer mail the user has: grouping
    /// leaves it out. Never shown (`Display` prints letters only) and never merged.
    pub const EXPUNGED: Flags = Flags(1 << 63);

    /// Maildir `T` (trashed): IMAP `\Deleted`, mbox `X-Status: D`, Thunderbird's
    /// IMAP-deleted flag.
    pub const TRASHED: Flags = Flags(1 << (b'T' - b'A'));

    /// Is this copy marked deleted (trashed, or expunged awaiting compaction)?
    pub fn is_deleted(self) -> bool {
        self.0 & (Self::TRASHED.0 | Self::EXPUNGED.0) != 0
    }

    /// Is this copy a Thunderbird message expunged but not yet compacted away?
    pub fn is_expunged(self) -> bool {
        self.0 & Self::EXPUNGED.0 != 0
    }

    fn bit(c: u8) -> Option<u64> {
        match c {
            b'A'..=b'Z' => Some(1 << (c - b'A')),
            b'a'..=b'z' => Some(1 << (26 + c - b'a')),
            _ => None,
        }
    }

    /// From a Maildir info string (the part after `2,`).
    pub fn from_maildir(info: &str) -> Flags {
        let mut f = Flags(0);
        for c in info.bytes() {
            if let Some(b) = Self::bit(c) {
                f.0 |= b;
            }
        }
        f
    }

    pub fn insert(&mut self, c: u8) {
        if let Some(b) = Self::bit(c) {
            self.0 |= b;
        }
    }

    /// mbox `Status:` — `R` read → Seen (`S`); `O` (old) has no Maildir flag.
    pub fn add_status(&mut self, value: &[u8]) {
        for &c in value {
            if c == b'R' {
                self.insert(b'S');
            }
        }
    }

    /// mbox `X-Status:` — `A` answered → `R`, `F` flagged → `F`, `T` draft → `D`,
    /// `D` deleted → `T` (trashed).
    pub fn add_x_status(&mut self, value: &[u8]) {
        for &c in value {
            match c {
                b'A' => self.insert(b'R'),
                b'F' => self.insert(b'F'),
                b'T' => self.insert(b'D'),
                b'D' => self.insert(b'T'),
                _ => {}
            }
        }
    }

    /// Thunderbird's `X-Mozilla-Status` (low 16 bits of `nsMsgMessageFlags`, in hex):
    /// Read → `S`, Replied → `R`, Marked → `F`, Forwarded → `P`, Expunged →
    /// [`Flags::EXPUNGED`]. A value that is not hex is ignored.
    pub fn add_mozilla_status(&mut self, value: &[u8]) {
        let Some(v) = mozilla::parse(value) else {
            return;
        };
        for (bit, c) in [
            (mozilla::READ, b'S'),
            (mozilla::REPLIED, b'R'),
            (mozilla::MARKED, b'F'),
            (mozilla::FORWARDED, b'P'),
        ] {
            if v & bit != 0 {
                self.insert(c);
            }
        }
        if v & mozilla::EXPUNGED != 0 {
            self.0 |= Self::EXPUNGED.0;
        }
    }

    /// Thunderbird's `X-Mozilla-Status2` (high 16 bits, in hex): IMAP-deleted → `T`.
    pub fn add_mozilla_status2(&mut self, value: &[u8]) {
        if mozilla::parse(value).is_some_and(|v| v & mozilla::IMAP_DELETED != 0) {
            self.insert(b'T');
        }
    }

    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub fn contains_all(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for Flags {
    /// Maildir order: uppercase flags in ASCII order, then lowercase keyword letters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for i in 0..52u8 {
            if self.0 & (1 << i) != 0 {
                let c = if i < 26 { b'A' + i } else { b'a' + (i - 26) };
                write!(f, "{}", c as char)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_hash(msg: &[u8]) -> Digest {
        message_hash(msg, &mut Vec::new())
    }

    #[test]
    fn identity_list_passes_the_quick_filter() {
        for name in IDENTITY_HEADERS {
            assert!(is_identity(name.as_bytes()), "{name}");
            assert!(is_identity(name.to_uppercase().as_bytes()), "{name}");
        }
        for name in [
            "Sender",
            "X-Mailing-List",
            "Received",
            "X-Gm-Message-State",
            "Resent-Date",
        ] {
            assert!(is_ignored(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn field_order_does_not_count() {
        let a = b"Subject: hi\nFrom: a@x\nTo: b@x\nMessage-ID: <1@x>\n\nbody\n";
        let b = b"To: b@x\nMessage-ID: <1@x>\nFrom: a@x\nSubject: hi\n\nbody\n";
        assert_eq!(full_hash(a), full_hash(b));
        let c = b"To: b@x\nTo: c@x\nSubject: hi\n\nbody\n";
        let d = b"To: c@x\nTo: b@x\nSubject: hi\n\nbody\n";
        assert_ne!(full_hash(c), full_hash(d));
    }

    #[test]
    fn trace_and_store_headers_do_not_count() {
        let a = b"Received: from a\nReturn-Path: <x@y>\nSubject: hi\nMessage-ID: <1@x>\n\nbody\n";
        let b =
            b"Status: RO\nX-UID: 5\nSubject: hi\nMessage-ID: <1@x>\nX-Spam-Status: No\n\nbody\n";
        assert_eq!(full_hash(a), full_hash(b));
    }

    #[test]
    fn crlf_folding_and_from_quoting_do_not_count() {
        let a = b"Subject: a\n b\nMessage-ID: <1@x>\n\nFrom here\n>From there\n\n";
        let b = b"subject: a b\r\nMessage-ID:  <1@x>\r\n\r\n>From here\r\n>>From there\r\n";
        assert_eq!(full_hash(a), full_hash(b));
    }

    #[test]
    fn what_the_sender_wrote_counts() {
        let a = b"Subject: hi\nMessage-ID: <1@x>\n\nbody\n";
        assert_ne!(
            full_hash(a),
            full_hash(b"Subject: [list] hi\nMessage-ID: <1@x>\n\nbody\n")
        );
        assert_ne!(
            full_hash(a),
            full_hash(b"Subject: hi\nMessage-ID: <1@x>\n\nbody\n--\nfooter\n")
        );
        assert_ne!(
            full_hash(a),
            full_hash(b"Subject: hi\nMessage-ID: <2@x>\n\nbody\n")
        );
        assert_ne!(
            full_hash(a),
            full_hash(b"Subject: hi\nMessage-ID: <1@x>\n\n>body\n")
        );
    }

    #[test]
    fn message_id_normalisation() {
        assert_eq!(normalise_message_id(b" <a@b>\n").as_deref(), Some("<a@b>"));
        assert_eq!(
            normalise_message_id(b" (c) <a@\n b>").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(normalise_message_id(b" a@b ").as_deref(), Some("<a@b>"));
        assert_eq!(normalise_message_id(b"  ").as_deref(), None);
    }

    #[test]
    fn flags_from_mbox_headers() {
        let mut s = Vec::new();
        let f = HeaderFacts::read(b"Status: RO\nX-Status: AF\n\n", &mut s);
        assert_eq!(f.mbox_flags.to_string(), "FRS");
    }

    #[test]
    fn flags_from_thunderbird_headers() {
        let mut s = Vec::new();
        let read = |h: &[u8], s: &mut Vec<u8>| HeaderFacts::read(h, s).mbox_flags;
        let f = read(
            b"X-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\n\n",
            &mut s,
        );
        assert_eq!((f.to_string().as_str(), f.is_deleted()), ("S", false));
        // Read + expunged: deleted in Thunderbird, awaiting compaction.
        let f = read(
            b"X-Mozilla-Status: 0009\nX-Mozilla-Status2: 00000000\n\n",
            &mut s,
        );
        assert!(f.is_expunged() && f.is_deleted());
        assert_eq!(
            f.to_string(),
            "S",
            "the expunged mark is not a Maildir letter"
        );
        let f = read(b"X-Mozilla-Status: 1006\n\n", &mut s);
        assert_eq!(f.to_string(), "FPR");
        assert!(!f.is_expunged());
        // IMAP \Deleted, in the high half.
        let f = read(
            b"X-Mozilla-Status: 0000\nX-Mozilla-Status2: 00200000\n\n",
            &mut s,
        );
        assert_eq!((f.to_string().as_str(), f.is_expunged()), ("T", false));
        assert!(f.is_deleted());
        // Not hex: ignored, never a guess.
        let f = read(b"X-Mozilla-Status: zz09\nX-Mozilla-Status2: x\n\n", &mut s);
        assert!(f.is_empty());
        let f = read(b"X-Status: D\n\n", &mut s);
        assert!(f.is_deleted() && !f.is_expunged());
    }

    #[test]
    fn received_date_is_parsed() {
        let mut s = Vec::new();
        let f = HeaderFacts::read(
            b"Received: from a by b; Wed, 28 Nov 2012 18:41:46 -0400\nReceived: x; Tue, 27 Nov 2012 00:00:00 +0000\n\n",
            &mut s,
        );
        assert_eq!(f.received_date, Some(1354142506));
    }
}
