//! Helpers shared by the integration tests, one file a purpose:
//! - [`run`]: running the binary, always with the same environment (no user config, the
//!   tests' own cache folder, no fault injection);
//! - [`fixtures`]: the repo's fixtures, copying store trees, small generated stores;
//! - [`snapshot`]: byte-exact snapshots of a tree and the check that no message was lost;
//! - [`manifest`]: reading a quarantine folder's manifest and files;
//! - [`mbox`]: byte helpers for mbox text;
//! - [`python`]: cross-checks with Python's `mailbox` module;
//! - [`mounts`]: tmpfs and bind mounts (root only).
//!
//! Everything is re-exported here, so a test file says `mod common; use common::*;`.
//! `incidents.rs` (generated stores for the forensics tests) is included by path by the
//! files that use it.
#![allow(dead_code, unused_imports)]

pub mod fixtures;
pub mod manifest;
pub mod mbox;
pub mod mounts;
pub mod python;
pub mod run;
pub mod snapshot;

pub use fixtures::*;
pub use manifest::*;
pub use mbox::*;
pub use mounts::*;
pub use python::*;
pub use run::*;
pub use snapshot::*;
