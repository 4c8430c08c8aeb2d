//! Counting and measuring: latency histograms shared by many connections, the per-subscriber
//! delivery ledger (loss and duplicates), and the server's RSS and CPU time read from `/proc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Nanoseconds since the first call in this process: the clock that send times in message bodies
/// are written in. Publishers and subscribers live in one process, so one monotonic clock serves.
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Shards of one latency histogram (microseconds). A connection buffers samples locally and
/// merges them into its shard now and then, so thousands of connections share a few locks that
/// are taken rarely.
pub struct LatencyHistogram {
    shards: Vec<Mutex<Histogram<u64>>>,
}

const SHARDS: usize = 16;
const LOCAL_BATCH: usize = 256;
/// Two minutes, in microseconds: anything slower is clamped (and still counted).
const MAX_MICROS: u64 = 120_000_000;

impl LatencyHistogram {
    pub fn new() -> Self {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("bounds")))
            .collect();
        LatencyHistogram { shards }
    }

    fn merge(&self, shard: usize, samples: &[u64]) {
        let mut hist = self.shards[shard % SHARDS].lock().unwrap();
        for &micros in samples {
            hist.saturating_record(micros.clamp(1, MAX_MICROS));
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let mut all = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3).expect("bounds");
        for shard in &self.shards {
            all.add(&*shard.lock().unwrap()).expect("same bounds");
        }
        LatencySummary::of(&all)
    }
}

/// A connection's local buffer of samples for one [`LatencyHistogram`].
pub struct LatencyRecorder<'a> {
    target: &'a LatencyHistogram,
    shard: usize,
    buffer: Vec<u64>,
}

impl<'a> LatencyRecorder<'a> {
    pub fn new(target: &'a LatencyHistogram, shard: usize) -> Self {
        LatencyRecorder {
            target,
            shard,
            buffer: Vec::new(),
        }
    }

    /// Records the time from `sent_ns` (on the [`now_ns`] clock) until `now_ns`.
    pub fn record_since(&mut self, sent_ns: u64, now_ns: u64) {
        self.buffer.push(now_ns.saturating_sub(sent_ns) / 1_000);
        if self.buffer.len() >= LOCAL_BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.target.merge(self.shard, &self.buffer);
            self.buffer.clear();
        }
    }
}

impl Drop for LatencyRecorder<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencySummary {
    fn of(hist: &Histogram<u64>) -> Self {
        if hist.is_empty() {
            return LatencySummary::default();
        }
        let ms = |micros: u64| (micros as f64 / 1_000.0 * 1_000.0).round() / 1_000.0;
        LatencySummary {
            count: hist.len(),
            p50_ms: ms(hist.value_at_quantile(0.50)),
            p90_ms: ms(hist.value_at_quantile(0.90)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            p999_ms: ms(hist.value_at_quantile(0.999)),
            max_ms: ms(hist.max()),
            mean_ms: (hist.mean() / 1_000.0 * 1_000.0).round() / 1_000.0,
        }
    }
}

/// Which messages one subscriber has seen: a bit per (publisher of its room, message number).
pub struct DeliveryLedger {
    per_publisher: usize,
    bits: Vec<u64>,
    pub unique: u64,
    pub duplicates: u64,
    /// Bench messages whose publisher or number is outside this subscriber's room's range.
    pub foreign: u64,
}

impl DeliveryLedger {
    pub fn new(publishers: usize, per_publisher: usize) -> Self {
        let words = (publishers * per_publisher).div_ceil(64);
        DeliveryLedger {
            per_publisher,
            bits: vec![0; words],
            unique: 0,
            duplicates: 0,
            foreign: 0,
        }
    }

