//! Phoenix Channels frames and their two serializers, chosen by the client's `vsn` at connect:
//! 2.0.0 writes a frame as `[join_ref, ref, topic, event, payload]`, 1.0.0 as an object
//! `{"topic", "event", "payload", "ref", "join_ref"}` (what older and mobile clients speak).
//!
//! A push that many channels send alike is encoded once ([`EncodedPush`]); each channel only
//! puts its own join_ref and topic around the shared bytes ([`PushFraming`]), so a broadcast to
//! ten thousand sockets is not encoded ten thousand times.

use serde_json::Value;

/// One message in either direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is not valid JSON")]
    NotJson,
    #[error("frame is not a 5-element array")]
    NotAFrame,
    #[error("frame is not an object with topic, event, payload and ref")]
    NotAMessage,
    #[error("join_ref and ref must be strings or null")]
    BadRef,
    #[error("topic and event must be strings")]
    BadName,
    #[error("payload must be a JSON object")]
    BadPayload,
}

/// How a connection's frames are written as text: the Phoenix serializer its client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// `vsn=1.0.0`: JSON objects.
    V1,
    /// `vsn=2.0.0`: JSON arrays.
    V2,
}

impl Serializer {
    /// The serializer for the connect parameter `vsn`, matched as Phoenix matches it
    /// (`~> 1.0.0`, `~> 2.0.0`: any patch release); a client that sends no `vsn` speaks 1.0.0,
    /// as Phoenix assumes. `None` for a version not served or not a version at all.
    pub fn for_vsn(vsn: Option<&str>) -> Option<Serializer> {
        let vsn = vsn.unwrap_or("1.0.0");
        let mut parts = vsn.split('.');
        let mut number = || -> Option<u64> {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let version = (number()?, number()?, number()?);
        if parts.next().is_some() {
            return None;
        }
        match version {
            (1, 0, _) => Some(Serializer::V1),
            (2, 0, _) => Some(Serializer::V2),
            _ => None,
        }
    }

    pub fn decode(self, text: &str) -> Result<Frame, FrameError> {
        match self {
            Serializer::V1 => Frame::decode_v1(text),
            Serializer::V2 => Frame::decode(text),
        }
    }

    pub fn encode(self, frame: &Frame) -> String {
        match self {
            Serializer::V1 => frame.encode_v1(),
            Serializer::V2 => frame.encode(),
        }
    }
}

impl Frame {
    /// Decodes a 2.0.0 frame, `[join_ref, ref, topic, event, payload]`.
    pub fn decode(text: &str) -> Result<Frame, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
        let Value::Array(parts) = value else {
            return Err(FrameError::NotAFrame);
        };
        let Ok([join_ref, msg_ref, topic, event, payload]) = <[Value; 5]>::try_from(parts) else {
            return Err(FrameError::NotAFrame);
        };
        Frame::of(join_ref, msg_ref, topic, event, payload)
    }

    /// Decodes a 1.0.0 frame, `{"topic", "event", "payload", "ref", "join_ref"}`: `topic`,
    /// `event`, `payload` and `ref` must be there (as Phoenix requires), `join_ref` may be left
    /// out; other fields are ignored.
    pub fn decode_v1(text: &str) -> Result<Frame, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
        let Value::Object(mut fields) = value else {
            return Err(FrameError::NotAMessage);
        };
        let mut take = |name: &str| fields.remove(name).ok_or(FrameError::NotAMessage);
        let (topic, event, payload, msg_ref) = (
            take("topic")?,
            take("event")?,
            take("payload")?,
            take("ref")?,
        );
        let join_ref = fields.remove("join_ref").unwrap_or(Value::Null);
        Frame::of(join_ref, msg_ref, topic, event, payload)
    }

    fn of(
        join_ref: Value,
        msg_ref: Value,
        topic: Value,
        event: Value,
        payload: Value,
    ) -> Result<Frame, FrameError> {
        let (Value::String(topic), Value::String(event)) = (topic, event) else {
            return Err(FrameError::BadName);
        };
        if !payload.is_object() {
            return Err(FrameError::BadPayload);
        }
        Ok(Frame {
            join_ref: reference(join_ref)?,
            msg_ref: reference(msg_ref)?,
            topic,
            event,
            payload,
        })
    }

    /// The 2.0.0 text of this frame.
    pub fn encode(&self) -> String {
        // A tuple of strings, options and a Value always serializes.
        serde_json::to_string(&(
            &self.join_ref,
            &self.msg_ref,
            &self.topic,
            &self.event,
            &self.payload,
        ))
        .unwrap_or_default()
    }

    /// The 1.0.0 text of this frame. Phoenix's own 1.0.0 serializer leaves `join_ref` out of
    /// what it sends; it is sent here so that 1.0.0 clients can tell joins apart as 2.0.0 ones
    /// do (a client that does not know the field ignores it).
    pub fn encode_v1(&self) -> String {
        format!(
            "{{\"topic\":{},\"event\":{},\"payload\":{},\"ref\":{},\"join_ref\":{}}}",
            json(&self.topic),
            json(&self.event),
            json(&self.payload),
            json(&self.msg_ref),
            json(&self.join_ref),
        )
    }

    /// A server push on a channel: the channel's join ref (as Phoenix's `push/3` sends it, so a
    /// client can tell pushes of its current join from those of an earlier one) and no ref.
    pub fn push(join_ref: Option<&str>, topic: &str, event: &str, payload: Value) -> Frame {
        Frame {
            join_ref: join_ref.map(str::to_owned),
            msg_ref: None,
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload,
        }
    }

    /// The `phx_reply` to this frame.
    pub fn reply(&self, ok: bool, response: Value) -> Frame {
        Frame {
            join_ref: self.join_ref.clone(),
            msg_ref: self.msg_ref.clone(),
            topic: self.topic.clone(),
            event: "phx_reply".into(),
            payload: serde_json::json!({
                "status": if ok { "ok" } else { "error" },
                "response": response,
            }),
        }
    }
}

