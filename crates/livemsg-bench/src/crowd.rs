//! A crowd of WebSocket viewers in the harness: each connects (to the edge: logs in with an app
//! token and joins the room), then reads until told to stop, stamping every frame that carries
//! a send time (`bench:<microseconds since the epoch>`) with its delivery latency.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::load::Stats;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Microseconds since the epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

/// The send time a frame carries, if it is one of the benchmark's.
fn stamp(text: &str) -> Option<u64> {
    let at = text.find("bench:")? + "bench:".len();
    let digits = text[at..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .map(|b| b - b'0');
    let value = digits.fold(0u64, |v, d| v * 10 + u64::from(d));
    (value > 0).then_some(value)
}

/// What a viewer needs to log in to an edge.
#[derive(Debug, Clone)]
pub(crate) struct EdgeLogin {
    pub app_id: String,
    pub app_key: String,
    pub room: String,
}

/// Opens a WebSocket to `url` with the harness's small buffers.
async fn connect(url: &str, subprotocol: Option<&str>) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    if let Some(protocol) = subprotocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse()?);
    }
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    Ok(ws)
}

/// Sends `request` and reads until its answer (events before it are skipped); fails unless ok.
async fn call(ws: &mut Ws, request: Value) -> anyhow::Result<Value> {
    let id = request["id"].clone();
    ws.send(Message::Text(request.to_string().into())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no answer within 30 s"))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text)?;
                if frame["type"] != "event" && frame["id"] == id {
                    anyhow::ensure!(frame["ok"] == true, "refused: {frame}");
                    return Ok(frame);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => anyhow::bail!("closed before the answer"),
        }
    }
}

/// Connects viewer `i` to an edge and logs in (heartbeat 120 s).
pub(crate) async fn edge_viewer(addr: &str, login: &EdgeLogin, i: usize) -> anyhow::Result<Ws> {
    let mut ws = connect(&format!("ws://{addr}/ws"), Some("livemsg.v1")).await?;
    let user = format!("viewer{i}");
    let expiry = chrono::Utc::now().timestamp() + 3_600;
    let nonce = format!("AK{}", uuid::Uuid::new_v4().simple());
    let token =
        livemsg_edge::token::app_token(&login.app_id, &login.app_key, &user, &nonce, expiry, "");
    call(
        &mut ws,
        json!({ "type": "login", "id": 1, "appId": login.app_id, "deviceId": "bench",
                "heartbeat": 120, "user": { "userId": user },
                "auth": { "nonce": nonce, "timestamp": expiry, "role": "", "token": token } }),
    )
    .await?;
    Ok(ws)
}

/// Joins the room.
pub(crate) async fn join(ws: &mut Ws, login: &EdgeLogin) -> anyhow::Result<()> {
    call(
        ws,
        json!({ "type": "joinGroup", "id": 2, "groupId": login.room }),
    )
    .await?;
    Ok(())
}

/// Connects to the bare broadcast server at `path` (`/` for a viewer, `/publish`).
pub(crate) async fn bare(addr: &str, path: &str) -> anyhow::Result<Ws> {
    connect(&format!("ws://{addr}{path}"), None).await
}

/// What one viewer saw: `(sent, latency)` in microseconds for each stamped frame, and whether
/// the server closed it.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub samples: Vec<(u64, u32)>,
    pub closed: bool,
}

/// Reads `ws` until `stop` says so, pinging every 50 s.
pub(crate) async fn read(mut ws: Ws, mut stop: watch::Receiver<bool>) -> Seen {
    let mut seen = Seen::default();
    let every = Duration::from_secs(50);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some(sent) = stamp(text.as_str()) {
                        let latency = now_us().saturating_sub(sent).min(u64::from(u32::MAX));
                        seen.samples.push((sent, latency as u32));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    seen.closed = true;
                    break;
                }
            },
            _ = ping.tick() => {
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    seen.closed = true;
                    break;
                }
            }
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// Runs `open(i)` for `0..n` at `concurrency`: the results in order of completion, and the
/// phase's statistics (every operation timed, the whole phase as the window).
pub(crate) async fn phase<T, F, Fut>(n: usize, concurrency: usize, open: F) -> (Vec<T>, Stats)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let cpu = crate::load::CpuMeter::start();
    let started = Instant::now();
    let open = &open;
    let results: Vec<(Duration, anyhow::Result<T>)> = futures_util::stream::iter(0..n)
        .map(|i| async move {
            let began = Instant::now();
            let result = open(i).await;
            (began.elapsed(), result)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut opened, mut errors) = (Vec::with_capacity(n), 0);
    for (took, result) in results {
        match result {
            Ok(value) => {
                latency.saturating_record(took.as_micros() as u64);
                opened.push(value);
            }
            Err(err) => {
                if errors == 0 {
                    eprintln!("  {err:#}");
                }
                errors += 1;
            }
        }
    }
    let stats = Stats {
        ops: opened.len() as u64,
        errors,
        elapsed,
        latency,
        cpu_secs: cpu.stop(),
        by_process: Vec::new(),
    };
    (opened, stats)
}

/// The viewers' samples of the messages sent in `[from, to)` (microseconds since the epoch):
/// deliveries and their latency over the window.
pub(crate) fn window(seen: &[Arc<Seen>], from: u64, to: u64, cpu_secs: f64) -> Stats {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut ops = 0;
    for viewer in seen {
        for &(sent, took) in &viewer.samples {
            if (from..to).contains(&sent) {
                latency.saturating_record(u64::from(took).max(1));
                ops += 1;
            }
        }
    }
    Stats {
        ops,
        errors: 0,
        elapsed: Duration::from_micros(to.saturating_sub(from)),
        latency,
        cpu_secs,
        by_process: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn stamps_are_read_from_either_frame() {
        assert_eq!(
            stamp(r#"{"event":"recvgroupmessage","data":{"message":{"data":"bench:1234"}}}"#),
            Some(1234)
        );
        assert_eq!(stamp(r#"{"event":"memberchange"}"#), None);
        assert_eq!(stamp("bench:"), None);
    }
}
