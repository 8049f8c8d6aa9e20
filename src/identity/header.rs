//! The raw structure of one RFC 5322 message: its header fields and where its body starts.
//!
//! Written by hand rather than with mail-parser's `parse_headers` because every later step
//! needs byte offsets into the original bytes, tolerance for LF, CRLF and CR-only line
//! endings in the same store, and no allocation per field. mail-parser is still used for
//! what it does best: parsing dates (see [`crate::identity`]).

use memchr::memchr2;

/// Returns `(content_end, next_line_start)` for the line starting at `pos`.
/// A line ends at `\r\n`, `\n` or a lone `\r`; the last line may have no terminator.
pub fn line_at(buf: &[u8], pos: usize) -> (usize, usize) {
    match memchr2(b'\n', b'\r', &buf[pos..]) {
        None => (buf.len(), buf.len()),
        Some(i) => {
            let end = pos + i;
            if buf[end] == b'\r' && buf.get(end + 1) == Some(&b'\n') {
                (end, end + 2)
            } else {
                (end, end + 1)
            }
        }
    }
}

/// Where the header block of a message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderBlock {
    /// Offset of the first body byte (after the blank line), or the buffer length.
    pub body_start: usize,
    /// Whether the blank line that ends the header block was seen. When it was not,
    /// the buffer may hold only part of the headers (or the message has no body).
    pub complete: bool,
}

/// Is `name` a valid header field name (RFC 5322 ftext: printable ASCII except `:`)?
fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')
}

/// Does the line at `pos` look like the start of a header field (`Name: value`)?
pub fn is_header_line(buf: &[u8], pos: usize) -> bool {
    let (end, _) = line_at(buf, pos);
    let line = &buf[pos..end];
    match memchr::memchr(b':', line) {
        Some(colon) => {
            let name = trim_end_wsp(&line[..colon]);
            is_field_name(name)
        }
        None => false,
    }
}

/// Does `buf` begin as a message does: with a header field (`Name: value`, a printable
/// ASCII name), or with an mbox-style `From ` line followed by one? A README or random
/// bytes do not.
pub fn begins_like_mail(buf: &[u8]) -> bool {
    if buf.starts_with(b"From ") {
        let (_, next) = line_at(buf, 0);
        return next < buf.len() && is_header_line(buf, next);
    }
    !buf.is_empty() && is_header_line(buf, 0)
}

fn trim_end_wsp(s: &[u8]) -> &[u8] {
    let mut e = s.len();
    while e > 0 && (s[e - 1] == b' ' || s[e - 1] == b'\t') {
        e -= 1;
    }
    &s[..e]
}

/// Calls `field(name, value)` for every header field in `buf`, in order, and says where
/// the body starts. `value` is the raw value after the colon, continuation lines and their
/// line breaks included. A line in the header block that is not a field (a stray `From `
/// line, garbage) is passed with an empty name and the whole raw line as its value, so
/// nothing the message holds escapes the content hash.
pub fn scan_fields<'a>(buf: &'a [u8], mut field: impl FnMut(&'a [u8], &'a [u8])) -> HeaderBlock {
    let mut pos = 0;
    // (start, end) of the field being collected.
    let mut current: Option<(usize, usize)> = None;
    let mut emit = |start: usize, end: usize| {
        let raw = &buf[start..end];
        let (first_end, _) = line_at(raw, 0);
        if let Some(colon) = memchr::memchr(b':', &raw[..first_end]) {
            let name = trim_end_wsp(&raw[..colon]);
            if is_field_name(name) {
                field(name, &raw[colon + 1..]);
                return;
            }
        }
        field(b"", raw);
    };
    while pos < buf.len() {
        let (end, next) = line_at(buf, pos);
        if end == pos {
            if let Some((s, e)) = current.take() {
                emit(s, e);
            }
            return HeaderBlock {
                body_start: next,
                complete: true,
            };
        }
        let first = buf[pos];
        match current.as_mut() {
            Some((_, cur_end)) if first == b' ' || first == b'\t' => *cur_end = end,
            _ => {
                if let Some((s, e)) = current.take() {
                    emit(s, e);
                }
                current = Some((pos, end));
            }
        }
        pos = next;
    }
    if let Some((s, e)) = current.take() {
        emit(s, e);
    }
    HeaderBlock {
        body_start: buf.len(),
        complete: false,
    }
}

