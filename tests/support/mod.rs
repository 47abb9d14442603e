//! Shared support for integration tests: one moto server per test binary ([`moto`]), SQS queue
//! helpers ([`queues`]), job files ([`jobfiles`]), example worker fleets ([`fleet`]) and
//! failure-injecting sinks ([`sinks`]); the counting, fault-injecting proxy ([`proxy`], with
//! its [`faults`], HTTP plumbing in [`relay`] and its EC2 [`ledger`]). Each test binary uses
//! only part of it.
#![allow(dead_code)]

pub mod faults;
pub mod fleet;
pub mod jobfiles;
pub mod ledger;
pub mod moto;
pub mod proxy;
pub mod queues;
pub mod relay;
pub mod service;
pub mod sinks;
pub mod workers;
