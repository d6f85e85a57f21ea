//! Running an operation at a fixed concurrency for a fixed time, and what it cost.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What one scenario measured.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Operations completed in the measured window.
    pub ops: u64,
    /// Operations that failed (counted, not timed).
    pub errors: u64,
    /// The measured window.
    pub elapsed: Duration,
    /// Latencies in microseconds.
    pub latency: Histogram<u64>,
    /// CPU seconds the machine spent in the window, less the harness's own.
    pub cpu_secs: f64,
}

impl Stats {
    /// Operations per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency quantile in milliseconds.
    pub(crate) fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// CPU seconds per 1,000 operations.
    pub(crate) fn cpu_per_1000(&self) -> f64 {
        if self.ops == 0 {
            return f64::NAN;
        }
        self.cpu_secs * 1000.0 / self.ops as f64
    }
}

/// Busy CPU time of the whole machine and of this process, in seconds.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    machine: f64,
    harness: f64,
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn cpu_sample(ticks: f64) -> CpuSample {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: f64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let after = own.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let own_fields: Vec<f64> = after
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime, stime, cutime and cstime are fields 14 to 17 of the line (10 to 13 here, after
    // the name and the state): the harness and the children it has waited for (redis-benchmark).
    let harness: f64 = (10..14).filter_map(|i| own_fields.get(i)).sum();
    CpuSample {
        machine: (total - idle) / ticks,
        harness: harness / ticks,
    }
}

/// Runs `op(worker, iteration)` from `concurrency` workers: for `warmup` unmeasured, then for
/// `duration` measured.
pub(crate) async fn run<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut ops, mut errors, mut iteration) = (0u64, 0u64, 0u64);
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let result = op(worker, iteration).await;
                iteration += 1;
                let done = Instant::now();
                if began < measure_from || done > end {
                    continue;
                }
                match result {
                    Ok(()) => {
                        ops += 1;
                        latency.saturating_record(done.duration_since(began).as_micros() as u64);
                    }
                    Err(err) => {
                        if errors == 0 {
                            eprintln!("worker {worker}: {err:#}");
                        }
                        errors += 1;
                    }
                }
            }
            (latency, ops, errors)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu = CpuMeter::start();
    tokio::time::sleep_until(end.into()).await;
    let cpu_secs = cpu.stop();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut ops, mut errors) = (0, 0);
    for task in tasks {
        let (h, o, e) = task.await.expect("worker");
        latency.add(h).expect("same bounds");
        ops += o;
        errors += e;
    }
    Stats {
        ops,
        errors,
        elapsed: duration,
        latency,
        cpu_secs,
    }
}

/// Busy CPU of the machine, less the harness's (and its waited-for children's), over a span.
#[derive(Debug)]
pub(crate) struct CpuMeter {
    ticks: f64,
    before: CpuSample,
}

impl CpuMeter {
    /// Starts measuring.
    pub(crate) fn start() -> Self {
        let ticks = clock_ticks();
        CpuMeter {
            ticks,
            before: cpu_sample(ticks),
        }
    }

    /// The CPU seconds spent since the start, less the harness's own.
    pub(crate) fn stop(self) -> f64 {
        let after = cpu_sample(self.ticks);
        (after.machine - self.before.machine) - (after.harness - self.before.harness)
    }
}
