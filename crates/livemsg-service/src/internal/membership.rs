//! `MembershipService`: joins, leaves, logons and logoffs reported by the connection tier.

use livemsg_domain::{ApiError, AppId, GroupId, MembershipChange, UserId, UserInfo};
use livemsg_proto::common::v1::GroupState as WireGroupState;
use livemsg_proto::membership::v1::membership_service_server::MembershipService;
use livemsg_proto::membership::v1::{
    BatchUpdateMembershipRequest, BatchUpdateMembershipResponse, GetGroupCountRequest,
    GetGroupCountResponse, ItemResult, JoinGroupRequest, LeaveGroupRequest,
    LogoffReason as WireReason, LogoffRequest, LogoffResponse, LogonRequest, LogonResponse,
    MembershipItem, MembershipResponse, Operation, ResolveAppRequest, ResolveAppResponse,
};
use livemsg_store::{MembershipOp, Store};
use tonic::{Request, Response, Status};

use super::tier::TierGuard;
use crate::errors::{reply, Result};
use crate::usecases::membership::{check_batch_size, LogoffReason, Membership};

/// Serves membership changes.
#[derive(Debug, Clone)]
pub(crate) struct MembershipApi {
    store: Store,
    membership: Membership,
    tier: TierGuard,
    proofs: crate::proofs::Proofs,
}

impl MembershipApi {
    /// A service over `store`, changing membership through `membership`.
    /// `proofs` signs the caller proofs `ResolveApp` hands out.
    pub(crate) fn new(store: Store, membership: Membership, proofs: crate::proofs::Proofs) -> Self {
        MembershipApi {
            tier: TierGuard::new(store.clone()),
            store,
            membership,
            proofs,
        }
    }
}

fn response(change: MembershipChange) -> MembershipResponse {
    MembershipResponse {
        changed: change.changed,
        member_count: change.member_count,
        state: WireGroupState::from(change.after).into(),
    }
}

fn parse_ids(app_id: &str, group_id: &str) -> Result<(AppId, GroupId)> {
    Ok((AppId::parse(app_id)?, GroupId::parse(group_id)?))
}

/// Checks one batch item; the error names the item's index.
fn parse_item(index: usize, item: &MembershipItem) -> Result<(GroupId, MembershipOp), ApiError> {
    let at = |err: ApiError| ApiError::new(err.code, format!("items[{index}]: {}", err.message));
    let group_id = GroupId::parse(&item.group_id).map_err(at)?;
    let user_id = UserId::parse(&item.user_id).map_err(at)?;
    let op = match Operation::try_from(item.operation) {
        Ok(Operation::Join) => MembershipOp::Join {
            user_id,
            user_info: UserInfo::parse(&item.user_info).map_err(at)?,
        },
        Ok(Operation::Leave) => MembershipOp::Leave { user_id },
        _ => return Err(at(ApiError::invalid("operation", "must be JOIN or LEAVE"))),
    };
    Ok((group_id, op))
}

/// The result of an item that failed.
fn failed_item(err: ApiError) -> ItemResult {
    ItemResult {
        error_code: err.code_string(),
        error_message: err.message,
        ..ItemResult::default()
    }
}

/// Checks who logs on or off: the app, the user and the session id (up to 128 printable ASCII
/// characters, may be empty).
fn session<'a>(
    app_id: &str,
    user_id: &str,
    session_id: &'a str,
) -> Result<(AppId, UserId, &'a str)> {
    let app_id = AppId::parse(app_id)?;
    let user_id = UserId::parse(user_id)?;
    if session_id.len() > 128 || !session_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "session_id",
            "must be at most 128 printable ASCII characters without spaces",
        )
        .into());
    }
    Ok((app_id, user_id, session_id))
}

