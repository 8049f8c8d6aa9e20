//! Splitting an mbox file into its messages, over a memory-mapped buffer.
//!
//! Written by hand (see docs/discovery.md, "Why not the `mailbox` crate"): the splitter must return
//! exact byte ranges of the original file so a message can be moved out and put back
//! byte-for-byte, accept the From_ line variants real software writes (asctime, Takeout's
//! `From 1729...@xxx Sat Jan 03 01:05:34 +0000 2022`, Netscape's `From - ...`), and split a
//! multi-GB file on all cores.
//!
//! The rule, after meli's and mutt's readers:
//! - optional UTF-8 BOM and blank lines before the first From_ line;
//! - a message starts at a line beginning `From ` that starts the file (after that preamble)
//!   or follows a blank line, and that is followed by a header line (`Name: value`);
//! - a `Content-Length:` header (mboxcl/mboxcl2) is obeyed only where the length lands
//!   exactly on such a separator or on the end of the file; otherwise it is ignored;
//! - the blank line before the next From_ line is the separator, not part of the message.

use crate::identity::header::{is_header_line, line_at, scan_fields};
use rayon::prelude::*;

/// One message of an mbox, as byte offsets into the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MboxEntry {
    /// Offset of the From_ line.
    pub offset: usize,
    /// Offset of the first byte of the message (after the From_ line's line break).
    pub message_start: usize,
    /// End of the message bytes (the separator blank line excluded).
    pub message_end: usize,
    /// End of the entry: the next From_ line, or the end of the file.
    pub end: usize,
}

impl MboxEntry {
    pub fn from_line<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        let (end, _) = line_at(buf, self.offset);
        &buf[self.offset..end]
    }
    pub fn message<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.message_start..self.message_end]
    }
    /// Length of the whole entry: From_ line, message and separator.
    pub fn len(&self) -> usize {
        self.end - self.offset
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.offset
    }
}

/// Length of the preamble allowed before the first From_ line: a UTF-8 BOM and blank lines.
pub fn preamble_len(buf: &[u8]) -> usize {
    let mut pos = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    while pos < buf.len() {
        let (end, next) = line_at(buf, pos);
        if next == pos || !buf[pos..end].iter().all(|&b| b == b' ' || b == b'\t') {
            break;
        }
        pos = next;
    }
    pos
}

/// Does this buffer look like an mbox (a From_ line after the preamble)?
pub fn looks_like_mbox(buf: &[u8]) -> bool {
    let p = preamble_len(buf);
    buf[p..].starts_with(b"From ") && {
        let (_, next) = line_at(buf, p);
        next < buf.len() && is_header_line(buf, next)
    }
}

/// Is `pos` (the start of a line beginning `From `) preceded by a blank line?
fn after_blank_line(buf: &[u8], pos: usize) -> bool {
    let before = &buf[..pos];
    before.ends_with(b"\n\n") || before.ends_with(b"\n\r\n") || before.ends_with(b"\r\r")
}

/// Is `pos` a valid separator: `From ` at the start of a line, followed by a header line,
/// and either at `first`, after a blank line, or (for writers that leave no blank line,
/// such as old Netscape) a complete envelope line: `From - ...` or one with a date.
fn is_separator(buf: &[u8], pos: usize, first: usize) -> bool {
    if !buf[pos..].starts_with(b"From ") {
        return false;
    }
    let (end, next) = line_at(buf, pos);
    if next >= buf.len() || !is_header_line(buf, next) {
        return false;
    }
    pos == first
        || after_blank_line(buf, pos)
        || buf[pos..end].starts_with(b"From - ")
        || from_line_time(&buf[pos..end]).is_some()
}

/// Candidate separators in `buf[lo..hi)` (positions of `From ` lines that qualify).
/// The search reaches past `hi` by the length of `From ` so that a From_ line starting
/// before `hi` but crossing it (a chunk boundary) is still found, by this chunk only.
fn candidates_in(buf: &[u8], lo: usize, hi: usize, first: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let start = lo.saturating_sub(1);
    let stop = hi.saturating_add(b"From ".len()).min(buf.len());
    for i in memchr::memmem::find_iter(&buf[start..stop], b"\nFrom ") {
        let pos = start + i + 1;
        if pos >= lo && pos < hi && is_separator(buf, pos, first) {
            out.push(pos);
        }
    }
    out
}

