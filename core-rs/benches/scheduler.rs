//! The scheduler's hot path without Python: batches of 64 enqueue + take + ack, as
//! `bench/scheduler.py` drives it through the binding. `cargo bench -p dwc-core --bench
//! scheduler` prints tasks/s; run it under `perf record` to see where the time goes.

use std::time::{Duration, Instant};

use dwc_core::scheduler::{Config, Scheduler, TaskSpec};

const BATCH: usize = 64;

fn round(n: usize, tag: usize) -> f64 {
    let sched = Scheduler::new(Config::default()).expect("default config is valid");
    let ids: Vec<String> = (0..n).map(|i| format!("r{tag}-w0-{i}")).collect();
    let lease = Duration::from_secs(30);
    let t0 = Instant::now();
    for chunk in ids.chunks(BATCH) {
        let specs = chunk
            .iter()
            .map(|id| TaskSpec::new(id.as_str(), &b"x"[..]))
            .collect();
        sched.enqueue_many(specs, true).expect("ids are unique");
        let got = sched.take(chunk.len(), lease).expect("valid take");
        let leases: Vec<u64> = got.iter().map(|d| d.lease).collect();
        assert!(sched.ack_many(&leases).is_empty());
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut rates: Vec<f64> = (0..5).map(|r| round(n, r)).collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "enqueue_many + take + ack_many, batches of {BATCH}: {:.0} tasks/s (median of 5)",
        rates[2]
    );
}
