//! The gRPC service over real sockets and a fresh Postgres database per test.

use livemsg_domain::ErrorCode;
use livemsg_proto::api::v1::api_service_client::ApiServiceClient;
use livemsg_proto::api::v1::{
    Caller, CreateAppRequest, CreateGroupRequest, DescribeGroupRequest, ListGroupUsersRequest,
};
use livemsg_proto::auth::v1::auth_service_client::AuthServiceClient;
use livemsg_proto::auth::v1::ResolveAccessKeyRequest;
use livemsg_proto::common::v1::GroupState;
use livemsg_proto::membership::v1::membership_service_client::MembershipServiceClient;
use livemsg_proto::membership::v1::{
    BatchUpdateMembershipRequest, GetGroupCountRequest, JoinGroupRequest, LeaveGroupRequest,
    MembershipItem, Operation,
};
use livemsg_proto::{AuthenticatedChannel, BearerToken};
use livemsg_service::settings::SecretsSettings;
use livemsg_service::{Application, ServiceSettings};
use livemsg_store::{Keyring, Store};
use sqlx::PgPool;
use tonic::transport::Channel;

const TOKEN: &str = "internal-test-token";
const ADMIN_TOKEN: &str = "admin-test-token";

/// Settings for a service on free ports with the test token and a fresh secrets key.
fn test_settings() -> ServiceSettings {
    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".to_owned();
    settings.service.metrics_listen = "127.0.0.1:0".to_owned();
    settings.internal.token = TOKEN.into();
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    settings
}

