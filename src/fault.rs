//! Fault injection for the crash-safety tests, compiled only with the `fault-injection`
//! feature. Every step of a destructive path calls [`point`]; with
//! `MAILDEDUP_FAULT_AT=N` the process kills itself with SIGKILL at the N-th point it
//! reaches, and with `MAILDEDUP_FAULT_COUNT=1` it prints how many points a run reached.
//! Without the feature, `point` is an empty inline function.

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);

    pub fn point(name: &str) {
        let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(at) = std::env::var("MAILDEDUP_FAULT_AT") {
            if at.parse::<u64>().ok() == Some(n) {
                eprintln!("fault-injection: SIGKILL at point {n} ({name})");
                let _ = rustix::process::kill_process(
                    rustix::process::getpid(),
                    rustix::process::Signal::KILL,
                );
            }
        }
    }

    pub fn report() {
        if std::env::var_os("MAILDEDUP_FAULT_COUNT").is_some() {
            eprintln!("fault-injection: {} points", HITS.load(Ordering::SeqCst));
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{point, report};

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn report() {}
