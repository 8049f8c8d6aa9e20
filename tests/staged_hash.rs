//! The staged fingerprint (bodies read only for copies that can have a duplicate) must
//! give exactly the report that hashing every body gives.

mod common;

use common::{md_cmd, repo};
use serde_json::Value;

// `--no-cache`: the fixtures are scanned in place, and regenerating them rewrites
// Maildir files under the same names, which the cache would trust (tests/cache.rs covers
// the cache on copies of them).
fn scan(args: &[&str]) -> Value {
    let out = md_cmd()
        .current_dir(repo())
        .arg("scan")
        .arg("--json")
        .arg("--no-cache")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn staged_equals_hash_everything() {
    let paths = ["tests/fixtures/cases", "tests/fixtures/real", "demo"];
    let staged = scan(&paths);
    let mut all_args = vec!["--hash-all"];
    all_args.extend(paths);
    let full = scan(&all_args);
    assert!(staged["summary"]["groups"].as_u64().unwrap() > 10);
    assert_eq!(staged, full);
}

#[test]
fn message_counts_match_python_mailbox() {
    // Python's stdlib mailbox module is the reference reader. Deliberate difference: none
    // in these fixtures (see docs/discovery.md for the one in the shared corpus).
    let root = repo();
    let script = r#"
import mailbox, os, sys
total = 0
def is_mail(p):
    # A Maildir file is mail when it begins with a header field (or a From_ line and one).
    with open(p, 'rb') as fh: head = fh.read(4096)
    lines = head.replace(b'\r\n', b'\n').replace(b'\r', b'\n').split(b'\n', 2)
    first = (lines[1] if len(lines) > 1 else b'') if head.startswith(b'From ') else lines[0]
    name, colon, _ = first.partition(b':')
    name = name.rstrip(b' \t')
    return colon == b':' and len(name) > 0 and all(33 <= c <= 126 for c in name)
for top in sys.argv[1:]:
    for dirpath, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ('cur', 'new', 'tmp')]
        if os.path.isdir(os.path.join(dirpath, 'cur')) or os.path.isdir(os.path.join(dirpath, 'new')):
            for sub in ('cur', 'new'):
                p = os.path.join(dirpath, sub)
                if os.path.isdir(p):
                    total += sum(1 for f in os.listdir(p) if not f.startswith('.') and os.path.isfile(os.path.join(p, f)) and not os.path.islink(os.path.join(p, f)) and os.path.getsize(os.path.join(p, f)) > 0 and is_mail(os.path.join(p, f)))
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p) or os.path.basename(dirpath) in ('cur', 'new', 'tmp'):
                continue
            with open(p, 'rb') as fh:
                head = fh.read(4096).lstrip(b'\xef\xbb\xbf').lstrip(b' \t\r\n')
            if head.startswith(b'From '):
                total += len(mailbox.mbox(p, create=False))
print(total)
"#;
    let Ok(out) = std::process::Command::new("python3")
        .current_dir(root)
        .args(["-c", script, "tests/fixtures/real", "demo"])
        .output()
    else {
        println!("skipped: python3 not available");
        return;
    };
    let py: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let ours = scan(&["tests/fixtures/real", "demo"])["summary"]["messages"]
        .as_u64()
        .unwrap();
    assert_eq!(ours, py);
}

#[test]
fn big_maildir_duplicates_are_found() {
    // Files of 256 KiB and more are memory-mapped in stage 2: make sure that path groups.
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let mut body = String::new();
    while body.len() < 600 * 1024 {
        body.push_str("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n");
    }
    let msg = |rcvd: &str| {
        format!(
            "Received: {rcvd}\nFrom: a@example.com\nSubject: big\nMessage-ID: <big@example.com>\n\n{body}"
        )
    };
    std::fs::write(md.join("cur/1700000000.M1P1.host:2,S"), msg("by a")).unwrap();
    std::fs::write(md.join("cur/1700086400.M2P2.host:2,S"), msg("by b")).unwrap();
    // A different big message with the same Message-ID: a conflict, not a duplicate.
    std::fs::write(
        md.join("cur/1700090000.M3P3.host:2,"),
        msg("by c").replace("big\n", "big!\n"),
    )
    .unwrap();
    let p = md.to_str().unwrap();
    let staged = scan(&[p]);
    assert_eq!(staged["summary"]["groups"], 1);
    assert_eq!(staged["summary"]["conflicts"], 1);
    assert_eq!(staged["groups"][0]["copies"][1]["class"], "different-time");
    assert_eq!(staged, scan(&["--hash-all", p]));
}
