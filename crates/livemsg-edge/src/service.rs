//! The edge's way to the service: gRPC clients over one channel with the tier token, and what
//! the edge knows of each app (its key, to check tokens; its account's caller proof, to call the
//! public API for the app's admins), read through `ResolveApp` and kept briefly.

use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::api::v1::group_service_client::GroupServiceClient;
use livemsg_proto::api::v1::member_service_client::MemberServiceClient;
use livemsg_proto::api::v1::message_service_client::MessageServiceClient;
use livemsg_proto::api::v1::moderation_service_client::ModerationServiceClient;
use livemsg_proto::common::v1::{AppRef, Caller};
use livemsg_proto::events::v1::event_service_client::EventServiceClient;
use livemsg_proto::membership::v1::membership_service_client::MembershipServiceClient;
use livemsg_proto::membership::v1::ResolveAppRequest;
use livemsg_proto::messaging::v1::messaging_service_client::MessagingServiceClient;
use livemsg_proto::AuthenticatedChannel;

/// What the edge knows of an app.
#[derive(Debug, Clone)]
pub struct AppInfo {
    pub app_id: String,
    pub app_key: String,
    pub disabled: bool,
    /// The app, as the public API names it (account, caller proof, data center).
    pub app_ref: AppRef,
}

/// Clients of the service's APIs.
#[derive(Debug, Clone)]
pub struct Service {
    channel: AuthenticatedChannel,
    apps: moka::future::Cache<String, Arc<AppInfo>>,
}

impl Service {
    /// Clients over `channel`.
    pub fn new(channel: AuthenticatedChannel) -> Self {
        Service {
            channel,
            // A disabled app is noticed within two seconds by a new login (its connections are
            // told at once, from the app's event stream).
            apps: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(2))
                .build(),
        }
    }

    pub fn membership(&self) -> MembershipServiceClient<AuthenticatedChannel> {
        MembershipServiceClient::new(self.channel.clone())
    }

    pub fn messaging(&self) -> MessagingServiceClient<AuthenticatedChannel> {
        MessagingServiceClient::new(self.channel.clone())
    }

    pub fn events(&self) -> EventServiceClient<AuthenticatedChannel> {
        EventServiceClient::new(self.channel.clone())
    }

    pub fn groups(&self) -> GroupServiceClient<AuthenticatedChannel> {
        GroupServiceClient::new(self.channel.clone())
    }

    pub fn members(&self) -> MemberServiceClient<AuthenticatedChannel> {
        MemberServiceClient::new(self.channel.clone())
    }

    pub fn messages(&self) -> MessageServiceClient<AuthenticatedChannel> {
        MessageServiceClient::new(self.channel.clone())
    }

    pub fn moderation(&self) -> ModerationServiceClient<AuthenticatedChannel> {
        ModerationServiceClient::new(self.channel.clone())
    }

    /// What the edge knows of `app_id` (read at most every two seconds).
    pub async fn app(&self, app_id: &str) -> Result<Arc<AppInfo>, tonic::Status> {
        if let Some(app) = self.apps.get(app_id).await {
            return Ok(app);
        }
        let resolved = self
            .membership()
            .resolve_app(ResolveAppRequest {
                app_id: app_id.to_owned(),
            })
            .await?
            .into_inner();
        let info = Arc::new(AppInfo {
            app_id: app_id.to_owned(),
            app_key: resolved.app_key,
            disabled: resolved.disabled,
            app_ref: AppRef {
                caller: Some(Caller {
                    account_id: resolved.account_id,
                    proof: resolved.caller_proof,
                }),
                app_id: app_id.to_owned(),
                data_center: resolved.data_center,
            },
        });
        self.apps.insert(app_id.to_owned(), info.clone()).await;
        Ok(info)
    }
}
