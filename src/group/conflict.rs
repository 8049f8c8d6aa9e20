//! Explaining a conflict: which identity header fields and whether the body differ between
//! copies that share a Message-ID but not their content, and what kind of difference it
//! is ([`ConflictKind`]).

use crate::identity::{identity_fields, normalise_body, HeaderFacts};
use crate::model::comparisons::{pair_key, Comparisons};
use crate::model::MessageCopy;
use crate::model::Store;
use crate::store::read::message_bytes;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Differences {
    /// Header fields (lowercase names) whose values differ, among those the content hash
    /// covers.
    pub headers: Vec<String>,
    /// Whether the normalised bodies differ.
    pub body: bool,
}

/// What kind of difference separates the variants of a conflict. Declared from the
/// mildest to the most serious; a conflict of more than two variants takes the most
/// serious kind found between its first variant and each other one.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// A mailing list's copy: the subject gained a `[tag]`, the body a trailing footer
    /// (possibly as a MIME part of its own), and/or `Reply-To` was set by the list; nothing
    /// else differs.
    ListCopy,
    /// The raw bodies (and the top-level MIME fields) differ, but decode to the same
    /// content: re-encoded between 8bit, quoted-printable and base64 on the way.
    TransferEncoding,
    /// Only the `Date:` differs: the same message sent again.
    Resend,
    /// Anything else.
    #[default]
    Edited,
}

impl ConflictKind {
    pub const ALL: [ConflictKind; 4] = [
        ConflictKind::ListCopy,
        ConflictKind::TransferEncoding,
        ConflictKind::Resend,
        ConflictKind::Edited,
    ];

    /// The name used in reports (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::ListCopy => "list-copy",
            ConflictKind::TransferEncoding => "transfer-encoding",
            ConflictKind::Resend => "resend",
            ConflictKind::Edited => "edited",
        }
    }
}

/// The identity fields of a message, by lowercase name, values normalised.
fn hashed_fields(msg: &[u8]) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for f in identity_fields(msg) {
        let colon = memchr::memchr(b':', &f).unwrap_or(f.len());
        out.entry(String::from_utf8_lossy(&f[..colon]).into_owned())
            .or_default()
            .push(f[(colon + 1).min(f.len())..].to_vec());
    }
    out
}

/// Compares every copy with the first one. Copies that cannot be read any more are left
/// out of the comparison.
pub fn describe(copies: &[&MessageCopy], stores: &[Store]) -> Differences {
    explain(copies, stores).0
}

/// What differs between the copies (compared with the first readable one) and the kind
/// of the difference. Copies that cannot be read any more are left out; with fewer than
/// two readable copies the kind is `edited` (nothing shows it is milder).
pub fn explain(copies: &[&MessageCopy], stores: &[Store]) -> (Differences, ConflictKind) {
    explain_known(copies, stores, &Comparisons::default())
}

/// One comparison as the cache keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Compared {
    h: BTreeSet<String>,
    b: bool,
    k: ConflictKind,
}

/// [`explain`], taking the comparison of two contents from `known` where it was made
/// before (then neither copy is read) and recording the ones it makes. A copy without a
/// content hash is always read.
pub fn explain_known(
    copies: &[&MessageCopy],
    stores: &[Store],
    known: &Comparisons,
) -> (Differences, ConflictKind) {
    let key =
        |a: &MessageCopy, b: &MessageCopy| Some(pair_key(&a.content_hash()?, &b.content_hash()?));
    let recalled = |a: &MessageCopy, b: &MessageCopy| -> Option<Compared> {
        serde_json::from_slice(&known.get(&key(a, b)?)?).ok()
    };
    let mut compared: Vec<Compared> = Vec::new();
    if let Some((first, rest)) = copies.split_first() {
        compared = rest.iter().map_while(|c| recalled(first, c)).collect();
        if compared.len() != rest.len() {
            compared.clear();
        }
    }
    if compared.is_empty() {
        let mut read = copies
            .iter()
            .filter_map(|c| message_bytes(c, stores).ok().map(|b| (*c, b)));
        let Some((first, first_bytes)) = read.next() else {
            return (Differences::default(), ConflictKind::Edited);
        };
        for (other, bytes) in read {
            let (h, b, k) = compare(&first_bytes, &bytes);
            let c = Compared { h, b, k };
            if let (Some(pk), Ok(v)) = (key(first, other), serde_json::to_vec(&c)) {
                known.put(pk, v);
            }
            compared.push(c);
        }
    }
    let mut headers = BTreeSet::new();
    let mut body = false;
    let mut kind: Option<ConflictKind> = None;
    for Compared { h, b, k } in compared {
        headers.extend(h);
        body |= b;
        kind = Some(kind.map_or(k, |old| old.max(k)));
    }
    (
        Differences {
            headers: headers.into_iter().collect(),
            body,
        },
        kind.unwrap_or(ConflictKind::Edited),
    )
}

