//! `livemsg-bench`: every hot path of livemsg against the raw Postgres and Redis beneath it,
//! in one run, each result a ratio to a baseline measured in the same run.
//!
//! Run it with `scripts/bench` (release builds of everything). It creates a fresh database,
//! seeds it, starts `livemsg-service` and `livemsg-gateway` from its own directory with the
//! production configuration (local addresses, the benchmark account's rate limit raised by an
//! extra configuration file), runs each scenario at a fixed concurrency for a fixed time after a
//! warm-up, prints a Markdown table and drops the database.

mod broadcast;
mod churn;
mod crowd;
mod edge;
mod limiter;
mod listings;
mod load;
mod members;
mod memory;
mod messages;
mod moderation;
mod report;
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
use report::{table, Perf};
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
    /// Profile the machine with `perf` during scenarios 1, 2, 3a and 3b and write each report
    /// by process and by symbol into a subdirectory of this one (`1`, `2`, `3a`, `3b`).
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

    /// With `--profile DIR`, a `perf` recording of the whole machine into `DIR/<name>` until
    /// [`Perf::finish_opt`] (warm-up included).
    fn profile(&self, name: &str) -> anyhow::Result<Option<Perf>> {
        self.args
            .profile
            .as_deref()
            .map(|dir| Perf::start(&dir.join(name)))
            .transpose()
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
}

/// The internal token of every role in the benchmark (one harness plays gateway and tier).
const TOKEN: &str = "bench-internal-token-of-32-or-more-chars";

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
            seeded.drop(&args.redis_url).await?;
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
                let perf = bench.profile("1")?;
                let full = bench
                    .full_stack_list(1_000, c, bench.warmup(), bench.seconds())
                    .await;
                Perf::finish_opt(perf)?;
                let full = bench.push(
                    "1. list, full stack (signed HTTP -> gateway -> gRPC -> Postgres)",
                    c,
                    full,
                );
                bench.compare(full, baseline, "goal >= 40%");
            }
            if run(2) {
                let perf = bench.profile("2")?;
                let grpc = bench.grpc_list(1_000, c).await;
                Perf::finish_opt(perf)?;
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
    bench.seeded.drop(&bench.args.redis_url).await?;
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
    report.push_str(&report::by_process(&lines));
    std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes())?;
    if let Some(path) = &bench.args.out {
        std::fs::write(path, &report)?;
    }
    Ok(())
}
