//! The HTTP server loop: accepts TCP connections and serves the router over HTTP/1.1 with
//! WebSocket upgrades.
//!
//! Palaver runs its own accept loop instead of `axum::serve` for two defences that `axum::serve`
//! does not offer:
//! - a **header read timeout** (hyper's, with a timer): a client must deliver a complete request
//!   head within `header_read_timeout` of the connection opening (or of the previous response,
//!   on a kept-alive connection), so a slowloris client that trickles header bytes forever, or
//!   one that connects and sends nothing, is disconnected;
//! - a **cap on open connections per peer address**: the connection over the cap is answered
//!   `429 too_many_connections` and closed. The count follows the TCP stream itself, so an
//!   upgraded WebSocket counts for as long as it is open.
//!
//! Shutdown: stop accepting, ask every HTTP connection to finish its in-flight request and close,
//! and wait for them. Upgraded sockets are not HTTP connections any more: the hub closes those.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How the loop treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Longest a request head may take to arrive.
    pub header_read_timeout: Duration,
    /// Most open connections from one peer address; 0 turns the cap off.
    pub max_connections_per_address: usize,
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

/// Serves `router` on `listener` until `signal` completes, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    signal: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let counts = Arc::new(AddressCounts::default());
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
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopping.cancelled() => {
                    // Finish the request in flight (if any), then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::trace!(error = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
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
