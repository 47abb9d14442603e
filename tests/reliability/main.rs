//! The service under faults: SIGKILL restarts, the fault matrix, safety with injected AWS errors, forged heartbeats, a connection flood, two replicas with a lease.
//!
//! One test binary for the area; each module is one file of specifications.

#[path = "../support/mod.rs"]
mod support;

mod busy_restarts;
mod busy_world;
mod connection_flood;
mod crash_restart;
mod forged_workers;
mod idle_timer;
mod service_forged;
mod service_ha;
mod service_matrix;
mod service_safety;
