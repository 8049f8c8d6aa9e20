//! How bytes and times are written in reports and manifests: lowercase hex, standard
//! base64, blake3 hex digests and RFC 3339 timestamps.

use base64::Engine as _;
use std::fmt::Write as _;
use std::io;

pub fn hex(d: &[u8]) -> String {
    d.iter()
        .fold(String::with_capacity(d.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub fn rfc3339(t: i64) -> Option<String> {
    jiff::Timestamp::from_second(t).ok().map(|t| t.to_string())
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn unb64(s: &str) -> io::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad base64 in manifest: {e}"),
            )
        })
}

pub fn b3hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}
