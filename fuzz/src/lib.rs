//! ringtcp's fuzz harnesses, shared by the fuzz targets in `fuzz_targets/`
//! and, through `#[path]` modules, by `tests/fuzz_harness.rs` in the main
//! crate (which replays crash inputs and writes the seed corpora).
//!
//! - [`wire_checks`]: the `ipv4`, `tcp` and `icmp` targets.
//! - [`stack_harness`]: the `stack` target.
//! - [`seeds`]: every target's seed corpus, made from real traffic.

pub mod seeds;
pub mod stack_harness;
pub mod wire_checks;
