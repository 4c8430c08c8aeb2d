//! The WebSocket under a connection: the opening handshake (RFC 6455 §4.2) and a write path
//! whose memory does not outlive what it is writing.
//!
//! A socket's memory must not depend on the biggest frame it was ever sent: a `subscribed`
//! answer lists the room's online users (about 15 KiB at 200 users), and a buffer that grew to
//! hold it would stay that size on every idle socket. So:
//! - a text frame longer than [`FRAGMENT`] goes out as a first fragment and continuation frames
//!   (RFC 6455 §5.4; every client library reassembles them), and tungstenite, told to write at
//!   once, never holds more than one fragment;
//! - tungstenite writes each frame into [`WriteBuffer`], which gathers a whole batch for one
//!   write to the kernel and gives its memory back after the flush if the batch was big.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::error::Error;

/// A server-side WebSocket over an upgraded HTTP/1.1 connection.
pub type Socket = WebSocketStream<WriteBuffer<TokioIo<Upgraded>>>;

/// Text frames longer than this go out in pieces of this size. Events and acks are far smaller;
/// `subscribed` answers of big rooms and bursts of presence are the frames that get split.
pub const FRAGMENT: usize = 2048;

/// A batch bigger than this is written to the kernel before more is gathered.
const BATCH_MAX: usize = 64 * 1024;

/// A write buffer that grew past this is freed after its flush instead of kept.
const KEEP: usize = 4 * 1024;

