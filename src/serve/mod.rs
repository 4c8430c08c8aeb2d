//! The HTTP server loop: accepts TCP connections and serves the router over HTTP/1.1 with
//! WebSocket upgrades.
//!
//! Palaver runs its own accept loop instead of `axum::serve` for defences that `axum::serve`
//! does not offer:
//! - a **header read timeout** (hyper's, with a timer): a client must deliver a complete request
//!   head within `header_read_timeout` of the connection opening (or of the previous response,
//!   on a kept-alive connection), so a slowloris client that trickles header bytes forever, or
//!   one that connects and sends nothing, is disconnected;
//! - a **body read timeout**: once the head is in, the whole body must arrive within
//!   `body_read_timeout` ([`body::TimedBody`]); a body that trickles, or a declared or chunked
//!   body that never comes, is answered `408 request_timeout` and the connection closed. Head
//!   and body together are so bounded in time;
//! - a declared `Content-Length` over `max_body_bytes` is answered `413 payload_too_large` at
//!   once, unread, and the connection closed;
//! - a **cap on open connections per peer address**: the connection over the cap is answered
//!   `429 too_many_connections` and closed. The count follows the TCP stream itself, so an
//!   upgraded WebSocket counts for as long as it is open;
//! - **descriptor exhaustion** does not stop the loop: see [`shed`] (a reserve descriptor, and
//!   the oldest idle connections closed first).
//!
//! Memory that bursts of connections freed goes back to the system: see [`memory`].
//!
//! Shutdown: stop accepting, ask every HTTP connection to finish its in-flight request and close,
//! and wait for them. Upgraded sockets are not HTTP connections any more: the hub closes those.

mod body;
pub mod intake;
pub mod memory;
mod shed;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

use crate::error::Error;

/// How the loop treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Longest a request head may take to arrive.
    pub header_read_timeout: Duration,
    /// Longest the body of a request may take to arrive, from the end of its head.
    pub body_read_timeout: Duration,
    /// Largest declared `Content-Length` accepted; larger is 413 unread.
    pub max_body_bytes: usize,
    /// Most open connections from one peer address; 0 turns the cap off.
    pub max_connections_per_address: usize,
    /// Files (#12): the upload (`POST` [`UPLOAD_PATH`]) may declare up to this many bytes…
    pub max_upload_bytes: u64,
    /// …and has `body_read_timeout` plus its size at this speed (bytes per second) to arrive.
    pub upload_min_bytes_per_sec: u64,
}

/// The one path whose body may be larger than `max_body_bytes` (the file upload).
pub const UPLOAD_PATH: &str = "/api/files";

/// Room for the multipart framing (boundaries, part headers) around an upload's bytes.
pub const UPLOAD_FRAMING: u64 = 64 * 1024;

impl ServeOptions {
    /// The largest body and the time it has, for this request.
    fn body_bounds(
        &self,
        method: &axum::http::Method,
        path: &str,
        declared: Option<u64>,
    ) -> (u64, Duration) {
        if method == axum::http::Method::POST && path == UPLOAD_PATH {
            let size = declared
                .unwrap_or(self.max_upload_bytes)
                .min(self.max_upload_bytes);
            let extra = size / self.upload_min_bytes_per_sec.max(1);
            return (
                self.max_upload_bytes + UPLOAD_FRAMING,
                self.body_read_timeout + Duration::from_secs(extra),
            );
        }
        (self.max_body_bytes as u64, self.body_read_timeout)
    }
}

