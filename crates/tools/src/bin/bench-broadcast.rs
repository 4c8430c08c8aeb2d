//! `bench-broadcast`: the bare limit that `palaver-bench` compares Palaver against.
//!
//! A minimal broadcast server for benchmarks only. It speaks just enough of Palaver's public
//! protocol (`API.md`) that `palaver-bench` drives it unchanged: guest sign-in, the room list,
//! room creation, and on the socket `hello`, `subscribe` → `subscribed`, `send` → `ack` plus a
//! `message.created` event with the room's next `seq` to every subscriber, and `ping` → `pong`.
//!
//! What it must never grow: authentication, storage, presence, validation. It is the floor
//! ("how fast can this machine fan out WebSocket frames at all"), so it keeps only the parts of
//! Palaver's design that any fast server needs: each event is encoded to JSON once and the bytes
//! are shared by every subscriber; each connection has a writer task with a bounded queue that
//! drains everything queued and flushes once; a subscriber whose queue is full is closed with
//! 4008; no lock is held across a socket write.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

#[derive(Parser, Debug)]
#[command(
    about = "Bench-only minimal broadcast server speaking Palaver's protocol (no auth, no storage)"
)]
struct Args {
    /// Address to serve HTTP and WebSocket on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Frames that may wait for one connection before it counts as a slow consumer (4008).
    #[arg(long, default_value_t = 1024)]
    outbound_queue: usize,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// One room: its sequence counter and the queues of its subscribers.
///
/// The std `Mutex` is held only to take the next `seq` and push the shared bytes into each
/// subscriber's queue (`try_send` never waits), so events leave in `seq` order and nothing
/// `.await`s while it is held.
struct Room {
    name: String,
    seq: u64,
    subscribers: HashMap<u64, Subscriber>,
}

/// A subscriber's bounded queue, and the signal that tells its writer it fell behind.
#[derive(Clone)]
struct Subscriber {
    queue: mpsc::Sender<Utf8Bytes>,
    slow: Arc<Notify>,
}

struct Shared {
    rooms: Mutex<HashMap<String, Arc<Mutex<Room>>>>,
    next_id: AtomicU64,
    outbound_queue: usize,
}

type AppState = Arc<Shared>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads);
    }
    builder.enable_all().build()?.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        rooms: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        outbound_queue: args.outbound_queue,
    });
    for name in ["General", "Random", "Tech Talk"] {
        create_room(&shared, name);
    }
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/auth/guest", post(guest))
        .route("/api/rooms", get(list_rooms).post(post_room))
        .route("/api/rooms/{room_id}/join", post(join_room))
        .route("/ws", get(upgrade))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("bench-broadcast listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn create_room(shared: &Shared, name: &str) -> Value {
    let id = format!("room-{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    let room = Room {
        name: name.to_string(),
        seq: 0,
        subscribers: HashMap::new(),
    };
    shared
        .rooms
        .lock()
        .unwrap()
        .insert(id.clone(), Arc::new(Mutex::new(room)));
    room_json(&id, name, 0)
}

