//! The served operations end to end: apps, groups, paged user lists, errors, form bodies.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn apps_groups_and_paged_user_lists_end_to_end(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app_id = s.create_app().await;

    let (status, created) = s
        .call(
            "CreateLiveMessageGroup",
            &[
                ("AppId", &app_id),
                ("GroupId", "room1"),
                ("GroupName", "Room one"),
                ("CreatorId", "host1"),
                ("Administrators", "adm1,adm2"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["GroupId"], "room1");
    assert_eq!(created["AlreadyExists"], false);
    assert_eq!(created["AlreadyDelete"], false);
    let request_id = created["RequestId"].as_str().unwrap();
    assert_eq!(request_id, request_id.to_uppercase());
    assert_eq!(request_id.len(), 36);

    s.join_all(&app_id, "room1", (0..23).map(|i| format!("user{i:02}")))
        .await;

    let (_, described) = s
        .call(
            "DescribeLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "room1")],
        )
        .await;
    assert_eq!(described["OnlineUserCounts"], 23);
    assert_eq!(described["SuperLargeGroup"], false);
    assert_eq!(described["AdminList"], serde_json::json!(["adm1", "adm2"]));
    assert_eq!(described["CreatorId"], "host1");
    assert_eq!(described["GroupName"], "Room one");
    assert_eq!(described["Delete"], false);

    for (sort, first) in [("1", "user00"), ("2", "user22")] {
        let mut token = String::new();
        let mut seen = Vec::new();
        loop {
            let mut query = vec![
                ("AppId", app_id.as_str()),
                ("GroupId", "room1"),
                ("PageSize", "10"),
                ("SortType", sort),
            ];
            if !token.is_empty() {
                query.push(("NextPageToken", &token));
            }
            let (status, page) = s.call("ListLiveMessageGroupUsers", &query).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["GroupId"], "room1");
            for user in page["UserList"].as_array().unwrap() {
                assert_eq!(
                    user["UserInfo"],
                    format!("info of {}", user["UserId"].as_str().unwrap())
                );
                seen.push(user["UserId"].as_str().unwrap().to_owned());
            }
            let next = page["NextPageToken"].as_i64().unwrap();
            assert_eq!(page["Hasmore"], next != 0);
            if next == 0 {
                break;
            }
            token = next.to_string();
        }
        assert_eq!(seen.len(), 23);
        assert_eq!(seen[0], first);
    }

    // The same call signed with V1 (the legacy SDK's scheme), by GET and by POST.
    for method in ["GET", "POST"] {
        let ts = now();
        let nonce = nonce();
        let (status, page) = s
            .call_v1(
                method,
                &[
                    ("Action", "ListLiveMessageGroupUsers"),
                    ("Version", "2016-11-01"),
                    ("Format", "JSON"),
                    ("RegionId", "cn-shanghai"),
                    ("SignatureMethod", "HMAC-SHA1"),
                    ("SignatureType", ""),
                    ("SignatureVersion", "1.0"),
                    ("SignatureNonce", &nonce),
                    ("Timestamp", &ts),
                    ("AccessKeyId", &s.key_id),
                    ("AppId", &app_id),
                    ("GroupId", "room1"),
                    ("PageSize", "50"),
                    ("SortType", "2"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["UserList"].as_array().unwrap().len(), 23);
        assert_eq!(page["NextPageToken"], 0);
        assert_eq!(page["Hasmore"], false);
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn input_and_resource_errors_have_the_seed_codes_and_statuses(pool: PgPool) {
    let s = start(pool, 10).await;
    let app_id = s.create_app().await;
    let (status, body) = s
        .call(
            "CreateLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "g1")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let list = |extra: &'static [(&'static str, &'static str)]| {
        let mut q: Vec<(&str, &str)> = vec![("AppId", &app_id), ("GroupId", "g1")];
        q.extend_from_slice(extra);
        q
    };

    let (st, b) = s
        .call("ListLiveMessageGroupUsers", &list(&[("SortType", "1")]))
        .await;
    assert_error(st, &b, 400, "MissingPageSize");
    assert_eq!(b["Message"], "PageSize is mandatory for this action.");

    for (page_size, sort_type, field) in [
        ("9", "1", "PageSize"),
        ("51", "1", "PageSize"),
        ("ten", "1", "PageSize"),
        ("10", "3", "SortType"),
    ] {
        let q = [
            ("AppId", app_id.as_str()),
            ("GroupId", "g1"),
            ("PageSize", page_size),
            ("SortType", sort_type),
        ];
        let (st, b) = s.call("ListLiveMessageGroupUsers", &q).await;
        assert_error(st, &b, 400, "InputInvalid");
        assert!(b["Message"].as_str().unwrap().starts_with(field), "{b}");
    }

    let (st, b) = s
        .call(
            "ListLiveMessageGroupUsers",
            &list(&[
                ("PageSize", "10"),
                ("SortType", "1"),
                ("NextPageToken", "-5"),
            ]),
        )
        .await;
    assert_error(st, &b, 400, "InputInvalid");

    let (st, b) = s
        .call(
            "CreateLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "bad-id")],
        )
        .await;
    assert_error(st, &b, 400, "InputInvalid");
    assert_eq!(b["Message"], "GroupId may contain only letters and digits.");

    let (st, b) = s.call("CreateLiveMessageApp", &[("AppName", "x")]).await;
    assert_error(st, &b, 400, "InputInvalid");
    assert!(b["Message"].as_str().unwrap().contains("AppName"));

    let (st, b) = s
        .call(
            "CreateLiveMessageApp",
            &[
                ("AppName", "demo"),
                ("EventCallbackUrl", "http://10.0.0.1/cb"),
            ],
        )
        .await;
    assert_error(st, &b, 400, "InputInvalid");

    // Unknown group, other data center, unknown app: ResourceNotExist.
    let (st, b) = s
        .call(
            "DescribeLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "nope")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    let (st, b) = s
        .call(
            "DescribeLiveMessageGroup",
            &[
                ("AppId", &app_id),
                ("GroupId", "g1"),
                ("DataCenter", "ap-southeast-1"),
            ],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");
    let (st, b) = s
        .call(
            "DescribeLiveMessageGroup",
            &[
                ("AppId", &app_id),
                ("GroupId", "g1"),
                ("DataCenter", "mars-1"),
            ],
        )
        .await;
    assert_error(st, &b, 400, "InputInvalid");

    // Another account's keys do not see this app.
    let other = s.store.create_account("other").await.unwrap();
    let other_key = s
        .store
        .create_access_key(other.account_id, None)
        .await
        .unwrap();
    assert_ne!(other.account_id, s.account_id);
    let (st, b) = s
        .call_as(
            "DescribeLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "g1")],
            &other_key.access_key_id,
            &other_key.secret,
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");

    // Past the threshold the list answers 420 and the description says so.
    s.join_all(&app_id, "g1", (0..11).map(|i| format!("u{i}")))
        .await;
    let (st, b) = s
        .call(
            "ListLiveMessageGroupUsers",
            &list(&[("PageSize", "10"), ("SortType", "1")]),
        )
        .await;
    assert_error(st, &b, 420, "SuperLargeGroup");
    let (_, described) = s
        .call(
            "DescribeLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "g1")],
        )
        .await;
    assert_eq!(described["SuperLargeGroup"], true);
    assert_eq!(described["OnlineUserCounts"], 11);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn parameters_may_travel_in_a_form_body_under_both_schemes(pool: PgPool) {
    use livemsg_gateway::signing::{percent_encode, v1};
    let s = start(pool, 2_000).await;
    let send = |query: String, headers: Vec<(String, String)>, body: &'static [u8]| {
        let mut request = s
            .http
            .post(format!("http://{}/?{query}", s.gateway))
            .body(body);
        for (name, value) in headers {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        request.send()
    };

    // V3: the body is covered by its hash and its content type is signed.
    let body: &'static [u8] = b"AppName=formapp&DataCenter=ap-southeast-1";
    let date = now();
    let headers = v3_headers(
        &V3Request {
            method: "POST",
            host: &s.gateway,
            action: "CreateLiveMessageApp",
            query: &[],
            body,
            date: &date,
            nonce: &nonce(),
        },
        &s.key_id,
        &s.secret,
    );
    let (st, b) = Stack::read(send(String::new(), headers.clone(), body).await.unwrap()).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["DataCenter"], "ap-southeast-1");

    // The same headers with another body: the payload hash no longer matches.
    let (st, b) = Stack::read(
        send(
            String::new(),
            headers,
            b"AppName=other&DataCenter=ap-southeast-1",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_error(st, &b, 400, "SignatureDoesNotMatch");

    // V1: the envelope in the query, the operation's parameters in the body, all signed.
    let ts = now();
    let n = nonce();
    let envelope = [
        ("Action", "CreateLiveMessageApp"),
        ("Version", "2016-11-01"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", n.as_str()),
        ("Timestamp", ts.as_str()),
        ("AccessKeyId", s.key_id.as_str()),
    ];
    let business = [("AppName", "v1 form"), ("MsgLifeCycle", "2")];
    let all: Vec<(&str, &str)> = envelope.iter().chain(&business).copied().collect();
    let signature = v1::sign(&s.secret, &v1::string_to_sign("POST", &all));
    let mut query: Vec<String> = envelope
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    query.push(format!("Signature={}", percent_encode(&signature)));
    let form = vec![(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let (st, b) = Stack::read(
        send(
            query.join("&"),
            form.clone(),
            b"AppName=v1+form&MsgLifeCycle=2",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    let app_id = b["AppId"].as_str().unwrap().to_owned();
    let (_, app) = s
        .call("DescribeLiveMessageApp", &[("AppId", &app_id)])
        .await;
    assert_eq!(app["AppName"], "v1 form");
    assert_eq!(app["MsgLifeCycle"], 2);

    // A body changed in flight breaks a V1 signature too.
    let (st, b) = Stack::read(
        send(query.join("&"), form, b"AppName=v1+form&MsgLifeCycle=1")
            .await
            .unwrap(),
    )
    .await;
    assert_error(st, &b, 400, "SignatureDoesNotMatch");
}

/// What the security review found answering 500 or accepted: a NUL in free text, and callback
/// URLs that spell a private address in ways a naive check misses. Each is a 400 naming the
/// parameter, and nothing is stored.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn nul_characters_and_private_callback_urls_are_refused_with_input_invalid(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app_id = s.create_app().await;
    for (field, value) in [("GroupName", "a\0b"), ("GroupInfo", "{\"k\":\"\0\"}")] {
        let (st, b) = s
            .call(
                "CreateLiveMessageGroup",
                &[("AppId", &app_id), ("GroupId", "g1"), (field, value)],
            )
            .await;
        assert_error(st, &b, 400, "InputInvalid");
        assert_eq!(
            b["Message"],
            format!("{field} must not contain NUL characters.")
        );
    }
    let (st, b) = s
        .call(
            "DescribeLiveMessageGroup",
            &[("AppId", &app_id), ("GroupId", "g1")],
        )
        .await;
    assert_error(st, &b, 404, "ResourceNotExist");

    for url in [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://127.0.0.1./",
        "http://[::ffff:127.0.0.1]/cb",
        "http://10.0.0.1\\@example.com/",
    ] {
        let (st, b) = s
            .call(
                "ModifyLiveMessageAppCallback",
                &[("AppId", &app_id), ("EventCallbackUrl", url)],
            )
            .await;
        assert_error(st, &b, 400, "InputInvalid");
        assert_eq!(
            b["Message"], "EventCallbackUrl must not point at a private address.",
            "{url}"
        );
    }
    let (st, b) = s
        .call("DescribeLiveMessageApp", &[("AppId", &app_id)])
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["EventCallbackUrl"], "", "no refused URL was stored");
}
