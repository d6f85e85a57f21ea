//! `MembershipService`: joins and leaves reported by the connection tier.

use std::collections::HashMap;

use livemsg_domain::{ApiError, AppId, GroupId, MembershipChange, UserId, UserInfo};
use livemsg_proto::common::v1::GroupState as WireGroupState;
use livemsg_proto::membership::v1::membership_service_server::MembershipService;
use livemsg_proto::membership::v1::{
    BatchUpdateMembershipRequest, BatchUpdateMembershipResponse, GetGroupCountRequest,
    GetGroupCountResponse, ItemResult, JoinGroupRequest, LeaveGroupRequest, LogoffReason,
    LogoffRequest, LogoffResponse, LogonRequest, LogonResponse, MembershipItem, MembershipResponse,
    Operation,
};
use livemsg_store::{GroupOps, MembershipOp, Store};
use tonic::{Request, Response, Status};

use crate::batcher::Batcher;
use crate::errors;

/// The most items one batch may carry.
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// Serves membership changes.
#[derive(Debug, Clone)]
pub struct MembershipApi {
    store: Store,
    batcher: Batcher,
}

impl MembershipApi {
    /// A service over `store`; single joins and leaves are committed together by `batcher`.
    pub fn new(store: Store, batcher: Batcher) -> Self {
        MembershipApi { store, batcher }
    }
}

fn response(change: MembershipChange) -> MembershipResponse {
    MembershipResponse {
        changed: change.changed,
        member_count: change.member_count,
        state: WireGroupState::from(change.after).into(),
    }
}

fn parse_ids(app_id: &str, group_id: &str) -> Result<(AppId, GroupId), Status> {
    Ok((
        AppId::parse(app_id).map_err(errors::invalid)?,
        GroupId::parse(group_id).map_err(errors::invalid)?,
    ))
}

/// Checks one batch item; the error names the item's index.
fn parse_item(index: usize, item: &MembershipItem) -> Result<(GroupId, MembershipOp), Status> {
    let at = |err: livemsg_domain::ApiError| {
        errors::invalid(livemsg_domain::ApiError::new(
            err.code,
            format!("items[{index}]: {}", err.message),
        ))
    };
    let group_id = GroupId::parse(&item.group_id).map_err(at)?;
    let user_id = UserId::parse(&item.user_id).map_err(at)?;
    let op = match Operation::try_from(item.operation) {
        Ok(Operation::Join) => MembershipOp::Join {
            user_id,
            user_info: UserInfo::parse(&item.user_info).map_err(at)?,
        },
        Ok(Operation::Leave) => MembershipOp::Leave { user_id },
        _ => {
            return Err(at(livemsg_domain::ApiError::invalid(
                "operation",
                "must be JOIN or LEAVE",
            )))
        }
    };
    Ok((group_id, op))
}

