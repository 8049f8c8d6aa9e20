//! Cross-checks with Python's `mailbox` module (skipped when there is no python3).
#![allow(dead_code)]

use std::collections::BTreeMap;

/// Runs a Python snippet with `python3`; `None` (with the reason printed) when there is no
/// usable python3.
pub fn python(script: &str, args: &[String]) -> Option<String> {
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped the Python mailbox check: cannot run python3: {e}");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "python3 failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Message counts of each store as Python's `mailbox` module reads them (`mailbox.Maildir`
/// where the folder has both `cur/` and `new/`, otherwise the files in `cur/`/`new/` are
/// counted; `mailbox.mbox` for mbox files). Keys are the paths given.
pub const PY_COUNT: &str = r#"
import json, mailbox, os, sys
out = {}
for spec in sys.argv[1:]:
    kind, path = spec.split(":", 1)
    if kind == "maildir":
        if os.path.isdir(os.path.join(path, "cur")) and os.path.isdir(os.path.join(path, "new")):
            box = mailbox.Maildir(path, factory=None, create=False)
            n = 0
            for key in box.keys():
                box.get_bytes(key)
                n += 1
        else:
            n = sum(len([f for f in os.listdir(os.path.join(path, d)) if not f.startswith(".")])
                    for d in ("cur", "new") if os.path.isdir(os.path.join(path, d)))
    else:
        box = mailbox.mbox(path, create=False)
        n = 0
        for key in box.keys():
            box.get_bytes(key)
            n += 1
        box.close()
    out[path] = n
print(json.dumps(out))
"#;

pub fn python_counts(stores: &[(String, String)]) -> Option<BTreeMap<String, u64>> {
    let args: Vec<String> = stores.iter().map(|(k, p)| format!("{k}:{p}")).collect();
    let text = python(PY_COUNT, &args)?;
    let v: BTreeMap<String, u64> = serde_json::from_str(text.trim()).expect("python JSON");
    Some(v)
}