/// Writes `value` with folding undone and every run of whitespace (including line breaks)
/// collapsed to one space, trimmed at both ends.
pub fn normalise_value(value: &[u8], out: &mut Vec<u8>) {
    // Fast path: a single-line value with single spaces only needs trimming.
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let first = value.iter().position(|b| !ws(b)).unwrap_or(value.len());
    let last = value.iter().rposition(|b| !ws(b)).map_or(first, |i| i + 1);
    let trimmed = &value[first..last];
    if !trimmed.iter().any(|&b| matches!(b, b'\t' | b'\r' | b'\n'))
        && memchr::memmem::find(trimmed, b"  ").is_none()
    {
        out.extend_from_slice(trimmed);
        return;
    }
    let mut pending_space = false;
    let start = out.len();
    for &b in value {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            pending_space = out.len() > start;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
        }
    }
}

/// Case-insensitive ASCII comparison of a header name.
pub fn name_is(name: &[u8], want: &str) -> bool {
    name.eq_ignore_ascii_case(want.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> (Vec<(String, String)>, HeaderBlock) {
        let mut v = Vec::new();
        let hb = scan_fields(buf, |n, val| {
            v.push((
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(val).into_owned(),
            ))
        });
        (v, hb)
    }

    #[test]
    fn lf_crlf_and_cr_only_give_the_same_fields() {
        for sep in ["\n", "\r\n", "\r"] {
            let msg = format!("A: 1{sep}B: x{sep} y{sep}{sep}body{sep}");
            let (f, hb) = fields(msg.as_bytes());
            assert_eq!(f.len(), 2);
            assert_eq!(f[0].0, "A");
            assert_eq!(f[1].0, "B");
            let mut norm = Vec::new();
            normalise_value(f[1].1.as_bytes(), &mut norm);
            assert_eq!(norm, b"x y");
            let mut fast = Vec::new();
            normalise_value(b" \x0cx y\x0c ", &mut fast);
            assert_eq!(fast, b"\x0cx y\x0c");
            assert!(hb.complete);
            assert_eq!(
                &msg.as_bytes()[hb.body_start..],
                format!("body{sep}").as_bytes()
            );
        }
    }

    #[test]
    fn non_field_lines_are_kept_as_raw_lines() {
        let (f, hb) = fields(b"From x y\nSubject: s\n");
        assert_eq!(f[0], (String::new(), "From x y".to_string()));
        assert_eq!(f[1].0, "Subject");
        assert!(!hb.complete);
    }

    #[test]
    fn header_line_detection() {
        assert!(is_header_line(b"Subject: x\n", 0));
        assert!(is_header_line(b"X-Foo :x", 0));
        assert!(!is_header_line(b"From the desk: x", 0));
        assert!(!is_header_line(b"no colon here\n", 0));
    }

    #[test]
    fn mail_begins_with_a_header_field() {
        assert!(begins_like_mail(b"Return-Path: <a@b>\nSubject: x\n\nbody"));
        assert!(begins_like_mail(
            b"From a@b Thu Jan  1 00:00:00 2015\nSubject: x\n"
        ));
        assert!(!begins_like_mail(
            b"From a@b Thu Jan  1 00:00:00 2015\n\nbody"
        ));
        assert!(!begins_like_mail(
            b"This folder holds my mail.\nSee: below\n"
        ));
        assert!(!begins_like_mail(b"\xff\xfe\x00garbage: x\n"));
        assert!(!begins_like_mail(b" Subject: folded first\n"));
        assert!(!begins_like_mail(b""));
    }
}
