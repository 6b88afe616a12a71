//! TCP: sequence arithmetic and the per-direction assembler that turns segments into in-order
//! bytes and gaps.

mod assembler;

pub use assembler::{Assembler, AssemblerStats, Budget, Meta, Sink};
