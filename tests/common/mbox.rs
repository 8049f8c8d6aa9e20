//! Byte helpers for mbox text, written independently of the crate.
#![allow(dead_code)]

/// Undoes one level of mboxrd `>From ` quoting, as `quarantine` does for an extracted
/// message (written here independently of the crate).
pub fn unquote(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len());
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let gt = line.iter().take_while(|&&b| b == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The bytes with every `Status:` and `X-Status:` line removed: what a flag merge into a
/// kept mbox copy may change.
pub fn without_status(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|&b| b == b'\n') {
        let l = line.to_ascii_lowercase();
        if l.starts_with(b"status:") || l.starts_with(b"x-status:") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

pub fn find(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Does this file start like an mbox?
pub fn is_mbox_bytes(data: &[u8]) -> bool {
    let d = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let d = &d[d.iter().take_while(|&&b| b == b'\n' || b == b'\r').count()..];
    d.starts_with(b"From ")
}
