//! The decide seam as a specification: named situations, the batch rules, the HPA test vectors, safety invariants over random observations, the runaway guards and command pools.
//!
//! One test binary for the area; each module is one file of specifications.

#[path = "../farm/mod.rs"]
mod farm;

mod batch_scaling;
mod classes;
mod command_pools;
mod control;
mod hpa_cases;
mod idle_timer;
mod invariants;
mod launch_ticks;
mod release;
mod restart;
mod runaway_guards;
mod totality;
mod wait_feedback;
