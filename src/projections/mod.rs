//! The projection runner: this node's tail of the global log, feeding every projection.
//!
//! - [`runner`]: the runner and its registered projections (versions, checkpoints, resets);
//! - [`tail`]: the live tail, which applies new events as they are appended and announces what
//!   they change;
//! - [`rebuild`]: the rebuild pipeline, which folds the whole log into some projections fast,
//!   announcing nothing;
//! - [`registered`]: a projection's trees and checkpoint, and the one-transaction batch both use;
//! - [`progress`]: how far the projections have got;
//! - [`read_your_writes`]: the one wait between a command and the answer to its sender.

mod progress;
mod read_your_writes;
mod rebuild;
mod registered;
mod runner;
mod tail;
#[cfg(test)]
mod tests;

pub use progress::Progress;
pub use read_your_writes::READ_YOUR_WRITES;
pub use runner::{ProjectionRunner, RunError};
pub use tail::{Logged, LOG_TOPIC};
