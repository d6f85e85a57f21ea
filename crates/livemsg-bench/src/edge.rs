//! Scenario 13: the client edge with 10,000 viewers in one room, against a bare
//! tokio-tungstenite broadcast server with as many viewers, each a process of its own on this
//! machine and each fed and read by the same harness: connections (the edge's logins and joins,
//! the memory an idle one costs), one message at a time into the room, a steady stream into it,
//! and a flood of more than the machine can deliver.
//!
//! Into the edge, messages go as a business backend sends them (the public gRPC
//! `SendGroupMessage`, not stored); the edge follows the room through the service and hands
//! each message to every viewer in the room. Into the bare server, the harness writes a frame
//! of the same shape and size to its publisher connection. A frame carries its send time, so
//! latency is from before the send to the viewer's receipt, on the same machine's clock.

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use livemsg_proto::api::v1::message_service_client::MessageServiceClient;
use livemsg_proto::api::v1::SendGroupMessageRequest;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::crowd::{self, now_us, EdgeLogin, Seen, Ws};
use crate::load::{CpuMeter, Stats};
use crate::stack::Process;
use crate::Bench;

const ROOM: &str = "edgeroom";
/// Connections opened (and logins, and joins) at once.
const OPENING: usize = 64;

/// A measured window: send times `[from, to)` in microseconds, messages sent in it, and the
/// machine's CPU (less the harness's) over it.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: u64,
    to: u64,
    sent: u64,
    cpu_secs: f64,
}

/// The three fan-out phases of one server.
#[derive(Debug)]
struct FanOut {
    one: Window,
    steady: Window,
    flood: Window,
}

/// A running crowd: its readers and the signal that stops them.
struct Readers {
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<Seen>,
}

impl Readers {
    fn new() -> Self {
        Readers {
            stop: watch::channel(false).0,
            tasks: tokio::task::JoinSet::new(),
        }
    }

    fn spawn(&mut self, ws: Ws) {
        self.tasks.spawn(crowd::read(ws, self.stop.subscribe()));
    }

    /// Stops every reader: what each saw, and how many the server closed.
    async fn finish(mut self) -> (Vec<Arc<Seen>>, usize) {
        let _ = self.stop.send(true);
        let mut seen = Vec::new();
        while let Some(result) = self.tasks.join_next().await {
            if let Ok(viewer) = result {
                seen.push(Arc::new(viewer));
            }
        }
        let closed = seen.iter().filter(|v| v.closed).count();
        (seen, closed)
    }
}

/// The frame the bare server broadcasts: the edge's `recvgroupmessage`, same fields and size.
fn bare_frame(sent: u64, seq: u64) -> String {
    serde_json::json!({
        "type": "event", "event": "recvgroupmessage",
        "data": { "groupId": ROOM, "message": {
            "groupId": ROOM, "messageId": format!("{:032x}", u128::from(seq) << 64 | u128::from(sent)),
            "type": 1, "data": format!("bench:{sent}"),
            "sender": { "userId": "bench", "userExtension": "" },
            "seqnum": seq, "timestamp": sent / 1000, "level": 0, "totalMsgs": seq,
        } }
    })
    .to_string()
}

