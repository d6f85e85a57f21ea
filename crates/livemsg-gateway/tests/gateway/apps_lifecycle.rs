//! Apps over HTTP: listed, disabled, enabled, their audit set; user info in all groups; operations authorized on All Resources.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn apps_are_listed_disabled_enabled_and_their_audit_set(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let (first, second) = (s.create_app().await, s.create_app().await);
    let body = ok(&s, "ListLiveMessageApps", &[("SortType", "1")]).await;
    assert_eq!(body["HasMore"], false);
    assert!(body.get("NextPageToken").is_none(), "{body}");
    let apps = body["AppList"].as_array().unwrap();
    let ids: Vec<&str> = apps.iter().map(|a| a["AppId"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(apps[0]["Disable"], "false", "a string in this listing");
    for field in ["AppKey", "AppSign", "AppName", "DataCenter"] {
        assert!(apps[0][field].is_string(), "{field}");
    }
    for field in ["CreateTime", "ModifyTime", "MsgLifeCycle"] {
        assert!(apps[0][field].is_i64(), "{field}");
    }
    let body = ok(
        &s,
        "ListLiveMessageApps",
        &[("SortType", "1"), ("DataCenter", "ap-southeast-1")],
    )
    .await;
    assert_eq!(body["AppList"], json!([]));

    let body = ok(
        &s,
        "ModifyLiveMessageAppDisable",
        &[("AppId", &first), ("Disable", "True")],
    )
    .await;
    assert_eq!(
        (body["AppId"].as_str(), body["Disable"].clone()),
        (Some(first.as_str()), json!(true))
    );
    assert!(body["AppSign"].is_string());
    let described = ok(&s, "DescribeLiveMessageApp", &[("AppId", &first)]).await;
    assert_eq!(described["Disable"], true);
    let (st, b) = s
        .call(
            "CreateLiveMessageGroup",
            &[("AppId", &first), ("GroupId", "g")],
        )
        .await;
    assert_error(st, &b, 403, "NoAuth");
    assert_eq!(b["Message"], "App is disabled.");
    let body = ok(&s, "ListLiveMessageApps", &[("SortType", "2")]).await;
    assert_eq!(body["AppList"][1]["Disable"], "true");
    // No Disable: no change.
    let body = ok(&s, "ModifyLiveMessageAppDisable", &[("AppId", &first)]).await;
    assert_eq!(body["Disable"], true);
    let body = ok(
        &s,
        "ModifyLiveMessageAppDisable",
        &[("AppId", &first), ("Disable", "false")],
    )
    .await;
    assert_eq!(body["Disable"], false);
    ok(
        &s,
        "CreateLiveMessageGroup",
        &[("AppId", &first), ("GroupId", "g")],
    )
    .await;

    let body = ok(
        &s,
        "ModifyLiveMessageAppAudit",
        &[
            ("AppId", &first),
            ("AuditType", "2"),
            ("AuditUrl", "https://audit.example.com/check"),
        ],
    )
    .await;
    assert_eq!(body["AuditType"], 2);
    assert_eq!(body["AuditUrl"], "https://audit.example.com/check");
    assert_eq!(body["AuditNeedAuthentication"], true);
    let described = ok(&s, "DescribeLiveMessageApp", &[("AppId", &first)]).await;
    assert_eq!(
        (
            described["AuditType"].clone(),
            described["AuditUrl"].clone()
        ),
        (json!(2), json!("https://audit.example.com/check"))
    );
    // The type alone: the stored URL still serves a custom audit; built-in needs none.
    ok(
        &s,
        "ModifyLiveMessageAppAudit",
        &[("AppId", &first), ("AuditType", "2")],
    )
    .await;
    let body = ok(
        &s,
        "ModifyLiveMessageAppAudit",
        &[("AppId", &first), ("AuditType", "1")],
    )
    .await;
    assert_eq!(
        (
            body["AuditType"].clone(),
            body["AuditNeedAuthentication"].clone()
        ),
        (json!(1), json!(false))
    );
    assert!(body.get("AuditUrl").is_none());
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn user_info_changes_in_the_users_groups_with_both_lists(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    for g in ["g1", "g2"] {
        ok(
            &s,
            "CreateLiveMessageGroup",
            &[("AppId", &app), ("GroupId", g)],
        )
        .await;
        s.join_all(&app, g, ["v".to_owned()].into_iter()).await;
    }
    let body = ok(
        &s,
        "ModifyLiveMessageUserInfo",
        &[("AppId", &app), ("UserId", "v"), ("UserMetaInfo", "vip")],
    )
    .await;
    assert_eq!(
        body["SuccessList"],
        json!([{"GroupId": "g1", "Success": true}, {"GroupId": "g2", "Success": true}])
    );
    assert_eq!(body["FailList"], json!([]));
    let users = ok(
        &s,
        "ListLiveMessageGroupUsers",
        &[
            ("AppId", &app),
            ("GroupId", "g2"),
            ("PageSize", "10"),
            ("SortType", "1"),
        ],
    )
    .await;
    assert_eq!(
        users["UserList"],
        json!([{"UserId": "v", "UserInfo": "vip"}])
    );
    let body = ok(
        &s,
        "ModifyLiveMessageUserInfo",
        &[("AppId", &app), ("UserId", "nobody")],
    )
    .await;
    assert_eq!(
        (body["SuccessList"].clone(), body["FailList"].clone()),
        (json!([]), json!([]))
    );
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn account_wide_operations_are_authorized_on_all_resources(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    let allow = |action: &str, resource: &str| {
        format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"live:{action}","Resource":"{resource}"}}]}}"#
        )
    };
    let (scoped_id, scoped_secret) = s
        .ram_key(
            "scoped",
            &[
                ("info-app", allow("ModifyLiveMessageUserInfo", &s.arn(&app))),
                ("apps-app", allow("ListLiveMessageApps", &s.arn(&app))),
                ("delete-app", allow("DeleteLiveMessageGroup", &s.arn(&app))),
            ],
        )
        .await;
    let (all_id, all_secret) = s
        .ram_key(
            "everywhere",
            &[
                ("info-all", allow("ModifyLiveMessageUserInfo", "*")),
                ("apps-all", allow("ListLiveMessageApps", "*")),
            ],
        )
        .await;
    let info = [("AppId", app.as_str()), ("UserId", "v")];
    let (st, b) = s
        .call_as(
            "ModifyLiveMessageUserInfo",
            &info,
            &scoped_id,
            &scoped_secret,
        )
        .await;
    assert_error(st, &b, 403, "NoAuth");
    assert_eq!(b["AccessDeniedDetail"]["AuthResource"], "*");
    let (st, b) = s
        .call_as(
            "ListLiveMessageApps",
            &[("SortType", "1")],
            &scoped_id,
            &scoped_secret,
        )
        .await;
    assert_error(st, &b, 403, "NoAuth");
    // An app-scoped grant is what the app-scoped operations need.
    let (st, b) = s
        .call_as(
            "DeleteLiveMessageGroup",
            &[("AppId", &app), ("GroupId", "g")],
            &scoped_id,
            &scoped_secret,
        )
        .await;
    assert_eq!(st, 200, "{b}");

    let (st, b) = s
        .call_as("ModifyLiveMessageUserInfo", &info, &all_id, &all_secret)
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = s
        .call_as(
            "ListLiveMessageApps",
            &[("SortType", "1")],
            &all_id,
            &all_secret,
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["AppList"].as_array().unwrap().len(), 1);
}
