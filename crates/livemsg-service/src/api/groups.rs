//! `GroupService`: create, describe, modify, delete, recover and list groups.

use livemsg_domain::listing::groups_listing;
use livemsg_domain::{
    Cursor, GroupId, GroupInfo, GroupName, GroupStatus, NumberedPage, SortType, UserId,
};
use livemsg_proto::api::v1::group_service_server::GroupService;
use livemsg_proto::api::v1::{
    CreateGroupRequest, CreateGroupResponse, DeleteGroupRequest, DeleteGroupResponse,
    DescribeGroupRequest, DescribeGroupResponse, GroupDeletion, GroupSummary,
    ListGroupsByPageRequest, ListGroupsByPageResponse, ListGroupsRequest, ListGroupsResponse,
    ModifyGroupRequest, ModifyGroupResponse, RecoverGroupRequest, RecoverGroupResponse,
};
use livemsg_proto::common::v1::GroupState as WireGroupState;
use livemsg_store::{DeleteOutcome, GroupChanges, GroupRecord, NewGroup, RecoverOutcome};
use tonic::{Request, Response, Status};

use super::Api;
use crate::errors::reply;

/// A group as the listings show it.
fn summary(group: GroupRecord) -> GroupSummary {
    GroupSummary {
        group_id: group.group_id,
        group_name: group.group_name,
        group_info: group.group_info,
        creator_id: group.creator_id,
        admin_list: group.admin_list,
        create_time: group.created_at.timestamp(),
        deleted: group.deleted,
    }
}

#[tonic::async_trait]
impl GroupService for Api {
    #[tracing::instrument(skip_all, fields(app.id))]
    async fn create_group(
        &self,
        request: Request<CreateGroupRequest>,
    ) -> Result<Response<CreateGroupResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let creator_id = match req.creator_id.as_str() {
                    "" => None,
                    id => Some(UserId::parse_field("CreatorId", id)?),
                };
                let administrators =
                    livemsg_domain::group::administrators("Administrators", &req.administrators)?;
                let group = NewGroup {
                    group_id: group_id.clone(),
                    group_name: GroupName::parse(&req.group_name)?,
                    group_info: GroupInfo::parse(&req.group_info)?,
                    creator_id,
                    administrators,
                };
                let outcome = self.store.create_group(&scope, group).await?;
                Ok(CreateGroupResponse {
                    group_id: group_id.into_string(),
                    already_exists: outcome.already_exists,
                    already_deleted: outcome.already_deleted,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn describe_group(
        &self,
        request: Request<DescribeGroupRequest>,
    ) -> Result<Response<DescribeGroupResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let group = self.store.describe_group(&scope, &group_id).await?;
                let msg_amount = self
                    .store
                    .message_amounts((scope.app.as_str(), group_id.as_str()))
                    .await?
                    .into_iter()
                    .map(|(msg_type, amount)| (msg_type.to_string(), amount))
                    .collect();
                Ok(DescribeGroupResponse {
                    msg_amount,
                    group_id: group.group_id,
                    group_name: group.group_name,
                    group_info: group.group_info,
                    creator_id: group.creator_id,
                    admin_list: group.admin_list,
                    create_time: group.created_at.timestamp(),
                    deleted: group.deleted,
                    delete_time: group.deleted_at.map_or(0, |t| t.timestamp()),
                    deletor: group.deletor,
                    state: WireGroupState::from(group.state.0).into(),
                    member_count: group.member_count,
                    total_joins: group.total_joins,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn modify_group(
        &self,
        request: Request<ModifyGroupRequest>,
    ) -> Result<Response<ModifyGroupResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let changes = GroupChanges {
                    group_info: req
                        .group_info
                        .as_deref()
                        .map(GroupInfo::parse)
                        .transpose()?,
                    administrators: req
                        .modify_admins
                        .then(|| {
                            livemsg_domain::group::administrators("AdminList", &req.admin_list)
                        })
                        .transpose()?,
                };
                let changed = self.store.modify_group(&scope, &group_id, changes).await?;
                Ok(ModifyGroupResponse { changed })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn delete_group(
        &self,
        request: Request<DeleteGroupRequest>,
    ) -> Result<Response<DeleteGroupResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let operator = match req.operator_id.as_str() {
                    "" => None,
                    id => Some(UserId::parse_field("OperatorId", id)?),
                };
                let (outcome, removed) = match self
                    .store
                    .delete_group(&scope, &group_id, operator.as_ref())
                    .await?
                {
                    DeleteOutcome::Deleted { removed } => (GroupDeletion::Deleted, removed),
                    DeleteOutcome::AlreadyDeleted => (GroupDeletion::AlreadyDeleted, 0),
                    DeleteOutcome::Unknown => (GroupDeletion::Unknown, 0),
                };
                Ok(DeleteGroupResponse {
                    group_id: group_id.into_string(),
                    outcome: outcome.into(),
                    removed: removed as i64,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn recover_group(
        &self,
        request: Request<RecoverGroupRequest>,
    ) -> Result<Response<RecoverGroupResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let outcome = self.store.recover_group(&scope, &group_id).await?;
                Ok(RecoverGroupResponse {
                    group_id: group_id.into_string(),
                    recovered: outcome == RecoverOutcome::Recovered,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn list_groups(
        &self,
        request: Request<ListGroupsRequest>,
    ) -> Result<Response<ListGroupsResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let sort = SortType::new(req.sort_type)?;
                let status = GroupStatus::new(req.group_status)?;
                let listing =
                    groups_listing(scope.app.as_str(), sort == SortType::Descending, status);
                let cursor = Cursor::parse(&listing, req.page_token)?;
                let page = self
                    .store
                    .list_groups(&scope, sort, status, cursor.key())
                    .await?;
                Ok(ListGroupsResponse {
                    groups: page.groups.into_iter().map(summary).collect(),
                    has_more: page.next.is_some(),
                    next_page_token: page.next.map_or(0, |key| Cursor::issue(&listing, key)),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn list_groups_by_page(
        &self,
        request: Request<ListGroupsByPageRequest>,
    ) -> Result<Response<ListGroupsByPageResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let sort = SortType::new(req.sort_type)?;
                let status = GroupStatus::new(req.group_status)?;
                let page = NumberedPage::new(req.page_number, req.page_size)?;
                let listed = self
                    .store
                    .list_groups_by_page(&scope, sort, status, page)
                    .await?;
                Ok(ListGroupsByPageResponse {
                    groups: listed.groups.into_iter().map(summary).collect(),
                    total_count: listed.total,
                    page_number: i64::from(page.number()),
                    page_size: i64::from(page.size()),
                })
            }
            .await,
        )
    }
}
