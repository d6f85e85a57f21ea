//! The baseline of the edge scenario: a bare broadcast server over tokio-tungstenite, the least
//! a WebSocket fan-out can do. A connection to `/publish` publishes: each text frame it sends
//! goes, as is, to every other connection. Every other connection is a viewer fed from one
//! `tokio::sync::broadcast` channel of the same depth as the edge's per-connection queue; a
//! viewer that falls behind skips what it missed, as a broadcast channel does. No login, no
//! rooms, no JSON: what the edge does beyond this is what it costs.
//!
//! It runs as a process of its own (`livemsg-bench --broadcast-server`), like the edge, so that
//! its memory and CPU are measured apart from the harness's.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The depth of each viewer's backlog: the edge's `queue_frames` default.
const DEPTH: usize = 512;

/// Serves until killed; logs its address as the livemsg binaries do (a JSON line on stderr).
// The handshake callback's signature is tungstenite's, large error variant included.
#[allow(clippy::result_large_err)]
pub(crate) async fn serve() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    eprintln!(
        "{}",
        serde_json::json!({ "listen.addr": listener.local_addr()?.to_string() })
    );
    let (frames, _) = broadcast::channel::<Utf8Bytes>(DEPTH);
    let frames = Arc::new(frames);
    loop {
        let (socket, _) = listener.accept().await?;
        let frames = frames.clone();
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let mut publisher = false;
            let config = WebSocketConfig::default()
                .read_buffer_size(4 * 1024)
                .write_buffer_size(0);
            let accepted = tokio_tungstenite::accept_hdr_async_with_config(
                socket,
                |request: &Request, response: Response| {
                    publisher = request.uri().path() == "/publish";
                    Ok(response)
                },
                Some(config),
            )
            .await;
            let Ok(mut ws) = accepted else { return };
            if publisher {
                while let Some(Ok(frame)) = ws.next().await {
                    if let Message::Text(text) = frame {
                        let _ = frames.send(text);
                    }
                }
                return;
            }
            let mut feed = frames.subscribe();
            loop {
                tokio::select! {
                    frame = feed.recv() => match frame {
                        Ok(text) => {
                            if ws.send(Message::Text(text)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                        Some(Ok(_)) => {}
                    },
                }
            }
        });
    }
}
