//! Failures inside, probes, metrics and the internal hop over mutual TLS.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn internal_failures_answer_server_error_without_leaking_details(pool: PgPool) {
    let s = start(pool.clone(), 2_000).await;
    let app_id = s.create_app().await;
    let (status, body) = s
        .call(
            "CreateLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "g1")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    sqlx::query("DROP TABLE group_members")
        .execute(&pool)
        .await
        .unwrap();
    let (st, b) = s
        .call(
            "ListLiveMessageGroupUsers",
            &[
                ("AppId", &app_id),
                ("GroupId", "g1"),
                ("PageSize", "10"),
                ("SortType", "1"),
            ],
        )
        .await;
    assert_error(st, &b, 500, "ServerError");
    assert!(!b.to_string().contains("group_members"), "{b}");
}

#[tokio::test]
async fn an_unreachable_service_answers_service_unavailable() {
    // Nothing listens on this port: bind one, learn it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = gateway_for(format!("http://127.0.0.1:{port}")).await;
    let date = now();
    let headers = v3_headers(
        &V3Request {
            method: "POST",
            host: &gateway,
            action: "CreateLiveMessageApp",
            query: &[],
            body: b"",
            date: &date,
            nonce: "n",
        },
        "LTAIsomekey",
        "secret",
    );
    let mut request = reqwest::Client::new().post(format!("http://{gateway}/"));
    for (name, value) in headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let (st, b) = Stack::read(request.send().await.unwrap()).await;
    assert_error(st, &b, 503, "ServiceUnavailable");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn probes_and_metrics_tell_the_state_of_the_gateway(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let mut settings = test_gateway_settings().await;
    settings.gateway.listen = "127.0.0.1:0".into();
    settings.gateway.metrics_listen = "127.0.0.1:0".into();
    settings.gateway.service_url = s.service.clone();
    // A drain window wide enough for a loaded machine to see both sides of it.
    settings.gateway.shutdown_delay_ms = 3_000;
    settings.internal.gateway_token = TOKEN.into();
    settings.internal.tier_token = TOKEN.into();
    let gateway = Gateway::build(&settings).await.unwrap();
    let (addr, metrics_addr) = (gateway.local_addr(), gateway.metrics_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let mut g = s.clone();
    g.gateway = addr.to_string();
    let get = |path: String| g.http.get(path).send();

    assert_eq!(
        get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(format!("http://{addr}/readyz")).await.unwrap().status(),
        200
    );
    g.create_app().await;
    let (st, _) = g.call("DescribeRegions", &[]).await;
    assert_eq!(st, 404);
    let metrics = get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"livemsg_gateway_requests_total{action="CreateLiveMessageApp",code="OK"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"code="InvalidAction.NotFound""#),
        "{metrics}"
    );
    assert!(metrics.contains("livemsg_gateway_request_duration_seconds_bucket"));
    assert!(
        metrics.contains(r#"livemsg_ratelimit_decisions_total{decision="allowed",mode="redis"}"#)
    );

    // SIGTERM: not ready at once, still serving through the delay, then stopped.
    stop.send(()).unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while get(format!("http://{addr}/readyz")).await.unwrap().status() != 503 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready soon after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (st, _) = g.call("CreateLiveMessageApp", &[]).await;
    assert_eq!(st, 200, "requests are served while draining");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the gateway stops after its delay")
        .unwrap()
        .unwrap();
}

/// A CA, a service certificate for `localhost` and a client certificate, as PEM files.
fn certificates(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for name in ["service", "client"] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_internal_hop_can_run_over_mutual_tls(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("livemsg-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();

    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".into();
    settings.service.metrics_listen = "127.0.0.1:0".into();
    settings.service.tls_cert_path = path("service.pem");
    settings.service.tls_key_path = path("service.key");
    settings.service.tls_client_ca_path = path("ca.pem");
    settings.internal.gateway_token = TOKEN.into();
    settings.internal.tier_token = TOKEN.into();
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    let store = Store::new(pool.clone(), 2_000, settings.secrets.keyring().unwrap());
    let account = store.create_account("tls").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    let service = Service::build_with_pool(&settings, pool).await.unwrap();
    let port = service.local_addr().port();
    tokio::spawn(service.run_until_stopped(std::future::pending()));

    let base = test_gateway_settings().await;
    let gateway = |ca: bool, client_cert: bool, scheme: &str| {
        let mut g = base.clone();
        g.ratelimit.key_prefix = unique_prefix();
        g.gateway.nonce_key_prefix = unique_prefix();
        if ca {
            g.gateway.service_tls_ca_path = path("ca.pem");
        }
        if client_cert {
            g.gateway.service_tls_cert_path = path("client.pem");
            g.gateway.service_tls_key_path = path("client.key");
        }
        gateway_with(format!("{scheme}://localhost:{port}"), g)
    };
    let stack = |gateway: String| Stack {
        gateway,
        service: String::new(),
        key_id: key.access_key_id.clone(),
        secret: key.secret.clone(),
        store: store.clone(),
        account_id: account.account_id,
        http: reqwest::Client::new(),
    };

    let trusted = stack(gateway(true, true, "https").await);
    let (status, body) = trusted.call("CreateLiveMessageApp", &[]).await;
    assert_eq!(status, 200, "{body}");

    // Without a client certificate the service refuses the handshake; without TLS it does
    // not speak at all. Either way the caller gets the gateway's own error, not a hang.
    for (ca, client_cert, scheme) in [(true, false, "https"), (false, false, "http")] {
        let refused = stack(gateway(ca, client_cert, scheme).await);
        let (status, body) = refused.call("CreateLiveMessageApp", &[]).await;
        assert_error(status, &body, 503, "ServiceUnavailable");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
