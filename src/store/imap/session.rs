//! One logged-in IMAP connection, TLS always (rustls; the system's web roots from
//! webpki-roots plus an optional PEM CA file), read-only: folders are opened with
//! `EXAMINE` and bodies fetched with `BODY.PEEK`, so nothing is marked `\Seen`.

use super::url::{ImapUrl, Tls};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Stream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A folder as LIST gave it.
#[derive(Debug, Clone)]
pub struct Folder {
    pub name: String,
}

/// One message's stage-1 facts.
#[derive(Debug)]
pub struct Head {
    pub uid: u32,
    pub flags: Vec<String>,
    pub internal_date: Option<i64>,
    pub size: u64,
    pub header: Vec<u8>,
}

/// A logged-in session, counting the commands it sends (round trips).
pub struct Session {
    inner: imap::Session<Stream>,
    pub commands: u64,
}

fn tls_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("--imap-ca {}: {e}", ca.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--imap-ca {}: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("--imap-ca {}: no certificate in it", ca.display()));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| format!("--imap-ca {}: {e}", ca.display()))?;
        }
    }
    // ring: pure Rust and C without cmake (aws-lc-rs would need cmake and a C toolchain
    // for its build); its only lack, post-quantum key exchange, is not needed here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Words for an error of the imap crate, naming TLS certificate problems plainly.
fn describe(e: &imap::Error) -> String {
    let s = e.to_string();
    if s.contains("certificate") || s.contains("UnknownIssuer") || s.contains("NotValidForName") {
        format!("TLS certificate not trusted: {s} (a private CA: --imap-ca FILE)")
    } else {
        s
    }
}

/// The plain-text part of `imap://`: the greeting, then STARTTLS, which must succeed
/// before anything else (and never a password) is sent.
fn starttls(tcp: &mut TcpStream, account: &str) -> Result<(), String> {
    let refuse = |why: String| {
        format!(
            "{account}: {why}; refusing to send a password over an unencrypted connection \
             (use imaps:// or a server that offers STARTTLS)"
        )
    };
    let mut r = BufReader::new(tcp.try_clone().map_err(|e| format!("{account}: {e}"))?);
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| format!("{account}: {e}"))?;
    if !line.starts_with("* OK") {
        return Err(refuse(format!("unexpected greeting {:?}", line.trim_end())));
    }
    tcp.write_all(b"s0 STARTTLS\r\n")
        .map_err(|e| format!("{account}: {e}"))?;
    loop {
        line.clear();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("{account}: {e}"))?;
        if n == 0 {
            return Err(refuse("connection closed after STARTTLS".into()));
        }
        if line.starts_with("s0 OK") {
            // Nothing may follow the tagged OK before the handshake (a buffered byte
            // here would be a plain-text injection).
            if !r.buffer().is_empty() {
                return Err(refuse("data after STARTTLS's OK".into()));
            }
            return Ok(());
        }
        if line.starts_with("s0 ") {
            return Err(refuse(format!(
                "the server refused STARTTLS ({})",
                line.trim_end()
            )));
        }
    }
}

impl Session {
    /// Connects, secures the connection and logs in. Errors are sentences for a person.
    pub fn open(url: &ImapUrl, password: &str, ca: Option<&Path>) -> Result<Session, String> {
        let account = url.account();
        let cfg = tls_config(ca)?;
        let mut tcp = TcpStream::connect((url.host.as_str(), url.port))
            .map_err(|e| format!("{account}: cannot connect: {e}"))?;
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(120)));
        let _ = tcp.set_write_timeout(Some(Duration::from_secs(120)));
        let mut commands = 0;
        if url.tls == Tls::StartTls {
            starttls(&mut tcp, &account)?;
            commands += 1;
        }
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| format!("{account}: bad host name: {e}"))?;
        let conn =
            rustls::ClientConnection::new(cfg, name).map_err(|e| format!("{account}: TLS: {e}"))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so a certificate problem is reported as one.
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("{account}: TLS handshake failed: {}", tls_words(&e)))?;
        }
        let mut client = imap::Client::new(tls);
        if url.tls == Tls::Implicit {
            client
                .read_greeting()
                .map_err(|e| format!("{account}: {}", describe(&e)))?;
        }
        let inner = client
            .login(&url.user, password)
            .map_err(|(e, _)| match e {
                imap::Error::No(_) | imap::Error::Bad(_) => {
                    format!("{account}: login refused by the server (wrong user or password?): {e}")
                }
                e => format!("{account}: login failed: {}", describe(&e)),
            })?;
        commands += 1;
        Ok(Session { inner, commands })
    }

    /// Every selectable folder (`LIST "" "*"`), sorted by name.
    pub fn folders(&mut self) -> Result<Vec<Folder>, String> {
        self.commands += 1;
        let names = self
            .inner
            .list(Some(""), Some("*"))
            .map_err(|e| format!("LIST: {}", describe(&e)))?;
        let mut out: Vec<Folder> = names
            .iter()
            .filter(|n| {
                !n.attributes().iter().any(|a| {
                    matches!(a, imap_proto::NameAttribute::NoSelect)
                        || matches!(a, imap_proto::NameAttribute::Extension(x) if x.eq_ignore_ascii_case("\\NonExistent"))
                })
            })
            .map(|n| Folder {
                name: n.name().to_string(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `EXAMINE` (read-only): the folder's UIDVALIDITY and message count.
    pub fn examine(&mut self, folder: &str) -> Result<(u32, u32), String> {
        self.commands += 1;
        let m = self
            .inner
            .examine(folder)
            .map_err(|e| format!("EXAMINE {folder}: {}", describe(&e)))?;
        Ok((m.uid_validity.unwrap_or(0), m.exists))
    }

    /// Stage 1 of the open folder, one command: UID, FLAGS, INTERNALDATE, size and the
    /// header block of every message.
    pub fn heads(&mut self) -> Result<Vec<Head>, String> {
        self.commands += 1;
        let fetches = self
            .inner
            .uid_fetch(
                "1:*",
                "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])",
            )
            .map_err(|e| format!("UID FETCH: {}", describe(&e)))?;
        let mut out = Vec::with_capacity(fetches.len());
        for f in fetches.iter() {
            let Some(uid) = f.uid else { continue };
            out.push(Head {
                uid,
                flags: f.flags().iter().map(|fl| fl.to_string()).collect(),
                internal_date: f.internal_date().map(|d| d.timestamp()),
                size: u64::from(f.size.unwrap_or(0)),
                header: f.header().unwrap_or_default().to_vec(),
            });
        }
        Ok(out)
    }

    /// Stage 2: the whole messages of `uids` in the open folder, one command.
    pub fn bodies(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, String> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        self.commands += 1;
        let set = uid_set(uids);
        let fetches = self
            .inner
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .map_err(|e| format!("UID FETCH BODY.PEEK[]: {}", describe(&e)))?;
        Ok(fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
            .collect())
    }

    pub fn logout(mut self) -> u64 {
        let _ = self.inner.logout();
        self.commands + 1
    }
}

fn tls_words(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.contains("certificate") {
        format!("{s} (the server's certificate is not trusted; a private CA: --imap-ca FILE)")
    } else {
        s
    }
}

/// A compact UID set: `1:5,9,12:13`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        while i + 1 < v.len() && v[i + 1] == v[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if v[i] == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{}", v[i]));
        }
        i += 1;
    }
    out
}
