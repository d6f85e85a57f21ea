//! Rooms through the edge: joining, speaking, member changes, one-to-one messages, mutes,
//! kicks, recalls, history, closing, and what only managers may do.

use crate::helpers::*;

/// The send budget's rate in the first test: slow enough that a loaded machine's round trips
/// earn little of it back while the burst is spent.
const SEND_PER_SECOND: f64 = 1.0;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn viewers_see_each_other_speak_and_come_and_go(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s
        .edge(|settings| {
            settings.edge.send_burst = 5.0;
            settings.edge.send_per_second = SEND_PER_SECOND;
        })
        .await;
    let (other_edge, _stop2) = s.edge(|_| {}).await;
    s.group("room", "host", &[]).await;
    let mut alice = Client::connect(&edge).await;
    alice.ok(s.login("alice", "")).await;
    // Bob is on another edge: the room is shared through the service.
    let mut bob = Client::connect(&other_edge).await;
    bob.ok(s.login("bob", "")).await;
    bob.refused(
        json!({"type": "sendGroupMessage", "groupId": "room", "data": "hi"}),
        425,
    )
    .await;
    bob.refused(json!({"type": "joinGroup", "groupId": "nope"}), 440)
        .await;
    let info = alice
        .ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    assert_eq!(
        (info["groupId"].clone(), info["creator"].clone()),
        (json!("room"), json!("host"))
    );
    assert_eq!(info["muteStatus"]["muteAll"], false);
    assert_eq!(
        info["statistics"]["onlineCount"], 1,
        "the count includes the joiner"
    );
    // The room follows the group from before the join: the joiner sees its own join too.
    let own = alice.event("memberchange").await;
    assert_eq!(
        (own["joinUsers"].clone(), own["memberCount"].clone()),
        (json!(["alice"]), json!(1))
    );
    bob.ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    let change = alice.event("memberchange").await;
    assert_eq!(
        (change["joinUsers"].clone(), change["memberCount"].clone()),
        (json!(["bob"]), json!(2))
    );
    assert_eq!(s.members("room").await, 2);

    let sent = bob
        .ok(json!({"type": "sendGroupMessage", "groupId": "room", "msgType": 10001, "data": "hello"}))
        .await;
    let got = alice.event("recvgroupmessage").await;
    assert_eq!(got["message"]["data"], "hello");
    assert_eq!(
        got["message"]["sender"],
        json!({"userId": "bob", "userExtension": "ext-bob"})
    );
    assert_eq!(got["message"]["messageId"], sent["messageId"]);
    assert_eq!(got["message"]["seqnum"], sent["seqnum"]);
    // The sender sees its own message in the room too.
    assert_eq!(
        bob.event("recvgroupmessage").await["message"]["data"],
        "hello"
    );

    // Too fast: a burst of five, then 412 but for what the budget earned meanwhile (one a
    // second; however slow the machine, the bound below is the edge's own arithmetic).
    let started = std::time::Instant::now();
    let mut accepted = Vec::new();
    for i in 0..10 {
        let answer = alice
            .request(
                json!({"type": "sendGroupMessage", "groupId": "room", "data": format!("m{i}")}),
            )
            .await;
        let ok = answer["ok"] == true;
        assert!(ok || answer["code"] == 412, "m{i} -> {answer}");
        accepted.push(ok);
    }
    let earned = (started.elapsed().as_secs_f64() * SEND_PER_SECOND).floor() as usize;
    assert!(
        accepted[..5].iter().all(|ok| *ok),
        "the burst goes through: {accepted:?}"
    );
    let count = accepted.iter().filter(|ok| **ok).count();
    assert!(
        count <= 5 + earned,
        "{count} accepted, {earned} earned: {accepted:?}"
    );

    let recent = bob
        .ok(json!({"type": "listRecentMessage", "groupId": "room"}))
        .await;
    assert_eq!(recent["messageList"][0]["data"], "hello");
    let history = bob
        .ok(json!({"type": "listHistoryMessage", "groupId": "room", "pageSize": 10}))
        .await;
    assert_eq!(history["messageList"][0]["data"], "hello");

    // The budget refills: two sends' worth (the second is refused for its receiver, not for
    // speed).
    tokio::time::sleep(std::time::Duration::from_secs_f64(2.2 / SEND_PER_SECOND)).await;
    alice
        .ok(json!({"type": "sendC2cMessage", "receiverId": "bob", "data": "psst"}))
        .await;
    let c2c = bob.event("recvc2cmessage").await;
    assert_eq!(
        (
            c2c["message"]["data"].clone(),
            c2c["message"]["sender"]["userId"].clone()
        ),
        (json!("psst"), json!("alice"))
    );
    alice
        .refused(
            json!({"type": "sendC2cMessage", "receiverId": "nobody", "data": "x"}),
            404,
        )
        .await;

    bob.ok(json!({"type": "leaveGroup", "groupId": "room"}))
        .await;
    let change = alice.event("memberchange").await;
    assert_eq!(change["leaveUsers"], json!(["bob"]));
    assert_eq!(s.members("room").await, 1);
    alice.ok(json!({"type": "logout"})).await;
    eventually("alice offline", || async { !s.online("alice").await }).await;
    // The logoff leaves its groups in a second transaction, after the presence.
    eventually("alice out of the room", || async {
        s.members("room").await == 0
    })
    .await;
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn managers_mute_kick_recall_and_close_and_viewers_are_told(pool: PgPool) {
    let s = stack(pool).await;
    let (edge, _stop) = s.edge(|_| {}).await;
    s.group("room", "host", &["mod"]).await;
    let mut host = Client::connect(&edge).await;
    host.ok(s.login("host", "")).await;
    let mut viewer = Client::connect(&edge).await;
    viewer.ok(s.login("viewer", "")).await;
    for c in [&mut host, &mut viewer] {
        c.ok(json!({"type": "joinGroup", "groupId": "room"})).await;
    }
    // Viewers may not manage.
    viewer
        .refused(
            json!({"type": "muteUser", "groupId": "room", "userList": ["host"]}),
            403,
        )
        .await;
    viewer
        .refused(json!({"type": "closeGroup", "groupId": "room"}), 403)
        .await;
    viewer
        .refused(json!({"type": "createGroup", "groupId": "mine"}), 403)
        .await;

    let state = host
        .ok(json!({"type": "muteUser", "groupId": "room", "userList": ["viewer"]}))
        .await;
    assert_eq!(state["muteUserList"], json!(["viewer"]));
    let change = viewer.event("mutechange").await;
    assert_eq!(change["status"]["muteUserList"], json!(["viewer"]));
    let muted = viewer
        .refused(
            json!({"type": "sendGroupMessage", "groupId": "room", "data": "x"}),
            442,
        )
        .await;
    assert!(muted.contains("muted"), "{muted}");
    host.ok(json!({"type": "cancelMuteUser", "groupId": "room", "userList": ["viewer"]}))
        .await;
    viewer.event("mutechange").await;
    let sent = viewer
        .ok(json!({"type": "sendGroupMessage", "groupId": "room", "data": "spam"}))
        .await;
    host.ok(json!({"type": "muteAll", "groupId": "room"})).await;
    viewer
        .refused(
            json!({"type": "sendGroupMessage", "groupId": "room", "data": "x"}),
            442,
        )
        .await;
    host.ok(json!({"type": "sendGroupMessage", "groupId": "room", "data": "the host speaks"}))
        .await;
    let listed = host
        .ok(json!({"type": "listMuteUsers", "groupId": "room"}))
        .await;
    assert_eq!(listed["muteAll"], true);
    host.ok(json!({"type": "cancelMuteAll", "groupId": "room"}))
        .await;

    host.ok(json!({"type": "deleteMessage", "groupId": "room", "messageId": sent["messageId"]}))
        .await;
    let recalled = viewer.event("deletegroupmessage").await;
    assert_eq!(recalled["messageId"], sent["messageId"]);

    host.ok(
        json!({"type": "modifyGroup", "groupId": "room", "groupMeta": "{\"notice\":\"welcome\"}"}),
    )
    .await;
    let info = viewer.event("infochange").await;
    assert_eq!(info["info"]["groupMeta"], "{\"notice\":\"welcome\"}");

    let users = host
        .ok(json!({"type": "listGroupUser", "groupId": "room"}))
        .await;
    assert_eq!(users["userList"].as_array().unwrap().len(), 2);
    host.ok(json!({"type": "kickUser", "groupId": "room", "userId": "viewer"}))
        .await;
    let exit = viewer.event("exit").await;
    assert_eq!(
        (exit["groupId"].clone(), exit["reason"].clone()),
        (json!("room"), json!(2))
    );
    viewer
        .refused(
            json!({"type": "sendGroupMessage", "groupId": "room", "data": "x"}),
            425,
        )
        .await;
    assert_eq!(s.members("room").await, 1);
    // Not a ban.
    viewer
        .ok(json!({"type": "joinGroup", "groupId": "room"}))
        .await;
    host.ok(json!({"type": "closeGroup", "groupId": "room"}))
        .await;
    for c in [&mut host, &mut viewer] {
        assert_eq!(c.event("exit").await["reason"], 1);
    }
    viewer
        .refused(json!({"type": "joinGroup", "groupId": "room"}), 441)
        .await;

    let mut admin = Client::connect(&edge).await;
    admin.ok(s.login("boss", "admin")).await;
    let created = admin
        .ok(json!({"type": "createGroup", "groupId": "new", "groupName": "New"}))
        .await;
    assert_eq!(created["alreadyExist"], false);
}