    /// Marks message `number` of the room's `publisher`-th publisher as delivered.
    pub fn mark(&mut self, publisher: usize, number: usize) {
        if number >= self.per_publisher {
            self.foreign += 1;
            return;
        }
        let bit = publisher * self.per_publisher + number;
        let Some(word) = self.bits.get_mut(bit / 64) else {
            self.foreign += 1;
            return;
        };
        let mask = 1u64 << (bit % 64);
        if *word & mask != 0 {
            self.duplicates += 1;
        } else {
            *word |= mask;
            self.unique += 1;
        }
    }
}

impl DeliveryLedger {
    /// Whether message `number` of the room's `publisher`-th publisher was delivered.
    pub fn has(&self, publisher: usize, number: usize) -> bool {
        if number >= self.per_publisher {
            return false;
        }
        let bit = publisher * self.per_publisher + number;
        self.bits
            .get(bit / 64)
            .is_some_and(|word| word & (1u64 << (bit % 64)) != 0)
    }
}

/// Counters shared by every connection of a run (relaxed atomics: totals read at the end).
#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub send_errors: AtomicU64,
    pub rate_limited: AtomicU64,
    pub received: AtomicU64,
    pub unique: AtomicU64,
    pub duplicates: AtomicU64,
    pub foreign: AtomicU64,
    pub seq_gaps: AtomicU64,
    pub seq_regressions: AtomicU64,
    pub other_events: AtomicU64,
    pub other_frames: AtomicU64,
    /// `other_frames` by type: [`crate::net::OTHER_KINDS`], then unknown types.
    pub other_kinds: [AtomicU64; crate::net::OTHER_KINDS.len() + 1],
    pub server_errors: AtomicU64,
    pub closed_slow_consumer: AtomicU64,
    pub closed_other: AtomicU64,
    pub read_errors: AtomicU64,
    /// Time (on the [`now_ns`] clock) of the last bench message received by any subscriber.
    pub last_delivery_ns: AtomicU64,
    /// Time of the first bench message sent.
    pub first_send_ns: AtomicU64,
    /// Time of the last ack received.
    pub last_ack_ns: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Notes a first send now, unless an earlier one was noted.
    pub fn note_first_send(&self) {
        let now = now_ns().max(1);
        if let Err(earlier) =
            self.first_send_ns
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            if now < earlier {
                self.first_send_ns.fetch_min(now, Ordering::Relaxed);
            }
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// One reading of a process from `/proc`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcSample {
    pub rss_kib: u64,
    pub cpu_secs: f64,
}

pub fn proc_sample(pid: &str) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ProcSample {
        rss_kib,
        cpu_secs: (utime + stime) as f64 / ticks,
    })
}

/// The server's (or this tool's) resource use over a run: RSS at start, peak and end, and CPU
/// seconds spent between start and end.
#[derive(Debug, Clone, Serialize)]
pub struct ProcReport {
    pub pid: String,
    pub rss_start_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_end_kib: u64,
    pub cpu_secs: f64,
}

/// Samples one process every 100 ms in the background until stopped.
pub struct ProcWatch {
    pid: String,
    start: ProcSample,
    peak_rss: std::sync::Arc<AtomicU64>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl ProcWatch {
    pub fn start(pid: &str) -> Option<Self> {
        let start = proc_sample(pid)?;
        let peak_rss = std::sync::Arc::new(AtomicU64::new(start.rss_kib));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (pid_owned, peak) = (pid.to_string(), peak_rss.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                if let Some(sample) = proc_sample(&pid_owned) {
                    peak.fetch_max(sample.rss_kib, Ordering::Relaxed);
                }
            }
        });
        Some(ProcWatch {
            pid: pid.to_string(),
            start,
            peak_rss,
            stop,
        })
    }

    pub fn current(&self) -> Option<ProcSample> {
        proc_sample(&self.pid)
    }

    pub fn finish(self) -> ProcReport {
        let _ = self.stop.send(true);
        let end = proc_sample(&self.pid).unwrap_or(self.start);
        ProcReport {
            pid: self.pid,
            rss_start_kib: self.start.rss_kib,
            rss_peak_kib: self
                .peak_rss
                .load(Ordering::Relaxed)
                .max(end.rss_kib)
                .max(self.start.rss_kib),
            rss_end_kib: end.rss_kib,
            cpu_secs: ((end.cpu_secs - self.start.cpu_secs) * 100.0).round() / 100.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_counts_duplicates_and_ignores_foreign_numbers() {
        let mut ledger = DeliveryLedger::new(2, 10);
        ledger.mark(0, 3);
        ledger.mark(1, 3);
        ledger.mark(0, 3);
        ledger.mark(0, 10);
        assert_eq!(
            (ledger.unique, ledger.duplicates, ledger.foreign),
            (2, 1, 1)
        );
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = proc_sample("self").expect("readable /proc/self");
        assert!(sample.rss_kib > 0);
    }
}
