//! maildedup: find duplicate messages in Maildir and mbox stores and move the extras aside
//! without ever losing one.
//!
//! The data flow, one module per step:
//! [`store`] (discover and read stores) → [`identity`] (what makes two copies one message)
//! → [`scan`] (the two-stage pipeline, with [`cache`]) → [`group`] (groups, keepers,
//! conflicts) → [`forensics`] (incidents and causes) → [`act`] (plan, quarantine,
//! restore) and [`render`] (JSON, text, HTML) → [`cli`] (the only place that prints).
//! [`model`] holds the types they share.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod act;
pub mod cache;
pub mod cli;
pub(crate) mod fault;
pub mod forensics;
pub mod fsutil;
pub mod group;
pub mod identity;
pub mod model;
pub mod observe;
pub mod render;
pub mod scan;
pub mod store;
