//! `GroupService`: create groups and describe them.

use livemsg_domain::{GroupId, GroupInfo, GroupName, UserId};
use livemsg_proto::api::v1::group_service_server::GroupService;
use livemsg_proto::api::v1::{
    CreateGroupRequest, CreateGroupResponse, DescribeGroupRequest, DescribeGroupResponse,
};
use livemsg_proto::common::v1::GroupState as WireGroupState;
use livemsg_store::NewGroup;
use tonic::{Request, Response, Status};

use super::Api;
use crate::errors::reply;

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
                Ok(DescribeGroupResponse {
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
}
