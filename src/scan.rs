//! The scan pipeline: discover → read → fingerprint (two stages) → a list of copies.
//!
//! Stage 1 reads only the header block of every copy (the first 16 KiB of a Maildir file,
//! a slice of the memory-mapped mbox). Stage 2 digests bodies only for the copies that can
//! have a duplicate: those sharing a Message-ID with another copy, or, without a
//! Message-ID, sharing a header digest. `ScanOptions::hash_all` digests every body; the
//! test suite checks that both give the same groups.

use crate::discover::{discover, Skipped, Store, StoreKind};
use crate::fingerprint::{header_digest, message_hash, Digest, Flags, HeaderFacts};
use crate::progress::Progress;
use crate::read::maildir::MaildirName;
use crate::read::mbox::{self, MboxEntry};
use memmap2::Mmap;
use rayon::prelude::*;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a copy's delivery time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeSource {
    /// The date on the mbox From_ line (written by the delivery agent).
    MboxFromLine,
    /// A Maildir file's modification time (Dovecot's received date).
    MaildirMtime,
    /// The leading timestamp of a Maildir file's unique name.
    MaildirName,
    /// The `Delivery-date:` header.
    DeliveryDate,
    /// The date of the topmost `Received:` header.
    Received,
}

impl TimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::MboxFromLine => "mbox-from-line",
            TimeSource::MaildirMtime => "maildir-mtime",
            TimeSource::MaildirName => "maildir-filename",
            TimeSource::DeliveryDate => "delivery-date-header",
            TimeSource::Received => "received-header",
        }
    }
}

/// Which Maildir subfolder a message file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sub {
    Cur,
    New,
}

impl Sub {
    pub fn as_str(self) -> &'static str {
        match self {
            Sub::Cur => "cur",
            Sub::New => "new",
        }
    }
}

/// Where a copy lives inside its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    Maildir { sub: Sub, name: Box<OsStr> },
    Mbox { offset: u64 },
}

/// One copy of a message, fingerprinted.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Index into [`ScanOutput::stores`].
    pub store: u32,
    pub loc: Loc,
    /// Maildir: the file size. mbox: the entry length, From_ line to the next From_ line.
    pub length: u64,
    pub message_id: Option<Box<str>>,
    /// Digest of the header fields, computed in stage 1 only for copies without a
    /// Message-ID (it is their key for finding candidates).
    pub header_key: Option<Digest>,
    /// The content hash, set in stage 2 for copies that can have a duplicate.
    pub content: Option<Digest>,
    /// Unix seconds.
    pub delivered_at: Option<i64>,
    pub time_source: Option<TimeSource>,
    pub flags: Flags,
}

impl Copy {
    pub fn content_hash(&self) -> Option<Digest> {
        self.content
    }

    /// The message file (Maildir) or the mbox file.
    pub fn path(&self, stores: &[Store]) -> PathBuf {
        let store = &stores[self.store as usize].path;
        match &self.loc {
            Loc::Maildir { sub, name } => store.join(sub.as_str()).join(&**name),
            Loc::Mbox { .. } => store.clone(),
        }
    }

