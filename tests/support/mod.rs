//! Shared support for integration tests: one moto server per test binary ([`moto`]), SQS queue
//! helpers ([`queues`]), job files ([`jobfiles`]), example worker fleets ([`fleet`]) and failure-injecting sinks ([`sinks`]). Each
//! test binary uses only part of it.
#![allow(dead_code)]

pub mod fleet;
pub mod jobfiles;
pub mod leases;
pub mod moto;
pub mod proxy;
pub mod queues;
pub mod service;
pub mod sinks;
pub mod workers;
