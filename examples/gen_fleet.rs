//! Writes a mail server of N mailboxes for `--each` (see `tests/common/fleet.rs`):
//! `cargo run --release --example gen_fleet -- DIR N [BURST_EVERY]` writes
//! `DIR/example.com/userNNNN/Maildir`; every BURST_EVERY-th mailbox (default 10; 0: none)
//! shares an alias burst in one hour. Then: `maildedup scan --each DIR/example.com/*/Maildir`.

#[path = "../tests/common/fleet.rs"]
mod fleet;
#[path = "../tests/common/incidents.rs"]
mod gen;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: gen_fleet DIR N [BURST_EVERY]");
        std::process::exit(2);
    };
    let every = args.get(2).and_then(|e| e.parse().ok()).unwrap_or(10);
    let dir = std::path::PathBuf::from(dir);
    if dir.exists() {
        eprintln!("{}: already exists; give a new folder", dir.display());
        std::process::exit(2);
    }
    fleet::write_fleet(&dir, n, every);
    println!(
        "wrote {n} mailboxes under {}",
        dir.join("example.com").display()
    );
}
