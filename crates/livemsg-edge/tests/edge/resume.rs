//! Coming back: a resumed session gets exactly what it missed, on the same edge or another;
//! a silent connection is dead, and its user logged off after the reconnect window.

use crate::helpers::*;

async fn resume_request(s: &Stack, login: &Value, session: &Value, last_seq: i64) -> Value {
    json!({ "type": "resume", "appId": s.app_id, "userId": login["user"]["userId"],
            "deviceId": "d1", "sessionId": session["sessionId"], "resumeKey": session["resumeKey"],
            "expiry": session["expiry"], "role": "", "userExtension": "ext",
            "rooms": { "room": last_seq } })
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_client_that_comes_back_gets_exactly_what_it_missed(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s.edge(|_| {}).await;
    let (other_edge, _stop2) = s.edge(|_| {}).await;
    s.group("room", "host", &[]).await;
    let mut talker = Client::connect(&edge).await;
    talker.ok(s.login("talker", "")).await;
    talker
        .ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    let login = s.login("viewer", "");
    let mut viewer = Client::connect(&edge).await;
    let session = viewer.ok(login.clone()).await;
    viewer
        .ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    talker
        .ok(json!({"type": "sendGroupMessage", "groupId": "room", "data": "m1"}))
        .await;
    let last = viewer.event("recvgroupmessage").await["message"]["seqnum"]
        .as_i64()
        .unwrap();
    viewer.drop_connection().await;

    for i in 2..=4 {
        talker
            .ok(json!({"type": "sendGroupMessage", "groupId": "room", "data": format!("m{i}")}))
            .await;
    }
    // Back on the same edge, within the window: no leave, no join, the three it missed.
    let mut back = Client::connect(&edge).await;
    let resumed = back
        .ok(resume_request(&s, &login, &session, last).await)
        .await;
    assert_eq!(resumed["rooms"]["room"], "resumed");
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(
            back.event("recvgroupmessage").await["message"]["seqnum"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(seqs, [last + 1, last + 2, last + 3]);
    talker
        .ok(json!({"type": "sendGroupMessage", "groupId": "room", "data": "live"}))
        .await;
    let live = back.event("recvgroupmessage").await;
    assert_eq!(
        (
            live["message"]["seqnum"].as_i64(),
            live["message"]["data"].clone()
        ),
        (Some(last + 4), json!("live"))
    );
    assert_eq!(s.members("room").await, 2);

    // Back on another edge: the same.
    back.drop_connection().await;
    talker
        .ok(json!({"type": "sendGroupMessage", "groupId": "room", "data": "while away"}))
        .await;
    let mut elsewhere = Client::connect(&other_edge).await;
    let resumed = elsewhere
        .ok(resume_request(&s, &login, &session, last + 4).await)
        .await;
    assert_eq!(resumed["rooms"]["room"], "resumed");
    let missed = elsewhere.event("recvgroupmessage").await;
    assert_eq!(
        (
            missed["message"]["seqnum"].as_i64(),
            missed["message"]["data"].clone()
        ),
        (Some(last + 5), json!("while away"))
    );

    // A forged key resumes nothing.
    let mut forged = resume_request(&s, &login, &session, 0).await;
    forged["resumeKey"] = json!("0".repeat(64));
    Client::connect(&edge).await.refused(forged, 403).await;
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_silent_connection_is_dead_and_its_user_logged_off_after_the_window(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s
        .edge(|settings| {
            settings.edge.heartbeat_secs = 1;
            settings.edge.reconnect_window_secs = 1;
        })
        .await;
    s.group("room", "host", &[]).await;
    let mut quiet = Client::connect(&edge).await;
    quiet.ok(s.login("quiet", "")).await;
    quiet
        .ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    assert_eq!(s.members("room").await, 1);
    // It says nothing for 1.5 heartbeats.
    let frames = quiet.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| f["event"] == "disconnect" && f["data"]["code"] == 3),
        "{frames:?}"
    );
    eventually("quiet logged off", || async { !s.online("quiet").await }).await;
    // The logoff leaves its groups in a second transaction, after the presence.
    eventually("quiet out of the room", || async {
        s.members("room").await == 0
    })
    .await;
}
