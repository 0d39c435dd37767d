//! Signed tokens, the visitor's session cookie and CSRF tokens.
//!
//! A token is `base64url(json) "." base64url(hmac_sha256(key, purpose "." base64url(json)))`,
//! where the json carries the value and the time it was signed. The purpose keeps a token made
//! for one use (a live view join, say) from being accepted for another (a session cookie).
//!
//! Key rotation: a node started with `SECRET_KEY_BASE=B` and `SECRET_KEY_BASE_PREVIOUS=A` signs
//! everything with B and verifies with B, then with A. A token that only A's signature matches
//! is honoured until the node's start time plus `CINDER_PREVIOUS_KEY_GRACE` (default 7 days; 0
//! turns the previous key off), and only within its own max age as always. A visitor whose
//! session cookie verified with the previous key gets it re-signed with the current key, so
//! active visitors move over during the grace. Remove `SECRET_KEY_BASE_PREVIOUS` once the grace
//! has passed: the window restarts with the node.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The name of the session cookie.
pub const COOKIE: &str = "cinder_session";
/// How long a session cookie is honoured.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token")]
    Invalid,
    #[error("expired token")]
    Expired,
}

/// Signs and verifies tokens with a key derived from `SECRET_KEY_BASE`; during a rotation also
/// verifies with the previous key, until a deadline.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
    previous: Option<Previous>,
}

/// The key before a rotation and when it stops being honoured.
#[derive(Clone)]
struct Previous {
    signer: Box<Signer>,
    /// Seconds since the epoch; tokens of the previous key are refused from then on.
    until: i64,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    /// Seconds since the epoch when signed.
    at: i64,
    value: T,
}

impl Signer {
    pub fn new(secret_key_base: &str) -> Self {
        let key = Sha256::new()
            .chain_update(b"cinder signing key\0")
            .chain_update(secret_key_base.as_bytes())
            .finalize();
        Self {
            key: key.into(),
            previous: None,
        }
    }

    /// Also verifies tokens signed with `previous_key_base`, until `now + grace` (a rotation
    /// that starts now). A zero grace honours none of them.
    pub fn with_previous(self, previous_key_base: &str, grace: Duration) -> Self {
        let grace = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        self.with_previous_until(
            previous_key_base,
            Utc::now().timestamp().saturating_add(grace),
        )
    }

    /// [`Signer::with_previous`] with its deadline in seconds since the epoch.
    pub fn with_previous_until(mut self, previous_key_base: &str, until: i64) -> Self {
        self.previous = Some(Previous {
            signer: Box::new(Signer::new(previous_key_base)),
            until,
        });
        self
    }

    pub fn sign<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        self.sign_at(purpose, value, Utc::now().timestamp())
    }

    /// [`Signer::sign`] as if signed at `at` (seconds since the epoch): how tests make a token
    /// that has expired (or is not valid yet).
    pub fn sign_at<T: Serialize>(&self, purpose: &str, value: &T, at: i64) -> String {
        let envelope = Envelope { at, value };
        // Serializing plain data structures to JSON cannot fail.
        let json = serde_json::to_vec(&envelope).unwrap_or_default();
        let data = URL_SAFE_NO_PAD.encode(json);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(purpose, &data).finalize().into_bytes());
        format!("{data}.{signature}")
    }

    /// The value of a token signed for `purpose` no more than `max_age` ago, with the current
    /// key or (during a rotation's grace) the previous one.
    pub fn verify<T: DeserializeOwned>(
        &self,
        purpose: &str,
        token: &str,
        max_age: Duration,
    ) -> Result<T, TokenError> {
        self.verify_key(purpose, token, max_age)
            .map(|(value, _)| value)
    }

    /// [`Signer::verify`], also telling whether the token was signed with the previous key
    /// (and so should be re-issued with the current one).
    pub fn verify_key<T: DeserializeOwned>(
        &self,
        purpose: &str,
        token: &str,
        max_age: Duration,
    ) -> Result<(T, bool), TokenError> {
        let (data, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        if self.mac(purpose, data).verify_slice(&signature).is_ok() {
            return Self::open(data, max_age).map(|value| (value, false));
        }
        match &self.previous {
            Some(previous)
                if Utc::now().timestamp() < previous.until
                    && previous
                        .signer
                        .mac(purpose, data)
                        .verify_slice(&signature)
                        .is_ok() =>
            {
                Self::open(data, max_age).map(|value| (value, true))
            }
            _ => Err(TokenError::Invalid),
        }
    }

    /// The value of a token whose signature checked out, unless it is too old.
    fn open<T: DeserializeOwned>(data: &str, max_age: Duration) -> Result<T, TokenError> {
        let json = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| TokenError::Invalid)?;
        let envelope: Envelope<T> =
            serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        let age = Utc::now().timestamp() - envelope.at;
        if age > max_age.as_secs() as i64 || age < -60 {
            return Err(TokenError::Expired);
        }
        Ok(envelope.value)
    }

    fn mac(&self, purpose: &str, data: &str) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        mac.update(b".");
        mac.update(data.as_bytes());
        mac
    }

    /// The CSRF token of a session: forms carry it, form posts must return it.
    pub fn csrf_token(&self, session: &Session) -> String {
        let tag = self.mac("csrf", &session.id).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(tag)
    }

    /// What an admin token carries to bind it to the admin password: an HMAC of the password
    /// (which reveals nothing of it, though token payloads are readable). A node whose password
    /// changed computes another, so every token issued under the old one stops being an admin
    /// token. Signed with the current key only: a key rotation also revokes admin tokens.
    pub fn admin_binding(&self, password: &str) -> String {
        let tag = self.mac("admin password", password).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(tag)
    }

    /// Whether `binding` is [`Signer::admin_binding`] of `password`, compared in constant time.
    pub fn is_admin_binding(&self, binding: &str, password: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(binding) else {
            return false;
        };
        self.mac("admin password", password)
            .verify_slice(&tag)
            .is_ok()
    }

    pub fn check_csrf(&self, session: &Session, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        if self.mac("csrf", &session.id).verify_slice(&tag).is_ok() {
            return true;
        }
        // A form rendered before a rotation still posts during its grace.
        self.previous.as_ref().is_some_and(|previous| {
            Utc::now().timestamp() < previous.until && previous.signer.check_csrf(session, token)
        })
    }
}

