//! `livemsg-edge`: the client edge. Viewers connect over WebSocket (`/ws`, subprotocol
//! `livemsg.v1`, see [`protocol`]), log in with the same app token as the cloud's client SDK,
//! join rooms, chat, and see the room live. The edge reports logons, logoffs, joins and leaves
//! to the service, follows each room it serves once ([`rooms`]) and each app's user messages and
//! app events once ([`apps`]), and keeps its sessions in Redis so that a live edge logs off the
//! users of one that died ([`liveness`]). It talks to the service over gRPC only.

pub mod apps;
mod connection;
pub mod liveness;
mod ops;
pub mod outbox;
pub mod protocol;
pub mod rooms;
pub mod service;
pub mod session;
pub mod settings;
pub mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use livemsg_proto::membership::v1::{LeaveGroupRequest, LogoffReason, LogoffRequest};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use rooms::Room;
pub use service::Service;
use session::Session;
pub use settings::EdgeSettings;

/// The demo page and the JavaScript client, served at `/` and `/livemsg.js`.
const DEMO_PAGE: &str = include_str!("../static/demo.html");
const CLIENT_JS: &str = include_str!("../static/livemsg.js");

/// The edge's shared state.
pub struct Edge {
    pub settings: settings::EdgeHttpSettings,
    pub service: Service,
    pub liveness: liveness::Liveness,
    rooms: Mutex<HashMap<(String, String), Arc<Room>>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    apps: apps::Apps,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge").finish_non_exhaustive()
    }
}

impl Edge {
    /// The session `id`, if this edge holds it.
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().expect("edge lock").get(id).cloned()
    }

    /// The sessions of `user_id` in `app_id` on this edge.
    pub fn sessions_of(&self, app_id: &str, user_id: &str) -> Vec<Arc<Session>> {
        self.sessions
            .lock()
            .expect("edge lock")
            .values()
            .filter(|s| s.app_id == app_id && s.user_id == user_id)
            .cloned()
            .collect()
    }

    /// The sessions of `app_id` on this edge.
    pub fn sessions_of_app(&self, app_id: &str) -> Vec<Arc<Session>> {
        self.sessions
            .lock()
            .expect("edge lock")
            .values()
            .filter(|s| s.app_id == app_id)
            .cloned()
            .collect()
    }

    fn add_session(self: &Arc<Self>, session: Arc<Session>) {
        self.apps.enter(self, &session.app_id);
        self.sessions
            .lock()
            .expect("edge lock")
            .insert(session.id.clone(), session);
        metrics::gauge!("livemsg_edge_sessions").increment(1.0);
    }

    /// The room of a group, started when its first viewer arrives.
    pub fn room(self: &Arc<Self>, app_id: &str, group_id: &str) -> Arc<Room> {
        let mut rooms = self.rooms.lock().expect("edge lock");
        rooms
            .entry((app_id.to_owned(), group_id.to_owned()))
            .or_insert_with(|| Room::start(self, app_id, group_id))
            .clone()
    }

    /// Takes `session` out of `room` on this edge; with `report`, tells the service the user
    /// left (unless another session of the same user is still there on this edge).
    pub fn drop_from_room(
        self: &Arc<Self>,
        session: &Arc<Session>,
        room: &Arc<Room>,
        report: bool,
    ) {
        session.leave(&room.group_id);
        let left = room.remove(&session.id);
        let still_there = room.has_user(&session.user_id, &session.id);
        if left == 0 {
            let mut rooms = self.rooms.lock().expect("edge lock");
            let key = (room.app_id.clone(), room.group_id.clone());
            if rooms.get(&key).is_some_and(|r| Arc::ptr_eq(r, room)) && room.viewers().is_empty() {
                rooms.remove(&key);
            }
        }
        if report && !still_there {
            let (edge, app_id, group_id, user_id) = (
                self.clone(),
                room.app_id.clone(),
                room.group_id.clone(),
                session.user_id.clone(),
            );
            tokio::spawn(async move {
                let left = edge
                    .service
                    .membership()
                    .leave_group(LeaveGroupRequest {
                        app_id,
                        group_id,
                        user_id,
                    })
                    .await;
                if let Err(err) = left {
                    tracing::warn!(error = %err, "reporting a leave failed");
                }
            });
        }
    }

    /// The room `group_id` of `app_id` if this edge serves it.
    pub fn existing_room(&self, app_id: &str, group_id: &str) -> Option<Arc<Room>> {
        self.rooms
            .lock()
            .expect("edge lock")
            .get(&(app_id.to_owned(), group_id.to_owned()))
            .cloned()
    }

    /// Ends a session: out of its rooms (reported as leaves when `report`), logged off with
    /// `reason` (when `report`), forgotten here and in Redis.
    pub async fn end_session(
        self: &Arc<Self>,
        session: &Arc<Session>,
        reason: Option<LogoffReason>,
    ) {
        if !session.end() {
            return;
        }
        self.sessions.lock().expect("edge lock").remove(&session.id);
        metrics::gauge!("livemsg_edge_sessions").decrement(1.0);
        for group in session.rooms() {
            if let Some(room) = self.existing_room(&session.app_id, &group) {
                self.drop_from_room(session, &room, reason.is_some());
            }
        }
        self.liveness.forget(session).await;
        let others = !self
            .sessions_of(&session.app_id, &session.user_id)
            .is_empty();
        if let (Some(reason), false) = (reason, others) {
            let logoff = self
                .service
                .membership()
                .logoff(LogoffRequest {
                    app_id: session.app_id.clone(),
                    user_id: session.user_id.clone(),
                    session_id: session.id.clone(),
                    reason: reason.into(),
                })
                .await;
            if let Err(err) = logoff {
                tracing::warn!(error = %err, "reporting a logoff failed");
            }
        }
        self.apps.leave(&session.app_id, self);
    }

    /// Ends every session whose connection has been gone longer than the reconnect window.
    async fn expire_detached(self: &Arc<Self>) {
        let window = Duration::from_secs(self.settings.reconnect_window_secs);
        let expired: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .expect("edge lock")
            .values()
            .filter(|s| s.detached_for().is_some_and(|d| d >= window))
            .cloned()
            .collect();
        for session in expired {
            self.end_session(&session, Some(LogoffReason::Timeout))
                .await;
        }
    }

    /// Closes every connection (the edge is stopping): each is told, and its session logged
    /// off with reason timeout, as if its connection had died.
    async fn close_all(self: &Arc<Self>) {
        let sessions: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .expect("edge lock")
            .values()
            .cloned()
            .collect();
        for session in sessions {
            session.push(
                protocol::event(
                    "disconnect",
                    serde_json::json!({ "code": protocol::disconnect::TIMEOUT }),
                )
                .into(),
                outbox::Tier::Control,
            );
            session.close("the edge is shutting down");
            self.end_session(&session, Some(LogoffReason::Timeout))
                .await;
        }
    }
}