/// Open connections per peer address.
#[derive(Default)]
struct AddressCounts(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection; uncounted when dropped (the stream closed).
struct AddressGuard {
    counts: Arc<AddressCounts>,
    ip: IpAddr,
}

impl AddressCounts {
    fn acquire(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressGuard> {
        let mut counts = self.0.lock().unwrap();
        let open = counts.entry(ip).or_insert(0);
        if cap > 0 && *open >= cap {
            return None;
        }
        *open += 1;
        Some(AddressGuard {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap();
        if let Some(open) = counts.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A TCP stream that holds its address's count while it is open (upgraded or not).
struct CountedStream {
    inner: TcpStream,
    _guard: AddressGuard,
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The body of the answer to a connection over its address's cap (the request is not read).
const OVER_CAP_BODY: &str = r#"{"error":{"code":"too_many_connections","message":"too many connections from your address"}}"#;

fn over_cap_response() -> String {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\n\
         content-type: application/json\r\n\
         connection: close\r\n\
         x-content-type-options: nosniff\r\n\
         content-length: {}\r\n\r\n{OVER_CAP_BODY}",
        OVER_CAP_BODY.len()
    )
}

/// Serves `router` on `listener` until `signal` completes, then shuts down gracefully. The loop
/// accepts on the caller's runtime; each connection is served on `intake`'s ([`intake`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    intake: &intake::Intake,
    signal: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let intake = intake.handle();
    let counts = Arc::new(AddressCounts::default());
    let live = Arc::new(shed::Live::default());
    let mut reserve = shed::reserve();
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if shed::out_of_descriptors(&err) => {
                    out_of_descriptors(&listener, &live, &mut reserve).await;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut signal => break,
        };
        let Some(guard) = counts.acquire(peer.ip(), options.max_connections_per_address) else {
            tracing::debug!(%peer, "connection over the per-address cap refused");
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = CountedStream {
            inner: stream,
            _guard: guard,
        };
        let registration = live.register();
        let service = {
            let (router, in_flight) = (router.clone(), registration.in_flight.clone());
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let busy = body::Busy::new(&in_flight);
                let router = router.clone();
                async move {
                    let response = answer(router, request, peer, options).await;
                    Ok::<_, std::convert::Infallible>(
                        response
                            .map(|inner| axum::body::Body::new(body::BusyBody::new(inner, busy))),
                    )
                }
            })
        };
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stopping = stopping.clone();
        let serving = async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                // Out of descriptors: this idle connection is closed to make room.
                _ = registration.shed.cancelled() => return,
                _ = stopping.cancelled() => {
                    // Finish the request in flight (if any), then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::trace!(error = %err, %peer, "connection ended with an error");
            }
        };
        connections.spawn_on(serving.with_current_subscriber(), &intake);
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Routes one request: an over-limit declared body is refused unread, the body is bounded in
/// time, and a body that timed out is answered 408 whatever the handler made of it.
async fn answer(
    router: Router,
    mut request: hyper::Request<Incoming>,
    peer: std::net::SocketAddr,
    options: ServeOptions,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (max_body, body_timeout) =
        options.body_bounds(request.method(), request.uri().path(), declared);
    if declared.is_some_and(|len| len > max_body) {
        if max_body > options.max_body_bytes as u64 {
            // The upload: its own limit and code.
            return closing(Error::FileTooLarge {
                max: options.max_upload_bytes,
            });
        }
        return closing(Error::PayloadTooLarge {
            max: options.max_body_bytes,
        });
    }
    request.extensions_mut().insert(ConnectInfo(peer));
    let timed_out = Arc::new(AtomicBool::new(false));
    let request = request.map(|incoming| {
        if http_body::Body::is_end_stream(&incoming) {
            // No body (a GET, a socket upgrade): nothing to wait for, no timer to set.
            return axum::body::Body::new(incoming);
        }
        let deadline = tokio::time::Instant::now() + body_timeout;
        axum::body::Body::new(body::TimedBody::new(incoming, deadline, timed_out.clone()))
    });
    let Ok(response) = router.oneshot(request).await;
    if timed_out.load(Ordering::Relaxed) {
        tracing::debug!(%peer, "request body timed out");
        return closing(Error::RequestTimeout);
    }
    response
}

/// The error's answer, closing the connection after it (the rest of the request is not read).
fn closing(err: Error) -> Response {
    let mut response = err.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `accept` failed for want of descriptors: close the oldest idle connections, spend the reserve
/// to answer one waiting connection `503 overloaded`, and take the reserve back.
async fn out_of_descriptors(
    listener: &TcpListener,
    live: &shed::Live,
    reserve: &mut Option<std::fs::File>,
) {
    let shed = live.shed_idle(shed::SHED_BATCH);
    reserve.take();
    let mut refused = false;
    if let Some(Ok((stream, _))) = futures_util::FutureExt::now_or_never(listener.accept()) {
        let _ = stream.try_write(shed::OVERLOADED.as_bytes());
        refused = true;
    }
    *reserve = shed::reserve();
    tracing::warn!(
        shed,
        refused,
        "out of file descriptors: closed the oldest idle connections"
    );
    // Let the shed connections' tasks run (and give their descriptors back) before accepting.
    tokio::time::sleep(Duration::from_millis(if shed > 0 { 1 } else { 20 })).await;
}

/// Answers 429 and closes, reading (briefly) what the client sent so the close is clean.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(over_cap_response().as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_declares_its_exact_length() {
        let text = over_cap_response();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "too_many_connections");
    }

    #[test]
    fn the_cap_counts_per_address_and_releases_on_drop() {
        let counts = Arc::new(AddressCounts::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = counts.acquire(a, 2).unwrap();
        let _second = counts.acquire(a, 2).unwrap();
        assert!(counts.acquire(a, 2).is_none());
        assert!(counts.acquire(b, 2).is_some());
        drop(first);
        assert!(counts.acquire(a, 2).is_some());
        assert!(counts.acquire(a, 0).is_some(), "0 is no cap");
    }
}
