//! Stage 1 and stage 2 for IMAP accounts. Per account: one connection, LIST, then per
//! folder EXAMINE and one `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE
//! BODY.PEEK[HEADER])`; after candidates are known, `UID FETCH set BODY.PEEK[]` in
//! batches (at most [`BATCH_UIDS`] UIDs or about [`BATCH_BYTES`] each). Nothing is ever
//! marked read. Fingerprints are computed by the same functions as for Maildir files.

use super::id_key;
use super::time::imap_time;
use crate::identity::{header_digest, message_hash_and_id, Flags, HeaderFacts};
use crate::model::{Loc, MessageCopy, Skipped, Store, StoreKind};
use crate::observe::Observer;
use crate::store::imap::session::Session;
use crate::store::imap::url::ImapUrl;
use crate::store::imap::{auth, keep, ImapOptions};
use std::path::PathBuf;

/// Most UIDs in one stage-2 fetch.
pub const BATCH_UIDS: usize = 500;
/// About this many bytes of messages in one stage-2 fetch.
pub const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// One account's open session and the stores (folders) it gave.
pub(crate) struct Account {
    url: ImapUrl,
    session: Session,
    /// (store index, folder name, UIDVALIDITY).
    folders: Vec<(u32, String, u32)>,
}

/// A Maildir-style flag letter for an IMAP system flag.
fn flag_letter(f: &str) -> Option<u8> {
    match f.to_ascii_lowercase().as_str() {
        "\\seen" => Some(b'S'),
        "\\answered" => Some(b'R'),
        "\\flagged" => Some(b'F'),
        "\\deleted" => Some(b'T'),
        "\\draft" => Some(b'D'),
        _ => None,
    }
}

/// Connects to `raw` and reads stage 1 of its folders: the stores are appended to
/// `stores`, the copies to `copies`. A failure to connect or log in is an error (the
/// run stops with exit 2); a folder that cannot be read is skipped.
pub(crate) fn list_account(
    raw: &str,
    opts: &ImapOptions,
    stores: &mut Vec<Store>,
    copies: &mut Vec<MessageCopy>,
    skipped: &mut Vec<Skipped>,
    progress: &dyn Observer,
) -> Result<Account, String> {
    let url = ImapUrl::parse(raw)?;
    let pw = auth::password(&url, opts.pass_cmd.as_deref())?;
    let mut session = Session::open(&url, &pw, opts.ca.as_deref())?;
    drop(pw);
    let names: Vec<String> = match &url.folder {
        Some(f) => vec![f.clone()],
        None => session
            .folders()
            .map_err(|e| format!("{}: {e}", url.account()))?
            .into_iter()
            .map(|f| f.name)
            .collect(),
    };
    let mut folders = Vec::new();
    let mut scratch = Vec::new();
    for name in names {
        let path = PathBuf::from(url.folder_path(&name));
        let (uidvalidity, exists) = match session.examine(&name) {
            Ok(v) => v,
            Err(e) => {
                skipped.push(Skipped::unreadable(&path, e));
                continue;
            }
        };
        let heads = if exists == 0 {
            Vec::new()
        } else {
            match session.heads() {
                Ok(h) => h,
                Err(e) => {
                    skipped.push(Skipped::unreadable(&path, e));
                    continue;
                }
            }
        };
        let store = stores.len() as u32;
        stores.push(Store {
            path,
            kind: StoreKind::Imap,
        });
        folders.push((store, name, uidvalidity));
        for h in heads {
            progress.advance(1);
            let facts = HeaderFacts::read_facts(&h.header);
            let header_key = facts
                .message_id
                .is_none()
                .then(|| Box::new(header_digest(&h.header, &mut scratch)));
            let (delivered_at, time_source, rejected_times) = imap_time(h.internal_date, &facts);
            let mut flags = Flags(0);
            for f in &h.flags {
                if let Some(c) = flag_letter(f) {
                    flags.insert(c);
                }
            }
            copies.push(MessageCopy {
                store,
                time_source,
                loc: Loc::Imap {
                    uid: h.uid,
                    uidvalidity,
                },
                length: h.size,
                id_key: facts.message_id.as_deref().map_or(0, id_key),
                message_id: None,
                header_key,
                content: None,
                delivered_at,
                flags,
                mtime: 0,
                rejected_times,
            });
        }
    }
    Ok(Account {
        url,
        session,
        folders,
    })
}

/// Stage 2 for one account: fetches the candidates (`need`) of its folders in batches,
/// hashes them and keeps their bytes for the rest of the run. Returns the indices of
/// copies that could not be fetched, with why, and the commands the session sent.
pub(crate) fn hash_account(
    mut acct: Account,
    copies: &mut [MessageCopy],
    need: &[bool],
    stores: &[Store],
    progress: &dyn Observer,
) -> (Vec<(usize, Skipped)>, u64) {
    let mut failures = Vec::new();
    let mut scratch = Vec::new();
    for (store, name, uidvalidity) in acct.folders.clone() {
        let todo: Vec<usize> = (0..copies.len())
            .filter(|&i| need[i] && copies[i].store == store && copies[i].content.is_none())
            .collect();
        if todo.is_empty() {
            continue;
        }
        let path = &stores[store as usize].path;
        // Selected again: the session is on the last folder of stage 1. A UIDVALIDITY
        // that changed since means the UIDs may name other messages now: none is read.
        match acct.session.examine(&name) {
            Ok((now, _)) if now == uidvalidity => {}
            Ok((now, _)) => {
                let why = format!(
                    "UIDVALIDITY changed during the scan ({uidvalidity} -> {now}): the folder \
                     was recreated; the next run reads it"
                );
                failures.extend(
                    todo.iter()
                        .map(|&i| (i, Skipped::changed(path, why.clone()))),
                );
                continue;
            }
            Err(e) => {
                failures.extend(
                    todo.iter()
                        .map(|&i| (i, Skipped::unreadable(path, e.clone()))),
                );
                continue;
            }
        }
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut bytes = 0u64;
        for i in todo {
            if batches
                .last()
                .is_none_or(|b| b.len() >= BATCH_UIDS || bytes >= BATCH_BYTES)
            {
                batches.push(Vec::new());
                bytes = 0;
            }
            bytes += copies[i].length;
            if let Some(b) = batches.last_mut() {
                b.push(i);
            }
        }
        for batch in batches {
            let uid_of = |c: &MessageCopy| match c.loc {
                Loc::Imap { uid, .. } => uid,
                _ => 0,
            };
            let uids: Vec<u32> = batch.iter().map(|&i| uid_of(&copies[i])).collect();
            let got = match acct.session.bodies(&uids) {
                Ok(g) => g,
                Err(e) => {
                    failures.extend(
                        batch
                            .iter()
                            .map(|&i| (i, Skipped::unreadable(path, e.clone()))),
                    );
                    continue;
                }
            };
            let mut by_uid: std::collections::HashMap<u32, Vec<u8>> = got.into_iter().collect();
            for i in batch {
                progress.advance(1);
                let uid = uid_of(&copies[i]);
                let Some(body) = by_uid.remove(&uid) else {
                    failures.push((
                        i,
                        Skipped::vanished(
                            copies[i].path(stores),
                            "expunged during the scan (not returned by UID FETCH)",
                        ),
                    ));
                    continue;
                };
                let (content, id) = message_hash_and_id(&body, &mut scratch);
                copies[i].content = Some(Box::new(content));
                copies[i].message_id = id.map(String::into_boxed_str);
                keep(path.clone(), uidvalidity, uid, body);
            }
        }
    }
    let _ = &acct.url;
    let commands = acct.session.logout();
    (failures, commands)
}
