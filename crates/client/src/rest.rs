//! REST calls: any request as `(status, JSON body)` ([`call`], [`Rest::post`] …), and the typed
//! calls the tests and tools make most ([`Rest::guest`], [`Rest::create_room`], …).

use anyhow::{bail, Context};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::protocol::{AuthResponse, EventPage, MessagePage, Room};

/// Sends one request to an absolute `url` and reads its answer: the status and the body as JSON
/// (`null` when empty, a JSON string when it is not JSON). `token` goes in
/// `Authorization: Bearer`; `body`, when given, is sent as JSON.
pub async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Result<(u16, Value)> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await?).await
}

/// A response's status and its body as JSON (see [`call`]).
pub async fn read(response: reqwest::Response) -> reqwest::Result<(u16, Value)> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Ok((status, body))
}

/// A REST client of one server (`base`, e.g. `http://127.0.0.1:8080`).
#[derive(Debug, Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
}

impl Rest {
    pub fn new(base: &str) -> Rest {
        Rest::with_client(base, reqwest::Client::new())
    }

    /// Over a `reqwest` client of the caller's (cookies, source address, timeouts, pool).
    pub fn with_client(base: &str, http: reqwest::Client) -> Rest {
        Rest {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Result<(u16, Value)> {
        call(&self.http, Method::GET, &self.url(path), token, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Result<(u16, Value)> {
        call(
            &self.http,
            Method::POST,
            &self.url(path),
            token,
            Some(&body),
        )
        .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Result<(u16, Value)> {
        call(
            &self.http,
            Method::PATCH,
            &self.url(path),
            token,
            Some(&body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Result<(u16, Value)> {
        call(&self.http, Method::DELETE, &self.url(path), token, None).await
    }

    /// Signs in a guest: its user and session token.
    pub async fn guest(&self, username: &str) -> anyhow::Result<AuthResponse> {
        let answer = self
            .post("/api/auth/guest", None, json!({ "username": username }))
            .await;
        typed("guest sign-in", 201, answer)
    }

    pub async fn create_room(&self, token: &str, name: &str) -> anyhow::Result<Room> {
        let answer = self
            .post("/api/rooms", Some(token), json!({ "name": name }))
            .await;
        typed(&format!("creating room {name:?}"), 201, answer)
    }

    pub async fn room(&self, token: &str, room_id: &str) -> anyhow::Result<Room> {
        let answer = self
            .get(&format!("/api/rooms/{room_id}"), Some(token))
            .await;
        typed(&format!("room {room_id}"), 200, answer)
    }

    /// Makes the token's user a member of the room.
    pub async fn join(&self, token: &str, room_id: &str) -> anyhow::Result<()> {
        let path = format!("/api/rooms/{room_id}/join");
        let (status, body) = call(
            &self.http,
            Method::POST,
            &self.url(&path),
            Some(token),
            None,
        )
        .await
        .with_context(|| format!("joining room {room_id}"))?;
        if !(200..300).contains(&status) {
            bail!("joining room {room_id} answered {status}: {body}");
        }
        Ok(())
    }

    /// The first page of a room's history (at most `limit` messages, in display order).
    pub async fn history(
        &self,
        token: &str,
        room_id: &str,
        limit: u32,
    ) -> anyhow::Result<MessagePage> {
        let path = format!("/api/rooms/{room_id}/messages?limit={limit}");
        let answer = self.get(&path, Some(token)).await;
        typed(&format!("history of {room_id}"), 200, answer)
    }

    /// The room's events after `after`, at most `limit` of them.
    pub async fn events(
        &self,
        token: &str,
        room_id: &str,
        after: u64,
        limit: u32,
    ) -> anyhow::Result<EventPage> {
        let path = format!("/api/rooms/{room_id}/events?after={after}&limit={limit}");
        let answer = self.get(&path, Some(token)).await;
        typed(&format!("events of {room_id}"), 200, answer)
    }
}

/// Reads an answer as `T` when its status is `expected`; otherwise an error naming `what`, the
/// status and the body.
fn typed<T: DeserializeOwned>(
    what: &str,
    expected: u16,
    answer: reqwest::Result<(u16, Value)>,
) -> anyhow::Result<T> {
    let (status, body) = answer.with_context(|| what.to_string())?;
    if status != expected {
        bail!("{what} answered {status}: {body}");
    }
    serde_json::from_value(body.clone()).with_context(|| format!("{what} answered {body}"))
}
