//! The edge's settings, read through [`livemsg_runtime::ConfigSource`].

use livemsg_runtime::LogSettings;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the edge reads.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct EdgeSettings {
    /// `[log]`
    pub log: LogSettings,
    /// `[edge]`
    pub edge: EdgeHttpSettings,
    /// `[internal]`: the edge sends `internal.tier_token` with every call to the service.
    pub internal: livemsg_runtime::InternalSettings,
}

/// The WebSocket side, the way to the service and to Redis, and the limits of a connection
/// (`[edge]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeHttpSettings {
    /// `host:port` of the WebSocket listener (`/ws`), the demo page (`/`) and its client.
    pub listen: String,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_listen: String,
    /// The gRPC service's URL.
    pub service_url: String,
    /// The Redis that keeps the edges' sessions (so that a live edge logs off the users of one
    /// that died) and carries takeovers between edges.
    #[serde(serialize_with = "livemsg_runtime::serialize_secret")]
    pub redis_url: SecretString,
    /// The prefix of the edges' keys and channels in Redis.
    pub key_prefix: String,
    /// Signs the resume keys a login hands out; every edge of a deployment shares it (32
    /// characters or more; a secret).
    #[serde(serialize_with = "livemsg_runtime::serialize_secret")]
    pub session_secret: SecretString,
    /// The heartbeat a client gets unless it asks for another (15 to 120 s): it must send a
    /// frame at least this often; one silent for 1.5 times as long is dead.
    pub heartbeat_secs: u64,
    /// How long a disconnected session keeps its rooms, for a client that comes back.
    pub reconnect_window_secs: u64,
    /// The largest frame a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// The frames a connection may have waiting to be written; past it, low-weight messages
    /// are dropped first, and the connection is closed only when a high-weight one would be.
    pub queue_frames: usize,
    /// Messages a connection may send per second, on average ...
    pub send_per_second: f64,
    /// ... and at once.
    pub send_burst: f64,
    /// Connections the edge accepts at once.
    pub max_connections: usize,
    /// Serve the demo page and the JavaScript client at `/`.
    pub demo: bool,
}

impl Default for EdgeHttpSettings {
    fn default() -> Self {
        EdgeHttpSettings {
            listen: "127.0.0.1:8090".to_owned(),
            metrics_listen: "127.0.0.1:9103".to_owned(),
            service_url: "http://127.0.0.1:50051".to_owned(),
            redis_url: SecretString::from("redis://127.0.0.1:6379"),
            key_prefix: "livemsg:edge".to_owned(),
            session_secret: SecretString::from(""),
            heartbeat_secs: 30,
            reconnect_window_secs: 60,
            max_frame_bytes: 64 * 1024,
            queue_frames: 512,
            send_per_second: 10.0,
            send_burst: 20.0,
            max_connections: 100_000,
            demo: true,
        }
    }
}
