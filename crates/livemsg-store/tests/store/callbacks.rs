//! Callback delivery: leases, retries under one transactionid, giving up.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn a_callback_batch_is_leased_retried_under_one_id_and_given_up_after_the_window(
    pool: PgPool,
) {
    use livemsg_store::FailedBatch;
    use std::time::Duration;
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let lease = Duration::from_secs(30);
    // No URL: nothing to deliver.
    f.store
        .join_group(&f.app_id, &g, &uid("before"), &UserInfo::parse("").unwrap())
        .await
        .unwrap();
    assert!(f
        .store
        .claim_callback_streams("A", lease, 10)
        .await
        .unwrap()
        .is_empty());
    // Turning callbacks on starts from now: the earlier event is not sent.
    f.callbacks_to("https://example.com/cb").await;
    f.join_each(&g, 0..5).await;
    let claimed = f
        .store
        .claim_callback_streams("A", lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].url, "https://example.com/cb");
    assert!(!claimed[0].app_key.is_empty());
    // Another instance finds it leased.
    assert!(f
        .store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap()
        .is_empty());

    let app = f.app_id.as_str();
    let first = f
        .store
        .next_callback_batch(app, "A", lease, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    assert_eq!(first.end, 4);
    // B holds no lease: it gets nothing and can record nothing.
    assert!(f
        .store
        .next_callback_batch(app, "B", lease, 3)
        .await
        .unwrap()
        .is_none());
    assert!(!f.store.callback_batch_delivered(app, "B", 4).await.unwrap());
    // The send fails: retry, which lets the lease go.
    let failed = f
        .store
        .callback_batch_failed(app, "A", Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(failed, FailedBatch::Retry { attempts: 1 });
    // B takes over and gets the same batch under the same id, even with a larger limit.
    let claimed = f
        .store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempts, 1);
    assert!(claimed[0].failing_since.is_some());
    let again = f
        .store
        .next_callback_batch(app, "B", lease, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
    assert!(f.store.callback_batch_delivered(app, "B", 4).await.unwrap());
    // Then the rest, under a new id.
    let rest = f
        .store
        .next_callback_batch(app, "B", lease, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rest.events.iter().map(|e| e.app_seq).collect::<Vec<_>>(),
        [5, 6]
    );
    assert_ne!(rest.transaction_id, first.transaction_id);
    assert_eq!(rest.transaction_id.len(), 36);
    // Failing for longer than the window gives everything waiting up.
    let failed = f
        .store
        .callback_batch_failed(app, "B", Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(failed, FailedBatch::Retry { attempts: 1 });
    f.store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap();
    f.store
        .next_callback_batch(app, "B", lease, 100)
        .await
        .unwrap()
        .unwrap();
    let failed = f
        .store
        .callback_batch_failed(app, "B", Duration::ZERO, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(failed, FailedBatch::GaveUp { dropped: 2 });
    assert!(f
        .store
        .claim_callback_streams("B", lease, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.store.callback_backlog().await.unwrap(), 0);
}
