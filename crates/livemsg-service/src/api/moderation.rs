//! `ModerationService`: the group's mute state, and kicks.

use livemsg_domain::AppScope;
use livemsg_domain::{ApiError, GroupId, UserId};
use livemsg_proto::api::v1::moderation_service_server::ModerationService;
use livemsg_proto::api::v1::{
    BanGroupRequest, DescribeGroupBandRequest, GroupBandUsersRequest, KickGroupUserRequest,
    KickGroupUserResponse, ModifyGroupBandRequest, MuteStateResponse, UnbanGroupRequest, UserList,
};
use livemsg_store::{MembershipOp, MuteChange, MuteState};
use tonic::{Request, Response, Status};

use super::Api;
use crate::errors::{reply, Result};

/// The most users one call may name.
const MAX_USERS_PER_CALL: usize = 30;
/// The most users one mute list may hold.
const MAX_MUTE_LIST: usize = 1_000;

/// Checks a list of users named by `field`: 1 to 30 (0 to 30 when `may_be_empty`) valid ids.
fn users(field: &str, list: &[String], may_be_empty: bool) -> Result<Vec<String>> {
    if list.len() > MAX_USERS_PER_CALL || (list.is_empty() && !may_be_empty) {
        let least = if may_be_empty { 0 } else { 1 };
        return Err(ApiError::invalid(
            field,
            format_args!("must list {least} to {MAX_USERS_PER_CALL} users"),
        )
        .into());
    }
    list.iter()
        .map(|u| Ok(UserId::parse_field(field, u)?.into_string()))
        .collect()
}

fn optional_users(field: &str, list: Option<&UserList>) -> Result<Option<Vec<String>>> {
    list.map(|l| users(field, &l.users, true)).transpose()
}

fn response(group_id: &GroupId, state: MuteState, changed: bool) -> MuteStateResponse {
    MuteStateResponse {
        group_id: group_id.to_string(),
        mute_all: state.mute_all,
        muted_users: state.muted,
        exempt_users: state.exempt,
        changed,
    }
}

impl Api {
    /// One mute-changing call: the caller's app and the group checked first, then the change
    /// the request's own fields describe (`change`), applied.
    async fn change_request(
        &self,
        app: Option<&livemsg_proto::common::v1::AppRef>,
        group_id: &str,
        change: impl FnOnce() -> Result<MuteChange>,
    ) -> std::result::Result<Response<MuteStateResponse>, Status> {
        reply(
            async {
                let scope = self.scope(app)?;
                let group_id = GroupId::parse(group_id)?;
                self.change(&scope, &group_id, change()?).await
            }
            .await,
        )
    }

    async fn change(
        &self,
        scope: &AppScope,
        group_id: &GroupId,
        change: MuteChange,
    ) -> Result<MuteStateResponse> {
        let (state, entry) = self
            .store
            .change_mutes(scope, group_id, &change, MAX_MUTE_LIST)
            .await?;
        let changed = entry.is_some();
        if let Some(entry) = entry {
            // Every consumer of the group's stream hears of it, in order with the messages.
            self.messaging.publish_group_entry(&entry).await;
        }
        Ok(response(group_id, state, changed))
    }
}

#[tonic::async_trait]
impl ModerationService for Api {
    #[tracing::instrument(skip_all, fields(app.id))]
    async fn ban_group(
        &self,
        request: Request<BanGroupRequest>,
    ) -> Result<Response<MuteStateResponse>, Status> {
        let req = request.into_inner();
        self.change_request(req.app.as_ref(), &req.group_id, || {
            let except = optional_users("ExceptUsers", req.except_users.as_ref())?;
            Ok(MuteChange::Ban { except })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn unban_group(
        &self,
        request: Request<UnbanGroupRequest>,
    ) -> Result<Response<MuteStateResponse>, Status> {
        let req = request.into_inner();
        self.change_request(req.app.as_ref(), &req.group_id, || Ok(MuteChange::Unban))
            .await
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn add_group_band(
        &self,
        request: Request<GroupBandUsersRequest>,
    ) -> Result<Response<MuteStateResponse>, Status> {
        let req = request.into_inner();
        self.change_request(req.app.as_ref(), &req.group_id, || {
            Ok(MuteChange::Add(users("BannedUsers", &req.users, false)?))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn remove_group_band(
        &self,
        request: Request<GroupBandUsersRequest>,
    ) -> Result<Response<MuteStateResponse>, Status> {
        let req = request.into_inner();
        self.change_request(req.app.as_ref(), &req.group_id, || {
            Ok(MuteChange::Remove(users(
                "UnbannedUsers",
                &req.users,
                false,
            )?))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn modify_group_band(
        &self,
        request: Request<ModifyGroupBandRequest>,
    ) -> Result<Response<MuteStateResponse>, Status> {
        let req = request.into_inner();
        self.change_request(req.app.as_ref(), &req.group_id, || {
            Ok(MuteChange::Set {
                mute_all: req.banned_all,
                muted: optional_users("BannnedUsers", req.banned_users.as_ref())?,
                exempt: optional_users("ExceptUsers", req.except_users.as_ref())?,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn describe_group_band(
        &self,
        request: Request<DescribeGroupBandRequest>,
    ) -> Result<Response<MuteStateResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let state = self.store.mute_state(&scope, &group_id).await?;
                Ok(response(&group_id, state, false))
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn kick_group_user(
        &self,
        request: Request<KickGroupUserRequest>,
    ) -> Result<Response<KickGroupUserResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let user_id = UserId::parse_field("KickoffUser", &req.user_id)?;
                // The group must be a live group of the caller's app.
                let group = self.store.describe_group(&scope, &group_id).await?;
                if group.deleted {
                    return Err(ApiError::not_found("The specified group").into());
                }
                // The same path as any leave: group commit, the outbox, exact counts.
                let change = self
                    .membership
                    .apply(scope.app.clone(), group_id, MembershipOp::Kick { user_id })
                    .await?;
                Ok(KickGroupUserResponse {
                    kicked: change.changed,
                    member_count: change.member_count,
                })
            }
            .await,
        )
    }
}
