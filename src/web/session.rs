//! Signed tokens, the visitor's session cookie and CSRF tokens.
//!
//! A token is `base64url(json) "." base64url(hmac_sha256(key, purpose "." base64url(json)))`,
//! where the json carries the value and the time it was signed. The purpose keeps a token made
//! for one use (a live view join, say) from being accepted for another (a session cookie).

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

/// Signs and verifies tokens with a key derived from `SECRET_KEY_BASE`.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
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
        Self { key: key.into() }
    }

    pub fn sign<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let envelope = Envelope {
            at: Utc::now().timestamp(),
            value,
        };
        // Serializing plain data structures to JSON cannot fail.
        let json = serde_json::to_vec(&envelope).unwrap_or_default();
        let data = URL_SAFE_NO_PAD.encode(json);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(purpose, &data).finalize().into_bytes());
        format!("{data}.{signature}")
    }

    pub fn verify<T: DeserializeOwned>(
        &self,
        purpose: &str,
        token: &str,
        max_age: Duration,
    ) -> Result<T, TokenError> {
        let (data, signature) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Invalid)?;
        self.mac(purpose, data)
            .verify_slice(&signature)
            .map_err(|_| TokenError::Invalid)?;
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

    pub fn check_csrf(&self, session: &Session, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac("csrf", &session.id).verify_slice(&tag).is_ok()
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
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE)
            .find_map(|(_, value)| signer.verify(COOKIE, value, SESSION_MAX_AGE).ok())
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