    pub fn offset(&self) -> Option<u64> {
        match self.loc {
            Loc::Mbox { offset } => Some(offset),
            Loc::Maildir { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Digest every body, not only those that can have a duplicate.
    pub hash_all: bool,
}

pub struct ScanOutput {
    pub stores: Vec<Store>,
    pub copies: Vec<Copy>,
    pub skipped: Vec<Skipped>,
}

/// Bytes of a Maildir file read in stage 1. Most messages fit whole.
const HEAD_CHUNK: usize = 8 * 1024;

/// Per-thread reusable buffers.
#[derive(Default)]
struct Buffers {
    data: Vec<u8>,
    scratch: Vec<u8>,
}

/// Runs discovery and both fingerprint stages.
pub fn scan(paths: &[PathBuf], opts: &ScanOptions, progress: &Progress) -> ScanOutput {
    let (stores, mut skipped) = discover(paths);
    progress.stage("reading", "messages", None);
    let read: Vec<(Vec<Copy>, Vec<Skipped>, Option<MappedMbox>)> = stores
        .par_iter()
        .enumerate()
        .map(|(i, store)| read_store(i as u32, store, progress))
        .collect();
    let mut copies = Vec::new();
    let mut maps = Vec::with_capacity(read.len());
    for (c, s, m) in read {
        copies.extend(c);
        skipped.extend(s);
        maps.push(m);
    }

    let need = candidates(&copies, opts.hash_all);
    let todo: usize = need.iter().filter(|&&n| n).count();
    progress.stage("hashing", "candidate bodies", Some(todo as u64));
    let failures: Vec<(usize, Skipped)> = copies
        .par_iter_mut()
        .enumerate()
        .filter(|(i, c)| need[*i] && c.content.is_none())
        .map_init(Buffers::default, |bufs, (i, c)| {
            progress.inc(1);
            let r = digest_body(c, &stores, &maps, bufs);
            r.err().map(|e| (i, e))
        })
        .flatten()
        .collect();
    if !failures.is_empty() {
        let bad: std::collections::HashSet<usize> = failures.iter().map(|(i, _)| *i).collect();
        skipped.extend(failures.into_iter().map(|(_, s)| s));
        let mut i = 0;
        copies.retain(|_| {
            i += 1;
            !bad.contains(&(i - 1))
        });
    }
    progress.finish();
    ScanOutput {
        stores,
        copies,
        skipped,
    }
}

/// Which copies need their body digested: those sharing a Message-ID with another copy,
/// or (without a Message-ID) sharing a header digest.
fn candidates(copies: &[Copy], all: bool) -> Vec<bool> {
    if all {
        return vec![true; copies.len()];
    }
    let mut by_id: HashMap<&str, u32> = HashMap::new();
    let mut by_header: HashMap<Option<&Digest>, u32> = HashMap::new();
    for c in copies {
        match &c.message_id {
            Some(id) => *by_id.entry(id).or_default() += 1,
            None => *by_header.entry(c.header_key.as_ref()).or_default() += 1,
        }
    }
    copies
        .iter()
        .map(|c| match &c.message_id {
            Some(id) => by_id.get(id.as_ref()).copied().unwrap_or(0) > 1,
            None => by_header.get(&c.header_key.as_ref()).copied().unwrap_or(0) > 1,
        })
        .collect()
}

fn digest_body(
    c: &mut Copy,
    stores: &[Store],
    maps: &[Option<MappedMbox>],
    bufs: &mut Buffers,
) -> Result<(), Skipped> {
    match (&c.loc, &maps[c.store as usize]) {
        (Loc::Mbox { offset }, Some(MappedMbox { map, .. })) => {
            let offset = *offset as usize;
            let (_, start) = crate::message::line_at(map, offset);
            let end = entry_message_end(map, offset, offset + c.length as usize);
            c.content = Some(message_hash(&map[start..end], &mut bufs.scratch));
            Ok(())
        }
        (Loc::Maildir { .. }, _) => {
            let path = c.path(stores);
            let fail = |e: io::Error| Skipped::new(&path, format!("cannot read: {e}"));
            let mut f = File::open(&path).map_err(fail)?;
            bufs.data.clear();
            f.read_to_end(&mut bufs.data).map_err(fail)?;
            if bufs.data.len() as u64 != c.length {
                return Err(Skipped::new(
                    &path,
                    "changed during the scan (size differs)",
                ));
            }
            c.content = Some(message_hash(&bufs.data, &mut bufs.scratch));
            Ok(())
        }
        (Loc::Mbox { .. }, None) => Err(Skipped::new(
            &stores[c.store as usize].path,
            "mbox no longer mapped",
        )),
    }
}

/// The end of an mbox entry's message bytes (without the separator blank line).
fn entry_message_end(map: &[u8], offset: usize, end: usize) -> usize {
    // Re-derive exactly as the splitter does.
    let (_, start) = crate::message::line_at(map, offset);
    mbox::message_end(map, start, end)
}

fn read_store(
    index: u32,
    store: &Store,
    progress: &Progress,
) -> (Vec<Copy>, Vec<Skipped>, Option<MappedMbox>) {
    match store.kind {
        StoreKind::Maildir => {
            let (c, s) = read_maildir(index, &store.path, progress);
            (c, s, None)
        }
        StoreKind::Mbox => match read_mbox(index, &store.path, progress) {
            Ok((c, m)) => (c, Vec::new(), m),
            Err(s) => (Vec::new(), vec![s], None),
        },
    }
}

fn read_maildir(index: u32, dir: &Path, progress: &Progress) -> (Vec<Copy>, Vec<Skipped>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for sub in [Sub::Cur, Sub::New] {
        let d = dir.join(sub.as_str());
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                skipped.push(Skipped::new(&d, format!("cannot list: {e}")));
                continue;
            }
        };
        for ent in rd {
            match ent {
                Ok(ent) => {
                    let name = ent.file_name();
                    if name.as_bytes().first() == Some(&b'.') {
                        continue;
                    }
                    match ent.file_type() {
                        Ok(t) if t.is_file() => files.push((sub, name.into_boxed_os_str())),
                        Ok(t) if t.is_symlink() => {
                            skipped.push(Skipped::new(ent.path(), "symbolic link: not followed"))
                        }
                        Ok(_) => skipped.push(Skipped::new(ent.path(), "not a regular file")),
                        Err(e) => {
                            skipped.push(Skipped::new(ent.path(), format!("cannot stat: {e}")))
                        }
                    }
                }
                Err(e) => skipped.push(Skipped::new(&d, format!("cannot list: {e}"))),
            }
        }
    }
    files.sort();
    // Files are opened relative to their folder: one path component for the kernel to
    // resolve instead of the whole path.
    let open_dir = |sub: Sub| {
        use rustix::fs::{open, Mode, OFlags};
        open(
            dir.join(sub.as_str()),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    };
    let dir_fds = [open_dir(Sub::Cur), open_dir(Sub::New)];
    let results: Vec<Result<Copy, Skipped>> = files
        .into_par_iter()
        .map_init(Buffers::default, |bufs, (sub, name)| {
            progress.inc(1);
            let dir_fd = dir_fds[sub as usize].as_ref();
            let path = || dir.join(sub.as_str()).join(&*name);
            read_maildir_file(dir_fd, &name, &path, bufs).map(
                |(facts, length, mtime, header_key, content)| {
                    let (delivered_at, time_source) = maildir_time(&name, mtime, &facts);
                    let info = MaildirName::parse(&name.to_string_lossy())
                        .flags
                        .to_string();
                    Copy {
                        store: index,
                        loc: Loc::Maildir { sub, name },
                        length,
                        message_id: facts.message_id.map(String::into_boxed_str),
                        header_key,
                        content,
                        delivered_at,
                        time_source,
                        flags: Flags::from_maildir(&info),
                    }
                },
            )
        })
        .collect();
    let mut copies = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(c) => copies.push(c),
            Err(s) => skipped.push(s),
        }
    }
    (copies, skipped)
}

