//! The socket frame decoders (serializers 2.0.0 and 1.0.0): any text a client sends is a frame
//! or an error, never a panic, and a decoded frame encodes to text that decodes to exactly the
//! same frame (serde_json's `float_roundtrip` keeps floats exact), in either serializer.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The decoder's own file (`cinder::web::socket::frame`), without the rest of `cinder`.
#[path = "../../src/web/socket/frame.rs"]
#[allow(dead_code)]
mod frame;

use frame::{EncodedPush, Frame, PushFraming, Serializer};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    // The socket hands the decoder text messages only.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for serializer in [Serializer::V2, Serializer::V1] {
        let Ok(frame) = serializer.decode(text) else {
            continue;
        };
        for again_with in [Serializer::V2, Serializer::V1] {
            let encoded = again_with.encode(&frame);
            let again = again_with.decode(&encoded).expect("an encoded frame decodes");
            assert_eq!(
                (&again.join_ref, &again.msg_ref, &again.topic, &again.event),
                (&frame.join_ref, &frame.msg_ref, &frame.topic, &frame.event),
            );
            assert_eq!(again.payload, frame.payload, "{encoded}");
            let reply = frame.reply(false, json!({"reason": "x"}));
            let reply_again = again_with
                .decode(&again_with.encode(&reply))
                .expect("a reply decodes");
            assert_eq!(reply_again.payload, reply.payload);
            // A push framed from shared bytes is the push encoded.
            let framing = PushFraming::new(again_with, frame.join_ref.as_deref(), &frame.topic);
            let push = Frame {
                msg_ref: None,
                ..frame.clone()
            };
            let shared = EncodedPush::new(&push.event, &push.payload);
            assert_eq!(framing.frame(&shared), again_with.encode(&push));
        }
    }
});
