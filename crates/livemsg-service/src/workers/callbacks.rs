//! HTTP event callbacks: every app with an `EventCallbackUrl` gets its events POSTed in
//! batches, in the app's order (which keeps each group's order), at least once.
//!
//! Each service instance runs a [`Dispatcher`]. An app's delivery is leased to one instance at
//! a time through its `app_streams` row, so with several instances each batch is still sent
//! once. A batch is recorded (its end and its transactionid) before it is sent; a failed send is
//! retried with the same events and the same transactionid after an exponential backoff, until
//! the receiver has failed for `callbacks.retry_for_secs`. Nothing of this runs on the path of a
//! join or a leave: a slow receiver only lets its app's backlog grow in the outbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use livemsg_domain::events::EventKind;
use livemsg_store::{AppEvent, CallbackBatch, CallbackStream, FailedBatch, Store};
use serde::Serialize;
use sha2::Sha256;

use crate::settings::CallbackSettings;

/// The header with the request's Unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "Ali-Live-Timestamp";
/// The header with the request's signature, see [`signature`].
pub const SIGNATURE_HEADER: &str = "Ali-Live-Signature";

/// The signature of a callback request: the lower-case hex HMAC-SHA256, keyed with the app's
/// AppKey, of the `Ali-Live-Timestamp` header value, a `|`, and the exact body bytes.
pub fn signature(app_key: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b"|");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The callback body: Alibaba's `transactionid`, `appid` and `eves`, one entry per run of
/// consecutive events of one user session, so the array order is the app's order.
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    transactionid: &'a str,
    appid: &'a str,
    eves: Vec<Session<'a>>,
}

#[derive(Debug, Serialize)]
struct Session<'a> {
    uid: &'a str,
    sid: &'a str,
    events: Vec<Event<'a>>,
}

/// One event. `e`, `r` and `g` are Alibaba's; `seq`, `n`, `as` and `t` are livemsg's additions.
#[derive(Debug, Serialize)]
struct Event<'a> {
    /// 1 logon, 2 logoff, 3 joined a group, 4 left a group; livemsg's group events: 11 became
    /// super, 12 closed, 13 reopened, 14 member count.
    e: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    g: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<i64>,
    #[serde(rename = "as")]
    app_seq: i64,
    t: i64,
}

/// The `e` code of an event kind.
pub fn event_code(kind: EventKind) -> u8 {
    match kind {
        EventKind::Logon => 1,
        EventKind::Logoff => 2,
        EventKind::UserEntered => 3,
        EventKind::UserLeft => 4,
        EventKind::BecameSuper => 11,
        EventKind::Closed => 12,
        EventKind::Reopened => 13,
        EventKind::MemberCount => 14,
    }
}

impl<'a> Body<'a> {
    /// The body of `events` of `app_id` under `transaction_id`.
    pub fn new(app_id: &'a str, transaction_id: &'a str, events: &'a [AppEvent]) -> Self {
        let mut eves: Vec<Session<'a>> = Vec::new();
        for event in events {
            let uid = event.user_id.as_deref().unwrap_or_default();
            let sid = event.session_id.as_deref().unwrap_or_default();
            let item = Event {
                e: event_code(event.kind),
                r: event.reason,
                g: event.group_id.as_deref(),
                seq: event.seq,
                n: event.member_count,
                app_seq: event.app_seq,
                t: event.created_at.timestamp_millis(),
            };
            match eves.last_mut() {
                Some(last) if last.uid == uid && last.sid == sid => last.events.push(item),
                _ => eves.push(Session {
                    uid,
                    sid,
                    events: vec![item],
                }),
            }
        }
        Body {
            transactionid: transaction_id,
            appid: app_id,
            eves,
        }
    }
}

/// Resolves callback hosts, refusing private addresses unless they are allowed, so a public
/// name that points inside the network is not followed.
#[derive(Debug, Clone, Copy)]
struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !livemsg_domain::is_private_ip(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Delivers the callbacks of the apps this instance leases.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    client: reqwest::Client,
    settings: Arc<CallbackSettings>,
    owner: Arc<str>,
}

