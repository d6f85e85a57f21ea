//! Nobody polls for events: streams wake when events are committed, in the instance that wrote
//! them and, through Postgres `LISTEN/NOTIFY`, in the others.

use std::time::Duration;

use livemsg_proto::events::v1::{
    EventKind, GroupEvent, WatchAppEventsRequest, WatchGroupEventsRequest,
};

use crate::helpers::*;

/// Both instances look for events on their own only every ten minutes: whatever arrives
/// within seconds was woken.
fn never_poll(settings: &mut ServiceSettings) {
    settings.service.event_poll_ms = 600_000;
    settings.callbacks.poll_ms = 600_000;
}

async fn within_seconds(stream: &mut tonic::Streaming<GroupEvent>) -> GroupEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("woken within seconds, not at the ten-minute poll")
        .unwrap()
        .expect("the stream stays open")
}

#[sqlx::test(migrator = "livemsg_store::MIGRATOR")]
async fn events_written_through_one_instance_wake_the_streams_of_another(pool: PgPool) {
    let h = start_configured(pool.clone(), 2_000, never_poll).await;
    let mut other = another_instance(pool, never_poll).await;
    h.create_group("room").await;
    let mut group = other
        .watch_group_events(WatchGroupEventsRequest {
            app_id: h.app_id.clone(),
            group_id: "room".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut app = other
        .watch_app_events(WatchAppEventsRequest {
            app_id: h.app_id.clone(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();

    for (n, user) in [(1, "first"), (2, "second")] {
        if n == 2 {
            // Both streams have long caught up and wait.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        h.join("room", user).await.unwrap();
        let event = within_seconds(&mut group).await;
        assert_eq!((event.seq, event.user_id.as_str()), (n, user));
        assert_eq!(event.kind(), EventKind::UserEntered);
        // The app's stream is woken by the same commit.
        let event = within_seconds(&mut app).await;
        assert_eq!((event.app_seq, event.user_id.as_str()), (n, user));
    }
}
