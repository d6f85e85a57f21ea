//! Bad input to the lifecycle operations: `InputInvalid` (or `Missing<Param>`) naming the parameter.

use crate::helpers::*;

/// An action, its parameters besides `AppId`, and the parameter the error must name.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn bad_paging_sorting_flags_and_lists_name_their_parameter(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    ok(
        &s,
        "CreateLiveMessageGroup",
        &[("AppId", &app), ("GroupId", "g")],
    )
    .await;
    let cases: &[Case] = &[
        (
            "ListLiveMessageGroupByPage",
            &[("SortType", "1"), ("PageNumber", "0")],
            "PageNumber",
        ),
        (
            "ListLiveMessageGroupByPage",
            &[("SortType", "1"), ("PageNumber", "10001")],
            "PageNumber",
        ),
        (
            "ListLiveMessageGroupByPage",
            &[("SortType", "1"), ("PageSize", "51")],
            "PageSize",
        ),
        (
            "ListLiveMessageGroupByPage",
            &[("SortType", "1"), ("PageSize", "x")],
            "PageSize",
        ),
        (
            "ListLiveMessageGroupByPage",
            &[("SortType", "3")],
            "SortType",
        ),
        (
            "ListLiveMessageGroupByPage",
            &[("SortType", "1"), ("GroupStatus", "3")],
            "GroupStatus",
        ),
        ("ListLiveMessageGroups", &[("SortType", "0")], "SortType"),
        (
            "ListLiveMessageGroups",
            &[("SortType", "1"), ("GroupStatus", "-1")],
            "GroupStatus",
        ),
        (
            "ModifyLiveMessageGroup",
            &[("GroupId", "g"), ("ModifyAdmin", "yes")],
            "ModifyAdmin",
        ),
        (
            "ModifyLiveMessageGroup",
            &[
                ("GroupId", "g"),
                ("ModifyAdmin", "true"),
                ("AdminList", "a,b,c,d"),
            ],
            "AdminList",
        ),
        (
            "ModifyLiveMessageGroup",
            &[
                ("GroupId", "g"),
                ("ModifyAdmin", "true"),
                ("AdminList", "a,,b"),
            ],
            "AdminList",
        ),
        (
            "ModifyLiveMessageGroup",
            &[
                ("GroupId", "g"),
                ("ModifyInfo", "true"),
                ("GroupInfo", "a\u{0}b"),
            ],
            "GroupInfo",
        ),
        (
            "DeleteLiveMessageGroup",
            &[("GroupId", "g"), ("OperatorId", "has space")],
            "OperatorId",
        ),
        (
            "DeleteLiveMessageGroup",
            &[("GroupId", "bad id!")],
            "GroupId",
        ),
        (
            "ModifyLiveMessageAppDisable",
            &[("Disable", "maybe")],
            "Disable",
        ),
        (
            "ModifyLiveMessageAppAudit",
            &[("AuditType", "3")],
            "AuditType",
        ),
        (
            "ModifyLiveMessageAppAudit",
            &[("AuditType", "2")],
            "AuditUrl",
        ),
        (
            "ModifyLiveMessageAppAudit",
            &[("AuditType", "2"), ("AuditUrl", "ftp://x.example.com/a")],
            "AuditUrl",
        ),
        (
            "ModifyLiveMessageAppAudit",
            &[("AuditType", "2"), ("AuditUrl", "http://10.0.0.1/a")],
            "AuditUrl",
        ),
        (
            "ModifyLiveMessageUserInfo",
            &[("UserId", "u"), ("UserMetaInfo", &"x".repeat(513))],
            "UserMetaInfo",
        ),
        ("ModifyLiveMessageUserInfo", &[("UserId", "u v")], "UserId"),
    ];
    for (action, params, param) in cases {
        let mut query = vec![("AppId", app.as_str())];
        query.extend_from_slice(params);
        let (st, b) = s.call(action, &query).await;
        assert_invalid(st, &b, param);
    }
    let (st, b) = s.call("ListLiveMessageApps", &[("SortType", "9")]).await;
    assert_invalid(st, &b, "SortType");
    let (st, b) = s.call("ListLiveMessageApps", &[]).await;
    assert_error(st, &b, 400, "MissingSortType");
    let (st, b) = s.call("ListLiveMessageGroups", &[("AppId", &app)]).await;
    assert_error(st, &b, 400, "MissingSortType");
    let (st, b) = s
        .call("ModifyLiveMessageUserInfo", &[("AppId", &app)])
        .await;
    assert_error(st, &b, 400, "MissingUserId");
}
