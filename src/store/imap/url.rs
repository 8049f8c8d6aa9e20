//! An IMAP account named as a PATH: `imaps://user@host[:port]/[FOLDER]` (TLS from the
//! first byte, port 993) or `imap://user@host[:port]/[FOLDER]` (STARTTLS, always; port
//! 143). A password in the URL is refused: credentials never go on the command line.

use std::fmt;

/// How the connection is encrypted. There is no clear-text mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// `imaps://`: TLS from the start.
    Implicit,
    /// `imap://`: plain TCP, then `STARTTLS` before anything else; a server that does not
    /// offer it is refused.
    StartTls,
}

/// A parsed account URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub tls: Tls,
    pub user: String,
    pub host: String,
    pub port: u16,
    /// One folder, or every folder (`None`).
    pub folder: Option<String>,
}

/// Does `s` name an IMAP account rather than a local path?
pub fn is_imap_url(s: &str) -> bool {
    s.starts_with("imaps://") || s.starts_with("imap://")
}

fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("not UTF-8 after unescaping: {s:?}"))
}

impl ImapUrl {
    pub fn parse(s: &str) -> Result<ImapUrl, String> {
        let (tls, rest, default_port) = if let Some(r) = s.strip_prefix("imaps://") {
            (Tls::Implicit, r, 993)
        } else if let Some(r) = s.strip_prefix("imap://") {
            (Tls::StartTls, r, 143)
        } else {
            return Err(format!("{s}: not an imap:// or imaps:// URL"));
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        match query {
            None | Some("") | Some("starttls") if tls == Tls::StartTls => {}
            None | Some("") => {}
            Some(q) => {
                return Err(format!(
                    "{s}: unknown option ?{q} (imap:// always uses STARTTLS, imaps:// TLS)"
                ))
            }
        }
        let (authority, folder) = match rest.split_once('/') {
            Some((a, f)) => (a, f),
            None => (rest, ""),
        };
        let Some((userinfo, hostport)) = authority.rsplit_once('@') else {
            return Err(format!("{s}: no user name (imaps://USER@HOST/)"));
        };
        if userinfo.contains(':') {
            return Err(format!(
                "{}: a password in the URL is refused; use MAILDEDUP_IMAP_PASSWORD, \
                 --imap-pass-cmd or ~/.netrc",
                s.replace(userinfo, "USER:***")
            ));
        }
        let user = unescape(userinfo)?;
        if user.is_empty() {
            return Err(format!("{s}: no user name (imaps://USER@HOST/)"));
        }
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let Some((h, p)) = h.split_once(']') else {
                return Err(format!("{s}: bad host"));
            };
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{s}: no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => p.parse().map_err(|_| format!("{s}: bad port {p:?}"))?,
        };
        let folder = folder.trim_end_matches('/');
        let folder = if folder.is_empty() {
            None
        } else {
            Some(unescape(folder)?)
        };
        Ok(ImapUrl {
            tls,
            user,
            host,
            port,
            folder,
        })
    }

    /// The account's URL without folder: `imaps://user@host:port`.
    pub fn account(&self) -> String {
        let scheme = match self.tls {
            Tls::Implicit => "imaps",
            Tls::StartTls => "imap",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{}@{host}:{}", self.user, self.port)
    }

    /// The store path of one folder: `imaps://user@host:port/FOLDER`.
    pub fn folder_path(&self, folder: &str) -> String {
        format!("{}/{folder}", self.account())
    }
}

impl fmt::Display for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.account(),
            self.folder.as_deref().unwrap_or("")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_accounts_and_folders() {
        let u = ImapUrl::parse("imaps://me%40example.org@mail.example.org/INBOX").unwrap();
        assert_eq!(u.user, "me@example.org");
        assert_eq!(u.port, 993);
        assert_eq!(u.folder.as_deref(), Some("INBOX"));
        let u = ImapUrl::parse("imap://me@127.0.0.1:1143/").unwrap();
        assert_eq!(
            (u.tls, u.port, u.folder.clone()),
            (Tls::StartTls, 1143, None)
        );
        assert_eq!(u.account(), "imap://me@127.0.0.1:1143");
        assert!(ImapUrl::parse("imaps://me:secret@host/")
            .unwrap_err()
            .contains("USER:***"));
        assert!(ImapUrl::parse("imaps://host/").is_err());
        assert!(ImapUrl::parse("imaps://me@host/?plain").is_err());
    }
}