/// Below this size one thread finds the separators; above it the file is cut into
/// chunks of `CHUNK` bytes searched on every core.
const PARALLEL_THRESHOLD: usize = 8 << 20;
const CHUNK: usize = 16 << 20;

/// What the split needs to know of one candidate separator, found while its chunk of the
/// file is being read, so the file need not be read again to assemble the entries.
#[derive(Clone, Copy)]
struct Candidate {
    offset: usize,
    /// Start of the message after the From_ line.
    message_start: usize,
    /// Where the entry's `Content-Length:` says its body ends, if it has one.
    cl_target: Option<usize>,
    /// Separator bytes (the blank line) just before this From_ line.
    sep_before: usize,
    /// How far into the file this candidate's own facts reach: its `Content-Length:`
    /// target, or `usize::MAX` when its header block runs to the end of the buffer (more
    /// bytes appended could then change it). See [`Split::horizon`].
    reach: usize,
}

fn candidate(buf: &[u8], offset: usize, first: usize) -> Candidate {
    let (cl_target, complete) = content_length_end(buf, offset, first);
    candidate_from(buf, offset, cl_target, complete)
}

fn candidate_from(
    buf: &[u8],
    offset: usize,
    cl_target: Option<usize>,
    complete: bool,
) -> Candidate {
    let message_start = line_at(buf, offset).1;
    Candidate {
        offset,
        message_start,
        cl_target,
        sep_before: offset - message_end(buf, offset.saturating_sub(4), offset),
        reach: if complete {
            cl_target.unwrap_or(message_start)
        } else {
            usize::MAX
        },
    }
}

/// The entries of an mbox (or of its tail) and what an incremental re-split needs.
#[derive(Debug, Clone)]
pub struct Split {
    pub entries: Vec<MboxEntry>,
    /// The furthest byte any candidate separator before the last entry looks at (its
    /// `Content-Length:` target; `usize::MAX` for a header block that reaches the end of
    /// the buffer). When a file grows by appends and this is not past the old last
    /// entry's offset, the entries before the old last entry are unchanged, and
    /// re-splitting from its From_ line gives exactly what splitting the whole file gives.
    /// (A target past it could land on a From_ line that only the appended bytes make a
    /// separator.)
    pub horizon: usize,
}

/// Splits an mbox into its messages. Returns `None` if the buffer is not an mbox.
pub fn split(buf: &[u8]) -> Option<Vec<MboxEntry>> {
    split_releasing(buf, &|_, _| {})
}

/// Like [`split`], calling `release(offset, len)` on each part of the file it is done
/// reading, so the caller can drop those pages of a memory map (the split of a
/// multi-GB mbox then never holds the whole file in memory).
pub fn split_releasing(
    buf: &[u8],
    release: &(dyn Fn(usize, usize) + Sync),
) -> Option<Vec<MboxEntry>> {
    split_from(buf, None, release).map(|s| s.entries)
}

/// [`split_releasing`] with the parallel threshold and chunk size as parameters, so the
/// fuzz targets and tests can drive the chunked path with small inputs. The result must
/// not depend on either.
#[doc(hidden)]
pub fn split_chunked(
    buf: &[u8],
    release: &(dyn Fn(usize, usize) + Sync),
    parallel_threshold: usize,
    chunk: usize,
) -> Option<Vec<MboxEntry>> {
    split_from_chunked(buf, None, release, parallel_threshold, chunk).map(|s| s.entries)
}

