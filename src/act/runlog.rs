//! `--log FILE`: one JSON line per run, appended, so every scheduled run leaves a record
//! (when, what, over which paths, the summary counts, the exit code, the errors).
//!
//! The file is opened (created mode 0600 if new, with missing parent folders created
//! mode 0700) before the run does anything, so a log that cannot be written stops the
//! run before it starts. The record is written with one `write` on an `O_APPEND`
//! descriptor, so runs that finish at the same time never interleave within a line.

use anyhow::Context;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Version of the record's layout (fields may be added; none will be renamed).
pub const RECORD_VERSION: u32 = 1;

/// A run being recorded (or not, without `--log`).
pub struct RunLog {
    file: Option<(File, PathBuf)>,
    started: jiff::Timestamp,
    clock: std::time::Instant,
    command: String,
    /// The paths the run was given, made absolute.
    paths: Vec<String>,
    /// The command's own fields (`summary`, `qdir`, `dry_run`, ...).
    pub fields: Map<String, Value>,
    /// The run's errors: a fatal error, copies left in place, records not restored.
    pub errors: Vec<String>,
}

impl RunLog {
    /// Opens `path` for appending (if given) and starts the record of `command`.
    pub fn open(path: Option<&Path>, command: &str) -> anyhow::Result<RunLog> {
        let file = match path {
            None => None,
            Some(p) => {
                if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .with_context(|| {
                            format!("{}: cannot create the log folder", parent.display())
                        })?;
                }
                let f = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(p)
                    .with_context(|| format!("{}: cannot open the log file", p.display()))?;
                if !looks_like_a_log(p, &f) {
                    anyhow::bail!(
                        "{}: not a maildedup run log (it does not start with a JSON record); \
                         refusing to append to it (a mail file? give --log a file of its own)",
                        p.display()
                    );
                }
                Some((f, p.to_path_buf()))
            }
        };
        Ok(RunLog {
            file,
            started: jiff::Timestamp::now(),
            clock: std::time::Instant::now(),
            command: command.to_string(),
            paths: Vec::new(),
            fields: Map::new(),
            errors: Vec::new(),
        })
    }

    /// Sets a field of the record.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.into(), value.into());
    }

    /// Sets `paths` from the paths the run was given (made absolute: a log outlives the
    /// folder the run started in).
    pub fn set_paths(&mut self, paths: &[PathBuf]) {
        self.paths = paths.iter().map(|p| absolute(p)).collect();
    }

    /// The record as written, one line of JSON: `time` (RFC 3339, when the run started),
    /// `version`, `command`, `paths`, the command's fields, `exit_code`, `errors`,
    /// `duration_secs`.
    pub fn line(&self, exit_code: i32) -> serde_json::Result<Vec<u8>> {
        #[derive(serde::Serialize)]
        struct Record<'a> {
            time: String,
            version: u32,
            command: &'a str,
            paths: &'a [String],
            #[serde(flatten)]
            fields: &'a Map<String, Value>,
            exit_code: i32,
            errors: &'a [String],
            duration_secs: f64,
        }
        let mut line = serde_json::to_vec(&Record {
            time: self.started.to_string(),
            version: RECORD_VERSION,
            command: &self.command,
            paths: &self.paths,
            fields: &self.fields,
            exit_code,
            errors: &self.errors,
            duration_secs: (self.clock.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        })?;
        line.push(b'\n');
        Ok(line)
    }

    /// Appends the record (a no-op without `--log`).
    pub fn finish(self, exit_code: i32) -> anyhow::Result<()> {
        let Some((mut f, path)) = self.file.as_ref().map(|(f, p)| (f, p.clone())) else {
            return Ok(());
        };
        let line = self.line(exit_code)?;
        // One write: with O_APPEND the line lands whole at the end of the file.
        // A device or pipe (`--log /dev/null`, `/dev/stderr`) has nothing to sync (fsync
        // fails with EINVAL there).
        let regular = f.metadata().map(|m| m.is_file()).unwrap_or(true);
        f.write_all(&line)
            .and_then(|()| if regular { f.sync_data() } else { Ok(()) })
            .with_context(|| format!("{}: cannot write to the log file", path.display()))
    }
}

/// Is this file empty or a run log (its first byte `{`)? `--log` must never append to
/// anything else: a mistyped path could name an mbox, and the line would land in its last
/// message.
/// (A file we may append to but not read is taken as it is.)
fn looks_like_a_log(path: &Path, f: &File) -> bool {
    use std::os::unix::fs::FileExt;
    match f.metadata() {
        Ok(m) if !m.is_file() => return m.file_type().is_char_device() || m.file_type().is_fifo(),
        Ok(m) if m.len() == 0 => return true,
        Ok(_) => {}
        Err(_) => return false,
    }
    let Ok(r) = File::open(path) else {
        return true;
    };
    let mut first = [0u8; 1];
    matches!(r.read_at(&mut first, 0), Ok(1) if first[0] == b'{')
}

/// `p` made absolute (without resolving symlinks), as a string for the record.
pub fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}