impl Bench {
    pub(crate) async fn edge(
        &mut self,
        bin_dir: &std::path::Path,
        env: &[(String, String)],
        work: &std::path::Path,
        grpc_addr: &str,
    ) -> anyhow::Result<()> {
        let viewers = self.args.edge_viewers;
        open_files_suffice(viewers)?;
        sqlx::query("INSERT INTO groups (app_id, group_id) VALUES ($1, $2)")
            .bind(&self.seeded.app_id)
            .bind(ROOM)
            .execute(&self.seeded.pool)
            .await?;

        // The bare broadcast server.
        let dir = work.join("broadcast");
        std::fs::create_dir_all(&dir)?;
        let harness = bin_dir.join("livemsg-bench");
        let mut bare = Process::start_program(
            "broadcast-server",
            &harness,
            &["--broadcast-server"],
            &[],
            &dir,
        )?;
        let addr = bare.address("listen.addr")?;
        let idle = bare.rss_mib();
        let (opened, connect) = crowd::phase(viewers, OPENING, |_| crowd::bare(&addr, "/")).await;
        self.push(
            format!("13. bare server: {viewers} viewers connect"),
            OPENING,
            connect,
        );
        let mut readers = Readers::new();
        for ws in opened {
            readers.spawn(ws);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let bare_kb = (bare.rss_mib() - idle) * 1024.0 / viewers as f64;
        let (publish, published) = mpsc::unbounded_channel::<u64>();
        let mut publisher = crowd::bare(&addr, "/publish").await?;
        let publishing = tokio::spawn(async move {
            let mut published = published;
            let mut seq = 0;
            while let Some(sent) = published.recv().await {
                seq += 1;
                publisher
                    .send(Message::Text(bare_frame(sent, seq).into()))
                    .await?;
            }
            anyhow::Ok(())
        });
        let bare_run = self.drive(&publish).await;
        drop(publish);
        publishing.await??;
        let (bare_seen, bare_closed) = readers.finish().await;
        bare.stop();
        let bare_lines = self.fan_out_lines("bare server", &bare_seen, &bare_run, viewers);

        // The edge, on the benchmark's service.
        let dir = work.join("edge");
        std::fs::create_dir_all(&dir)?;
        let mut edge_env = env.to_vec();
        for (key, value) in [
            ("LISTEN", "127.0.0.1:0".to_owned()),
            ("METRICS_LISTEN", "127.0.0.1:0".to_owned()),
            ("SERVICE_URL", format!("http://{grpc_addr}")),
            ("REDIS_URL", self.args.redis_url.clone()),
            ("KEY_PREFIX", format!("{}:edge", self.seeded.redis_prefix)),
            ("SESSION_SECRET", format!("{:064x}", rand::random::<u128>())),
        ] {
            edge_env.push((format!("LIVEMSG__EDGE__{key}"), value));
        }
        let mut edge = Process::start("livemsg-edge", bin_dir, &edge_env, &dir)?;
        let addr = edge.address("listen.addr")?;
        let login = EdgeLogin {
            app_id: self.seeded.app_id.clone(),
            app_key: self.seeded.app_key.clone(),
            room: ROOM.to_owned(),
        };
        // One viewer first, so that the idle figure holds what every edge holds once running
        // (the app resolved, the room's follower).
        let mut first = crowd::edge_viewer(&addr, &login, viewers).await?;
        crowd::join(&mut first, &login).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = edge.rss_mib();
        let (opened, logins) =
            crowd::phase(viewers, OPENING, |i| crowd::edge_viewer(&addr, &login, i)).await;
        self.push(
            format!("13a. edge: {viewers} viewers connect and log in (ops = logins)"),
            OPENING,
            logins,
        );
        // Joins: a viewer reads from the moment its join is answered (members come and go).
        let mut readers = Readers::new();
        readers.spawn(first);
        let slots: Vec<std::sync::Mutex<Option<Ws>>> = opened
            .into_iter()
            .map(|ws| std::sync::Mutex::new(Some(ws)))
            .collect();
        let (joined, joins) = crowd::phase(slots.len(), OPENING, |i| {
            let ws = slots[i].lock().expect("slot").take();
            let login = &login;
            async move {
                let mut ws = ws.ok_or_else(|| anyhow::anyhow!("no connection"))?;
                crowd::join(&mut ws, login).await?;
                anyhow::Ok(ws)
            }
        })
        .await;
        for ws in joined {
            readers.spawn(ws);
        }
        self.push(
            format!("13b. edge: {viewers} viewers join one room"),
            OPENING,
            joins,
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let edge_kb = (edge.rss_mib() - idle) * 1024.0 / viewers as f64;

        let (publish, published) = mpsc::unbounded_channel::<u64>();
        let (channel, app) = (self.grpc.clone(), self.app_ref());
        let publishing = tokio::spawn(async move {
            let mut published = published;
            let mut sends = tokio::task::JoinSet::new();
            while let Some(sent) = published.recv().await {
                let (mut api, app) = (MessageServiceClient::new(channel.clone()), app.clone());
                sends.spawn(async move {
                    api.send_group_message(SendGroupMessageRequest {
                        app,
                        group_id: ROOM.into(),
                        sender_id: "bench".into(),
                        body: format!("bench:{sent}"),
                        msg_type: Some(1),
                        no_storage: true,
                        ..Default::default()
                    })
                    .await
                    .is_err()
                });
            }
            sends.join_all().await.into_iter().filter(|e| *e).count()
        });
        let edge_run = self.drive(&publish).await;
        drop(publish);
        let failed = publishing.await?;
        let (edge_seen, edge_closed) = readers.finish().await;
        edge.stop();
        let edge_lines = self.fan_out_lines("edge", &edge_seen, &edge_run, viewers + 1);
        self.compare(edge_lines[0], bare_lines[0], "goal: p99 <= 200 ms");
        self.compare(edge_lines[1], bare_lines[1], "goal: p99 <= 200 ms");
        self.compare(edge_lines[2], bare_lines[2], "goal >= 50%");
        self.notes.push(format!(
            "13: resident memory per idle connection (logged in, in the room): edge {edge_kb:.1} KB \
             (goal <= 30 KB), bare server {bare_kb:.1} KB. Viewers closed by the server: edge \
             {edge_closed}, bare {bare_closed}. Sends the service refused: {failed}."
        ));
        for (name, seen, run, viewers) in [
            ("bare", &bare_seen, &bare_run, viewers),
            ("edge", &edge_seen, &edge_run, viewers + 1),
        ] {
            self.notes.push(format!(
                "13 {name}: delivered of sent x viewers: one at a time {}, steady {}, flood {}.",
                delivered(seen, &run.one, viewers),
                delivered(seen, &run.steady, viewers),
                delivered(seen, &run.flood, viewers),
            ));
        }
        Ok(())
    }

    /// The phases, publishing each message's send time through `publish`.
    async fn drive(&self, publish: &mpsc::UnboundedSender<u64>) -> FanOut {
        // One message at a time, a second apart.
        let cpu = CpuMeter::start();
        let from = now_us();
        for _ in 0..10 {
            let _ = publish.send(now_us());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let one = Window {
            from,
            to: now_us(),
            sent: 10,
            cpu_secs: cpu.stop(),
        };
        let steady = self.paced(publish, self.args.edge_rate).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let flood = self.paced(publish, self.args.edge_flood).await;
        // What is still queued arrives (or is dropped) before the readers stop.
        tokio::time::sleep(Duration::from_secs(3)).await;
        FanOut { one, steady, flood }
    }

    /// `rate` messages a second: the warm-up, then the measured window.
    async fn paced(&self, publish: &mpsc::UnboundedSender<u64>, rate: u64) -> Window {
        let started = tokio::time::Instant::now();
        let warmup = rate * self.args.warmup;
        let total = warmup + rate * self.args.seconds;
        let mut window = Window {
            from: 0,
            to: 0,
            sent: rate * self.args.seconds,
            cpu_secs: 0.0,
        };
        let mut cpu = None;
        for i in 0..total {
            tokio::time::sleep_until(started + Duration::from_micros(i * 1_000_000 / rate)).await;
            let now = now_us();
            if i == warmup {
                window.from = now;
                window.to = now + self.args.seconds * 1_000_000;
                cpu = Some(CpuMeter::start());
            }
            let _ = publish.send(now);
        }
        tokio::time::sleep_until(
            started + Duration::from_secs(self.args.warmup + self.args.seconds),
        )
        .await;
        window.cpu_secs = cpu.map_or(0.0, CpuMeter::stop);
        window
    }

    /// The three lines of one server; their indexes.
    fn fan_out_lines(
        &mut self,
        name: &str,
        seen: &[Arc<Seen>],
        run: &FanOut,
        viewers: usize,
    ) -> [usize; 3] {
        let stats = |w: &Window| crowd::window(seen, w.from, w.to, w.cpu_secs);
        let (rate, flood) = (self.args.edge_rate, self.args.edge_flood);
        [
            self.push(
                format!("13c. {name}: one message at a time into a room of {viewers} (ops = deliveries)"),
                1,
                stats(&run.one),
            ),
            self.push(
                format!("13d. {name}: a steady {rate} msg/s into the room (ops = deliveries)"),
                1,
                stats(&run.steady),
            ),
            self.push(
                format!("13e. {name}: a flood of {flood} msg/s into the room (ops = deliveries)"),
                1,
                stats(&run.flood),
            ),
        ]
    }
}

/// Each viewer is a socket in the harness and another in the server, both processes with this
/// one's limits: a clear refusal beats thousands of failed connections.
fn open_files_suffice(viewers: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok());
    match soft {
        Some(soft) if soft < viewers + 1_000 => anyhow::bail!(
            "scenario 13 opens {viewers} WebSockets, but this process may open only {soft} files: \
             raise the limit (ulimit -n {}) or pass a smaller --edge-viewers",
            viewers + 1_000
        ),
        _ => Ok(()),
    }
}

/// `delivered/expected (percent)` of a window.
fn delivered(seen: &[Arc<Seen>], w: &Window, viewers: usize) -> String {
    let got: Stats = crowd::window(seen, w.from, w.to, 0.0);
    let expected = w.sent * viewers as u64;
    format!(
        "{}/{} ({:.1}%)",
        got.ops,
        expected,
        got.ops as f64 * 100.0 / expected.max(1) as f64
    )
}
