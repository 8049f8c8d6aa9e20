//! The quarantine manifest, `QDIR/manifest.jsonl`: one JSON object per line, appended and
//! fsynced *before* the change it describes is made to a store. It is everything `restore`
//! needs to put the stores back byte for byte.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub mod runs;
pub mod validate;

pub const MANIFEST: &str = crate::store::QDIR_MANIFEST;

/// Which copy a group kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeptRef {
    #[serde(with = "crate::model::pathser")]
    pub path: PathBuf,
    pub offset: Option<u64>,
}

/// One manifest line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// Starts each quarantine run: the stores it scanned (absolute), which bound what
    /// restore may touch.
    Run {
        run: String,
        version: u32,
        started: String,
        #[serde(with = "crate::model::pathser::vec")]
        stores: Vec<PathBuf>,
        /// The same stores with every symlink above them resolved (`realpath`), in the
        /// same order: `restore` writes into a store only while it still resolves to
        /// this, so a folder above a store swapped for a symlink cannot carry it
        /// elsewhere. Missing in manifests of older versions: then `stores` must resolve
        /// to themselves.
        #[serde(
            with = "crate::model::pathser::vec",
            default,
            skip_serializing_if = "Vec::is_empty"
        )]
        canonical: Vec<PathBuf>,
        /// The command line that made the run (`restore --list` shows it). Missing in
        /// manifests of older versions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        command: Vec<String>,
    },
    /// A Maildir file moved, as it is, to `quarantined` (relative to QDIR).
    MaildirMove {
        id: String,
        #[serde(with = "crate::model::pathser")]
        source: PathBuf,
        quarantined: String,
        /// blake3 of the file's bytes.
        file_b3: String,
        content_hash: String,
        message_id: Option<String>,
        group: String,
        class: String,
        kept: KeptRef,
    },
    /// The kept Maildir copy renamed to carry the union of the group's flags.
    MaildirFlags {
        id: String,
        #[serde(with = "crate::model::pathser")]
        old: PathBuf,
        #[serde(with = "crate::model::pathser")]
        new: PathBuf,
        added: String,
    },
    /// An mbox message written to `quarantined` (From_ line removed, quoting undone).
    MboxExtract {
        id: String,
        #[serde(with = "crate::model::pathser")]
        mbox: PathBuf,
        offset: u64,
        length: u64,
        /// blake3 of the original entry bytes (From_ line to the next From_ line).
        entry_b3: String,
        /// The exact From_ line with its line break (base64).
        from_line: String,
        /// The separator bytes after the message (base64; usually one line break).
        separator: String,
        /// 0-based numbers of the lines whose `>From` quoting was undone (one `>` removed).
        unquoted_lines: Vec<u32>,
        quarantined: String,
        content_hash: String,
        message_id: Option<String>,
        group: String,
        class: String,
        kept: KeptRef,
    },
    /// An mbox rewritten without its extra copies (and with merged flags on kept copies).
    /// Written before the mbox changes: since `in_place`, the change itself is the
    /// `mbox-write` that follows; before, a new file renamed over the old one.
    MboxRewrite {
        id: String,
        #[serde(with = "crate::model::pathser")]
        mbox: PathBuf,
        pre_size: u64,
        pre_b3: String,
        post_size: u64,
        post_b3: String,
        edits: Vec<Edit>,
        /// Carried out in place by an `mbox-write` (missing in older manifests).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        in_place: bool,
    },
    /// `restore` finished undoing the record `id`.
    Restored { id: String },
    /// An in-place write of an mbox's tail, recorded after the new tail is durable in
    /// `QDIR/rewrite/` and before the first byte of the mbox changes: the mbox becomes its
    /// first `first` bytes (unchanged) followed by the tail, `post_size` bytes in all.
    /// Until its `mbox-write-done`, the next `quarantine` or `restore` on this QDIR finishes
    /// it (`crate::act::mbox_edit::recover`). Older manifests have none: their rewrites were
    /// made by renaming a new file over the mbox.
    MboxWrite {
        id: String,
        #[serde(with = "crate::model::pathser")]
        mbox: PathBuf,
        /// The record this write carries out (an `mbox-rewrite`, or the one `restore`
        /// undoes), kept by a superseding write too.
        of: String,
        /// The id of an unfinished `mbox-write` this one replaces (recovery moving mail
        /// appended after a crash behind the new tail).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supersedes: Option<String>,
        first: u64,
        pre_size: u64,
        post_size: u64,
        /// The new bytes from `first` on, relative to QDIR (`rewrite/ID.tail`).
        tail: String,
        tail_b3: String,
        /// blake3 of bytes `0..first` (never written).
        prefix_b3: String,
        /// blake3 of the old bytes `first..min(pre_size, post_size)`.
        mid_b3: String,
        /// When the file shrinks: blake3 of the old bytes `post_size..pre_size`, which
        /// are still there exactly when the truncation did not happen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        junk_b3: Option<String>,
    },
    /// The `mbox-write` `id` is complete (or, with `abandoned`, was given up because the
    /// mbox matched neither its old nor its new state: nothing was written).
    MboxWriteDone {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        abandoned: Option<String>,
    },
}

