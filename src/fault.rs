//! Fault injection for the crash-safety tests, compiled only with the `fault-injection`
//! feature. Every step of a destructive path calls [`point`]; with
//! `MAILDEDUP_FAULT_AT=N` the process kills itself with SIGKILL at the N-th point it
//! reaches, and with `MAILDEDUP_FAULT_COUNT=1` it prints how many points a run reached.
//! With `MAILDEDUP_FAULT_PAUSE_AT=NAME` (or `NAME@K`) it sleeps
//! `MAILDEDUP_FAULT_PAUSE_SECS` (default 3) seconds the first (or K-th) time it reaches
//! the point named NAME, so a test can act while the run is in the middle of its work.
//! Without the feature, `point` is an empty inline function.

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);

    static PAUSE_HITS: AtomicU64 = AtomicU64::new(0);

    /// Is this the hit of `name` that `MAILDEDUP_FAULT_PAUSE_AT` names?
    fn pause_here(name: &str) -> bool {
        let Ok(spec) = std::env::var("MAILDEDUP_FAULT_PAUSE_AT") else {
            return false;
        };
        let (at, k) = match spec.split_once('@') {
            Some((a, k)) => (a.to_string(), k.parse::<u64>().unwrap_or(1)),
            None => (spec, 1),
        };
        at == name && PAUSE_HITS.fetch_add(1, Ordering::SeqCst) + 1 == k
    }

    pub fn point(name: &str) {
        let n = HITS.fetch_add(1, Ordering::SeqCst) + 1;
        if pause_here(name) {
            let secs = std::env::var("MAILDEDUP_FAULT_PAUSE_SECS")
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(3.0);
            eprintln!("fault-injection: pausing {secs} s at {name}");
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.clamp(0.0, 600.0)));
        }
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
