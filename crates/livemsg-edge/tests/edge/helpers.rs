//! A service and edges in this process over real sockets, on a fresh database and the real
//! Redis; a WebSocket client that speaks `livemsg.v1`.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
pub(crate) use livemsg_edge::{Application as Edge, EdgeSettings};
pub(crate) use livemsg_service::settings::SecretsSettings;
pub(crate) use livemsg_service::{Application as Service, ServiceSettings};
pub(crate) use livemsg_store::{Keyring, Store};
pub(crate) use serde_json::{json, Value};
pub(crate) use sqlx::PgPool;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub(crate) const TOKEN: &str = "edge-test-tier-token-0123456789abcdef";
const SECRET: &str = "edge-test-session-secret-0123456789abcdef";

/// A running service with an account and an app, and what is needed to start edges for it.
pub(crate) struct Stack {
    pub service_url: String,
    pub store: Store,
    pub app_id: String,
    pub app_key: String,
    pub account_id: i64,
    pub prefix: String,
}

pub(crate) async fn stack(pool: PgPool) -> Stack {
    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".into();
    settings.service.metrics_listen = "127.0.0.1:0".into();
    settings.internal.gateway_token = TOKEN.into();
    settings.internal.tier_token = TOKEN.into();
    settings.service.event_poll_ms = 20;
    settings.messages.channel_prefix = format!("edgetest{:016x}", rand::random::<u64>());
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    let keyring = settings.secrets.keyring().unwrap();
    let store = Store::new(pool.clone(), 2_000, keyring);
    let account = store.create_account("edge").await.unwrap();
    let app = store
        .create_app(livemsg_store::NewApp {
            account: livemsg_domain::AccountId::new(account.account_id).unwrap(),
            app_name: Some(livemsg_domain::AppName::parse("edge").unwrap()),
            data_center: livemsg_domain::DataCenter::CnShanghai,
            audit_type: 0,
            audit_url: String::new(),
            event_callback_url: String::new(),
            msg_life_cycle: 0,
        })
        .await
        .unwrap();
    let service = Service::build_with_pool(&settings, pool).await.unwrap();
    let addr = service.local_addr();
    tokio::spawn(service.run_until_stopped(std::future::pending()));
    Stack {
        service_url: format!("http://{addr}"),
        store,
        app_id: app.app_id,
        app_key: app.app_key,
        account_id: account.account_id,
        prefix: format!("edgetest:{:016x}", rand::random::<u64>()),
    }
}

