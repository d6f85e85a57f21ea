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
pub(crate) use sqlx::PgPool;
pub(crate) use tonic::transport::Channel;

pub(crate) const TOKEN: &str = "internal-test-token";
pub(crate) const ADMIN_TOKEN: &str = "admin-test-token";

/// Settings for a service on free ports with the test token and a fresh secrets key.
pub(crate) fn test_settings() -> ServiceSettings {
    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".to_owned();
    settings.service.metrics_listen = "127.0.0.1:0".to_owned();
    settings.internal.token = TOKEN.into();
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    settings
}

pub(crate) struct Harness {
    pub channel: AuthenticatedChannel,
    pub http_addr: std::net::SocketAddr,
    pub plain: Channel,
    pub account: i64,
    pub app_id: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub(crate) async fn start(pool: PgPool, threshold: i64) -> Harness {
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
    let created = AppServiceClient::new(channel.clone())
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

pub(crate) fn code_of(status: &tonic::Status) -> String {
    livemsg_proto::api_error_from_status(status).code_string()
}

impl Harness {
    pub(crate) fn caller(&self) -> Option<Caller> {
        Some(Caller {
            account_id: self.account,
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
