//! `spillway backfill`: submission against moto, the CLI, and property tests of its pure parts.
//!
//! One test binary for the area; each module is one file of specifications.

#[path = "../support/mod.rs"]
mod support;

mod backfill;
mod backfill_cli;
mod backfill_props;
