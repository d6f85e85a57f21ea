//! `ApiService`: the public API operations, on behalf of an authenticated caller.
//!
//! Every request is checked here against the domain rules, whoever sent it: the gateway only
//! reads parameters, the rules live in `livemsg-domain` and are applied in this one place.

use livemsg_domain::{
    check_callback_url, ApiError, AppId, AppName, DataCenter, GroupId, GroupInfo, GroupName,
    PageSize, PageToken, SortType, UserId,
};
use livemsg_proto::api::v1::api_service_server::ApiService;
use livemsg_proto::api::v1::{
    App, Caller, CheckUsersInGroupRequest, CheckUsersInGroupResponse, CheckUsersOnlineRequest,
    CreateAppRequest, CreateAppResponse, CreateGroupRequest, CreateGroupResponse,
    DescribeAppRequest, DescribeAppResponse, DescribeGroupRequest, DescribeGroupResponse,
    GroupUser, ListGroupUsersRequest, ListGroupUsersResponse, ModifyAppCallbackRequest,
    UserPresence,
};
use livemsg_proto::common::v1::GroupState as WireGroupState;
use livemsg_store::{AppRecord, NewApp, NewGroup, PageRequest, Store};
use tonic::{Request, Response, Status};

use crate::errors;

/// Serves the public API operations.
#[derive(Debug, Clone)]
pub struct PublicApi {
    store: Store,
    allow_private_urls: bool,
}

impl PublicApi {
    /// A service over `store`; `allow_private_urls` accepts callback URLs with private
    /// addresses and ports.
    pub fn new(store: Store, allow_private_urls: bool) -> Self {
        PublicApi {
            store,
            allow_private_urls,
        }
    }
}

fn account(caller: Option<&Caller>) -> Result<i64, Status> {
    caller
        .map(|c| c.account_id)
        .filter(|id| *id > 0)
        .ok_or_else(|| Status::unauthenticated("the request names no caller account"))
}

fn rule<T>(result: Result<T, ApiError>) -> Result<T, Status> {
    result.map_err(errors::invalid)
}

fn one_of(field: &str, value: i32, allowed: &[i32]) -> Result<i32, Status> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        let list: Vec<String> = allowed.iter().map(i32::to_string).collect();
        Err(errors::invalid(ApiError::invalid(
            field,
            format_args!("must be one of {}", list.join(", ")),
        )))
    }
}

/// Checks a list of 1 to 10 user ids.
fn user_list(ids: &[String]) -> Result<(), Status> {
    if !(1..=10).contains(&ids.len()) {
        return Err(errors::invalid(ApiError::invalid(
            "UserIds",
            "must list 1 to 10 users",
        )));
    }
    for user in ids {
        rule(UserId::parse_field("UserIds", user))?;
    }
    Ok(())
}

/// The answer for `ids`, in their order, marking those in `present`.
fn presence(
    ids: Vec<String>,
    present: &std::collections::HashSet<String>,
) -> CheckUsersInGroupResponse {
    CheckUsersInGroupResponse {
        users: ids
            .into_iter()
            .map(|user_id| UserPresence {
                in_group: present.contains(&user_id),
                user_id,
            })
            .collect(),
    }
}

fn app_message(app: AppRecord) -> App {
    App {
        app_id: app.app_id,
        app_key: app.app_key,
        app_sign: app.app_sign,
        app_name: app.app_name,
        data_center: app.data_center,
        audit_type: app.audit_type,
        audit_url: app.audit_url,
        event_callback_url: app.event_callback_url,
        msg_life_cycle: app.msg_life_cycle,
        disabled: app.disabled,
        create_time: app.created_at.timestamp(),
        modify_time: app.modified_at.timestamp(),
    }
}

