//! Colour on the terminal: only when the stream is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>), for the human summary and clap's own help alike.

use clap::builder::styling::{AnsiColor, Effects, Style, Styles};
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

/// When to colour: `--color auto|always|never`, as ripgrep, fd and git spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour on a terminal, unless `NO_COLOR` is set or `TERM` is `dumb`.
    #[default]
    Auto,
    /// Colour even into a pipe or a file (e.g. for `less -R`).
    Always,
    /// Never colour.
    Never,
}

impl ColorWhen {
    /// Whether a stream that `is_terminal` says is (or is not) a terminal gets colour.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            ColorWhen::Auto => allowed(is_terminal),
            ColorWhen::Always => true,
            ColorWhen::Never => false,
        }
    }

    /// The same choice for clap's help and error messages.
    pub fn clap(self) -> clap::ColorChoice {
        match self {
            ColorWhen::Auto => clap::ColorChoice::Auto,
            ColorWhen::Always => clap::ColorChoice::Always,
            ColorWhen::Never => clap::ColorChoice::Never,
        }
    }
}

/// Paints text with ANSI styles (anstyle), or leaves it as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// No escapes at all.
    pub fn plain() -> Paint {
        Paint { on: false }
    }

    /// Colour on stdout as `when` says.
    pub fn stdout(when: ColorWhen) -> Paint {
        Paint {
            on: when.enabled(std::io::stdout().is_terminal()),
        }
    }

    /// Colour regardless of the environment (tests).
    pub fn always() -> Paint {
        Paint { on: true }
    }

    fn wrap(self, style: Style, s: &str) -> String {
        if self.on {
            format!("{style}{s}{style:#}")
        } else {
            s.to_string()
        }
    }

    /// A section heading.
    pub fn heading(self, s: &str) -> String {
        self.wrap(Style::new().effects(Effects::BOLD), s)
    }

    /// A class name (`same-time`, `different-time`, `mixed`), padded to `width` first so
    /// that columns stay aligned.
    pub fn class(self, s: &str, width: usize) -> String {
        let padded = format!("{s:<width$}");
        let colour = match s {
            "same-time" => AnsiColor::Green,
            "different-time" => AnsiColor::Yellow,
            "mixed" => AnsiColor::Magenta,
            _ => return padded,
        };
        self.wrap(colour.on_default(), &padded)
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
        assert!(ColorWhen::Always.enabled(false));
        assert!(!ColorWhen::Never.enabled(true));
    }
}
