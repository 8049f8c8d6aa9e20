//! IMAP accounts as stores (scan only, for now): the account URL ([`url`]), where the
//! password comes from ([`auth`]), and one read-only session ([`session`]). Every folder
//! is a store of kind [`crate::model::StoreKind::Imap`]; a copy's place is
//! [`crate::model::Loc::Imap`] (UID and UIDVALIDITY). What stage 2 fetched is kept in
//! memory for the rest of the run ([`kept`]): conflicts, forensics and the HTML page
//! read it from there, without a second connection.

pub mod auth;
pub mod session;
pub mod url;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How to reach IMAP accounts: the password command and an extra CA.
#[derive(Debug, Clone, Default)]
pub struct ImapOptions {
    pub pass_cmd: Option<String>,
    pub ca: Option<PathBuf>,
}

type Key = (PathBuf, u32, u32);

static KEPT: Mutex<Option<HashMap<Key, Arc<[u8]>>>> = Mutex::new(None);

/// Keeps a message fetched in stage 2 (folder store path, UIDVALIDITY, UID).
pub fn keep(folder: PathBuf, uidvalidity: u32, uid: u32, bytes: Vec<u8>) {
    if let Ok(mut m) = KEPT.lock() {
        m.get_or_insert_with(HashMap::new)
            .insert((folder, uidvalidity, uid), Arc::from(bytes));
    }
}

/// A message stage 2 fetched, if it did.
pub fn kept(folder: &std::path::Path, uidvalidity: u32, uid: u32) -> Option<Arc<[u8]>> {
    let m = KEPT.lock().ok()?;
    m.as_ref()?
        .get(&(folder.to_path_buf(), uidvalidity, uid))
        .cloned()
}
