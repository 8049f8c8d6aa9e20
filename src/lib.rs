//! maildedup: find duplicate messages in Maildir and mbox stores and move the extras aside
//! without ever losing one.
//!
//! The data flow, one module per step:
//! [`discover`] → [`read`] → [`fingerprint`] (driven by [`scan`]) → [`group`] →
//! [`report`] (with [`conflict`] explaining conflicts).

pub mod cli;
pub mod conflict;
pub mod discover;
pub mod fingerprint;
pub mod group;
pub mod message;
pub mod progress;
pub mod read;
pub mod report;
pub mod scan;