/// The edge process: its listeners and state.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    edge: Arc<Edge>,
}

/// Why the edge cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Setting(String),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("cannot reach the service: {0}")]
    Service(#[from] tonic::transport::Error),
}

impl Application {
    /// Binds the listeners and connects (lazily) to the service and Redis.
    pub async fn build(settings: &EdgeSettings) -> Result<Self, BuildError> {
        let secret = settings.edge.session_secret.expose_secret();
        livemsg_runtime::check_token_strength("edge.session_secret", secret)
            .map_err(BuildError::Setting)?;
        let token = settings.internal.tier_token.expose_secret();
        if token.is_empty() {
            return Err(BuildError::Setting(
                "set internal.tier_token (LIVEMSG__INTERNAL__TIER_TOKEN): the edge's calls carry it".into(),
            ));
        }
        let channel = tonic::transport::Channel::from_shared(settings.edge.service_url.clone())
            .map_err(|e| BuildError::Setting(format!("edge.service_url: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        let channel = tonic::service::interceptor::InterceptedService::new(
            channel,
            livemsg_proto::BearerToken::new(token)
                .map_err(|e| BuildError::Setting(format!("internal.tier_token: {e}")))?,
        );
        let listener = TcpListener::bind(&settings.edge.listen).await?;
        let metrics_listener = TcpListener::bind(&settings.edge.metrics_listen).await?;
        let liveness = liveness::Liveness::new(&settings.edge);
        let edge = Arc::new(Edge {
            settings: settings.edge.clone(),
            service: Service::new(channel),
            liveness,
            rooms: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            apps: apps::Apps::default(),
        });
        Ok(Application {
            listener,
            metrics_listener,
            edge,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound")
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener.local_addr().expect("bound")
    }

    fn router(edge: Arc<Edge>) -> Router {
        let mut router = Router::new().route("/ws", get(connection::upgrade));
        if edge.settings.demo {
            router = router
                .route("/", get(|| async { axum::response::Html(DEMO_PAGE) }))
                .route(
                    "/livemsg.js",
                    get(|| async {
                        (
                            [(axum::http::header::CONTENT_TYPE, "text/javascript")],
                            CLIENT_JS,
                        )
                    }),
                );
        }
        router.with_state(edge)
    }

    /// Serves until `shutdown`; then closes every connection (each told, each session logged
    /// off) and stops.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let edge = self.edge.clone();
        let mut background = vec![
            tokio::spawn(liveness::run(edge.clone())),
            tokio::spawn({
                let edge = edge.clone();
                async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        edge.expire_detached().await;
                    }
                }
            }),
        ];
        let health = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }))
            .merge(livemsg_runtime::telemetry::router());
        background.push(tokio::spawn(async move {
            if let Err(err) = axum::serve(self.metrics_listener, health).await {
                tracing::error!(error = %err, "metrics listener failed");
            }
        }));
        let limits = livemsg_runtime::http::HttpLimits {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connections: edge.settings.max_connections,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(livemsg_runtime::http::serve(
            self.listener,
            Self::router(edge.clone()),
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        shutdown.await;
        tracing::info!("the edge is stopping: closing its connections");
        let _ = stop.send(());
        edge.close_all().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        for task in background {
            task.abort();
        }
        Ok(())
    }
}
