//! Talking to the server: guest tokens and rooms over REST and WebSocket connections from a chosen
//! 127.0.0.x source address (both through `palaver-client`), and a cheap reading of the frames
//! that arrive by the million: the hot loops take the raw socket and [`classify`] each text frame
//! in one forward pass with `memchr` searchers, never a full JSON parse.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use palaver_client::{Connect, WsClient};
use serde_json::Value;

pub type Ws = palaver_client::Socket;

/// Where the server is, parsed once from `--url` (`http://127.0.0.1:8080`).
#[derive(Debug, Clone)]
pub struct Target {
    pub base: String,
    pub addr: SocketAddr,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_string();
        let host_port = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http:// (got {url})"))?;
        let addr = host_port
            .parse()
            .with_context(|| format!("--url must name an IP and port (got {url})"))?;
        Ok(Target { base, addr })
    }
}

/// The 127.0.0.x addresses connections are spread over, so that one address's ~28,000
/// ephemeral ports are not the limit.
pub fn source_ips(from: u8, count: u8) -> Vec<Ipv4Addr> {
    let from = from.max(1);
    (0..count.max(1))
        .map(|i| Ipv4Addr::new(127, 0, 0, from.saturating_add(i).min(254)))
        .collect()
}

/// REST clients, one per source address.
pub struct Rest {
    clients: Vec<palaver_client::Rest>,
}

impl Rest {
    pub fn new(target: &Target, ips: &[Ipv4Addr]) -> anyhow::Result<Self> {
        let clients = ips
            .iter()
            .map(|ip| {
                let http = reqwest::Client::builder()
                    .local_address(IpAddr::V4(*ip))
                    .timeout(Duration::from_secs(30))
                    .pool_max_idle_per_host(64)
                    .build()?;
                anyhow::Ok(palaver_client::Rest::with_client(&target.base, http))
            })
            .collect::<Result<_, _>>()?;
        Ok(Rest { clients })
    }

    fn client(&self, i: usize) -> &palaver_client::Rest {
        &self.clients[i % self.clients.len()]
    }

    /// Signs in a guest and returns its token.
    pub async fn guest_token(&self, i: usize, username: &str) -> anyhow::Result<String> {
        Ok(self.client(i).guest(username).await?.token)
    }

    /// Creates a room and returns its id.
    pub async fn create_room(&self, token: &str, name: &str) -> anyhow::Result<String> {
        Ok(self.client(0).create_room(token, name).await?.id)
    }

    /// Makes the token's user a member of the room (`member.joined` is appended now, while no
    /// socket is subscribed, instead of fanning out to every earlier subscriber later).
    pub async fn join(&self, i: usize, token: &str, room_id: &str) -> anyhow::Result<()> {
        self.client(i).join(token, room_id).await
    }
}

/// How long the server may take to answer while a socket is set up.
const WAIT: Duration = Duration::from_secs(30);

/// Opens a WebSocket from `source` and waits for the server's `hello`.
pub async fn connect(target: &Target, source: Ipv4Addr, token: &str) -> anyhow::Result<WsClient> {
    // Small read buffers: the idle scenario holds ~20,000 sockets in this one process.
    let options = Connect::new(&target.addr.to_string())
        .query_token(token)
        .source(IpAddr::V4(source))
        .read_buffer(8 * 1024)
        .hello()
        .wait(WAIT);
    WsClient::open(&options).await
}

/// Subscribes to a room and returns the `last_seq` of its `subscribed` answer (frames before it,
/// such as presence, are skipped).
pub async fn subscribe(ws: &mut WsClient, room_id: &str) -> anyhow::Result<u64> {
    let answer = match ws.try_subscribe(room_id, None).await {
        Ok(subscription) => subscription.answer,
        Err(closed) => bail!("the socket ended while subscribing: {closed:?}"),
    };
    match answer["type"].as_str() {
        Some("subscribed") if answer["room_id"] == room_id => {
            Ok(answer["last_seq"].as_u64().unwrap_or(0))
        }
        _ => bail!("subscribe refused: {answer}"),
    }
}

