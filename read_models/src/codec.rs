//! How read models store values in sled: JSON, with failures as projection errors.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::ConflictableTransactionError;

use crate::{ProjectionError, TxResult};

pub(crate) fn encode<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| abort(ProjectionError::Corrupt(e.to_string())))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProjectionError> {
    serde_json::from_slice(bytes).map_err(|e| ProjectionError::Corrupt(e.to_string()))
}

/// Ends a projection's transaction with `error`.
pub(crate) fn abort(error: ProjectionError) -> ConflictableTransactionError<ProjectionError> {
    ConflictableTransactionError::Abort(error)
}
