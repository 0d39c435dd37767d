//! The event log's own types, shared by the store that writes it, the bus that caches
//! aggregates from it and the read models that fold it: they live here, below all three, so
//! none of them depends on another for what an event or a place in the log is.

use chrono::{DateTime, Utc};
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde::de::DeserializeOwned;
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
    pub fn decode<E: DeserializeOwned>(
        &self,
        upcasters: &[Box<dyn EventUpcaster>],
    ) -> Result<E, serde_json::Error> {
        if !upcasts(self, upcasters) {
            return E::deserialize(&self.payload);
        }
        upcast(self, self.payload.clone(), upcasters)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx: self.tx,
            position: self.position,
        }
    }
}

/// A [`StoredEvent`] whose payload and metadata are still JSON text, as a rebuild reads the
/// log (see `Projection::apply_buffered` in the read models): only a projection that follows
/// the event's aggregate reads the payload, straight into its own event type, never through a
/// `serde_json::Value`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub position: i64,
    pub tx: u64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
}

impl RawEvent {
    /// [`StoredEvent::decode`], from the text.
    pub fn decode<E: DeserializeOwned>(
        &self,
        upcasters: &[Box<dyn EventUpcaster>],
    ) -> Result<E, serde_json::Error> {
        if !upcasts(self, upcasters) {
            return serde_json::from_str(&self.payload);
        }
        upcast(self, serde_json::from_str(&self.payload)?, upcasters)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx: self.tx,
            position: self.position,
        }
    }

    /// The event with its payload and metadata parsed.
    pub fn to_stored(&self) -> Result<StoredEvent, serde_json::Error> {
        Ok(StoredEvent {
            position: self.position,
            tx: self.tx,
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            event_type: self.event_type.clone(),
            event_version: self.event_version.clone(),
            payload: serde_json::from_str(&self.payload)?,
            metadata: serde_json::from_str(&self.metadata)?,
            recorded_at: self.recorded_at,
        })
    }
}

impl From<StoredEvent> for RawEvent {
    fn from(event: StoredEvent) -> Self {
        RawEvent {
            position: event.position,
            tx: event.tx,
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            sequence: event.sequence,
            event_type: event.event_type,
            event_version: event.event_version,
            payload: event.payload.to_string(),
            metadata: event.metadata.to_string(),
            recorded_at: event.recorded_at,
        }
    }
}

/// What projections read of an event, whether its payload is parsed ([`StoredEvent`]) or not
/// ([`RawEvent`]): a projection written against this folds both the same way.
pub trait LogEvent {
    fn position(&self) -> i64;
    fn aggregate_type(&self) -> &str;
    fn aggregate_id(&self) -> &str;
    fn sequence(&self) -> i64;
    fn event_type(&self) -> &str;
    fn event_version(&self) -> &str;
    /// The payload as the current version of its event type (see [`StoredEvent::decode`]).
    fn decode<E: DeserializeOwned>(
        &self,
        upcasters: &[Box<dyn EventUpcaster>],
    ) -> Result<E, serde_json::Error>;
}

macro_rules! log_event {
    ($type:ty) => {
        impl LogEvent for $type {
            fn position(&self) -> i64 {
                self.position
            }
            fn aggregate_type(&self) -> &str {
                &self.aggregate_type
            }
            fn aggregate_id(&self) -> &str {
                &self.aggregate_id
            }
            fn sequence(&self) -> i64 {
                self.sequence
            }
            fn event_type(&self) -> &str {
                &self.event_type
            }
            fn event_version(&self) -> &str {
                &self.event_version
            }
            fn decode<E: DeserializeOwned>(
                &self,
                upcasters: &[Box<dyn EventUpcaster>],
            ) -> Result<E, serde_json::Error> {
                <$type>::decode(self, upcasters)
            }
        }
    };
}

log_event!(StoredEvent);
log_event!(RawEvent);

/// Whether one of `upcasters` applies to `event`'s type and version.
fn upcasts(event: &impl LogEvent, upcasters: &[Box<dyn EventUpcaster>]) -> bool {
    upcasters
        .iter()
        .any(|u| u.can_upcast(event.event_type(), event.event_version()))
}

/// `payload` (of `event`) through `upcasters`, as the current version of its type.
fn upcast<E: DeserializeOwned>(
    event: &impl LogEvent,
    payload: serde_json::Value,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<E, serde_json::Error> {
    let stored = SerializedEvent::new(
        event.aggregate_id().to_owned(),
        event.sequence().max(0) as usize,
        event.aggregate_type().to_owned(),
        event.event_type().to_owned(),
        event.event_version().to_owned(),
        payload,
        serde_json::Value::Null,
    );
    serde_json::from_value(crate::upcast(stored, upcasters).payload)
}