/// One change an mbox rewrite made: bytes `offset..offset+length` of the old file became
/// `replacement_len` bytes in the new one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Edit {
    pub offset: u64,
    pub length: u64,
    pub replacement_len: u64,
    /// For a removed extra copy: the id of its `mbox-extract` record.
    pub extract: Option<String>,
    /// For a header edit (merged flags): the original bytes (base64).
    pub original: Option<String>,
}

/// An open manifest, appended to under an exclusive lock so that two runs never interleave.
pub struct Manifest {
    file: File,
    path: PathBuf,
}

impl Manifest {
    /// Opens (creating, mode 0600) `QDIR/manifest.jsonl` for appending and takes an
    /// exclusive lock on it, failing at once if another maildedup holds it.
    pub fn open(qdir: &Path) -> io::Result<Manifest> {
        let path = qdir.join(MANIFEST);
        let file = OpenOptions::new()
            .append(true)
            .read(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |_| {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "{}: another maildedup run is using this quarantine folder",
                        path.display()
                    ),
                )
            },
        )?;
        // A line cut short by a crash must not swallow the next record.
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, len - 1)?;
            if last[0] != b'\n' {
                (&file).write_all(b"\n")?;
            }
        }
        Ok(Manifest { file, path })
    }

    /// Appends one record and fsyncs it.
    pub fn append(&mut self, r: &Record) -> io::Result<()> {
        self.append_all(std::slice::from_ref(r))
    }

    /// Appends records with one write and one fsync: a batch of quarantine or restore
    /// is recorded at the cost of one record. A crash leaves a prefix of the batch
    /// (the last line maybe cut short, which [`read`] skips), never a line that was not
    /// written whole; nothing a record announces is done before this returns.
    pub fn append_all(&mut self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut line = Vec::new();
        for r in records {
            serde_json::to_writer(&mut line, r).map_err(io::Error::other)?;
            line.push(b'\n');
        }
        let len = self.file.metadata()?.len();
        if let Err(e) = self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
        {
            // Drop a line cut short (disk full): the manifest stays readable, and the
            // change it announced is not made.
            let _ = self.file.set_len(len);
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {e}", self.path.display()),
            ));
        }
        crate::fault::point("manifest.appended");
        Ok(())
    }
}

/// Reads every record, and the numbers of lines that could not be read. A line cut short
/// by a crash was never fsynced complete, so the change it announced was never started.
pub fn read(qdir: &Path) -> io::Result<(Vec<Record>, Vec<usize>)> {
    let path = qdir.join(MANIFEST);
    let f = File::open(&path)?;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(r) => out.push(r),
            Err(_) => bad.push(i + 1),
        }
    }
    Ok((out, bad))
}
