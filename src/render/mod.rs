//! Output, all of it: the JSON report and its text summary, the HTML page, the forensics
//! chart, the per-store table, the plan view, and the styling and terminal helpers they
//! share. Renderers take data and return text; the CLI decides where it goes.

pub mod chart;
pub mod html;
pub mod perstore;
pub mod plan_view;
pub mod report;
pub mod style;
pub mod term;