/// The top-level MIME fields, which re-encoding or a list's footer part may change.
const MIME_FIELDS: [&str; 3] = ["content-type", "content-transfer-encoding", "mime-version"];

/// Compares two messages: the identity fields that differ, whether the normalised bodies
/// differ, and the kind of the difference.
pub fn compare(a: &[u8], b: &[u8]) -> (BTreeSet<String>, bool, ConflictKind) {
    let (fa, fb) = (hashed_fields(a), hashed_fields(b));
    let names: BTreeSet<String> = fa
        .keys()
        .chain(fb.keys())
        .filter(|n| fa.get(*n) != fb.get(*n))
        .cloned()
        .collect();
    let mut sa = Vec::new();
    let mut sb = Vec::new();
    let ba = normalise_body(body_of(a), &mut sa);
    let bb = normalise_body(body_of(b), &mut sb);
    let body = ba != bb;
    let only = |allowed: &[&str]| names.iter().all(|n| allowed.contains(&n.as_str()));
    let kind = if !body && names.len() == 1 && names.contains("date") {
        ConflictKind::Resend
    } else if only(&MIME_FIELDS) && decoded(a).is_some_and(|da| decoded(b) == Some(da)) {
        ConflictKind::TransferEncoding
    } else if is_list_copy(&names, &fa, &fb, body.then_some((ba, bb)), a, b) {
        ConflictKind::ListCopy
    } else {
        ConflictKind::Edited
    };
    (names, body, kind)
}

fn body_of(msg: &[u8]) -> &[u8] {
    &msg[HeaderFacts::read_facts(msg).body_start.min(msg.len())..]
}

