//! Prometheus metrics of one node: counters bumped where things happen, gauges read at scrape
//! time, and a histogram of store write latency by operation.
//!
//! It depends on nothing else in the crate: what is read at scrape time comes through
//! [`Gauges`], which the hub implements.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntGauge, Registry, TextEncoder,
};

/// What the metrics read at scrape time.
pub trait Gauges {
    /// Open WebSocket connections.
    fn connections(&self) -> usize;
    /// Room subscriptions of open connections.
    fn subscriptions(&self) -> usize;
    /// Event deliveries into connection queues so far.
    fn events_fanned_out(&self) -> u64;
}

impl<G: Gauges + ?Sized> Gauges for Arc<G> {
    fn connections(&self) -> usize {
        (**self).connections()
    }

    fn subscriptions(&self) -> usize {
        (**self).subscriptions()
    }

    fn events_fanned_out(&self) -> u64 {
        (**self).events_fanned_out()
    }
}

pub struct Metrics {
    registry: Registry,
    pub connections_opened: IntCounter,
    pub messages_sent: IntCounter,
    pub slow_consumers: IntCounter,
    pub store_seconds: HistogramVec,
    connections: IntGauge,
    subscriptions: IntGauge,
    events_fanned_out: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let connections_opened = counter(
            "palaver_connections_opened_total",
            "WebSocket connections opened.",
        );
        let messages_sent = counter(
            "palaver_messages_sent_total",
            "Messages stored (socket and REST), retries excluded.",
        );
        let slow_consumers = counter(
            "palaver_slow_consumer_closes_total",
            "Connections closed with 4008 for falling behind.",
        );
        let events_fanned_out = counter(
            "palaver_events_fanned_out_total",
            "Event deliveries into connection queues.",
        );
        let connections = gauge("palaver_connections", "Open WebSocket connections.");
        let subscriptions = gauge(
            "palaver_subscriptions",
            "Room subscriptions of open connections.",
        );
        let store_seconds = HistogramVec::new(
            HistogramOpts::new(
                "palaver_store_seconds",
                "Store write latency, commit included.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["op"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(store_seconds.clone()))
            .expect("registered once");
        Metrics {
            registry,
            connections_opened,
            messages_sent,
            slow_consumers,
            store_seconds,
            connections,
            subscriptions,
            events_fanned_out,
        }
    }

    /// The Prometheus text exposition, gauges read now.
    pub fn render(&self, gauges: &impl Gauges) -> String {
        self.connections.set(gauges.connections() as i64);
        self.subscriptions.set(gauges.subscriptions() as i64);
        let fanned = gauges.events_fanned_out();
        self.events_fanned_out
            .inc_by(fanned.saturating_sub(self.events_fanned_out.get()));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding never fails");
        String::from_utf8(out).expect("utf-8")
    }
}