/// What stage 1 learns of a Maildir file: its header facts, size and mtime, the header
/// key (no Message-ID only) and, when the whole file was read anyway and it has no
/// Message-ID, its content hash.
type MaildirFacts = (
    HeaderFacts,
    u64,
    Option<i64>,
    Option<Digest>,
    Option<Digest>,
);

/// Reads the header block of a Maildir file: the first 8 KiB, more only if the header
/// block is longer. The body is not read.
fn read_maildir_file(
    dir_fd: Option<&rustix::fd::OwnedFd>,
    name: &OsStr,
    path: &dyn Fn() -> PathBuf,
    bufs: &mut Buffers,
) -> Result<MaildirFacts, Skipped> {
    let fail = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            Skipped::new(
                path(),
                "vanished during the scan (renamed or removed by another program)",
            )
        } else {
            Skipped::new(path(), format!("cannot read: {e}"))
        }
    };
    let mut f = match dir_fd {
        Some(fd) => {
            use rustix::fs::{openat, Mode, OFlags};
            File::from(
                openat(
                    fd,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| fail(e.into()))?,
            )
        }
        None => File::open(path()).map_err(fail)?,
    };
    let meta = f.metadata().map_err(fail)?;
    let size = meta.len();
    if size == 0 {
        return Err(Skipped::new(path(), "empty file"));
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.as_second());
    let mut want = HEAD_CHUNK.min(size as usize);
    bufs.data.clear();
    loop {
        let have = bufs.data.len();
        bufs.data.resize(want, 0);
        let n = read_full(&mut f, &mut bufs.data[have..]).map_err(fail)?;
        bufs.data.truncate(have + n);
        let at_eof = n < want - have || bufs.data.len() as u64 >= size;
        let facts = HeaderFacts::read_facts(&bufs.data);
        if facts.complete || at_eof {
            let (key, content) = if facts.message_id.is_some() {
                (None, None)
            } else {
                let key = header_digest(&bufs.data, &mut bufs.scratch);
                let content = at_eof.then(|| message_hash(&bufs.data, &mut bufs.scratch));
                (Some(key), content)
            };
            return Ok((facts, size, mtime, key, content));
        }
        want = (want * 4).min(size as usize).max(want + 1);
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A Maildir copy's delivery time: the earlier of the file's mtime and its name's leading
/// timestamp (a copy without `-p` resets mtimes to the copy time, which is later; an IMAP
/// APPEND with an internal date sets mtime to the original date, which is earlier than the
/// name); then `Delivery-date:`, then the topmost `Received:`.
fn maildir_time(
    name: &OsStr,
    mtime: Option<i64>,
    facts: &HeaderFacts,
) -> (Option<i64>, Option<TimeSource>) {
    let from_name = MaildirName::parse(&name.to_string_lossy()).timestamp;
    let mtime = mtime.filter(|&t| t > 0);
    match (mtime, from_name) {
        (Some(m), Some(n)) if n < m => (Some(n), Some(TimeSource::MaildirName)),
        (Some(m), _) => (Some(m), Some(TimeSource::MaildirMtime)),
        (None, Some(n)) => (Some(n), Some(TimeSource::MaildirName)),
        (None, None) => header_time(facts),
    }
}

fn header_time(facts: &HeaderFacts) -> (Option<i64>, Option<TimeSource>) {
    if let Some(t) = facts.delivery_date {
        (Some(t), Some(TimeSource::DeliveryDate))
    } else if let Some(t) = facts.received_date {
        (Some(t), Some(TimeSource::Received))
    } else {
        (None, None)
    }
}

/// A mapped mbox with the file that holds its read lock.
pub struct MappedMbox {
    map: Mmap,
    _file: File,
}

fn read_mbox(
    index: u32,
    path: &Path,
    progress: &Progress,
) -> Result<(Vec<Copy>, Option<MappedMbox>), Skipped> {
    let fail = |e: io::Error| Skipped::new(path, format!("cannot read: {e}"));
    let f = File::open(path).map_err(fail)?;
    let len = f.metadata().map_err(fail)?.len();
    if len == 0 {
        return Err(Skipped::new(path, "empty file"));
    }
    // A shared fcntl lock keeps writers that lock (delivery agents, mail clients) from
    // truncating or rewriting the file in place while it is mapped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !crate::lock::try_read_lock(&f) {
        if std::time::Instant::now() >= deadline {
            return Err(Skipped::new(
                path,
                "locked by another program for more than 10 s",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: the map is read-only and the file is read-locked (see above) for as long as
    // the map lives (the map and the file are kept together). A writer that ignores locks
    // and truncates the file in place could still fault this process; none of the
    // delivery agents and clients we know of does.
    let map = unsafe { Mmap::map(&f) }.map_err(fail)?;
    let entries = mbox::split(&map)
        .ok_or_else(|| Skipped::new(path, "not mail: no mbox From_ line at the start"))?;
    let copies = fingerprint_mbox(index, &map, &entries, progress);
    Ok((copies, Some(MappedMbox { map, _file: f })))
}

/// Stage 1 for every entry of an mbox, in parallel.
pub fn fingerprint_mbox(
    index: u32,
    map: &[u8],
    entries: &[MboxEntry],
    progress: &Progress,
) -> Vec<Copy> {
    entries
        .par_iter()
        .map_init(Buffers::default, |bufs, e| {
            progress.inc(1);
            let msg = e.message(map);
            let facts = HeaderFacts::read_facts(msg);
            let header_key = facts
                .message_id
                .is_none()
                .then(|| header_digest(msg, &mut bufs.scratch));
            let (delivered_at, time_source) = match mbox::from_line_time(e.from_line(map)) {
                Some(t) => (Some(t), Some(TimeSource::MboxFromLine)),
                None => header_time(&facts),
            };
            Copy {
                store: index,
                loc: Loc::Mbox {
                    offset: e.offset as u64,
                },
                length: e.len() as u64,
                message_id: facts.message_id.map(String::into_boxed_str),
                header_key,
                content: None,
                delivered_at,
                time_source,
                flags: facts.mbox_flags,
            }
        })
        .collect()
}

/// The message bytes of a copy as it is stored: the whole Maildir file, or for an mbox
/// entry the message without its From_ line and separator (quoting left as it is).
pub fn message_bytes(c: &Copy, stores: &[Store]) -> io::Result<Vec<u8>> {
    let path = c.path(stores);
    match c.loc {
        Loc::Maildir { .. } => std::fs::read(&path),
        Loc::Mbox { offset } => {
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut entry = vec![0u8; c.length as usize];
            f.read_exact(&mut entry)?;
            let (_, start) = crate::message::line_at(&entry, 0);
            let end = mbox::message_end(&entry, start, entry.len());
            entry.truncate(end);
            entry.drain(..start);
            Ok(entry)
        }
    }
}
