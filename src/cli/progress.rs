//! Progress on stderr, only when stderr is a terminal (never in cron mail or pipes).

use crate::observe::Observer;
use crate::render::report::thousands;
use crate::render::term::escape;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// In a stage that counts bytes (the bar's position): the copies done and in all,
    /// what they are, and where the stage works now, for the bar's message.
    copies: Arc<Mutex<Copies>>,
}

#[derive(Default)]
struct Copies {
    done: u64,
    total: u64,
    counting: &'static str,
    place: String,
}

impl Copies {
    fn message(&self) -> String {
        let mut m = format!(
            "{}/{} {}",
            thousands(self.done as usize),
            thousands(self.total as usize),
            self.counting
        );
        if !self.place.is_empty() {
            m.push_str(" · ");
            m.push_str(&self.place);
        }
        m
    }
}

/// The last `max` characters of `s`, with `…` in front when cut.
fn tail_chars(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - max + 1));
    out
}

impl Progress {
    /// A progress display, shown only if `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>10} {human_pos} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress {
            bar: Some(bar),
            copies: Arc::default(),
        }
    }

    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            copies: Arc::default(),
        }
    }

    fn copies(&self) -> std::sync::MutexGuard<'_, Copies> {
        self.copies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a stage counting copies and bytes: the bar shows the bytes (and the time
    /// left from them), the message the copies and the store being worked on.
    pub fn stage_bytes(
        &self,
        prefix: &'static str,
        counting: &'static str,
        total: u64,
        bytes: u64,
    ) {
        let Some(b) = &self.bar else {
            return;
        };
        let msg = {
            let mut c = self.copies();
            *c = Copies {
                total,
                counting,
                ..Copies::default()
            };
            c.message()
        };
        b.set_style(
            ProgressStyle::with_template(
                // The message last, cut to the terminal's width: never a wrapped line.
                "{prefix:>10} [{bar:20}] {binary_bytes}/{binary_total_bytes} eta {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_prefix(prefix);
        b.set_position(0);
        b.set_length(bytes);
        b.set_message(msg);
    }

    pub fn advance_bytes(&self, n: u64, bytes: u64) {
        let Some(b) = &self.bar else {
            return;
        };
        let msg = {
            let mut c = self.copies();
            c.done += n;
            c.message()
        };
        b.set_message(msg);
        b.inc(bytes);
    }

    pub fn at(&self, place: &str) {
        let Some(b) = &self.bar else {
            return;
        };
        let msg = {
            let mut c = self.copies();
            c.place = tail_chars(&escape(place), 30);
            c.message()
        };
        b.set_message(msg);
    }

    /// Starts a new stage: `prefix` names it, `msg` says what is counted.
    pub fn stage(&self, prefix: &'static str, msg: &'static str, total: Option<u64>) {
        if let Some(b) = &self.bar {
            b.set_prefix(prefix);
            b.set_message(msg);
            b.set_position(0);
            b.set_length(total.unwrap_or(0));
            if total.is_some() {
                b.set_style(
                    ProgressStyle::with_template("{prefix:>10} [{bar:30}] {human_pos}/{human_len} {msg} [{elapsed}, eta {eta}]")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
            }
        }
    }

    /// Runs `f` (which prints) with the bar cleared, then draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Is the bar drawn at all (stderr a terminal, and enabled)?
    pub fn shown(&self) -> bool {
        self.bar.is_some()
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The command line's observer: the bar (on a terminal) and warnings on stderr, printed
/// above the bar so it is not torn.
impl Observer for Progress {
    fn stage(&self, name: &'static str, counting: &'static str, total: Option<u64>) {
        Progress::stage(self, name, counting, total);
    }

    fn advance(&self, n: u64) {
        self.inc(n);
    }

    fn stage_bytes(&self, name: &'static str, counting: &'static str, total: u64, bytes: u64) {
        Progress::stage_bytes(self, name, counting, total, bytes);
    }

    fn advance_bytes(&self, n: u64, bytes: u64) {
        Progress::advance_bytes(self, n, bytes);
    }

    fn at(&self, place: &str) {
        Progress::at(self, place);
    }

    fn finish(&self) {
        Progress::finish(self);
    }

    /// Facts of the run (how many IMAP commands a scan sent): on stderr, above the bar.
    fn info(&self, message: &str) {
        let line = format!("maildedup: {}", escape(message));
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn warn(&self, message: &str) {
        let line = format!("maildedup: warning: {}", escape(message));
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
