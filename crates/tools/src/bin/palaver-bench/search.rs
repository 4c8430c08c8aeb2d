//! The search run (issue #11): one signed-in guest asks `GET /api/search` a list of typical
//! queries, one request at a time, round after round; the latency of each request (the whole
//! HTTP round trip on a kept-alive connection) goes into a histogram per query and one for all.
//! The store is seeded beforehand, in bulk, by `scripts/bench-search`.

use std::time::Instant;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use palaver_client::Rest;
use serde_json::{json, Value};

use crate::run::Common;

/// Typical queries over the seeded vocabulary (see `scripts/bench-search`): common and rare
/// words, several words, a phrase, a prefix being typed, operators alone and combined, an
/// email, a URL, a dotted name, an exclusion, and a word that is nowhere.
pub const QUERIES: &[&str] = &[
    "deploy",
    "release notes",
    "\"release notes\"",
    "depl",
    "database migration plan",
    "kubernetes",
    "from:user7",
    "from:user7 deploy",
    "in:room42 meeting",
    "in:room42",
    "has:link",
    "has:link docs",
    "after:2026-01-01 budget",
    "on:2026-03-15",
    "user40@example.org",
    "https://example.com/docs/50",
    "config.server.port",
    "meeting -lunch",
    "zyzzyva",
    "the",
];

pub struct SearchPlan {
    pub rounds: usize,
    pub queries: Vec<String>,
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ms(micros: u64) -> f64 {
    (micros as f64 / 1_000.0 * 1_000.0).round() / 1_000.0
}

fn summary(hist: &Histogram<u64>) -> Value {
    json!({
        "count": hist.len(),
        "p50_ms": ms(hist.value_at_quantile(0.50)),
        "p99_ms": ms(hist.value_at_quantile(0.99)),
        "max_ms": ms(hist.max()),
    })
}

pub async fn search(common: &Common, plan: &SearchPlan) -> anyhow::Result<Value> {
    let rest = Rest::new(&common.target.base);
    let session = rest
        .guest(&format!("{}s", common.run_id))
        .await
        .context("signing in a guest")?;
    let token = session.token;
    let new = || Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("bounds");
    let mut all = new();
    let mut each: Vec<Histogram<u64>> = plan.queries.iter().map(|_| new()).collect();
    let mut hits = vec![0usize; plan.queries.len()];
    // One round unmeasured: the first request of each query warms the page cache.
    for round in 0..=plan.rounds {
        for (k, q) in plan.queries.iter().enumerate() {
            let path = format!("/api/search?limit=20&q={}", encode(q));
            let started = Instant::now();
            let (status, body) = rest.get(&path, Some(&token)).await?;
            let micros = started.elapsed().as_micros() as u64;
            if status != 200 {
                bail!("{q:?}: {status} {body}");
            }
            if round == 0 {
                hits[k] = body["results"].as_array().map_or(0, Vec::len);
                continue;
            }
            all.saturating_record(micros.max(1));
            each[k].saturating_record(micros.max(1));
        }
    }
    let per_query: Vec<Value> = plan
        .queries
        .iter()
        .zip(&each)
        .zip(&hits)
        .map(|((q, hist), hits)| {
            let mut s = summary(hist);
            s["query"] = json!(q);
            s["first_page_hits"] = json!(hits);
            s
        })
        .collect();
    Ok(json!({
        "rounds": plan.rounds,
        "all": summary(&all),
        "queries": per_query,
    }))
}
