use chrono::{DateTime, Utc};
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde::{Deserialize, Serialize};

/// Where a reader of the global log has got to.
///
/// The log is read in `(tx, position)` order: the id of the writing transaction first, then the
/// global position. A reader only sees transactions older than every transaction still running,
/// so nothing can later appear before its cursor (see `store::postgres` in the server).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    pub tx: u64,
    pub position: i64,
}

impl Cursor {
    pub const START: Cursor = Cursor { tx: 0, position: 0 };

    /// The cursor as 16 big-endian bytes, so byte order is cursor order.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.tx.to_be_bytes());
        out[8..].copy_from_slice(&self.position.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Cursor> {
        let tx = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let position = i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(Cursor { tx, position })
    }
}

/// One event as the store holds it: the cqrs-es columns plus the global position, the writing
/// transaction and the time it was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub position: i64,
    pub tx: u64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The payload as the current version of its event type: older versions go through
    /// `upcasters` first (the same ones the aggregates use), so history is never rewritten.
    pub fn decode<E: serde::de::DeserializeOwned>(
        &self,
        upcasters: &[Box<dyn EventUpcaster>],
    ) -> Result<E, serde_json::Error> {
        if !upcasters
            .iter()
            .any(|u| u.can_upcast(&self.event_type, &self.event_version))
        {
            return E::deserialize(&self.payload);
        }
        let stored = SerializedEvent::new(
            self.aggregate_id.clone(),
            self.sequence.max(0) as usize,
            self.aggregate_type.clone(),
            self.event_type.clone(),
            self.event_version.clone(),
            self.payload.clone(),
            serde_json::Value::Null,
        );
        serde_json::from_value(cinder_domain::upcast(stored, upcasters).payload)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx: self.tx,
            position: self.position,
        }
    }
}
