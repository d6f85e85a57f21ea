//! The per-account limit across gateways, spent only by authenticated calls.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn four_hundred_calls_through_two_gateways_admit_exactly_the_limit(pool: PgPool) {
    let s = start(pool, 2_000).await;
    let app_id = s.create_app().await;
    // Two more gateway instances sharing one Redis budget. The window is a minute so that
    // however long 400 calls take here, they all fall in one window.
    let mut settings = test_gateway_settings().await;
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
    let mut settings = test_gateway_settings().await;
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
