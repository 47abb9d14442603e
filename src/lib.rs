//! spillway: an autoscaling controller for hybrid render farms.
//!
//! Render jobs wait in a queue; datacenter workers take them first and EC2 workers absorb the
//! overflow. spillway observes queue depth and worker state, decides (in one pure function) how
//! many EC2 workers should exist, and acts through idempotent providers.
//!
//! # Layout
//! See `docs/ARCHITECTURE.md` for the module map and how data flows between the seams.

pub mod aws;
pub mod backfill;
pub mod cli;
pub mod clock;
pub mod control;
pub mod heartbeat;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod service;
pub mod sim;
pub mod worker;
