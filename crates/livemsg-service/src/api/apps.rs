//! `AppService`: create and describe apps, and set their event callback URL.

use livemsg_domain::{check_callback_url, ApiError, AppName, DataCenter};
use livemsg_proto::api::v1::app_service_server::AppService;
use livemsg_proto::api::v1::{
    App, CreateAppRequest, CreateAppResponse, DescribeAppRequest, DescribeAppResponse,
    ModifyAppCallbackRequest, ModifyAppCallbackResponse,
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
}