fn room_json(id: &str, name: &str, last_seq: u64) -> Value {
    json!({"id": id, "name": name, "topic": "", "owner_id": null, "member_count": 0,
           "online_count": 0, "last_seq": last_seq, "rearrange": "anyone",
           "created_at": now()})
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[derive(Deserialize)]
struct GuestRequest {
    username: String,
}

/// Any name is accepted; the token is the name itself.
async fn guest(Json(req): Json<GuestRequest>) -> Response {
    let user = user_json(&req.username);
    (
        StatusCode::CREATED,
        Json(json!({"user": user, "token": req.username})),
    )
        .into_response()
}

fn user_json(username: &str) -> Value {
    json!({"id": format!("u-{username}"), "username": username, "guest": true})
}

async fn list_rooms(State(shared): State<AppState>) -> Json<Value> {
    let rooms = shared.rooms.lock().unwrap().clone();
    let list: Vec<Value> = rooms
        .iter()
        .map(|(id, room)| {
            let room = room.lock().unwrap();
            room_json(id, &room.name, room.seq)
        })
        .collect();
    Json(Value::Array(list))
}

#[derive(Deserialize)]
struct CreateRoom {
    name: String,
}

async fn post_room(State(shared): State<AppState>, Json(req): Json<CreateRoom>) -> Response {
    (StatusCode::CREATED, Json(create_room(&shared, &req.name))).into_response()
}

/// Membership is not tracked: joining only answers the room.
async fn join_room(
    State(shared): State<AppState>,
    axum::extract::Path(room_id): axum::extract::Path<String>,
) -> Response {
    match find_room(&shared, &room_id) {
        Some(room) => {
            let room = room.lock().unwrap();
            Json(room_json(&room_id, &room.name, room.seq)).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": "room_not_found", "message": "no such room"}})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn upgrade(
    State(shared): State<AppState>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let username = query.token.unwrap_or_else(|| "anonymous".into());
    // tungstenite zero-fills its whole read buffer on the first read: the default 128 KiB would
    // be resident for every idle socket. Client frames here are small.
    ws.read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| connection(shared, username, socket))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Subscribe {
        room_id: String,
    },
    Unsubscribe {
        room_id: String,
    },
    Send {
        room_id: String,
        client_id: String,
        body: String,
    },
    Ping {
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
}

/// One socket: this task reads frames; a writer task drains the bounded queue.
async fn connection(shared: AppState, username: String, socket: WebSocket) {
    let conn_id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(shared.outbound_queue);
    // Notified when a room finds this connection's queue full: the writer closes with 4008.
    let slow = Arc::new(Notify::new());
    let me = Subscriber {
        queue: tx.clone(),
        slow: slow.clone(),
    };

    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = slow.notified() => {
                    let _ = sink.send(Message::Close(Some(CloseFrame {
                        code: 4008,
                        reason: "slow consumer".into(),
                    }))).await;
                    return;
                }
                frame = rx.recv() => {
                    let Some(frame) = frame else { return };
                    if sink.feed(Message::Text(frame)).await.is_err() {
                        return;
                    }
                    // Write coalescing: everything already queued goes out in one flush.
                    while let Ok(frame) = rx.try_recv() {
                        if sink.feed(Message::Text(frame)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    });

    let user = user_json(&username);
    let hello = json!({"type": "hello", "user": user, "protocol": 1, "node_id": "bare"});
    let _ = tx.try_send(hello.to_string().into());

    let mut subscribed: Vec<Arc<Mutex<Room>>> = Vec::new();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let reply = match serde_json::from_str::<ClientFrame>(&text) {
            Err(err) => Some(error_frame("invalid_frame", &err.to_string(), None)),
            Ok(ClientFrame::Ping { reference }) => {
                Some(json!({"type": "pong", "ref": reference}).to_string())
            }
            Ok(ClientFrame::Subscribe { room_id }) => match find_room(&shared, &room_id) {
                None => Some(error_frame("room_not_found", "no such room", None)),
                Some(room) => {
                    let last_seq = {
                        let mut guard = room.lock().unwrap();
                        guard.subscribers.insert(conn_id, me.clone());
                        guard.seq
                    };
                    subscribed.push(room);
                    Some(
                        json!({"type": "subscribed", "room_id": room_id, "last_seq": last_seq,
                               "online": []})
                        .to_string(),
                    )
                }
            },
            Ok(ClientFrame::Unsubscribe { room_id }) => {
                if let Some(room) = find_room(&shared, &room_id) {
                    room.lock().unwrap().subscribers.remove(&conn_id);
                }
                Some(json!({"type": "unsubscribed", "room_id": room_id}).to_string())
            }
            Ok(ClientFrame::Send {
                room_id,
                client_id,
                body,
                ..
            }) => match find_room(&shared, &room_id) {
                None => Some(error_frame(
                    "room_not_found",
                    "no such room",
                    Some(&client_id),
                )),
                Some(room) => Some(publish(&room, &room_id, &user, client_id, body)),
            },
        };
        if let Some(reply) = reply {
            if tx.send(reply.into()).await.is_err() {
                break;
            }
        }
    }
    for room in subscribed {
        room.lock().unwrap().subscribers.remove(&conn_id);
    }
    drop(tx);
    let _ = writer.await;
}

fn find_room(shared: &Shared, room_id: &str) -> Option<Arc<Mutex<Room>>> {
    shared.rooms.lock().unwrap().get(room_id).cloned()
}

/// Takes the room's next `seq`, encodes the event once and queues the same bytes for every
/// subscriber. Returns the sender's `ack` frame.
fn publish(
    room: &Mutex<Room>,
    room_id: &str,
    author: &Value,
    client_id: String,
    body: String,
) -> String {
    let mut guard = room.lock().unwrap();
    guard.seq += 1;
    let seq = guard.seq;
    let at = now();
    let message = json!({"id": format!("m-{room_id}-{seq}"), "room_id": room_id, "seq": seq,
        "author": author, "body": body, "client_id": client_id, "created_at": at,
        "edited_at": null, "position": format!("{seq:016x}")});
    let event = json!({"type": "event", "event": {"room_id": room_id, "seq": seq, "at": at,
        "kind": "message.created", "message": message}});
    let bytes: Utf8Bytes = event.to_string().into();
    guard
        .subscribers
        .retain(|_, sub| match sub.queue.try_send(bytes.clone()) {
            Ok(()) => true,
            // Full: a slow consumer. It leaves the room and its writer closes it with 4008,
            // so one slow client never slows the room.
            Err(mpsc::error::TrySendError::Full(_)) => {
                sub.slow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    drop(guard);
    json!({"type": "ack", "client_id": client_id, "message": message}).to_string()
}

fn error_frame(code: &str, message: &str, client_id: Option<&str>) -> String {
    let mut frame = json!({"type": "error", "code": code, "message": message});
    if let Some(client_id) = client_id {
        frame["client_id"] = json!(client_id);
    }
    frame.to_string()
}
