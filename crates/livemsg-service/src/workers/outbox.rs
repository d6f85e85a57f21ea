//! Background work on the outbox, in every service instance: super-group count reports and
//! retention (with the callback backlog gauge).

use std::time::Duration;

use livemsg_store::Store;

/// Writes the member-count reports of super groups, checking every second; each group is
/// reported at most once per `interval` and only when its count changed. Runs in every instance;
/// the store keeps it to one report per group.
pub(crate) async fn report_counts(store: Store, interval: Duration) {
    let mut tick =
        tokio::time::interval(Duration::from_secs(1).min(interval.max(Duration::from_millis(10))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = store.report_super_group_counts(interval).await {
            tracing::warn!(error = ?err, "super group count report failed");
        }
    }
}

/// Deletes events past their retention, every minute, and reports the callback backlog
/// (`livemsg_callback_backlog_events`) every 10 seconds.
pub(crate) async fn maintain(store: Store, retention: Duration) {
    let mut round = 0u64;
    loop {
        if round.is_multiple_of(6) {
            loop {
                match store.prune_events(retention, 10_000).await {
                    Ok(0) => break,
                    Ok(deleted) => {
                        metrics::counter!("livemsg_events_pruned_total").increment(deleted);
                    }
                    Err(err) => {
                        tracing::warn!(error = ?err, "event pruning failed");
                        break;
                    }
                }
            }
        }
        match store.callback_backlog().await {
            Ok(backlog) => {
                metrics::gauge!("livemsg_callback_backlog_events").set(backlog as f64);
            }
            Err(err) => tracing::warn!(error = ?err, "reading the callback backlog failed"),
        }
        round += 1;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
