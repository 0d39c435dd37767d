//! This node's read models: the sled database they live in, and every app opened on it.

use std::path::Path;
use std::sync::Arc;

use cinder_read_models::{Projection, ProjectionError};

use crate::web::app::{Apps, Registration};

/// Every app, opened on one sled database.
#[derive(Clone)]
pub struct ReadModels {
    pub db: sled::Db,
    pub apps: Apps,
}

impl ReadModels {
    /// Opens the read models of `apps` in `dir`. If sled cannot read what is there, the directory is set
    /// aside (renamed, not deleted) and the read models start empty: they are rebuilt from the
    /// event store, which is the truth.
    pub fn open(dir: &Path, apps: &[&Registration]) -> Result<ReadModels, ProjectionError> {
        let db = match sled::open(dir) {
            Ok(db) => db,
            Err(error) => {
                let aside =
                    dir.with_extension(format!("unreadable-{}", chrono::Utc::now().timestamp()));
                tracing::warn!(%error, dir = %dir.display(), aside = %aside.display(),
                    "read models unreadable: setting them aside and rebuilding from the event store");
                std::fs::rename(dir, &aside).map_err(|e| {
                    ProjectionError::Corrupt(format!("cannot set aside {}: {e}", dir.display()))
                })?;
                sled::open(dir)?
            }
        };
        Ok(ReadModels {
            apps: Apps::open(apps, &db)?,
            db,
        })
    }

    /// The projections that keep these read models, for the runner.
    pub fn projections(&self) -> Vec<Arc<dyn Projection>> {
        self.apps.projections()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_names_are_the_projections() {
        let dir = std::env::temp_dir().join(format!("cinder-names-{:016x}", rand::random::<u64>()));
        let models = ReadModels::open(&dir, crate::web::APPS).expect("read models");
        let names: Vec<&str> = models.projections().iter().map(|p| p.name()).collect();
        assert_eq!(names, crate::web::projection_names());
        assert!(!names.is_empty());
        drop(models);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
