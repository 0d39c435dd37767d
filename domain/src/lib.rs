//! Cinder's domain: aggregates, commands, events and the errors that refuse commands.
//!
//! Everything here is pure. Aggregates decide from their own state and the command; the only
//! outside fact they need, the time, comes in through [`Clock`] so tests can fix it.

pub mod bookmarks;
pub mod chat;
mod clock;
pub mod drops;
mod fingerprint;
pub mod log;
pub mod polls;
mod recent;
pub mod todos;

pub use clock::Clock;
pub(crate) use fingerprint::fingerprint;
pub use log::{Cursor, LogEvent, RawEvent, StoredEvent};

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

/// Whether `text` holds a control character: one of Unicode's `Cc` (NUL, escape, DEL, the C1
/// range, ...). Such bytes are never meant in a name or a message, cannot be stored by Postgres
/// (NUL) and can garble terminals and logs, so text fields refuse them. A `multiline` field
/// (a message, a description, a comment) keeps line breaks and tabs: `\n`, `\r` (browsers send
/// a textarea's line breaks as CR LF) and `\t`.
pub fn has_control(text: &str, multiline: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
}

/// What a field with a control character is told.
pub const NO_CONTROL: &str = "can't contain control characters";
/// What a multi-line field with a control character is told.
pub const NO_CONTROL_MULTILINE: &str =
    "can't contain control characters (other than line breaks and tabs)";

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

#[cfg(test)]
mod control_tests {
    use super::has_control;

    #[test]
    fn control_characters_are_found_except_line_breaks_in_multiline_text() {
        assert!(!has_control("Ada Lovelace ✓ 日本", false));
        for bad in [
            "evil\0",
            "a\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}",
            "line\nbreak",
            "tab\t",
        ] {
            assert!(has_control(bad, false), "{bad:?}");
        }
        assert!(!has_control("two\r\nlines\tand a tab", true));
        assert!(has_control("nul\0 in a message", true));
        assert!(has_control("bell\u{7}", true));
    }
}
