//! What edges share through Redis: their sessions (so that when an edge dies, a live one logs
//! its users off with reason timeout within the heartbeat bound), the takeover of a session by
//! a login of the same user and device on another edge, and the app tokens already used.
//!
//! Each edge is listed in the set of edges, keeps an `alive` key that expires after
//! `edge.heartbeat_secs` unless renewed, and the set of its sessions. Every edge looks for session sets whose edge is no longer alive,
//! claims one (so that one edge does it), logs its users off and deletes it. Without Redis
//! (`edge.redis_url` empty) an edge works alone: tokens are remembered in memory, and nothing
//! is left for another edge to clean up.

use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::membership::v1::{LogoffReason, LogoffRequest};
use redis::AsyncCommands;
use secrecy::ExposeSecret;
use tokio_stream::StreamExt;

use crate::session::Session;
use crate::settings::EdgeHttpSettings;
use crate::{protocol, Edge};

/// This edge's link to the others.
pub struct Liveness {
    pub edge_id: String,
    prefix: String,
    lease: Duration,
    client: Option<redis::Client>,
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    used_tokens: moka::sync::Cache<String, ()>,
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Liveness")
            .field("edge_id", &self.edge_id)
            .finish()
    }
}

fn member(session: &Session) -> String {
    format!("{}\t{}\t{}", session.app_id, session.user_id, session.id)
}

impl Liveness {
    pub fn new(settings: &EdgeHttpSettings) -> Self {
        let url = settings.redis_url.expose_secret();
        let client = (!url.is_empty()).then(|| redis::Client::open(url)).and_then(|c| match c {
            Ok(client) => Some(client),
            Err(err) => {
                tracing::error!(error = %err, "edge.redis_url is not a Redis URL; the edge works alone");
                None
            }
        });
        Liveness {
            edge_id: uuid::Uuid::new_v4().simple().to_string(),
            prefix: settings.key_prefix.clone(),
            lease: Duration::from_secs(settings.heartbeat_secs.max(1)),
            client,
            connection: tokio::sync::OnceCell::new(),
            used_tokens: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(86_400))
                .build(),
        }
    }

    async fn redis(&self) -> Option<redis::aio::ConnectionManager> {
        let client = self.client.as_ref()?;
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(1)))
                    .set_number_of_retries(1);
                client.get_connection_manager_with_config(config).await
            })
            .await;
        match connection {
            Ok(connection) => Some(connection.clone()),
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach Redis");
                None
            }
        }
    }

    /// Claims an app token (by its digest) until it expires: false when it was used before.
    pub async fn claim_token(&self, token: &str, expires_in: u64) -> bool {
        let key = format!("{}:token:{}", self.prefix, token.to_ascii_lowercase());
        if let Some(mut redis) = self.redis().await {
            let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(expires_in.max(1))
                .query_async(&mut redis)
                .await;
            match set {
                Ok(set) => return set.is_some(),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim a token in Redis; remembering it here")
                }
            }
        }
        if self.used_tokens.contains_key(&key) {
            return false;
        }
        self.used_tokens.insert(key, ());
        true
    }

    /// Records a new session, and tells the edge holding an earlier session of the same user
    /// and device (if another) to drop it. Returns that earlier session's id.
    pub async fn register(&self, session: &Session) -> Option<String> {
        let mut redis = self.redis().await?;
        let device = format!(
            "{}:device:{}:{}:{}",
            self.prefix, session.app_id, session.user_id, session.device_id
        );
        let holder = format!("{}\t{}", self.edge_id, session.id);
        let sessions = format!("{}:sessions:{}", self.prefix, self.edge_id);
        let previous: redis::RedisResult<Option<String>> = redis::cmd("SET")
            .arg(&device)
            .arg(&holder)
            .arg("GET")
            .arg("EX")
            .arg(86_400)
            .query_async(&mut redis)
            .await;
        let added: redis::RedisResult<()> = redis.sadd(&sessions, member(session)).await;
        if let Err(err) = added {
            tracing::warn!(error = %err, "cannot record a session in Redis");
        }
        let previous = previous.ok().flatten()?;
        let (edge, old) = previous.split_once('\t')?;
        if edge != self.edge_id {
            let _: redis::RedisResult<()> = redis
                .publish(format!("{}:takeover", self.prefix), previous.clone())
                .await;
        }
        Some(old.to_owned())
    }

    /// Forgets an ended session.
    pub async fn forget(&self, session: &Session) {
        if let Some(mut redis) = self.redis().await {
            let sessions = format!("{}:sessions:{}", self.prefix, self.edge_id);
            let _: redis::RedisResult<()> = redis.srem(&sessions, member(session)).await;
        }
    }
}