/// Splits `buf` from `from` on: the whole file with `None`, or with `Some(offset)` only
/// the entries from the separator at `offset` (which must be one: `None` is returned
/// otherwise). Used on an mbox that grew: its entries before its old last entry are
/// kept, and only the old last entry and what follows are split again (valid when the
/// old [`Split::horizon`] is within the old size and the prefix is unchanged).
pub fn split_from(
    buf: &[u8],
    from: Option<usize>,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Option<Split> {
    split_from_chunked(buf, from, release, PARALLEL_THRESHOLD, CHUNK)
}

/// [`split_from`] with the parallel threshold and chunk size as parameters.
fn split_from_chunked(
    buf: &[u8],
    from: Option<usize>,
    release: &(dyn Fn(usize, usize) + Sync),
    parallel_threshold: usize,
    chunk: usize,
) -> Option<Split> {
    let chunk = chunk.max(1);
    if !looks_like_mbox(buf) {
        return None;
    }
    let first = preamble_len(buf);
    let start = match from {
        None => first,
        Some(o) if o >= first && o < buf.len() && is_separator(buf, o, first) => o,
        Some(_) => return None,
    };
    let scan_chunk = |lo: usize, hi: usize| -> Vec<Candidate> {
        // A chunk wholly inside the preamble (blank lines longer than a chunk) has none.
        if lo >= hi {
            return Vec::new();
        }
        let found = candidates_in(buf, lo, hi, first);
        let out = found
            .into_iter()
            .map(|c| candidate(buf, c, first))
            .collect();
        release(lo, hi - lo);
        out
    };
    let mut cands = vec![candidate(buf, start, first)];
    if buf.len() - start < parallel_threshold {
        cands.extend(scan_chunk(start + 1, buf.len()));
    } else {
        let chunks = buf.len().div_ceil(chunk);
        let lo = (start + 1) / chunk;
        let parts: Vec<Vec<Candidate>> = (lo..chunks)
            .into_par_iter()
            .map(|i| scan_chunk((start + 1).max(i * chunk), ((i + 1) * chunk).min(buf.len())))
            .collect();
        cands.extend(parts.into_iter().flatten());
    }
    let offsets: Vec<usize> = cands.iter().map(|c| c.offset).collect();
    let eof_sep = buf.len() - message_end(buf, buf.len().saturating_sub(4), buf.len());
    let mut entries = Vec::with_capacity(cands.len());
    let mut i = 0;
    while i < cands.len() {
        let c = cands[i];
        let mut next_i = i + 1;
        if let Some(target) = c.cl_target {
            // Obey Content-Length only where it lands on a separator or the end of file.
            if let Some(j) = landing(buf, &offsets, i, target) {
                next_i = j;
            }
        }
        let (end, sep) = match cands.get(next_i) {
            Some(n) => (n.offset, n.sep_before),
            None => (buf.len(), eof_sep),
        };
        entries.push(MboxEntry {
            offset: c.offset,
            message_start: c.message_start,
            message_end: (end - sep).max(c.message_start),
            end,
        });
        i = next_i;
    }
    let last = entries.last().map_or(0, |e| e.offset);
    let horizon = cands
        .iter()
        .filter(|c| c.offset < last)
        .map(|c| c.reach)
        .max()
        .unwrap_or(0);
    Some(Split { entries, horizon })
}

/// Random access to the bytes of a file by copying reads (`pread`), never a memory map:
/// a file that another program truncates while it is read gives an error here, not a
/// SIGBUS. [`split_source`] splits an mbox through it, window by window.
pub trait Source: Sync {
    /// The file's length when it was opened.
    fn file_len(&self) -> usize;
    /// Replaces `buf` with the bytes at `off..off + len`, clamped to [`Source::file_len`].
    /// Fewer bytes than that (the file shrank) is an error.
    fn read_into(&self, off: usize, len: usize, buf: &mut Vec<u8>) -> std::io::Result<()>;
}

/// A [`Source`] over bytes already in memory (tests, fuzzing).
pub struct Bytes<'a>(pub &'a [u8]);

