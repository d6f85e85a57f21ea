//! Wakes event readers across instances. The store wakes this process's readers (the callback
//! dispatcher, event watchers) as soon as it commits events; this relay
//! tells the other instances through Postgres `LISTEN/NOTIFY`, so that nobody has to poll for
//! events: the readers' intervals are only a fallback for a lost notification.
//!
//! The notification is sent after the writes' own commits, never inside them (a `NOTIFY`
//! serializes the commits of the transactions that send one), without waiting for the disk (it
//! carries no data: losing it in a crash costs one fallback interval), and at most once per
//! `SPACING` however busy the instance.

use std::time::Duration;

use livemsg_store::Store;
use sqlx::postgres::PgListener;

/// The least time between two looks of a reader that commits keep waking: what event streams
/// and the callback dispatcher polled at before. Under load no
/// reader looks more often than it did when it polled (every commit of an app with a thousand
/// followed rooms would otherwise make a thousand streams look); at rest none looks at all, and
/// the first event after a quiet spell is looked for at once.
pub(crate) const SPACING_UNDER_LOAD: Duration = Duration::from_millis(200);

/// Waits until events were written, but no sooner than `spacing` after `looked` (the reader's
/// last look), or for `fallback` at most.
pub(crate) async fn until_written(
    written: &mut tokio::sync::watch::Receiver<u64>,
    looked: tokio::time::Instant,
    spacing: Duration,
    fallback: Duration,
) {
    if tokio::time::timeout(fallback, written.changed())
        .await
        .is_ok()
    {
        tokio::time::sleep_until(looked + spacing).await;
    }
}

/// The channel every instance listens on.
const CHANNEL: &str = "livemsg_events";
/// The least time between two notifications of one instance.
const SPACING: Duration = Duration::from_millis(10);

/// Sends a notification after each burst of this process's event commits.
pub(crate) async fn announce(store: Store, instance: String) {
    let mut written = store.events_committed_here();
    let statement = format!(
        "SET LOCAL synchronous_commit TO off; SELECT pg_notify('{CHANNEL}', '{}')",
        instance.replace('\'', "")
    );
    while written.changed().await.is_ok() {
        written.borrow_and_update();
        if let Err(err) = sqlx::raw_sql(&statement).execute(store.pool()).await {
            tracing::debug!(error = %err, "cannot notify other instances of new events");
        }
        tokio::time::sleep(SPACING).await;
    }
}

/// Listens for the other instances' notifications and wakes this process's event readers.
/// Reconnects after a lost connection (and wakes the readers then, since a notification may
/// have been missed).
pub(crate) async fn relay(store: Store, instance: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Err(err) = listen(&store, &instance, &mut backoff).await;
        tracing::warn!(error = %err, "listening for other instances' events failed; retrying");
        store.wake_event_readers();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Listens until the connection fails; `backoff` starts again from its least once listening.
async fn listen(
    store: &Store,
    instance: &str,
    backoff: &mut Duration,
) -> Result<std::convert::Infallible, sqlx::Error> {
    // A pool of its own: the listening connection is held for good, and the store's pool
    // must be able to close without waiting for it.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*store.pool().connect_options()).clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    *backoff = Duration::from_millis(100);
    loop {
        let notification = listener.recv().await?;
        if notification.payload() != instance {
            store.wake_event_readers();
        }
    }
}