/// `value` as JSON text (strings, options of strings and Values always serialize).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Refs are strings; numbers (some clients send them) are accepted as their decimal text.
fn reference(value: Value) -> Result<Option<String>, FrameError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(FrameError::BadRef),
    }
}

/// A push's event and payload as JSON, encoded once for every channel that sends it: the text
/// `"event",{payload}`, which both serializers need as it is (2.0.0 whole, 1.0.0 in two parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPush {
    text: Box<str>,
    /// Where the event's JSON ends (the comma before the payload).
    split: usize,
}

impl EncodedPush {
    pub fn new(event: &str, payload: &Value) -> EncodedPush {
        let mut text = json(event);
        let split = text.len();
        text.push(',');
        text.push_str(&json(payload));
        EncodedPush {
            text: text.into_boxed_str(),
            split,
        }
    }

    /// The event and payload's bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The event's name, as JSON.
    fn event(&self) -> &str {
        &self.text[..self.split]
    }

    /// The payload, as JSON.
    fn payload(&self) -> &str {
        &self.text[self.split + 1..]
    }
}

/// What one channel puts around every push it sends, in its connection's serializer: its
/// topic and join_ref, encoded when it joins. Framing a push is then copying bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushFraming {
    serializer: Serializer,
    /// 2.0.0: `[join_ref,null,topic,`; 1.0.0: `{"topic":topic,"event":`.
    head: Box<str>,
    /// 2.0.0: `]`; 1.0.0: `,"ref":null,"join_ref":join_ref}`.
    tail: Box<str>,
}

impl PushFraming {
    pub fn new(serializer: Serializer, join_ref: Option<&str>, topic: &str) -> PushFraming {
        let (join_ref, topic) = (json(&join_ref), json(topic));
        let (head, tail) = match serializer {
            Serializer::V2 => (format!("[{join_ref},null,{topic},"), "]".to_owned()),
            Serializer::V1 => (
                format!("{{\"topic\":{topic},\"event\":"),
                format!(",\"ref\":null,\"join_ref\":{join_ref}}}"),
            ),
        };
        PushFraming {
            serializer,
            head: head.into_boxed_str(),
            tail: tail.into_boxed_str(),
        }
    }

    /// The frame's bytes when this channel sends `push`.
    pub fn len(&self, push: &EncodedPush) -> usize {
        let between = match self.serializer {
            Serializer::V2 => 0,
            Serializer::V1 => PAYLOAD_FIELD.len() - 1,
        };
        self.head.len() + push.len() + between + self.tail.len()
    }

    /// The text of `push` as this channel sends it.
    pub fn frame(&self, push: &EncodedPush) -> String {
        let mut text = String::with_capacity(self.len(push));
        text.push_str(&self.head);
        match self.serializer {
            Serializer::V2 => text.push_str(&push.text),
            Serializer::V1 => {
                text.push_str(push.event());
                text.push_str(PAYLOAD_FIELD);
                text.push_str(push.payload());
            }
        }
        text.push_str(&self.tail);
        text
    }
}