#[tonic::async_trait]
impl MembershipService for MembershipApi {
    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn join_group(
        &self,
        request: Request<JoinGroupRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let req = request.into_inner();
        let (app_id, group_id) = parse_ids(&req.app_id, &req.group_id)?;
        let user_id = UserId::parse(&req.user_id).map_err(errors::invalid)?;
        let user_info = UserInfo::parse(&req.user_info).map_err(errors::invalid)?;
        let change = self
            .batcher
            .apply(app_id, group_id, MembershipOp::Join { user_id, user_info })
            .await
            .map_err(errors::invalid)?;
        Ok(Response::new(response(change)))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn leave_group(
        &self,
        request: Request<LeaveGroupRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let req = request.into_inner();
        let (app_id, group_id) = parse_ids(&req.app_id, &req.group_id)?;
        let user_id = UserId::parse(&req.user_id).map_err(errors::invalid)?;
        let change = self
            .batcher
            .apply(app_id, group_id, MembershipOp::Leave { user_id })
            .await
            .map_err(errors::invalid)?;
        Ok(Response::new(response(change)))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, items = request.get_ref().items.len()))]
    async fn batch_update_membership(
        &self,
        request: Request<BatchUpdateMembershipRequest>,
    ) -> Result<Response<BatchUpdateMembershipResponse>, Status> {
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(errors::invalid)?;
        if req.items.len() > MAX_BATCH_ITEMS {
            return Err(errors::invalid(livemsg_domain::ApiError::invalid(
                "items",
                format_args!("must hold at most {MAX_BATCH_ITEMS} entries"),
            )));
        }
        // Validate everything before applying anything, then group the items by group,
        // keeping each group's items in request order.
        let mut by_group: Vec<(GroupId, Vec<(usize, MembershipOp)>)> = Vec::new();
        let mut slot: HashMap<GroupId, usize> = HashMap::new();
        for (index, item) in req.items.iter().enumerate() {
            let (group_id, op) = parse_item(index, item)?;
            let at = *slot.entry(group_id.clone()).or_insert_with(|| {
                by_group.push((group_id, Vec::new()));
                by_group.len() - 1
            });
            by_group[at].1.push((index, op));
        }

        // All groups in one transaction; a group that does not exist fails alone.
        let ops: Vec<Vec<MembershipOp>> = by_group
            .iter()
            .map(|(_, items)| items.iter().map(|(_, op)| op.clone()).collect())
            .collect();
        let batch: Vec<GroupOps<'_>> = by_group
            .iter()
            .zip(&ops)
            .map(|((group_id, _), ops)| GroupOps {
                app_id: &app_id,
                group_id,
                ops,
            })
            .collect();
        let outcome = self
            .store
            .apply_to_groups(&batch)
            .await
            .map_err(errors::status)?;
        let mut results = vec![ItemResult::default(); req.items.len()];
        for ((_, items), result) in by_group.iter().zip(outcome) {
            match result {
                Ok(changes) => {
                    for ((index, _), change) in items.iter().zip(changes) {
                        let r = response(change);
                        results[*index] = ItemResult {
                            error_code: String::new(),
                            error_message: String::new(),
                            changed: r.changed,
                            member_count: r.member_count,
                            state: r.state,
                        };
                    }
                }
                Err(err) => {
                    let err = errors::api_error(err);
                    for (index, _) in items {
                        results[*index].error_code = err.code_string();
                        results[*index].error_message = err.message.clone();
                    }
                }
            }
        }
        Ok(Response::new(BatchUpdateMembershipResponse { results }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id))]
    async fn logon(
        &self,
        request: Request<LogonRequest>,
    ) -> Result<Response<LogonResponse>, Status> {
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(errors::invalid)?;
        let user_id = UserId::parse(&req.user_id).map_err(errors::invalid)?;
        let session_id = session_id(&req.session_id)?;
        self.store
            .logon(&app_id, &user_id, session_id)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(LogonResponse {}))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id))]
    async fn logoff(
        &self,
        request: Request<LogoffRequest>,
    ) -> Result<Response<LogoffResponse>, Status> {
        let req = request.into_inner();
        let app_id = AppId::parse(&req.app_id).map_err(errors::invalid)?;
        let user_id = UserId::parse(&req.user_id).map_err(errors::invalid)?;
        let session_id = session_id(&req.session_id)?;
        let reason = match LogoffReason::try_from(req.reason) {
            Ok(LogoffReason::Unspecified | LogoffReason::Normal) => 1,
            Ok(LogoffReason::Timeout) => 3,
            Ok(LogoffReason::LoggedOnElsewhere) => 4,
            Err(_) => {
                return Err(errors::invalid(ApiError::invalid(
                    "reason",
                    format_args!("{} is not a LogoffReason", req.reason),
                )))
            }
        };
        let groups_left = self
            .store
            .logoff(&app_id, &user_id, session_id, reason)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(LogoffResponse { groups_left }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn get_group_count(
        &self,
        request: Request<GetGroupCountRequest>,
    ) -> Result<Response<GetGroupCountResponse>, Status> {
        let req = request.into_inner();
        let (app_id, group_id) = parse_ids(&req.app_id, &req.group_id)?;
        let (member_count, state) = self
            .store
            .group_count(&app_id, &group_id)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(GetGroupCountResponse {
            member_count,
            state: WireGroupState::from(state).into(),
        }))
    }
}

/// Checks a session id: up to 128 printable ASCII characters, may be empty.
fn session_id(value: &str) -> Result<&str, Status> {
    if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(errors::invalid(ApiError::invalid(
            "session_id",
            "must be at most 128 printable ASCII characters without spaces",
        )));
    }
    Ok(value)
}
