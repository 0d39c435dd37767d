//! Ids derived from secrets, safe to show.
//!
//! A session id is a bearer secret's core: it must never appear in the public event log, the
//! explorer or shared presence. Aggregates owned by a session (a todo list, a cart) and presence
//! keys use an id derived from it instead: the same session always gives the same id, and the
//! id reveals nothing of the session.

use sha2::{Digest, Sha256};

/// The first `bytes` bytes (hex) of SHA-256 over `purpose`, a zero byte and `secret`.
pub fn opaque_id(purpose: &str, secret: &str, bytes: usize) -> String {
    let digest = Sha256::new()
        .chain_update(purpose.as_bytes())
        .chain_update(b"\0")
        .chain_update(secret.as_bytes())
        .finalize();
    digest
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::opaque_id;

    #[test]
    fn ids_are_stable_per_purpose_and_reveal_nothing() {
        let a = opaque_id("cinder cart", "session-1", 16);
        assert_eq!(a, opaque_id("cinder cart", "session-1", 16));
        assert_ne!(a, opaque_id("cinder todo list", "session-1", 16));
        assert_ne!(a, opaque_id("cinder cart", "session-2", 16));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("session"));
    }
}
