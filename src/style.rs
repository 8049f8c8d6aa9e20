//! Colour on the terminal: only when the stream is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>), for the human summary and clap's own help alike.

use clap::builder::styling::{AnsiColor, Effects, Styles};
use std::io::IsTerminal;

/// Whether colour may be written to a stream that `is_terminal` says is (or is not) a
/// terminal: never when `NO_COLOR` is set to anything non-empty, nor for `TERM=dumb`.
pub fn allowed(is_terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    is_terminal && !no_color && !dumb
}

/// Clap's help and error colours (used only where [`allowed`] would allow them: clap's
/// `ColorChoice::Auto` applies the same rules).
pub const CLAP_STYLES: Styles = Styles::styled()
    .header(AnsiColor::Yellow.on_default().effects(Effects::BOLD))
    .usage(AnsiColor::Yellow.on_default().effects(Effects::BOLD))
    .literal(AnsiColor::Green.on_default())
    .placeholder(AnsiColor::Cyan.on_default())
    .error(AnsiColor::Red.on_default().effects(Effects::BOLD))
    .valid(AnsiColor::Green.on_default())
    .invalid(AnsiColor::Yellow.on_default());

/// Paints text with ANSI escapes, or leaves it as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// No escapes at all.
    pub fn plain() -> Paint {
        Paint { on: false }
    }

    /// Colour if stdout is a terminal and `NO_COLOR` is not set.
    pub fn stdout() -> Paint {
        Paint {
            on: allowed(std::io::stdout().is_terminal()),
        }
    }

    /// Colour regardless of the environment (tests).
    pub fn always() -> Paint {
        Paint { on: true }
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// A section heading.
    pub fn heading(self, s: &str) -> String {
        self.wrap("1", s)
    }

    /// A class name (`same-time`, `different-time`, `mixed`), padded to `width` first so
    /// that columns stay aligned.
    pub fn class(self, s: &str, width: usize) -> String {
        let padded = format!("{s:<width$}");
        let code = match s {
            "same-time" => "32",
            "different-time" => "33",
            "mixed" => "35",
            _ => return padded,
        };
        self.wrap(code, &padded)
    }

    /// Something that needs a look (conflicts, skipped files), when there is any.
    pub fn attention(self, s: &str) -> String {
        self.wrap("31", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_has_no_escapes_and_always_has() {
        assert_eq!(Paint::plain().heading("Conflicts:"), "Conflicts:");
        assert_eq!(Paint::plain().class("mixed", 7), "mixed  ");
        assert_eq!(Paint::always().heading("X"), "\x1b[1mX\x1b[0m");
        assert_eq!(
            Paint::always().class("same-time", 10),
            "\x1b[32msame-time \x1b[0m"
        );
        assert!(!allowed(false));
    }
}
