//! Messages over HTTP: sends, history, recalls, with the names and types of every answer and
//! bad input named.

use crate::helpers::*;

async fn setup(s: &Stack) -> String {
    let app = s.create_app().await;
    ok(
        s,
        "CreateLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room")],
    )
    .await;
    s.join_all(&app, "room", ["viewer".to_owned()].into_iter())
        .await;
    app
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn group_messages_are_sent_listed_counted_and_recalled(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = setup(&s).await;
    let body = "弹幕".repeat(100);
    let sent = ok(
        &s,
        "SendLiveMessageGroup",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("SenderId", "host"),
            ("SenderMetaInfo", "{\"level\":3}"),
            ("Body", &body),
            ("MsgType", "10001"),
            ("MsgTid", "first"),
            ("StaticsIncrease", "5"),
        ],
    )
    .await;
    assert_eq!(sent["MsgTid"], "first");
    // The same MsgTid again: the same message, once.
    let again = ok(
        &s,
        "SendLiveMessageGroup",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("SenderId", "host"),
            ("MsgTid", "first"),
            ("Body", "x"),
        ],
    )
    .await;
    assert_eq!(again["MsgTid"], "first");
    let made = ok(
        &s,
        "SendLiveMessageGroup",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("SenderId", "host"),
            ("Body", "second"),
            ("NoStorage", "True"),
        ],
    )
    .await;
    let made = made["MsgTid"].as_str().unwrap().to_owned();
    assert_eq!(made.len(), 32);
    ok(
        &s,
        "SendLiveMessageGroup",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("SenderId", "host"),
            ("Body", "third"),
            ("MsgType", "2"),
        ],
    )
    .await;

    let page = ok(
        &s,
        "ListLiveMessageGroupMessages",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("PageSize", "10"),
            ("SortType", "1"),
        ],
    )
    .await;
    assert_eq!(
        (
            page["GroupId"].clone(),
            page["Hasmore"].clone(),
            page["NextPageToken"].clone()
        ),
        (json!("room"), json!(false), json!(0))
    );
    let list = page["MessageList"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the NoStorage message is not listed: {page}");
    assert_eq!(list[0]["MsgTid"], "first");
    assert_eq!(list[0]["Body"], json!(body));
    assert_eq!(
        list[0]["Sender"],
        json!({"UserId": "host", "UserInfo": "{\"level\":3}"})
    );
    assert_eq!(
        (
            list[0]["SeqNumber"].clone(),
            list[0]["TotalMessages"].clone(),
            list[0]["MsgType"].clone()
        ),
        (json!(1), json!(5), json!(10001))
    );
    assert!(list[0]["Timestamp"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(list[1]["SeqNumber"], 3);
    let typed = ok(
        &s,
        "ListLiveMessageGroupMessages",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("PageSize", "10"),
            ("SortType", "2"),
            ("MsgType", "2"),
        ],
    )
    .await;
    assert_eq!(typed["MessageList"][0]["Body"], "third");
    let described = ok(
        &s,
        "DescribeLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "room")],
    )
    .await;
    assert_eq!(described["MsgAmount"], json!({"0": 1, "10001": 5, "2": 1}));

    let recalled = ok(
        &s,
        "DeleteLiveMessageGroupMessage",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("MessageId", "first"),
            ("DeleterId", "mod"),
        ],
    )
    .await;
    assert_eq!(
        (recalled["GroupId"].clone(), recalled["MessageId"].clone()),
        (json!("room"), json!("first"))
    );
    // Unknown or recalled already: the same answer.
    ok(
        &s,
        "DeleteLiveMessageGroupMessage",
        &[("AppId", &app), ("GroupId", "room"), ("MessageId", "first")],
    )
    .await;
    ok(
        &s,
        "DeleteLiveMessageGroupMessage",
        &[("AppId", &app), ("GroupId", "room"), ("MessageId", "never")],
    )
    .await;
    let page = ok(
        &s,
        "ListLiveMessageGroupMessages",
        &[
            ("AppId", &app),
            ("GroupId", "room"),
            ("PageSize", "10"),
            ("SortType", "1"),
        ],
    )
    .await;
    assert_eq!(page["MessageList"].as_array().unwrap().len(), 1);
    let (st, b) = s
        .call(
            "DeleteLiveMessageGroupMessage",
            &[("AppId", &app), ("GroupId", "nope"), ("MessageId", "x")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    let _ = made;
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn sends_that_cannot_be_delivered_say_why(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = setup(&s).await;
    ok(
        &s,
        "CreateLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "empty")],
    )
    .await;
    let (st, b) = s
        .call(
            "SendLiveMessageGroup",
            &[("AppId", &app), ("GroupId", "empty"), ("SenderId", "host")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    assert_eq!(b["Message"], "Group has no online member.");
    let (st, b) = s
        .call(
            "SendLiveMessageGroup",
            &[("AppId", &app), ("GroupId", "nope"), ("SenderId", "host")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    let (st, b) = s
        .call(
            "SendLiveMessageUser",
            &[
                ("AppId", &app),
                ("ReceiverId", "away"),
                ("SenderId", "host"),
            ],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    assert_eq!(b["Message"], "Receiver is not online.");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn bad_message_input_names_its_parameter(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = setup(&s).await;
    let send = |extra: &'static [(&'static str, &'static str)]| {
        let mut q = vec![
            ("AppId", app.clone()),
            ("GroupId", "room".to_owned()),
            ("SenderId", "host".to_owned()),
        ];
        q.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        q
    };
    let big = "x".repeat(15 * 1024 + 1);
    for (query, param) in [
        (send(&[("MsgType", "-1")]), "MsgType"),
        (send(&[("MsgType", "x")]), "MsgType"),
        (send(&[("Weight", "0")]), "Weight"),
        (send(&[("StaticsIncrease", "-2")]), "StaticsIncrease"),
        (send(&[("NoStorage", "yes")]), "NoStorage"),
        (send(&[("MsgTid", "has space")]), "MsgTid"),
        (
            vec![
                ("AppId", app.clone()),
                ("GroupId", "room".to_owned()),
                ("SenderId", "bad id".to_owned()),
            ],
            "SenderId",
        ),
        (
            vec![
                ("AppId", app.clone()),
                ("GroupId", "room".to_owned()),
                ("SenderId", "h".to_owned()),
                ("Body", big.clone()),
            ],
            "Body",
        ),
    ] {
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (st, b) = s.call("SendLiveMessageGroup", &q).await;
        assert_invalid(st, &b, param);
    }
    let list = |extra: &[(&'static str, &'static str)]| {
        let mut q = vec![
            ("AppId", app.as_str()),
            ("GroupId", "room"),
            ("PageSize", "10"),
            ("SortType", "1"),
        ];
        q.extend_from_slice(extra);
        q
    };
    for (extra, param) in [
        (vec![("PageSize", "9")], "PageSize"),
        (vec![("SortType", "3")], "SortType"),
        (vec![("NextPageToken", "-4")], "NextPageToken"),
        (vec![("BeginTime", "200"), ("EndTime", "100")], "BeginTime"),
        (vec![("EndTime", "-1")], "EndTime"),
    ] {
        let mut q = list(&[]);
        q.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        q.extend(extra);
        let (st, b) = s.call("ListLiveMessageGroupMessages", &q).await;
        assert_invalid(st, &b, param);
    }
    let (st, b) = s
        .call(
            "DeleteLiveMessageUserMessage",
            &[("AppId", &app), ("ReceiverId", "u"), ("MessageId", "m")],
        )
        .await;
    assert_invalid(st, &b, "DeleterId");
    let (st, b) = s
        .call(
            "SendLiveMessageGroup",
            &[("AppId", &app), ("GroupId", "room")],
        )
        .await;
    assert_error(st, &b, 400, "MissingSenderId");
    // A 31st type.
    for t in 0..30 {
        let t = t.to_string();
        ok(
            &s,
            "SendLiveMessageGroup",
            &[
                ("AppId", &app),
                ("GroupId", "room"),
                ("SenderId", "h"),
                ("MsgType", &t),
            ],
        )
        .await;
    }
    let (st, b) = s
        .call(
            "SendLiveMessageGroup",
            &[
                ("AppId", &app),
                ("GroupId", "room"),
                ("SenderId", "h"),
                ("MsgType", "99"),
            ],
        )
        .await;
    assert_invalid(st, &b, "MsgType");
}
