//! The types every stage shares: the stores, one copy of a message and where it lives,
//! where its delivery time came from, what a scan returns, and what was skipped.

pub mod comparisons;
pub mod encode;
pub mod pathser;

use crate::identity::{Digest, Flags};
use std::ffi::OsStr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Maildir,
    Mbox,
    /// A folder of `.eml` files, one message each (Thunderbird's "Save as", Outlook
    /// exports, archivers), or one `.eml` file given as a PATH.
    Eml,
    /// One folder of an IMAP account (`imaps://user@host/FOLDER`), read over the network;
    /// scan only (quarantine and restore refuse it for now).
    Imap,
}

impl StoreKind {
    /// Does each message live in a file of its own (moved out and back by rename)?
    pub fn file_per_message(self) -> bool {
        matches!(self, StoreKind::Maildir | StoreKind::Eml)
    }

    /// How a person names the kind: "Maildir", "mbox", "eml".
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::Maildir => "Maildir",
            StoreKind::Mbox => "mbox",
            StoreKind::Eml => "eml",
            StoreKind::Imap => "IMAP",
        }
    }
}

/// One mail store: a Maildir folder (its own messages only, not its Maildir++ subfolders,
/// which are stores of their own), one mbox file, or a folder of `.eml` files (its own
/// files only; a subfolder of `.eml` files is a store of its own).
#[derive(Debug, Clone)]
pub struct Store {
    pub path: PathBuf,
    pub kind: StoreKind,
}

/// Why something was not read: what a caller decides on (is the run incomplete?), apart
/// from the words shown to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipKind {
    /// Not mail, or not something a scan reads: a symbolic link, a FIFO, a file that does
    /// not begin like mail, a Maildir with a symlinked `cur/`. Expected; not a failure.
    NotMail,
    /// An empty file: an mbox whose mail was all read.
    Empty,
    /// A file or folder that could not be listed, stat-ed or read: the run is incomplete.
    Unreadable,
    /// An mbox another program kept locked too long: the run is incomplete.
    Locked,
    /// Went away while the scan ran (a client expunged the message, renamed the folder):
    /// a live store at work, found again by the next run.
    Vanished,
    /// Changed by another program while it was read: the next run reads it.
    Changed,
}

/// Something that was not read, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    #[serde(serialize_with = "crate::model::pathser::lossy")]
    pub path: PathBuf,
    pub offset: Option<u64>,
    pub reason: String,
    #[serde(skip)]
    pub kind: SkipKind,
}

impl Skipped {
    fn with(path: impl Into<PathBuf>, kind: SkipKind, reason: impl Into<String>) -> Skipped {
        Skipped {
            path: path.into(),
            offset: None,
            reason: reason.into(),
            kind,
        }
    }

    /// Not mail, or not something a scan reads; `reason` says what it is.
    pub fn not_mail(path: impl Into<PathBuf>, reason: impl Into<String>) -> Skipped {
        Skipped::with(path, SkipKind::NotMail, reason)
    }

    pub fn empty(path: impl Into<PathBuf>) -> Skipped {
        Skipped::with(path, SkipKind::Empty, "empty file")
    }

    /// `doing` failed with `e` ("cannot read", "cannot list", "cannot stat"). A file or
    /// folder that no longer exists (ENOENT) vanished; anything else is unreadable.
    pub fn io(path: impl Into<PathBuf>, doing: &str, e: &std::io::Error) -> Skipped {
        let kind = if e.raw_os_error() == Some(libc::ENOENT) {
            SkipKind::Vanished
        } else {
            SkipKind::Unreadable
        };
        Skipped::with(path, kind, format!("{doing}: {e}"))
    }

    pub fn unreadable(path: impl Into<PathBuf>, reason: impl Into<String>) -> Skipped {
        Skipped::with(path, SkipKind::Unreadable, reason)
    }

    pub fn locked(path: impl Into<PathBuf>, reason: impl Into<String>) -> Skipped {
        Skipped::with(path, SkipKind::Locked, reason)
    }

    pub fn vanished(path: impl Into<PathBuf>, reason: impl Into<String>) -> Skipped {
        Skipped::with(path, SkipKind::Vanished, reason)
    }

    pub fn changed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Skipped {
        Skipped::with(path, SkipKind::Changed, reason)
    }

