//! Tokens, health, reflection, metrics, probes and a draining shutdown.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn internal_calls_need_the_token_but_health_and_configured_reflection_do_not(pool: PgPool) {
    let h = start_configured(pool, 2_000, |s| s.service.reflection = true).await;
    let describe = || DescribeAppRequest { app: h.app() };
    let refused = AppServiceClient::new(h.plain.clone())
        .describe_app(describe())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let wrong = AppServiceClient::with_interceptor(
        h.plain.clone(),
        BearerToken::new("not-the-token").unwrap(),
    )
    .describe_app(describe())
    .await
    .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    let unauthenticated_join = MembershipServiceClient::new(h.plain.clone())
        .join_group(JoinGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "g".into(),
            user_id: "u".into(),
            user_info: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unauthenticated_join.code(), tonic::Code::Unauthenticated);
    AppServiceClient::new(h.channel.clone())
        .describe_app(describe())
        .await
        .unwrap();

    // Health: open, and SERVING for the server and each service.
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let mut health = HealthClient::new(h.plain.clone());
    for service in [""].into_iter().chain(livemsg_service::SERVICE_NAMES) {
        let mut status = ServingStatus::Unknown;
        for _ in 0..50 {
            status = health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status();
            if status == ServingStatus::Serving {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }

    // Reflection, where configured: open, and it lists every service, so grpcurl works without
    // the protos.
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(h.plain.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in livemsg_service::SERVICE_NAMES
        .into_iter()
        .chain(["grpc.health.v1.Health"])
    {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_http_side_serves_metrics_and_probes(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("room1").await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{}{path}", h.http_addr)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("livemsg_grpc_requests_total{method=\"/livemsg.api.v1.GroupService/CreateGroup\",code=\"0\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("livemsg_grpc_request_duration_seconds_bucket"));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_service_without_a_token_refuses_to_start(pool: PgPool) {
    let mut settings = test_settings();
    settings.internal.gateway_token = "".into();
    let err = Application::build_with_pool(&settings, pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("internal.gateway_token"), "{err}");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn shutdown_drains_then_finishes_in_flight_calls(pool: PgPool) {
    let mut settings = test_settings();
    // A drain window wide enough for a loaded machine to see both sides of it.
    settings.service.shutdown_delay_ms = 3_000;
    let app = Application::build_with_pool(&settings, pool).await.unwrap();
    let (addr, http_addr) = (app.local_addr(), app.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(plain.clone());
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("http://{http_addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    stop.send(()).unwrap();
    // Draining: not ready, but still answering.
    wait_until(|| async {
        http.get(format!("http://{http_addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 503
    })
    .await;
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing
    );
    let count = MembershipServiceClient::with_interceptor(plain, BearerToken::new(TOKEN).unwrap())
        .get_group_count(GetGroupCountRequest {
            app_id: "nope".into(),
            group_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        code_of(&count),
        "ResourceNotExist",
        "calls are still served while draining"
    );
    // Then it stops by itself.
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the service stops after its shutdown delay")
        .unwrap()
        .unwrap();
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn reflection_is_off_unless_configured(pool: PgPool) {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let h = start(pool, 2_000).await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let refused = ServerReflectionClient::new(h.plain.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
}

/// Each role's token opens what the role needs and nothing else, and an account tier token
/// opens the tier's services for that account's apps only.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn each_role_token_opens_only_its_services(pool: PgPool) {
    use livemsg_proto::events::v1::event_service_client::EventServiceClient;
    use livemsg_proto::events::v1::WatchGroupEventsRequest;
    const GATEWAY: &str = "gateway-role-credential-0123456789abcdef";
    const TIER: &str = "tier-role-credential-0123456789abcdefgh";
    let h = start_configured(pool, 2_000, |s| {
        s.internal.gateway_token = GATEWAY.into();
        s.internal.tier_token = TIER.into();
    })
    .await;
    let with = |token: &str| {
        tonic::service::interceptor::InterceptedService::new(
            h.plain.clone(),
            BearerToken::new(token).unwrap(),
        )
    };
    let join = |group: &str| JoinGroupRequest {
        app_id: h.app_id.clone(),
        group_id: group.into(),
        user_id: "u1".into(),
        user_info: String::new(),
    };
    h.create_group("g").await;

    // The tier's token: membership yes; key lookups and the admin API no; the public API only
    // with a caller proof (which ResolveApp hands it for the apps it may touch).
    MembershipServiceClient::new(with(TIER))
        .join_group(join("g"))
        .await
        .unwrap();
    let lookup = AuthServiceClient::new(with(TIER))
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: "LTAIwhatever".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), tonic::Code::Unauthenticated);
    let unproven = AppServiceClient::new(with(TIER))
        .describe_app(DescribeAppRequest {
            app: Some(AppRef {
                caller: Some(Caller {
                    account_id: h.account,
                    proof: "forged".into(),
                }),
                app_id: h.app_id.clone(),
                data_center: String::new(),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(unproven.code(), tonic::Code::Unauthenticated);
    let resolved = MembershipServiceClient::new(with(TIER))
        .resolve_app(livemsg_proto::membership::v1::ResolveAppRequest {
            app_id: h.app_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.account_id, h.account);
    AppServiceClient::new(with(TIER))
        .describe_app(DescribeAppRequest {
            app: Some(AppRef {
                caller: Some(Caller {
                    account_id: resolved.account_id,
                    proof: resolved.caller_proof,
                }),
                app_id: h.app_id.clone(),
                data_center: resolved.data_center,
            }),
        })
        .await
        .unwrap();
    // The gateway's token: no membership.
    let joined = MembershipServiceClient::new(with(GATEWAY))
        .join_group(join("g"))
        .await
        .unwrap_err();
    assert_eq!(joined.code(), tonic::Code::Unauthenticated);

    // An account tier token: this account's app yes, another account's no (it does not exist
    // for the token), and nothing outside the tier's services.
    let other = h.store.create_account("other").await.unwrap().account_id;
    let proofs = livemsg_service::proofs::Proofs::new(&h.keyring);
    let own = proofs.tier_token(h.account);
    let foreign = proofs.tier_token(other);
    MembershipServiceClient::new(with(&own))
        .join_group(join("g"))
        .await
        .unwrap();
    let elsewhere = MembershipServiceClient::new(with(&foreign))
        .join_group(join("g"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&elsewhere), "ResourceNotExist");
    let watch = EventServiceClient::new(with(&foreign))
        .watch_group_events(WatchGroupEventsRequest {
            app_id: h.app_id.clone(),
            group_id: "g".into(),
            from_seq: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&watch), "ResourceNotExist");
    // Its account's app through the public API, with the account's proof; no proof for an
    // app of another account.
    GroupServiceClient::new(with(&own))
        .describe_group(DescribeGroupRequest {
            app: h.app(),
            group_id: "g".into(),
        })
        .await
        .unwrap();
    let resolved = MembershipServiceClient::new(with(&foreign))
        .resolve_app(livemsg_proto::membership::v1::ResolveAppRequest {
            app_id: h.app_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&resolved), "ResourceNotExist");
    let forged = own.replacen(&h.account.to_string(), &other.to_string(), 1);
    let refused = MembershipServiceClient::new(with(&forged))
        .join_group(join("g"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_weak_token_keeps_the_service_from_starting(pool: PgPool) {
    for (setting, weak) in [
        ("internal.gateway_token", "short"),
        (
            "internal.tier_token",
            "change-me-change-me-change-me-change-me",
        ),
    ] {
        let mut settings = test_settings();
        if setting == "internal.gateway_token" {
            settings.internal.gateway_token = weak.into();
        } else {
            settings.internal.tier_token = weak.into();
        }
        let err = Application::build_with_pool(&settings, pool.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with(setting), "{err}");
    }
}
