//! Groups over HTTP: modified, deleted, recovered and listed, with the names and types of every answer.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn groups_are_modified_deleted_recovered_and_listed_with_the_documented_fields(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    for g in ["g1", "g2", "g3"] {
        ok(
            &s,
            "CreateLiveMessageGroup",
            &[("AppId", &app), ("GroupId", g), ("CreatorId", "boss")],
        )
        .await;
    }
    s.join_all(&app, "g1", ["a", "b"].into_iter().map(String::from))
        .await;

    // Booleans as the Python SDKs spell them; a value without its flag is ignored.
    let body = ok(
        &s,
        "ModifyLiveMessageGroup",
        &[
            ("AppId", &app),
            ("GroupId", "g1"),
            ("ModifyAdmin", "True"),
            ("AdminList", "x,y"),
            ("ModifyInfo", "false"),
            ("GroupInfo", "ignored"),
        ],
    )
    .await;
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId"]
    );
    let described = ok(
        &s,
        "DescribeLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "g1")],
    )
    .await;
    assert_eq!(described["AdminList"], json!(["x", "y"]));
    assert_eq!(described["GroupInfo"], "");

    let body = ok(
        &s,
        "DeleteLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "g1"), ("OperatorId", "op7")],
    )
    .await;
    assert_eq!(body["GroupId"], "g1");
    let described = ok(
        &s,
        "DescribeLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "g1")],
    )
    .await;
    assert_eq!(
        (described["Delete"].clone(), described["Deletor"].clone()),
        (json!(true), json!("op7"))
    );
    assert!(described["Deletatime"].as_i64().unwrap() > 0);
    // Deleted: its users cannot be listed, it cannot be modified; deleting again is fine, as is
    // deleting a group that never was.
    let (st, b) = s
        .call(
            "ListLiveMessageGroupUsers",
            &[
                ("AppId", &app),
                ("GroupId", "g1"),
                ("PageSize", "10"),
                ("SortType", "1"),
            ],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    let (st, b) = s
        .call(
            "ModifyLiveMessageGroup",
            &[("AppId", &app), ("GroupId", "g1"), ("ModifyInfo", "true")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    ok(
        &s,
        "DeleteLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "g1")],
    )
    .await;
    let body = ok(
        &s,
        "DeleteLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "never")],
    )
    .await;
    assert_eq!(body["GroupId"], "never");
    let (st, b) = s
        .call(
            "DeleteLiveMessageGroup",
            &[("AppId", "nosuchapp"), ("GroupId", "g1")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");

    // ListLiveMessageGroups: Hasmore, and no NextpageToken on the last page.
    let body = ok(
        &s,
        "ListLiveMessageGroups",
        &[("AppId", &app), ("SortType", "2")],
    )
    .await;
    assert_eq!(body["Hasmore"], false);
    assert!(body.get("NextpageToken").is_none(), "{body}");
    let list = body["GroupList"].as_array().unwrap();
    let ids: Vec<&str> = list
        .iter()
        .map(|g| g["GroupId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["g3", "g2", "g1"]);
    let g1 = &list[2];
    assert_eq!(g1["Delete"], true);
    assert_eq!(g1["CreatorId"], "boss");
    assert_eq!(g1["AdminList"], json!(["x", "y"]));
    assert!(g1["Createtime"].as_i64().unwrap() > 1_600_000_000);
    for field in ["GroupName", "GroupInfo"] {
        assert!(g1[field].is_string(), "{field}");
    }
    let body = ok(
        &s,
        "ListLiveMessageGroups",
        &[("AppId", &app), ("SortType", "1"), ("GroupStatus", "2")],
    )
    .await;
    assert_eq!(body["GroupList"].as_array().unwrap().len(), 1);

    // ByPage, over GET as the SDKs send it.
    let (st, body) = s
        .call_v1_action(
            "GET",
            "ListLiveMessageGroupByPage",
            &[
                ("AppId", &app),
                ("SortType", "1"),
                ("PageSize", "2"),
                ("PageNumber", "2"),
            ],
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (
            body["TotalCount"].clone(),
            body["PageNumber"].clone(),
            body["PageSize"].clone()
        ),
        (json!(3), json!(2), json!(2))
    );
    assert_eq!(body["GroupList"][0]["GroupId"], "g3");
    let body = ok(
        &s,
        "ListLiveMessageGroupByPage",
        &[("AppId", &app), ("SortType", "1"), ("GroupStatus", "1")],
    )
    .await;
    assert_eq!(
        (
            body["TotalCount"].clone(),
            body["PageNumber"].clone(),
            body["PageSize"].clone()
        ),
        (json!(2), json!(1), json!(20))
    );

    let body = ok(
        &s,
        "RecoverLiveMessageDeletedGroup",
        &[("AppId", &app), ("GroupId", "g1")],
    )
    .await;
    assert_eq!(body["GroupId"], "g1");
    let described = ok(
        &s,
        "DescribeLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "g1")],
    )
    .await;
    assert_eq!(
        (
            described["Delete"].clone(),
            described["OnlineUserCounts"].clone()
        ),
        (json!(false), json!(0))
    );
    let (st, b) = s
        .call(
            "RecoverLiveMessageDeletedGroup",
            &[("AppId", &app), ("GroupId", "never")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn cursors_page_through_groups_and_refuse_tokens_of_other_listings(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let (app, other) = (s.create_app().await, s.create_app().await);
    for i in 0..105 {
        s.store
            .create_group(
                &livemsg_domain::AppScope::parse(
                    livemsg_domain::AccountId::new(s.account_id).unwrap(),
                    &app,
                    "",
                )
                .unwrap(),
                livemsg_store::NewGroup {
                    group_id: livemsg_domain::GroupId::parse(&format!("g{i:03}")).unwrap(),
                    group_name: Default::default(),
                    group_info: Default::default(),
                    creator_id: None,
                    administrators: Vec::new(),
                },
            )
            .await
            .unwrap();
    }
    let first = ok(
        &s,
        "ListLiveMessageGroups",
        &[("AppId", &app), ("SortType", "1"), ("NextPageToken", "-1")],
    )
    .await;
    assert_eq!(first["Hasmore"], true);
    assert_eq!(first["GroupList"].as_array().unwrap().len(), 100);
    let token = first["NextpageToken"]
        .as_str()
        .expect("a string, as documented")
        .to_owned();
    let second = ok(
        &s,
        "ListLiveMessageGroups",
        &[
            ("AppId", &app),
            ("SortType", "1"),
            ("NextPageToken", &token),
        ],
    )
    .await;
    let ids: Vec<&str> = second["GroupList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["GroupId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["g100", "g101", "g102", "g103", "g104"]);
    assert_eq!(second["Hasmore"], false);

    // The token of this listing is no token of another app's, of the other order or of another
    // filter; garbage and negative numbers are refused too.
    for (app_id, sort, status, token) in [
        (other.as_str(), "1", "0", token.as_str()),
        (app.as_str(), "2", "0", token.as_str()),
        (app.as_str(), "1", "1", token.as_str()),
        (app.as_str(), "1", "0", "1001"),
        (app.as_str(), "1", "0", "-5"),
        (app.as_str(), "1", "0", "abc"),
        (app.as_str(), "1", "0", "99999999999999999999"),
    ] {
        let (st, b) = s
            .call(
                "ListLiveMessageGroups",
                &[
                    ("AppId", app_id),
                    ("SortType", sort),
                    ("GroupStatus", status),
                    ("NextPageToken", token),
                ],
            )
            .await;
        assert_invalid(st, &b, "NextPageToken");
    }
}
