//! The checks behind the fuzz targets in `fuzz/` (cargo-fuzz), in a crate of their own so that the
//! committed corpora also run as ordinary tests (`fuzz/checks/tests/corpora.rs`, part of the normal
//! test run) with the very same code. They reach the server only through its public API.
//!
//! Each check takes arbitrary bytes, drives one input surface of Palaver with them, and panics
//! when an invariant breaks. A clean rejection of bad input is fine; a panic is the bug.
//!
//! - [`client_frame`]: the WebSocket frame decoder, then the validators the gateway applies.
//! - [`rest_body`]: the REST JSON extractor for each request body type, then its validators.
//! - [`position_keys`]: display-order key generation under appends, moves and deletes, and
//!   `between` on arbitrary well-formed keys.

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, Request, StatusCode};
use futures_util::FutureExt;
use serde::de::DeserializeOwned;

use palaver::chat::validate;
use palaver::error::Error;
use palaver::gateway::frames;
use palaver::http::extract::ApiJson;
use palaver::protocol::{
    ClientFrame, CreateRoomRequest, Credentials, EditMessageRequest, GuestRequest,
    MoveMessageRequest, Rearrange, SendMessageRequest, ServerFrame, UpdateRoomRequest,
};
use palaver::store::position::{self, MAX_KEY_LEN};

/// Checks that an error a client caused is a client error with a stable code, and that both of
/// its wire forms (REST body, socket frame) encode and read back.
fn check_client_error(err: &Error) {
    let status = err.status();
    assert!(
        status.is_client_error(),
        "bad input answered {status} ({err:?})"
    );
    let body = serde_json::to_value(err.body()).expect("error bodies serialise");
    assert_eq!(body["error"]["code"], err.code());
    let frame = frames::error(err, None, None);
    match serde_json::from_str::<ServerFrame>(frame.as_str()) {
        Ok(ServerFrame::Error { code, .. }) => assert_eq!(code, err.code()),
        other => panic!("an error frame reads back as an error frame: {other:?}"),
    }
}

/// Runs a validator and, when it accepts, checks what it answers with `holds`.
fn check_validator<T: std::fmt::Debug>(
    result: palaver::error::Result<T>,
    holds: impl FnOnce(&T) -> bool,
    what: &str,
) {
    match result {
        Ok(value) => assert!(holds(&value), "{what} accepted {value:?}"),
        Err(err) => check_client_error(&err),
    }
}

fn check_body(raw: &str) {
    check_validator(
        validate::body(raw),
        |b| *b == raw.trim() && !b.is_empty() && b.chars().count() <= validate::BODY_MAX,
        "body",
    );
}

fn check_client_id(raw: &str) {
    check_validator(
        validate::client_id(raw),
        |c| {
            *c == raw
                && (1..=validate::CLIENT_ID_MAX).contains(&c.len())
                && c.bytes().all(|b| b.is_ascii_graphic())
        },
        "client_id",
    );
}

fn check_username(raw: &str) {
    check_validator(
        validate::username(raw),
        |u| {
            *u == raw
                && (validate::USERNAME_MIN..=validate::USERNAME_MAX).contains(&u.chars().count())
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        },
        "username",
    );
}

fn check_password(raw: &str) {
    check_validator(
        validate::password(raw, "fuzzer"),
        |p| {
            p.chars().count() >= validate::PASSWORD_MIN
                && p.len() <= validate::PASSWORD_MAX
                && !p.chars().any(char::is_control)
        },
        "password",
    );
}

fn check_room_name(raw: &str) {
    check_validator(
        validate::room_name(raw),
        |n| {
            !n.is_empty()
                && n.chars().count() <= validate::ROOM_NAME_MAX
                && !n.chars().any(validate::invisible)
        },
        "room name",
    );
}

fn check_topic(raw: &str) {
    check_validator(
        validate::topic(raw),
        |t| *t == raw.trim() && t.chars().count() <= validate::TOPIC_MAX,
        "topic",
    );
}

fn check_rearrange(raw: &str) {
    if let Some(rearrange) = Rearrange::parse(raw) {
        assert_eq!(rearrange.as_str(), raw);
    }
}

/// The client frame decoder (`gateway::frames::parse`) on one text frame, then the validators
/// the gateway runs on what it decoded.
///
/// Invariants: no panic; a rejected frame gets `invalid_json`, `invalid_frame` or
/// `unknown_type` (a 400-class error whose frame encodes); an accepted frame's `ref` is the one
/// it carried, and the frame survives a serialise/parse round trip unchanged.
pub fn client_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // Text frames are UTF-8 by the WebSocket protocol; the socket layer refuses the rest.
        return;
    };
    match frames::parse(text) {
        Err((err, _reference)) => {
            assert!(
                matches!(
                    err,
                    Error::InvalidJson(_) | Error::InvalidFrame(_) | Error::UnknownType(_)
                ),
                "a bad frame gets a frame error, not {err:?}"
            );
            check_client_error(&err);
        }
        Ok((frame, reference)) => {
            if !matches!(frame, ClientFrame::Typing { .. }) {
                // `"ref": null` is no ref at all.
                let raw = reference.filter(|r| !r.is_null());
                assert_eq!(frame.reference(), raw.as_ref(), "the ref comes back");
            }
            let again = serde_json::to_string(&frame).expect("frames serialise");
            let (reparsed, _) = frames::parse(&again)
                .unwrap_or_else(|(err, _)| panic!("a serialised frame parses again: {err:?}"));
            assert_eq!(reparsed, frame, "round trip through {again}");
            match &frame {
                ClientFrame::Send {
                    client_id, body, ..
                } => {
                    check_client_id(client_id);
                    check_body(body);
                }
                ClientFrame::Edit { body, .. } => check_body(body),
                _ => {}
            }
        }
    }
}

