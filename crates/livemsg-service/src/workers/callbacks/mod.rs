//! HTTP event callbacks: every app with an `EventCallbackUrl` gets its events POSTed in
//! batches, in the app's order (which keeps each group's order), at least once.
//!
//! Each service instance runs a [`Dispatcher`]. An app's delivery is leased to one instance at
//! a time through its `app_streams` row, so with several instances each batch is still sent
//! once. A batch is recorded (its end and its transactionid) before it is sent; a failed send is
//! retried with the same events and the same transactionid after an exponential backoff, until
//! the receiver has failed for `callbacks.retry_for_secs`. Nothing of this runs on the path of a
//! join or a leave: a slow receiver only lets its app's backlog grow in the outbox. The body and
//! its signature are in [`body`], the rules of where requests may go in [`egress`].

mod body;
pub(crate) mod egress;

use std::sync::Arc;
use std::time::{Duration, Instant};

use livemsg_store::{CallbackBatch, CallbackStream, FailedBatch, Store};

pub use body::{event_code, signature, Body, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::settings::CallbackSettings;

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
        let client = egress::client(&settings)?;
        let owner = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        Ok(Dispatcher {
            store,
            client,
            settings: Arc::new(settings),
            owner: owner.into(),
        })
    }

    /// The name of this instance in leases.
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs forever: claims apps with events waiting (as soon as events are written, here or in
    /// another instance, and every `callbacks.poll_ms` in case a wake-up was lost), up to `callbacks.concurrency` at once,
    /// and delivers each one's batches in order until it is caught up or its receiver fails.
    pub async fn run(self) {
        let poll = Duration::from_millis(self.settings.poll_ms);
        let lease = Duration::from_millis(self.settings.lease_ms);
        let mut running = tokio::task::JoinSet::new();
        let mut written = self.store.events_written();
        let spacing = poll.min(super::wake::SPACING_UNDER_LOAD);
        loop {
            written.borrow_and_update();
            let looked = tokio::time::Instant::now();
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
                    () = super::wake::until_written(&mut written, looked, spacing, poll) => {}
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
        egress::check(&stream.url, self.settings.allow_private_urls)?;
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
            // The URL may carry a token: it stays out of the error text (and the log).
            .map_err(|e| chain(&e.without_url()))?;
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
}
