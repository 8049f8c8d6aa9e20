//! Escaping text that came from messages or file names before it reaches a terminal.
//!
//! A Message-ID is a string someone else chose, and a file name can hold any byte but `/`
//! and NUL: printed raw, `\x1b[...` sequences would recolour or rewrite the user's
//! terminal, `\r` would overwrite a line and a newline would forge one. Every field the
//! human output prints from such a source goes through [`escape`]. JSON output needs
//! nothing more: serde_json already escapes control characters.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Is `c` a character that must not reach a terminal raw: C0 controls (line breaks and
/// tabs included), DEL, C1 controls, and the Unicode bidirectional overrides and isolates
/// that reorder what is displayed?
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every character that could control a terminal written as an escape
/// (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`), so it prints as one inert line.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A path for the terminal: lossy UTF-8, then [`escape`]d.
pub fn path(p: &std::path::Path) -> String {
    escape(&p.to_string_lossy()).into_owned()
}

/// `line` broken at spaces so that no piece is wider than `width` columns (counted in
/// chars), each continuation indented by `indent` spaces. A word longer than the width
/// stays whole on its own line: paths are never cut in the middle.
pub fn wrap(line: &str, width: usize, indent: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let lead = line.len() - line.trim_start().len();
    let mut out = String::with_capacity(line.len() + 16);
    out.push_str(&line[..lead]);
    let mut col = lead;
    let mut first = true;
    for word in line[lead..].split(' ') {
        let w = word.chars().count();
        if !first && col + 1 + w > width && col > indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
            col = indent;
        } else if !first {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        first = false;
    }
    out
}

/// The width of the terminal on stdout, if stdout is one.
pub fn stdout_width() -> Option<usize> {
    let stdout = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&stdout) {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|w| w.ws_col as usize)
        .filter(|&w| w >= 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_never_inside_a_word() {
        let line = "  1. 2024-01-01 10:00 to 2024-01-01 11:00 UTC: 400 extra copies in /var/vmail/example.com/alice/Maildir/.folders";
        let w = wrap(line, 40, 5);
        for l in w.lines() {
            assert!(l.chars().count() <= 40 || !l.trim().contains(' '), "{l:?}");
        }
        assert_eq!(w.replace("\n     ", " "), line);
        assert!(w.contains("/var/vmail/example.com/alice/Maildir/.folders"));
        assert_eq!(wrap("short", 40, 2), "short");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain <id@host> ü"), "plain <id@host> ü");
        assert_eq!(escape("a\x1b[31mred\r\nb\t"), "a\\x1b[31mred\\r\\nb\\t");
        assert_eq!(escape("\x00\x7f\u{85}"), "\\x00\\x7f\\x85");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert!(!escape("x\u{9b}31m").contains('\u{9b}'));
    }
}