/// Keeps this edge alive in Redis, reaps the sessions of dead edges, and drops the sessions
/// another edge took over.
pub async fn run(edge: Arc<Edge>) {
    let liveness = &edge.liveness;
    let Some(client) = liveness.client.clone() else {
        return;
    };
    tokio::spawn(takeovers(edge.clone(), client));
    let tick = liveness.lease / 3;
    loop {
        if let Some(mut redis) = liveness.redis().await {
            let alive = format!("{}:alive:{}", liveness.prefix, liveness.edge_id);
            let renewed: redis::RedisResult<()> = redis::pipe()
                .set_ex(&alive, 1, liveness.lease.as_secs().max(1))
                .ignore()
                .sadd(format!("{}:edges", liveness.prefix), &liveness.edge_id)
                .ignore()
                .query_async(&mut redis)
                .await;
            if let Err(err) = renewed {
                tracing::warn!(error = %err, "cannot renew this edge's lease");
            }
            if let Err(err) = reap(&edge, &mut redis).await {
                tracing::warn!(error = %err, "reaping dead edges failed");
            }
        }
        tokio::time::sleep(tick.max(Duration::from_millis(200))).await;
    }
}

async fn reap(
    edge: &Arc<Edge>,
    redis: &mut redis::aio::ConnectionManager,
) -> redis::RedisResult<()> {
    let liveness = &edge.liveness;
    let edges_key = format!("{}:edges", liveness.prefix);
    let edges: Vec<String> = redis.smembers(&edges_key).await?;
    for edge_id in &edges {
        let edge_id = edge_id.as_str();
        let key = format!("{}:sessions:{edge_id}", liveness.prefix);
        if edge_id == liveness.edge_id {
            continue;
        }
        let alive: bool = redis
            .exists(format!("{}:alive:{edge_id}", liveness.prefix))
            .await?;
        if alive {
            continue;
        }
        let claimed: Option<String> = redis::cmd("SET")
            .arg(format!("{}:reaping:{edge_id}", liveness.prefix))
            .arg(&liveness.edge_id)
            .arg("NX")
            .arg("EX")
            .arg(60)
            .query_async(redis)
            .await?;
        if claimed.is_none() {
            continue;
        }
        let members: Vec<String> = redis.smembers(&key).await?;
        tracing::info!(
            edge = edge_id,
            sessions = members.len(),
            "logging off the users of a dead edge"
        );
        for entry in &members {
            let mut parts = entry.splitn(3, '\t');
            let (Some(app_id), Some(user_id), Some(session_id)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            // A user who logged in again (here or elsewhere) keeps its new session.
            if !edge.sessions_of(app_id, user_id).is_empty() {
                continue;
            }
            let logoff = edge
                .service
                .membership()
                .logoff(LogoffRequest {
                    app_id: app_id.to_owned(),
                    user_id: user_id.to_owned(),
                    session_id: session_id.to_owned(),
                    reason: LogoffReason::Timeout.into(),
                })
                .await;
            if let Err(err) = logoff {
                tracing::warn!(error = %err, "logging off a dead edge's user failed");
            }
            metrics::counter!("livemsg_edge_reaped_sessions_total").increment(1);
        }
        let _: () = redis.del(&key).await?;
        let _: () = redis.srem(&edges_key, edge_id).await?;
    }
    Ok(())
}

/// Drops the sessions a login on another edge took over.
async fn takeovers(edge: Arc<Edge>, client: redis::Client) {
    let channel = format!("{}:takeover", edge.liveness.prefix);
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to takeovers; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        if sink.subscribe(&channel).await.is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        while let Some(message) = stream.next().await {
            let payload = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
            let Some((edge_id, session_id)) = payload.split_once('\t') else {
                continue;
            };
            if edge_id != edge.liveness.edge_id {
                continue;
            }
            if let Some(session) = edge.session(session_id) {
                taken_over(&edge, &session).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Tells a session it was taken over by a login elsewhere and drops it (the user is online
/// through the new one: nothing is reported).
pub async fn taken_over(edge: &Arc<Edge>, session: &Arc<Session>) {
    session.push(
        protocol::event(
            "disconnect",
            serde_json::json!({ "code": protocol::disconnect::ELSEWHERE }),
        )
        .into(),
        crate::outbox::Tier::Control,
    );
    session.close("logged in elsewhere");
    edge.end_session(session, None).await;
}
