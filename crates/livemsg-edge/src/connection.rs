//! One WebSocket connection: frames in, answered in order through the connection's queue, with
//! events interleaved; a connection silent for 1.5 heartbeats is dead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use crate::outbox::{Next, Outbox, Tier};
use crate::session::Session;
use crate::{ops, protocol, Edge};

static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Frames a writer takes from its queue before it flushes.
const BATCH: usize = 32;

/// What a connection knows between frames.
pub(crate) struct Conn {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) session: Option<Arc<Session>>,
    /// The heartbeat agreed at login.
    pub(crate) heartbeat: Duration,
}

/// `GET /ws`: upgrades to a WebSocket of subprotocol `livemsg.v1`.
pub(crate) async fn upgrade(State(edge): State<Arc<Edge>>, ws: WebSocketUpgrade) -> Response {
    if OPEN.load(Ordering::Relaxed) >= edge.settings.max_connections {
        metrics::counter!("livemsg_edge_connections_refused_total").increment(1);
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too many connections",
        )
            .into_response();
    }
    let max = edge.settings.max_frame_bytes;
    ws.protocols([protocol::SUBPROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        // Small buffers: an idle connection should cost little memory; frames waiting together
        // are written together up to the write buffer's size.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| serve(edge, socket))
}

async fn serve(edge: Arc<Edge>, socket: WebSocket) {
    OPEN.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!("livemsg_edge_connections").increment(1.0);
    let (mut sink, mut stream) = socket.split();
    let outbox = Arc::new(Outbox::new(edge.settings.queue_frames));
    let writer = {
        let outbox = outbox.clone();
        tokio::spawn(async move {
            loop {
                match outbox.next().await {
                    Next::Frame(frame) => {
                        // What is waiting goes out with it, in as few writes as the buffer
                        // allows: a connection behind a busy room catches up in batches.
                        let mut batch = Some(frame);
                        let mut written = 0;
                        while let Some(frame) = batch {
                            if sink.feed(Message::Text(frame)).await.is_err() {
                                return;
                            }
                            written += 1;
                            batch = (written < BATCH).then(|| outbox.try_next()).flatten();
                        }
                        if sink.flush().await.is_err() {
                            break;
                        }
                    }
                    Next::Close(reason) => {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code: 1000,
                                reason: reason.into(),
                            })))
                            .await;
                        break;
                    }
                }
            }
        })
    };
    let mut conn = Conn {
        outbox: outbox.clone(),
        session: None,
        heartbeat: Duration::from_secs(edge.settings.heartbeat_secs),
    };
    loop {
        // Silent for 1.5 heartbeats: dead.
        let deadline = conn.heartbeat + conn.heartbeat / 2;
        let frame = match tokio::time::timeout(deadline, stream.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(_) => break,
            Err(_) => {
                metrics::counter!("livemsg_edge_disconnects_total", "reason" => "heartbeat")
                    .increment(1);
                outbox.push(
                    protocol::event(
                        "disconnect",
                        serde_json::json!({ "code": protocol::disconnect::TIMEOUT }),
                    )
                    .into(),
                    Tier::Control,
                );
                outbox.close("no heartbeat");
                break;
            }
        };
        if outbox.is_closing() {
            break;
        }
        match frame {
            Message::Text(text) => {
                let (answer, close) = match protocol::parse(text.as_str()) {
                    Ok(request) => ops::handle(&edge, &mut conn, request).await,
                    Err(refusal) => (refusal, false),
                };
                outbox.push(answer.into(), Tier::Control);
                if close {
                    outbox.close("logged out");
                    break;
                }
            }
            Message::Binary(_) => {
                outbox.push(
                    protocol::error(0, protocol::code::PARSE, "frames are JSON text").into(),
                    Tier::Control,
                );
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    // The connection is gone; its session waits for a reconnect (unless it ended).
    if let Some(session) = conn.session.take() {
        session.detach(&outbox);
    }
    outbox.close("closed");
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    OPEN.fetch_sub(1, Ordering::Relaxed);
    metrics::gauge!("livemsg_edge_connections").decrement(1.0);
}
