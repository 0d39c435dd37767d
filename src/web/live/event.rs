//! The payload of a page's `event` message, decoded. Depends on serde only, so the fuzz targets
//! (`fuzz/`) compile this file on its own.

use serde::Deserialize;
use serde_json::Value;

/// An `event` message's payload as cinder.js sends it: `{"type", "event", "value"}`, where
/// `event` names the page event and `value` holds the form's fields (or a button's value).
#[derive(Debug, Deserialize)]
pub struct PageEvent {
    /// "submit", "click", or "validate": a form asking, as it is filled in, what its fields
    /// break (nothing is done).
    #[serde(default, rename = "type")]
    pub kind: String,
    pub event: String,
    #[serde(default)]
    pub value: Value,
}

impl PageEvent {
    pub fn decode(payload: Value) -> Result<PageEvent, serde_json::Error> {
        serde_json::from_value(payload)
    }
}
