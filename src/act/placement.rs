//! Where a quarantine folder may be: never inside a scanned path, nor around one. A QDIR
//! inside a store would be scanned as a store next time and its copies taken for
//! duplicates; a QDIR that contains a store would be moved into itself. And it must be a
//! folder this run can write: [`check_usable`] refuses, before anything is scanned, what
//! the real run would otherwise only find out at its first write, so `--dry-run` refuses
//! exactly what the real run refuses.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Refuses a quarantine folder inside (or containing) any of `paths`. Both sides are
/// resolved as the kernel will: symlinks in the part that exists, and `..`, so a QDIR not
/// created yet, under a symlink or behind `x/..`, is still caught.
pub fn check_qdir(qdir: &Path, paths: &[PathBuf]) -> io::Result<()> {
    let qabs = std::path::absolute(qdir)?;
    let qres = resolve_path(qdir)?;
    for p in paths {
        let pabs = std::fs::canonicalize(p).unwrap_or(std::path::absolute(p)?);
        let pres = resolve_path(p)?;
        if qabs.starts_with(&pabs)
            || qres.starts_with(&pabs)
            || qres.starts_with(&pres)
            || pres.starts_with(&qres)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: the quarantine folder must not be inside (or contain) the scanned path {}",
                    qdir.display(),
                    p.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a quarantine folder this run could not use: one that exists and is not a folder
/// (or whose `cur`, `new` or `tmp` is not), one on a read-only filesystem, one this user
/// may not write (or, not created yet, whose nearest existing parent this user may not
/// write), and one whose manifest another maildedup run holds. Changes nothing: the
/// manifest's lock is taken and released at once.
pub fn check_usable(qdir: &Path) -> io::Result<()> {
    let refuse = |p: &Path, kind: io::ErrorKind, why: &str| {
        Err(io::Error::new(kind, format!("{}: {why}", p.display())))
    };
    let missing = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        )
    };
    let meta = match std::fs::metadata(qdir) {
        Ok(m) => Some(m),
        Err(e) if missing(&e) => None,
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", qdir.display()))),
    };
    let Some(meta) = meta else {
        // Not there yet: it will be created in the nearest folder that exists.
        let abs = std::path::absolute(qdir)?;
        let mut parent = abs.as_path();
        while let Some(up) = parent.parent() {
            parent = up;
            match std::fs::metadata(parent) {
                Ok(m) if m.is_dir() => return writable(parent),
                Ok(_) => {
                    return refuse(
                        parent,
                        io::ErrorKind::AlreadyExists,
                        "is not a folder, so the quarantine folder cannot be created in it",
                    )
                }
                Err(e) if missing(&e) => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", parent.display()),
                    ))
                }
            }
        }
        return Ok(());
    };
    if !meta.is_dir() {
        return refuse(
            qdir,
            io::ErrorKind::AlreadyExists,
            "exists and is not a folder: the quarantine folder must be a Maildir, an empty \
             folder or a path that does not exist yet",
        );
    }
    writable(qdir)?;
    for sub in ["cur", "new", "tmp"] {
        let d = qdir.join(sub);
        match std::fs::metadata(&d) {
            Ok(m) if m.is_dir() => writable(&d)?,
            Ok(_) => {
                return refuse(
                    &d,
                    io::ErrorKind::AlreadyExists,
                    "is not a folder, so the quarantine folder is not a Maildir",
                )
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", d.display()))),
        }
    }
    let manifest = qdir.join(crate::act::manifest::MANIFEST);
    match std::fs::File::open(&manifest) {
        Ok(f) => {
            writable(&manifest)?;
            // The lock `Manifest::open` takes; released when `f` is dropped.
            if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
            {
                return refuse(
                    &manifest,
                    io::ErrorKind::WouldBlock,
                    "another maildedup run is using this quarantine folder",
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("{}: {e}", manifest.display()),
        )),
    }
}

/// Refuses a quarantine folder (or its manifest) that exists and belongs to another user
/// than the one running, as `restore` does: that user could swap a folder or the manifest
/// in it for a symbolic link between two of this run's writes and steer them (run as
/// root, into any file). `quarantine --each` instead writes each mailbox's folder as the
/// mailbox's owner (`crate::act::as_owner`), so it does not need this.
pub fn check_owner(qdir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    for p in [
        qdir.to_path_buf(),
        qdir.join(crate::act::manifest::MANIFEST),
    ] {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.uid() != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{}: owned by uid {}, not by the user running quarantine (uid {me}); run it as that user",
                    p.display(),
                    meta.uid()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether this user may create and rename files in folder (or write file) `p`, on a
/// filesystem mounted writable; the error names `p` and says which.
fn writable(p: &Path) -> io::Result<()> {
    let dir = p.is_dir();
    if let Ok(v) = rustix::fs::statvfs(p) {
        if v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
            return Err(io::Error::new(
                io::ErrorKind::ReadOnlyFilesystem,
                format!("{}: is on a read-only filesystem", p.display()),
            ));
        }
    }
    let mode = match dir {
        true => rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
        false => rustix::fs::Access::WRITE_OK,
    };
    rustix::fs::access(p, mode).map_err(|e| {
        let why = match e {
            rustix::io::Errno::ROFS => "is on a read-only filesystem".to_string(),
            rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => {
                "is not writable by this user".to_string()
            }
            other => io::Error::from(other).to_string(),
        };
        io::Error::new(io::Error::from(e).kind(), format!("{}: {why}", p.display()))
    })
}

/// A path as the kernel will resolve it once its missing folders are created: its
/// longest existing prefix canonicalized (symlinks and `..` resolved), the rest appended
/// with `.` and `..` applied to the names (folders not created yet are no symlinks).
fn resolve_path(p: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    let comps: Vec<Component> = abs.components().collect();
    for k in (0..=comps.len()).rev() {
        let prefix: PathBuf = comps[..k].iter().collect();
        let Ok(mut out) = std::fs::canonicalize(&prefix) else {
            continue;
        };
        for c in &comps[k..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        return Ok(out);
    }
    Ok(abs)
}

/// The quarantine folder of one mailbox in a `--each` run: the `--to` template with
/// `{mailbox}` replaced by the mailbox's PATH as given, and `{name}` by its last component
/// (`/var/mail/jane` → `jane`: `--to '/var/mail/.quarantine/{name}'` for mbox spools).
pub fn mailbox_qdir(template: &Path, mailbox: &Path) -> PathBuf {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let t = template.as_os_str().as_bytes();
    let m = mailbox.as_os_str().as_bytes();
    let name = mailbox.file_name().map(OsStrExt::as_bytes).unwrap_or(m);
    let mut out = Vec::with_capacity(t.len() + m.len());
    let mut i = 0;
    while i < t.len() {
        if t[i..].starts_with(b"{mailbox}") {
            out.extend_from_slice(m);
            i += b"{mailbox}".len();
        } else if t[i..].starts_with(b"{name}") {
            out.extend_from_slice(name);
            i += b"{name}".len();
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Does the `--to` template name each mailbox (`{mailbox}` or `{name}`; else every mailbox
/// would share one QDIR)?
pub fn is_mailbox_template(template: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let t = template.as_os_str().as_bytes();
    [&b"{mailbox}"[..], &b"{name}"[..]]
        .iter()
        .any(|k| t.windows(k.len()).any(|w| w == *k))
}

/// Where a mailbox's quarantine folder may be in a `--each` run: a Maildir++ folder of the
/// mailbox itself (a dot-folder right inside it, such as `.Quarantine`: discovery never
/// scans a quarantine folder met inside a PATH, see
/// [`crate::store::discover::is_quarantine_folder`]), or anywhere [`check_qdir`] allows.
pub fn check_mailbox_qdir(qdir: &Path, mailbox: &Path) -> io::Result<()> {
    let qres = resolve_path(qdir)?;
    let mres = resolve_path(mailbox)?;
    let dot_folder = qres.parent() == Some(mres.as_path())
        && qres
            .file_name()
            .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'))
        && std::fs::symlink_metadata(mailbox).is_ok_and(|m| m.is_dir());
    if dot_folder {
        return Ok(());
    }
    check_qdir(qdir, std::slice::from_ref(&mailbox.to_path_buf())).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{e} (in a mailbox, a quarantine folder must be a Maildir++ folder right inside it, such as {{mailbox}}/.Quarantine)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_filled_with_the_mailbox() {
        let q = mailbox_qdir(
            Path::new("{mailbox}/.Quarantine"),
            Path::new("/var/vmail/example.com/jane/Maildir"),
        );
        assert_eq!(
            q,
            Path::new("/var/vmail/example.com/jane/Maildir/.Quarantine")
        );
        assert!(is_mailbox_template(Path::new("/srv/q{mailbox}")));
        assert_eq!(
            mailbox_qdir(
                Path::new("/var/mail/.quarantine/{name}"),
                Path::new("/var/mail/jane")
            ),
            Path::new("/var/mail/.quarantine/jane")
        );
        assert!(is_mailbox_template(Path::new("/q/{name}")));
        assert!(!is_mailbox_template(Path::new("/srv/q")));
    }

    #[test]
    fn a_dot_folder_of_the_mailbox_is_allowed_and_nothing_else_inside() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("Maildir");
        std::fs::create_dir_all(m.join("cur")).unwrap();
        assert!(check_mailbox_qdir(&m.join(".Quarantine"), &m).is_ok());
        assert!(check_mailbox_qdir(&m.join("Quarantine"), &m).is_err());
        assert!(check_mailbox_qdir(&m.join(".A/.Q"), &m).is_err());
        assert!(check_mailbox_qdir(&m, &m).is_err());
        assert!(check_mailbox_qdir(d.path(), &m).is_err());
        assert!(check_mailbox_qdir(&d.path().join("q"), &m).is_ok());
    }
}
