//! Cinder's domain: aggregates, commands, events and the errors that refuse commands.
//!
//! Everything here is pure. Aggregates decide from their own state and the command; the only
//! outside fact they need, the time, comes in through [`Clock`] so tests can fix it.

pub mod bookmarks;
pub mod chat;
mod clock;
pub mod drops;
mod fingerprint;
pub mod polls;
pub mod todos;

pub use clock::Clock;
pub(crate) use fingerprint::fingerprint;

/// A command refusal that a user can act on: which field it concerns and, through `Display`,
/// what to tell them. The web layer turns it into `{"errors": {field: [message]}}` or a message
/// shown next to the form.
pub trait Rejection: std::error::Error {
    /// The name of the form field (or command parameter) the refusal is about.
    fn field(&self) -> &'static str;

    /// Every (field, message) the refusal is made of; one, unless a command checks several
    /// fields at once.
    fn errors(&self) -> Vec<(&'static str, String)> {
        vec![(self.field(), self.to_string())]
    }
}

/// Every broken rule of a command that checks several fields at once, in field order: each a
/// field and what is wrong with it ("title", "can't be blank"). Shown as one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    /// The first field with a problem, or `fallback` if there is none.
    pub fn first_field(&self, fallback: &'static str) -> &'static str {
        self.0.first().map_or(fallback, |(field, _)| field)
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, (field, message)) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field} {message}")?;
        }
        Ok(())
    }
}

/// `event` as the current version of its type: every upcaster that applies, in order.
/// (cqrs-es does this inside its own stores only; Cinder's cache and projections need it too.)
pub fn upcast(
    event: cqrs_es::persist::SerializedEvent,
    upcasters: &[Box<dyn cqrs_es::persist::EventUpcaster>],
) -> cqrs_es::persist::SerializedEvent {
    upcasters.iter().fold(event, |event, upcaster| {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            upcaster.upcast(event)
        } else {
            event
        }
    })
}
