//! A client that behaves like the web client under failure: it keeps the room's log by `seq`
//! (failing on any gap or duplicate), reconnects to the next address when its socket dies,
//! resumes with `after`, and retries an unacknowledged send with the same `client_id`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{connect, Closed, WsClient, WAIT};

pub struct Chatter {
    pub name: String,
    token: String,
    room_id: String,
    /// Addresses to connect to, tried in turn from `current`.
    addrs: Vec<String>,
    current: usize,
    socket: Option<WsClient>,
    /// The room's events as this client saw them: seq 1, 2, 3, … exactly.
    pub last_seq: u64,
    /// Message ids created, in seq order.
    pub created: Vec<String>,
    /// client_ids acknowledged to this client.
    pub acked: Vec<String>,
    pub reconnects: u32,
    /// When this client's socket last died, and how long until its next ack after that.
    died_at: Option<Instant>,
    pub recoveries: Vec<Duration>,
}

impl Chatter {
    pub async fn join(
        name: &str,
        token: &str,
        room_id: &str,
        addrs: Vec<String>,
        current: usize,
    ) -> Chatter {
        let mut chatter = Chatter {
            name: name.to_string(),
            token: token.to_string(),
            room_id: room_id.to_string(),
            addrs,
            current,
            socket: None,
            last_seq: 0,
            created: Vec::new(),
            acked: Vec::new(),
            reconnects: 0,
            died_at: None,
            recoveries: Vec::new(),
        };
        chatter.ensure_connected().await;
        chatter
    }

    pub fn node_id(&self) -> &str {
        self.socket.as_ref().map_or("", |s| s.node_id())
    }

    /// Takes one event into the log; a gap or a duplicate fails the test.
    fn take_event(&mut self, event: &Value) {
        let seq = event["seq"].as_u64().expect("events have a seq");
        assert_eq!(
            seq,
            self.last_seq + 1,
            "{}: event seq {seq} after {} (gap or duplicate): {event}",
            self.name,
            self.last_seq
        );
        self.last_seq = seq;
        if event["kind"] == "message.created" {
            self.created
                .push(event["message"]["id"].as_str().unwrap().to_string());
        }
    }

    /// Connects (rotating through the addresses) and subscribes after the last seq seen.
    async fn ensure_connected(&mut self) {
        let deadline = Instant::now() + WAIT * 2;
        while self.socket.is_none() {
            assert!(
                Instant::now() < deadline,
                "{}: could not reconnect anywhere",
                self.name
            );
            let addr = self.addrs[self.current % self.addrs.len()].clone();
            match connect(&addr, &self.token).await {
                Ok(mut socket) => {
                    // Always with `after` (0 at first): the whole log, so the list is complete.
                    match socket.resume(&self.room_id, Some(self.last_seq)).await {
                        Ok((replayed, _subscribed)) => {
                            for event in &replayed {
                                self.take_event(event);
                            }
                            self.socket = Some(socket);
                        }
                        Err(_) => self.current += 1,
                    }
                }
                Err(_) => {
                    self.current += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn lost_socket(&mut self) {
        if self.socket.take().is_some() {
            self.reconnects += 1;
            self.died_at.get_or_insert_with(Instant::now);
        }
        self.current += 1;
    }

    /// Sends until acknowledged, surviving dead sockets and `unavailable` answers.
    pub async fn send(&mut self, client_id: &str, body: &str) {
        let deadline = Instant::now() + WAIT * 3;
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: {client_id} never acknowledged",
                self.name
            );
            self.ensure_connected().await;
            let frame = json!({"type": "send", "room_id": self.room_id, "client_id": client_id, "body": body});
            let socket = self.socket.as_mut().unwrap();
            if socket.try_send(frame).await.is_err() {
                self.lost_socket();
                continue;
            }
            match self.wait_for_ack(client_id).await {
                Ok(true) => {
                    self.acked.push(client_id.to_string());
                    if let Some(died) = self.died_at.take() {
                        self.recoveries.push(died.elapsed());
                    }
                    return;
                }
                Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(_) => self.lost_socket(),
            }
        }
    }

    /// `Ok(true)` on the ack, `Ok(false)` on an error answer (retry), `Err` if the socket died.
    async fn wait_for_ack(&mut self, client_id: &str) -> Result<bool, Closed> {
        loop {
            let frame = self
                .socket
                .as_mut()
                .unwrap()
                .next_within(Duration::from_secs(5))
                .await?;
            match frame["type"].as_str() {
                Some("event") => self.take_event(&frame["event"]),
                Some("ack") if frame["client_id"] == client_id => return Ok(true),
                Some("error") if frame["client_id"] == client_id => {
                    assert_eq!(
                        frame["code"], "unavailable",
                        "{}: unexpected error {frame}",
                        self.name
                    );
                    return Ok(false);
                }
                _ => {}
            }
        }
    }

    /// Reads until this client has seen every event up to `last_seq`.
    pub async fn catch_up_to(&mut self, last_seq: u64) {
        let deadline = Instant::now() + WAIT;
        while self.last_seq < last_seq {
            assert!(
                Instant::now() < deadline,
                "{}: stuck at seq {} of {last_seq}",
                self.name,
                self.last_seq
            );
            self.ensure_connected().await;
            match self
                .socket
                .as_mut()
                .unwrap()
                .next_within(Duration::from_secs(5))
                .await
            {
                Ok(frame) if frame["type"] == "event" => self.take_event(&frame["event"]),
                Ok(_) => {}
                Err(_) => self.lost_socket(),
            }
        }
    }

    pub async fn close(mut self) {
        if let Some(socket) = self.socket.take() {
            socket.close().await;
        }
    }
}