impl Source for Bytes<'_> {
    fn file_len(&self) -> usize {
        self.0.len()
    }
    fn read_into(&self, off: usize, len: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let lo = off.min(self.0.len());
        let hi = off.saturating_add(len).min(self.0.len());
        buf.clear();
        buf.extend_from_slice(&self.0[lo..hi]);
        Ok(())
    }
}

/// Bytes read past a chunk's end so that the separators near it can be judged without
/// another read (a From_ line, the line after it and the header block).
const MARGIN: usize = 64 << 10;

/// Reads `src` from `start`, more and more, until `f(bytes, at_eof)` can answer; `f` must
/// answer when `at_eof`.
fn grow<T>(
    src: &dyn Source,
    start: usize,
    first_len: usize,
    buf: &mut Vec<u8>,
    mut f: impl FnMut(&[u8], bool) -> Option<T>,
) -> std::io::Result<T> {
    let mut len = first_len.max(1);
    loop {
        src.read_into(start, len, buf)?;
        let eof = start.saturating_add(buf.len()) >= src.file_len();
        if let Some(t) = f(buf, eof) {
            return Ok(t);
        }
        if eof {
            return Err(std::io::Error::other(
                "mbox split: no answer at the end of the file",
            ));
        }
        len = len.saturating_mul(2);
    }
}

/// Judges the possible separator at file offset `pos` from `buf`, the bytes of the file
/// from offset `base` (at least 4 bytes before `pos` where the file has them; `eof`: `buf`
/// runs to the end of the file). `Some(None)`: not a separator; `None`: `buf` ends too
/// soon to tell. The answer is the one [`is_separator`] and [`candidate`] give on the
/// whole file.
fn judge(
    buf: &[u8],
    base: usize,
    eof: bool,
    pos: usize,
    first: usize,
) -> Option<Option<Candidate>> {
    let rel = pos.checked_sub(base)?;
    if rel >= buf.len() {
        return if eof { Some(None) } else { None };
    }
    let first_rel = first.checked_sub(base).unwrap_or(usize::MAX);
    if !eof {
        // is_separator reads the From_ line and the whole line after it.
        let (_, next) = line_at(buf, rel);
        if next >= buf.len() || line_at(buf, next).0 >= buf.len() {
            return None;
        }
    }
    if !is_separator(buf, rel, first_rel) {
        return Some(None);
    }
    let (cl_target, complete, blank) = content_length_scan(buf, rel, first_rel);
    // A header block cut by the end of `buf` (or at a lone CR that may be half a CRLF)
    // may read differently on the whole file.
    if !eof && (!complete || blank.is_some_and(|b| b + 1 >= buf.len())) {
        return None;
    }
    let c = candidate_from(buf, rel, cl_target, complete);
    Some(Some(Candidate {
        offset: c.offset + base,
        message_start: c.message_start + base,
        cl_target: c.cl_target.map(|t| t + base),
        sep_before: c.sep_before,
        reach: if c.reach == usize::MAX {
            usize::MAX
        } else {
            c.reach + base
        },
    }))
}