#[tonic::async_trait]
impl MembershipService for MembershipApi {
    #[tracing::instrument(skip_all)]
    async fn join_group(
        &self,
        request: Request<JoinGroupRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let (app_id, group_id) = parse_ids(&req.app_id, &req.group_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let user_id = UserId::parse(&req.user_id)?;
                let user_info = UserInfo::parse(&req.user_info)?;
                let op = MembershipOp::Join { user_id, user_info };
                Ok(response(self.membership.apply(app_id, group_id, op).await?))
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn leave_group(
        &self,
        request: Request<LeaveGroupRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let (app_id, group_id) = parse_ids(&req.app_id, &req.group_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let user_id = UserId::parse(&req.user_id)?;
                let op = MembershipOp::Leave { user_id };
                Ok(response(self.membership.apply(app_id, group_id, op).await?))
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(items = request.get_ref().items.len()))]
    async fn batch_update_membership(
        &self,
        request: Request<BatchUpdateMembershipRequest>,
    ) -> Result<Response<BatchUpdateMembershipResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                self.tier.admit(scope?, &app_id).await?;
                check_batch_size(req.items.len())?;
                // A malformed item fails alone, in its result; the others are applied.
                let mut results = vec![ItemResult::default(); req.items.len()];
                let mut valid = Vec::with_capacity(req.items.len());
                let mut positions = Vec::with_capacity(req.items.len());
                for (index, item) in req.items.iter().enumerate() {
                    match parse_item(index, item) {
                        Ok(parsed) => {
                            valid.push(parsed);
                            positions.push(index);
                        }
                        Err(err) => results[index] = failed_item(err),
                    }
                }
                let outcome = self.membership.apply_batch(&app_id, valid).await?;
                for (index, result) in positions.into_iter().zip(outcome) {
                    results[index] = match result {
                        Ok(change) => {
                            let r = response(change);
                            ItemResult {
                                error_code: String::new(),
                                error_message: String::new(),
                                changed: r.changed,
                                member_count: r.member_count,
                                state: r.state,
                            }
                        }
                        Err(err) => failed_item(err),
                    };
                }
                Ok(BatchUpdateMembershipResponse { results })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn logon(
        &self,
        request: Request<LogonRequest>,
    ) -> Result<Response<LogonResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let (app_id, user_id, session_id) =
                    session(&req.app_id, &req.user_id, &req.session_id)?;
                self.tier.admit(scope?, &app_id).await?;
                self.membership.logon(&app_id, &user_id, session_id).await?;
                Ok(LogonResponse {})
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn logoff(
        &self,
        request: Request<LogoffRequest>,
    ) -> Result<Response<LogoffResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let (app_id, user_id, session_id) =
                    session(&req.app_id, &req.user_id, &req.session_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let reason = match WireReason::try_from(req.reason) {
                    Ok(WireReason::Unspecified | WireReason::Normal) => LogoffReason::Normal,
                    Ok(WireReason::Timeout) => LogoffReason::Timeout,
                    Ok(WireReason::LoggedOnElsewhere) => LogoffReason::LoggedOnElsewhere,
                    Err(_) => {
                        return Err(ApiError::invalid(
                            "reason",
                            format_args!("{} is not a LogoffReason", req.reason),
                        )
                        .into())
                    }
                };
                let groups_left = self
                    .membership
                    .logoff(&app_id, &user_id, session_id, reason)
                    .await?;
                Ok(LogoffResponse { groups_left })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn get_group_count(
        &self,
        request: Request<GetGroupCountRequest>,
    ) -> Result<Response<GetGroupCountResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let (app_id, group_id) = parse_ids(&req.app_id, &req.group_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let (member_count, state) = self.store.group_count(&app_id, &group_id).await?;
                Ok(GetGroupCountResponse {
                    member_count,
                    state: WireGroupState::from(state).into(),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_app(
        &self,
        request: Request<ResolveAppRequest>,
    ) -> Result<Response<ResolveAppResponse>, Status> {
        let scope = TierGuard::scope(&request);
        let req = request.into_inner();
        reply(
            async {
                let app_id = AppId::parse(&req.app_id)?;
                self.tier.admit(scope?, &app_id).await?;
                let app = self
                    .store
                    .app_by_id(app_id.as_str())
                    .await?
                    .ok_or(livemsg_store::StoreError::AppNotFound)?;
                let now = chrono::Utc::now().timestamp();
                Ok(ResolveAppResponse {
                    caller_proof: self.proofs.caller_proof(app.account_id, now),
                    app_key: app.app_key,
                    app_sign: app.app_sign,
                    disabled: app.disabled,
                    account_id: app.account_id,
                    data_center: app.data_center,
                })
            }
            .await,
        )
    }
}
