//! `spillway run` end to end against moto on loopback: scaling, batch, command pools, HTTP, the heartbeat registry, pause, state file, leases, the worker agent and the moto harness itself.
//!
//! One test binary for the area; each module is one file of specifications.

#[path = "../support/mod.rs"]
mod support;

mod deploy;
mod job_classes;
mod lease;
mod moto_harness;
mod record_replay;
mod registry;
mod service;
mod service_backfill;
mod service_command;
mod service_http;
mod service_http_reports;
mod service_pause;
mod service_startup;
mod service_state;
mod worker_agent;
mod worker_fleet;
mod zones;
