//! Event readers wait on the store instead of polling: each commit that writes events wakes
//! them; a write that changes nothing does not.

use crate::helpers::*;

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn commits_of_events_wake_readers_and_only_this_processs_are_announced(pool: PgPool) {
    let f = fixture(pool, THRESHOLD).await;
    let g = f.group("g").await;
    let mut readers = f.store.events_written();
    let mut announced = f.store.events_committed_here();
    readers.borrow_and_update();
    announced.borrow_and_update();

    // A join writes an event and wakes them; one that changes nothing does not.
    f.store
        .join_group(&f.app_id, &g, &uid("a"), &UserInfo::parse("").unwrap())
        .await
        .unwrap();
    assert!(readers.has_changed().unwrap() && announced.has_changed().unwrap());
    readers.borrow_and_update();
    announced.borrow_and_update();
    f.store
        .join_group(&f.app_id, &g, &uid("a"), &UserInfo::parse("").unwrap())
        .await
        .unwrap();
    f.store
        .leave_group(&f.app_id, &g, &uid("nobody"))
        .await
        .unwrap();
    assert!(!readers.has_changed().unwrap(), "nothing was written");

    // A logon wakes them too, and its event is already numbered in the app's stream.
    f.store.logon(&f.app_id, &uid("a"), "s").await.unwrap();
    assert!(readers.has_changed().unwrap() && announced.has_changed().unwrap());
    let stream = f.store.app_events(&f.app_id, 1, 10).await.unwrap();
    assert_eq!(stream.last().map(|e| e.app_seq), Some(stream.len() as i64));
    readers.borrow_and_update();
    announced.borrow_and_update();

    // What another instance wrote (relayed by the service) wakes readers, and is not
    // announced again.
    f.store.wake_event_readers();
    assert!(readers.has_changed().unwrap());
    assert!(!announced.has_changed().unwrap());
}
