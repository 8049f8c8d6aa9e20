//! maildedup: find duplicate messages in Maildir and mbox stores and move the extras aside
//! without ever losing one.
//!
//! The data flow, one module per step:
//! [`discover`] → [`read`] → [`fingerprint`] (driven by [`scan`]) → [`group`] →
//! [`report`] (with [`conflict`] explaining conflicts).

pub mod cache;
pub mod cli;
pub mod config;
pub mod conflict;
pub mod discover;
pub mod fault;
pub mod fingerprint;
pub mod forensics;
pub mod fsutil;
pub mod group;
pub mod html;
pub mod lock;
pub mod manifest;
pub mod mbox_edit;
pub mod message;
pub mod perstore;
pub mod plan;
pub mod plan_view;
pub mod progress;
pub mod quarantine;
pub mod read;
pub mod report;
pub mod restore;
pub mod runlog;
pub mod scan;
pub mod style;
pub mod term;
