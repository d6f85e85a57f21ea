//! Scenario 4: the rate limiter's checks against `redis-benchmark` running the same script.

use super::*;

impl Bench {
    pub(crate) async fn limiter(&mut self) -> anyhow::Result<()> {
        const CONCURRENCY: usize = 50;
        let prefix = format!("{}:lim", self.seeded.redis_prefix);
        let limiter = Arc::new(livemsg_ratelimit::RedisLimiter::new(
            &secrecy::SecretString::from(self.args.redis_url.clone()),
            &prefix,
            Duration::from_secs(5),
        )?);
        let stats = load::run(
            CONCURRENCY,
            self.warmup(),
            self.seconds(),
            move |worker, _| {
                let limiter = limiter.clone();
                async move {
                    let key = livemsg_ratelimit::Key {
                        account_id: worker as i64,
                        action: "Bench",
                    };
                    let limit = livemsg_ratelimit::Limit {
                        max: 1_000_000_000,
                        window: Duration::from_secs(1),
                    };
                    use livemsg_ratelimit::Limiter;
                    limiter.check(&key, limit).await?;
                    Ok(())
                }
            },
        )
        .await;
        let requests = (stats.throughput() * self.args.seconds as f64).max(10_000.0) as u64;
        let ours = self.push(
            "4. limiter checks, livemsg RedisLimiter",
            CONCURRENCY,
            stats,
        );
        let floor = redis_benchmark(&self.args.redis_url, CONCURRENCY, requests)?;
        let floor = self.push(
            "4. baseline: redis-benchmark EVALSHA, same script",
            CONCURRENCY,
            floor,
        );
        self.compare(ours, floor, "goal >= 80%");
        Ok(())
    }
}

/// `redis-benchmark` running the limiter's script by EVALSHA, as a [`Stats`] (its p50, p99 and
/// p99.9 from its CSV latency report).
fn redis_benchmark(url: &str, concurrency: usize, requests: u64) -> anyhow::Result<Stats> {
    let hostport = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "6379"));
    let sha = std::process::Command::new("redis-cli")
        .args([
            "-h",
            host,
            "-p",
            port,
            "SCRIPT",
            "LOAD",
            livemsg_ratelimit::redis::SCRIPT,
        ])
        .output()
        .context("redis-cli")?;
    let sha = String::from_utf8_lossy(&sha.stdout).trim().to_owned();
    let cpu = load::CpuMeter::start();
    let started = Instant::now();
    let out = std::process::Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "--csv"])
        .args(["-c", &concurrency.to_string(), "-n", &requests.to_string()])
        .args(["-r", &concurrency.to_string()])
        .args([
            "EVALSHA",
            &sha,
            "1",
            "bench:rb:{__rand_int__}",
            "1000000000",
            "1000000",
            "m__rand_int__",
        ])
        .output()
        .context("redis-benchmark")?;
    let elapsed = started.elapsed();
    let cpu_secs = cpu.stop();
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .last()
        .context("redis-benchmark printed nothing")?;
    let fields: Vec<f64> = line
        .split(',')
        .skip(1)
        .filter_map(|f| f.trim_matches('"').parse().ok())
        .collect();
    anyhow::ensure!(
        fields.len() >= 7,
        "unexpected redis-benchmark output: {text}"
    );
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    // Only quantiles are known: record them with weights that reproduce p50 and p99.
    let us = |ms: f64| (ms * 1000.0).max(1.0) as u64;
    latency.record_n(us(fields[3]), 500)?;
    latency.record_n(us(fields[5]), 490)?;
    latency.record_n(us(fields[6]), 10)?;
    let rps = fields[0];
    Ok(Stats {
        ops: (rps * elapsed.as_secs_f64()) as u64,
        errors: 0,
        elapsed,
        latency,
        cpu_secs,
        by_process: Vec::new(),
    })
}
