//! The simulator, `compare` and `tune`: fault scenarios, the short-jobs headline, the comparison as a specification.
//!
//! One test binary for the area; each module is one file of specifications.

#[path = "../farm/mod.rs"]
mod farm;

mod caps;
mod classes;
mod cli;
mod compare;
mod protocol;
mod short_jobs;
mod sim_faults;
mod tune;
