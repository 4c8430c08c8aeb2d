//! What the OpenAPI document says about input and failure, made from the same constants and
//! character rules the server checks with (`chat::validate`, `protocol::Rearrange`), so the
//! document and the server can't drift apart: lengths, ranges, patterns, enums and required
//! fields of the request bodies and query parameters, and the statuses every operation of a kind
//! can answer (401 where a session is needed, 400 and 413 where a body is read, 400 where a query
//! is read).
//!
//! It works on the document as JSON after utoipa made it, so the handlers' annotations carry no
//! limits of their own (which would be the same number typed twice).

use serde_json::{json, Map, Value};

use crate::chat::search;
use crate::chat::validate as v;
use crate::error::Error;
use crate::protocol::{MentionEveryone, PinPolicy, Rearrange};

/// Applies every rule to the document.
pub fn apply(doc: &mut Value) {
    for (schema, property, rule) in property_rules() {
        if let Some(target) = doc.pointer_mut(&format!(
            "/components/schemas/{schema}/properties/{property}"
        )) {
            merge(target, rule);
        }
    }
    for (schema, required) in required_rules() {
        if let Some(target) = doc.pointer_mut(&format!("/components/schemas/{schema}")) {
            let list = target
                .as_object_mut()
                .expect("a schema object")
                .entry("required")
                .or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                if !list.iter().any(|n| n == required) {
                    list.push(json!(required));
                }
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, operation) in item.iter_mut() {
            if let Some(operation) = operation.as_object_mut() {
                query_rules(path, operation);
                statuses(operation);
            }
        }
    }
}

