//! The lifecycle's background work: purging groups deleted longer ago than the recovery window,
//! emptying disabled apps (their users logged off, their groups' members removed), and the
//! message partitions (made ahead, dropped when expired).

use std::sync::Arc;
use std::time::Duration;

use livemsg_store::Store;
use tokio::sync::Notify;

/// How many groups one purge statement removes, and how many users or groups one sweep step
/// handles.
const STEP: i64 = 500;

/// How often the sweep looks for disabled apps with something left to empty, besides being
/// woken when an app is disabled (a logon or join that raced the disable is caught here).
const SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// Purges groups past the recovery window every `interval` (at once again while there is more).
pub(crate) async fn purge(store: Store, interval: Duration) {
    loop {
        match store.purge_deleted_groups(STEP).await {
            Ok(0) => tokio::time::sleep(interval).await,
            Ok(purged) => {
                metrics::counter!("livemsg_groups_purged_total").increment(purged);
                tracing::info!(purged, "deleted groups purged");
            }
            Err(err) => {
                tracing::warn!(error = ?err, "purging deleted groups failed");
                tokio::time::sleep(interval).await;
            }
        }
    }
}

/// Empties disabled apps: woken by `wake` when an app is disabled, and every few seconds.
pub(crate) async fn sweep(store: Store, wake: Arc<Notify>) {
    loop {
        if let Err(err) = sweep_round(&store).await {
            tracing::warn!(error = ?err, "emptying disabled apps failed");
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
    }
}

/// Steps through every disabled app with something left until none has.
async fn sweep_round(store: &Store) -> Result<(), livemsg_store::StoreError> {
    loop {
        let apps = store.disabled_apps_to_sweep(16).await?;
        if apps.is_empty() {
            return Ok(());
        }
        let mut progressed = false;
        for app in apps {
            let step = store.sweep_disabled_app(&app, STEP).await?;
            if step.did_work() {
                progressed = true;
                metrics::counter!("livemsg_disabled_logoffs_total").increment(step.logged_off);
                tracing::info!(
                    app.id = %app,
                    logged_off = step.logged_off,
                    groups_emptied = step.groups_emptied,
                    "emptying a disabled app"
                );
            }
        }
        if !progressed {
            // Another instance holds what is left; it finishes it.
            return Ok(());
        }
    }
}

/// Makes the message partitions of the coming months (the longest MsgLifeCycle and two weeks)
/// and drops those that expired, at start and every `interval`.
pub(crate) async fn message_retention(store: Store, interval: Duration) {
    loop {
        let now = chrono::Utc::now();
        if let Err(err) = store
            .ensure_message_partitions(now, now + chrono::Duration::days(194))
            .await
        {
            tracing::warn!(error = ?err, "creating message partitions failed");
        }
        match store.drop_expired_message_partitions(now).await {
            Ok(dropped) => {
                metrics::counter!("livemsg_message_partitions_dropped_total")
                    .increment(dropped.len() as u64);
            }
            Err(err) => tracing::warn!(error = ?err, "dropping expired message partitions failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