/// Subscribes on a raw socket and waits for the `subscribed` answer without parsing the frames
/// before it or the answer itself (a big room's answer lists thousands of online users: parsing
/// each would make the tool, not the server, the bound of a crowd run). `counts`: ask for
/// `presence: "counts"`, as the web client does in a big room.
pub async fn subscribe_raw(ws: &mut Ws, room_id: &str, counts: bool) -> anyhow::Result<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let presence = if counts {
        r#","presence":"counts""#
    } else {
        ""
    };
    let frame = format!(r#"{{"type":"subscribe","room_id":"{room_id}"{presence}}}"#);
    ws.send(Message::text(frame)).await?;
    let room = format!(r#""room_id":"{room_id}""#);
    loop {
        let text = match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(err))) => bail!("the socket failed while subscribing: {err}"),
            Ok(None) => bail!("the socket ended while subscribing"),
            Err(_) => bail!("no answer to subscribe within {WAIT:?}"),
        };
        let bytes = text.as_bytes();
        let has = |needle: &str| memchr::memmem::find(bytes, needle.as_bytes()).is_some();
        if has(r#""type":"subscribed""#) && has(&room) {
            return Ok(());
        }
        if has(r#""type":"error""#) || has(r#""type":"resync""#) {
            bail!("subscribe refused: {}", &text[..text.len().min(300)]);
        }
    }
}

/// The frame `send` of the publisher's `number`-th message, with its send time in the body.
///
/// The body is `pb1:<publisher>:<number>:<nanos>:` padded with `x` to `body_bytes`, so the
/// subscriber finds all three numbers without parsing the whole JSON frame.
pub fn send_frame(
    room_id: &str,
    publisher: usize,
    number: usize,
    sent_ns: u64,
    body_bytes: usize,
) -> String {
    let mut body = format!("pb1:{publisher}:{number}:{sent_ns}:");
    if body.len() < body_bytes {
        body.extend(std::iter::repeat_n('x', body_bytes - body.len()));
    }
    format!(
        r#"{{"type":"send","room_id":"{room_id}","client_id":"c{publisher}-{number}","body":"{body}"}}"#
    )
}

/// What the tool needs from a server frame, read without a full JSON parse where it can.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// An `event` frame; `mark` is set for a bench message (`message.created` of a `pb1:` body).
    Event {
        seq: Option<u64>,
        mark: Option<Mark>,
    },
    Ack {
        mark: Option<Mark>,
    },
    Error {
        code: String,
    },
    /// Any other frame: its index in [`OTHER_KINDS`] (`OTHER_KINDS.len()` for an unknown type).
    Other {
        kind: usize,
    },
}

/// The server frames the tool counts by type when they are not events, acks or errors.
pub const OTHER_KINDS: [&str; 8] = [
    "hello",
    "subscribed",
    "presence",
    "room_list",
    "typing",
    "pong",
    "unsubscribed",
    "resync",
];

/// The numbers a bench message carries in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub publisher: usize,
    pub number: usize,
    pub sent_ns: u64,
}

/// Classifies a text frame. Event and ack frames are read by scanning for their markers (Palaver
/// and the bare server both write compact JSON); anything else is parsed properly.
pub fn classify(text: &str) -> Frame {
    let bytes = text.as_bytes();
    let finder = |needle: &str| memchr::memmem::find(bytes, needle.as_bytes());
    if let Some(at) = EVENT.find(bytes) {
        // Every delivery goes through here: each marker is looked for after the one before it
        // (the order both servers write), then in the whole frame if it is not there.
        let after = |finder: &memchr::memmem::Finder<'static>, from: usize| {
            finder
                .find(&bytes[from..])
                .map(|at| from + at)
                .or_else(|| finder.find(bytes))
        };
        let seq_at = after(&SEQ, at);
        let seq = seq_at.and_then(|at| leading_number(&bytes[at + 6..]));
        let from = seq_at.unwrap_or(at);
        let mark = match after(&CREATED, from) {
            Some(created) => find_mark(bytes, created),
            None => None,
        };
        return Frame::Event { seq, mark };
    }
    if finder(r#""type":"ack""#).is_some() {
        return Frame::Ack {
            mark: find_mark(bytes, 0),
        };
    }
    if finder(r#""type":"error""#).is_some() {
        if let Ok(frame) = serde_json::from_str::<Value>(text) {
            return Frame::Error {
                code: frame["code"].as_str().unwrap_or("unknown").to_string(),
            };
        }
    }
    let kind = finder(r#""type":""#)
        .and_then(|at| {
            let name = &bytes[at + 8..];
            let end = memchr::memchr(b'"', name)?;
            OTHER_KINDS
                .iter()
                .position(|kind| kind.as_bytes() == &name[..end])
        })
        .unwrap_or(OTHER_KINDS.len());
    Frame::Other { kind }
}

