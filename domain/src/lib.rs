//! Cinder's domain: aggregates, commands, events and the errors that refuse commands.
//!
//! Everything here is pure. Aggregates decide from their own state and the command; the only
//! outside fact they need, the time, comes in through [`Clock`] so tests can fix it.

pub mod chat;
mod clock;

pub use clock::Clock;

/// A command refusal that a user can act on: which field it concerns and, through `Display`,
/// what to tell them. The web layer turns it into `{"errors": {field: [message]}}` or a message
/// shown next to the form.
pub trait Rejection: std::error::Error {
    /// The name of the form field (or command parameter) the refusal is about.
    fn field(&self) -> &'static str;
}
