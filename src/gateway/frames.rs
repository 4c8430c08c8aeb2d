//! Decoding client frames with precise error codes, and encoding error frames.

use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::Error;
use crate::protocol::{ClientFrame, Ref, ServerFrame};

/// Parses a text frame. On failure: the error to answer and the frame's `ref`, if it had one.
pub fn parse(text: &str) -> Result<(ClientFrame, Option<Ref>), (Error, Option<Ref>)> {
    let value: Value = crate::json_policy::parse(text)
        .map_err(|err| (Error::InvalidJson(err.to_string()), None))?;
    let Value::Object(map) = &value else {
        return Err((
            Error::InvalidFrame("a frame is a JSON object with a \"type\"".into()),
            None,
        ));
    };
    let reference = map.get("ref").cloned();
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err((
                Error::InvalidFrame("\"type\" must be a string".into()),
                reference,
            ))
        }
        None => {
            return Err((
                Error::InvalidFrame("the frame has no \"type\"".into()),
                reference,
            ))
        }
    };
    if !ClientFrame::TYPES.contains(&kind) {
        return Err((Error::UnknownType(kind.to_string()), reference));
    }
    match serde_json::from_value::<ClientFrame>(value) {
        Ok(frame) => Ok((frame, reference)),
        Err(err) => Err((Error::InvalidFrame(err.to_string()), reference)),
    }
}

pub fn error(err: &Error, reference: Option<&Ref>, client_id: Option<&str>) -> Utf8Bytes {
    Utf8Bytes::from(
        ServerFrame::Error {
            code: err.code().to_string(),
            message: err.public_message(),
            reference: reference.cloned(),
            client_id: client_id.map(str::to_string),
        }
        .encode(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        parse(text).unwrap_err().0.code()
    }

    #[test]
    fn every_kind_of_bad_frame_gets_its_own_code() {
        assert_eq!(code("{not json"), "invalid_json");
        assert_eq!(code("[1,2]"), "invalid_frame");
        assert_eq!(code(r#"{"room_id":"r"}"#), "invalid_frame");
        assert_eq!(code(r#"{"type":7}"#), "invalid_frame");
        assert_eq!(code(r#"{"type":"shout"}"#), "unknown_type");
        assert_eq!(code(r#"{"type":"send","room_id":"r"}"#), "invalid_frame");
        assert_eq!(
            code(r#"{"type":"move","room_id":"r","message_id":"m"}"#),
            "invalid_frame"
        );
    }

    #[test]
    fn a_frame_with_a_duplicated_key_is_refused() {
        assert_eq!(code(r#"{"type":"ping","type":"send"}"#), "invalid_json");
        assert_eq!(
            code(r#"{"type":"send","room_id":"r","client_id":"c","body":"A","body":"B"}"#),
            "invalid_json"
        );
    }

    #[test]
    fn the_ref_of_a_bad_frame_comes_back() {
        let (_, reference) = parse(r#"{"type":"send","ref":42}"#).unwrap_err();
        assert_eq!(reference, Some(serde_json::json!(42)));
    }

    /// Found by the `client_frame` fuzz target: without serde_json's `float_roundtrip`, a number
    /// such as 3.3000001335842806e+25 (what `JSON.stringify` writes for that double) was read
    /// one unit in the last place off, so the `ref` echoed in the answer was a different number.
    #[test]
    fn a_numeric_ref_comes_back_as_the_same_number() {
        let text = r#"{"type":"ping","ref":3.3000001335842806e+25}"#;
        let (frame, reference) = parse(text).unwrap();
        assert_eq!(reference.unwrap().as_f64(), Some(3.3000001335842806e25));
        let echoed = ServerFrame::Pong {
            reference: frame.reference().cloned(),
        }
        .encode();
        assert_eq!(echoed, r#"{"type":"pong","ref":3.3000001335842806e+25}"#);
    }

    #[test]
    fn a_move_to_the_top_carries_a_null_after() {
        let (frame, _) =
            parse(r#"{"type":"move","room_id":"r","message_id":"m","after":null}"#).unwrap();
        assert!(matches!(frame, ClientFrame::Move { after: None, .. }));
    }
}
