//! What the gateway tests share: a service and a gateway on port 0 over a fresh database, and
//! requests signed as the SDKs sign them.

pub(crate) use livemsg_gateway::signing::client::{v1_query, v3_headers, V3Request};
pub(crate) use livemsg_gateway::{Application as Gateway, GatewaySettings};
pub(crate) use livemsg_proto::membership::v1::membership_service_client::MembershipServiceClient;
pub(crate) use livemsg_proto::membership::v1::{
    BatchUpdateMembershipRequest, MembershipItem, Operation,
};
pub(crate) use livemsg_service::settings::SecretsSettings;
pub(crate) use livemsg_service::{Application as Service, ServiceSettings};
pub(crate) use livemsg_store::{Keyring, Store};
pub(crate) use serde_json::{json, Value};
pub(crate) use sqlx::PgPool;

#[derive(Clone)]
pub(crate) struct Stack {
    pub gateway: String,
    pub service: String,
    pub key_id: String,
    pub secret: String,
    pub store: Store,
    pub account_id: i64,
    pub http: reqwest::Client,
}

pub(crate) fn unique_prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

/// How long test gateways keep a resolved key: administrators' changes land within this.
pub(crate) const AUTH_CACHE_TTL_MS: u64 = 300;

/// The Redis the tests use: `REDIS_URL`, as for the whole suite.
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Gateway settings for a test: the suite's Redis (which must answer: a gateway test never
/// passes on the in-process fallback unless it stops a Redis of its own on purpose), and
/// prefixes of its own.
pub(crate) async fn test_gateway_settings() -> GatewaySettings {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL is a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| {
            panic!("Redis at {url} must be running for the gateway tests: {err}")
        });
    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .unwrap_or_else(|err| panic!("Redis at {url} does not answer: {err}"));
    assert_eq!(pong, "PONG");
    let mut settings = GatewaySettings::default();
    settings.ratelimit.redis_url = url.into();
    settings.ratelimit.key_prefix = unique_prefix();
    settings.gateway.nonce_key_prefix = unique_prefix();
    settings.gateway.auth_cache_ttl_ms = AUTH_CACHE_TTL_MS;
    settings
}

pub(crate) async fn gateway_for(service_url: String) -> String {
    gateway_with(service_url, test_gateway_settings().await).await
}

/// The internal token the test service requires and the test gateways send.
pub(crate) const TOKEN: &str = "internal-test-credential-0123456789abcdef";

pub(crate) async fn gateway_with(service_url: String, mut settings: GatewaySettings) -> String {
    settings.gateway.listen = "127.0.0.1:0".into();
    settings.gateway.metrics_listen = "127.0.0.1:0".into();
    settings.internal.gateway_token = TOKEN.into();
    settings.internal.tier_token = TOKEN.into();
    settings.gateway.service_url = service_url;
    settings.gateway.service_timeout_ms = 5_000;
    let gateway = Gateway::build(&settings).await.unwrap();
    let addr = gateway.local_addr();
    tokio::spawn(gateway.run_until_stopped(std::future::pending()));
    addr.to_string()
}