/// A visitor: a random id, and the display name they picked, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Session {
    pub fn fresh() -> Self {
        Self {
            id: format!("{:032x}", rand::random::<u128>()),
            name: None,
        }
    }

    /// The `Set-Cookie` value that stores this session.
    pub fn cookie(&self, signer: &Signer) -> String {
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
            signer.sign(COOKIE, self),
            SESSION_MAX_AGE.as_secs()
        )
    }

    /// The session in a `Cookie` header, if there is a valid one.
    pub fn from_cookie_header(header: &str, signer: &Signer) -> Option<Session> {
        Self::from_cookie_header_key(header, signer).map(|(session, _)| session)
    }

    /// [`Session::from_cookie_header`], also telling whether the cookie was signed with the
    /// previous key (and should be set again, signed with the current one).
    pub fn from_cookie_header_key(header: &str, signer: &Signer) -> Option<(Session, bool)> {
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE)
            .find_map(|(_, value)| signer.verify_key(COOKIE, value, SESSION_MAX_AGE).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_purpose_and_key() {
        let signer = Signer::new("secret");
        let token = signer.sign("lv", &"hello");
        let day = Duration::from_secs(86400);
        assert_eq!(
            signer.verify::<String>("lv", &token, day),
            Ok("hello".into())
        );
        assert_eq!(
            signer.verify::<String>("other", &token, day),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            Signer::new("another").verify::<String>("lv", &token, day),
            Err(TokenError::Invalid)
        );
        let mut tampered = token.clone();
        tampered.insert(3, 'x');
        assert_eq!(
            signer.verify::<String>("lv", &tampered, day),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn old_tokens_expire() {
        let signer = Signer::new("secret");
        let envelope = Envelope {
            at: Utc::now().timestamp() - 100,
            value: 1,
        };
        let data = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).unwrap());
        let signature = URL_SAFE_NO_PAD.encode(signer.mac("lv", &data).finalize().into_bytes());
        let token = format!("{data}.{signature}");
        assert_eq!(
            signer.verify::<i32>("lv", &token, Duration::from_secs(50)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify::<i32>("lv", &token, Duration::from_secs(500)),
            Ok(1)
        );
    }

    /// A token of `signer` for `purpose` signed `age` seconds ago.
    fn signed_ago(signer: &Signer, purpose: &str, age: i64, value: i32) -> String {
        let envelope = Envelope {
            at: Utc::now().timestamp() - age,
            value,
        };
        let data = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&envelope).unwrap());
        let signature = URL_SAFE_NO_PAD.encode(signer.mac(purpose, &data).finalize().into_bytes());
        format!("{data}.{signature}")
    }

    #[test]
    fn session_tokens_of_the_previous_key_verify_only_within_the_grace() {
        let day = Duration::from_secs(86400);
        let old = Signer::new("key A");
        let token = old.sign("lv", &7);
        let rotated = Signer::new("key B").with_previous("key A", day);
        assert_eq!(rotated.verify::<i32>("lv", &token, day), Ok(7));
        assert_eq!(rotated.verify_key::<i32>("lv", &token, day), Ok((7, true)));
        // New tokens are signed with the current key only.
        let fresh = rotated.sign("lv", &8);
        assert_eq!(rotated.verify_key::<i32>("lv", &fresh, day), Ok((8, false)));
        assert_eq!(
            old.verify::<i32>("lv", &fresh, day),
            Err(TokenError::Invalid)
        );
        assert_eq!(Signer::new("key B").verify::<i32>("lv", &fresh, day), Ok(8));

        // After the grace, or with none, the previous key's tokens are refused.
        let past = Signer::new("key B").with_previous_until("key A", Utc::now().timestamp() - 1);
        assert_eq!(
            past.verify::<i32>("lv", &token, day),
            Err(TokenError::Invalid)
        );
        let off = Signer::new("key B").with_previous("key A", Duration::ZERO);
        assert_eq!(
            off.verify::<i32>("lv", &token, day),
            Err(TokenError::Invalid)
        );
        let none = Signer::new("key B");
        assert_eq!(
            none.verify::<i32>("lv", &token, day),
            Err(TokenError::Invalid)
        );

        // Within the grace the usual rules still hold: purpose, tampering, max age.
        assert_eq!(
            rotated.verify::<i32>("other", &token, day),
            Err(TokenError::Invalid)
        );
        let mut tampered = token.clone();
        tampered.insert(3, 'x');
        assert_eq!(
            rotated.verify::<i32>("lv", &tampered, day),
            Err(TokenError::Invalid)
        );
        let stale = signed_ago(&old, "lv", 100, 1);
        assert_eq!(
            rotated.verify::<i32>("lv", &stale, Duration::from_secs(50)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            rotated.verify::<i32>("lv", &stale, Duration::from_secs(500)),
            Ok(1)
        );
        // A key that was never configured is refused.
        let other = signed_ago(&Signer::new("key C"), "lv", 0, 1);
        assert_eq!(
            rotated.verify::<i32>("lv", &other, day),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn session_cookies_and_csrf_tokens_survive_a_rotation_within_the_grace() {
        let day = Duration::from_secs(86400);
        let old = Signer::new("key A");
        let mut visitor = Session::fresh();
        visitor.name = Some("ada".into());
        let cookie = visitor.cookie(&old);
        let header = cookie.split(';').next().unwrap();
        let rotated = Signer::new("key B").with_previous("key A", day);
        assert_eq!(
            Session::from_cookie_header_key(header, &rotated),
            Some((visitor.clone(), true))
        );
        assert!(rotated.check_csrf(&visitor, &old.csrf_token(&visitor)));
        let expired = Signer::new("key B").with_previous_until("key A", Utc::now().timestamp());
        assert_eq!(Session::from_cookie_header(header, &expired), None);
        assert!(!expired.check_csrf(&visitor, &old.csrf_token(&visitor)));
        assert!(!Signer::new("key B").check_csrf(&visitor, &old.csrf_token(&visitor)));
    }

    #[test]
    fn session_tokens_with_a_bad_shape_are_invalid() {
        let signer = Signer::new("secret");
        let day = Duration::from_secs(86400);
        for token in ["", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???"] {
            assert_eq!(
                signer.verify::<i32>("lv", token, day),
                Err(TokenError::Invalid),
                "{token:?}"
            );
        }
        // A correct signature over data that is not an envelope.
        let data = URL_SAFE_NO_PAD.encode(b"not json");
        let signature = URL_SAFE_NO_PAD.encode(signer.mac("lv", &data).finalize().into_bytes());
        assert_eq!(
            signer.verify::<i32>("lv", &format!("{data}.{signature}"), day),
            Err(TokenError::Invalid)
        );
        // Signed in the future (beyond clock skew): refused.
        let ahead = signed_ago(&signer, "lv", -3600, 1);
        assert_eq!(
            signer.verify::<i32>("lv", &ahead, day),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn admin_bindings_hold_only_for_their_password_and_key() {
        let signer = Signer::new("secret");
        let binding = signer.admin_binding("hunter2");
        assert!(signer.is_admin_binding(&binding, "hunter2"));
        assert!(!signer.is_admin_binding(&binding, "hunter3"));
        assert!(!Signer::new("other").is_admin_binding(&binding, "hunter2"));
        assert!(!signer.is_admin_binding("not base64!", "hunter2"));
        assert!(!binding.contains("hunter2"));
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let signer = Signer::new("secret");
        let a = Session::fresh();
        let b = Session::fresh();
        assert!(signer.check_csrf(&a, &signer.csrf_token(&a)));
        assert!(!signer.check_csrf(&b, &signer.csrf_token(&a)));
        assert!(!signer.check_csrf(&a, "garbage"));
    }
}
