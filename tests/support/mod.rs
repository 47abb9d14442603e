//! Shared support for integration tests: one moto server per test binary ([`moto`]) and SQS
//! queue helpers ([`queues`]). Each test binary uses only part of it.
#![allow(dead_code)]

pub mod moto;
pub mod queues;
