//! Limiter checks per second against the floor beneath them.
//!
//! ```text
//! cargo run --release -p livemsg-ratelimit --example limiter_bench -- [seconds] [concurrency]
//! ```
//!
//! Runs [`RedisLimiter`] checks at a fixed concurrency (default 50) for a fixed time (default
//! 10 s) after a warm-up, then `redis-benchmark` running the same script by EVALSHA at the
//! same concurrency against the same Redis, and prints both rates and their ratio as a
//! Markdown table. Every worker checks its own account's key with a limit high enough that
//! every call is admitted, so both sides run the script's full path (trim, count, add);
//! `redis-benchmark` spreads its calls over as many keys as there are workers.
//! `REDIS_URL` (default `redis://127.0.0.1:6379`) names the Redis; the host and port are
//! passed to `redis-benchmark`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use livemsg_ratelimit::{Key, Limit, Limiter, RedisLimiter};
use secrecy::SecretString;

const WINDOW_US: u64 = 1_000_000;
const LIMIT: u32 = 1_000_000_000;

async fn run_limiter(limiter: Arc<RedisLimiter>, concurrency: usize, duration: Duration) -> f64 {
    let checks = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (limiter, checks) = (limiter.clone(), checks.clone());
        tasks.push(tokio::spawn(async move {
            let limit = Limit {
                max: LIMIT,
                window: Duration::from_micros(WINDOW_US),
            };
            let key = Key {
                account_id: worker as i64,
                action: "Bench",
            };
            while Instant::now() < deadline {
                limiter.check(&key, limit).await.expect("redis check");
                checks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await.expect("worker");
    }
    checks.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn redis_cli(host: &str, port: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .output()
        .expect("redis-cli must be installed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run_redis_benchmark(host: &str, port: &str, concurrency: usize, requests: u64) -> f64 {
    let sha = redis_cli(
        host,
        port,
        &["SCRIPT", "LOAD", livemsg_ratelimit::redis::SCRIPT],
    );
    let out = std::process::Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "-q"])
        .args(["-c", &concurrency.to_string(), "-n", &requests.to_string()])
        .args(["-r", &concurrency.to_string()])
        .args([
            "EVALSHA",
            &sha,
            "1",
            "bench:rb:{__rand_int__}",
            &LIMIT.to_string(),
        ])
        .args([&WINDOW_US.to_string(), "m__rand_int__"])
        .output()
        .expect("redis-benchmark must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    // "EVALSHA ...: 61349.69 requests per second, p50=0.407 msec"
    let line = text
        .split(['\r', '\n'])
        .rfind(|l| l.contains("requests per second"))
        .unwrap_or_else(|| panic!("unexpected redis-benchmark output: {text}"));
    let figure = line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the rate in {line}"));
    figure
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let hostport = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "6379"));

    let prefix = format!("bench:{}", uuid::Uuid::new_v4().simple());
    let limiter = Arc::new(
        RedisLimiter::new(
            &SecretString::from(url.clone()),
            &prefix,
            Duration::from_secs(5),
        )
        .expect("redis url"),
    );
    run_limiter(limiter.clone(), concurrency, Duration::from_secs(1)).await; // warm-up
    let ours = run_limiter(limiter, concurrency, Duration::from_secs(seconds)).await;
    let requests = (ours * seconds as f64).max(10_000.0) as u64;
    let floor = run_redis_benchmark(host, port, concurrency, requests);

    let mut out = String::new();
    out.push_str(&format!(
        "| what ({concurrency} concurrent, same script) | checks/s |\n|---|---:|\n"
    ));
    out.push_str(&format!("| livemsg RedisLimiter | {ours:.0} |\n"));
    out.push_str(&format!("| redis-benchmark EVALSHA | {floor:.0} |\n"));
    out.push_str(&format!("| ratio | {:.1}% |\n", 100.0 * ours / floor));
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes()).expect("stdout");
}