/// The markers of an event frame, each built once: building a searcher costs more than a search
/// of a short frame.
static EVENT: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(r#""type":"event""#));
static SEQ: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(r#""seq":"#));
static CREATED: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(r#""kind":"message.created""#));
static MARK: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new("pb1:"));

/// The bench marker in a frame, looked for from `from` on (then in the whole frame).
fn find_mark(bytes: &[u8], from: usize) -> Option<Mark> {
    let at = MARK
        .find(&bytes[from..])
        .map(|at| from + at)
        .or_else(|| MARK.find(bytes))?;
    let mut rest = &bytes[at + 4..];
    let mut numbers = [0u64; 3];
    for number in &mut numbers {
        let end = rest.iter().position(|&b| b == b':')?;
        *number = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        rest = &rest[end + 1..];
    }
    Some(Mark {
        publisher: numbers[0] as usize,
        number: numbers[1] as usize,
        sent_ns: numbers[2],
    })
}

fn leading_number(bytes: &[u8]) -> Option<u64> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_palaver_event_frame_yields_its_seq_and_mark() {
        let frame = r#"{"type":"event","event":{"room_id":"r","seq":42,"at":"t","kind":"message.created","message":{"id":"m","room_id":"r","seq":42,"author":{"id":"u","username":"a","guest":true},"body":"pb1:3:17:123456:xxxx","client_id":"c3-17","created_at":"t","edited_at":null,"position":"a0"}}}"#;
        let mark = Mark {
            publisher: 3,
            number: 17,
            sent_ns: 123456,
        };
        assert_eq!(
            classify(frame),
            Frame::Event {
                seq: Some(42),
                mark: Some(mark)
            }
        );
    }

    #[test]
    fn a_member_event_has_a_seq_but_no_mark() {
        let frame = r#"{"type":"event","event":{"room_id":"r","seq":1,"at":"t","kind":"member.joined","user":{"id":"u","username":"pb1:1:1:1:","guest":true}}}"#;
        assert_eq!(
            classify(frame),
            Frame::Event {
                seq: Some(1),
                mark: None
            }
        );
    }

    #[test]
    fn a_send_frame_round_trips_through_the_marker() {
        let frame = send_frame("r", 5, 9, 77, 64);
        let body: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(body["body"].as_str().unwrap().len(), 64);
        let ack = format!(
            r#"{{"type":"ack","client_id":"c5-9","message":{{"body":{}}}}}"#,
            body["body"]
        );
        assert!(matches!(
            classify(&ack),
            Frame::Ack {
                mark: Some(Mark {
                    publisher: 5,
                    number: 9,
                    sent_ns: 77
                })
            }
        ));
    }

    #[test]
    fn an_error_frame_yields_its_code() {
        let frame = r#"{"type":"error","code":"rate_limited","message":"slow down"}"#;
        assert_eq!(
            classify(frame),
            Frame::Error {
                code: "rate_limited".into()
            }
        );
    }

    #[test]
    fn other_frames_are_counted_by_their_type() {
        let kind = |text: &str| match classify(text) {
            Frame::Other { kind } => kind,
            other => panic!("{text}: {other:?}"),
        };
        let room_list = r#"{"type":"room_list","change":"updated","room":{"id":"r","name":"n"}}"#;
        assert_eq!(OTHER_KINDS[kind(room_list)], "room_list");
        let presence = r#"{"type":"presence","room_id":"r","joined":[],"left":[]}"#;
        assert_eq!(OTHER_KINDS[kind(presence)], "presence");
        // A type the tool does not know gets the index past the known ones.
        assert_eq!(kind(r#"{"type":"novel"}"#), OTHER_KINDS.len());
    }
}
