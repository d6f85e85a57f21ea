//! Parsing and authentication: the envelope, signatures, nonces, spellings, random input.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn envelope_and_authentication_errors_are_refused_in_order(pool: PgPool) {
    let s = start(pool, 2_000).await;

    let (st, b) = s.call("DescribeRegions", &[]).await;
    assert_error(st, &b, 404, "InvalidAction.NotFound");
    // Actions are case-sensitive, as the API is.
    let (st, b) = s.call("banLiveMessageGroup", &[]).await;
    assert_error(st, &b, 404, "InvalidAction.NotFound");

    let (st, b) = s
        .call_as("CreateLiveMessageApp", &[], "LTAIunknownkey000000000", "x")
        .await;
    assert_error(st, &b, 404, "InvalidAccessKeyId.NotFound");

    let (st, b) = s
        .call_as("CreateLiveMessageApp", &[], &s.key_id, "wrong-secret")
        .await;
    assert_error(st, &b, 400, "SignatureDoesNotMatch");

    // V1 envelope problems.
    let ts = now();
    let base = |version: &'static str| {
        vec![
            ("Action", "CreateLiveMessageApp"),
            ("Version", version),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "n1"),
            ("AccessKeyId", s.key_id.as_str()),
        ]
    };
    let mut wrong_version = base("2014-05-26");
    wrong_version.push(("Timestamp", &ts));
    let (st, b) = s.call_v1("POST", &wrong_version).await;
    assert_error(st, &b, 400, "InvalidVersion");

    let mut stale = base("2016-11-01");
    stale.push(("Timestamp", "2020-01-01T00:00:00Z"));
    let (st, b) = s.call_v1("POST", &stale).await;
    assert_error(st, &b, 400, "InvalidTimeStamp.Expired");

    let (st, b) = Stack::read(
        s.http
            .post(format!(
                "http://{}/?Action=CreateLiveMessageApp&Version=2016-11-01",
                s.gateway
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(st, &b, 400, "MissingSignature");

    let (st, b) = Stack::read(
        s.http
            .post(format!("http://{}/?Action=A&Action=B", s.gateway))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(st, &b, 400, "InputInvalid");
    assert_eq!(b["Message"], "Parameter Action is given more than once.");

    let (st, b) = Stack::read(
        s.http
            .post(format!("http://{}/some/path", s.gateway))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(st, &b, 404, "InvalidAction.NotFound");

    // A disabled key is refused before anything runs, once the gateway's cached copy of the
    // key expires.
    s.store
        .set_access_key_enabled(&s.key_id, false)
        .await
        .unwrap();
    let (st, b) = eventually(
        || s.call("CreateLiveMessageApp", &[]),
        |status, _| status != 200,
    )
    .await;
    assert_error(st, &b, 400, "InvalidAccessKeyId.Inactive");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_nonce_is_accepted_once_and_only_after_a_valid_signature(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    let q = [("AppId", app.as_str())];
    let raw = format!("AppId={app}");
    let key = (s.key_id.as_str(), s.secret.as_str());

    // A forged request does not use up the nonce...
    let (st, b) = s
        .call_raw(
            "DescribeLiveMessageApp",
            &raw,
            &q,
            (key.0, "forged"),
            "nonce-1",
        )
        .await;
    assert_error(st, &b, 400, "SignatureDoesNotMatch");
    // ...so the real one with that nonce passes, once.
    let (st, b) = s
        .call_raw("DescribeLiveMessageApp", &raw, &q, key, "nonce-1")
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = s
        .call_raw("DescribeLiveMessageApp", &raw, &q, key, "nonce-1")
        .await;
    assert_error(st, &b, 400, "SignatureNonceUsed");

    // Across gateway instances too: two gateways sharing one nonce prefix.
    let mut shared = test_gateway_settings().await;
    shared.gateway.nonce_key_prefix = unique_prefix();
    // Shared only through Redis: give a loaded test run time to answer rather than fall back
    // to each instance's memory.
    shared.ratelimit.timeout_ms = 5_000;
    let mut first = s.clone();
    first.gateway = gateway_with(s.service.clone(), shared.clone()).await;
    let mut second = s.clone();
    second.gateway = gateway_with(s.service.clone(), shared).await;
    let nonce = format!("shared-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(
        first
            .call_raw("DescribeLiveMessageApp", &raw, &q, key, &nonce)
            .await
            .0,
        200
    );
    let (st, b) = second
        .call_raw("DescribeLiveMessageApp", &raw, &q, key, &nonce)
        .await;
    assert_error(st, &b, 400, "SignatureNonceUsed");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn no_spelling_of_a_parameter_slips_past_authorization(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let (allowed, other) = (s.create_app().await, s.create_app().await);
    for app in [&allowed, &other] {
        let (status, body) = s
            .call(
                "CreateLiveMessageGroup",
                &[("AppId", app), ("GroupId", "g")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (id, secret) = s
        .ram_key("lister", &[("list", list_policy(&s.arn(&allowed)))])
        .await;
    let key = (id.as_str(), secret.as_str());
    let base = [("GroupId", "g"), ("PageSize", "10"), ("SortType", "1")];
    let with = |extra: &[(&'static str, String)]| {
        let mut q: Vec<(String, String)> = base
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        q.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        q
    };
    let send = |pairs: Vec<(String, String)>, raw: String| {
        let s = s.clone();
        async move {
            let signed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            s.call_raw("ListLiveMessageGroupUsers", &raw, &signed, key, &nonce())
                .await
        }
    };
    let encode_all =
        |value: &str| -> String { value.bytes().map(|b| format!("%{b:02X}")).collect() };
    let plain = |pairs: &[(String, String)]| -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", livemsg_gateway::signing::percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };

    // Percent-encoding every byte of the AppId changes nothing: the decoded value is checked
    // and executed alike.
    let pairs = with(&[("AppId", other.clone())]);
    let raw = format!("{}&AppId={}", plain(&pairs[..3]), encode_all(&other));
    let (st, b) = send(pairs, raw).await;
    assert_error(st, &b, 403, "NoAuth");
    let pairs = with(&[("AppId", allowed.clone())]);
    let raw = format!("{}&AppId={}", plain(&pairs[..3]), encode_all(&allowed));
    assert_eq!(send(pairs, raw).await.0, 200);

    // A second AppId, however spelled, is refused before anything is decided.
    let pairs = with(&[("AppId", allowed.clone()), ("AppId", other.clone())]);
    let raw = plain(&pairs);
    let (st, b) = send(pairs, raw).await;
    assert_error(st, &b, 400, "InputInvalid");
    assert!(b["Message"].as_str().unwrap().contains("AppId"));

    // Another case is another (unknown, ignored) parameter: authorization and execution both
    // use AppId.
    let pairs = with(&[("appid", other.clone()), ("AppId", allowed.clone())]);
    let raw = plain(&pairs);
    let (st, b) = send(pairs, raw).await;
    assert_eq!(st, 200, "{b}");
    let pairs = with(&[("appid", allowed.clone()), ("AppId", other.clone())]);
    let raw = plain(&pairs);
    let (st, b) = send(pairs, raw).await;
    assert_error(st, &b, 403, "NoAuth");

    // A form body whose content type is not signed is refused under V3: which parameters it
    // carries depends on that header.
    let pairs = with(&[("AppId", allowed.clone())]);
    let raw = plain(&pairs);
    let date = now();
    let n = nonce();
    let signed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let headers = v3_headers(
        &V3Request {
            method: "POST",
            host: &s.gateway,
            action: "ListLiveMessageGroupUsers",
            query: &signed,
            body: b"",
            date: &date,
            nonce: &n,
        },
        key.0,
        key.1,
    );
    let mut request = s
        .http
        .post(format!("http://{}/?{raw}", s.gateway))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("DataCenter=ap-southeast-1");
    for (name, value) in headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let (st, b) = Stack::read(request.send().await.unwrap()).await;
    assert_eq!(st, 400, "{b}");
    // A body whose content type is not signed is refused before it is read.
    assert_error(st, &b, 400, "IncompleteSignature");
    assert_eq!(b["Message"], "The content-type header must be signed.");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn random_and_tampered_requests_never_authenticate_nor_crash_the_gateway(pool: PgPool) {
    use rand::{Rng, SeedableRng};
    let s = start(pool, 2_000).await;
    let app = s.create_app().await;
    let seed: u64 = rand::rng().random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let junk = |rng: &mut rand::rngs::StdRng, len: usize| -> String {
        (0..rng.random_range(0..len))
            .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
            .collect()
    };
    // The parse and authentication stages' codes: a spoiled request must stop there.
    let refused_before_running = |code: &str, message: &str| match code {
        "IncompleteSignature"
        | "InvalidSignatureMethod"
        | "SignatureDoesNotMatch"
        | "InvalidTimeStamp.Format"
        | "InvalidTimeStamp.Expired"
        | "InvalidAccessKeyId.NotFound"
        | "InvalidVersion"
        | "InvalidAction.NotFound"
        | "UnsupportedOperation" => true,
        // Malformed envelopes: the method, the encoding, a repeated parameter, the nonce.
        "InputInvalid" => [
            "The ",
            "Parameter ",
            "SignatureNonce ",
            "Action ",
            "Version ",
        ]
        .iter()
        .any(|p| message.starts_with(p)),
        missing => missing.starts_with("Missing"),
    };
    let mut skipped = 0;
    for round in 0..300 {
        let date = now();
        let n = nonce();
        // A group each round would create, were its request ever executed.
        let group = format!("fuzz{round}");
        let query = [("AppId", app.as_str()), ("GroupId", group.as_str())];
        let mut headers = v3_headers(
            &V3Request {
                method: "POST",
                host: &s.gateway,
                action: "CreateLiveMessageGroup",
                query: &query,
                body: b"",
                date: &date,
                nonce: &n,
            },
            &s.key_id,
            &s.secret,
        );
        // reqwest sets Host itself; every mutation below must change what is sent.
        headers.retain(|(name, _)| name != "host");
        let mut url_query = format!("AppId={app}&GroupId={group}");
        let mut method = reqwest::Method::POST;
        let mut body: Vec<u8> = Vec::new();
        // Spoil the request in one of several ways; none of them may pass.
        match rng.random_range(0..7) {
            0 => {
                let i = rng.random_range(0..headers.len());
                let value = &mut headers[i].1;
                let at = rng.random_range(0..value.len());
                let other = if &value[at..at + 1] == "Z" { "Y" } else { "Z" };
                value.replace_range(at..at + 1, other);
            }
            1 => {
                let i = rng.random_range(0..headers.len());
                headers.remove(i);
            }
            2 => url_query = format!("{url_query}&{}={}", junk(&mut rng, 8), junk(&mut rng, 16)),
            3 => {
                body = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
                if rng.random_bool(0.5) {
                    headers.push((
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
            }
            4 => {
                let auth = headers
                    .iter_mut()
                    .find(|(n, _)| n == "authorization")
                    .unwrap();
                auth.1 = format!("ACS3-HMAC-SHA256 {}", junk(&mut rng, 120));
            }
            5 => {
                method = [
                    reqwest::Method::GET,
                    reqwest::Method::PUT,
                    reqwest::Method::DELETE,
                ][rng.random_range(0..3)]
                .clone();
            }
            _ => {
                headers.clear();
                url_query = (0..rng.random_range(0..6))
                    .map(|_| format!("{}={}", junk(&mut rng, 10), junk(&mut rng, 20)))
                    .collect::<Vec<_>>()
                    .join("&");
            }
        }
        let url_query: String = url_query
            .chars()
            .map(|c| if c == ' ' || c == '#' { '+' } else { c })
            .collect();
        let mut request = s
            .http
            .request(method, format!("http://{}/?{url_query}", s.gateway))
            .body(body);
        for (name, value) in headers {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        let Ok(request) = request.build() else {
            skipped += 1;
            continue;
        };
        let response = s.http.execute(request).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            (400..500).contains(&status),
            "seed {seed} round {round}: status {status}: {text}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("seed {seed} round {round}: not JSON: {text}"));
        let code = body["Code"].as_str().unwrap_or_default();
        let message = body["Message"].as_str().unwrap_or_default();
        assert!(
            refused_before_running(code, message),
            "seed {seed} round {round}: refused after authentication: {body}"
        );
    }
    // Some rounds build a request reqwest itself refuses to send (a header value it will not
    // encode); they must stay few, or the test tests little.
    assert!(
        skipped < 30,
        "seed {seed}: {skipped} of 300 rounds not sent"
    );
    // Nothing ran: no round created its group.
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM groups WHERE group_id LIKE 'fuzz%'")
            .fetch_one(s.store.pool())
            .await
            .unwrap();
    assert_eq!(created, 0, "seed {seed}");
    // Still serving.
    let (status, _) = s.call("DescribeLiveMessageApp", &[("AppId", &app)]).await;
    assert_eq!(status, 200);
}

/// An AccessKeyId that can never exist (too long, or with characters no key has) is refused
/// as not found before it is looked up, cached or logged, under both schemes.
#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn impossible_access_key_ids_are_refused_before_any_lookup(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let long = "A".repeat(20_000);
    for id in [long.as_str(), "LTAI%00", "key with spaces"] {
        let (status, body) = s.call_as("CreateLiveMessageApp", &[], id, &s.secret).await;
        assert_error(status, &body, 404, "InvalidAccessKeyId.NotFound");
    }
    let huge = "B".repeat(100_000);
    for id in ["LTAI%0A2026-01-01T00:00:00Z%20INFO%20forged", huge.as_str()] {
        let body = format!(
            "Action=CreateLiveMessageApp&Version=2016-11-01&AccessKeyId={id}\
             &SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&SignatureNonce=n1\
             &Timestamp={}&Signature=x",
            now()
        );
        let response = s
            .http
            .post(format!("http://{}/", s.gateway))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, body) = Stack::read(response).await;
        assert_error(status, &body, 404, "InvalidAccessKeyId.NotFound");
    }
}