pub(crate) async fn start(pool: PgPool, threshold: i64) -> Stack {
    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".into();
    settings.service.metrics_listen = "127.0.0.1:0".into();
    settings.internal.gateway_token = TOKEN.into();
    settings.internal.tier_token = TOKEN.into();
    settings.groups.super_group_threshold = threshold;
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    let store = Store::new(pool.clone(), threshold, settings.secrets.keyring().unwrap());
    let account = store.create_account("gw").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    let service = Service::build_with_pool(&settings, pool).await.unwrap();
    let service_addr = service.local_addr();
    tokio::spawn(service.run_until_stopped(std::future::pending()));
    let service = format!("http://{service_addr}");
    Stack {
        gateway: gateway_for(service.clone()).await,
        service,
        key_id: key.access_key_id,
        secret: key.secret,
        store,
        account_id: account.account_id,
        http: reqwest::Client::new(),
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Stack {
    /// A V3-signed call, as the default SDK makes it.
    pub(crate) async fn call(&self, action: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call_as(action, query, &self.key_id, &self.secret)
            .await
    }

    pub(crate) async fn call_as(
        &self,
        action: &str,
        query: &[(&str, &str)],
        key_id: &str,
        secret: &str,
    ) -> (u16, Value) {
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    livemsg_gateway::signing::percent_encode(k),
                    livemsg_gateway::signing::percent_encode(v)
                )
            })
            .collect();
        self.call_raw(
            action,
            &encoded.join("&"),
            query,
            (key_id, secret),
            &nonce(),
        )
        .await
    }

    /// A V1-signed call of `action` with `params`, the envelope added as the legacy SDK sends
    /// it.
    pub(crate) async fn call_v1_action(
        &self,
        method: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> (u16, Value) {
        let (timestamp, nonce) = (now(), nonce());
        let mut all = vec![
            ("Action", action),
            ("Format", "JSON"),
            ("Version", "2016-11-01"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce.as_str()),
            ("Timestamp", timestamp.as_str()),
            ("AccessKeyId", self.key_id.as_str()),
        ];
        all.extend_from_slice(params);
        self.call_v1(method, &all).await
    }

    /// A V1-signed call with `params` besides the envelope.
    pub(crate) async fn call_v1(&self, method: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let query = v1_query(method, params, &self.secret);
        let url = format!("http://{}/?{query}", self.gateway);
        let request = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url)
        };
        Self::read(request.send().await.unwrap()).await
    }

    pub(crate) async fn read(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        (status, response.json().await.unwrap())
    }

    pub(crate) async fn create_app(&self) -> String {
        let (status, body) = self
            .call("CreateLiveMessageApp", &[("AppName", "demo")])
            .await;
        assert_eq!(status, 200, "{body}");
        body["AppId"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn join_all(
        &self,
        app_id: &str,
        group_id: &str,
        users: impl Iterator<Item = String>,
    ) {
        let items = users
            .map(|user_id| MembershipItem {
                operation: Operation::Join.into(),
                group_id: group_id.into(),
                user_info: format!("info of {user_id}"),
                user_id,
            })
            .collect();
        let channel = tonic::transport::Channel::from_shared(self.service.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let results = MembershipServiceClient::with_interceptor(
            channel,
            livemsg_proto::BearerToken::new(TOKEN).unwrap(),
        )
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: app_id.into(),
            items,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
        assert!(results.iter().all(|r| r.error_code.is_empty()));
    }
}

pub(crate) fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["Code"], want_code, "{body}");
    for field in ["RequestId", "HostId", "Message", "Recommend"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }
}

impl Stack {
    /// A key of a new RAM user of this stack's account, with the given policies attached.
    pub(crate) async fn ram_key(
        &self,
        user: &str,
        policies: &[(&str, String)],
    ) -> (String, String) {
        self.store
            .create_ram_user(self.account_id, user)
            .await
            .unwrap();
        for (name, document) in policies {
            self.store
                .create_policy(self.account_id, name, document)
                .await
                .unwrap();
            self.store
                .attach_policy(self.account_id, user, name)
                .await
                .unwrap();
        }
        let key = self
            .store
            .create_access_key(self.account_id, Some(user))
            .await
            .unwrap();
        (key.access_key_id, key.secret)
    }

    pub(crate) fn arn(&self, app_id: &str) -> String {
        format!("acs:live::{}:rtc/{app_id}", self.account_id)
    }

    /// A V3 call with a raw query string, signed over `signed_query`.
    pub(crate) async fn call_raw(
        &self,
        action: &str,
        raw_query: &str,
        signed_query: &[(&str, &str)],
        key: (&str, &str),
        nonce: &str,
    ) -> (u16, Value) {
        self.call_raw_with(action, raw_query, signed_query, key, nonce, &[])
            .await
    }

    /// A V3 call with a raw query string, signed over `signed_query`, with `extra` headers
    /// besides the signed ones (as a proxy in front of the gateway would add).
    pub(crate) async fn call_raw_with(
        &self,
        action: &str,
        raw_query: &str,
        signed_query: &[(&str, &str)],
        key: (&str, &str),
        nonce: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let date = now();
        let headers = v3_headers(
            &V3Request {
                method: "POST",
                host: &self.gateway,
                action,
                query: signed_query,
                body: b"",
                date: &date,
                nonce,
            },
            key.0,
            key.1,
        );
        let mut request = self
            .http
            .post(format!("http://{}/?{raw_query}", self.gateway));
        for (name, value) in headers {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        Self::read(request.send().await.unwrap()).await
    }
}

/// A policy that allows listing the users of `resource`.
pub(crate) fn list_policy(resource: &str) -> String {
    format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"live:ListLiveMessageGroupUsers","Resource":"{resource}"}}]}}"#
    )
}

/// Calls `call` until its answer satisfies `done` (at most 10 s, then fails): an
/// administrator's change reaches a gateway within its cache time, not at once.
pub(crate) async fn eventually<F, Fut>(
    mut call: F,
    done: impl Fn(u16, &Value) -> bool,
) -> (u16, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = call().await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {status} {body} after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A call that must succeed; its body.
pub(crate) async fn ok(s: &Stack, action: &str, query: &[(&str, &str)]) -> Value {
    let (status, body) = s.call(action, query).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// An `InputInvalid` whose message names `param`.
pub(crate) fn assert_invalid(status: u16, body: &Value, param: &str) {
    assert_error(status, body, 400, "InputInvalid");
    let message = body["Message"].as_str().unwrap();
    assert!(message.starts_with(param), "{message} should name {param}");
}
