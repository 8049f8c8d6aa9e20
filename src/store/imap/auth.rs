//! Where an IMAP password comes from, never the command line: a password command
//! (`--imap-pass-cmd`, like mbsync's `PassCmd`), else the environment variable
//! `MAILDEDUP_IMAP_PASSWORD`, else `~/.netrc` (`machine HOST login USER password PW`).

use super::url::ImapUrl;
use std::path::Path;

/// The environment variable holding the password.
pub const PASSWORD_ENV: &str = "MAILDEDUP_IMAP_PASSWORD";

/// The password for `url`'s account, or why there is none. The error never contains
/// the password.
pub fn password(url: &ImapUrl, pass_cmd: Option<&str>) -> Result<String, String> {
    if let Some(cmd) = pass_cmd {
        return run_pass_cmd(cmd);
    }
    if let Ok(pw) = std::env::var(PASSWORD_ENV) {
        return Ok(pw);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let netrc = Path::new(&home).join(".netrc");
        if let Ok(text) = std::fs::read_to_string(&netrc) {
            if let Some(pw) = from_netrc(&text, &url.host, &url.user) {
                return Ok(pw);
            }
        }
    }
    Err(format!(
        "{}: no password: set {PASSWORD_ENV}, give --imap-pass-cmd CMD (or imap_pass_cmd \
         in the config file), or add `machine {} login {} password ...` to ~/.netrc",
        url.account(),
        url.host,
        url.user
    ))
}

/// Runs `cmd` with `sh -c`; its first line of output is the password.
fn run_pass_cmd(cmd: &str) -> Result<String, String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("--imap-pass-cmd: cannot run sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("--imap-pass-cmd failed ({})", out.status));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| "--imap-pass-cmd: output is not UTF-8".to_string())?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err("--imap-pass-cmd printed no password".to_string());
    }
    Ok(line.to_string())
}

/// The password of the first `machine HOST` entry with `login USER` (or without a
/// login), then of a `default` entry.
pub fn from_netrc(text: &str, host: &str, user: &str) -> Option<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    let mut fallback = None;
    while i < tokens.len() {
        let (matches, start) = match tokens[i] {
            "machine" => (tokens.get(i + 1) == Some(&host), i + 2),
            "default" => (true, i + 1),
            _ => {
                i += 1;
                continue;
            }
        };
        let is_default = tokens[i] == "default";
        let mut j = start;
        let (mut login, mut pw) = (None, None);
        while j < tokens.len() && tokens[j] != "machine" && tokens[j] != "default" {
            match tokens[j] {
                "login" => login = tokens.get(j + 1).copied(),
                "password" => pw = tokens.get(j + 1).copied(),
                _ => {}
            }
            j += if matches!(tokens[j], "login" | "password" | "account") {
                2
            } else {
                1
            };
        }
        if matches && login.is_none_or(|l| l == user) {
            if let Some(pw) = pw {
                if !is_default {
                    return Some(pw.to_string());
                }
                fallback.get_or_insert(pw.to_string());
            }
        }
        i = j;
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::from_netrc;

    #[test]
    fn netrc_entries() {
        let t = "machine a login u password p1\nmachine b login x password no\n\
                 machine b login u password p2\ndefault login u password d";
        assert_eq!(from_netrc(t, "a", "u").as_deref(), Some("p1"));
        assert_eq!(from_netrc(t, "b", "u").as_deref(), Some("p2"));
        assert_eq!(from_netrc(t, "c", "u").as_deref(), Some("d"));
        assert_eq!(from_netrc("machine a login v password p", "a", "u"), None);
    }
}
