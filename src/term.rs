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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain <id@host> ü"), "plain <id@host> ü");
        assert_eq!(escape("a\x1b[31mred\r\nb\t"), "a\\x1b[31mred\\r\\nb\\t");
        assert_eq!(escape("\x00\x7f\u{85}"), "\\x00\\x7f\\x85");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert!(!escape("x\u{9b}31m").contains('\u{9b}'));
    }
}
