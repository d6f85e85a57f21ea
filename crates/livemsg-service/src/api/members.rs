//! `MemberService`: who is in a group, page by page, who of some users is in a group or logged
//! on, and a user's info in all its groups.

use std::collections::HashSet;

use livemsg_domain::{GroupId, PageSize, PageToken, SortType, UserId, UserInfo};
use livemsg_proto::api::v1::member_service_server::MemberService;
use livemsg_proto::api::v1::{
    CheckUsersInGroupRequest, CheckUsersInGroupResponse, CheckUsersOnlineRequest,
    CheckUsersOnlineResponse, GroupUser, ListGroupUsersRequest, ListGroupUsersResponse,
    ModifyUserInfoRequest, ModifyUserInfoResponse, UserPresence,
};
use livemsg_store::PageRequest;
use tonic::{Request, Response, Status};

use super::{user_list, Api};
use crate::errors::reply;

/// `ids` in their order, marking those in `present`.
fn presence(ids: Vec<String>, present: &HashSet<String>) -> Vec<UserPresence> {
    ids.into_iter()
        .map(|user_id| UserPresence {
            present: present.contains(&user_id),
            user_id,
        })
        .collect()
}

#[tonic::async_trait]
impl MemberService for Api {
    #[tracing::instrument(skip_all, fields(app.id))]
    async fn list_group_users(
        &self,
        request: Request<ListGroupUsersRequest>,
    ) -> Result<Response<ListGroupUsersResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                let page = PageRequest {
                    size: PageSize::new(req.page_size)?,
                    sort: SortType::new(req.sort_type)?,
                    token: PageToken::new(req.page_token)?,
                };
                let result = self.store.list_group_users(&scope, &group_id, page).await?;
                let next_page_token = result.next_page_token();
                Ok(ListGroupUsersResponse {
                    group_id: group_id.into_string(),
                    users: result
                        .users
                        .into_iter()
                        .map(|(user_id, user_info)| GroupUser { user_id, user_info })
                        .collect(),
                    next_page_token,
                    has_more: next_page_token != 0,
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn check_users_in_group(
        &self,
        request: Request<CheckUsersInGroupRequest>,
    ) -> Result<Response<CheckUsersInGroupResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let group_id = GroupId::parse(&req.group_id)?;
                user_list(&req.user_ids)?;
                let members = self
                    .store
                    .members_among(&scope, &group_id, &req.user_ids)
                    .await?;
                Ok(CheckUsersInGroupResponse {
                    users: presence(req.user_ids, &members),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn check_users_online(
        &self,
        request: Request<CheckUsersOnlineRequest>,
    ) -> Result<Response<CheckUsersOnlineResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                user_list(&req.user_ids)?;
                let online = self.store.online_among(&scope, &req.user_ids).await?;
                Ok(CheckUsersOnlineResponse {
                    users: presence(req.user_ids, &online),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn modify_user_info(
        &self,
        request: Request<ModifyUserInfoRequest>,
    ) -> Result<Response<ModifyUserInfoResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let user_id = UserId::parse_field("UserId", &req.user_id)?;
                let info = UserInfo::parse_field("UserMetaInfo", &req.user_info)?;
                let outcome = self.store.modify_user_info(&scope, &user_id, &info).await?;
                // The change is one transaction over every group the user is in: it holds for
                // all of them or fails as a whole, so no group fails alone.
                Ok(ModifyUserInfoResponse {
                    succeeded: outcome.groups,
                    failed: Vec::new(),
                })
            }
            .await,
        )
    }
}
