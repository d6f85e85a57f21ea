//! What the service tests share: settings on free ports, a harness with an account and an app,
//! and short calls.

pub(crate) use livemsg_domain::ErrorCode;
pub(crate) use livemsg_proto::api::v1::app_service_client::AppServiceClient;
pub(crate) use livemsg_proto::api::v1::group_service_client::GroupServiceClient;
pub(crate) use livemsg_proto::api::v1::member_service_client::MemberServiceClient;
pub(crate) use livemsg_proto::api::v1::{
    CreateAppRequest, CreateGroupRequest, DescribeAppRequest, DescribeGroupRequest,
    ListGroupUsersRequest,
};
pub(crate) use livemsg_proto::auth::v1::auth_service_client::AuthServiceClient;
pub(crate) use livemsg_proto::auth::v1::ResolveAccessKeyRequest;
pub(crate) use livemsg_proto::common::v1::GroupState;
pub(crate) use livemsg_proto::common::v1::{AppRef, Caller};
pub(crate) use livemsg_proto::membership::v1::membership_service_client::MembershipServiceClient;
pub(crate) use livemsg_proto::membership::v1::{
    BatchUpdateMembershipRequest, GetGroupCountRequest, JoinGroupRequest, LeaveGroupRequest,
    MembershipItem, Operation,
};
pub(crate) use livemsg_proto::{AuthenticatedChannel, BearerToken};
pub(crate) use livemsg_service::settings::SecretsSettings;
pub(crate) use livemsg_service::{Application, ServiceSettings};
pub(crate) use livemsg_store::{Keyring, Store};
pub(crate) use secrecy::ExposeSecret;
pub(crate) use sqlx::PgPool;
pub(crate) use tonic::transport::Channel;

pub(crate) const TOKEN: &str = "internal-test-credential-0123456789abcdef";
pub(crate) const ADMIN_TOKEN: &str = "admin-test-credential-0123456789abcdef";

/// Settings for a service on free ports with the test token and a fresh secrets key.
pub(crate) fn test_settings() -> ServiceSettings {
    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".to_owned();
    settings.service.metrics_listen = "127.0.0.1:0".to_owned();
    // One token for both roles here; a test of its own keeps the roles apart.
    settings.internal.gateway_token = TOKEN.into();
    settings.internal.tier_token = TOKEN.into();
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    settings
}

pub(crate) struct Harness {
    pub channel: AuthenticatedChannel,
    pub http_addr: std::net::SocketAddr,
    pub plain: Channel,
    pub account: i64,
    /// The service's proof for `account`, as the gateway gets it with a resolved key.
    pub proof: String,
    pub app_id: String,
    pub store: Store,
    /// The service's secrets keyring (what its proofs are signed under).
    pub keyring: Keyring,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub(crate) async fn start(pool: PgPool, threshold: i64) -> Harness {
    start_configured(pool, threshold, |_| {}).await
}

/// [`start`], with settings changed by `configure` first.
pub(crate) async fn start_configured(
    pool: PgPool,
    threshold: i64,
    configure: impl FnOnce(&mut ServiceSettings),
) -> Harness {
    let mut settings = test_settings();
    settings.internal.admin_token = ADMIN_TOKEN.into();
    settings.groups.super_group_threshold = threshold;
    configure(&mut settings);
    let keyring = settings.secrets.keyring().unwrap();
    let store = Store::new(pool.clone(), threshold, keyring.clone());
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
        BearerToken::new(settings.internal.gateway_token.expose_secret()).unwrap(),
    );
    let proof = proof_for(&store, &channel, account).await;
    let created = AppServiceClient::new(channel.clone())
        .create_app(CreateAppRequest {
            caller: Some(Caller {
                account_id: account,
                proof: proof.clone(),
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
        proof,
        app_id: created.app_id,
        store,
        keyring,
        _stop: stop,
    }
}

/// A caller proof for `account`, got as the gateway gets one: by resolving one of its keys.
pub(crate) async fn proof_for(
    store: &Store,
    channel: &AuthenticatedChannel,
    account: i64,
) -> String {
    let key = store.create_access_key(account, None).await.unwrap();
    AuthServiceClient::new(channel.clone())
        .resolve_access_key(ResolveAccessKeyRequest {
            access_key_id: key.access_key_id,
        })
        .await
        .unwrap()
        .into_inner()
        .caller_proof
}

pub(crate) fn code_of(status: &tonic::Status) -> String {
    livemsg_proto::api_error_from_status(status).code_string()
}

impl Harness {
    pub(crate) fn caller(&self) -> Option<Caller> {
        Some(Caller {
            account_id: self.account,
            proof: self.proof.clone(),
        })
    }

    /// The harness's app, for the harness's account.
    pub(crate) fn app(&self) -> Option<AppRef> {
        Some(AppRef {
            caller: self.caller(),
            app_id: self.app_id.clone(),
            data_center: String::new(),
        })
    }

    pub(crate) async fn create_group(&self, group_id: &str) {
        GroupServiceClient::new(self.channel.clone())
            .create_group(CreateGroupRequest {
                app: self.app(),
                group_id: group_id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    pub(crate) async fn join(
        &self,
        group_id: &str,
        user: &str,
    ) -> Result<(bool, i64), tonic::Status> {
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

    pub(crate) async fn list(
        &self,
        group_id: &str,
        sort_type: i64,
        page_token: i64,
    ) -> Result<livemsg_proto::api::v1::ListGroupUsersResponse, tonic::Status> {
        Ok(MemberServiceClient::new(self.channel.clone())
            .list_group_users(ListGroupUsersRequest {
                app: self.app(),
                group_id: group_id.into(),
                page_size: 10,
                sort_type,
                page_token,
            })
            .await?
            .into_inner())
    }
}

/// Waits until `condition` holds, checking every 20 ms for at most 10 s (then fails).
pub(crate) async fn wait_until<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition did not hold within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Locks a group's row in a transaction of its own (membership writers then wait on it) until
/// the transaction is rolled back.
pub(crate) async fn hold_group(
    pool: &PgPool,
    group_id: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM groups WHERE group_id = $1 FOR UPDATE")
        .bind(group_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

/// Waits until exactly `count` sessions of this database wait for a lock.
pub(crate) async fn wait_for_lock_waiters(pool: &PgPool, count: i64) {
    wait_until(|| async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
            == count
    })
    .await;
}

/// How many transactions wrote a group's member rows (distinct `xmin`s).
pub(crate) async fn member_transactions(pool: &PgPool, group_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(DISTINCT m.xmin::text) FROM group_members m JOIN groups g USING (group_pk)
         WHERE g.group_id = $1",
    )
    .bind(group_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Starts another instance of the service on `pool` and returns an event client to it.
pub(crate) async fn another_instance(
    pool: PgPool,
    tune: impl FnOnce(&mut ServiceSettings),
) -> livemsg_proto::events::v1::event_service_client::EventServiceClient<AuthenticatedChannel> {
    let mut settings = test_settings();
    settings.service.event_poll_ms = 20;
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
