//! The types every stage shares.

pub mod pathser;
