//! How the library tells its caller what a long run is doing: stages and progress, and
//! warnings that do not stop the run (a cache that cannot be used, say). The library never
//! prints; the command line implements [`Observer`] (a progress bar on a terminal, warnings
//! on stderr) and a library caller may implement it any way, or pass [`Silent`].

/// Receives progress and warnings. Every method has a default that ignores the call.
pub trait Observer: Sync {
    /// A new stage begins: `name` names it ("reading"), `counting` says what is counted
    /// ("messages"), `total` is how many there will be when that is known.
    fn stage(&self, _name: &'static str, _counting: &'static str, _total: Option<u64>) {}
    /// `n` more items of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// A new stage that moves copies of a known total size (`quarantine`, `restore`):
    /// progress counts both, and the time left follows the bytes. By default, a
    /// [`Observer::stage`] counting the copies.
    fn stage_bytes(&self, name: &'static str, counting: &'static str, total: u64, bytes: u64) {
        let _ = bytes;
        self.stage(name, counting, Some(total));
    }
    /// `n` more copies of `bytes` bytes in all are done (a [`Observer::stage_bytes`]
    /// stage). By default, [`Observer::advance`] by `n`.
    fn advance_bytes(&self, n: u64, bytes: u64) {
        let _ = bytes;
        self.advance(n);
    }
    /// The stage now works on `place` (a store's path, as text).
    fn at(&self, _place: &str) {}
    /// The run is over: clear whatever was shown.
    fn finish(&self) {}
    /// Something went wrong that the run works around (it goes on without the cache,
    /// say). `message` is plain text; it may name a path.
    fn warn(&self, _message: &str) {}
    /// A fact about the run worth showing on request (with `-v`): how many IMAP commands
    /// were sent, say.
    fn info(&self, _message: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {}
