//! Moderation over HTTP: the mute state set and read with the documented names (misspellings
//! included), kicks, bad input, and a read-only RAM user who cannot mute or kick.

use crate::helpers::*;

async fn band(s: &Stack, app: &str) -> Value {
    ok(
        s,
        "DescribeLiveMessageGroupBand",
        &[("AppId", app), ("GroupId", "room")],
    )
    .await
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_mute_state_is_set_and_read_as_documented(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    ok(
        &s,
        "CreateLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room")],
    )
    .await;
    let mut initial = band(&s, &app).await;
    initial.as_object_mut().unwrap().remove("RequestId");
    assert_eq!(
        initial,
        json!({"GroupId": "room", "IsbannedAll": false, "BannedUserList": [], "UnbannedUserList": []})
    );
    ok(
        &s,
        "AddLiveMessageGroupBand",
        &[("AppId", &app), ("GroupId", "room"), ("BannedUsers", "a,b")],
    )
    .await;
    // The legacy SDK's numbered list.
    ok(
        &s,
        "AddLiveMessageGroupBand",
        &[("AppId", &app), ("GroupId", "room"), ("BannedUsers.1", "c")],
    )
    .await;
    ok(
        &s,
        "BanLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room"), ("ExceptUsers", "vip")],
    )
    .await;
    let state = band(&s, &app).await;
    assert_eq!(state["IsbannedAll"], true);
    assert_eq!(state["BannedUserList"], json!(["a", "b", "c"]));
    assert_eq!(state["UnbannedUserList"], json!(["vip"]));
    ok(
        &s,
        "RemoveLiveMessageGroupBand",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("UnbannedUsers", "b,zz"),
        ],
    )
    .await;
    ok(
        &s,
        "UnbanLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room")],
    )
    .await;
    let state = band(&s, &app).await;
    assert_eq!(
        (
            state["IsbannedAll"].clone(),
            state["BannedUserList"].clone(),
            state["UnbannedUserList"].clone()
        ),
        (json!(false), json!(["a", "c"]), json!([]))
    );
    // Modify sets the parts given: BannnedUsers (three n's) replaces the list, an empty
    // ExceptUsers empties it.
    ok(
        &s,
        "ModifyLiveMessageGroupBand",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("BannedAll", "True"),
            ("BannnedUsers", "x"),
            ("ExceptUsers", "y,z"),
        ],
    )
    .await;
    let state = band(&s, &app).await;
    assert_eq!(
        (
            state["IsbannedAll"].clone(),
            state["BannedUserList"].clone(),
            state["UnbannedUserList"].clone()
        ),
        (json!(true), json!(["x"]), json!(["y", "z"]))
    );
    ok(
        &s,
        "ModifyLiveMessageGroupBand",
        &[("AppId", &app), ("GroupId", "room"), ("ExceptUsers", "")],
    )
    .await;
    assert_eq!(band(&s, &app).await["UnbannedUserList"], json!([]));
    assert_eq!(
        band(&s, &app).await["BannedUserList"],
        json!(["x"]),
        "not given, kept"
    );

    // Bad input names its parameter; unknown or deleted groups are not found.
    let thirty_one = (0..31)
        .map(|i| format!("u{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for (action, params, param) in [
        (
            "AddLiveMessageGroupBand",
            vec![("BannedUsers", thirty_one.as_str())],
            "BannedUsers",
        ),
        (
            "AddLiveMessageGroupBand",
            vec![("BannedUsers", "bad id")],
            "BannedUsers",
        ),
        (
            "BanLiveMessageGroup",
            vec![("ExceptUsers", thirty_one.as_str())],
            "ExceptUsers",
        ),
        (
            "ModifyLiveMessageGroupBand",
            vec![("BannedAll", "sure")],
            "BannedAll",
        ),
        (
            "KickLiveMessageGroupUser",
            vec![("KickoffUser", "no way")],
            "KickoffUser",
        ),
    ] {
        let mut query = vec![("AppId", app.as_str()), ("GroupId", "room")];
        query.extend(params);
        let (st, b) = s.call(action, &query).await;
        assert_invalid(st, &b, param);
    }
    let (st, b) = s
        .call(
            "AddLiveMessageGroupBand",
            &[("AppId", &app), ("GroupId", "room")],
        )
        .await;
    assert_error(st, &b, 400, "MissingBannedUsers");
    let (st, b) = s
        .call(
            "BanLiveMessageGroup",
            &[("AppId", &app), ("GroupId", "nope")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    ok(
        &s,
        "DeleteLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room")],
    )
    .await;
    let (st, b) = s
        .call(
            "DescribeLiveMessageGroupBand",
            &[("AppId", &app), ("GroupId", "room")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_kick_is_a_leave_the_user_may_undo_and_reading_rights_do_not_kick(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    ok(
        &s,
        "CreateLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room")],
    )
    .await;
    s.join_all(
        &app,
        "room",
        ["troll".to_owned(), "fan".to_owned()].into_iter(),
    )
    .await;
    let count = |s: &Stack| {
        let (s, app) = (s.clone(), app.clone());
        async move {
            ok(
                &s,
                "DescribeLiveMessageGroup",
                &[("AppId", &app), ("GroupId", "room")],
            )
            .await["OnlineUserCounts"]
                .clone()
        }
    };
    let reader = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":["live:Describe*","live:List*"],"Resource":"{}"}}]}}"#,
        s.arn(&app)
    );
    let (id, secret) = s.ram_key("reader", &[("read", reader)]).await;
    for (action, params) in [
        ("KickLiveMessageGroupUser", vec![("KickoffUser", "troll")]),
        ("BanLiveMessageGroup", vec![]),
        ("AddLiveMessageGroupBand", vec![("BannedUsers", "troll")]),
    ] {
        let mut query = vec![("AppId", app.as_str()), ("GroupId", "room")];
        query.extend(params);
        let (st, b) = s.call_as(action, &query, &id, &secret).await;
        assert_error(st, &b, 403, "NoAuth");
    }
    let (st, b) = s
        .call_as(
            "DescribeLiveMessageGroupBand",
            &[("AppId", &app), ("GroupId", "room")],
            &id,
            &secret,
        )
        .await;
    assert_eq!(st, 200, "{b}");

    let body = ok(
        &s,
        "KickLiveMessageGroupUser",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("KickoffUser", "troll"),
        ],
    )
    .await;
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId"]
    );
    assert_eq!(count(&s).await, 1);
    // Not there any more: nothing changes, still 200.
    ok(
        &s,
        "KickLiveMessageGroupUser",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("KickoffUser", "troll"),
        ],
    )
    .await;
    // Not a ban: the troll may join again.
    s.join_all(&app, "room", ["troll".to_owned()].into_iter())
        .await;
    assert_eq!(count(&s).await, 2);
}
