//! Gateway -> gRPC -> Postgres over real sockets: the service and the gateway start on port 0
//! in this process, on a fresh database; requests are signed as the SDKs sign them.

use livemsg_gateway::signing::client::{v1_query, v3_headers, V3Request};
use livemsg_gateway::{Application as Gateway, GatewaySettings};
use livemsg_proto::membership::v1::membership_service_client::MembershipServiceClient;
use livemsg_proto::membership::v1::{BatchUpdateMembershipRequest, MembershipItem, Operation};
use livemsg_service::settings::SecretsSettings;
use livemsg_service::{Application as Service, ServiceSettings};
use livemsg_store::{Keyring, Store};
use serde_json::Value;
use sqlx::PgPool;

#[derive(Clone)]
struct Stack {
    gateway: String,
    service: String,
    key_id: String,
    secret: String,
    store: Store,
    account_id: i64,
    http: reqwest::Client,
}

fn unique_prefix() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

/// How long test gateways keep a resolved key: administrators' changes land within this.
const AUTH_CACHE_TTL_MS: u64 = 300;

async fn gateway_for(service_url: String) -> String {
    let mut settings = GatewaySettings::default();
    settings.ratelimit.key_prefix = unique_prefix();
    settings.gateway.nonce_key_prefix = unique_prefix();
    settings.gateway.auth_cache_ttl_ms = AUTH_CACHE_TTL_MS;
    gateway_with(service_url, settings).await
}

/// The internal token the test service requires and the test gateways send.
const TOKEN: &str = "internal-test-token";

async fn gateway_with(service_url: String, mut settings: GatewaySettings) -> String {
    settings.gateway.listen = "127.0.0.1:0".into();
    settings.gateway.metrics_listen = "127.0.0.1:0".into();
    settings.internal.token = TOKEN.into();
    settings.gateway.service_url = service_url;
    settings.gateway.service_timeout_ms = 5_000;
    let gateway = Gateway::build(&settings).await.unwrap();
    let addr = gateway.local_addr();
    tokio::spawn(gateway.run_until_stopped(std::future::pending()));
    addr.to_string()
}

