//! Finding the stores under the paths the user gave: Maildirs (and their Maildir++
//! subfolders), mbox files, and folders holding either. Symlinks are never followed.

use crate::model::{Skipped, Store, StoreKind};
use crate::store::maildir::is_index_file;
use crate::store::mbox::looks_like_mbox;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Is `dir` a Maildir: does it have a `cur/` or `new/` directory (not a symlink)?
pub fn is_maildir(dir: &Path) -> bool {
    ["cur", "new"].iter().any(|sub| {
        fs::symlink_metadata(dir.join(sub))
            .map(|m| m.is_dir())
            .unwrap_or(false)
    })
}

/// The first of a folder's `cur/`, `new/` and `tmp/` that is a symbolic link, if the
/// folder looks like a Maildir (it has a `cur/` or `new/`, as a folder or a link).
/// Such a folder is never read as a Maildir: following the link would read, and
/// quarantine would move, files that live somewhere else, and restore could not put
/// them back.
pub fn symlinked_maildir_sub(dir: &Path) -> Option<&'static str> {
    let kind = |sub: &str| {
        fs::symlink_metadata(dir.join(sub))
            .ok()
            .map(|m| m.file_type())
    };
    let looks_maildir = ["cur", "new"]
        .iter()
        .any(|sub| kind(sub).is_some_and(|t| t.is_dir() || t.is_symlink()));
    if !looks_maildir {
        return None;
    }
    ["cur", "new", "tmp"]
        .into_iter()
        .find(|sub| kind(sub).is_some_and(|t| t.is_symlink()))
}

/// The reason given for a Maildir with a symlinked `cur/`, `new/` or `tmp/`.
pub const SYMLINKED_SUB: &str =
    "symbolic link: a Maildir whose cur/, new/ or tmp/ is a symbolic link is not scanned";

/// Reads the first bytes of a file to tell whether it is an mbox.
fn sniff_mbox(path: &Path) -> std::io::Result<Option<&'static str>> {
    let mut f = crate::fsutil::open_regular(path)?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    if n == 0 {
        return Ok(Some("empty file"));
    }
    // A From_ line followed by a header line must fit in the first 4 KiB.
    if looks_like_mbox(&buf) {
        Ok(None)
    } else {
        Ok(Some("not mail: no mbox From_ line at the start"))
    }
}

/// Walks every path and returns the stores found (sorted by path) and what was skipped.
pub fn discover(paths: &[PathBuf]) -> (Vec<Store>, Vec<Skipped>) {
    let mut stores = Vec::new();
    let mut skipped = Vec::new();
    for root in paths {
        match fs::symlink_metadata(root) {
            Err(e) => skipped.push(Skipped::io(root, "cannot read", &e)),
            Ok(m) if m.file_type().is_symlink() => {
                skipped.push(Skipped::not_mail(root, "symbolic link: not followed"));
            }
            Ok(m)
                if m.is_file()
                    && root
                        .file_name()
                        .is_some_and(|n| is_eml_name(&n.to_string_lossy())) =>
            {
                stores.push(Store {
                    path: root.to_path_buf(),
                    kind: StoreKind::Eml,
                });
            }
            Ok(m) if m.is_file() => match sniff_mbox(root) {
                Ok(None) => stores.push(Store {
                    path: root.clone(),
                    kind: StoreKind::Mbox,
                }),
                Ok(Some("empty file")) => skipped.push(Skipped::empty(root)),
                Ok(Some(reason)) => skipped.push(Skipped::not_mail(root, reason)),
                Err(e) => skipped.push(Skipped::io(root, "cannot read", &e)),
            },
            Ok(_) => walk(root, &mut stores, &mut skipped),
        }
    }
    // The walk is unsorted (walkdir sorts a directory by reading it whole, even one it
    // is told to skip, such as a Maildir's cur/): sort here, for a deterministic report.
    stores.sort_by(|a, b| a.path.cmp(&b.path));
    stores.dedup_by(|a, b| a.path == b.path);
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    (stores, skipped)
}

/// Should the walk descend into `entry`? Not into a Maildir's own `cur/`, `new/` and
/// `tmp/` (they are read with the store) nor into dot-folders that are not Maildir++
/// folders (.git, .cache, ...). Checked before walkdir reads a directory, so a Maildir's
/// hundreds of thousands of files are listed once, not twice.
fn descend(entry: &walkdir::DirEntry) -> bool {
    if entry.depth() == 0 || !entry.file_type().is_dir() {
        return true;
    }
    let name = entry.file_name().to_string_lossy();
    let path = entry.path();
    if matches!(name.as_ref(), "cur" | "new" | "tmp") && path.parent().is_some_and(is_maildir) {
        return false;
    }
    !name.starts_with('.') || is_maildir(path)
}

