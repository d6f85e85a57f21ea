//! RAM users: what policies allow, and the conditions they see.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_ram_user_may_do_only_what_its_policies_allow(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let (app_a, app_b) = (s.create_app().await, s.create_app().await);
    for app in [&app_a, &app_b] {
        let (status, body) = s
            .call(
                "CreateLiveMessageGroup",
                &[("AppId", app), ("GroupId", "g")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (id, secret) = s
        .ram_key("lister", &[("list-a", list_policy(&s.arn(&app_a)))])
        .await;
    let list = |app: &str| {
        vec![
            ("AppId", app.to_owned()),
            ("GroupId", "g".to_owned()),
            ("PageSize", "10".to_owned()),
            ("SortType", "1".to_owned()),
        ]
    };
    let as_user = |action: &'static str, query: Vec<(&'static str, String)>| {
        let (s, id, secret) = (s.clone(), id.clone(), secret.clone());
        async move {
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.call_as(action, &q, &id, &secret).await
        }
    };

    let (st, b) = as_user("ListLiveMessageGroupUsers", list(&app_a)).await;
    assert_eq!(st, 200, "{b}");

    let (st, b) = as_user("ListLiveMessageGroupUsers", list(&app_b)).await;
    assert_error(st, &b, 403, "NoAuth");
    let detail = &b["AccessDeniedDetail"];
    assert_eq!(detail["AuthAction"], "live:ListLiveMessageGroupUsers");
    assert_eq!(detail["NoPermissionType"], "ImplicitDeny");
    assert_eq!(detail["AuthPrincipalType"], "SubUser");
    assert_eq!(detail["AuthPrincipalDisplayName"], "lister");
    assert_eq!(detail["AuthResource"], s.arn(&app_b));

    let (st, b) = as_user(
        "DescribeLiveMessageGroup",
        vec![("AppId", app_a.clone()), ("GroupId", "g".to_owned())],
    )
    .await;
    assert_error(st, &b, 403, "NoAuth");
    let (st, b) = as_user("CreateLiveMessageApp", vec![]).await;
    assert_error(st, &b, 403, "NoAuth");

    // An explicit Deny in another policy wins over the Allow.
    let deny = format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Deny","Action":"live:*","Resource":"{}"}}]}}"#,
        s.arn(&app_a)
    );
    s.store
        .create_policy(s.account_id, "deny-a", &deny)
        .await
        .unwrap();
    s.store
        .attach_policy(s.account_id, "lister", "deny-a")
        .await
        .unwrap();
    let (st, b) = eventually(
        || as_user("ListLiveMessageGroupUsers", list(&app_a)),
        |status, _| status != 200,
    )
    .await;
    assert_error(st, &b, 403, "NoAuth");
    assert_eq!(b["AccessDeniedDetail"]["NoPermissionType"], "ExplicitDeny");

    // The root key of the account is allowed everything on its own resources.
    let (st, _) = s
        .call(
            "ListLiveMessageGroupUsers",
            &[
                ("AppId", &app_b),
                ("GroupId", "g"),
                ("PageSize", "10"),
                ("SortType", "1"),
            ],
        )
        .await;
    assert_eq!(st, 200);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn conditions_see_the_callers_address_and_the_time(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    let policy = |condition: &str| {
        format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"live:DescribeLiveMessageApp","Resource":"*","Condition":{condition}}}]}}"#
        )
    };
    let cases = [
        (
            "loopback",
            r#"{"IpAddress":{"acs:SourceIp":"127.0.0.0/8"}}"#,
            200,
        ),
        (
            "elsewhere",
            r#"{"IpAddress":{"acs:SourceIp":"203.0.113.0/24"}}"#,
            403,
        ),
        ("nottls", r#"{"Bool":{"acs:SecureTransport":"true"}}"#, 403),
        (
            "until2099",
            r#"{"DateLessThan":{"acs:CurrentTime":"2099-01-01T00:00:00Z"}}"#,
            200,
        ),
        (
            "expired",
            r#"{"DateLessThan":{"acs:CurrentTime":"2020-01-01T00:00:00+08:00"}}"#,
            403,
        ),
    ];
    for (user, condition, want) in cases {
        let (id, secret) = s.ram_key(user, &[(user, policy(condition))]).await;
        let (st, b) = s
            .call_as("DescribeLiveMessageApp", &[("AppId", &app)], &id, &secret)
            .await;
        assert_eq!(st, want, "{user}: {b}");
    }
}

/// Behind a proxy (`trust_forwarded_headers`, one trusted hop), conditions see the address the
/// proxy appended, not one the client put to the left of it, in its canonical form; and TLS as
/// the proxy reports it. Without the setting the headers are ignored.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn behind_a_trusted_proxy_conditions_see_the_address_it_appended(pool: PgPool) {
    let mut s = start(pool, 2_000).await;
    let app = s.create_app().await;
    let allow_from = |range: &str, tls: bool| {
        let tls = if tls {
            r#","Bool":{"acs:SecureTransport":"true"}"#
        } else {
            ""
        };
        format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"live:DescribeLiveMessageApp","Resource":"*","Condition":{{"IpAddress":{{"acs:SourceIp":"{range}"}}{tls}}}}}]}}"#
        )
    };
    let (office, office_secret) = s
        .ram_key("office", &[("office", allow_from("203.0.113.0/24", false))])
        .await;
    let (secure, secure_secret) = s
        .ram_key("secure", &[("secure", allow_from("203.0.113.0/24", true))])
        .await;
    let call = |s: &Stack, key: (String, String), headers: Vec<(&'static str, &'static str)>| {
        let (s, app) = (s.clone(), app.clone());
        async move {
            let query = format!("AppId={app}");
            s.call_raw_with(
                "DescribeLiveMessageApp",
                &query,
                &[("AppId", &app)],
                (&key.0, &key.1),
                &nonce(),
                &headers,
            )
            .await
            .0
        }
    };
    let office_key = (office.clone(), office_secret.clone());
    let secure_key = (secure.clone(), secure_secret.clone());

    // Not trusted: the headers are ignored, the caller is 127.0.0.1.
    assert_eq!(
        call(
            &s,
            office_key.clone(),
            vec![("x-forwarded-for", "203.0.113.9")]
        )
        .await,
        403
    );

    let mut settings = test_gateway_settings().await;
    settings.gateway.trust_forwarded_headers = true;
    settings.gateway.trusted_proxy_hops = 1;
    s.gateway = gateway_with(s.service.clone(), settings).await;
    for (forwarded, want) in [
        ("203.0.113.9", 200),
        // The client wrote the first entry; the proxy appended the address it saw.
        ("203.0.113.9, 198.51.100.4", 403),
        ("198.51.100.4, 203.0.113.9", 200),
        ("::ffff:203.0.113.9", 200),
        ("not-an-address", 403),
    ] {
        assert_eq!(
            call(&s, office_key.clone(), vec![("x-forwarded-for", forwarded)]).await,
            want,
            "{forwarded}"
        );
    }
    for (proto, want) in [("https", 200), ("https, http", 403), ("http, https", 200)] {
        let headers = vec![
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", proto),
        ];
        assert_eq!(call(&s, secure_key.clone(), headers).await, want, "{proto}");
    }
}
