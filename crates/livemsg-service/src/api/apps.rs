//! `AppService`: create, describe and list apps, set their event callback URL and audit, and
//! disable or enable them.

use livemsg_domain::listing::apps_listing;
use livemsg_domain::{check_callback_url, ApiError, AppName, Cursor, DataCenter, SortType};
use livemsg_proto::api::v1::app_service_server::AppService;
use livemsg_proto::api::v1::{
    App, CreateAppRequest, CreateAppResponse, DescribeAppRequest, DescribeAppResponse,
    ListAppsRequest, ListAppsResponse, ModifyAppAuditRequest, ModifyAppAuditResponse,
    ModifyAppCallbackRequest, ModifyAppCallbackResponse, ModifyAppDisableRequest,
    ModifyAppDisableResponse,
};
use livemsg_store::{AppRecord, NewApp};
use tonic::{Request, Response, Status};

use super::{one_of, Api};
use crate::errors::reply;

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
impl AppService for Api {
    #[tracing::instrument(skip_all, fields(account.id = tracing::field::Empty))]
    async fn create_app(
        &self,
        request: Request<CreateAppRequest>,
    ) -> Result<Response<CreateAppResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let account = self.account(req.caller.as_ref())?;
                tracing::Span::current().record("account.id", account.get());
                let app_name = match req.app_name.as_str() {
                    "" => None,
                    name => Some(AppName::parse(name)?),
                };
                let data_center = DataCenter::parse(&req.data_center)?;
                let audit_type = one_of("AuditType", req.audit_type, &[0, 1, 2])?;
                if audit_type == 2 && req.audit_url.is_empty() {
                    return Err(
                        ApiError::invalid("AuditUrl", "is required when AuditType is 2").into(),
                    );
                }
                check_callback_url("AuditUrl", &req.audit_url, self.allow_private_urls)?;
                check_callback_url(
                    "EventCallbackUrl",
                    &req.event_callback_url,
                    self.allow_private_urls,
                )?;
                let msg_life_cycle = one_of("MsgLifeCycle", req.msg_life_cycle, &[0, 1, 2])?;
                let app = self
                    .store
                    .create_app(NewApp {
                        account,
                        app_name,
                        data_center,
                        audit_type,
                        audit_url: req.audit_url,
                        event_callback_url: req.event_callback_url,
                        msg_life_cycle,
                    })
                    .await?;
                tracing::info!(app.id = %app.app_id, "app created");
                Ok(CreateAppResponse {
                    app: Some(app_message(app)),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn describe_app(
        &self,
        request: Request<DescribeAppRequest>,
    ) -> Result<Response<DescribeAppResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let app = self.store.find_app(&scope).await?;
                Ok(DescribeAppResponse {
                    app: Some(app_message(app)),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn modify_app_callback(
        &self,
        request: Request<ModifyAppCallbackRequest>,
    ) -> Result<Response<ModifyAppCallbackResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                check_callback_url(
                    "EventCallbackUrl",
                    &req.event_callback_url,
                    self.allow_private_urls,
                )?;
                let app = self
                    .store
                    .set_event_callback_url(&scope, &req.event_callback_url)
                    .await?;
                Ok(ModifyAppCallbackResponse {
                    app: Some(app_message(app)),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(account.id = tracing::field::Empty))]
    async fn list_apps(
        &self,
        request: Request<ListAppsRequest>,
    ) -> Result<Response<ListAppsResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let account = self.account(req.caller.as_ref())?;
                tracing::Span::current().record("account.id", account.get());
                let data_center = DataCenter::parse(&req.data_center)?;
                let sort = SortType::new(req.sort_type)?;
                let listing = apps_listing(
                    account.get(),
                    data_center.as_str(),
                    sort == SortType::Descending,
                );
                let cursor = Cursor::parse(&listing, req.page_token)?;
                let page = self
                    .store
                    .list_apps(account.get(), data_center.as_str(), sort, cursor.key())
                    .await?;
                Ok(ListAppsResponse {
                    apps: page.apps.into_iter().map(app_message).collect(),
                    has_more: page.next.is_some(),
                    next_page_token: page.next.map_or(0, |key| Cursor::issue(&listing, key)),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn modify_app_disable(
        &self,
        request: Request<ModifyAppDisableRequest>,
    ) -> Result<Response<ModifyAppDisableResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let app = self.store.set_app_disabled(&scope, req.disable).await?;
                if app.disabled {
                    // Log its users off and empty its groups now rather than at the next round.
                    self.sweeper.notify_one();
                }
                Ok(ModifyAppDisableResponse {
                    app: Some(app_message(app)),
                })
            }
            .await,
        )
    }

    #[tracing::instrument(skip_all, fields(app.id))]
    async fn modify_app_audit(
        &self,
        request: Request<ModifyAppAuditRequest>,
    ) -> Result<Response<ModifyAppAuditResponse>, Status> {
        let req = request.into_inner();
        reply(
            async {
                let scope = self.scope(req.app.as_ref())?;
                let audit_type = req
                    .audit_type
                    .map(|t| {
                        i32::try_from(t)
                            .map_err(|_| ApiError::invalid("AuditType", "must be one of 0, 1, 2"))
                    })
                    .transpose()?
                    .map(|t| one_of("AuditType", t, &[0, 1, 2]))
                    .transpose()?;
                if let Some(url) = &req.audit_url {
                    check_callback_url("AuditUrl", url, self.allow_private_urls)?;
                }
                // A custom audit needs its URL: given now, or stored before.
                let current = self.store.find_app(&scope).await?;
                let effective_type = audit_type.unwrap_or(current.audit_type);
                let effective_url = req.audit_url.as_deref().unwrap_or(&current.audit_url);
                if effective_type == 2 && effective_url.is_empty() {
                    return Err(
                        ApiError::invalid("AuditUrl", "is required when AuditType is 2").into(),
                    );
                }
                let app = self
                    .store
                    .set_app_audit(&scope, audit_type, req.audit_url.as_deref())
                    .await?;
                Ok(ModifyAppAuditResponse {
                    app: Some(app_message(app)),
                })
            }
            .await,
        )
    }
}
