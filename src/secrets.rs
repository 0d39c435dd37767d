//! Secrets a node needs and, unless they are configured, generates once and keeps in its data
//! dir: the key base that signs sessions and tokens, and the `/admin` password. Kept, so that a
//! restart neither logs every visitor out nor breaks the operator's saved credentials.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The file in the data dir that keeps a generated `SECRET_KEY_BASE`.
pub const SECRET_KEY_BASE_FILE: &str = "secret_key_base";
/// The file in the data dir that keeps a generated `CINDER_ADMIN_PASSWORD`.
pub const ADMIN_PASSWORD_FILE: &str = "admin_password";

#[derive(Debug, thiserror::Error)]
#[error("cannot keep a secret in {path}: {reason}")]
pub struct SecretError {
    path: String,
    reason: String,
}

/// A secret, and whether it was generated just now.
struct Kept {
    value: String,
    generated: bool,
    path: PathBuf,
}

/// `SECRET_KEY_BASE`, or the one generated into the data dir on first start.
pub fn secret_key_base(config: &Config) -> Result<String, SecretError> {
    if let Some(secret) = config.secret_key_base.clone().filter(|s| !s.is_empty()) {
        return Ok(secret);
    }
    let kept = kept(&config.data_dir.join(SECRET_KEY_BASE_FILE), || {
        format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        )
    })?;
    if kept.generated {
        tracing::warn!(
            path = %kept.path.display(),
            "SECRET_KEY_BASE is not set: generated one and kept it in the data dir; \
             set SECRET_KEY_BASE to share sessions across nodes"
        );
    }
    Ok(kept.value)
}

/// `CINDER_ADMIN_PASSWORD`, or the one generated into the data dir on first start (printed
/// then, once, so that the operator can log in; it stays in the file).
pub fn admin_password(config: &Config) -> Result<String, SecretError> {
    if let Some(password) = config.admin_password.clone().filter(|p| !p.is_empty()) {
        return Ok(password);
    }
    let kept = kept(&config.data_dir.join(ADMIN_PASSWORD_FILE), || {
        format!("{:032x}", rand::random::<u128>())
    })?;
    if kept.generated {
        println!(
            "CINDER_ADMIN_PASSWORD is not set; generated the /admin password (user admin) and \
             kept it in {}: {}",
            kept.path.display(),
            kept.value
        );
    } else {
        tracing::info!(
            path = %kept.path.display(),
            "CINDER_ADMIN_PASSWORD is not set: using the /admin password kept in the data dir"
        );
    }
    Ok(kept.value)
}

/// The secret kept at `path`, or a new one from `generate`, written there first (readable by
/// this user only).
fn kept(path: &Path, generate: impl FnOnce() -> String) -> Result<Kept, SecretError> {
    let failed = |error: std::io::Error| SecretError {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    if path.exists() {
        let value = std::fs::read_to_string(path).map_err(failed)?;
        let value = value.trim();
        if !value.is_empty() {
            return Ok(Kept {
                value: value.to_owned(),
                generated: false,
                path: path.to_owned(),
            });
        }
    }
    let value = generate();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(value.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(Kept {
        value,
        generated: true,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_kept_and_private() {
        let dir = std::env::temp_dir().join(format!("cinder-kept-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("secret");
        let first = kept(&path, || "one".into()).expect("generated");
        assert!(first.generated);
        let again = kept(&path, || "two".into()).expect("kept");
        assert!(!again.generated);
        assert_eq!(again.value, "one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only its owner may read it");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