#[tonic::async_trait]
impl ApiService for PublicApi {
    #[tracing::instrument(skip_all, fields(account.id = tracing::field::Empty))]
    async fn create_app(
        &self,
        request: Request<CreateAppRequest>,
    ) -> Result<Response<CreateAppResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        tracing::Span::current().record("account.id", account_id);
        let app_name = match req.app_name.as_str() {
            "" => None,
            name => Some(rule(AppName::parse(name))?),
        };
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        let audit_type = one_of("AuditType", req.audit_type, &[0, 1, 2])?;
        if audit_type == 2 && req.audit_url.is_empty() {
            return Err(errors::invalid(ApiError::invalid(
                "AuditUrl",
                "is required when AuditType is 2",
            )));
        }
        rule(check_callback_url(
            "AuditUrl",
            &req.audit_url,
            self.allow_private_urls,
        ))?;
        rule(check_callback_url(
            "EventCallbackUrl",
            &req.event_callback_url,
            self.allow_private_urls,
        ))?;
        let msg_life_cycle = one_of("MsgLifeCycle", req.msg_life_cycle, &[0, 1, 2])?;
        let app = self
            .store
            .create_app(NewApp {
                account_id,
                app_name,
                data_center,
                audit_type,
                audit_url: req.audit_url,
                event_callback_url: req.event_callback_url,
                msg_life_cycle,
            })
            .await
            .map_err(errors::status)?;
        tracing::info!(app.id = %app.app_id, "app created");
        Ok(Response::new(CreateAppResponse {
            app: Some(app_message(app)),
        }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id))]
    async fn describe_app(
        &self,
        request: Request<DescribeAppRequest>,
    ) -> Result<Response<DescribeAppResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        let app = self
            .store
            .find_app(account_id, &app_id, data_center)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(DescribeAppResponse {
            app: Some(app_message(app)),
        }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn create_group(
        &self,
        request: Request<CreateGroupRequest>,
    ) -> Result<Response<CreateGroupResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        let group_id = rule(GroupId::parse(&req.group_id))?;
        let creator_id = match req.creator_id.as_str() {
            "" => None,
            id => Some(rule(UserId::parse_field("CreatorId", id))?),
        };
        let mut administrators = Vec::with_capacity(req.administrators.len());
        for admin in &req.administrators {
            administrators.push(rule(UserId::parse_field("Administrators", admin))?);
        }
        let group = NewGroup {
            group_id: group_id.clone(),
            group_name: rule(GroupName::parse(&req.group_name))?,
            group_info: rule(GroupInfo::parse(&req.group_info))?,
            creator_id,
            administrators,
        };
        let outcome = self
            .store
            .create_group(account_id, &app_id, data_center, group)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(CreateGroupResponse {
            group_id: group_id.into_string(),
            already_exists: outcome.already_exists,
            already_deleted: outcome.already_deleted,
        }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn describe_group(
        &self,
        request: Request<DescribeGroupRequest>,
    ) -> Result<Response<DescribeGroupResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        let group_id = rule(GroupId::parse(&req.group_id))?;
        let group = self
            .store
            .describe_group(account_id, &app_id, data_center, &group_id)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(DescribeGroupResponse {
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
        }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn check_users_in_group(
        &self,
        request: Request<CheckUsersInGroupRequest>,
    ) -> Result<Response<CheckUsersInGroupResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        let group_id = rule(GroupId::parse(&req.group_id))?;
        user_list(&req.user_ids)?;
        let members = self
            .store
            .members_among(account_id, &app_id, data_center, &group_id, &req.user_ids)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(presence(req.user_ids, &members)))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id))]
    async fn modify_app_callback(
        &self,
        request: Request<ModifyAppCallbackRequest>,
    ) -> Result<Response<DescribeAppResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        rule(check_callback_url(
            "EventCallbackUrl",
            &req.event_callback_url,
            self.allow_private_urls,
        ))?;
        let app = self
            .store
            .set_event_callback_url(account_id, &app_id, data_center, &req.event_callback_url)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(DescribeAppResponse {
            app: Some(app_message(app)),
        }))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id))]
    async fn check_users_online(
        &self,
        request: Request<CheckUsersOnlineRequest>,
    ) -> Result<Response<CheckUsersInGroupResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        user_list(&req.user_ids)?;
        let online = self
            .store
            .online_among(account_id, &app_id, data_center, &req.user_ids)
            .await
            .map_err(errors::status)?;
        Ok(Response::new(presence(req.user_ids, &online)))
    }

    #[tracing::instrument(skip_all, fields(app.id = %request.get_ref().app_id, group.id = %request.get_ref().group_id))]
    async fn list_group_users(
        &self,
        request: Request<ListGroupUsersRequest>,
    ) -> Result<Response<ListGroupUsersResponse>, Status> {
        let req = request.into_inner();
        let account_id = account(req.caller.as_ref())?;
        let app_id = rule(AppId::parse(&req.app_id))?;
        let data_center = rule(DataCenter::parse(&req.data_center))?;
        let group_id = rule(GroupId::parse(&req.group_id))?;
        let page = PageRequest {
            size: rule(PageSize::new(req.page_size.into()))?,
            sort: rule(SortType::new(req.sort_type.into()))?,
            token: rule(PageToken::new(req.page_token))?,
        };
        let result = self
            .store
            .list_group_users(account_id, &app_id, data_center, &group_id, page)
            .await
            .map_err(errors::status)?;
        let next_page_token = result.next_page_token();
        Ok(Response::new(ListGroupUsersResponse {
            group_id: group_id.into_string(),
            users: result
                .users
                .into_iter()
                .map(|(user_id, user_info)| GroupUser { user_id, user_info })
                .collect(),
            next_page_token,
            has_more: next_page_token != 0,
        }))
    }
}
