//! Scenarios 8 to 10: messages. Sends through gRPC over many groups and into one hot group
//! against single-row `INSERT`s of the same rows; a history page through the whole signed HTTP
//! stack against the store's own statement; and the latency from a send to its watchers at
//! 1,000 messages a second into one group with 100 watchers on two service instances; and 11,
//! the retention of 10^7 messages while sends go on.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use livemsg_proto::api::v1::message_service_client::MessageServiceClient;
use livemsg_proto::api::v1::SendGroupMessageRequest;
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_proto::messaging::v1::messaging_service_client::MessagingServiceClient;
use livemsg_proto::messaging::v1::WatchGroupMessagesRequest;
use livemsg_proto::BearerToken;
use rand::Rng;

use crate::load::{self, Stats};
use crate::stack::Process;
use crate::{signed_call, Bench, TOKEN};

const CONCURRENCY: usize = 64;
const GROUPS: usize = 1_000;
const HISTORY: i64 = 10_000;

impl Bench {
    pub(crate) fn app_ref(&self) -> Option<AppRef> {
        Some(AppRef {
            caller: Some(Caller {
                account_id: self.seeded.account_id,
                proof: self.caller_proof.clone(),
            }),
            app_id: self.seeded.app_id.clone(),
            data_center: "cn-shanghai".into(),
        })
    }

    pub(crate) async fn messages(
        &mut self,
        bin_dir: &std::path::Path,
        env: &[(String, String)],
        work: &std::path::Path,
    ) -> anyhow::Result<()> {
        // Groups with a member each (a send needs one), and the history group.
        sqlx::query(
            "INSERT INTO groups (app_id, group_id, member_count)
             SELECT $1, 'msg' || i, 1 FROM generate_series(1, $2) i
             UNION ALL SELECT $1, 'hotmsg', 1 UNION ALL SELECT $1, 'history', 1
             UNION ALL SELECT $1, 'live', 1",
        )
        .bind(&self.seeded.app_id)
        .bind(GROUPS as i32)
        .execute(&self.seeded.pool)
        .await?;
        self.sends().await?;
        self.history().await?;
        self.fan_out_latency(bin_dir, env, work).await?;
        self.mute_cost().await?;
        if !self.args.no_ten_million {
            self.retention(10_000_000).await?;
        }
        Ok(())
    }

