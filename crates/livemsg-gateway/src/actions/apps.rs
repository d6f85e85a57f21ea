//! The apps family: CreateLiveMessageApp, DescribeLiveMessageApp, ListLiveMessageApps,
//! ModifyLiveMessageAppCallback, ModifyLiveMessageAppDisable, ModifyLiveMessageAppAudit.

use livemsg_domain::ApiError;
use livemsg_proto::api::v1::{
    App, CreateAppRequest, DescribeAppRequest, ListAppsRequest, ModifyAppAuditRequest,
    ModifyAppCallbackRequest, ModifyAppDisableRequest,
};
use serde_json::{json, Value};

use super::{failed, fields, object, Call, Fields};

/// The service answered without the app it must return: a bug, reported as a server error.
fn missing_app() -> ApiError {
    tracing::error!("service response lacks its app");
    ApiError::internal()
}

pub(super) async fn create_app(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = CreateAppRequest {
        caller: Some(call.caller.clone()),
        app_name: params.optional("AppName").to_owned(),
        data_center: call.data_center(),
        audit_type: params.int32("AuditType", 0)?,
        audit_url: params.optional("AuditUrl").to_owned(),
        event_callback_url: params.optional("EventCallbackUrl").to_owned(),
        msg_life_cycle: params.int32("MsgLifeCycle", 0)?,
    };
    let app = call
        .clients
        .apps
        .clone()
        .create_app(request)
        .await
        .map_err(failed("CreateApp"))?
        .into_inner()
        .app
        .ok_or_else(missing_app)?;
    Ok(fields(json!({
        "AppId": app.app_id,
        "AppKey": app.app_key,
        "AppSign": app.app_sign,
        "DataCenter": app.data_center,
    })))
}

pub(super) async fn describe_app(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = DescribeAppRequest {
        app: call.app_ref(),
    };
    let app = call
        .clients
        .apps
        .clone()
        .describe_app(request)
        .await
        .map_err(failed("DescribeApp"))?
        .into_inner()
        .app
        .ok_or_else(missing_app)?;
    Ok(fields(app_fields(&app)))
}

pub(super) async fn modify_app_callback(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = ModifyAppCallbackRequest {
        app: call.app_ref(),
        event_callback_url: call.params.optional("EventCallbackUrl").to_owned(),
    };
    let app = call
        .clients
        .apps
        .clone()
        .modify_app_callback(request)
        .await
        .map_err(failed("ModifyAppCallback"))?
        .into_inner()
        .app
        .ok_or_else(missing_app)?;
    let mut answer = object(json!({
        "AppId": app.app_id,
        "AppSign": app.app_sign,
        "EventCallbackNeedAuthentication": true,
    }));
    // Not returned when empty, as the reference says.
    if !app.event_callback_url.is_empty() {
        answer.insert("EventCallbackUrl".into(), json!(app.event_callback_url));
    }
    Ok(answer.into())
}

/// An app as DescribeLiveMessageApp shows it (`Disable` is a boolean here; the reference
/// spells the field names).
fn app_fields(app: &App) -> serde_json::Value {
    json!({
        "AppId": app.app_id,
        "AppKey": app.app_key,
        "AppName": app.app_name,
        "AppSign": app.app_sign,
        "AuditType": app.audit_type,
        "AuditUrl": app.audit_url,
        "CreateTime": app.create_time,
        "DataCenter": app.data_center,
        "Disable": app.disabled,
        "EventCallbackUrl": app.event_callback_url,
        "ModifyTime": app.modify_time,
        "MsgLifeCycle": app.msg_life_cycle,
    })
}

pub(super) async fn list_apps(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = ListAppsRequest {
        caller: Some(call.caller.clone()),
        data_center: call.data_center(),
        sort_type: params.int64("SortType", 0)?,
        page_token: params.int64_opt("NextPageToken")?,
    };
    let page = call
        .clients
        .apps
        .clone()
        .list_apps(request)
        .await
        .map_err(failed("ListApps"))?
        .into_inner();
    // `Disable` is a string here ("true"/"false"), as the API reference and the SDK models
    // have it, unlike DescribeLiveMessageApp's boolean; `HasMore` is camel-cased here.
    let apps: Vec<Value> = page
        .apps
        .iter()
        .map(|app| {
            json!({
                "AppId": app.app_id,
                "AppName": app.app_name,
                "AppKey": app.app_key,
                "AppSign": app.app_sign,
                "CreateTime": app.create_time,
                "ModifyTime": app.modify_time,
                "DataCenter": app.data_center,
                "Disable": app.disabled.to_string(),
                "MsgLifeCycle": app.msg_life_cycle,
            })
        })
        .collect();
    let mut answer = object(json!({ "HasMore": page.has_more, "AppList": apps }));
    if page.has_more {
        answer.insert("NextPageToken".into(), json!(page.next_page_token));
    }
    Ok(answer.into())
}

pub(super) async fn modify_app_disable(call: Call<'_>) -> Result<Fields, ApiError> {
    let request = ModifyAppDisableRequest {
        app: call.app_ref(),
        disable: call.params.bool_opt("Disable")?,
    };
    let app = call
        .clients
        .apps
        .clone()
        .modify_app_disable(request)
        .await
        .map_err(failed("ModifyAppDisable"))?
        .into_inner()
        .app
        .ok_or_else(missing_app)?;
    Ok(fields(json!({
        "AppId": app.app_id,
        "AppSign": app.app_sign,
        "Disable": app.disabled,
    })))
}

pub(super) async fn modify_app_audit(call: Call<'_>) -> Result<Fields, ApiError> {
    let params = call.params;
    let request = ModifyAppAuditRequest {
        app: call.app_ref(),
        audit_type: params.int64_opt("AuditType")?,
        audit_url: params.get("AuditUrl").map(str::to_owned),
    };
    let app = call
        .clients
        .apps
        .clone()
        .modify_app_audit(request)
        .await
        .map_err(failed("ModifyAppAudit"))?
        .into_inner()
        .app
        .ok_or_else(missing_app)?;
    let custom = app.audit_type == 2;
    let mut answer = object(json!({
        "AppId": app.app_id,
        "AppSign": app.app_sign,
        "AuditType": app.audit_type,
        "AuditNeedAuthentication": custom,
    }));
    if custom {
        answer.insert("AuditUrl".into(), json!(app.audit_url));
    }
    Ok(answer.into())
}