/// [`judge`] at `pos`, reading as much of the file as it takes.
fn judge_reading(
    src: &dyn Source,
    pos: usize,
    first: usize,
    margin: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Candidate>> {
    let base = pos.saturating_sub(4);
    grow(src, base, margin, buf, |b, eof| {
        judge(b, base, eof, pos, first)
    })
}

/// Length of the preamble of the mbox in `src` (see [`preamble_len`]), and whether it
/// looks like an mbox (see [`looks_like_mbox`]).
pub fn source_head(src: &dyn Source) -> std::io::Result<(usize, bool)> {
    let mut buf = Vec::new();
    source_head_reading(src, 4096, &mut buf)
}

fn source_head_reading(
    src: &dyn Source,
    first_len: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    grow(src, 0, first_len, buf, |b, eof| {
        let p = preamble_len(b);
        if eof {
            return Some((p, looks_like_mbox(b)));
        }
        // The preamble, the From_ line and the line after it must be whole.
        if p >= b.len() {
            return None;
        }
        let (_, next) = line_at(b, p);
        if next >= b.len() || line_at(b, next).0 >= b.len() {
            return None;
        }
        Some((p, looks_like_mbox(b)))
    })
}

/// [`split_from`] over a [`Source`], reading it window by window (chunks of 16 MiB split
/// on every core above 8 MiB), never holding the whole file. Gives exactly
/// what [`split_from`] gives on the file's bytes (`tests/mbox_split_prop.rs`), or the
/// first read error.
pub fn split_source(src: &dyn Source, from: Option<usize>) -> std::io::Result<Option<Split>> {
    split_source_chunked(src, from, PARALLEL_THRESHOLD, CHUNK, MARGIN)
}

/// [`split_source`] with the parallel threshold, the chunk size and the bytes read past
/// a chunk (or a separator) at first as parameters, so tests can drive every re-read with
/// small inputs. The result must not depend on them.
#[doc(hidden)]
pub fn split_source_chunked(
    src: &dyn Source,
    from: Option<usize>,
    parallel_threshold: usize,
    chunk: usize,
    margin: usize,
) -> std::io::Result<Option<Split>> {
    let chunk = chunk.max(1);
    let margin = margin.max(1);
    let n = src.file_len();
    let mut buf = Vec::new();
    let (first, is_mbox) = source_head_reading(src, margin, &mut buf)?;
    if !is_mbox {
        return Ok(None);
    }
    let start = match from {
        None => first,
        Some(o) if o >= first && o < n => o,
        Some(_) => return Ok(None),
    };
    let Some(head) = judge_reading(src, start, first, margin, &mut buf)? else {
        return Ok(None);
    };
    // Each thread reuses its buffers: a fresh 16 MiB buffer per chunk costs a page
    // fault per 4 KiB.
    let scan_chunk = |buf: &mut Vec<u8>,
                      more: &mut Vec<u8>,
                      lo: usize,
                      hi: usize|
     -> std::io::Result<Vec<Candidate>> {
        let mut out = Vec::new();
        if lo >= hi {
            return Ok(out);
        }
        let base = lo.saturating_sub(4);
        // At least up to `hi` + the length of `From `, where the search below stops.
        src.read_into(base, hi - base + margin.max(b"From ".len()), buf)?;
        let eof = base + buf.len() >= n;
        // As candidates_in: from the byte before `lo`, past `hi` by the length of `From `.
        let s = lo.saturating_sub(1) - base;
        let stop = (hi + b"From ".len() - base).min(buf.len());
        for i in memchr::memmem::find_iter(&buf[s.min(stop)..stop], b"\nFrom ") {
            let pos = base + s + i + 1;
            if pos < lo || pos >= hi {
                continue;
            }
            let c = match judge(buf, base, eof, pos, first) {
                Some(c) => c,
                None => judge_reading(src, pos, first, margin, more)?,
            };
            out.extend(c);
        }
        Ok(out)
    };
    let mut cands = vec![head];
    if n - start < parallel_threshold {
        cands.extend(scan_chunk(&mut buf, &mut Vec::new(), start + 1, n)?);
    } else {
        let chunks = n.div_ceil(chunk);
        let lo = (start + 1) / chunk;
        let parts: std::io::Result<Vec<Vec<Candidate>>> = (lo..chunks)
            .into_par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(buf, more), i| {
                    scan_chunk(
                        buf,
                        more,
                        (start + 1).max(i * chunk),
                        ((i + 1) * chunk).min(n),
                    )
                },
            )
            .collect();
        cands.extend(parts?.into_iter().flatten());
    }
    let offsets: Vec<usize> = cands.iter().map(|c| c.offset).collect();
    src.read_into(n.saturating_sub(4), 4, &mut buf)?;
    let eof_sep = buf.len() - message_end(&buf, 0, buf.len());
    let mut entries = Vec::with_capacity(cands.len());
    let mut i = 0;
    while i < cands.len() {
        let c = cands[i];
        let mut next_i = i + 1;
        if let Some(target) = c.cl_target {
            if let Some(j) = landing_source(src, &offsets, i, target, margin, &mut buf)? {
                next_i = j;
            }
        }
        let (end, sep) = match cands.get(next_i) {
            Some(nx) => (nx.offset, nx.sep_before),
            None => (n, eof_sep),
        };
        entries.push(MboxEntry {
            offset: c.offset,
            message_start: c.message_start,
            message_end: (end - sep).max(c.message_start),
            end,
        });
        i = next_i;
    }
    let last = entries.last().map_or(0, |e| e.offset);
    let horizon = cands
        .iter()
        .filter(|c| c.offset < last)
        .map(|c| c.reach)
        .max()
        .unwrap_or(0);
    Ok(Some(Split { entries, horizon }))
}

