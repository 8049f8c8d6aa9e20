//! Reading stores: Maildir file names and mbox splitting.
pub mod maildir;
pub mod mbox;
