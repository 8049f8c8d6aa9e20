//! Root working in a user's mailbox writes as that user. `quarantine --each` run by root
//! puts each mailbox's quarantine folder inside the mailbox (`{mailbox}/.Quarantine`),
//! where the user can swap any folder or file for a symbolic link between two of root's
//! steps: root appending to "the manifest" or creating "a quarantined copy" would then
//! write wherever the link points (`/etc/...`). Instead, the thread doing a mailbox's
//! writes takes the mailbox owner's user and group ids for them (Linux keeps ids per
//! thread; rustix's `set_thread_*` calls change only the calling thread), so the kernel
//! lets it write only where that user could; the saved user id stays 0, so the thread
//! becomes root again afterwards. This is what Dovecot's own tools do
//! (`doveadm -u USER`), without starting a process.

use rustix::process::{Gid, Uid};
use std::io;

/// While alive, the calling thread acts as a mailbox's owner; dropping it makes the thread
/// root again (and aborts the process if it cannot: it must never go on as the wrong
/// user).
#[must_use = "the thread is the owner only while this lives"]
pub struct AsOwner {
    /// The supplementary groups and the real and effective group ids to restore; `None`:
    /// nothing was changed.
    groups: Option<(Vec<Gid>, Gid, Gid)>,
}

impl AsOwner {
    /// Makes the calling thread act as `uid`:`gid` (supplementary groups: `gid` only) when
    /// it runs as root and `uid` is not root; otherwise changes nothing.
    pub fn become_owner(uid: u32, gid: u32) -> io::Result<AsOwner> {
        if !rustix::process::geteuid().is_root() || uid == 0 {
            return Ok(AsOwner { groups: None });
        }
        let saved = (
            rustix::process::getgroups()?,
            rustix::process::getgid(),
            rustix::process::getegid(),
        );
        let (u, g) = (Uid::from_raw(uid), Gid::from_raw(gid));
        rustix::thread::set_thread_groups(&[g])?;
        let back = AsOwner {
            groups: Some(saved),
        };
        rustix::thread::set_thread_res_gid(g, g, Gid::ROOT)?;
        rustix::thread::set_thread_res_uid(u, u, Uid::ROOT)?;
        Ok(back)
    }

    /// Whether the thread acts as another user now.
    pub fn active(&self) -> bool {
        self.groups.is_some()
    }
}

impl Drop for AsOwner {
    fn drop(&mut self) {
        let Some((groups, rgid, egid)) = self.groups.take() else {
            return;
        };
        let back = rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)
            .and_then(|()| rustix::thread::set_thread_res_gid(rgid, egid, egid))
            .and_then(|()| rustix::thread::set_thread_groups(&groups));
        if back.is_err() {
            // Going on as the mailbox's owner would do the next mailbox's work as the
            // wrong user.
            std::process::abort();
        }
    }
}