/// The reason given for a quarantine folder met inside a PATH.
pub const QUARANTINE_FOLDER: &str =
    "a maildedup quarantine folder (it holds manifest.jsonl): not scanned as a store";

/// Is `dir` a quarantine folder kept as a Maildir++ folder of the mailbox it serves
/// (`quarantine --each --to '{mailbox}/.Quarantine'`): a dot-folder that is a Maildir and
/// holds maildedup's manifest? Such a folder is never scanned as a store inside a PATH:
/// its copies are the extras already moved out, not duplicates of the mailbox's mail.
/// (Given itself as a PATH, it is scanned like any Maildir.)
pub fn is_quarantine_folder(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'))
        && is_maildir(dir)
        && fs::symlink_metadata(dir.join(crate::store::QDIR_MANIFEST)).is_ok_and(|m| m.is_file())
}

/// Is this the name of a saved message (`.eml`, any case)?
pub fn is_eml_name(name: &str) -> bool {
    name.len() > 4 && name.as_bytes()[name.len() - 4..].eq_ignore_ascii_case(b".eml")
}

fn walk(root: &Path, stores: &mut Vec<Store>, skipped: &mut Vec<Skipped>) {
    // Folders already taken as .eml stores: walkdir interleaves a folder's files with its
    // subfolders' contents, so a folder's first .eml makes it a store, the rest are in it.
    let mut eml_folders = std::collections::HashSet::new();
    let mut it = WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(descend);
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                let reason = format!("cannot read: {e}");
                let gone =
                    e.io_error().and_then(std::io::Error::raw_os_error) == Some(libc::ENOENT);
                skipped.push(if gone {
                    Skipped::vanished(path, reason)
                } else {
                    Skipped::unreadable(path, reason)
                });
                continue;
            }
        };
        let path = entry.path();
        let name = entry.file_name().to_string_lossy();
        let ft = entry.file_type();
        if ft.is_symlink() {
            let sub = matches!(name.as_ref(), "cur" | "new" | "tmp")
                && path
                    .parent()
                    .is_some_and(|p| symlinked_maildir_sub(p).is_some());
            if !sub {
                skipped.push(Skipped::not_mail(path, "symbolic link: not followed"));
            }
            continue;
        }
        if ft.is_dir() {
            if entry.depth() > 0 && is_quarantine_folder(path) {
                skipped.push(Skipped::not_mail(path, QUARANTINE_FOLDER));
                it.skip_current_dir();
            } else if let Some(sub) = symlinked_maildir_sub(path) {
                skipped.push(Skipped::not_mail(path.join(sub), SYMLINKED_SUB));
            } else if is_maildir(path) {
                stores.push(Store {
                    path: path.to_path_buf(),
                    kind: StoreKind::Maildir,
                });
            }
            continue;
        }
        if !ft.is_file() {
            skipped.push(Skipped::not_mail(path, "not a regular file"));
            continue;
        }
        if entry.depth() > 0 && name.starts_with('.') {
            continue;
        }
        let parent_is_maildir = entry.depth() > 0 && path.parent().is_some_and(is_maildir);
        if (parent_is_maildir && is_index_file(&name)) || is_known_non_mail(&name) {
            continue;
        }
        // A saved message: one message of its folder's .eml store (even one that starts
        // with a From_ line), or, given alone as a PATH, a store of its own.
        if is_eml_name(&name) && !parent_is_maildir {
            let folder = if entry.depth() == 0 {
                path.to_path_buf()
            } else {
                crate::fsutil::parent(path).to_path_buf()
            };
            if eml_folders.insert(folder.clone()) {
                stores.push(Store {
                    path: folder,
                    kind: StoreKind::Eml,
                });
            }
            continue;
        }
        match sniff_mbox(path) {
            Ok(None) => stores.push(Store {
                path: path.to_path_buf(),
                kind: StoreKind::Mbox,
            }),
            Ok(Some("empty file")) => skipped.push(Skipped::empty(path)),
            Ok(Some(reason)) => skipped.push(Skipped::not_mail(path, reason)),
            Err(e) => skipped.push(Skipped::io(path, "cannot read", &e)),
        }
    }
}

/// Index and summary files mail clients keep beside mbox files.
fn is_known_non_mail(name: &str) -> bool {
    name.ends_with(".msf") // Thunderbird summary
        || name.ends_with(".ibex.index") || name.ends_with(".ev-summary") // Evolution
        || name.ends_with(".lock") // a dotlock held by a delivery agent or mail client
        || name.starts_with("dovecot.index") || name == "dovecot-uidlist" || name == "dovecot-keywords"
}
