//! The projection runner: this node's tail of the global log, feeding every projection.
//!
//! - [`runner`]: the runner and its registered projections (versions, checkpoints, resets);
//! - [`tail`]: the live tail, which applies new events as they are appended and announces what
//!   they change;
//! - [`rebuild`]: the rebuild pipeline, which folds the whole log into some projections fast,
//!   announcing nothing;
//! - [`registered`]: a projection's trees and checkpoint, and the one-transaction batch both use;
//! - [`progress`]: how far the projections have got (read-your-writes).

mod progress;
mod rebuild;
mod registered;
mod runner;
mod tail;
#[cfg(test)]
mod tests;

pub use progress::Progress;
pub use runner::{ProjectionRunner, RunError};
