//! The live view event decoder: the payload of an `event` message on an `lv:` topic, as
//! cinder.js sends it (`{"type": "submit", "event": "add", "value": {"title": "milk"}}`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

// The decoder's own file (`cinder::web::live::PageEvent`), without the rest of `cinder`.
#[path = "../../src/web/live/event.rs"]
mod event;

use event::PageEvent;

fuzz_target!(|data: &[u8]| {
    // The payload reaches the decoder as the frame decoder left it: a JSON object.
    let Ok(payload @ Value::Object(_)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match PageEvent::decode(payload.clone()) {
        Ok(event) => {
            assert_eq!(
                payload.get("event").and_then(Value::as_str),
                Some(&*event.event)
            );
            assert_eq!(payload.get("value").unwrap_or(&Value::Null), &event.value);
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