impl Dispatcher {
    /// A dispatcher over `store`; `owner` names this instance in leases.
    pub fn new(store: Store, settings: CallbackSettings) -> Result<Self, reqwest::Error> {
        let mut client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("livemsg/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_urls {
            client = client.dns_resolver(Arc::new(PublicResolver));
        }
        let owner = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        Ok(Dispatcher {
            store,
            client: client.build()?,
            settings: Arc::new(settings),
            owner: owner.into(),
        })
    }

    /// Runs forever: claims apps with events waiting, up to `callbacks.concurrency` at once,
    /// and delivers each one's batches in order until it is caught up or its receiver fails.
    pub async fn run(self) {
        let poll = Duration::from_millis(self.settings.poll_ms);
        let lease = Duration::from_millis(self.settings.lease_ms);
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let free = self.settings.concurrency.saturating_sub(running.len());
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self
                    .store
                    .claim_callback_streams(&self.owner, lease, free as i64)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(err) => {
                        tracing::warn!(error = ?err, "claiming callback deliveries failed");
                        Vec::new()
                    }
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    Some(_) = running.join_next() => {}
                }
                continue;
            }
            for stream in claimed {
                running.spawn(self.clone().deliver(stream));
            }
        }
    }

    /// Sends an app's batches until none is left or one fails, then lets the lease go.
    async fn deliver(self, stream: CallbackStream) {
        let lease = Duration::from_millis(self.settings.lease_ms);
        let mut attempts = stream.attempts;
        loop {
            let batch = match self
                .store
                .next_callback_batch(
                    &stream.app_id,
                    &self.owner,
                    lease,
                    self.settings.max_batch_events,
                )
                .await
            {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(app.id = %stream.app_id, error = ?err, "reading a callback batch failed");
                    break;
                }
            };
            if attempts > 0 {
                metrics::counter!("livemsg_callback_retries_total").increment(1);
            }
            let started = Instant::now();
            let outcome = self.send(&stream, &batch).await;
            metrics::histogram!("livemsg_callback_request_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            match outcome {
                Ok(()) => {
                    let oldest = batch.events.first().map(|e| e.created_at);
                    match self
                        .store
                        .callback_batch_delivered(&stream.app_id, &self.owner, batch.end)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => return, // another instance took over; it resends
                        Err(err) => {
                            tracing::warn!(app.id = %stream.app_id, error = ?err, "recording a delivered batch failed");
                            return; // the lease runs out and the batch is sent again
                        }
                    }
                    attempts = 0;
                    metrics::counter!("livemsg_callback_batches_total", "outcome" => "delivered")
                        .increment(1);
                    metrics::counter!("livemsg_callback_events_total", "outcome" => "delivered")
                        .increment(batch.events.len() as u64);
                    if let Some(oldest) = oldest {
                        let lag = chrono::Utc::now() - oldest;
                        metrics::histogram!("livemsg_callback_lag_seconds")
                            .record(lag.as_seconds_f64().max(0.0));
                    }
                }
                Err(why) => {
                    metrics::counter!("livemsg_callback_batches_total", "outcome" => "failed")
                        .increment(1);
                    let backoff = backoff(&self.settings, attempts);
                    let retry_for = Duration::from_secs(self.settings.retry_for_secs);
                    match self
                        .store
                        .callback_batch_failed(&stream.app_id, &self.owner, backoff, retry_for)
                        .await
                    {
                        Ok(FailedBatch::Retry { attempts }) => {
                            tracing::info!(app.id = %stream.app_id, attempts, retry_in_ms = backoff.as_millis() as u64, why, "callback failed; will retry");
                        }
                        Ok(FailedBatch::GaveUp { dropped }) => {
                            metrics::counter!("livemsg_callback_events_total", "outcome" => "dropped")
                                .increment(dropped.max(0) as u64);
                            tracing::warn!(app.id = %stream.app_id, dropped, why, "callback receiver failed for too long; events dropped");
                        }
                        Err(err) => {
                            tracing::warn!(app.id = %stream.app_id, error = ?err, "recording a failed callback failed");
                        }
                    }
                    return;
                }
            }
        }
        if let Err(err) = self
            .store
            .release_callback_stream(&stream.app_id, &self.owner)
            .await
        {
            tracing::warn!(app.id = %stream.app_id, error = ?err, "releasing a callback lease failed");
        }
    }

    /// POSTs one batch; any 2xx answer is a success.
    async fn send(&self, stream: &CallbackStream, batch: &CallbackBatch) -> Result<(), String> {
        let body = serde_json::to_vec(&Body::new(
            &stream.app_id,
            &batch.transaction_id,
            &batch.events,
        ))
        .map_err(|e| e.to_string())?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = signature(&stream.app_key, &timestamp, &body);
        let response = self
            .client
            .post(&stream.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature)
            .header("Idempotency-Key", &batch.transaction_id)
            .body(body)
            .send()
            .await
            .map_err(|e| chain(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }
}

/// An error and its causes, as one line ("error sending request: ...: connection refused").
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The wait before retrying after failure number `attempts + 1`: the initial backoff, doubled
/// per earlier failure, capped.
fn backoff(settings: &CallbackSettings, attempts: i32) -> Duration {
    let doublings = attempts.clamp(0, 30) as u32;
    let ms = settings
        .initial_backoff_ms
        .saturating_mul(1u64 << doublings)
        .min(settings.max_backoff_ms);
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_timestamp_bar_body() {
        // Computed independently: printf '1700000000|{"a":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature("key", "1700000000", br#"{"a":1}"#),
            "4b7d83ee30df45fc6049906174923adc1ebf388e00e36f690f0ea02121554ac9"
        );
    }

    #[tokio::test]
    async fn host_names_that_resolve_only_to_private_addresses_are_not_followed() {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicResolver))
            .build()
            .unwrap();
        let err = client
            .post("http://localhost:9/cb")
            .send()
            .await
            .unwrap_err();
        assert!(
            chain(&err).contains("localhost has no public address"),
            "{}",
            chain(&err)
        );
        // Without the resolver (callbacks.allow_private_urls), the name is followed: the
        // connection is refused by the closed port instead.
        let err = reqwest::Client::new()
            .post("http://localhost:9/cb")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{}", chain(&err));
        assert!(!chain(&err).contains("no public address"));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let settings = CallbackSettings {
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            ..CallbackSettings::default()
        };
        let waits: Vec<u64> = (0..9)
            .map(|a| backoff(&settings, a).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(backoff(&settings, i32::MAX).as_millis(), 30_000);
    }

    fn event(app_seq: i64, kind: EventKind, user: Option<&str>, group: Option<&str>) -> AppEvent {
        AppEvent {
            app_seq,
            kind,
            group_id: group.map(str::to_owned),
            seq: group.map(|_| app_seq),
            user_id: user.map(str::to_owned),
            user_info: None,
            session_id: None,
            reason: (kind == EventKind::Logoff).then_some(1),
            member_count: group.map(|_| 1),
            created_at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
        }
    }

    #[test]
    fn the_body_groups_runs_of_one_user_and_keeps_the_order() {
        let events = [
            event(1, EventKind::Logon, Some("u1"), None),
            event(2, EventKind::UserEntered, Some("u1"), Some("g")),
            event(3, EventKind::UserEntered, Some("u2"), Some("g")),
            event(4, EventKind::BecameSuper, None, Some("g")),
            event(5, EventKind::Logoff, Some("u1"), None),
        ];
        let body = serde_json::to_value(Body::new("app", "TX", &events)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "transactionid": "TX",
                "appid": "app",
                "eves": [
                    {"uid": "u1", "sid": "", "events": [
                        {"e": 1, "as": 1, "t": 1_700_000_000_123_i64},
                        {"e": 3, "g": "g", "seq": 2, "n": 1, "as": 2, "t": 1_700_000_000_123_i64},
                    ]},
                    {"uid": "u2", "sid": "", "events": [
                        {"e": 3, "g": "g", "seq": 3, "n": 1, "as": 3, "t": 1_700_000_000_123_i64},
                    ]},
                    {"uid": "", "sid": "", "events": [
                        {"e": 11, "g": "g", "seq": 4, "n": 1, "as": 4, "t": 1_700_000_000_123_i64},
                    ]},
                    {"uid": "u1", "sid": "", "events": [
                        {"e": 2, "r": 1, "as": 5, "t": 1_700_000_000_123_i64},
                    ]},
                ]
            })
        );
    }
}
