//! Writes a store with every kind of incident maildedup's forensics recognise (see
//! `tests/common/incidents.rs`): `cargo run --example gen_incidents -- DIR` (the bursts
//! under `DIR/Maildir` and `DIR/fetched.mbox`, a rate incident under `DIR/steady`).
//! Then: `maildedup scan DIR` or `maildedup scan --html report.html DIR`.

#[path = "../tests/common/incidents.rs"]
mod gen;

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: gen_incidents DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    if dir.exists() {
        eprintln!("{}: already exists; give a new folder", dir.display());
        std::process::exit(2);
    }
    gen::incident_store(&dir);
    // A second mailbox where a procmail `c` recipe doubled every delivery for 4 hours:
    // a rate incident, not a burst.
    gen::steady_doubling_store(&dir.join("steady"));
    println!("wrote {}", dir.display());
}