async fn start(pool: PgPool, threshold: i64) -> Stack {
    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".into();
    settings.service.metrics_listen = "127.0.0.1:0".into();
    settings.internal.token = TOKEN.into();
    settings.groups.super_group_threshold = threshold;
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    let store = Store::new(pool.clone(), threshold, settings.secrets.keyring().unwrap());
    let account = store.create_account("gw").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    let service = Service::build_with_pool(&settings, pool).await.unwrap();
    let service_addr = service.local_addr();
    tokio::spawn(service.run_until_stopped(std::future::pending()));
    let service = format!("http://{service_addr}");
    Stack {
        gateway: gateway_for(service.clone()).await,
        service,
        key_id: key.access_key_id,
        secret: key.secret,
        store,
        account_id: account.account_id,
        http: reqwest::Client::new(),
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Stack {
    /// A V3-signed call, as the default SDK makes it.
    async fn call(&self, action: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.call_as(action, query, &self.key_id, &self.secret)
            .await
    }

    async fn call_as(
        &self,
        action: &str,
        query: &[(&str, &str)],
        key_id: &str,
        secret: &str,
    ) -> (u16, Value) {
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    livemsg_gateway::signing::percent_encode(k),
                    livemsg_gateway::signing::percent_encode(v)
                )
            })
            .collect();
        self.call_raw(
            action,
            &encoded.join("&"),
            query,
            (key_id, secret),
            &nonce(),
        )
        .await
    }

    /// A V1-signed call with `params` besides the envelope.
    async fn call_v1(&self, method: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let query = v1_query(method, params, &self.secret);
        let url = format!("http://{}/?{query}", self.gateway);
        let request = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url)
        };
        Self::read(request.send().await.unwrap()).await
    }

    async fn read(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        (status, response.json().await.unwrap())
    }

    async fn create_app(&self) -> String {
        let (status, body) = self
            .call("CreateLiveMessageApp", &[("AppName", "demo")])
            .await;
        assert_eq!(status, 200, "{body}");
        body["AppId"].as_str().unwrap().to_owned()
    }

    async fn join_all(&self, app_id: &str, group_id: &str, users: impl Iterator<Item = String>) {
        let items = users
            .map(|user_id| MembershipItem {
                operation: Operation::Join.into(),
                group_id: group_id.into(),
                user_info: format!("info of {user_id}"),
                user_id,
            })
            .collect();
        let channel = tonic::transport::Channel::from_shared(self.service.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let results = MembershipServiceClient::with_interceptor(
            channel,
            livemsg_proto::BearerToken::new(TOKEN).unwrap(),
        )
        .batch_update_membership(BatchUpdateMembershipRequest {
            app_id: app_id.into(),
            items,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
        assert!(results.iter().all(|r| r.error_code.is_empty()));
    }
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["Code"], want_code, "{body}");
    for field in ["RequestId", "HostId", "Message", "Recommend"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }
}

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
    s.call(
        "CreateLiveMessageGroup",
        &[("AppId", &app_id), ("GroupId", "g1")],
    )
    .await;
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
async fn envelope_and_authentication_errors_are_refused_in_order(pool: PgPool) {
    let s = start(pool, 2_000).await;

    let (st, b) = s.call("DescribeRegions", &[]).await;
    assert_error(st, &b, 404, "InvalidAction.NotFound");
    let (st, b) = s.call("SendLiveMessageGroup", &[]).await;
    assert_error(st, &b, 400, "UnsupportedOperation");

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
    tokio::time::sleep(std::time::Duration::from_millis(AUTH_CACHE_TTL_MS + 200)).await;
    let (st, b) = s.call("CreateLiveMessageApp", &[]).await;
    assert_error(st, &b, 400, "InvalidAccessKeyId.Inactive");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn internal_failures_answer_server_error_without_leaking_details(pool: PgPool) {
    let s = start(pool.clone(), 2_000).await;
    let app_id = s.create_app().await;
    s.call(
        "CreateLiveMessageGroup",
        &[("AppId", &app_id), ("GroupId", "g1")],
    )
    .await;
    sqlx::query("DROP TABLE group_members")
        .execute(&pool)
        .await
        .unwrap();
    let (st, b) = s
        .call(
            "ListLiveMessageGroupUsers",
            &[
                ("AppId", &app_id),
                ("GroupId", "g1"),
                ("PageSize", "10"),
                ("SortType", "1"),
            ],
        )
        .await;
    assert_error(st, &b, 500, "ServerError");
    assert!(!b.to_string().contains("group_members"), "{b}");
}

#[tokio::test]
async fn an_unreachable_service_answers_service_unavailable() {
    // Nothing listens on this port: bind one, learn it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = gateway_for(format!("http://127.0.0.1:{port}")).await;
    let date = now();
    let headers = v3_headers(
        &V3Request {
            method: "POST",
            host: &gateway,
            action: "CreateLiveMessageApp",
            query: &[],
            body: b"",
            date: &date,
            nonce: "n",
        },
        "LTAIsomekey",
        "secret",
    );
    let mut request = reqwest::Client::new().post(format!("http://{gateway}/"));
    for (name, value) in headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let (st, b) = Stack::read(request.send().await.unwrap()).await;
    assert_error(st, &b, 503, "ServiceUnavailable");
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

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn four_hundred_calls_through_two_gateways_admit_exactly_the_limit(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app_id = s.create_app().await;
    // Two more gateway instances sharing one Redis budget. The window is a minute so that
    // however long 400 calls take here, they all fall in one window.
    let mut settings = GatewaySettings::default();
    settings.ratelimit.key_prefix = unique_prefix();
    settings.ratelimit.window_ms = 60_000;
    // This test is about the shared Redis window; under a loaded test run Redis may answer
    // slower than the production 50 ms, which would (rightly) hand decisions to the
    // per-instance fallback.
    settings.ratelimit.timeout_ms = 5_000;
    let first = gateway_with(s.service.clone(), settings.clone()).await;
    let second = gateway_with(s.service.clone(), settings).await;

    let mut tasks = Vec::new();
    for i in 0..400 {
        let mut stack = s.clone();
        stack.gateway = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let app_id = app_id.clone();
        tasks.push(tokio::spawn(async move {
            let date = now();
            let nonce = nonce();
            let query = [("AppId", app_id.as_str())];
            let headers = v3_headers(
                &V3Request {
                    method: "POST",
                    host: &stack.gateway,
                    action: "DescribeLiveMessageApp",
                    query: &query,
                    body: b"",
                    date: &date,
                    nonce: &nonce,
                },
                &stack.key_id,
                &stack.secret,
            );
            let mut request = stack
                .http
                .post(format!("http://{}/?AppId={app_id}", stack.gateway));
            for (name, value) in headers {
                if name != "host" {
                    request = request.header(name, value);
                }
            }
            let response = request.send().await.unwrap();
            let retry_ms = response
                .headers()
                .get("x-acs-retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let retry_s = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let (status, body) = Stack::read(response).await;
            (status, body, retry_ms, retry_s)
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        let (status, body, retry_ms, retry_s) = task.await.unwrap();
        if status == 200 {
            admitted += 1;
            continue;
        }
        assert_error(status, &body, 400, "Throttling.User");
        let retry_ms = retry_ms.expect("x-acs-retry-after on a throttled call");
        assert!((1..=60_000).contains(&retry_ms), "{retry_ms}");
        assert_eq!(retry_s, Some(retry_ms.div_ceil(1_000)));
    }
    assert_eq!(admitted, 50);

    // Another action of the same account has its own budget.
    let mut on_first = s.clone();
    on_first.gateway = first;
    let (status, body) = on_first.call("CreateLiveMessageApp", &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn forged_requests_do_not_spend_the_accounts_budget(pool: PgPool) {
    let mut s = start(pool, 2_000).await;
    let mut settings = GatewaySettings::default();
    settings.ratelimit.key_prefix = unique_prefix();
    settings.ratelimit.per_second = 2;
    settings.ratelimit.window_ms = 60_000;
    s.gateway = gateway_with(s.service.clone(), settings).await;
    for _ in 0..5 {
        let (status, body) = s
            .call_as("CreateLiveMessageApp", &[], &s.key_id.clone(), "forged")
            .await;
        assert_error(status, &body, 400, "SignatureDoesNotMatch");
    }
    for _ in 0..2 {
        assert_eq!(s.call("CreateLiveMessageApp", &[]).await.0, 200);
    }
    let (status, body) = s.call("CreateLiveMessageApp", &[]).await;
    assert_error(status, &body, 400, "Throttling.User");
}

impl Stack {
    /// A key of a new RAM user of this stack's account, with the given policies attached.
    async fn ram_key(&self, user: &str, policies: &[(&str, String)]) -> (String, String) {
        self.store
            .create_ram_user(self.account_id, user)
            .await
            .unwrap();
        for (name, document) in policies {
            self.store
                .create_policy(self.account_id, name, document)
                .await
                .unwrap();
            self.store
                .attach_policy(self.account_id, user, name)
                .await
                .unwrap();
        }
        let key = self
            .store
            .create_access_key(self.account_id, Some(user))
            .await
            .unwrap();
        (key.access_key_id, key.secret)
    }

    fn arn(&self, app_id: &str) -> String {
        format!("acs:live::{}:rtc/{app_id}", self.account_id)
    }

    /// A V3 call with a raw query string, signed over `signed_query`.
    async fn call_raw(
        &self,
        action: &str,
        raw_query: &str,
        signed_query: &[(&str, &str)],
        key: (&str, &str),
        nonce: &str,
    ) -> (u16, Value) {
        let date = now();
        let headers = v3_headers(
            &V3Request {
                method: "POST",
                host: &self.gateway,
                action,
                query: signed_query,
                body: b"",
                date: &date,
                nonce,
            },
            key.0,
            key.1,
        );
        let mut request = self
            .http
            .post(format!("http://{}/?{raw_query}", self.gateway));
        for (name, value) in headers {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        Self::read(request.send().await.unwrap()).await
    }
}

fn list_policy(resource: &str) -> String {
    format!(
        r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"live:ListLiveMessageGroupUsers","Resource":"{resource}"}}]}}"#
    )
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_ram_user_may_do_only_what_its_policies_allow(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let (app_a, app_b) = (s.create_app().await, s.create_app().await);
    for app in [&app_a, &app_b] {
        s.call(
            "CreateLiveMessageGroup",
            &[("AppId", app), ("GroupId", "g")],
        )
        .await;
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
    tokio::time::sleep(std::time::Duration::from_millis(AUTH_CACHE_TTL_MS + 200)).await;
    let (st, b) = as_user("ListLiveMessageGroupUsers", list(&app_a)).await;
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
    let mut shared = GatewaySettings::default();
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
        s.call(
            "CreateLiveMessageGroup",
            &[("AppId", app), ("GroupId", "g")],
        )
        .await;
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
    assert!(
        [
            "IncompleteSignature",
            "InputInvalid",
            "SignatureDoesNotMatch"
        ]
        .contains(&b["Code"].as_str().unwrap()),
        "{b}"
    );
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
    for round in 0..300 {
        let date = now();
        let n = nonce();
        let query = [("AppId", app.as_str())];
        let mut headers = v3_headers(
            &V3Request {
                method: "POST",
                host: &s.gateway,
                action: "DescribeLiveMessageApp",
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
        let mut url_query = format!("AppId={app}");
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
        assert!(
            body["Code"].is_string(),
            "seed {seed} round {round}: {body}"
        );
    }
    // Still serving.
    let (status, _) = s.call("DescribeLiveMessageApp", &[("AppId", &app)]).await;
    assert_eq!(status, 200);
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn probes_and_metrics_tell_the_state_of_the_gateway(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let mut settings = GatewaySettings::default();
    settings.gateway.listen = "127.0.0.1:0".into();
    settings.gateway.metrics_listen = "127.0.0.1:0".into();
    settings.gateway.service_url = s.service.clone();
    settings.gateway.shutdown_delay_ms = 400;
    settings.internal.token = TOKEN.into();
    let gateway = Gateway::build(&settings).await.unwrap();
    let (addr, metrics_addr) = (gateway.local_addr(), gateway.metrics_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let mut g = s.clone();
    g.gateway = addr.to_string();
    let get = |path: String| g.http.get(path).send();

    assert_eq!(
        get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(format!("http://{addr}/readyz")).await.unwrap().status(),
        200
    );
    g.create_app().await;
    let (st, _) = g.call("DescribeRegions", &[]).await;
    assert_eq!(st, 404);
    let metrics = get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"livemsg_gateway_requests_total{action="CreateLiveMessageApp",code="OK"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"code="InvalidAction.NotFound""#),
        "{metrics}"
    );
    assert!(metrics.contains("livemsg_gateway_request_duration_seconds_bucket"));
    assert!(
        metrics.contains(r#"livemsg_ratelimit_decisions_total{decision="allowed",mode="redis"}"#)
    );

    // SIGTERM: not ready at once, still serving through the delay, then stopped.
    stop.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        get(format!("http://{addr}/readyz")).await.unwrap().status(),
        503
    );
    let (st, _) = g.call("CreateLiveMessageApp", &[]).await;
    assert_eq!(st, 200, "requests are served while draining");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the gateway stops after its delay")
        .unwrap()
        .unwrap();
}

/// A CA, a service certificate for `localhost` and a client certificate, as PEM files.
fn certificates(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for name in ["service", "client"] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn the_internal_hop_can_run_over_mutual_tls(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("livemsg-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    certificates(&dir);
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();

    let mut settings = ServiceSettings::default();
    settings.service.listen = "127.0.0.1:0".into();
    settings.service.metrics_listen = "127.0.0.1:0".into();
    settings.service.tls_cert_path = path("service.pem");
    settings.service.tls_key_path = path("service.key");
    settings.service.tls_client_ca_path = path("ca.pem");
    settings.internal.token = TOKEN.into();
    settings.secrets = SecretsSettings::single("test", &Keyring::new_key_base64());
    let store = Store::new(pool.clone(), 2_000, settings.secrets.keyring().unwrap());
    let account = store.create_account("tls").await.unwrap();
    let key = store
        .create_access_key(account.account_id, None)
        .await
        .unwrap();
    let service = Service::build_with_pool(&settings, pool).await.unwrap();
    let port = service.local_addr().port();
    tokio::spawn(service.run_until_stopped(std::future::pending()));

    let gateway = |ca: bool, client_cert: bool, scheme: &str| {
        let mut g = GatewaySettings::default();
        g.ratelimit.key_prefix = unique_prefix();
        g.gateway.nonce_key_prefix = unique_prefix();
        if ca {
            g.gateway.service_tls_ca_path = path("ca.pem");
        }
        if client_cert {
            g.gateway.service_tls_cert_path = path("client.pem");
            g.gateway.service_tls_key_path = path("client.key");
        }
        gateway_with(format!("{scheme}://localhost:{port}"), g)
    };
    let stack = |gateway: String| Stack {
        gateway,
        service: String::new(),
        key_id: key.access_key_id.clone(),
        secret: key.secret.clone(),
        store: store.clone(),
        account_id: account.account_id,
        http: reqwest::Client::new(),
    };

    let trusted = stack(gateway(true, true, "https").await);
    let (status, body) = trusted.call("CreateLiveMessageApp", &[]).await;
    assert_eq!(status, 200, "{body}");

    // Without a client certificate the service refuses the handshake; without TLS it does
    // not speak at all. Either way the caller gets the gateway's own error, not a hang.
    for (ca, client_cert, scheme) in [(true, false, "https"), (false, false, "http")] {
        let refused = stack(gateway(ca, client_cert, scheme).await);
        let (status, body) = refused.call("CreateLiveMessageApp", &[]).await;
        assert_error(status, &body, 503, "ServiceUnavailable");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