/// [`landing`] over a [`Source`].
fn landing_source(
    src: &dyn Source,
    cands: &[usize],
    i: usize,
    target: usize,
    margin: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<usize>> {
    let n = src.file_len();
    if target > n {
        return Ok(None);
    }
    src.read_into(target, 2, buf)?;
    let skip = if buf.starts_with(b"\r\n") {
        2
    } else if buf.starts_with(b"\n") {
        1
    } else {
        0
    };
    let at = target + skip;
    if at == n {
        return Ok(Some(cands.len()));
    }
    // Only line breaks from `target` to the end of the file?
    let mut pos = target;
    let all_breaks = loop {
        if pos >= n {
            break true;
        }
        src.read_into(pos, margin, buf)?;
        if buf.is_empty() {
            break true;
        }
        if !buf.iter().all(|&b| b == b'\n' || b == b'\r') {
            break false;
        }
        pos += buf.len();
    };
    if all_breaks {
        return Ok(Some(cands.len()));
    }
    Ok(match cands[i + 1..].binary_search(&at) {
        Ok(k) => Some(i + 1 + k),
        Err(_) => None,
    })
}

/// The end of the body according to the entry's `Content-Length:` header, if it has one,
/// and whether that answer is final: `false` when the header block runs to the end of
/// `buf` (bytes appended later could still change it; see [`Split::horizon`]).
///
/// The header block is the lines up to the first blank line. One that runs into the next
/// separator first has no body of its own to measure, and the search stops there: going
/// on to a blank line that may lie megabytes and thousands of entries further made the
/// split quadratic (an mbox of 32,000 entries without blank lines took 42 s).
fn content_length_end(buf: &[u8], offset: usize, first: usize) -> (Option<usize>, bool) {
    let (target, complete, _) = content_length_scan(buf, offset, first);
    (target, complete)
}

/// [`content_length_end`], and where the blank line that ends the header block is, if
/// the scan stopped at one.
fn content_length_scan(
    buf: &[u8],
    offset: usize,
    first: usize,
) -> (Option<usize>, bool, Option<usize>) {
    let (_, message_start) = line_at(buf, offset);
    let mut pos = message_start;
    let (header_end, blank) = loop {
        if pos >= buf.len() {
            return (None, false, None);
        }
        let (end, next) = line_at(buf, pos);
        if end == pos {
            break (next, pos);
        }
        if buf[pos - 1] == b'\n'
            && buf[pos..end].starts_with(b"From ")
            && is_separator(buf, pos, first)
        {
            return (None, true, None);
        }
        pos = next;
    };
    let mut cl = None;
    let hb = scan_fields(&buf[message_start..header_end], |name, value| {
        if cl.is_none() && name.eq_ignore_ascii_case(b"content-length") {
            cl = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok());
        }
    });
    let target =
        cl.and_then(|len: usize| message_start.checked_add(hb.body_start)?.checked_add(len));
    (target, true, Some(blank))
}

/// If `target` (a Content-Length end) lands on candidate `j > i` (allowing the separator
/// blank line between), or on the end of the file, returns the index of the next entry.
fn landing(buf: &[u8], cands: &[usize], i: usize, target: usize) -> Option<usize> {
    if target > buf.len() {
        return None;
    }
    let rest = &buf[target..];
    let skip = if rest.starts_with(b"\r\n") {
        2
    } else if rest.starts_with(b"\n") {
        1
    } else {
        0
    };
    let at = target + skip;
    if at == buf.len() || buf[target..].iter().all(|&b| b == b'\n' || b == b'\r') {
        return Some(cands.len());
    }
    match cands[i + 1..].binary_search(&at) {
        Ok(k) => Some(i + 1 + k),
        Err(_) => None,
    }
}

