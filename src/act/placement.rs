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
