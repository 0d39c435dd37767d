//! The projection runner: this node's tail of the global log, feeding every projection.

mod runner;

pub use runner::{Progress, ProjectionRunner, RunError};
