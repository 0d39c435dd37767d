//! The socket frame decoder: any text a client sends is a frame or an error, never a panic, and
//! a decoded frame encodes to text that decodes to exactly the same frame (serde_json's
//! `float_roundtrip` keeps floats exact).
#![no_main]

use libfuzzer_sys::fuzz_target;

// The decoder's own file (`cinder::web::socket::frame`), without the rest of `cinder`.
#[path = "../../src/web/socket/frame.rs"]
#[allow(dead_code)]
mod frame;

use frame::Frame;
use serde_json::json;

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
    assert_eq!(again.payload, frame.payload, "{encoded}");
    let reply = frame.reply(false, json!({"reason": "x"}));
    let reply_again = Frame::decode(&reply.encode()).expect("a reply decodes");
    assert_eq!(reply_again.payload, reply.payload);
});
