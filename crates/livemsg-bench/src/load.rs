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
    /// The same window's CPU seconds by process ([`PROCESSES`], then `other`), where measured.
    pub by_process: Vec<(&'static str, f64)>,
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
    let processes = ProcessCpu::sample();
    tokio::time::sleep_until(end.into()).await;
    let by_process = ProcessCpu::sample().since(&processes);
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
        by_process: by_process.split(cpu_secs),
    }
}

/// The processes whose CPU a breakdown names, by the name the kernel gives them (`comm`).
pub(crate) const PROCESSES: [&str; 4] = [
    "livemsg-gateway",
    "livemsg-service",
    "postgres",
    "redis-server",
];

/// CPU seconds of every process of the machine but the harness, summed by [`PROCESSES`] name
/// (the rest together), from `/proc/<pid>/stat`. Processes that exit within a window take their
/// time with them, so the breakdown is read against the machine's total, which keeps it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProcessCpu {
    named: [f64; 4],
}

impl ProcessCpu {
    pub(crate) fn sample() -> Self {
        let ticks = clock_ticks();
        let own = std::process::id().to_string();
        let mut named = [0.0; 4];
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return ProcessCpu { named };
        };
        for entry in entries.flatten() {
            let pid = entry.file_name();
            let pid = pid.to_string_lossy();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == own {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((comm, busy)) = comm_and_busy_ticks(&stat) else {
                continue;
            };
            let Some(index) = PROCESSES.iter().position(|name| *name == comm) else {
                continue;
            };
            named[index] += busy / ticks;
        }
        ProcessCpu { named }
    }

    /// The CPU each named process spent since `before` (never below zero: a process that
    /// exited and was replaced is counted from its successor's start).
    pub(crate) fn since(&self, before: &ProcessCpu) -> ProcessCpu {
        let mut named = [0.0; 4];
        for (i, spent) in named.iter_mut().enumerate() {
            *spent = (self.named[i] - before.named[i]).max(0.0);
        }
        ProcessCpu { named }
    }

    /// The named processes' seconds, and `other`: what is left of `total` (the machine's busy
    /// CPU less the harness's), which holds the kernel's own threads.
    pub(crate) fn split(&self, total: f64) -> Vec<(&'static str, f64)> {
        let mut out: Vec<(&'static str, f64)> = PROCESSES.iter().copied().zip(self.named).collect();
        out.push(("other", (total - self.named.iter().sum::<f64>()).max(0.0)));
        out
    }
}

/// A process's name and its user and system time in clock ticks, from its `/proc/<pid>/stat`
/// line (the name is in parentheses and may itself hold spaces and parentheses).
fn comm_and_busy_ticks(stat: &str) -> Option<(&str, f64)> {
    let (head, rest) = stat.rsplit_once(") ")?;
    let (_, comm) = head.split_once('(')?;
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_the_name_and_busy_ticks() {
        let line = "4242 (livemsg-gateway) S 1 4242 4242 0 -1 4194560 1234 0 0 0 350 120 0 0 20 0 \
                    5 0 100 1000000 2000 18446744073709551615";
        assert_eq!(comm_and_busy_ticks(line), Some(("livemsg-gateway", 470.0)));
        let odd = "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1 1";
        assert_eq!(comm_and_busy_ticks(odd), Some(("a) b (c", 11.0)));
        assert_eq!(comm_and_busy_ticks("garbage"), None);
    }

    #[test]
    fn the_breakdown_names_the_processes_and_leaves_the_rest_as_other() {
        let before = ProcessCpu {
            named: [1.0, 2.0, 3.0, 4.0],
        };
        let after = ProcessCpu {
            named: [1.5, 2.25, 2.0, 4.5],
        };
        let spent = after.since(&before);
        let split = spent.split(2.0);
        assert_eq!(
            split,
            vec![
                ("livemsg-gateway", 0.5),
                ("livemsg-service", 0.25),
                ("postgres", 0.0),
                ("redis-server", 0.5),
                ("other", 0.75),
            ]
        );
    }
}