/// Why an upgrade request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not an upgrade to WebSocket at all.
    NotUpgrade,
    /// A WebSocket version other than 13.
    Version,
    /// No `Sec-WebSocket-Key`.
    NoKey,
    /// A connection that cannot be taken over (not HTTP/1.1).
    NotUpgradable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let message = match self {
            Refusal::NotUpgrade => {
                "this endpoint speaks WebSocket: send an upgrade request (Connection: Upgrade, \
                 Upgrade: websocket)"
            }
            Refusal::Version => "Sec-WebSocket-Version must be 13",
            Refusal::NoKey => "the Sec-WebSocket-Key header is missing",
            Refusal::NotUpgradable => "this connection cannot be upgraded",
        };
        let mut response = Error::InvalidRequest(message.into()).into_response();
        if matches!(self, Refusal::Version | Refusal::NotUpgradable) {
            *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        }
        if self == Refusal::Version {
            // RFC 6455 §4.2.2: name the versions the server speaks.
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

/// Checks a WebSocket upgrade request and answers it: the `101 Switching Protocols` response to
/// return, and the connection, to be taken over once that response is written.
pub fn accept(request: &mut Request) -> Result<(Response, OnUpgrade), Refusal> {
    let headers = request.headers();
    if !has_token(headers, header::CONNECTION, "upgrade")
        || !has_token(headers, header::UPGRADE, "websocket")
    {
        return Err(Refusal::NotUpgrade);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(Refusal::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(Refusal::NoKey)?;
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = request
        .extensions_mut()
        .remove::<OnUpgrade>()
        .ok_or(Refusal::NotUpgradable)?;
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .expect("static headers and a derived key are valid");
    Ok((response, on_upgrade))
}

/// Whether a comma-separated header has `token` (case-insensitive), as `Connection: keep-alive,
/// Upgrade` has `upgrade`.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The socket, once the `101` response has gone out; `None` if the client went away first.
pub async fn socket(on_upgrade: OnUpgrade, config: WebSocketConfig) -> Option<Socket> {
    let upgraded = on_upgrade.await.ok()?;
    // Every frame goes straight to the WriteBuffer, which does the batching.
    let config = config.write_buffer_size(0);
    let io = WriteBuffer::new(TokioIo::new(upgraded));
    Some(WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await)
}

/// A close frame with a fixed reason.
pub fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }
}

/// The fragments of a text frame longer than [`FRAGMENT`]: a text frame and continuation frames,
/// split at any byte (the receiver checks UTF-8 on the whole message).
pub fn fragments(text: Utf8Bytes) -> impl Iterator<Item = Message> {
    let bytes = Bytes::from(text);
    let len = bytes.len();
    let pieces = len.div_ceil(FRAGMENT);
    (0..pieces).map(move |i| {
        let start = i * FRAGMENT;
        let end = (start + FRAGMENT).min(len);
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        Message::Frame(Frame::message(
            bytes.slice(start..end),
            opcode,
            i + 1 == pieces,
        ))
    })
}

/// Gathers what is written to a stream until it is flushed, then writes it in one go. After the
/// flush, a buffer that grew past [`KEEP`] is freed, so a burst's memory does not stay with an
/// idle socket. Reads pass straight through.
pub struct WriteBuffer<S> {
    inner: S,
    buf: Vec<u8>,
    /// How much of `buf` has reached `inner`.
    written: usize,
    /// The size of the last batch written: a new buffer starts at it, since a busy socket's
    /// batches are much alike (growing a buffer from nothing for each batch costs copies).
    last_batch: usize,
}

impl<S> WriteBuffer<S> {
    pub fn new(inner: S) -> Self {
        WriteBuffer {
            inner,
            buf: Vec::new(),
            written: 0,
            last_batch: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> WriteBuffer<S> {
    /// Writes out everything gathered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.written = 0;
        self.last_batch = self.buf.len();
        if self.buf.capacity() > KEEP {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBuffer<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= BATCH_MAX {
            ready!(this.poll_drain(cx))?;
        }
        if this.buf.capacity() == 0 {
            this.buf
                .reserve_exact(this.last_batch.clamp(data.len(), BATCH_MAX + data.len()));
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteBuffer<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_long_frame_goes_out_as_fragments_that_add_up_to_it() {
        // Multi-byte characters, so that a split falls inside one.
        let text = "é".repeat(FRAGMENT + 7);
        let messages: Vec<Message> = fragments(Utf8Bytes::from(text.clone())).collect();
        assert_eq!(messages.len(), (text.len()).div_ceil(FRAGMENT));
        let mut joined = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let Message::Frame(frame) = message else {
                panic!("fragment {i} is not a raw frame: {message:?}");
            };
            let header = frame.header();
            let expected = if i == 0 { Data::Text } else { Data::Continue };
            assert_eq!(header.opcode, OpCode::Data(expected), "fragment {i}");
            assert_eq!(header.is_final, i + 1 == messages.len(), "fragment {i}");
            assert!(frame.payload().len() <= FRAGMENT);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(joined, text.as_bytes());
    }

    #[tokio::test]
    async fn the_buffer_writes_a_batch_on_flush_and_frees_a_big_one() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut buffer = WriteBuffer::new(client);
        buffer.write_all(b"one ").await.unwrap();
        buffer.write_all(b"two").await.unwrap();
        let mut got = [0u8; 7];
        // Nothing reaches the other end before the flush.
        assert!(server.read(&mut got).now_or_never().is_none());
        buffer.flush().await.unwrap();
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two");
        assert!(buffer.buf.capacity() <= KEEP, "a small buffer is kept");

        let big = vec![7u8; 3 * KEEP];
        buffer.write_all(&big).await.unwrap();
        buffer.flush().await.unwrap();
        assert_eq!(
            buffer.buf.capacity(),
            0,
            "a big buffer is freed after its flush"
        );
        let mut back = vec![0u8; big.len()];
        server.read_exact(&mut back).await.unwrap();
        assert_eq!(back, big);
    }

    #[tokio::test]
    async fn a_batch_past_the_maximum_is_written_before_more_is_gathered() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut buffer = WriteBuffer::new(client);
        let chunk = vec![1u8; BATCH_MAX];
        buffer.write_all(&chunk).await.unwrap();
        buffer.write_all(b"!").await.unwrap();
        // The first chunk went out when the second write came, without a flush.
        let mut first = vec![0u8; BATCH_MAX];
        server.read_exact(&mut first).await.unwrap();
        assert_eq!(first, chunk);
        assert_eq!(buffer.buf, b"!");
    }
}