/// Runs the REST JSON extractor exactly as a handler would see `body`.
fn extract<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a request");
    // The body is in memory, so extraction never waits.
    ApiJson::<T>::from_request(request, &())
        .now_or_never()
        .expect("extracting an in-memory body completes at once")
        .map(|ApiJson(value)| value)
}

/// One REST body: the first byte picks the request type, the rest is the JSON body. The body
/// goes through the real extractor (`http::extract::ApiJson`), then through the validators its
/// handler applies.
///
/// Invariants: no panic; a rejected body is a 400 `invalid_json` or `invalid_request`; every
/// value a validator accepts is within the documented limits.
pub fn rest_body(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    fn run<T: DeserializeOwned>(body: &[u8], then: impl FnOnce(T)) {
        match extract::<T>(body) {
            Ok(value) => then(value),
            Err(err) => {
                assert!(
                    matches!(err, Error::InvalidJson(_) | Error::InvalidRequest(_)),
                    "a bad body gets invalid_json or invalid_request, not {err:?}"
                );
                assert_eq!(err.status(), StatusCode::BAD_REQUEST);
                check_client_error(&err);
            }
        }
    }
    match kind % 7 {
        0 => run(body, |c: Credentials| {
            check_username(&c.username);
            check_password(&c.password);
        }),
        1 => run(body, |g: GuestRequest| check_username(&g.username)),
        2 => run(body, |r: CreateRoomRequest| {
            check_room_name(&r.name);
            check_topic(r.topic.as_deref().unwrap_or(""));
        }),
        3 => run(body, |r: UpdateRoomRequest| {
            if let Some(name) = &r.name {
                check_room_name(name);
            }
            if let Some(topic) = &r.topic {
                check_topic(topic);
            }
            if let Some(rearrange) = &r.rearrange {
                check_rearrange(rearrange);
            }
        }),
        4 => run(body, |s: SendMessageRequest| {
            check_client_id(&s.client_id);
            check_body(&s.body);
        }),
        5 => run(body, |e: EditMessageRequest| check_body(&e.body)),
        _ => run(body, |_: MoveMessageRequest| {}),
    }
}

/// Whether `key` is a well-formed position key: a length letter `a`–`z`, that many base-36
/// digits without a leading zero (except the single digit `0`), then a fraction of base-36
/// digits that does not end in `0`.
pub fn is_well_formed_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some((&head, rest)) = bytes.split_first() else {
        return false;
    };
    if !head.is_ascii_lowercase() {
        return false;
    }
    let len = (head - b'a' + 1) as usize;
    if rest.len() < len {
        return false;
    }
    let (int, frac) = rest.split_at(len);
    let digit = |b: &u8| b.is_ascii_digit() || b.is_ascii_lowercase();
    int.iter().all(digit)
        && (len == 1 || int[0] != b'0')
        && frac.iter().all(digit)
        && frac.last() != Some(&b'0')
}

