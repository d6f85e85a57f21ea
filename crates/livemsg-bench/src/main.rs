//! `livemsg-bench`: every hot path of livemsg against the raw Postgres and Redis beneath it,
//! in one run, each result a ratio to a baseline measured in the same run.
//!
//! Run it with `scripts/bench` (release builds of everything). It creates a fresh database,
//! seeds it, starts `livemsg-service` and `livemsg-gateway` from its own directory with the
//! production configuration (local addresses, the benchmark account's rate limit raised by an
//! extra configuration file), runs each scenario at a fixed concurrency for a fixed time after a
//! warm-up, prints a Markdown table and drops the database.

mod broadcast;
mod crowd;
mod edge;
mod listings;
mod load;
mod messages;
mod stack;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use livemsg_proto::api::v1::member_service_client::MemberServiceClient;
use livemsg_proto::api::v1::ListGroupUsersRequest;
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_proto::membership::v1::membership_service_client::MembershipServiceClient;
use livemsg_proto::membership::v1::{JoinGroupRequest, LeaveGroupRequest};
use livemsg_proto::{AuthenticatedChannel, BearerToken};
use rand::Rng;

use load::Stats;
use stack::{Process, Seeded, LIST_MEMBERS};

#[derive(Debug, Parser)]
#[command(about = "Benchmarks livemsg against the Postgres and Redis beneath it")]
struct Args {
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up seconds before each measurement.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Concurrency of the list scenarios (1 and 2 and their baseline).
    #[arg(long, default_value_t = 32)]
    list_concurrency: usize,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Profile the machine with `perf` during scenario 1 (full stack) and write the report by
    /// process and by symbol into this directory.
    #[arg(long)]
    profile: Option<std::path::PathBuf>,
    /// The scenarios to run, by number (1 full-stack list, 2 gRPC list, 3 churn, 4 limiter,
    /// 5 scale, 6 memory, 7 group listings at 10^3 and 10^5 groups, 8 messages: sends,
    /// history, send-to-watcher latency, retention of 10^7 messages, 13 the client edge:
    /// viewers' connections, logins and joins, fan-out to a room against a bare broadcast
    /// server); all by default.
    #[arg(long, value_delimiter = ',', default_values_t = [1u8, 2, 3, 4, 5, 6, 7, 8, 13])]
    scenarios: Vec<u8>,
    /// Viewers in the edge scenario's room.
    #[arg(long, default_value_t = 10_000)]
    edge_viewers: usize,
    /// Messages a second of the edge scenario's steady stream.
    #[arg(long, default_value_t = 5)]
    edge_rate: u64,
    /// Messages a second of the edge scenario's flood (more than can be delivered).
    #[arg(long, default_value_t = 200)]
    edge_flood: u64,
    /// Run as the edge scenario's bare broadcast server instead (the harness starts it).
    #[arg(long, hide = true)]
    broadcast_server: bool,
    /// Skip the 10^7-row steps (the scale step seeds 8 million membership rows, the retention
    /// step 10 million messages).
    #[arg(long)]
    no_ten_million: bool,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

/// One line of the results table.
struct Line {
    scenario: String,
    concurrency: usize,
    stats: Stats,
    /// `(ratio, what it is compared with, goal)`.
    versus: Option<(f64, String)>,
}

struct Bench {
    args: Args,
    seeded: Seeded,
    endpoint: String,
    grpc: AuthenticatedChannel,
    http: reqwest::Client,
    caller_proof: String,
    lines: Vec<Line>,
    notes: Vec<String>,
}

fn acs_date() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A signed `ListLiveMessageGroupUsers`, as the official SDK sends it (ACS3-HMAC-SHA256).
async fn signed_list(
    http: &reqwest::Client,
    endpoint: &str,
    seeded: &SeededIds,
    group: &str,
    sort: i32,
    token: i64,
) -> anyhow::Result<()> {
    let (sort, token) = (sort.to_string(), token.to_string());
    let mut query: Vec<(&str, &str)> = vec![
        ("AppId", &seeded.app_id),
        ("DataCenter", "cn-shanghai"),
        ("GroupId", group),
        ("PageSize", "50"),
        ("SortType", &sort),
    ];
    if token != "0" {
        query.push(("NextPageToken", &token));
    }
    signed_call(http, endpoint, seeded, "ListLiveMessageGroupUsers", &query).await?;
    Ok(())
}

/// A signed call of `action`, as the official SDK sends it (ACS3-HMAC-SHA256); its JSON body.
async fn signed_call(
    http: &reqwest::Client,
    endpoint: &str,
    seeded: &SeededIds,
    action: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<serde_json::Value> {
    let (date, nonce) = (acs_date(), uuid::Uuid::new_v4().to_string());
    let headers = livemsg_gateway::signing::client::v3_headers(
        &livemsg_gateway::signing::client::V3Request {
            method: "POST",
            host: endpoint,
            action,
            query,
            body: b"",
            date: &date,
            nonce: &nonce,
        },
        &seeded.access_key_id,
        &seeded.access_key_secret,
    );
    let mut request = http.post(format!("http://{endpoint}/")).query(query);
    for (name, value) in headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != 200 || !body.starts_with(b"{") {
        anyhow::bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(serde_json::from_slice(&body)?)
}

/// What the load generators need of the seeded identities.
#[derive(Debug, Clone)]
struct SeededIds {
    app_id: String,
    account_id: i64,
    access_key_id: String,
    access_key_secret: String,
    /// The service's proof for the account, as a gateway gets it with the resolved key.
    caller_proof: String,
}

/// Whether scenario `n` was asked for.
fn bench_selected(scenarios: &[u8], n: u8) -> bool {
    scenarios.contains(&n)
}

/// The gRPC request for one page of 50.
fn list_request(ids: &SeededIds, group: String, sort: i32, token: i64) -> ListGroupUsersRequest {
    ListGroupUsersRequest {
        app: Some(AppRef {
            caller: Some(Caller {
                account_id: ids.account_id,
                proof: ids.caller_proof.clone(),
            }),
            app_id: ids.app_id.clone(),
            data_center: "cn-shanghai".into(),
        }),
        group_id: group,
        page_size: 50,
        sort_type: sort.into(),
        page_token: token,
    }
}

/// The group (1-based) of churn operation `i` of `worker`: a join and its leave (i and i + 1)
/// name the same group; successive pairs spread over all `groups`.
fn churn_group(worker: usize, i: u64, groups: usize) -> usize {
    (worker * 7_919 + (i as usize / 2) * 104_729) % groups + 1
}

fn random_page(groups: usize) -> (String, i32, i64) {
    let mut rng = rand::rng();
    let group = format!("list{}", rng.random_range(1..=groups));
    let sort = rng.random_range(1..=2);
    let token = rng.random_range(1..=LIST_MEMBERS);
    (group, sort, token)
}

impl Bench {
    fn ids(&self) -> SeededIds {
        SeededIds {
            app_id: self.seeded.app_id.clone(),
            account_id: self.seeded.account_id,
            access_key_id: self.seeded.access_key_id.clone(),
            access_key_secret: self.seeded.access_key_secret.clone(),
            caller_proof: self.caller_proof.clone(),
        }
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs(self.args.warmup)
    }

    fn seconds(&self) -> Duration {
        Duration::from_secs(self.args.seconds)
    }

    fn push(&mut self, scenario: impl Into<String>, concurrency: usize, stats: Stats) -> usize {
        let scenario = scenario.into();
        eprintln!(
            "  {scenario}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            stats.throughput(),
            stats.ms(0.5),
            stats.ms(0.99),
            stats.errors
        );
        self.lines.push(Line {
            scenario,
            concurrency,
            stats,
            versus: None,
        });
        self.lines.len() - 1
    }

    fn compare(&mut self, line: usize, baseline: usize, goal: &str) {
        let ratio = self.lines[line].stats.throughput() / self.lines[baseline].stats.throughput();
        let against = format!("{} ({goal})", self.lines[baseline].scenario);
        self.lines[line].versus = Some((ratio, against));
    }

    async fn full_stack_list(
        &self,
        groups: usize,
        concurrency: usize,
        warmup: Duration,
        seconds: Duration,
    ) -> Stats {
        let (http, endpoint, ids) = (self.http.clone(), self.endpoint.clone(), self.ids());
        load::run(concurrency, warmup, seconds, move |_, _| {
            let (http, endpoint, ids) = (http.clone(), endpoint.clone(), ids.clone());
            async move {
                let (group, sort, token) = random_page(groups);
                signed_list(&http, &endpoint, &ids, &group, sort, token).await
            }
        })
        .await
    }

    async fn grpc_list(&self, groups: usize, concurrency: usize) -> Stats {
        let (channel, ids) = (self.grpc.clone(), self.ids());
        load::run(concurrency, self.warmup(), self.seconds(), move |_, _| {
            let (mut api, ids) = (MemberServiceClient::new(channel.clone()), ids.clone());
            async move {
                let (group, sort, token) = random_page(groups);
                let page = api
                    .list_group_users(list_request(&ids, group, sort, token))
                    .await?
                    .into_inner();
                anyhow::ensure!(!page.users.is_empty(), "an empty page");
                Ok(())
            }
        })
        .await
    }

    async fn sql_list(&self, groups: usize, concurrency: usize) -> anyhow::Result<Stats> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(concurrency as u32)
            .connect_with(self.seeded.pool.connect_options().as_ref().clone())
            .await?;
        let ids = self.ids();
        let stats = load::run(concurrency, self.warmup(), self.seconds(), move |_, _| {
            let (pool, ids) = (pool.clone(), ids.clone());
            async move {
                let (group, sort, token) = random_page(groups);
                let sql = if sort == 1 {
                    livemsg_store::LIST_ASCENDING
                } else {
                    livemsg_store::LIST_DESCENDING
                };
                let rows = sqlx::query(sql)
                    .bind(&ids.app_id)
                    .bind(ids.account_id)
                    .bind("cn-shanghai")
                    .bind(&group)
                    .bind(token)
                    .bind(51_i64)
                    .fetch_all(&pool)
                    .await?;
                anyhow::ensure!(!rows.is_empty(), "an empty page");
                Ok(())
            }
        })
        .await;
        Ok(stats)
    }

    /// Scenario 5: list latency at one table size, full stack, low concurrency.
    async fn scale_step(&mut self, rows_label: &str) -> anyhow::Result<usize> {
        let rows = self.seeded.member_rows().await?;
        eprintln!("scale: {rows} membership rows");
        let stats = self
            .full_stack_list(self.seeded.list_groups, 4, self.warmup(), self.seconds())
            .await;
        Ok(self.push(
            format!("5. list at {rows_label} rows ({rows}), full stack"),
            4,
            stats,
        ))
    }

    async fn churn(&mut self) -> anyhow::Result<()> {
        const GROUPS: usize = 10_000;
        const CONCURRENCY: usize = 64;
        self.seeded.empty_groups("churn", GROUPS).await?;
        self.seeded.empty_groups("hot", 1).await?;
        // Over many groups: each worker alternates joining a new user to a random group and
        // removing the user it added last.
        let (channel, app_id) = (self.grpc.clone(), self.seeded.app_id.clone());
        let stats = load::run(
            CONCURRENCY,
            self.warmup(),
            self.seconds(),
            move |worker, i| {
                let (mut membership, app_id) = (
                    MembershipServiceClient::new(channel.clone()),
                    app_id.clone(),
                );
                async move {
                    let group = format!("churn{}", churn_group(worker, i, GROUPS));
                    let user_id = format!("w{worker}n{}", i / 2);
                    if i % 2 == 0 {
                        membership
                            .join_group(JoinGroupRequest {
                                app_id,
                                group_id: group,
                                user_id,
                                user_info: "info".into(),
                            })
                            .await?;
                    } else {
                        membership
                            .leave_group(LeaveGroupRequest {
                                app_id,
                                group_id: group,
                                user_id,
                            })
                            .await?;
                    }
                    Ok(())
                }
            },
        )
        .await;
        let many = self.push(
            "3a. join/leave over 10,000 groups, gRPC",
            CONCURRENCY,
            stats,
        );

        // One hot group, across the super-group threshold.
        let (channel, app_id) = (self.grpc.clone(), self.seeded.app_id.clone());
        let stats = load::run(
            CONCURRENCY,
            self.warmup(),
            self.seconds(),
            move |worker, i| {
                let (mut membership, app_id) = (
                    MembershipServiceClient::new(channel.clone()),
                    app_id.clone(),
                );
                async move {
                    membership
                        .join_group(JoinGroupRequest {
                            app_id,
                            group_id: "hot1".into(),
                            user_id: format!("w{worker}n{i}"),
                            user_info: "info".into(),
                        })
                        .await?;
                    Ok(())
                }
            },
        )
        .await;
        let hot = self.push(
            "3b. joins into one hot group (normal -> super), gRPC",
            CONCURRENCY,
            stats,
        );
        let count: i64 =
            sqlx::query_scalar("SELECT member_count FROM groups WHERE group_id = 'hot1'")
                .fetch_one(&self.seeded.pool)
                .await?;
        self.notes.push(format!(
            "3b: the hot group ended with {count} members (super past 2,000)."
        ));

        // The floor: single-row INSERT and DELETE, autocommit, same table shape and indexes,
        // same durability (synchronous_commit on).
        sqlx::query("CREATE TABLE bench_members (LIKE group_members INCLUDING ALL)")
            .execute(&self.seeded.pool)
            .await?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(CONCURRENCY as u32)
            .connect_with(self.seeded.pool.connect_options().as_ref().clone())
            .await?;
        let position = Arc::new(AtomicI64::new(1));
        let (p, pos) = (pool.clone(), position.clone());
        let stats = load::run(CONCURRENCY, self.warmup(), self.seconds(), move |worker, i| {
            let (pool, position) = (p.clone(), pos.clone());
            async move {
                let group = churn_group(worker, i, GROUPS) as i64;
                let user_id = format!("w{worker}n{}", i / 2);
                if i % 2 == 0 {
                    sqlx::query("INSERT INTO bench_members (group_pk, user_id, position, user_info) VALUES ($1, $2, $3, 'info')")
                        .bind(group)
                        .bind(&user_id)
                        .bind(position.fetch_add(1, Ordering::Relaxed))
                        .execute(&pool)
                        .await?;
                } else {
                    sqlx::query("DELETE FROM bench_members WHERE group_pk = $1 AND user_id = $2")
                        .bind(group)
                        .bind(&user_id)
                        .execute(&pool)
                        .await?;
                }
                Ok(())
            }
        })
        .await;
        let floor = self.push(
            "3. baseline: single-row INSERT/DELETE, Postgres",
            CONCURRENCY,
            stats,
        );
        let (p, pos) = (pool.clone(), position.clone());
        let stats = load::run(CONCURRENCY, self.warmup(), self.seconds(), move |worker, i| {
            let (pool, position) = (p.clone(), pos.clone());
            async move {
                sqlx::query("INSERT INTO bench_members (group_pk, user_id, position, user_info) VALUES (-1, $1, $2, 'info')")
                    .bind(format!("hot-w{worker}n{i}"))
                    .bind(position.fetch_add(1, Ordering::Relaxed))
                    .execute(&pool)
                    .await?;
                Ok(())
            }
        })
        .await;
        let hot_floor = self.push(
            "3. baseline: single-row INSERT into one group, Postgres",
            CONCURRENCY,
            stats,
        );
        self.compare(many, floor, "goal >= 100%");
        self.compare(hot, hot_floor, "goal >= 100%");
        pool.close().await;
        Ok(())
    }

    async fn limiter(&mut self) -> anyhow::Result<()> {
        const CONCURRENCY: usize = 50;
        let prefix = format!("bench:lim:{}", uuid::Uuid::new_v4().simple());
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

    /// Scenario 6: resident memory at 1,000 concurrent connections.
    async fn memory(
        &mut self,
        gateway: &Process,
        service: &Process,
        grpc_addr: &str,
        idle: (f64, f64),
    ) -> anyhow::Result<()> {
        const CONNECTIONS: usize = 1_000;
        let ids = self.ids();
        let endpoint = self.endpoint.clone();
        let groups = self.seeded.list_groups;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            let (ids, endpoint) = (ids.clone(), endpoint.clone());
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            tasks.push(tokio::spawn(async move {
                let mut ok = 0u64;
                while Instant::now() < deadline {
                    let (group, sort, token) = random_page(groups);
                    if signed_list(&http, &endpoint, &ids, &group, sort, token)
                        .await
                        .is_ok()
                    {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let gateway_peak = sample_peak(gateway, deadline).await;
        let mut http_ok = 0;
        for task in tasks {
            http_ok += task.await?;
        }
        // The service, with 1,000 gRPC connections of its own.
        let mut channels = Vec::new();
        for _ in 0..CONNECTIONS {
            let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))?
                .connect()
                .await?;
            channels.push(tonic::service::interceptor::InterceptedService::new(
                channel,
                BearerToken::new(TOKEN)?,
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for channel in channels {
            let ids = ids.clone();
            tasks.push(tokio::spawn(async move {
                let mut api = MemberServiceClient::new(channel);
                let mut ok = 0u64;
                while Instant::now() < deadline {
                    let (group, sort, token) = random_page(groups);
                    if api
                        .list_group_users(list_request(&ids, group, sort, token))
                        .await
                        .is_ok()
                    {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let service_peak = sample_peak(service, deadline).await;
        let mut grpc_ok = 0;
        for task in tasks {
            grpc_ok += task.await?;
        }
        self.notes.push(format!(
            "6. memory (RSS, MiB): gateway {:.1} idle, {gateway_peak:.1} at {CONNECTIONS} concurrent HTTP connections ({http_ok} signed lists in 5 s); \
             service {:.1} idle, {service_peak:.1} at {CONNECTIONS} concurrent gRPC connections ({grpc_ok} lists in 5 s).",
            idle.0, idle.1
        ));
        eprintln!(
            "  {}",
            self.notes.last().map(String::as_str).unwrap_or_default()
        );
        Ok(())
    }
}

/// The highest RSS of `process` until `deadline`, sampled every 100 ms.
async fn sample_peak(process: &Process, deadline: Instant) -> f64 {
    let mut peak: f64 = 0.0;
    while Instant::now() < deadline {
        peak = peak.max(process.rss_mib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peak.max(process.rss_mib())
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
    })
}

/// The internal token of every role in the benchmark (one harness plays gateway and tier).
const TOKEN: &str = "bench-internal-token-of-32-or-more-chars";

/// `perf record` of the whole machine, with call graphs.
struct Perf {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Perf {
    fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let child = std::process::Command::new("perf")
            .args(["record", "-a", "-g", "-F", "199", "-o"])
            .arg(dir.join("perf.data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("perf must be installed")?;
        Ok(Perf {
            child,
            dir: dir.to_owned(),
        })
    }

    /// Stops recording and writes `by-process.txt` and `by-symbol.txt`.
    fn finish(mut self) -> anyhow::Result<()> {
        std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        let data = self.dir.join("perf.data");
        for (file, sort) in [
            ("by-process.txt", "comm,dso"),
            ("by-symbol.txt", "comm,dso,symbol"),
        ] {
            let out = std::process::Command::new("perf")
                .args([
                    "report",
                    "--stdio",
                    "--no-children",
                    "-g",
                    "none",
                    "--percent-limit",
                    "0.5",
                    "--sort",
                    sort,
                    "-i",
                ])
                .arg(&data)
                .output()?;
            std::fs::write(self.dir.join(file), out.stdout)?;
        }
        Ok(())
    }
}

fn table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| scenario | conc. | ops/s | p50 ms | p99 ms | p99.9 ms | CPU s / 1000 | vs baseline |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for line in lines {
        let s = &line.stats;
        let versus = line
            .versus
            .as_ref()
            .map_or(String::new(), |(ratio, against)| {
                format!("**{:.0}%** of {against}", ratio * 100.0)
            });
        let p999 = if line.scenario.starts_with("4. baseline") {
            "-".to_owned()
        } else {
            format!("{:.2}", s.ms(0.999))
        };
        out.push_str(&format!(
            "| {}{} | {} | {:.0} | {:.2} | {:.2} | {} | {:.3} | {} |\n",
            line.scenario,
            if s.errors > 0 {
                format!(" ({} errors)", s.errors)
            } else {
                String::new()
            },
            line.concurrency,
            s.throughput(),
            s.ms(0.5),
            s.ms(0.99),
            p999,
            s.cpu_per_1000(),
            versus
        ));
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.broadcast_server {
        return broadcast::serve().await;
    }
    let started = Instant::now();
    let bin_dir = std::env::current_exe()?
        .parent()
        .context("the binary's directory")?
        .to_path_buf();
    let repo = std::env::current_dir()?;
    let work = std::env::temp_dir().join(format!("livemsg-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;

    eprintln!("seeding a fresh database ...");
    let mut seeded = stack::create(&args.database_url).await?;
    seeded.grow_list_groups(5).await?; // 10^4 rows
                                       // The benchmark account's own limit, raised by configuration like any account's.
    let extra = work.join("bench.toml");
    std::fs::write(
        &extra,
        format!(
            "[ratelimit.accounts.{}]\nper_second = 100000000\n",
            seeded.account_id
        ),
    )?;
    let launched = async {
        let env = stack::environment(&seeded, &repo, &args.redis_url, TOKEN, &extra)?;
        let mut service = Process::start("livemsg-service", &bin_dir, &env, &work)?;
        let grpc_addr = service.address("listen.addr")?;
        let mut gateway_env = env.clone();
        gateway_env.push((
            "LIVEMSG__GATEWAY__SERVICE_URL".into(),
            format!("http://{grpc_addr}"),
        ));
        let mut gateway = Process::start("livemsg-gateway", &bin_dir, &gateway_env, &work)?;
        let endpoint = gateway.address("listen.addr")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))?
            .connect()
            .await?;
        anyhow::Ok((service, gateway, grpc_addr, endpoint, channel, env))
    }
    .await;
    // A failed start leaves nothing behind: the processes are killed when dropped, and the
    // database is dropped here.
    let (service, gateway, grpc_addr, endpoint, channel, env) = match launched {
        Ok(launched) => launched,
        Err(err) => {
            seeded.drop().await?;
            return Err(err);
        }
    };
    let idle = (gateway.rss_mib(), service.rss_mib());
    let grpc =
        tonic::service::interceptor::InterceptedService::new(channel, BearerToken::new(TOKEN)?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let caller_proof =
        livemsg_proto::auth::v1::auth_service_client::AuthServiceClient::new(grpc.clone())
            .resolve_access_key(livemsg_proto::auth::v1::ResolveAccessKeyRequest {
                access_key_id: seeded.access_key_id.clone(),
            })
            .await?
            .into_inner()
            .caller_proof;
    let mut bench = Bench {
        args,
        seeded,
        caller_proof,
        endpoint,
        grpc,
        http,
        lines: Vec::new(),
        notes: Vec::new(),
    };

    let result = async {
        let scenarios = bench.args.scenarios.clone();
        let run = |n: u8| bench_selected(&scenarios, n);
        let mut scale = Vec::new();
        if run(5) {
            scale.push(bench.scale_step("10^4").await?);
            eprintln!("seeding to 10^6 rows ...");
            bench.seeded.grow_list_groups(500).await?;
            scale.push(bench.scale_step("10^6").await?);
        }
        if run(1) || run(2) || run(6) {
            eprintln!("seeding 1,000 groups of 2,000 ...");
            bench.seeded.grow_list_groups(1_000).await?;
        }
        let c = bench.args.list_concurrency;
        if run(1) || run(2) {
            let baseline = bench.sql_list(1_000, c).await?;
            let baseline = bench.push(
                "1. baseline: the store's list SQL, straight to Postgres",
                c,
                baseline,
            );
            if run(1) {
                let perf = bench.args.profile.as_deref().map(Perf::start).transpose()?;
                let full = bench
                    .full_stack_list(1_000, c, bench.warmup(), bench.seconds())
                    .await;
                if let Some(perf) = perf {
                    perf.finish()?;
                }
                let full = bench.push(
                    "1. list, full stack (signed HTTP -> gateway -> gRPC -> Postgres)",
                    c,
                    full,
                );
                bench.compare(full, baseline, "goal >= 40%");
            }
            if run(2) {
                let grpc = bench.grpc_list(1_000, c).await;
                let grpc = bench.push("2. list, gRPC only (service -> Postgres)", c, grpc);
                bench.compare(grpc, baseline, "for reference");
            }
        }
        if run(3) {
            eprintln!("churn ...");
            bench.churn().await?;
        }
        if run(4) {
            eprintln!("limiter ...");
            bench.limiter().await?;
        }
        if run(7) {
            eprintln!("group listings ...");
            bench.listings().await?;
        }
        if run(8) {
            eprintln!("messages ...");
            bench.messages(&bin_dir, &env, &work).await?;
        }
        if run(13) {
            eprintln!("edge ...");
            bench.edge(&bin_dir, &env, &work, &grpc_addr).await?;
        }
        if run(6) {
            eprintln!("memory ...");
            bench.memory(&gateway, &service, &grpc_addr, idle).await?;
        }
        if run(5) && !bench.args.no_ten_million {
            eprintln!("seeding to 10^7 rows ...");
            bench.seeded.grow_list_groups(5_000).await?;
            scale.push(bench.scale_step("10^7").await?);
        }
        if let Some((&small, rest)) = scale.split_first() {
            let base = bench.lines[small].stats.ms(0.5);
            for &line in rest {
                let p50 = bench.lines[line].stats.ms(0.5);
                let against = format!("p50 at 10^4: {base:.2} ms (goal: p50 at 10^7 <= 150%)");
                bench.lines[line].versus = Some((p50 / base, against));
            }
        }
        anyhow::Ok(())
    }
    .await;

    gateway.stop();
    service.stop();
    let lines = std::mem::take(&mut bench.lines);
    let notes = std::mem::take(&mut bench.notes);
    bench.seeded.drop().await?;
    result?;

    let mut report = table(&lines);
    report.push('\n');
    for note in notes {
        report.push_str(&format!("- {note}\n"));
    }
    report.push_str(&format!(
        "- Scale lines compare p50 latency (lower is better); every other ratio compares throughput.\n\
         - CPU s / 1000: busy CPU of the whole machine (service, gateway, Postgres, Redis) in the measured window, less the harness's own, per 1,000 operations.\n\
         - Whole run: {:.0} s.\n",
        started.elapsed().as_secs_f64()
    ));
    std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes())?;
    if let Some(path) = &bench.args.out {
        std::fs::write(path, &report)?;
    }
    Ok(())
}
