//! A quarantine folder inside a user's mailbox belongs to that user: root running over a
//! server's mail (`quarantine --each --to '{mailbox}/.Quarantine'`) must not leave
//! root-owned folders and files the user's mail server cannot read or expunge.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Gives `qdir` and everything in it (two levels: `cur/`, `new/`, `tmp/` and their files,
/// the manifest and its companions) the owner and group of the mailbox folder, when
/// running as root (as another user, files are that user's already and cannot be given
/// away), and gives its folders the mailbox folder's mode (an mbox file's mode, with
/// search permission where it is readable). Files keep their own mode (a
/// moved message keeps the mode it had). Symbolic links are never followed.
pub fn match_mailbox(qdir: &Path, mailbox: &Path) -> io::Result<()> {
    let m = std::fs::metadata(mailbox)?;
    let mut mode = m.mode() & 0o7777;
    if !m.is_dir() {
        // An mbox spool (0600): its folders need search permission where it is readable.
        mode |= (mode & 0o444) >> 2;
    }
    let (uid, gid) = (m.uid(), m.gid());
    let root = rustix::process::geteuid().is_root();
    let adopt = |p: &Path, md: &std::fs::Metadata| -> io::Result<()> {
        if md.file_type().is_symlink() {
            return Ok(());
        }
        if root && (md.uid() != uid || md.gid() != gid) {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
        }
        if md.is_dir() && md.mode() & 0o7777 != mode {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    };
    let top = std::fs::symlink_metadata(qdir)?;
    adopt(qdir, &top)?;
    if !top.is_dir() {
        return Ok(());
    }
    for e in std::fs::read_dir(qdir)? {
        let e = e?;
        let p = e.path();
        let md = std::fs::symlink_metadata(&p)?;
        adopt(&p, &md)?;
        if md.is_dir() {
            for f in std::fs::read_dir(&p)? {
                let f = f?;
                let fp = f.path();
                adopt(&fp, &std::fs::symlink_metadata(&fp)?)?;
            }
        }
    }
    Ok(())
}
