//! Mail stores: finding them, reading them, and the locks and formats another mail program
//! shares with us.
//!
//! - [`discover`]: which paths are stores, and of which kind;
//! - [`maildir`]: Maildir file names (unique part, flags);
//! - [`mbox`]: the mbox splitter and From_ lines;
//! - [`imap`]: IMAP accounts (URL, password, a read-only session);
//! - [`lock`]: the locks mbox writers take (dotlock, fcntl).

pub mod discover;
pub mod imap;
pub mod lock;
pub mod maildir;
pub mod mbox;
pub mod read;

/// The name of a quarantine folder's manifest (`crate::act::manifest::MANIFEST`): here,
/// because discovery must know a quarantine folder when it meets one inside a mailbox.
pub const QDIR_MANIFEST: &str = "manifest.jsonl";
