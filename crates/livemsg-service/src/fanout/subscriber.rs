//! This instance's Redis subscriptions: the channels its watchers need, and acknowledgements.

use std::sync::Arc;
use std::time::Duration;

use livemsg_proto::messaging::v1::Message;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use super::{Control, Hub};

/// Keeps this instance subscribed to the channels its watchers need, and hands what arrives to
/// them. Reconnects after a failure and subscribes again.
pub(super) async fn run(
    hub: Hub,
    client: redis::Client,
    mut commands: mpsc::UnboundedReceiver<Control>,
) {
    let ack_channel = format!("{}:ack", hub.inner.prefix);
    let mut backoff = Duration::from_millis(100);
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to messages in Redis; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        // Everything watched now, and acknowledgements.
        let watched = hub.channels();
        let mut channels: Vec<String> = watched.iter().map(|(c, _)| c.clone()).collect();
        channels.push(ack_channel.clone());
        if let Err(err) = sink.subscribe(&channels).await {
            tracing::warn!(error = %err, "subscribing to messages failed; retrying");
            tokio::time::sleep(backoff).await;
            continue;
        }
        for (_, subscribed) in watched {
            subscribed.send_replace(true);
        }
        backoff = Duration::from_millis(100);
        tracing::info!(channels = channels.len(), "subscribed to messages in Redis");
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    let result = match command {
                        Control::Subscribe(channel, subscribed) => {
                            let result = sink.subscribe(channel).await;
                            if result.is_ok() {
                                subscribed.send_replace(true);
                            }
                            result
                        }
                        Control::Unsubscribe(channel) => sink.unsubscribe(channel).await,
                    };
                    if let Err(err) = result {
                        tracing::warn!(error = %err, "changing message subscriptions failed; reconnecting");
                        break;
                    }
                }
                received = stream.next() => {
                    let Some(received) = received else {
                        tracing::warn!("the Redis subscription ended; reconnecting");
                        break;
                    };
                    if received.get_channel_name() == ack_channel {
                        let payload = String::from_utf8_lossy(received.get_payload_bytes()).into_owned();
                        if let Some((app_id, msg_tid)) = payload.split_once('\n') {
                            hub.resolve_ack(app_id, msg_tid);
                        }
                        continue;
                    }
                    match Message::decode(received.get_payload_bytes()) {
                        Ok(message) => hub.deliver_local(&[Arc::new(message)]),
                        Err(err) => tracing::warn!(error = %err, "a message in Redis is not livemsg's"),
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}
