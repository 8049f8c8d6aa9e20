//! maildedup: find duplicate messages in Maildir and mbox stores and move the extras aside
//! without ever losing one.
//!
//! The data flow, one module per step:
//! [`discover`] → [`read`] → [`fingerprint`] (driven by [`scan`]) → [`group`] →
//! [`report`] (with [`conflict`] explaining conflicts).

pub mod cli;
pub mod conflict;
pub mod discover;
pub mod fault;
pub mod fingerprint;
pub mod fsutil;
pub mod group;
pub mod lock;
pub mod manifest;
pub mod message;
pub mod plan;
pub mod progress;
pub mod quarantine;
pub mod read;
pub mod report;
pub mod restore;
pub mod scan;
pub mod term;
