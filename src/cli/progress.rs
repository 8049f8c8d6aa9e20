//! Progress on stderr, only when stderr is a terminal (never in cron mail or pipes).

use crate::observe::Observer;
use crate::render::term::escape;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress display, shown only if `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>10} {human_pos} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress { bar: Some(bar) }
    }

    pub fn hidden() -> Progress {
        Progress { bar: None }
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
