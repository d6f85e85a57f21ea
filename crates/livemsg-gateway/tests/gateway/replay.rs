//! Replay protection and readiness against a Redis of the test's own, stopped and started on
//! purpose: the in-process fallback, its return to Redis, and what each gateway refuses.

use std::time::Duration;

use livemsg_ratelimit::testing::{free_port, OwnRedis};

use crate::helpers::*;

/// A gateway over `s`'s service whose Redis is the one at `redis_port`, with a short Redis
/// timeout so that a stopped Redis is noticed at once.
async fn gateway_on(s: &Stack, redis_port: u16, prefix: &str) -> String {
    let mut settings = test_gateway_settings().await;
    settings.ratelimit.redis_url = format!("redis://127.0.0.1:{redis_port}").into();
    settings.ratelimit.timeout_ms = 300;
    settings.gateway.nonce_key_prefix = prefix.to_owned();
    gateway_with(s.service.clone(), settings).await
}

impl Stack {
    /// A signed DescribeLiveMessageApp carrying `nonce`: each send with the same nonce is a
    /// replay of it.
    async fn describe_with(&self, gateway: &str, app_id: &str, nonce: &str) -> (u16, Value) {
        let mut at = self.clone();
        at.gateway = gateway.to_owned();
        let query = format!("AppId={app_id}");
        at.call_raw(
            "DescribeLiveMessageApp",
            &query,
            &[("AppId", app_id)],
            (&self.key_id, &self.secret),
            nonce,
        )
        .await
    }
}

async fn redis_has(port: u16, key: &str) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(&mut connection)
        .await
        .is_ok_and(|n| n == 1)
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_nonce_is_never_accepted_twice_by_a_gateway_whatever_redis_does(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app_id = s.create_app().await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let prefix = unique_prefix();
    let first = gateway_on(&s, port, &prefix).await;
    let used = |(status, body): (u16, Value)| {
        assert_error(status, &body, 400, "SignatureNonceUsed");
    };

    // Accepted through Redis; then Redis stops: the same gateway still refuses the replay.
    let before = nonce();
    assert_eq!(s.describe_with(&first, &app_id, &before).await.0, 200);
    redis.stop();
    used(s.describe_with(&first, &app_id, &before).await);

    // Accepted while Redis is away (on this gateway's memory), and refused again right away.
    let during = nonce();
    assert_eq!(s.describe_with(&first, &app_id, &during).await.0, 200);
    used(s.describe_with(&first, &app_id, &during).await);

    // Redis comes back, empty: the gateway still refuses both, and writes what it accepted
    // while Redis was away into Redis, once Redis answers it again.
    let _redis = OwnRedis::start(port);
    let during_key = format!("{prefix}:{{{}}}:{during}", s.key_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !redis_has(port, &during_key).await {
        assert!(tokio::time::Instant::now() < deadline, "never shared");
        let (status, body) = s.describe_with(&first, &app_id, &nonce()).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    used(s.describe_with(&first, &app_id, &before).await);
    used(s.describe_with(&first, &app_id, &during).await);
    // So another gateway refuses the nonce accepted during the outage too.
    let second = gateway_on(&s, port, &prefix).await;
    used(s.describe_with(&second, &app_id, &during).await);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_nonce_is_kept_in_redis_for_the_validity_window_and_a_minute(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app_id = s.create_app().await;
    let port = free_port();
    let _redis = OwnRedis::start(port);
    let prefix = unique_prefix();
    let gateway = gateway_on(&s, port, &prefix).await;
    let used = nonce();
    assert_eq!(s.describe_with(&gateway, &app_id, &used).await.0, 200);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:{{{}}}:{used}", s.key_id))
        .query_async(&mut connection)
        .await
        .unwrap();
    // Twice the 15-minute skew, and a minute for gateways whose clocks drift apart.
    let window_ms = (2 * 900 + 60) * 1_000;
    assert!(
        (window_ms - 60_000..=window_ms).contains(&ttl_ms),
        "{ttl_ms} ms"
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn readiness_names_each_reason_it_fails(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let gateway = gateway_on(&s, port, &unique_prefix()).await;
    let http = reqwest::Client::new();
    let ready = |gateway: String, query: &'static str| {
        let http = http.clone();
        async move {
            let response = http
                .get(format!("http://{gateway}/readyz{query}"))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(ready(gateway.clone(), "").await, (200, "ready".into()));
    assert_eq!(
        ready(gateway.clone(), "?strict=true").await,
        (200, "ready".into())
    );

    // Redis away: still ready (the fallback serves), but not strictly.
    redis.stop();
    assert_eq!(ready(gateway.clone(), "").await, (200, "ready".into()));
    assert_eq!(
        ready(gateway.clone(), "?strict=true").await,
        (503, "redis does not answer".into())
    );

    // No service behind the gateway.
    let mut settings = test_gateway_settings().await;
    settings.gateway.service_connect_timeout_ms = 200;
    let orphan = gateway_with(format!("http://127.0.0.1:{}", free_port()), settings).await;
    assert_eq!(
        ready(orphan, "").await,
        (503, "the service is not serving".into())
    );

    // A service whose Postgres does not answer: it says so, and so does a gateway over it.
    let mut service_settings = ServiceSettings::default();
    service_settings.service.listen = "127.0.0.1:0".into();
    service_settings.service.metrics_listen = "127.0.0.1:0".into();
    service_settings.internal.gateway_token = TOKEN.into();
    service_settings.internal.tier_token = TOKEN.into();
    service_settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    service_settings.database.port = free_port();
    service_settings.database.acquire_timeout_ms = 200;
    let service = Service::build(&service_settings).await.unwrap();
    let (service_addr, service_http) = (service.local_addr(), service.http_addr());
    tokio::spawn(service.run_until_stopped(std::future::pending()));
    let service_ready = http
        .get(format!("http://{service_http}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(service_ready.status().as_u16(), 503);
    assert_eq!(
        service_ready.text().await.unwrap(),
        "postgres does not answer"
    );
    let over_it = gateway_for(format!("http://{service_addr}")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = ready(over_it.clone(), "").await;
        if answer == (503, "the service is not serving".into()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
