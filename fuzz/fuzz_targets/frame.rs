//! The socket frame decoder: any text a client sends is a frame or an error, never a panic, and
//! a decoded frame encodes to text that decodes to the same frame (floats to within 1 ULP).
#![no_main]

use libfuzzer_sys::fuzz_target;

// The decoder's own file (`cinder::web::socket::frame`), without the rest of `cinder`.
#[path = "../../src/web/socket/frame.rs"]
#[allow(dead_code)]
mod frame;

use frame::Frame;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    // The socket hands the decoder text messages only.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = Frame::decode(text) else {
        return;
    };
    let encoded = frame.encode();
    let again = Frame::decode(&encoded).expect("an encoded frame decodes");
    assert_eq!(
        (&again.join_ref, &again.msg_ref, &again.topic, &again.event),
        (&frame.join_ref, &frame.msg_ref, &frame.topic, &frame.event),
    );
    assert!(same(&again.payload, &frame.payload), "{encoded}");
    let reply = frame.reply(false, json!({"reason": "x"}));
    let reply_again = Frame::decode(&reply.encode()).expect("a reply decodes");
    assert!(same(&reply_again.payload, &reply.payload));
});

/// Equal JSON, except that a float may come back 1 ULP off: serde_json (without its
/// `float_roundtrip` feature) does not always read its own float output back exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
