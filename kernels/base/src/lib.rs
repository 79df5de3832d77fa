//! Leaf utilities shared by every kernel and engine of worldflow. No dependencies, no I/O, no clock.
//!
//! - [`rng`]: the one seeded random generator of the workspace (splitmix64) and stateless key hashing;
//!   the same seed gives the same stream on every machine.
//! - [`cpu`]: the one place that asks the CPU which SIMD paths may run.
//! - [`DisjointWriter`]: parallel tasks writing disjoint parts of one buffer.

pub mod cpu;
mod disjoint;
pub mod rng;

pub use disjoint::DisjointWriter;
pub use rng::SplitMix64;
