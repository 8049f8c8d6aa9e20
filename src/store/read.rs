//! Reading a stored message again, for every stage after the scan (conflicts, forensics,
//! the HTML page, quarantine checks): the whole message or its header block, with pread,
//! never a map, and never following a symlink swapped in since the scan.

use crate::identity::header::line_at;
use crate::model::{Loc, MessageCopy, Store};
use crate::store::mbox;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// The bytes of an open mbox, read with `pread` (`FileExt::read_at`).
pub(crate) struct FileSource<'a> {
    pub(crate) file: &'a File,
    pub(crate) len: usize,
}

impl mbox::Source for FileSource<'_> {
    fn file_len(&self) -> usize {
        self.len
    }

    fn read_into(&self, off: usize, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        let want = off.saturating_add(len).min(self.len).saturating_sub(off);
        // Resizing without clearing first: only bytes past the old length are zeroed.
        buf.resize(want, 0);
        let mut done = 0;
        while done < want {
            match self.file.read_at(&mut buf[done..], (off + done) as u64) {
                Ok(0) => {
                    buf.truncate(done);
                    return Err(shrank());
                }
                Ok(k) => done += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The message bytes of a copy as it is stored: the whole Maildir file, or for an mbox
/// entry the message without its From_ line and separator (quoting left as it is).
/// Opened as every store file is ([`crate::fsutil::open_regular`]): a symlink or FIFO
/// swapped in since the scan is an error, never followed nor waited on.
pub fn message_bytes(c: &MessageCopy, stores: &[Store]) -> io::Result<Vec<u8>> {
    let path = c.path(stores);
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    match c.loc {
        Loc::Imap { uid, uidvalidity } => imap_kept(c, stores, uid, uidvalidity),
        Loc::Maildir { .. } | Loc::Eml { .. } => crate::fsutil::read_regular(&path).map_err(named),
        Loc::Mbox { offset } => {
            // pread, never a map: the mbox may be rewritten by another program meanwhile.
            let f = crate::fsutil::open_regular(&path).map_err(named)?;
            let src = FileSource {
                file: &f,
                len: usize::try_from(offset.saturating_add(c.length)).unwrap_or(usize::MAX),
            };
            let mut entry = Vec::new();
            mbox::Source::read_into(&src, offset as usize, c.length as usize, &mut entry)
                .map_err(named)?;
            let (_, start) = crate::identity::header::line_at(&entry, 0);
            let end = mbox::message_end(&entry, start, entry.len());
            entry.truncate(end);
            entry.drain(..start);
            Ok(entry)
        }
    }
}

/// The first bytes of a copy's message (an mbox copy without its From_ line).
pub fn read_head(c: &MessageCopy, stores: &[Store]) -> io::Result<Vec<u8>> {
    if let Loc::Imap { uid, uidvalidity } = c.loc {
        let mut b = imap_kept(c, stores, uid, uidvalidity)?;
        b.truncate(HEAD_MAX as usize);
        return Ok(b);
    }
    let mut f = crate::fsutil::open_regular(&c.path(stores))?;
    let offset = c.offset().unwrap_or(0);
    if offset > 0 {
        f.seek(SeekFrom::Start(offset))?;
    }
    // Sized up front: one read for the whole head, not a probe and a doubling series.
    let want = c.length.min(HEAD_MAX);
    let mut buf = Vec::with_capacity(want as usize);
    f.take(want).read_to_end(&mut buf)?;
    if let Loc::Mbox { .. } = c.loc {
        let (_, start) = line_at(&buf, 0);
        buf.drain(..start);
    }
    Ok(buf)
}

/// The error of a read that came back short: the file shrank since it was opened.
pub fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "it is shorter than when it was opened",
    )
}

/// At most this much of a copy is read to find its header block.
pub const HEAD_MAX: u64 = 64 * 1024;

/// An IMAP message as stage 2 fetched it (kept for the run); one never fetched is an
/// error (the scan keeps every candidate, and only candidates are read again).
fn imap_kept(c: &MessageCopy, stores: &[Store], uid: u32, uidvalidity: u32) -> io::Result<Vec<u8>> {
    let folder = &stores[c.store as usize].path;
    crate::store::imap::kept(folder, uidvalidity, uid)
        .map(|b| b.to_vec())
        .ok_or_else(|| {
            io::Error::other(format!(
                "{}: not fetched in this run (only candidates are)",
                c.path(stores).display()
            ))
        })
}
