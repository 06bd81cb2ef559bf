//! The sans-IO core a runtime drives. No I/O, no clock, no OS randomness.

pub mod isn;
pub mod ports;
pub mod rand;
pub mod timer;
