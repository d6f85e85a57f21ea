//! What pub/sub lost, from Postgres: the heads of the watched streams, compared every
//! `messages.head_poll_ms`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::messaging::v1::Message;
use livemsg_store::Store;

use super::{Hub, StreamKey};

/// Delivers to this instance's watchers what pub/sub lost: every `interval`, the heads of the
/// watched streams are read in one query per kind, and what lies between the last seq handed
/// out here and the head is read from Postgres and handed out.
pub(super) async fn poll_heads(hub: Hub, store: Store, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let watched = hub.watched();
        if watched.is_empty() {
            if Arc::strong_count(&hub.inner) == 1 {
                return;
            }
            continue;
        }
        if let Err(err) = catch_up(&hub, &store, watched).await {
            tracing::warn!(error = ?err, "comparing message streams with Postgres failed");
        }
    }
}

async fn catch_up(
    hub: &Hub,
    store: &Store,
    watched: Vec<(StreamKey, Option<i64>)>,
) -> Result<(), livemsg_store::StoreError> {
    let (mut groups, mut apps) = (Vec::new(), Vec::new());
    let mut last: HashMap<StreamKey, i64> = HashMap::new();
    for (key, seq) in watched {
        let Some(seq) = seq else { continue };
        match &key {
            StreamKey::Group { app_id, group_id } => {
                groups.push((app_id.clone(), group_id.clone()))
            }
            StreamKey::User { app_id } => apps.push(app_id.clone()),
        }
        last.insert(key, seq);
    }
    let mut behind = Vec::new();
    if !groups.is_empty() {
        for (app_id, group_id, head) in store.group_message_heads(&groups).await? {
            let key = StreamKey::Group { app_id, group_id };
            if last.get(&key).is_some_and(|seq| head - 1 > *seq) {
                behind.push((key.clone(), last[&key] + 1));
            }
        }
    }
    if !apps.is_empty() {
        for (app_id, head) in store.user_message_heads(&apps).await? {
            let key = StreamKey::User { app_id };
            if last.get(&key).is_some_and(|seq| head - 1 > *seq) {
                behind.push((key.clone(), last[&key] + 1));
            }
        }
    }
    for (key, from) in behind {
        let messages: Vec<Arc<Message>> = match &key {
            StreamKey::Group { app_id, group_id } => store
                .group_message_stream(app_id, group_id, from, 1_000)
                .await?
                .0
                .iter()
                .map(|m| Arc::new(crate::usecases::messaging::wire_group(m)))
                .collect(),
            StreamKey::User { app_id } => store
                .user_message_stream(app_id, from, 1_000)
                .await?
                .0
                .iter()
                .map(|m| Arc::new(crate::usecases::messaging::wire_user(m, false)))
                .collect(),
        };
        if !messages.is_empty() {
            metrics::counter!("livemsg_messages_caught_up_total").increment(messages.len() as u64);
            hub.deliver_local(&messages);
        }
    }
    Ok(())
}
