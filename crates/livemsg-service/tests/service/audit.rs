//! The custom audit of client messages, against a real HTTP audit service.

use std::time::Duration;

use livemsg_proto::api::v1::message_service_client::MessageServiceClient;
use livemsg_proto::messaging::v1::messaging_service_client::MessagingServiceClient;
use livemsg_proto::messaging::v1::ClientGroupMessage;

use crate::helpers::*;
use crate::messages::{prefix, server_send};

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_custom_audit_decides_and_an_unavailable_one_lets_messages_through(pool: PgPool) {
    use livemsg_proto::api::v1::ModifyAppAuditRequest;
    use std::sync::{Arc, Mutex};
    // The audit: rejects bodies with "spam", fails on "boom", hangs on "slow"; records what
    // it was asked and whether the signature held.
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let app_key: Arc<Mutex<String>> = Arc::default();
    let router = {
        let (seen, app_key) = (seen.clone(), app_key.clone());
        axum::Router::new().route(
            "/audit",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (seen, app_key) = (seen.clone(), app_key.clone());
                async move {
                    let timestamp = headers["ali-live-timestamp"].to_str().unwrap().to_owned();
                    let expected = livemsg_service::workers::callbacks::signature(
                        &app_key.lock().unwrap(),
                        &timestamp,
                        &body,
                    );
                    let signed = headers["ali-live-signature"].to_str().unwrap() == expected;
                    let content: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let content = content["content"].as_str().unwrap().to_owned();
                    seen.lock().unwrap().push((content.clone(), signed));
                    if content.contains("boom") {
                        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new());
                    }
                    if content.contains("slow") {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    let pass = !content.contains("spam");
                    (
                        axum::http::StatusCode::OK,
                        serde_json::json!({"pass": pass, "reason": if pass { "" } else { "no spam here" }})
                            .to_string(),
                    )
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let audit_url = format!("http://{}/audit", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let h = start_configured(pool, 2_000, |s| {
        s.messages.channel_prefix = prefix();
        s.messages.audit_timeout_ms = 500;
        s.callbacks.allow_private_urls = true;
    })
    .await;
    let app = AppServiceClient::new(h.channel.clone())
        .modify_app_audit(ModifyAppAuditRequest {
            app: h.app(),
            audit_type: Some(2),
            audit_url: Some(audit_url),
        })
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();
    *app_key.lock().unwrap() = app.app_key;
    h.create_group("room").await;
    h.join("room", "talker").await.unwrap();
    let mut messaging = MessagingServiceClient::new(h.channel.clone());
    let say = |body: &str, skip_audit: bool| ClientGroupMessage {
        app_id: h.app_id.clone(),
        group_id: "room".into(),
        sender_id: "talker".into(),
        body: body.into(),
        skip_audit,
        ..Default::default()
    };
    let rejected = messaging
        .send_group_message(say("buy spam", false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (rejected.refused_code, rejected.reason.as_str()),
        (403, "no spam here")
    );
    for body in ["fine", "boom", "slow"] {
        let sent = messaging
            .send_group_message(say(body, false))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sent.refused_code, 0, "{body}: {}", sent.reason);
    }
    // Server sends are never audited.
    server_send(&h, "room", "server spam").await;
    let asked: Vec<(String, bool)> = seen.lock().unwrap().clone();
    assert_eq!(
        asked,
        ["buy spam", "fine", "boom", "slow"].map(|b| (b.to_owned(), true))
    );
    let history = MessageServiceClient::new(h.channel.clone())
        .list_group_messages(livemsg_proto::api::v1::ListGroupMessagesRequest {
            app: h.app(),
            group_id: "room".into(),
            page_size: 10,
            sort_type: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let bodies: Vec<&str> = history.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["fine", "boom", "slow", "server spam"],
        "the rejected one is nowhere"
    );
}