/// A well-formed key from fuzz bytes: an integer part below 36^12 and a fraction of up to 12
/// digits (trailing zeros dropped).
fn key_from(bytes: &mut std::slice::Iter<'_, u8>) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut int: u64 = 0;
    for _ in 0..8 {
        int = (int << 8) | u64::from(bytes.next().copied().unwrap_or(0));
    }
    let int = int % 36u64.pow(12);
    let mut digits = Vec::new();
    let mut value = int;
    loop {
        digits.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    digits.push(b'a' + (digits.len() as u8 - 1));
    digits.reverse();
    let frac_len = bytes.next().copied().unwrap_or(0) % 13;
    for _ in 0..frac_len {
        digits.push(DIGITS[(bytes.next().copied().unwrap_or(0) % 36) as usize]);
    }
    while digits.len() > 1 + (digits[0] - b'a' + 1) as usize && digits.last() == Some(&b'0') {
        digits.pop();
    }
    String::from_utf8(digits).expect("ascii")
}

/// Checks one answer of `between(low, high)`: well-formed and strictly between, or longer than
/// [`MAX_KEY_LEN`], which tells the store to respace the room and ask again.
fn check_between(low: Option<&str>, high: Option<&str>, key: &str) -> bool {
    assert!(
        is_well_formed_key(key),
        "between({low:?}, {high:?}) = {key:?} is malformed"
    );
    if key.len() > MAX_KEY_LEN {
        return false;
    }
    assert!(
        low.is_none_or(|low| low < key) && high.is_none_or(|high| key < high),
        "between({low:?}, {high:?}) = {key:?} is not strictly between"
    );
    true
}

/// Position keys, two ways (the first byte chooses).
///
/// Even: a room simulated the way the stores keep it. Each following byte is an operation on
/// the room's messages in display order: append (`after` the last), move a message after
/// another or to the top (the key between that message and the next, as the stores compute
/// it), delete. A key longer than [`MAX_KEY_LEN`] makes the room respace (`spread`) and the key
/// be computed again, as the stores do. After every step the keys are well formed, unique,
/// strictly increasing, and at most [`MAX_KEY_LEN`] long.
///
/// Odd: two arbitrary well-formed keys; `between` of them (in order, and with either side
/// open), `after` and `before` must answer a well-formed key strictly between its bounds, or
/// signal a respace by its length.
pub fn position_keys(data: &[u8]) {
    let Some((&mode, ops)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let mut bytes = ops.iter();
        let a = key_from(&mut bytes);
        let b = key_from(&mut bytes);
        let (low, high) = match a.cmp(&b) {
            std::cmp::Ordering::Less => (a, b),
            std::cmp::Ordering::Greater => (b, a),
            std::cmp::Ordering::Equal => (a, String::new()),
        };
        if !high.is_empty() {
            let mid = position::between(Some(&low), Some(&high));
            check_between(Some(&low), Some(&high), &mid);
        }
        for key in [&low, &high].into_iter().filter(|k| !k.is_empty()) {
            check_between(Some(key), None, &position::between(Some(key), None));
            check_between(None, Some(key), &position::between(None, Some(key)));
            check_between(Some(key), None, &position::after(Some(key)));
            check_between(None, Some(key), &position::before(key));
        }
        return;
    }
    // The room: keys in display order.
    let mut room: Vec<String> = Vec::new();
    let mut bytes = ops.iter();
    while let Some(&op) = bytes.next() {
        match op % 4 {
            0 | 1 => {
                let key = position::after(room.last().map(String::as_str));
                assert!(check_between(room.last().map(String::as_str), None, &key));
                room.push(key);
            }
            2 if !room.is_empty() => {
                let moving = usize::from(bytes.next().copied().unwrap_or(0)) % room.len();
                // Which message it goes after, counted without itself; past the end: the top.
                let target = usize::from(bytes.next().copied().unwrap_or(0)) % room.len();
                let key = room.remove(moving);
                let after = (target < room.len()).then_some(target);
                let place = |room: &[String]| {
                    let low = after.map(|i| room[i].clone());
                    let high = match after {
                        Some(i) => room.get(i + 1).cloned(),
                        None => room.first().cloned(),
                    };
                    let key = position::between(low.as_deref(), high.as_deref());
                    (check_between(low.as_deref(), high.as_deref(), &key), key)
                };
                let (fits, mut new_key) = place(&room);
                if !fits {
                    // Respace, in current order with the moving message where it was, then
                    // place it again.
                    room.insert(moving, key);
                    room = position::spread(room.len());
                    room.remove(moving);
                    let (fits, key) = place(&room);
                    assert!(fits, "a move right after a respace fits: {key:?}");
                    new_key = key;
                }
                let at = after.map_or(0, |i| i + 1);
                room.insert(at, new_key);
            }
            3 if !room.is_empty() => {
                let gone = usize::from(bytes.next().copied().unwrap_or(0)) % room.len();
                room.remove(gone);
            }
            _ => {}
        }
        assert!(
            room.windows(2).all(|w| w[0] < w[1]),
            "keys out of order: {room:?}"
        );
        assert!(room
            .iter()
            .all(|k| is_well_formed_key(k) && k.len() <= MAX_KEY_LEN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_formed_key_check_matches_the_key_scheme() {
        assert!(is_well_formed_key(&position::after(None)));
        assert!(is_well_formed_key("a0"));
        assert!(is_well_formed_key("bz0k"));
        assert!(!is_well_formed_key(""));
        assert!(!is_well_formed_key("b05"), "leading zero");
        assert!(!is_well_formed_key("a5k0"), "trailing zero");
        assert!(!is_well_formed_key("c12"), "too few digits");
        assert!(!is_well_formed_key("A1"));
        assert!(!is_well_formed_key("a1_"));
    }

    #[test]
    fn the_checks_accept_ordinary_inputs() {
        client_frame(br#"{"type":"send","room_id":"r","client_id":"c1","body":" hi ","ref":1}"#);
        client_frame(br#"{"type":"shout"}"#);
        rest_body(b"\x04{\"client_id\":\"c1\",\"body\":\"hello\"}");
        rest_body(b"\x04{\"client_id\":");
        position_keys(&[0, 0, 0, 0, 2, 1, 0, 3, 0]);
        position_keys(&[1; 40]);
    }
}