/// The message in `buf[start..end)` ends before the blank line that separates it from the next From_ line.
pub fn message_end(buf: &[u8], start: usize, end: usize) -> usize {
    let body = &buf[start..end];
    if body.ends_with(b"\r\n\r\n") || (body.ends_with(b"\n\r\n") && body.len() >= 3) {
        end - 2
    } else if body.ends_with(b"\n\n") {
        end - 1
    } else {
        end
    }
}

/// The delivery time on a From_ line, in Unix seconds. Accepts asctime
/// (`Sat Jan  3 01:05:34 2022`, taken as UTC), a zone after the time or the year
/// (`Sat Jan 03 01:05:34 +0000 2022`, Takeout), and RFC 5322 style (`Sat, 3 Jan 2022 ...`).
pub fn from_line_time(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?;
    let mut toks = text.split_whitespace();
    toks.next()?; // "From"
    toks.next()?; // envelope sender
    let (mut month, mut day, mut year, mut hms, mut zone) = (None, None, None, None, 0i32);
    for t in toks {
        let t = t.trim_end_matches(',');
        if let Some(m) = MONTHS.iter().position(|m| t.eq_ignore_ascii_case(m)) {
            month = Some(m as i8 + 1);
        } else if t.contains(':') {
            let mut p = t.split(':').map(|x| x.parse::<i8>().ok());
            let h = p.next().flatten()?;
            let mi = p.next().flatten()?;
            let s = p.next().flatten().unwrap_or(0);
            hms = Some((h, mi, s));
        } else if (t.starts_with('+') || t.starts_with('-')) && t.len() == 5 {
            let v: i32 = t[1..].parse().ok()?;
            let secs = (v / 100) * 3600 + (v % 100) * 60;
            zone = if t.starts_with('-') { -secs } else { secs };
        } else if let Ok(n) = t.parse::<i32>() {
            if t.len() == 4 && year.is_none() && day.is_some() || t.len() == 4 && n > 31 {
                year = Some(n as i16);
            } else if day.is_none() && (1..=31).contains(&n) {
                day = Some(n as i8);
            }
        }
    }
    let (h, mi, s) = hms?;
    let date = jiff::civil::Date::new(year?, month?, day?).ok()?;
    let dt = date.to_datetime(jiff::civil::Time::new(h, mi, s.min(59), 0).ok()?);
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(zone).ok()?);
    Some(dt.to_zoned(tz).ok()?.timestamp().as_second())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Undoes one level of mboxrd quoting (`>From ` → `From `, `>>From ` → `>From `), and
/// says which lines (0-based) were changed so restore can quote exactly those again.
pub fn unquote(msg: &[u8]) -> (Vec<u8>, Vec<u32>) {
    let mut out = Vec::with_capacity(msg.len());
    let mut lines = Vec::new();
    let mut pos = 0;
    let mut n = 0u32;
    while pos < msg.len() {
        let (_, next) = line_at(msg, pos);
        let line = &msg[pos..next];
        let gt = line.iter().take_while(|&&b| b == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
            lines.push(n);
        } else {
            out.extend_from_slice(line);
        }
        pos = next;
        n += 1;
    }
    (out, lines)
}