struct Harness {
    channel: AuthenticatedChannel,
    http_addr: std::net::SocketAddr,
    plain: Channel,
    account: i64,
    app_id: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(pool: PgPool, threshold: i64) -> Harness {
    let mut settings = test_settings();
    settings.internal.admin_token = ADMIN_TOKEN.into();
    settings.groups.super_group_threshold = threshold;
    let store = Store::new(pool.clone(), threshold, settings.secrets.keyring().unwrap());
    let account = store.create_account("t").await.unwrap().account_id;
    let app = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = app.local_addr();
    let http_addr = app.http_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = tonic::service::interceptor::InterceptedService::new(
        plain.clone(),
        BearerToken::new(TOKEN).unwrap(),
    );
    let mut api = ApiServiceClient::new(channel.clone());
    let created = api
        .create_app(CreateAppRequest {
            caller: Some(Caller {
                account_id: account,
            }),
            app_name: "demo".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();
    Harness {
        channel,
        http_addr,
        plain,
        account,
        app_id: created.app_id,
        _stop: stop,
    }
}

fn code_of(status: &tonic::Status) -> String {
    livemsg_proto::api_error_from_status(status).code_string()
}

impl Harness {
    fn caller(&self) -> Option<Caller> {
        Some(Caller {
            account_id: self.account,
        })
    }

    async fn create_group(&self, group_id: &str) {
        ApiServiceClient::new(self.channel.clone())
            .create_group(CreateGroupRequest {
                caller: self.caller(),
                app_id: self.app_id.clone(),
                group_id: group_id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn join(&self, group_id: &str, user: &str) -> Result<(bool, i64), tonic::Status> {
        let r = MembershipServiceClient::new(self.channel.clone())
            .join_group(JoinGroupRequest {
                app_id: self.app_id.clone(),
                group_id: group_id.into(),
                user_id: user.into(),
                user_info: format!("info-{user}"),
            })
            .await?
            .into_inner();
        Ok((r.changed, r.member_count))
    }

    async fn list(
        &self,
        group_id: &str,
        sort_type: i32,
        page_token: i64,
    ) -> Result<livemsg_proto::api::v1::ListGroupUsersResponse, tonic::Status> {
        Ok(ApiServiceClient::new(self.channel.clone())
            .list_group_users(ListGroupUsersRequest {
                caller: self.caller(),
                app_id: self.app_id.clone(),
                group_id: group_id.into(),
                page_size: 10,
                sort_type,
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner())
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn joined_users_are_listed_in_join_order_over_grpc(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("room1").await;
    for i in 0..12 {
        assert_eq!(
            h.join("room1", &format!("u{i:02}")).await.unwrap(),
            (true, i + 1)
        );
    }
    assert_eq!(h.join("room1", "u00").await.unwrap(), (false, 12));

    let first = h.list("room1", 1, 0).await.unwrap();
    assert_eq!(first.group_id, "room1");
    assert_eq!(first.users.len(), 10);
    assert_eq!(first.users[0].user_id, "u00");
    assert_eq!(first.users[0].user_info, "info-u00");
    assert!(first.has_more);
    let second = h.list("room1", 1, first.next_page_token).await.unwrap();
    let ids: Vec<_> = second.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["u10", "u11"]);
    assert!(!second.has_more);
    assert_eq!(second.next_page_token, 0);

    let desc = h.list("room1", 2, 0).await.unwrap();
    assert_eq!(desc.users[0].user_id, "u11");

    let left = MembershipServiceClient::new(h.channel.clone())
        .leave_group(LeaveGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "room1".into(),
            user_id: "u05".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(left.changed);
    assert_eq!(left.member_count, 11);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn errors_carry_their_api_codes(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("room1").await;
    let unknown_group = h.join("nope", "u1").await.unwrap_err();
    assert_eq!(code_of(&unknown_group), "ResourceNotExist");
    assert_eq!(unknown_group.code(), tonic::Code::NotFound);

    let bad_user = h.join("room1", "bad user").await.unwrap_err();
    assert_eq!(code_of(&bad_user), "InputInvalid");
    assert!(bad_user.message().contains("UserId"));

    let bad_sort = h.list("room1", 3, 0).await.unwrap_err();
    assert_eq!(code_of(&bad_sort), "InputInvalid");
    assert!(bad_sort.message().contains("SortType"));

    // Another account does not see this app.
    let other = ApiServiceClient::new(h.channel.clone())
        .describe_group(DescribeGroupRequest {
            caller: Some(Caller {
                account_id: h.account + 1,
            }),
            app_id: h.app_id.clone(),
            group_id: "room1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&other), "ResourceNotExist");

    let unknown_key = AuthServiceClient::new(h.channel.clone())
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: "LTAInothere".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        livemsg_proto::api_error_from_status(&unknown_key).code,
        ErrorCode::InvalidAccessKeyIdNotFound
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_super_group_answers_super_large_group_and_counts_exactly(pool: PgPool) {
    let h = start(pool, 10).await;
    h.create_group("big").await;
    let items: Vec<MembershipItem> = (0..11)
        .map(|i| MembershipItem {
            operation: Operation::Join.into(),
            group_id: "big".into(),
            user_id: format!("u{i}"),
            user_info: String::new(),
        })
        .collect();
    let results = MembershipServiceClient::new(h.channel.clone())
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results.len(), 11);
    assert_eq!(results[10].state, i32::from(GroupState::Super));
    assert_eq!(results[9].state, i32::from(GroupState::Normal));

    let listing = h.list("big", 1, 0).await.unwrap_err();
    assert_eq!(code_of(&listing), "SuperLargeGroup");
    let count = MembershipServiceClient::new(h.channel.clone())
        .get_group_count(GetGroupCountRequest {
            app_id: h.app_id.clone(),
            group_id: "big".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.member_count, 11);
    assert_eq!(count.state, i32::from(GroupState::Super));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_batch_applies_valid_groups_and_reports_missing_ones_per_item(pool: PgPool) {
    let h = start(pool, 2_000).await;
    h.create_group("a").await;
    let item = |op: Operation, group: &str, user: &str| MembershipItem {
        operation: op.into(),
        group_id: group.into(),
        user_id: user.into(),
        user_info: String::new(),
    };
    let mut client = MembershipServiceClient::new(h.channel.clone());
    let results = client
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items: vec![
                item(Operation::Join, "a", "x"),
                item(Operation::Join, "missing", "x"),
                item(Operation::Join, "a", "y"),
                item(Operation::Leave, "a", "x"),
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results[0].member_count, 1);
    assert_eq!(results[1].error_code, "ResourceNotExist");
    assert_eq!(results[2].member_count, 2);
    assert!(results[3].changed);
    assert_eq!(results[3].member_count, 1);

    // One malformed item rejects the whole batch, and nothing of it is applied.
    let rejected = client
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: h.app_id.clone(),
            items: vec![
                item(Operation::Join, "a", "z"),
                item(Operation::Unspecified, "a", "w"),
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&rejected), "InputInvalid");
    assert!(rejected.message().starts_with("items[1]"));
    let page = h.list("a", 1, 0).await.unwrap();
    let ids: Vec<_> = page.users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["y"]);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_admin_api_manages_ram_users_keys_and_policies(pool: PgPool) {
    use livemsg_proto::admin::v1::admin_service_client::AdminServiceClient;
    use livemsg_proto::admin::v1::*;
    let h = start(pool, 2_000).await;
    // The admin API takes its own token: the gateway's is not enough.
    let refused = AdminServiceClient::new(h.channel.clone())
        .create_account(CreateAccountRequest { name: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut admin = AdminServiceClient::with_interceptor(
        h.plain.clone(),
        BearerToken::new(ADMIN_TOKEN).unwrap(),
    );
    let mut auth = AuthServiceClient::new(h.channel.clone());

    let account = admin
        .create_account(CreateAccountRequest { name: "t2".into() })
        .await
        .unwrap()
        .into_inner();
    let root = auth
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: account.access_key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(root.access_key_secret, account.access_key_secret);
    assert_eq!(root.user_name, "");

    let id = account.account_id;
    admin
        .create_ram_user(CreateRamUserRequest {
            account_id: id,
            user_name: "ops".into(),
        })
        .await
        .unwrap();
    let bad = admin
        .create_policy(CreatePolicyRequest {
            account_id: id,
            policy_name: "bad".into(),
            document:
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"x"}]}"#
                    .into(),
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&bad), "InputInvalid");
    assert!(
        bad.message().contains("Statement[0].Resource"),
        "{}",
        bad.message()
    );

    let document =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"live:*","Resource":"*"}]}"#;
    admin
        .create_policy(CreatePolicyRequest {
            account_id: id,
            policy_name: "all".into(),
            document: document.into(),
        })
        .await
        .unwrap();
    admin
        .attach_policy(AttachPolicyRequest {
            account_id: id,
            user_name: "ops".into(),
            policy_name: "all".into(),
        })
        .await
        .unwrap();
    let key = admin
        .create_access_key(CreateAccessKeyRequest {
            account_id: id,
            user_name: "ops".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let resolved = auth
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: key.access_key_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.user_name, "ops");
    assert_eq!(resolved.policies, vec![document.to_owned()]);

    let missing = admin
        .attach_policy(AttachPolicyRequest {
            account_id: id,
            user_name: "nobody".into(),
            policy_name: "all".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&missing), "ResourceNotExist");

    admin
        .set_access_key_enabled(SetAccessKeyEnabledRequest {
            access_key_id: key.access_key_id.clone(),
            enabled: false,
        })
        .await
        .unwrap();
    admin
        .delete_access_key(DeleteAccessKeyRequest {
            access_key_id: key.access_key_id.clone(),
        })
        .await
        .unwrap();
    let gone = auth
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: key.access_key_id,
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&gone), "InvalidAccessKeyId.NotFound");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn internal_calls_need_the_token_but_health_and_reflection_do_not(pool: PgPool) {
    use livemsg_proto::api::v1::DescribeAppRequest;
    let h = start(pool, 2_000).await;
    let describe = || DescribeAppRequest {
        caller: h.caller(),
        app_id: h.app_id.clone(),
        ..Default::default()
    };
    let refused = ApiServiceClient::new(h.plain.clone())
        .describe_app(describe())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let wrong = ApiServiceClient::with_interceptor(
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
    ApiServiceClient::new(h.channel.clone())
        .describe_app(describe())
        .await
        .unwrap();

    // Health: open, and SERVING for the server and each service.
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let mut health = HealthClient::new(h.plain.clone());
    for service in [
        "",
        "livemsg.api.v1.ApiService",
        "livemsg.membership.v1.MembershipService",
    ] {
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

    // Reflection: open, and it lists every service, so grpcurl works without the protos.
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
    for expected in [
        "livemsg.api.v1.ApiService",
        "livemsg.membership.v1.MembershipService",
        "livemsg.auth.v1.AuthService",
        "livemsg.admin.v1.AdminService",
        "grpc.health.v1.Health",
    ] {
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
        metrics.contains("livemsg_grpc_requests_total{method=\"/livemsg.api.v1.ApiService/CreateGroup\",code=\"0\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("livemsg_grpc_request_duration_seconds_bucket"));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_service_without_a_token_refuses_to_start(pool: PgPool) {
    let mut settings = test_settings();
    settings.internal.token = "".into();
    let err = Application::build_with_pool(&settings, pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("internal.token"), "{err}");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn shutdown_drains_then_finishes_in_flight_calls(pool: PgPool) {
    let mut settings = test_settings();
    settings.service.shutdown_delay_ms = 400;
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
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // Draining: not ready, but still answering.
    assert_eq!(
        http.get(format!("http://{http_addr}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
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
async fn without_an_admin_token_the_admin_api_is_closed(pool: PgPool) {
    use livemsg_proto::admin::v1::admin_service_client::AdminServiceClient;
    use livemsg_proto::admin::v1::CreateAccountRequest;
    let settings = test_settings();
    let app = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = AdminServiceClient::with_interceptor(channel, BearerToken::new(TOKEN).unwrap())
        .create_account(CreateAccountRequest { name: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().contains("internal.admin_token"));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_on_any_instance_sees_every_event_in_order(pool: PgPool) {
    use livemsg_proto::events::v1::event_service_client::EventServiceClient;
    use livemsg_proto::events::v1::{EventKind, WatchGroupEventsRequest};
    let h = start(pool.clone(), 2_000).await;
    h.create_group("room").await;
    h.join("room", "early1").await.unwrap();
    h.join("room", "early2").await.unwrap();

    // A second instance of the service on the same database.
    let mut settings = test_settings();
    settings.service.event_poll_ms = 20;
    settings.groups.count_event_interval_ms = 100;
    let other = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = other.local_addr();
    tokio::spawn(other.run_until_stopped(std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut events =
        EventServiceClient::with_interceptor(channel.clone(), BearerToken::new(TOKEN).unwrap());
    let watch = |from_seq| WatchGroupEventsRequest {
        app_id: h.app_id.clone(),
        group_id: "room".into(),
        from_seq,
    };

    let mut stream = events
        .watch_group_events(watch(1))
        .await
        .unwrap()
        .into_inner();
    // Replayed from the outbox...
    for (seq, user) in [(1, "early1"), (2, "early2")] {
        let event = stream.message().await.unwrap().unwrap();
        assert_eq!((event.seq, event.user_id.as_str()), (seq, user));
        assert_eq!(event.kind(), EventKind::UserEntered);
        assert_eq!(event.member_count, seq);
    }
    // ...then live, for changes made through the first instance.
    h.join("room", "late").await.unwrap();
    let left = MembershipServiceClient::new(h.channel.clone())
        .leave_group(LeaveGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            user_id: "early1".into(),
        })
        .await
        .unwrap();
    assert!(left.into_inner().changed);
    let late = tokio::time::timeout(std::time::Duration::from_secs(5), stream.message())
        .await
        .expect("a live event arrives")
        .unwrap()
        .unwrap();
    assert_eq!(
        (late.seq, late.user_id.as_str(), late.member_count),
        (3, "late", 3)
    );
    assert_eq!(late.user_info, "info-late");
    let gone = stream.message().await.unwrap().unwrap();
    assert_eq!((gone.seq, gone.kind()), (4, EventKind::UserLeft));
    assert_eq!(gone.member_count, 2);

    // Resuming after the last seen skips what was seen.
    let mut resumed = events
        .watch_group_events(watch(4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.message().await.unwrap().unwrap().seq, 4);

    // Past the threshold the group's users are no longer reported one by one; its count is,
    // at most once per interval (100 ms on the second instance).
    let items: Vec<MembershipItem> = (0..3000)
        .map(|i| MembershipItem {
            operation: Operation::Join.into(),
            group_id: "room".into(),
            user_id: format!("crowd{i}"),
            user_info: String::new(),
        })
        .collect();
    for chunk in items.chunks(1000) {
        MembershipServiceClient::new(h.channel.clone())
            .batch_update_membership(BatchUpdateMembershipRequest {
                app_id: h.app_id.clone(),
                items: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    let mut tail = events
        .watch_group_events(watch(5))
        .await
        .unwrap()
        .into_inner();
    let mut entered = 0;
    let upgrade = loop {
        let event = next_event(&mut tail).await;
        match event.kind() {
            EventKind::UserEntered => entered += 1,
            EventKind::BecameSuper => break event,
            other => panic!("unexpected {other:?} before the upgrade"),
        }
    };
    assert_eq!(entered, 1_998, "members 3..=2000 were reported one by one");
    assert_eq!(upgrade.member_count, 2_001);
    let report = loop {
        let event = next_event(&mut tail).await;
        assert_eq!(
            event.kind(),
            EventKind::MemberCount,
            "no per-user events while super"
        );
        if event.member_count == 3_002 {
            break event;
        }
    };
    assert!(report.seq > upgrade.seq);

    // Unknown groups and callers without the token are refused.
    let mut unknown = watch(1);
    unknown.group_id = "nope".into();
    let err = events.watch_group_events(unknown).await.unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
    let err = EventServiceClient::new(channel)
        .watch_group_events(watch(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

async fn next_event(
    stream: &mut tonic::Streaming<livemsg_proto::events::v1::GroupEvent>,
) -> livemsg_proto::events::v1::GroupEvent {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("events keep coming")
        .unwrap()
        .expect("the stream stays open")
}

/// Starts another instance of the service on `pool` and returns an event client to it.
async fn another_instance(
    pool: PgPool,
    tune: impl FnOnce(&mut ServiceSettings),
) -> livemsg_proto::events::v1::event_service_client::EventServiceClient<AuthenticatedChannel> {
    let mut settings = test_settings();
    settings.service.event_poll_ms = 20;
    settings.events.sequence_interval_ms = 20;
    tune(&mut settings);
    let other = Application::build_with_pool(&settings, pool).await.unwrap();
    let addr = other.local_addr();
    tokio::spawn(other.run_until_stopped(std::future::pending()));
    // HTTP/2's smallest windows, so a watcher that does not read pushes back at once.
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    livemsg_proto::events::v1::event_service_client::EventServiceClient::new(
        tonic::service::interceptor::InterceptedService::new(
            channel,
            BearerToken::new(TOKEN).unwrap(),
        ),
    )
}

fn resume_from(status: &tonic::Status) -> i64 {
    status
        .metadata()
        .get("x-livemsg-resume-from")
        .expect("the status says where to resume")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn app_watchers_on_two_instances_see_one_identical_stream(pool: PgPool) {
    use livemsg_proto::events::v1::{EventKind, WatchAppEventsRequest};
    use livemsg_proto::membership::v1::{LogoffReason, LogoffRequest, LogonRequest};
    let h = start(pool.clone(), 2_000).await;
    let mut one = another_instance(pool.clone(), |_| {}).await;
    let mut two = another_instance(pool, |_| {}).await;
    h.create_group("a").await;
    h.create_group("b").await;
    let mut membership = MembershipServiceClient::new(h.channel.clone());
    membership
        .logon(LogonRequest {
            app_id: h.app_id.clone(),
            user_id: "viewer".into(),
            session_id: "sess-1".into(),
        })
        .await
        .unwrap();
    let watch = || WatchAppEventsRequest {
        app_id: h.app_id.clone(),
        from_seq: 1,
    };
    let mut first = one.watch_app_events(watch()).await.unwrap().into_inner();
    // Changes race over two groups while both watchers follow.
    let mut tasks = Vec::new();
    for i in 0..20 {
        for group in ["a", "b"] {
            let mut membership = MembershipServiceClient::new(h.channel.clone());
            let app_id = h.app_id.clone();
            tasks.push(tokio::spawn(async move {
                membership
                    .join_group(JoinGroupRequest {
                        app_id,
                        group_id: group.into(),
                        user_id: format!("u{i}"),
                        user_info: String::new(),
                    })
                    .await
                    .unwrap();
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    membership
        .join_group(JoinGroupRequest {
            app_id: h.app_id.clone(),
            group_id: "a".into(),
            user_id: "viewer".into(),
            user_info: String::new(),
        })
        .await
        .unwrap();
    membership
        .logoff(LogoffRequest {
            app_id: h.app_id.clone(),
            user_id: "viewer".into(),
            session_id: "sess-1".into(),
            reason: LogoffReason::Timeout.into(),
        })
        .await
        .unwrap();
    let mut second = two.watch_app_events(watch()).await.unwrap().into_inner();
    // 1 logon, 41 joins, 1 logoff, 1 leave that follows from it.
    let mut streams = Vec::new();
    for stream in [&mut first, &mut second] {
        let mut events = Vec::new();
        for _ in 0..44 {
            events.push(next_event(stream).await);
        }
        streams.push(events);
    }
    assert_eq!(streams[0], streams[1], "both instances tell the same story");
    let events = &streams[0];
    assert_eq!(
        events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        (1..=44).collect::<Vec<_>>()
    );
    assert_eq!(events[0].kind(), EventKind::Logon);
    assert_eq!(events[0].session_id, "sess-1");
    let logoff = &events[42];
    assert_eq!(
        (logoff.kind(), logoff.logoff_reason),
        (EventKind::Logoff, 3)
    );
    assert_eq!(
        (
            events[43].kind(),
            events[43].group_id.as_str(),
            events[43].user_id.as_str()
        ),
        (EventKind::UserLeft, "a", "viewer")
    );
    for group in ["a", "b"] {
        let seqs: Vec<i64> = events
            .iter()
            .filter(|e| e.group_id == group)
            .map(|e| e.seq)
            .collect();
        let expected = if group == "a" { 22 } else { 20 };
        assert_eq!(seqs, (1..=expected).collect::<Vec<_>>(), "group {group}");
    }
    // Unknown apps are refused at once.
    let err = one
        .watch_app_events(WatchAppEventsRequest {
            app_id: "nosuchapp".into(),
            from_seq: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_that_stops_reading_is_told_where_to_resume(pool: PgPool) {
    use livemsg_proto::events::v1::WatchGroupEventsRequest;
    let h = start(pool.clone(), 100_000).await;
    let mut events = another_instance(pool, |s| s.events.watcher_stall_ms = 200).await;
    h.create_group("room").await;
    // More events than the service's buffer and the connection's flow-control window hold.
    let total = 6_000;
    let items: Vec<MembershipItem> = (0..total)
        .map(|i| MembershipItem {
            operation: Operation::Join.into(),
            group_id: "room".into(),
            user_id: format!("user{i}"),
            user_info: "x".repeat(500),
        })
        .collect();
    for chunk in items.chunks(1000) {
        MembershipServiceClient::new(h.channel.clone())
            .batch_update_membership(BatchUpdateMembershipRequest {
                app_id: h.app_id.clone(),
                items: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    let watch = |from_seq| WatchGroupEventsRequest {
        app_id: h.app_id.clone(),
        group_id: "room".into(),
        from_seq,
    };
    let mut stream = events
        .watch_group_events(watch(1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut stream).await.seq, 1);
    // The watcher stops reading for a while.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let mut expected = 2;
    let status = loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
            .await
            .expect("the stream ends with a status, it does not hang");
        match message {
            Ok(Some(event)) => {
                assert_eq!(event.seq, expected, "in order, nothing skipped");
                expected += 1;
            }
            Ok(None) => panic!("the stream ended without saying why"),
            Err(status) => break status,
        }
    };
    assert!(expected <= total, "it was stopped before the end");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status.metadata().get("x-livemsg-code").unwrap(),
        "WatcherFellBehind"
    );
    assert_eq!(
        resume_from(&status),
        expected,
        "resume right after the last event read"
    );
    let mut resumed = events
        .watch_group_events(watch(expected))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut resumed).await.seq, expected);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_watcher_asking_for_pruned_events_is_told_where_to_resume(pool: PgPool) {
    use livemsg_proto::events::v1::WatchGroupEventsRequest;
    let h = start(pool.clone(), 2_000).await;
    let store = Store::new(pool.clone(), 2_000, Keyring::generate());
    let mut events = another_instance(pool, |_| {}).await;
    h.create_group("room").await;
    for user in ["a", "b", "c"] {
        h.join("room", user).await.unwrap();
    }
    // Once numbered in the app's stream, with no callback waiting, they may be pruned.
    let app_id = livemsg_domain::AppId::parse(&h.app_id).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.app_events(&app_id, 1, 10).await.unwrap().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "the sequencer runs");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        store
            .prune_events(std::time::Duration::ZERO, 100)
            .await
            .unwrap(),
        3
    );
    h.join("room", "d").await.unwrap();
    let mut stream = events
        .watch_group_events(WatchGroupEventsRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange);
    assert_eq!(
        status.metadata().get("x-livemsg-code").unwrap(),
        "EventsExpired"
    );
    assert_eq!(resume_from(&status), 4);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn concurrent_single_joins_and_leaves_are_committed_together_and_counted_exactly(
    pool: PgPool,
) {
    let h = start(pool.clone(), 2_000).await;
    for group in ["g0", "g1", "g2", "g3"] {
        h.create_group(group).await;
    }
    // 400 joins and 100 leaves from 64 callers at once.
    let mut tasks = Vec::new();
    for worker in 0..64usize {
        let channel = h.channel.clone();
        let app_id = h.app_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut membership = MembershipServiceClient::new(channel);
            let mut i = worker;
            while i < 400 {
                let group = format!("g{}", i % 4);
                let joined = membership
                    .join_group(JoinGroupRequest {
                        app_id: app_id.clone(),
                        group_id: group.clone(),
                        user_id: format!("u{i}"),
                        user_info: String::new(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert!(joined.changed);
                if i % 4 == 0 {
                    let left = membership
                        .leave_group(LeaveGroupRequest {
                            app_id: app_id.clone(),
                            group_id: group,
                            user_id: format!("u{i}"),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    assert!(left.changed);
                }
                i += 64;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = Store::new(pool, 2_000, Keyring::generate());
    let app_id = livemsg_domain::AppId::parse(&h.app_id).unwrap();
    for (group, members, events) in [
        ("g0", 0, 200),
        ("g1", 100, 100),
        ("g2", 100, 100),
        ("g3", 100, 100),
    ] {
        let group_id = livemsg_domain::GroupId::parse(group).unwrap();
        let (count, _) = store.group_count(&app_id, &group_id).await.unwrap();
        assert_eq!(count, members, "{group}");
        let seqs: Vec<i64> = store
            .group_events(&app_id, &group_id, 1, 1_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        // g0: 100 entered, 100 left, and it closed after each leave emptied it or not: count
        // the gapless numbering rather than the kinds.
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{group}");
        assert!(seqs.len() as i64 >= events, "{group}");
    }
    // A missing group fails alone, with its own error.
    let err = h.join("nope", "x").await.unwrap_err();
    assert_eq!(code_of(&err), "ResourceNotExist");
}
