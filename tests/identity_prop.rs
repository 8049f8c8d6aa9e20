//! The content hash covers what the author's mail client wrote and nothing else:
//! adding, removing or changing any header field outside `IDENTITY_HEADERS` never changes
//! it; changing any field on that list, or the body, always does.

use maildedup::identity::{is_identity, message_hash, IDENTITY_HEADERS};
use proptest::prelude::*;

/// A message as a list of header fields (name, value) and a body.
#[derive(Debug, Clone)]
struct Msg {
    fields: Vec<(String, String)>,
    body: String,
}

impl Msg {
    fn bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for (n, v) in &self.fields {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.body);
        out.into_bytes()
    }

    fn hash(&self) -> [u8; 32] {
        message_hash(&self.bytes(), &mut Vec::new())
    }
}

/// A header value: printable ASCII words, never empty after normalisation.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec("[!-~]{1,12}", 1..4).prop_map(|w| w.join(" "))
}

/// A field name that is not on the identity list (server, list, store, spam-filter
/// fields and arbitrary `X-` names; real ones included).
fn other_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Received",
            "X-Mailing-List",
            "X-Gm-Message-State",
            "X-Forwarded-Encrypted",
            "X-Gm-Gg",
            "X-PTX-Original-Recipient",
            "Sender",
            "List-Id",
            "Precedence",
            "Resent-Date",
            "Resent-From",
            "Delivered-To",
            "Return-Path",
            "X-Spam-Status",
            "Status",
            "Content-Length",
            "X-Mailer",
            "DKIM-Signature",
        ])
        .prop_map(str::to_string),
        "[A-Za-z][A-Za-z0-9-]{0,20}"
            .prop_filter("not an identity field", |n| !is_identity(n.as_bytes())),
    ]
}

fn identity_name() -> impl Strategy<Value = String> {
    prop::sample::select(IDENTITY_HEADERS.to_vec()).prop_map(|n| {
        // Real mail capitalises them; the hash must not care either way.
        let mut s = String::new();
        let mut up = true;
        for c in n.chars() {
            s.push(if up { c.to_ascii_uppercase() } else { c });
            up = c == '-';
        }
        s
    })
}

fn message() -> impl Strategy<Value = Msg> {
    (
        prop::collection::vec((identity_name(), value()), 1..8),
        prop::collection::vec((other_name(), value()), 0..6),
        prop::collection::vec(0usize..100, 0..6),
        "[ -~\n]{0,200}",
    )
        .prop_map(|(ids, others, at, body)| {
            let mut fields = ids;
            for ((n, v), pos) in others
                .into_iter()
                .zip(at.into_iter().chain(std::iter::repeat(0)))
            {
                let p = pos % (fields.len() + 1);
                fields.insert(p, (n, v));
            }
            Msg { fields, body }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn adding_a_field_outside_the_list_never_counts(
        m in message(), name in other_name(), v in value(), pos in 0usize..100
    ) {
        let mut n = m.clone();
        let p = pos % (n.fields.len() + 1);
        n.fields.insert(p, (name, v));
        prop_assert_eq!(m.hash(), n.hash());
    }

    #[test]
    fn removing_or_changing_a_field_outside_the_list_never_counts(
        m in message(), pick in 0usize..100, v in value(), remove in any::<bool>()
    ) {
        let others: Vec<usize> = (0..m.fields.len())
            .filter(|&i| !is_identity(m.fields[i].0.as_bytes()))
            .collect();
        prop_assume!(!others.is_empty());
        let i = others[pick % others.len()];
        let mut n = m.clone();
        if remove {
            n.fields.remove(i);
        } else {
            n.fields[i].1 = v;
        }
        prop_assert_eq!(m.hash(), n.hash());
    }

    #[test]
    fn changing_a_field_on_the_list_always_counts(
        m in message(), pick in 0usize..100, v in value()
    ) {
        let ids: Vec<usize> = (0..m.fields.len())
            .filter(|&i| is_identity(m.fields[i].0.as_bytes()))
            .collect();
        prop_assume!(!ids.is_empty());
        let i = ids[pick % ids.len()];
        prop_assume!(m.fields[i].1 != v);
        let mut n = m.clone();
        n.fields[i].1 = v;
        prop_assert_ne!(m.hash(), n.hash());
    }

    #[test]
    fn adding_or_removing_a_field_on_the_list_always_counts(
        m in message(), name in identity_name(), v in value(), pos in 0usize..100, pick in 0usize..100
    ) {
        let mut added = m.clone();
        let p = pos % (added.fields.len() + 1);
        added.fields.insert(p, (name, v));
        prop_assert_ne!(m.hash(), added.hash());
        let ids: Vec<usize> = (0..m.fields.len())
            .filter(|&i| is_identity(m.fields[i].0.as_bytes()))
            .collect();
        let i = ids[pick % ids.len()];
        let mut removed = m.clone();
        removed.fields.remove(i);
        prop_assert_ne!(m.hash(), removed.hash());
    }

    #[test]
    fn changing_the_body_always_counts(
        m in message(), pos in 0usize..1000, c in "[A-Za-z0-9]"
    ) {
        // Insert a letter or digit anywhere: never a change the body normalisation
        // (line endings, `>From` quoting, trailing line breaks) could undo.
        let mut n = m.clone();
        let p = pos % (n.body.len() + 1);
        n.body.insert_str(p, &c);
        prop_assert_ne!(m.hash(), n.hash());
    }
}