    /// Scenario 11: dropping `rows` expired messages while sends and history reads go on.
    async fn retention(&mut self, rows: i64) -> anyhow::Result<()> {
        eprintln!("seeding {rows} messages that expire next week ...");
        let group_pk: i64 =
            sqlx::query_scalar("SELECT group_pk FROM groups WHERE group_id = 'msg2'")
                .fetch_one(&self.seeded.pool)
                .await?;
        let seeding = Instant::now();
        // In slices, so each statement's WAL stays moderate.
        let slice = 1_000_000;
        for start in (0..rows).step_by(slice as usize) {
            sqlx::query(
                "INSERT INTO group_messages (group_pk, seq, kind, msg_tid, msg_type, body,
                     sender_id, sender_info, weight, total_messages, stored, cached, sent_at,
                     expires_at)
                 SELECT $1, 2000000000 + i, 1, 'old' || i, 1, 'an old bullet comment', 'bench',
                        '', 1, 1, TRUE, TRUE, now(), now() + interval '1 day'
                 FROM generate_series($2::bigint, $3::bigint) i",
            )
            .bind(group_pk)
            .bind(start)
            .bind((start + slice).min(rows) - 1)
            .execute(&self.seeded.pool)
            .await?;
        }
        sqlx::query("ANALYZE group_messages")
            .execute(&self.seeded.pool)
            .await?;
        eprintln!("  seeded in {:.0} s", seeding.elapsed().as_secs_f64());
        let store = livemsg_store::Store::new(
            self.seeded.pool.clone(),
            livemsg_domain::DEFAULT_SUPER_GROUP_THRESHOLD,
            livemsg_store::Keyring::new("bench", [("bench", self.seeded.keyring_key.as_str())])?,
        );
        // Sends before and during the drop, the same load each time.
        let before = self.send_load().await;
        let before = self.push("11. group sends, before the drop, gRPC", 16, before);
        let clock = chrono::Utc::now() + chrono::Duration::days(20);
        let dropping = tokio::spawn(async move {
            let started = Instant::now();
            let dropped = store.drop_expired_message_partitions(clock).await;
            (started.elapsed(), dropped)
        });
        let during = self.send_load().await;
        let (took, dropped) = dropping.await?;
        let dropped = dropped?;
        let during = self.push(
            "11. group sends, while 10^7 expired messages are dropped, gRPC",
            16,
            during,
        );
        self.compare(during, before, "goal: not slower");
        self.notes.push(format!(
            "11: the drop of {} partitions holding {rows} messages took {:.2} s; it ran inside \
             the measured window of the second line.",
            dropped.len(),
            took.as_secs_f64()
        ));
        Ok(())
    }

    /// Sends from 16 workers over the 1,000 message groups, for the scenario's time.
    async fn send_load(&self) -> Stats {
        let (channel, app) = (self.grpc.clone(), self.app_ref());
        load::run(16, Duration::from_secs(1), self.seconds(), move |_, _| {
            let (mut api, app) = (MessageServiceClient::new(channel.clone()), app.clone());
            async move {
                let group = format!("msg{}", rand::rng().random_range(1..=GROUPS));
                api.send_group_message(SendGroupMessageRequest {
                    app,
                    group_id: group,
                    sender_id: "bench".into(),
                    body: "a bullet comment".into(),
                    ..Default::default()
                })
                .await?;
                Ok(())
            }
        })
        .await
    }

    async fn sends(&mut self) -> anyhow::Result<()> {
        let (channel, app, warmup, seconds) = (
            self.grpc.clone(),
            self.app_ref(),
            self.warmup(),
            self.seconds(),
        );
        let send = |group: Arc<dyn Fn(usize, u64) -> String + Send + Sync>| {
            let (channel, app) = (channel.clone(), app.clone());
            load::run(CONCURRENCY, warmup, seconds, move |worker, i| {
                let (mut api, app, group) = (
                    MessageServiceClient::new(channel.clone()),
                    app.clone(),
                    group(worker, i),
                );
                async move {
                    api.send_group_message(SendGroupMessageRequest {
                        app,
                        group_id: group,
                        sender_id: "bench".into(),
                        body: "a bullet comment of a typical length, about sixty bytes".into(),
                        msg_type: Some(1),
                        ..Default::default()
                    })
                    .await?;
                    Ok(())
                }
            })
        };
        let many = send(Arc::new(|_, _| {
            format!("msg{}", rand::rng().random_range(1..=GROUPS))
        }))
        .await;
        let many = self.push("8a. group sends over 1,000 groups, gRPC", CONCURRENCY, many);
        let hot = send(Arc::new(|_, _| "hotmsg".to_owned())).await;
        let hot = self.push("8b. group sends into one hot group, gRPC", CONCURRENCY, hot);

        // The floor: single-row INSERTs of the same rows into the same partitioned table,
        // autocommit, each with its own seq.
        let pool = livemsg_store::pool_options()
            .max_connections(CONCURRENCY as u32)
            .connect_with(self.seeded.pool.connect_options().as_ref().clone())
            .await?;
        let group_pk: i64 =
            sqlx::query_scalar("SELECT group_pk FROM groups WHERE group_id = 'msg1'")
                .fetch_one(&pool)
                .await?;
        let seq = Arc::new(AtomicI64::new(1_000_000_000));
        let baseline = load::run(CONCURRENCY, self.warmup(), self.seconds(), move |_, _| {
            let (pool, seq) = (pool.clone(), seq.clone());
            async move {
                sqlx::query(
                    "INSERT INTO group_messages (group_pk, seq, kind, msg_tid, msg_type, body,
                         sender_id, sender_info, weight, total_messages, stored, cached, sent_at,
                         expires_at)
                     VALUES ($1, $2, 1, md5(random()::text), 1, $3, 'bench', '', 1, 1, TRUE,
                             TRUE, now(), now() + interval '30 days')",
                )
                .bind(group_pk)
                .bind(seq.fetch_add(1, Ordering::Relaxed))
                .bind("a bullet comment of a typical length, about sixty bytes")
                .execute(&pool)
                .await?;
                Ok(())
            }
        })
        .await;
        let baseline = self.push(
            "8. baseline: single-row INSERT of a message, Postgres",
            CONCURRENCY,
            baseline,
        );
        self.compare(many, baseline, "goal >= 100%");
        self.compare(hot, baseline, "goal >= 100%");
        Ok(())
    }

    async fn history(&mut self) -> anyhow::Result<()> {
        eprintln!("seeding {HISTORY} messages of history ...");
        let store = livemsg_store::Store::new(
            self.seeded.pool.clone(),
            livemsg_domain::DEFAULT_SUPER_GROUP_THRESHOLD,
            livemsg_store::Keyring::new("bench", [("bench", self.seeded.keyring_key.as_str())])?,
        );
        for chunk in 0..HISTORY / 500 {
            let batch: Vec<_> = (0..500)
                .map(|i| livemsg_store::messages::NewGroupMessage {
                    app_id: self.seeded.app_id.clone(),
                    group_id: "history".into(),
                    msg_tid: None,
                    msg_type: 1,
                    body: format!("history message {} of a typical length", chunk * 500 + i),
                    sender_id: "bench".into(),
                    sender_info: "{\"level\":1}".into(),
                    weight: 1,
                    statics_increase: 1,
                    stored: true,
                    cached: true,
                    require_members: false,
                    sender_must_be_member: false,
                    subject_to_mute: false,
                    scope: None,
                })
                .collect();
            store.send_group_messages(&batch).await?;
        }
        sqlx::query("ANALYZE group_messages")
            .execute(&self.seeded.pool)
            .await?;
        let c = 32;
        let pool = livemsg_store::pool_options()
            .max_connections(c as u32)
            .connect_with(self.seeded.pool.connect_options().as_ref().clone())
            .await?;
        let (app, account) = (self.seeded.app_id.clone(), self.seeded.account_id);
        let sql = Arc::new(livemsg_store::messages::history_sql(true));
        let baseline = load::run(c, self.warmup(), self.seconds(), move |_, _| {
            let (pool, app, sql) = (pool.clone(), app.clone(), sql.clone());
            async move {
                let from = rand::rng().random_range(1..=HISTORY - 50);
                let rows = sqlx::query(&sql)
                    .bind(&app)
                    .bind(account)
                    .bind("cn-shanghai")
                    .bind("history")
                    .bind(from)
                    .bind(None::<i64>)
                    .bind(None::<chrono::DateTime<chrono::Utc>>)
                    .bind(None::<chrono::DateTime<chrono::Utc>>)
                    .bind(51_i64)
                    .fetch_all(&pool)
                    .await?;
                anyhow::ensure!(rows.len() == 51, "a short page");
                Ok(())
            }
        })
        .await;
        let baseline = self.push(
            "9. baseline: the store's history SQL, straight to Postgres",
            c,
            baseline,
        );
        let (http, endpoint, ids) = (self.http.clone(), self.endpoint.clone(), self.ids());
        let full = load::run(c, self.warmup(), self.seconds(), move |_, _| {
            let (http, endpoint, ids) = (http.clone(), endpoint.clone(), ids.clone());
            async move {
                let from = rand::rng().random_range(1..=HISTORY - 50).to_string();
                let page = signed_call(
                    &http,
                    &endpoint,
                    &ids,
                    "ListLiveMessageGroupMessages",
                    &[
                        ("AppId", &ids.app_id),
                        ("GroupId", "history"),
                        ("PageSize", "50"),
                        ("SortType", "1"),
                        ("NextPageToken", &from),
                    ],
                )
                .await?;
                anyhow::ensure!(
                    page["MessageList"]
                        .as_array()
                        .is_some_and(|l| l.len() == 50),
                    "a short page"
                );
                Ok(())
            }
        })
        .await;
        let full = self.push(
            "9. history page of 50, full stack (signed HTTP -> gateway -> gRPC -> Postgres)",
            c,
            full,
        );
        self.compare(full, baseline, "goal >= 40%");
        Ok(())
    }

    async fn fan_out_latency(
        &mut self,
        bin_dir: &std::path::Path,
        env: &[(String, String)],
        work: &std::path::Path,
    ) -> anyhow::Result<()> {
        const RATE: u64 = 1_000;
        const WATCHERS: usize = 100;
        let second_dir = work.join("second");
        std::fs::create_dir_all(&second_dir)?;
        let mut second = Process::start("livemsg-service", bin_dir, env, &second_dir)?;
        let second_addr = second.address("listen.addr")?;
        let channel = |addr: String| async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?;
            anyhow::Ok(tonic::service::interceptor::InterceptedService::new(
                channel,
                BearerToken::new(TOKEN)?,
            ))
        };
        let second_channel = channel(second_addr).await?;
        let latency = Arc::new(std::sync::Mutex::new(
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
        ));
        let delivered = Arc::new(AtomicI64::new(0));
        let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut watchers = Vec::new();
        for w in 0..WATCHERS {
            let channel = if w % 2 == 0 {
                self.grpc.clone()
            } else {
                second_channel.clone()
            };
            let mut client = MessagingServiceClient::new(channel);
            let mut stream = client
                .watch_group_messages(WatchGroupMessagesRequest {
                    app_id: self.seeded.app_id.clone(),
                    group_id: "live".into(),
                    from_seq: 1,
                })
                .await?
                .into_inner();
            let (latency, delivered, measuring) =
                (latency.clone(), delivered.clone(), measuring.clone());
            watchers.push(tokio::spawn(async move {
                while let Ok(Some(message)) = stream.message().await {
                    let sent: u64 = message.body.parse().unwrap_or(0);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_micros() as u64;
                    if measuring.load(Ordering::Relaxed) {
                        latency
                            .lock()
                            .expect("histogram")
                            .saturating_record(now.saturating_sub(sent).max(1));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Paced sends through the first instance.
        let (channel, app) = (self.grpc.clone(), self.app_ref());
        let total = RATE * (self.args.warmup + self.args.seconds);
        let started = Instant::now();
        let mut sends = tokio::task::JoinSet::new();
        let cpu = load::CpuMeter::start();
        let mut measured_from = None;
        for i in 0..total {
            let due = started + Duration::from_micros(i * 1_000_000 / RATE);
            tokio::time::sleep_until(due.into()).await;
            if i == RATE * self.args.warmup {
                measuring.store(true, Ordering::Relaxed);
                measured_from = Some(Instant::now());
            }
            let (mut api, app) = (MessageServiceClient::new(channel.clone()), app.clone());
            sends.spawn(async move {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros();
                api.send_group_message(SendGroupMessageRequest {
                    app,
                    group_id: "live".into(),
                    sender_id: "bench".into(),
                    body: now.to_string(),
                    no_storage: true,
                    ..Default::default()
                })
                .await
                .is_ok()
            });
        }
        let errors = sends.join_all().await.iter().filter(|ok| !**ok).count() as u64;
        tokio::time::sleep(Duration::from_millis(500)).await;
        measuring.store(false, Ordering::Relaxed);
        let elapsed = measured_from.map_or(Duration::from_secs(1), |t| t.elapsed());
        let cpu_secs = cpu.stop();
        for watcher in watchers {
            watcher.abort();
        }
        second.stop();
        let histogram = latency.lock().expect("histogram").clone();
        let stats = Stats {
            ops: delivered.load(Ordering::Relaxed) as u64,
            errors,
            elapsed,
            latency: histogram,
            cpu_secs,
            by_process: Vec::new(),
        };
        self.push(
            "10. send -> watcher latency, 1,000 msg/s into one group, 100 watchers on 2 instances (ops = deliveries)",
            WATCHERS,
            stats,
        );
        self.notes.push("10: goal p99 < 100 ms; latency is from the sender's clock before the gRPC call to the watcher's receipt, the same machine's clock.".to_owned());
        Ok(())
    }
}