/// Quotes again the lines `unquote` changed.
pub fn requote(msg: &[u8], lines: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + lines.len());
    let mut pos = 0;
    let mut n = 0u32;
    let mut want = lines.iter().peekable();
    while pos < msg.len() {
        let (_, next) = line_at(msg, pos);
        if want.peek() == Some(&&n) {
            out.push(b'>');
            want.next();
        }
        out.extend_from_slice(&msg[pos..next]);
        pos = next;
        n += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn from_line_dates() {
        assert_eq!(
            from_line_time(b"From a@b Sat Jan  3 01:05:34 2022"),
            Some(1641171934)
        );
        assert_eq!(
            from_line_time(b"From 1729@xxx Mon Jan 03 01:05:34 +0000 2022"),
            Some(1641171934)
        );
        assert_eq!(
            from_line_time(b"From a@b Mon Jan 03 02:05:34 +0100 2022"),
            Some(1641171934)
        );
        assert_eq!(
            from_line_time(b"From - Mon Jan 03 01:05:34 2022"),
            Some(1641171934)
        );
        assert_eq!(from_line_time(b"From a@b"), None);
    }

    use super::*;

    fn msgs(buf: &[u8]) -> Vec<String> {
        split(buf)
            .unwrap_or_default()
            .iter()
            .map(|e| String::from_utf8_lossy(e.message(buf)).into_owned())
            .collect()
    }

    #[test]
    fn splits_at_from_lines_after_blank_lines() {
        let buf = b"From a Mon Jan  1 00:00:00 2024\nSubject: 1\n\nbody\nFrom me, hi\n\nFrom b Mon Jan  1 00:00:01 2024\nSubject: 2\n\nx\n";
        assert_eq!(
            msgs(buf),
            vec!["Subject: 1\n\nbody\nFrom me, hi\n", "Subject: 2\n\nx\n"]
        );
    }

    #[test]
    fn from_in_body_not_followed_by_header_is_not_a_separator() {
        let buf = b"From a x\nA: 1\n\nhi\n\nFrom the desk of Bob\nregards\n";
        assert_eq!(msgs(buf).len(), 1);
    }

    #[test]
    fn bom_and_blank_lines_before_first_from() {
        let buf = b"\xEF\xBB\xBF\n\nFrom a x\nA: 1\n\nhi\n";
        let e = split(buf).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].offset, 5);
    }

    #[test]
    fn takeout_from_lines_split() {
        let buf = b"From 1729@xxx Sat Jan 03 01:05:34 +0000 2022\nX-GM-THRID: 1\n\na\n\nFrom 1730@xxx Sat Jan 03 01:05:35 +0000 2022\nX-GM-THRID: 2\n\nb\n";
        assert_eq!(
            msgs(buf),
            vec!["X-GM-THRID: 1\n\na\n", "X-GM-THRID: 2\n\nb\n"]
        );
    }

    #[test]
    fn crlf_mbox() {
        let buf = b"From a x\r\nA: 1\r\n\r\nhi\r\n\r\nFrom b x\r\nA: 2\r\n\r\nyo\r\n";
        assert_eq!(msgs(buf), vec!["A: 1\r\n\r\nhi\r\n", "A: 2\r\n\r\nyo\r\n"]);
    }

    #[test]
    fn content_length_only_where_it_lands_on_a_separator() {
        // Content-Length 23 covers the unquoted From_ block in the body exactly.
        let body = "x\n\nFrom q x\nA: fake\n\n";
        let good = format!(
            "From a x\nContent-Length: {}\n\n{body}\nFrom b x\nA: 2\n\ny\n",
            body.len()
        );
        assert_eq!(msgs(good.as_bytes()).len(), 2);
        let bad = format!("From a x\nContent-Length: 3\n\n{body}\nFrom b x\nA: 2\n\ny\n");
        assert_eq!(msgs(bad.as_bytes()).len(), 3);
    }

    #[test]
    fn entries_tile_the_file() {
        let buf = b"\nFrom a x\nA: 1\n\nhi\n\nFrom b x\nA: 2\n\nyo";
        let e = split(buf).unwrap();
        assert_eq!(e[0].end, e[1].offset);
        assert_eq!(e[1].end, buf.len());
    }

    #[test]
    fn not_mbox() {
        assert!(split(b"").is_none());
        assert!(split(b" ").is_none());
        assert!(split(b"22\n").is_none());
        assert!(split(b"Subject: x\n\nbody").is_none());
    }
}
