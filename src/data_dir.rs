//! One process per data dir: a lock file taken before anything in the dir is opened.
//!
//! sled locks its own files too, but its refusal reads `IO error: could not acquire lock on
//! ".../events/db": Os { code: 11, kind: WouldBlock … }`, and it comes after other work (and,
//! for the read models, looks like an unreadable directory). The lock here is taken first, by
//! every command that uses the dir, and says which dir is held and what to do.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs2::FileExt;

/// The name of the lock file inside the data dir.
const LOCK_FILE: &str = "lock";

/// Why a data dir could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("another cinder process is using {path}; stop it or pass --data-dir")]
    InUse { path: String },
    #[error("cannot use the data dir {path}: {reason}")]
    Io { path: String, reason: String },
}

/// The data dir, held by this process until dropped (the lock is released with the file,
/// also when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    path: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if needed and takes its lock, or says who has it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, DataDirError> {
        let shown = dir.display().to_string();
        let io = |error: std::io::Error| DataDirError::Io {
            path: shown.clone(),
            reason: error.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(DataDirLock {
                path: dir.to_owned(),
                _file: file,
            }),
            Err(error) if error.kind() == fs2::lock_contended_error().kind() => {
                Err(DataDirError::InUse {
                    path: shown.clone(),
                })
            }
            Err(error) => Err(io(error)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_dir_is_refused_until_released() {
        let dir = std::env::temp_dir().join(format!("cinder-lock-{:016x}", rand::random::<u64>()));
        let held = DataDirLock::acquire(&dir).expect("first lock");
        let refused = DataDirLock::acquire(&dir).expect_err("second lock");
        assert_eq!(
            refused.to_string(),
            format!(
                "another cinder process is using {}; stop it or pass --data-dir",
                dir.display()
            )
        );
        drop(held);
        DataDirLock::acquire(&dir).expect("lock after release");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
