//! Running out of file descriptors must not stop the server from serving. The accept loop keeps
//! one descriptor in reserve; when `accept` fails for want of descriptors it closes the oldest
//! idle HTTP connections (those between requests, or that never sent a complete head), then
//! spends the reserve to accept the waiting connection, answer it `503 overloaded` and close it,
//! and takes the reserve back. The shed connections' descriptors serve the clients that retry.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// How many idle connections one descriptor shortage closes.
pub const SHED_BATCH: usize = 16;

/// Whether an `accept` error means the process (or the system) is out of descriptors.
pub fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The descriptor kept back for the moment the others run out.
pub fn reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

/// The open HTTP connections, oldest first, each with its count of requests in flight and the
/// token that closes it.
#[derive(Default)]
pub struct Live {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, (Arc<AtomicUsize>, CancellationToken)>>,
}

/// One registered connection; unregistered when dropped.
pub struct Registration {
    live: Arc<Live>,
    id: u64,
    pub in_flight: Arc<AtomicUsize>,
    pub shed: CancellationToken,
}

impl Live {
    pub fn register(self: &Arc<Self>) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let shed = CancellationToken::new();
        self.open
            .lock()
            .unwrap()
            .insert(id, (in_flight.clone(), shed.clone()));
        Registration {
            live: self.clone(),
            id,
            in_flight,
            shed,
        }
    }

    /// Closes up to `most` of the oldest connections with no request in flight; answers how many.
    pub fn shed_idle(&self, most: usize) -> usize {
        let open = self.open.lock().unwrap();
        let mut shed = 0;
        for (in_flight, token) in open.values() {
            if shed == most {
                break;
            }
            if in_flight.load(Ordering::Relaxed) == 0 && !token.is_cancelled() {
                token.cancel();
                shed += 1;
            }
        }
        shed
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.live.open.lock().unwrap().remove(&self.id);
    }
}

/// The answer to a connection accepted with the reserve descriptor (written without waiting:
/// the socket's send buffer is empty).
pub const OVERLOADED: &str = "HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
connection: close\r\n\
retry-after: 1\r\n\
content-length: 81\r\n\r\n\
{\"error\":{\"code\":\"overloaded\",\"message\":\"the server is busy; try again shortly\"}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connections_are_shed_first() {
        let live = Arc::new(Live::default());
        let oldest = live.register();
        let busy = live.register();
        busy.in_flight.fetch_add(1, Ordering::Relaxed);
        let newer = live.register();
        let newest = live.register();
        assert_eq!(live.shed_idle(2), 2);
        assert!(oldest.shed.is_cancelled() && newer.shed.is_cancelled());
        assert!(!busy.shed.is_cancelled() && !newest.shed.is_cancelled());
        drop(oldest);
        assert_eq!(live.shed_idle(10), 1, "only the newest idle one is left");
        assert!(newest.shed.is_cancelled() && !busy.shed.is_cancelled());
    }

    #[test]
    fn the_overloaded_answer_declares_its_exact_length() {
        let (_, body) = OVERLOADED.split_once("\r\n\r\n").unwrap();
        assert!(OVERLOADED.contains(&format!("content-length: {}\r\n", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "overloaded");
    }

    #[test]
    fn descriptor_exhaustion_is_recognised() {
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!out_of_descriptors(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }
}
