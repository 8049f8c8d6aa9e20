//! tmpfs and bind mounts for the disk-full and read-only tests (they need root).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mounts a tmpfs of `size` on `dir`; unmounted (lazily if busy) when dropped.
pub struct Mount {
    pub dir: PathBuf,
}

/// Runs `mount ARGS...`; its stderr is the error.
fn mount(args: &[&OsStr]) -> Result<(), String> {
    let out = std::process::Command::new("mount")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Mount {
    pub fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let opts = format!("size={size},mode=0755");
        mount(&[
            OsStr::new("-t"),
            OsStr::new("tmpfs"),
            OsStr::new("-o"),
            OsStr::new(&opts),
            OsStr::new("tmpfs"),
            dir.as_os_str(),
        ])?;
        Ok(Mount {
            dir: dir.to_path_buf(),
        })
    }

    /// A bind mount of `src` on `dir`, read-only if `ro`.
    pub fn bind(src: &Path, dir: &Path, ro: bool) -> Result<Mount, String> {
        mount(&[OsStr::new("--bind"), src.as_os_str(), dir.as_os_str()])?;
        let m = Mount {
            dir: dir.to_path_buf(),
        };
        if ro {
            m.remount("ro,bind")?;
        }
        Ok(m)
    }

    pub fn remount(&self, opts: &str) -> Result<(), String> {
        let opts = format!("remount,{opts}");
        mount(&[OsStr::new("-o"), OsStr::new(&opts), self.dir.as_os_str()])
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
    }
}

pub fn dev(p: &Path) -> u64 {
    fs::metadata(p).unwrap().dev()
}