/// A list's copy of the other message: only a subject tag, a trailing footer (raw, or
/// after decoding, when the list added it as a part or re-encoded the body to add it) and
/// `Reply-To` differ.
fn is_list_copy(
    names: &BTreeSet<String>,
    fa: &BTreeMap<String, Vec<Vec<u8>>>,
    fb: &BTreeMap<String, Vec<Vec<u8>>>,
    bodies: Option<(&[u8], &[u8])>,
    a: &[u8],
    b: &[u8],
) -> bool {
    let mut allowed = vec!["subject", "reply-to"];
    let mime_changed = names.iter().any(|n| MIME_FIELDS.contains(&n.as_str()));
    if mime_changed {
        allowed.extend(MIME_FIELDS);
    }
    if names.is_empty() && bodies.is_none() {
        return false;
    }
    if !names.iter().all(|n| allowed.contains(&n.as_str())) {
        return false;
    }
    if names.contains("subject") {
        let one = |f: &BTreeMap<String, Vec<Vec<u8>>>| match f.get("subject").map(Vec::as_slice) {
            Some([s]) => Some(strip_tags(s)),
            _ => None,
        };
        match (one(fa), one(fb)) {
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
    match bodies {
        None => !mime_changed,
        Some((ba, bb)) => {
            (!mime_changed && has_footer(ba, bb))
                || match (decoded(a), decoded(b)) {
                    (Some(da), Some(db)) => footer_parts(&da, &db),
                    _ => false,
                }
        }
    }
}

/// Decoded, is one of the two the other with a text footer: added at the end of its last
/// part, or as text parts after it (Mailman wraps a message in multipart/mixed to add
/// one)? Every other part must be the same.
fn footer_parts(a: &[Part], b: &[Part]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let Some(n) = short.len().checked_sub(1) else {
        return false;
    };
    let (last, other) = (&short[n], &long[n]);
    let last_ok = last == other || (last.text && other.text && has_footer(&last.data, &other.data));
    short[..n] == long[..n]
        && last_ok
        && (long.len() > short.len() || last != other)
        && long[short.len()..].iter().all(|p| p.text)
}

/// Is one of the two the other with lines added at its end? (An empty text is not a
/// message with a footer: nothing the two share shows they are one message.)
fn has_footer(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.is_empty()
        && short.len() < long.len()
        && long.starts_with(short)
        && long[short.len()] == b'\n'
}

/// A subject with every `[...]` tag removed and whitespace collapsed.
fn strip_tags(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut depth = 0usize;
    for &c in s {
        match c {
            b'[' => depth += 1,
            b']' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    let mut norm = Vec::with_capacity(out.len());
    crate::identity::header::normalise_value(&out, &mut norm);
    norm
}

/// One decoded leaf part.
#[derive(Debug, PartialEq, Eq)]
struct Part {
    /// Plain text (not HTML, not binary): what a list footer is.
    text: bool,
    data: Vec<u8>,
}

/// The decoded contents of every leaf part, in order, text with line endings unified and
/// trailing whitespace per line and at the end dropped (re-encoding to quoted-printable
/// may change both); `None` when mail-parser cannot read the message.
fn decoded(msg: &[u8]) -> Option<Vec<Part>> {
    use mail_parser::PartType;
    let m = mail_parser::MessageParser::default().parse(msg)?;
    let mut out = Vec::new();
    for p in &m.parts {
        match &p.body {
            PartType::Multipart(_) => {}
            PartType::Text(t) | PartType::Html(t) => {
                let text = matches!(p.body, PartType::Text(_));
                let mut v = Vec::with_capacity(t.len());
                for line in t.lines() {
                    v.extend_from_slice(line.trim_end().as_bytes());
                    v.push(b'\n');
                }
                while v.last() == Some(&b'\n') {
                    v.pop();
                }
                out.push(Part { text, data: v });
            }
            _ => out.push(Part {
                text: false,
                data: p.contents().to_vec(),
            }),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(a: &str, b: &str) -> ConflictKind {
        compare(a.as_bytes(), b.as_bytes()).2
    }

    const BASE: &str = "From: a@x\nTo: l@x\nSubject: patch\nDate: Thu, 1 Jan 2015 00:00:00 +0000\nMessage-ID: <1@x>\n\nhello\nworld\n";

    #[test]
    fn kinds() {
        let tagged = BASE.replace("Subject: patch", "Subject: [list] patch");
        assert_eq!(kind(BASE, &tagged), ConflictKind::ListCopy);
        let footer = format!("{BASE}--\nlist footer\n");
        assert_eq!(kind(BASE, &footer), ConflictKind::ListCopy);
        let reply = BASE.replace("To: l@x", "To: l@x\nReply-To: l@x");
        assert_eq!(kind(BASE, &reply), ConflictKind::ListCopy);
        let resent = BASE.replace("00:00:00", "01:00:00");
        assert_eq!(kind(BASE, &resent), ConflictKind::Resend);
        let edited = BASE.replace("world", "there");
        assert_eq!(kind(BASE, &edited), ConflictKind::Edited);
        let retagged = BASE.replace("Subject: patch", "Subject: [list] other");
        assert_eq!(kind(BASE, &retagged), ConflictKind::Edited);
        let qp_a = BASE.replace(
            "Message-ID: <1@x>\n",
            "Message-ID: <1@x>\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
        )
        .replace("world", "w\u{f6}rld");
        let qp_b = BASE
            .replace(
                "Message-ID: <1@x>\n",
                "Message-ID: <1@x>\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
            )
            .replace("world", "w=C3=B6rld");
        assert_eq!(kind(&qp_a, &qp_b), ConflictKind::TransferEncoding);
        let qp_c = qp_b.replace("rld", "rld!");
        assert_eq!(kind(&qp_a, &qp_c), ConflictKind::Edited);
    }

    #[test]
    fn a_footer_part_is_a_list_copy_but_another_part_is_not() {
        let plain = BASE.replace(
            "Message-ID: <1@x>\n",
            "Message-ID: <1@x>\nMIME-Version: 1.0\nContent-Type: text/plain\n",
        );
        let wrap = |extra: &str| {
            BASE.replace(
                "Message-ID: <1@x>\n\nhello\nworld\n",
                &format!(
                    "Message-ID: <1@x>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
--b\nContent-Type: text/plain\n\nhello\nworld\n--b\n{extra}\n--b--\n"
                ),
            )
        };
        let footer = wrap("Content-Type: text/plain\n\n--\nlist footer");
        assert_eq!(kind(&plain, &footer), ConflictKind::ListCopy);
        let html = wrap("Content-Type: text/html\n\n<p>more</p>");
        assert_eq!(kind(&plain, &html), ConflictKind::Edited);
        let attachment = wrap("Content-Type: application/pdf\n\nJVBERi0=");
        assert_eq!(kind(&plain, &attachment), ConflictKind::Edited);
        let empty = BASE.replace("hello\nworld\n", "");
        assert_eq!(kind(&empty, BASE), ConflictKind::Edited);
    }

    #[test]
    fn kind_names_match_their_serialized_form() {
        for k in ConflictKind::ALL {
            assert_eq!(serde_json::to_value(k).ok(), Some(k.as_str().into()));
        }
    }
}