/// A regular-expression character class of the ASCII characters `allowed` accepts (the rules
/// accept no others), as `^[…]+$`.
fn pattern(allowed: fn(char) -> bool) -> String {
    let class: String = (' '..='~')
        .filter(|&c| allowed(c))
        .map(|c| match c {
            '\\' | ']' | '[' | '^' | '-' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect();
    format!("^[{class}]+$")
}

fn property_rules() -> Vec<(&'static str, &'static str, Value)> {
    let username = json!({
        "minLength": v::USERNAME_MIN, "maxLength": v::USERNAME_MAX,
        "pattern": pattern(v::username_char),
    });
    let room_name = json!({"minLength": 1, "maxLength": v::ROOM_NAME_MAX,
        "description": format!("1–{} characters after trimming and NFC; no invisible or \
            text-direction characters", v::ROOM_NAME_MAX)});
    let topic = json!({"maxLength": v::TOPIC_MAX});
    let body = json!({"minLength": 1, "maxLength": v::BODY_MAX,
        "description": format!("1–{} characters after trimming, not only invisible ones",
            v::BODY_MAX)});
    let mut rearrange: Vec<Value> = Rearrange::ALL.iter().map(|r| json!(r.as_str())).collect();
    rearrange.push(Value::Null);
    let mut pins: Vec<Value> = PinPolicy::ALL.iter().map(|p| json!(p.as_str())).collect();
    pins.push(Value::Null);
    let mut mention_everyone: Vec<Value> = MentionEveryone::ALL
        .iter()
        .map(|r| json!(r.as_str()))
        .collect();
    mention_everyone.push(Value::Null);
    vec![
        ("Credentials", "username", username.clone()),
        (
            "Credentials",
            "password",
            json!({"minLength": v::PASSWORD_MIN,
                "description": format!("At least {} characters and at most {} bytes (RFC 8265 \
                    OpaqueString); a new one must also be hard to guess",
                    v::PASSWORD_MIN, v::PASSWORD_MAX)}),
        ),
        ("GuestRequest", "username", username),
        ("CreateRoomRequest", "name", room_name.clone()),
        ("CreateRoomRequest", "topic", topic.clone()),
        ("UpdateRoomRequest", "name", room_name),
        ("UpdateRoomRequest", "topic", topic),
        ("UpdateRoomRequest", "rearrange", json!({"enum": rearrange})),
        ("UpdateRoomRequest", "pins", json!({"enum": pins})),
        (
            "SendMessageRequest",
            "client_id",
            json!({"minLength": 1, "maxLength": v::CLIENT_ID_MAX,
                "pattern": pattern(v::client_id_char)}),
        ),
        ("SendMessageRequest", "body", body.clone()),
        ("EditMessageRequest", "body", body),
        // Issue #10.
        (
            "UpdateRoomRequest",
            "mention_everyone",
            json!({"enum": mention_everyone}),
        ),
        (
            "PushSubscriptionRequest",
            "endpoint",
            json!({"minLength": 1, "maxLength": crate::chat::push::ENDPOINT_MAX,
                "description": "An https URL on a public host (http and private hosts only \
                    with PALAVER_PUSH_ALLOW_INSECURE)"}),
        ),
        (
            "PushUnsubscribeRequest",
            "endpoint",
            json!({"maxLength": crate::chat::push::ENDPOINT_MAX}),
        ),
        ("ReadRequest", "seq", json!({"minimum": 0})),
    ]
}

/// Fields that must be present even when they may be `null`.
fn required_rules() -> Vec<(&'static str, &'static str)> {
    vec![("MoveMessageRequest", "after")]
}

/// `limit`, `wait` and the events' `after`, by the path they belong to.
fn query_rules(path: &str, operation: &mut Map<String, Value>) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let list = (v::LIST_LIMIT_DEFAULT, v::LIST_LIMIT_MAX);
    let limit = match path {
        "/api/rooms" | "/api/rooms/{room_id}/members" => Some(list),
        "/api/rooms/{room_id}/messages" => Some((v::HISTORY_LIMIT_DEFAULT, v::HISTORY_LIMIT_MAX)),
        "/api/rooms/{room_id}/threads/{message_id}/messages" => {
            Some((v::THREAD_LIMIT_DEFAULT, v::THREAD_LIMIT_MAX))
        }
        "/api/rooms/{room_id}/events" => Some((v::EVENTS_LIMIT_DEFAULT, v::EVENTS_LIMIT_MAX)),
        "/api/search" => Some((search::SEARCH_LIMIT_DEFAULT, search::SEARCH_LIMIT_MAX)),
        _ => None,
    };
    for parameter in parameters.iter_mut() {
        if parameter["in"] == "path" && parameter["name"] == "emoji" {
            let rule = json!({"minLength": 1, "maxLength": v::EMOJI_MAX_BYTES,
                "description": format!("At most {} bytes (UTF-8)", v::EMOJI_MAX_BYTES)});
            if let Some(schema) = parameter.get_mut("schema") {
                merge(schema, rule);
            }
            continue;
        }
        if parameter["in"] != "query" {
            continue;
        }
        let rule = match (parameter["name"].as_str(), path) {
            (Some("limit"), _) => limit.map(|(default, max)| {
                json!({"minimum": v::LIMIT_MIN, "maximum": max, "default": default})
            }),
            (Some("wait"), "/api/rooms/{room_id}/events") => {
                Some(json!({"minimum": 0, "maximum": v::WAIT_MAX_SECS, "default": 0}))
            }
            (Some("q"), "/api/search") => {
                Some(json!({"minLength": 1, "maxLength": search::QUERY_MAX_CHARS}))
            }
            (Some("before"), "/api/search") => {
                Some(json!({"minLength": 1, "maxLength": search::CURSOR_MAX_CHARS}))
            }
            (Some("after"), "/api/rooms/{room_id}/events") => {
                Some(json!({"minimum": 0, "maximum": v::AFTER_SEQ_MAX, "default": 0}))
            }
            _ => None,
        };
        if let (Some(rule), Some(schema)) = (rule, parameter.get_mut("schema")) {
            merge(schema, rule);
        }
    }
}

/// The statuses an operation can answer because of what it reads: 401 when it needs a session,
/// 400 (bad JSON, wrong content type or fields) and 413 (over the body limit) when it reads a
/// body, 400 when it reads a query.
fn statuses(operation: &mut Map<String, Value>) {
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
    let has_body = operation.contains_key("requestBody");
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, description: String| {
        responses.entry(status.to_string()).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            })
        });
    };
    if secured {
        add(
            "401",
            format!("{}: no valid session", Error::Unauthenticated.code()),
        );
    }
    if has_body {
        let json_error = Error::InvalidJson(String::new()).code();
        let request_error = Error::InvalidRequest(String::new()).code();
        add(
            "400",
            format!("{json_error}, {request_error}: the body is not the JSON this operation takes"),
        );
        let too_large = Error::PayloadTooLarge {
            max: super::BODY_LIMIT,
        };
        add(
            "413",
            format!(
                "{}: the body is over {} bytes",
                too_large.code(),
                super::BODY_LIMIT
            ),
        );
    }
    if has_query {
        add(
            "400",
            format!(
                "{}: a query parameter out of range",
                Error::InvalidRequest(String::new()).code()
            ),
        );
    }
}

