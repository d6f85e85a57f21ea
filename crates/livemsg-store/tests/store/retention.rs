//! Retention of the outbox: old events go, from the head of each app's stream, except those
//! that still wait for their callback.

use crate::helpers::*;
use std::time::Duration;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn retention_keeps_what_waits_for_its_callback(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let lease = Duration::from_secs(30);
    f.callbacks_to("https://example.com/cb").await;
    f.join_each(&g, 0..4).await;
    f.store.logon(&f.app_id, &uid("later"), "").await.unwrap();
    // Two delivered; two joins and the logon waiting.
    f.store
        .claim_callback_streams("A", lease, 10)
        .await
        .unwrap();
    let batch = f
        .store
        .next_callback_batch(f.app_id.as_str(), "A", lease, 2)
        .await
        .unwrap()
        .unwrap();
    assert!(f
        .store
        .callback_batch_delivered(f.app_id.as_str(), "A", batch.end)
        .await
        .unwrap());
    assert_eq!(f.store.callback_backlog().await.unwrap(), 3);

    assert_eq!(f.store.prune_events(Duration::ZERO, 100).await.unwrap(), 2);
    let kept = f.store.group_events(&f.app_id, &g, 1, 100).await.unwrap();
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    // A young event is kept whatever its state.
    assert_eq!(
        f.store
            .prune_events(Duration::from_secs(3600), 100)
            .await
            .unwrap(),
        0
    );
    // Without a callback URL nothing waits: old events go.
    f.callbacks_to("").await;
    assert_eq!(f.store.prune_events(Duration::ZERO, 100).await.unwrap(), 3);
    assert!(f
        .store
        .app_events(&f.app_id, 1, 100)
        .await
        .unwrap()
        .is_empty());
}

/// Makes the app's events numbered `from..=to` look `age` old.
async fn age(f: &Fixture, app: &AppId, from: i64, to: i64, age: Duration) {
    sqlx::query(
        "UPDATE group_events SET created_at = now() - make_interval(secs => $4)
         WHERE app_id = $1 AND app_seq BETWEEN $2 AND $3",
    )
    .bind(app.as_str())
    .bind(from)
    .bind(to)
    .bind(age.as_secs_f64())
    .execute(f.store.pool())
    .await
    .unwrap();
}

async fn app_seqs(f: &Fixture, app: &AppId) -> Vec<i64> {
    f.store
        .app_events(app, 1, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.app_seq)
        .collect()
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn retention_prunes_the_old_head_of_every_apps_stream_in_rounds_of_the_limit(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let other = f.another_app().await;
    let g = f.group("g").await;
    f.join_each(&g, 0..8).await;
    for i in 0..3 {
        f.store
            .logon(&other, &uid(format!("o{i}")), "")
            .await
            .unwrap();
    }
    let first = app_seqs(&f, &f.app_id).await;
    assert_eq!(first, (1..=8).collect::<Vec<i64>>());
    let hour = Duration::from_secs(3600);
    // The first app's five oldest events and all of the other app's are two hours old.
    age(&f, &f.app_id, 1, 5, 2 * hour).await;
    age(&f, &other, 1, 3, 2 * hour).await;

    // Two at a time, until nothing is left to prune.
    let mut rounds = Vec::new();
    loop {
        let deleted = f.store.prune_events(hour, 2).await.unwrap();
        assert!(deleted <= 2, "a round deletes at most the limit: {deleted}");
        if deleted == 0 {
            break;
        }
        rounds.push(deleted);
    }
    assert_eq!(rounds.iter().sum::<u64>(), 8, "{rounds:?}");
    assert_eq!(app_seqs(&f, &f.app_id).await, first[5..]);
    assert!(app_seqs(&f, &other).await.is_empty());

    // An old event behind a young head waits until the limit reaches past the head.
    let rest = app_seqs(&f, &f.app_id).await;
    let last = *rest.last().unwrap();
    age(&f, &f.app_id, last, last, 2 * hour).await;
    assert_eq!(f.store.prune_events(hour, 1).await.unwrap(), 0);
    assert_eq!(f.store.prune_events(hour, 1_000).await.unwrap(), 1);
    assert_eq!(app_seqs(&f, &f.app_id).await, rest[..rest.len() - 1]);
}