impl Stack {
    /// Starts an edge; `tune` changes its settings first. Returns its address and its stop.
    pub(crate) async fn edge(
        &self,
        tune: impl FnOnce(&mut EdgeSettings),
    ) -> (String, tokio::sync::oneshot::Sender<()>) {
        let mut settings = EdgeSettings::default();
        settings.edge.listen = "127.0.0.1:0".into();
        settings.edge.metrics_listen = "127.0.0.1:0".into();
        settings.edge.service_url = self.service_url.clone();
        settings.edge.redis_url = std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
            .into();
        settings.edge.key_prefix = self.prefix.clone();
        settings.edge.session_secret = SECRET.into();
        settings.internal.tier_token = TOKEN.into();
        tune(&mut settings);
        let edge = Edge::build(&settings).await.unwrap();
        let addr = edge.local_addr().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(edge.run_until_stopped(async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// A token for `user` with `role`, valid for an hour.
    pub(crate) fn token(&self, user: &str, role: &str) -> Value {
        let expiry = chrono::Utc::now().timestamp() + 3_600;
        let nonce = format!("AK{:x}", rand::random::<u64>());
        let token =
            livemsg_edge::token::app_token(&self.app_id, &self.app_key, user, &nonce, expiry, role);
        json!({ "nonce": nonce, "timestamp": expiry, "role": role, "token": token })
    }

    /// The login request of `user` (device `d1`).
    pub(crate) fn login(&self, user: &str, role: &str) -> Value {
        json!({ "type": "login", "appId": self.app_id, "deviceId": "d1",
                "user": { "userId": user, "userExtension": format!("ext-{user}") },
                "auth": self.token(user, role) })
    }

    /// Creates a group with `creator` and `admins`.
    pub(crate) async fn group(&self, group: &str, creator: &str, admins: &[&str]) {
        let scope = livemsg_domain::AppScope::parse(
            livemsg_domain::AccountId::new(self.account_id).unwrap(),
            &self.app_id,
            "",
        )
        .unwrap();
        self.store
            .create_group(
                &scope,
                livemsg_store::NewGroup {
                    group_id: livemsg_domain::GroupId::parse(group).unwrap(),
                    group_name: livemsg_domain::GroupName::parse("room").unwrap(),
                    group_info: Default::default(),
                    creator_id: Some(livemsg_domain::UserId::parse(creator).unwrap()),
                    administrators: admins
                        .iter()
                        .map(|a| livemsg_domain::UserId::parse(a).unwrap())
                        .collect(),
                },
            )
            .await
            .unwrap();
    }

    /// Whether `user` is logged on, as the service records it.
    pub(crate) async fn online(&self, user: &str) -> bool {
        let scope = livemsg_domain::AppScope::parse(
            livemsg_domain::AccountId::new(self.account_id).unwrap(),
            &self.app_id,
            "",
        )
        .unwrap();
        self.store
            .online_among(&scope, &[user.to_owned()])
            .await
            .unwrap()
            .contains(user)
    }

    /// The group's member count, as the service records it.
    pub(crate) async fn members(&self, group: &str) -> i64 {
        self.store
            .group_count(
                &livemsg_domain::AppId::parse(&self.app_id).unwrap(),
                &livemsg_domain::GroupId::parse(group).unwrap(),
            )
            .await
            .unwrap()
            .0
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `livemsg.v1` client.
pub(crate) struct Client {
    ws: Ws,
    next_id: u64,
    events: VecDeque<Value>,
    pub closed: bool,
}

impl Client {
    pub(crate) async fn connect(edge: &str) -> Client {
        let mut request = format!("ws://{edge}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "livemsg.v1".parse().unwrap());
        let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "livemsg.v1");
        Client {
            ws,
            next_id: 1,
            events: VecDeque::new(),
            closed: false,
        }
    }

    /// Like [`Client::connect`], over a socket with a small receive buffer, so a client that
    /// stops reading soon holds up the edge's writes instead of the kernels absorbing them.
    pub(crate) async fn connect_small_buffer(edge: &str) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4_096).unwrap();
        let stream = socket.connect(edge.parse().unwrap()).await.unwrap();
        let mut request = format!("ws://{edge}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "livemsg.v1".parse().unwrap());
        let (ws, _) = tokio_tungstenite::client_async(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .unwrap();
        Client {
            ws,
            next_id: 1,
            events: VecDeque::new(),
            closed: false,
        }
    }

    /// Sends a frame as is.
    pub(crate) async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Reads the next frame (within 10 s): `None` when the connection closed.
    async fn read(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a frame within 10 s");
            match frame {
                Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    self.closed = true;
                    return None;
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends a request (its id is set here) and returns its answer; events that arrive first
    /// are kept for [`Client::event`].
    pub(crate) async fn request(&mut self, mut request: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        self.send_raw(&request.to_string()).await;
        loop {
            let frame = self
                .read()
                .await
                .expect("an answer before the connection closed");
            if frame["type"] == "event" {
                self.events.push_back(frame);
            } else if frame["id"] == id {
                return frame;
            }
        }
    }

    /// A request that must succeed: its data.
    pub(crate) async fn ok(&mut self, request: Value) -> Value {
        let answer = self.request(request.clone()).await;
        assert_eq!(answer["ok"], true, "{request} -> {answer}");
        answer["data"].clone()
    }

    /// A request that must fail with `code`: its message.
    pub(crate) async fn refused(&mut self, request: Value, code: u64) -> String {
        let answer = self.request(request.clone()).await;
        assert_eq!(
            (answer["ok"].clone(), answer["code"].as_u64()),
            (json!(false), Some(code)),
            "{request} -> {answer}"
        );
        answer["message"].as_str().unwrap().to_owned()
    }

    /// The next event named `name` (earlier events of other names are kept).
    pub(crate) async fn event(&mut self, name: &str) -> Value {
        if let Some(at) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(at).unwrap()["data"].clone();
        }
        loop {
            let frame = self
                .read()
                .await
                .unwrap_or_else(|| panic!("closed before a {name} event"));
            if frame["type"] == "event" {
                if frame["event"] == name {
                    return frame["data"].clone();
                }
                self.events.push_back(frame);
            }
        }
    }

    /// Reads until the edge closes the connection (within 10 s per frame); the events seen.
    pub(crate) async fn until_closed(&mut self) -> Vec<Value> {
        let mut seen: Vec<Value> = self.events.drain(..).collect();
        while let Some(frame) = self.read().await {
            seen.push(frame);
        }
        seen
    }

    /// Drops the connection without a goodbye.
    pub(crate) async fn drop_connection(self) {
        let mut ws = self.ws;
        let _ = ws.get_mut();
        drop(ws);
    }
}

/// Waits until `condition` holds (at most 15 s).
pub(crate) async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
