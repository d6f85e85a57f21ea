//! Logging in: the app token's rules, the state rules, a disabled app.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_valid_token_logs_in_once_and_every_other_is_refused(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s.edge(|_| {}).await;
    let mut c = Client::connect(&edge).await;
    // Nothing before a login.
    c.refused(json!({"type": "joinGroup", "groupId": "g"}), 602)
        .await;
    // Frames that are not requests: their id is answered when it can be read.
    c.send_raw(r#"{"type":"nonsense","id":41}"#).await;
    let answer = c.request(json!({"type": "ping"})).await;
    assert_eq!(answer["ok"], true, "{answer}");

    let login = s.login("alice", "");
    let data = c.ok(login.clone()).await;
    assert_eq!(data["sessionId"].as_str().unwrap().len(), 32);
    assert_eq!(data["heartbeat"], 30);
    assert!(data["resumeKey"].is_string());
    eventually("alice online", || s.online("alice")).await;
    c.refused(s.login("alice", ""), 601).await;

    // The same token again, on another connection: replayed.
    let mut again = Client::connect(&edge).await;
    let message = again.refused(login, 403).await;
    assert!(message.contains("used before"), "{message}");
    // Forged: another key, or another user than the token's.
    let mut forged = s.login("bob", "");
    forged["auth"]["token"] = json!("0".repeat(64));
    assert!(again.refused(forged, 403).await.contains("does not match"));
    let mut stolen = s.login("bob", "");
    stolen["user"]["userId"] = json!("mallory");
    again.refused(stolen, 403).await;
    // Expired.
    let expiry = chrono::Utc::now().timestamp() - 1;
    let token = livemsg_edge::token::app_token(&s.app_id, &s.app_key, "bob", "n", expiry, "");
    let expired = json!({"type": "login", "appId": s.app_id, "user": {"userId": "bob"},
                         "auth": {"nonce": "n", "timestamp": expiry, "role": "", "token": token}});
    assert!(again.refused(expired, 403).await.contains("expired"));
    // A role the token may not carry, an unknown app, a malformed user id, a heartbeat out of
    // range.
    again.refused(s.login("bob", "root"), 403).await;
    let mut unknown = s.login("bob", "");
    unknown["appId"] = json!("nosuchapp");
    again.refused(unknown, 403).await;
    let mut bad_user = s.login("bob", "");
    bad_user["user"]["userId"] = json!("b o b");
    again.refused(bad_user, 400).await;
    let mut quick = s.login("bob", "");
    quick["heartbeat"] = json!(5);
    again.refused(quick, 400).await;
    let mut slow = s.login("bob", "");
    slow["heartbeat"] = json!(120);
    assert_eq!(again.ok(slow).await["heartbeat"], 120);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_disabled_app_drops_its_connections_and_refuses_logins(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s.edge(|_| {}).await;
    s.group("room", "host", &[]).await;
    let mut c = Client::connect(&edge).await;
    c.ok(s.login("alice", "")).await;
    c.ok(json!({"type": "joinGroup", "groupId": "room"})).await;
    let scope = livemsg_domain::AppScope::parse(
        livemsg_domain::AccountId::new(s.account_id).unwrap(),
        &s.app_id,
        "",
    )
    .unwrap();
    s.store.set_app_disabled(&scope, Some(true)).await.unwrap();
    let disconnect = c.event("disconnect").await;
    assert_eq!(disconnect["code"], 3);
    c.until_closed().await;
    assert!(c.closed);
    let mut later = Client::connect(&edge).await;
    assert!(later
        .refused(s.login("alice", ""), 403)
        .await
        .contains("disabled"));
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_same_user_and_device_logging_in_again_takes_the_session_over(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s.edge(|_| {}).await;
    let (other_edge, _stop2) = s.edge(|_| {}).await;
    let mut first = Client::connect(&edge).await;
    first.ok(s.login("alice", "")).await;
    // Same edge.
    let mut second = Client::connect(&edge).await;
    second.ok(s.login("alice", "")).await;
    assert_eq!(first.event("disconnect").await["code"], 4);
    first.until_closed().await;
    // Another edge.
    let mut third = Client::connect(&other_edge).await;
    third.ok(s.login("alice", "")).await;
    assert_eq!(second.event("disconnect").await["code"], 4);
    second.until_closed().await;
    assert!(s.online("alice").await);
    third.ok(json!({"type": "ping"})).await;
}