/// Adds `rule`'s keys to a schema; a description is appended to the one there.
fn merge(target: &mut Value, rule: Value) {
    let (Some(target), Value::Object(rule)) = (target.as_object_mut(), rule) else {
        return;
    };
    for (key, value) in rule {
        match (
            key.as_str(),
            target.get("description").and_then(Value::as_str),
        ) {
            ("description", Some(existing)) => {
                let joined = format!("{existing} {}", value.as_str().unwrap_or_default());
                target.insert(key, json!(joined));
            }
            _ => {
                target.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The characters a `^[…]+$` class made by [`pattern`] lists (it lists each one, no ranges).
    fn class(pattern: &str) -> Vec<char> {
        let inner = &pattern[2..pattern.len() - 3];
        let mut out = Vec::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
        out
    }

    /// Each pattern accepts exactly the printable ASCII characters its validator accepts.
    #[test]
    fn patterns_are_the_validators_character_rules() {
        let names = class(&pattern(v::username_char));
        let client_ids = class(&pattern(v::client_id_char));
        for c in ' '..='~' {
            let name = format!("ab{c}");
            assert_eq!(v::username(&name).is_ok(), names.contains(&c), "{c:?}");
            let id = format!("x{c}");
            assert_eq!(v::client_id(&id).is_ok(), client_ids.contains(&c), "{c:?}");
        }
    }

    #[test]
    fn the_document_carries_the_validators_limits() {
        let doc = super::super::openapi::document();
        let schemas = &doc["components"]["schemas"];
        let username = &schemas["Credentials"]["properties"]["username"];
        assert_eq!(username["minLength"], v::USERNAME_MIN);
        assert_eq!(username["maxLength"], v::USERNAME_MAX);
        let body = &schemas["SendMessageRequest"]["properties"]["body"];
        assert_eq!(
            (&body["minLength"], &body["maxLength"]),
            (&json!(1), &json!(v::BODY_MAX))
        );
        assert!(schemas["MoveMessageRequest"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("after")));
        let rearrange = &schemas["UpdateRoomRequest"]["properties"]["rearrange"]["enum"];
        assert_eq!(rearrange, &json!(["anyone", "moderators", "nobody", null]));
        let events = &doc["paths"]["/api/rooms/{room_id}/events"]["get"];
        let wait = events["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "wait")
            .unwrap();
        assert_eq!(wait["schema"]["maximum"], v::WAIT_MAX_SECS);
        let edit = &doc["paths"]["/api/rooms/{room_id}/messages/{message_id}"]["patch"];
        for status in ["400", "401", "413"] {
            assert!(
                edit["responses"].get(status).is_some(),
                "edit lacks {status}"
            );
        }
        let login = &doc["paths"]["/api/auth/login"]["post"]["responses"];
        assert!(login.get("400").is_some() && login.get("401").is_some());
    }
}