/// Between a 1.0.0 push's event and its payload.
const PAYLOAD_FIELD: &str = ",\"payload\":";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_and_encodes_a_join() {
        let text = r#"["1","1","chat:lobby","phx_join",{}]"#;
        let frame = Frame::decode(text).unwrap();
        assert_eq!(frame.join_ref.as_deref(), Some("1"));
        assert_eq!(frame.topic, "chat:lobby");
        assert_eq!(frame.encode(), text);
        let reply = frame.reply(true, json!({}));
        assert_eq!(
            reply.encode(),
            r#"["1","1","chat:lobby","phx_reply",{"response":{},"status":"ok"}]"#
        );
    }

    #[test]
    fn refuses_malformed_frames() {
        assert_eq!(Frame::decode("nope"), Err(FrameError::NotJson));
        assert_eq!(Frame::decode("{}"), Err(FrameError::NotAFrame));
        assert_eq!(
            Frame::decode(r#"[1,2,"t","e"]"#),
            Err(FrameError::NotAFrame)
        );
        assert_eq!(
            Frame::decode(r#"[null,null,1,"e",{}]"#),
            Err(FrameError::BadName)
        );
        assert_eq!(
            Frame::decode(r#"[null,null,"t","e",[]]"#),
            Err(FrameError::BadPayload)
        );
        assert_eq!(
            Frame::decode(r#"[{},null,"t","e",{}]"#),
            Err(FrameError::BadRef)
        );
    }

    #[test]
    fn decodes_and_encodes_1_0_0_objects() {
        let text =
            r#"{"topic":"chat:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#;
        let frame = Frame::decode_v1(text).unwrap();
        assert_eq!(
            frame,
            Frame::decode(r#"["1","1","chat:lobby","phx_join",{}]"#).unwrap()
        );
        assert_eq!(frame.encode_v1(), text);
        // join_ref may be left out; other fields are ignored; numbers are refs.
        let old = Frame::decode_v1(r#"{"topic":"t","event":"e","payload":{},"ref":7,"x":1}"#);
        assert_eq!(
            old.map(|f| (f.join_ref, f.msg_ref)),
            Ok((None, Some("7".into())))
        );
        let reply = frame.reply(true, json!({}));
        assert_eq!(
            Serializer::V1.encode(&reply),
            r#"{"topic":"chat:lobby","event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","join_ref":"1"}"#
        );
    }

    #[test]
    fn refuses_malformed_1_0_0_frames() {
        let decode = Frame::decode_v1;
        assert_eq!(decode("nope"), Err(FrameError::NotJson));
        assert_eq!(
            decode(r#"["1","1","t","e",{}]"#),
            Err(FrameError::NotAMessage)
        );
        assert_eq!(
            decode(r#"{"topic":"t","event":"e","payload":{}}"#),
            Err(FrameError::NotAMessage)
        );
        assert_eq!(
            decode(r#"{"topic":1,"event":"e","payload":{},"ref":null}"#),
            Err(FrameError::BadName)
        );
        assert_eq!(
            decode(r#"{"topic":"t","event":"e","payload":[],"ref":null}"#),
            Err(FrameError::BadPayload)
        );
        assert_eq!(
            decode(r#"{"topic":"t","event":"e","payload":{},"ref":{}}"#),
            Err(FrameError::BadRef)
        );
    }

    #[test]
    fn versions_are_matched_as_phoenix_matches_them() {
        assert_eq!(Serializer::for_vsn(Some("2.0.0")), Some(Serializer::V2));
        assert_eq!(Serializer::for_vsn(Some("2.0.3")), Some(Serializer::V2));
        assert_eq!(Serializer::for_vsn(Some("1.0.0")), Some(Serializer::V1));
        assert_eq!(Serializer::for_vsn(None), Some(Serializer::V1));
        for refused in [
            "2.1.0", "3.0.0", "0.9.0", "2.0", "2", "", "2.0.0.0", "v2.0.0", "2.0.x",
        ] {
            assert_eq!(Serializer::for_vsn(Some(refused)), None, "{refused}");
        }
    }

    #[test]
    fn a_spliced_push_is_the_push_encoded() {
        let payload = json!({"content": "h\u{e9}llo \"you\"", "id": 3});
        let shared = EncodedPush::new("message_sent", &payload);
        for serializer in [Serializer::V1, Serializer::V2] {
            for join_ref in [Some("12"), None] {
                let framing = PushFraming::new(serializer, join_ref, "chat:lobby");
                let spliced = framing.frame(&shared);
                let frame = Frame::push(join_ref, "chat:lobby", "message_sent", payload.clone());
                assert_eq!(spliced, serializer.encode(&frame), "{serializer:?}");
                assert_eq!(framing.len(&shared), spliced.len());
            }
        }
    }
}