    /// A failure that makes the run incomplete (not mail that is simply not mail, nor a
    /// live store at work).
    pub fn is_failure(&self) -> bool {
        matches!(self.kind, SkipKind::Unreadable | SkipKind::Locked)
    }
}

/// Where a copy's delivery time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeSource {
    /// The date on the mbox From_ line (written by the delivery agent).
    MboxFromLine,
    /// A Maildir file's modification time (Dovecot's received date).
    MaildirMtime,
    /// The leading timestamp of a Maildir file's unique name.
    MaildirName,
    /// A `.eml` file's modification time (when it was saved).
    FileMtime,
    /// The `Delivery-date:` header.
    DeliveryDate,
    /// The date of the topmost `Received:` header.
    Received,
    /// An IMAP message's `INTERNALDATE` (the server's receive time).
    ImapInternalDate,
}

impl TimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::MboxFromLine => "mbox-from-line",
            TimeSource::MaildirMtime => "maildir-mtime",
            TimeSource::MaildirName => "maildir-filename",
            TimeSource::FileMtime => "file-mtime",
            TimeSource::DeliveryDate => "delivery-date-header",
            TimeSource::Received => "received-header",
            TimeSource::ImapInternalDate => "imap-internaldate",
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
    Maildir {
        sub: Sub,
        name: Box<OsStr>,
    },
    Mbox {
        offset: u64,
    },
    /// A `.eml` file in the store's folder; an empty name: the store is that one file.
    Eml {
        name: Box<OsStr>,
    },
    /// A message in an IMAP folder (the store is the folder): its UID, valid while the
    /// folder's `UIDVALIDITY` is the one recorded.
    Imap {
        uid: u32,
        uidvalidity: u32,
    },
}

/// One copy of a message, fingerprinted. Kept small (about 100 bytes plus its file
/// name): a scan holds one per message.
#[derive(Debug, Clone)]
pub struct MessageCopy {
    /// Index into [`ScanOutput::stores`].
    pub store: u32,
    pub time_source: Option<TimeSource>,
    pub loc: Loc,
    /// Maildir: the file size. mbox: the entry length, From_ line to the next From_ line.
    pub length: u64,
    /// A 64-bit key of the normalised Message-ID (0: the copy has none). Stage 1 finds
    /// candidates with it; grouping uses the full Message-ID and content hash.
    pub id_key: u64,
    /// The normalised Message-ID, kept only for copies that can have a duplicate (set in
    /// stage 2): a unique message never needs it.
    pub message_id: Option<Box<str>>,
    /// Digest of the header fields, computed in stage 1 only for copies without a
    /// Message-ID (it is their key for finding candidates).
    pub header_key: Option<Box<Digest>>,
    /// The content hash, set in stage 2 for copies that can have a duplicate.
    pub content: Option<Box<Digest>>,
    /// Unix seconds.
    pub delivered_at: Option<i64>,
    pub flags: Flags,
    /// Maildir: the file's mtime in Unix seconds (0 when unknown), which the cache keeps
    /// for `--paranoid`. mbox: 0.
    pub mtime: i64,
    /// Delivery times of this copy that were found but not used ([`Rejected`] bits).
    pub rejected_times: u8,
}

impl MessageCopy {
    pub fn content_hash(&self) -> Option<Digest> {
        self.content.as_deref().copied()
    }

    /// The message file (Maildir) or the mbox file.
    pub fn path(&self, stores: &[Store]) -> PathBuf {
        let store = &stores[self.store as usize].path;
        match &self.loc {
            Loc::Maildir { sub, name } => store.join(sub.as_str()).join(&**name),
            Loc::Mbox { .. } => store.clone(),
            Loc::Eml { name } if name.is_empty() => store.clone(),
            Loc::Eml { name } => store.join(&**name),
            Loc::Imap { uid, .. } => store.join(format!(";UID={uid}")),
        }
    }

    pub fn offset(&self) -> Option<u64> {
        match self.loc {
            Loc::Mbox { offset } => Some(offset),
            Loc::Maildir { .. } | Loc::Eml { .. } | Loc::Imap { .. } => None,
        }
    }
}

/// What a scan returns: the stores found, every copy in them, and what was not read.
#[derive(Default)]
pub struct ScanOutput {
    pub stores: Vec<Store>,
    pub copies: Vec<MessageCopy>,
    pub skipped: Vec<Skipped>,
    /// Conflicts explained in earlier runs (from the cache) and in this one.
    pub comparisons: comparisons::Comparisons,
}
