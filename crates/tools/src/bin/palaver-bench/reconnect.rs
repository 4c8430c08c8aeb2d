//! The web client's reconnect policy, in Rust, for the `storm` preset: the same delays
//! (`web/src/reconnect.ts`) and the same limits of an attempt (`web/src/connection.ts`), so that
//! the storm measured is the one browsers make. A test reads the TypeScript and fails when the
//! two drift apart.
//!
//! The policy: after a socket that had said `hello` is lost, retry after 0.25 s; each failed
//! attempt (no `hello` within 8 s) waits longer: 0.5 s, 1 s, then a random delay between 0 and a
//! ceiling that doubles from 2 s up to 30 s (full jitter). A close as slow consumer (4008) retries
//! at once.

use std::time::Duration;

/// The first retries, unjittered (`FAST_RETRIES_MS`).
pub const FAST_RETRIES_MS: [u64; 3] = [250, 500, 1000];
/// The ceiling of the first jittered retry; it doubles with each failure after it.
pub const FIRST_SLOW_CEILING_MS: u64 = 2000;
/// No retry waits longer (`RETRY_CAP_MS`).
pub const RETRY_CAP_MS: u64 = 30_000;
/// An attempt that has no `hello` this long after the socket was created is a failure
/// (`helloTimeoutMs` of the connection's defaults).
pub const HELLO_TIMEOUT_MS: u64 = 8_000;
/// A subscribe refused as `unavailable` is asked again this many times, the first after
/// `SUBSCRIBE_RETRY_MS`, each pause twice the one before (`web/src/connection.ts`).
pub const SUBSCRIBE_RETRIES: u32 = 4;
pub const SUBSCRIBE_RETRY_MS: u64 = 500;
/// After this many failed attempts in a row the web client checks plain HTTP and falls back to
/// long polling when it works (`failuresBeforePolling` as `web/src/chat.ts` sets it). The bench
/// keeps retrying the socket and counts the clients that would have fallen back.
pub const FAILURES_BEFORE_POLLING: u32 = 2;
/// The close code after which the web client reconnects without waiting.
pub const SLOW_CONSUMER_CLOSE: u16 = 4008;

/// The delay before retry number `failures` (1 = the first retry after a loss); `random` is a
/// number in [0, 1). The same function as `reconnectDelay` in `web/src/reconnect.ts`.
pub fn reconnect_delay_ms(failures: u32, random: f64) -> u64 {
    if failures == 0 {
        return 0;
    }
    let fast = FAST_RETRIES_MS.len() as u32;
    if failures <= fast {
        return FAST_RETRIES_MS[(failures - 1) as usize].min(RETRY_CAP_MS);
    }
    let doublings = (failures - fast - 1).min(30);
    let ceiling = (FIRST_SLOW_CEILING_MS.saturating_mul(1u64 << doublings)).min(RETRY_CAP_MS);
    (random * ceiling as f64).round() as u64
}

/// [`reconnect_delay_ms`] with `rand`'s dice, as a duration.
pub fn reconnect_delay(failures: u32) -> Duration {
    Duration::from_millis(reconnect_delay_ms(failures, rand::random::<f64>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_source(file: &str) -> String {
        let path = format!("{}/../../web/src/{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
    }

    /// The numbers of the first line of `source` that contains `marker`, after the marker
    /// (`8_000` reads as 8000).
    fn numbers_after(source: &str, marker: &str) -> Vec<u64> {
        let line = source
            .lines()
            .find(|line| line.contains(marker))
            .unwrap_or_else(|| panic!("no line with {marker:?}"));
        let rest = &line[line.find(marker).unwrap() + marker.len()..];
        rest.split(|c: char| !(c.is_ascii_digit() || c == '_'))
            .filter(|s| s.chars().any(|c| c.is_ascii_digit()))
            .map(|s| s.replace('_', "").parse().unwrap())
            .collect()
    }

    #[test]
    fn the_constants_are_the_web_clients() {
        let policy = web_source("reconnect.ts");
        assert_eq!(
            numbers_after(&policy, "export const FAST_RETRIES_MS ="),
            FAST_RETRIES_MS,
            "web/src/reconnect.ts FAST_RETRIES_MS"
        );
        assert_eq!(
            numbers_after(&policy, "export const FIRST_SLOW_CEILING_MS ="),
            [FIRST_SLOW_CEILING_MS],
            "web/src/reconnect.ts FIRST_SLOW_CEILING_MS"
        );
        assert_eq!(
            numbers_after(&policy, "export const RETRY_CAP_MS ="),
            [RETRY_CAP_MS],
            "web/src/reconnect.ts RETRY_CAP_MS"
        );
        let connection = web_source("connection.ts");
        assert_eq!(
            numbers_after(&connection, "helloTimeoutMs:"),
            [HELLO_TIMEOUT_MS],
            "web/src/connection.ts helloTimeoutMs"
        );
        assert_eq!(
            numbers_after(&connection, "export const SUBSCRIBE_RETRIES ="),
            [u64::from(SUBSCRIBE_RETRIES)],
            "web/src/connection.ts SUBSCRIBE_RETRIES"
        );
        assert_eq!(
            numbers_after(&connection, "export const SUBSCRIBE_RETRY_MS ="),
            [SUBSCRIBE_RETRY_MS],
            "web/src/connection.ts SUBSCRIBE_RETRY_MS"
        );
        assert!(
            connection.contains("SUBSCRIBE_RETRY_MS * 2 ** (attempt - 1)"),
            "the web client no longer doubles its subscribe retry pause"
        );
        assert!(
            connection.contains("reconnectCapMs: RETRY_CAP_MS,"),
            "web/src/connection.ts no longer caps retries at RETRY_CAP_MS"
        );
        // chat.ts: `failuresBeforePolling: pollOnly ? 1 : 2` — the socket-first value is last.
        let chat = web_source("chat.ts");
        assert_eq!(
            numbers_after(&chat, "failuresBeforePolling:").last(),
            Some(&(FAILURES_BEFORE_POLLING as u64)),
            "web/src/chat.ts failuresBeforePolling"
        );
        assert!(
            connection.contains("code === CloseCode.SlowConsumer ? 0 :"),
            "the web client no longer reconnects at once after a slow-consumer close"
        );
    }

    /// The same table as `web/src/reconnect.test.ts`.
    #[test]
    fn the_delays_are_the_web_clients() {
        for dice in [0.0, 0.5, 0.999] {
            let fast: Vec<u64> = (1..=3).map(|n| reconnect_delay_ms(n, dice)).collect();
            assert_eq!(fast, FAST_RETRIES_MS);
        }
        assert_eq!(reconnect_delay_ms(0, 0.5), 0);
        let top: Vec<u64> = (4..=8).map(|n| reconnect_delay_ms(n, 1.0)).collect();
        assert_eq!(top, [2000, 4000, 8000, 16_000, 30_000]);
        for n in [4, 5, 6] {
            assert_eq!(reconnect_delay_ms(n, 0.0), 0);
        }
        assert_eq!(reconnect_delay_ms(5, 0.5), 2000);
        for n in [9, 20, 100, 10_000] {
            assert!(reconnect_delay_ms(n, 0.999_999) <= RETRY_CAP_MS);
        }
    }
}
