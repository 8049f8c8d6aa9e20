//! Where a quarantine folder may be: never inside a scanned path, nor around one. A QDIR
//! inside a store would be scanned as a store next time and its copies taken for
//! duplicates; a QDIR that contains a store would be moved into itself.

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
