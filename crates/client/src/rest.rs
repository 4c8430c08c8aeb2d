//! REST calls: any request as `(status, JSON body)` ([`call`], [`Rest::post`] …), and the typed
//! calls the tests and tools make most ([`Rest::guest`], [`Rest::create_room`], …).

use anyhow::{bail, Context};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::protocol::{AuthResponse, EventPage, Message, MessagePage, Room};

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

    /// A `PUT` with no body.
    pub async fn put(&self, path: &str, token: Option<&str>) -> reqwest::Result<(u16, Value)> {
        call(&self.http, Method::PUT, &self.url(path), token, None).await
    }

    // Replies, threads, reactions, pins (issue #10).

    /// Sends a message, a reply (`reply_to`) or a thread reply (`thread_id`): the status
    /// (201 new, 200 a retry) and the message.
    pub async fn send_in(
        &self,
        token: &str,
        room_id: &str,
        client_id: &str,
        body: &str,
        reply_to: Option<&str>,
        thread_id: Option<&str>,
    ) -> anyhow::Result<(u16, Message)> {
        let path = format!("/api/rooms/{room_id}/messages");
        let request = json!({"client_id": client_id, "body": body, "reply_to": reply_to,
            "thread_id": thread_id});
        let (status, body) = self
            .post(&path, Some(token), request)
            .await
            .with_context(|| format!("sending to {room_id}"))?;
        if status != 200 && status != 201 {
            bail!("sending to {room_id} answered {status}: {body}");
        }
        Ok((status, serde_json::from_value(body)?))
    }

    /// A page of a thread's replies (without its first message).
    pub async fn thread(
        &self,
        token: &str,
        room_id: &str,
        root_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<MessagePage> {
        let mut url = reqwest::Url::parse(
            &self.url(&format!("/api/rooms/{room_id}/threads/{root_id}/messages")),
        )?;
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string());
        if let Some(before) = before {
            url.query_pairs_mut().append_pair("before", before);
        }
        let answer = call(&self.http, Method::GET, url.as_str(), Some(token), None).await;
        typed(&format!("thread {root_id}"), 200, answer)
    }

    /// The URL of a message's reaction with `emoji`, percent-encoded.
    pub fn reaction_url(&self, room_id: &str, message_id: &str, emoji: &str) -> String {
        let mut url = reqwest::Url::parse(&self.url(&format!(
            "/api/rooms/{room_id}/messages/{message_id}/reactions"
        )))
        .expect("the base is a URL");
        url.path_segments_mut()
            .expect("an http URL has a path")
            .push(emoji);
        url.to_string()
    }

    /// `PUT` (`add`) or `DELETE` the caller's reaction: the status and body.
    pub async fn react(
        &self,
        token: &str,
        room_id: &str,
        message_id: &str,
        emoji: &str,
        add: bool,
    ) -> reqwest::Result<(u16, Value)> {
        let method = if add { Method::PUT } else { Method::DELETE };
        let url = self.reaction_url(room_id, message_id, emoji);
        call(&self.http, method, &url, Some(token), None).await
    }

    /// `POST` (`pin`) or `DELETE` a message's pin: the status and body.
    pub async fn pin(
        &self,
        token: &str,
        room_id: &str,
        message_id: &str,
        pin: bool,
    ) -> reqwest::Result<(u16, Value)> {
        let method = if pin { Method::POST } else { Method::DELETE };
        let url = self.url(&format!("/api/rooms/{room_id}/messages/{message_id}/pin"));
        let body = pin.then(|| json!({}));
        call(&self.http, method, &url, Some(token), body.as_ref()).await
    }

    /// The room's pinned messages, the newest pin first.
    pub async fn pins(&self, token: &str, room_id: &str) -> anyhow::Result<Vec<Message>> {
        let answer = self
            .get(&format!("/api/rooms/{room_id}/pins"), Some(token))
            .await;
        typed(&format!("pins of {room_id}"), 200, answer)
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
