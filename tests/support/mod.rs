//! Shared support for integration tests: one moto server per test binary ([`moto`]), SQS queue
//! helpers ([`queues`]), job files ([`jobfiles`]), example worker fleets ([`fleet`]), command
//! pools' logging scripts ([`command_pool`]) and failure-injecting sinks ([`sinks`]); the
//! counting, fault-injecting proxy ([`proxy`], with
//! its [`faults`], HTTP plumbing in [`relay`] and its EC2 [`ledger`]); and the fault matrix's
//! harness: its faults ([`matrix_faults`]), one cell ([`cell`]) with an in-process worker
//! [`farm`] (its workers in [`farm_worker`]) and the service's tick history ([`ticks`]), and
//! the [`invariants`] checked after each cell. Each test binary uses only part of it.
#![allow(dead_code)]

pub mod agents;
pub mod cell;
pub mod command_pool;
pub mod farm;
pub mod farm_worker;
pub mod faults;
pub mod fleet;
pub mod front;
pub mod invariants;
pub mod jobfiles;
pub mod leases;
pub mod ledger;
pub mod matrix_faults;
pub mod moto;
pub mod proxy;
pub mod queues;
pub mod relay;
pub mod service;
pub mod sinks;
pub mod ticks;
pub mod workers;

/// Held by a test that times real processes against wall-clock deadlines (lease takeover,
/// SIGKILL restarts, the fault matrix) so that no other such test in the same binary runs
/// beside it: on a 2-core machine two of them at once starve each other's deadlines.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until no other `alone` test runs, then holds the machine until the guard drops.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    ALONE.lock().await
}
