//! Maildir message file names: the unique part, the info (flags) and the leading timestamp.
//!
//! `1700000000.M123P45.host,S=1234:2,RS` — the unique name is everything before the info
//! separator (`:` as in the Maildir spec, `;` or `!` where a filesystem forbids colons),
//! the flags are the letters after `2,`, the delivery timestamp is the leading number.

/// The parts of a Maildir message file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirName<'a> {
    /// The unique name (stable across flag changes).
    pub unique: &'a str,
    /// The info separator that was used (`:`, `;` or `!`), if the name has info.
    pub separator: Option<char>,
    /// The flag letters after `2,` (empty when there is no info).
    pub flags: &'a str,
    /// Leading Unix timestamp of the unique name, if it has one.
    pub timestamp: Option<i64>,
}

/// Where the info of a Maildir file name starts: the last `:2,` (or `;2,` / `!2,`, where
/// a filesystem forbids colons). A backward byte scan: the info is at the end, and the
/// cache cuts every listed name with this (see [`unique`]).
pub fn info_start(name: &[u8]) -> Option<usize> {
    let mut i = name.len();
    while i >= 3 {
        i -= 1;
        if name[i] == b',' && name[i - 1] == b'2' && matches!(name[i - 2], b':' | b';' | b'!') {
            return Some(i - 2);
        }
    }
    None
}

/// The unique part of a Maildir file name: everything before its info.
pub fn unique(name: &[u8]) -> &[u8] {
    &name[..info_start(name).unwrap_or(name.len())]
}

impl<'a> MaildirName<'a> {
    pub fn parse(name: &'a str) -> MaildirName<'a> {
        // The separator is ASCII, so its position is a char boundary.
        let info_at = info_start(name.as_bytes());
        let (unique, separator, flags) = match info_at {
            Some(i) => (&name[..i], name[i..].chars().next(), &name[i + 3..]),
            None => (name, None, ""),
        };
        let digits = unique.split(['.', '_']).next().unwrap_or("");
        let timestamp =
            if (9..=11).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                digits.parse().ok()
            } else {
                None
            };
        MaildirName {
            unique,
            separator,
            flags,
            timestamp,
        }
    }

    /// The file name with `flags` as its info, keeping the original separator.
    pub fn with_flags(&self, flags: &str) -> String {
        let sep = self.separator.unwrap_or(':');
        format!("{}{}2,{}", self.unique, sep, flags)
    }
}

/// Files in a Maildir's root or `cur/`/`new/` that are not messages but index, cache or
/// bookkeeping files of Dovecot, Courier and others.
pub fn is_index_file(name: &str) -> bool {
    name.starts_with("dovecot")
        || name.starts_with("courier")
        || name.starts_with(".")
        || matches!(
            name,
            "maildirfolder"
                | "maildirsize"
                | "subscriptions"
                | "tmp"
                | "cur"
                | "new"
                | "cmeta"
                | "dovecot-uidlist"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names() {
        assert_eq!(unique(b"1700.M1P2.host:2,RS"), b"1700.M1P2.host");
        assert_eq!(unique(b"1700.M1P2.host;2,"), b"1700.M1P2.host");
        assert_eq!(unique(b"1700.M1P2.host"), b"1700.M1P2.host");
        // The last separator counts, as MaildirName::parse cuts it.
        let name = "1700.M1:2,x.host!2,S";
        assert_eq!(
            unique(name.as_bytes()),
            MaildirName::parse(name).unique.as_bytes()
        );
        assert_eq!(MaildirName::parse(name).flags, "S");
    }

    #[test]
    fn parses_standard_names() {
        let n = MaildirName::parse("1700000000.M123P45.host,S=1234:2,RS");
        assert_eq!(n.unique, "1700000000.M123P45.host,S=1234");
        assert_eq!(n.flags, "RS");
        assert_eq!(n.timestamp, Some(1700000000));
        assert_eq!(n.with_flags("FRS"), "1700000000.M123P45.host,S=1234:2,FRS");
    }

    #[test]
    fn parses_odd_names() {
        let n = MaildirName::parse("1276533073.M242911P3632.kurkku;2,FP");
        assert_eq!((n.flags, n.separator), ("FP", Some(';')));
        let n = MaildirName::parse("msg-1-1:2,");
        assert_eq!((n.unique, n.flags, n.timestamp), ("msg-1-1", "", None));
        let n = MaildirName::parse("1035478339.27041_118.foo.org");
        assert_eq!((n.separator, n.timestamp), (None, Some(1035478339)));
    }
}
