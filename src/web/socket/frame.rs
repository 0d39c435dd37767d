//! Phoenix Channels serializer V2: a frame is `[join_ref, ref, topic, event, payload]`.

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
    #[error("join_ref and ref must be strings or null")]
    BadRef,
    #[error("topic and event must be strings")]
    BadName,
    #[error("payload must be a JSON object")]
    BadPayload,
}

impl Frame {
    pub fn decode(text: &str) -> Result<Frame, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
        let Value::Array(parts) = value else {
            return Err(FrameError::NotAFrame);
        };
        let Ok([join_ref, msg_ref, topic, event, payload]) = <[Value; 5]>::try_from(parts) else {
            return Err(FrameError::NotAFrame);
        };
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

/// Refs are strings; numbers (some clients send them) are accepted as their decimal text.
fn reference(value: Value) -> Result<Option<String>, FrameError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(FrameError::BadRef),
    }
}

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
}
