//! Fan-out of committed messages to the watchers of every service instance.
//!
//! Postgres is the record; Redis pub/sub carries each committed message to the instances that
//! have watchers of its stream (a channel per group stream, one per app's user stream, each
//! instance subscribed to the channels its watchers need). The instance that commits a message
//! also hands it to its own watchers directly. Pub/sub may lose messages (Redis restarts, a
//! subscriber reconnects): a watcher that sees a seq jump fills the gap from Postgres, and every
//! `messages.head_poll_ms` each instance compares the heads of the streams it watches with
//! Postgres (one query for all of them) and delivers what it missed. Past one Redis, the
//! channels map onto sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`) of a Redis Cluster by stream,
//! since each stream's channel is independent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livemsg_proto::messaging::v1::Message;
use livemsg_store::Store;
use prost::Message as _;
use redis::AsyncCommands;
use tokio::sync::{broadcast, mpsc};

mod catchup;
mod subscriber;

/// A stream of messages: a group's, or an app's user messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamKey {
    /// A group's messages.
    Group { app_id: String, group_id: String },
    /// An app's user messages.
    User { app_id: String },
}

impl StreamKey {
    /// The stream a message belongs to.
    pub fn of(message: &Message) -> StreamKey {
        if message.group_id.is_empty() {
            StreamKey::User {
                app_id: message.app_id.clone(),
            }
        } else {
            StreamKey::Group {
                app_id: message.app_id.clone(),
                group_id: message.group_id.clone(),
            }
        }
    }

    pub(super) fn channel(&self, prefix: &str) -> String {
        match self {
            StreamKey::Group { app_id, group_id } => format!("{prefix}:g:{app_id}:{group_id}"),
            StreamKey::User { app_id } => format!("{prefix}:u:{app_id}"),
        }
    }
}

/// How many messages a stream's local channel holds for its slowest watcher.
const LOCAL_BUFFER: usize = 1_024;

struct Topic {
    sender: broadcast::Sender<Arc<Message>>,
    /// Whether this instance's Redis subscription to the stream is in place.
    subscribed: Arc<tokio::sync::watch::Sender<bool>>,
    watchers: usize,
    /// The highest seq handed to this instance's watchers (unknown until a watcher has caught
    /// up with the stream or a message arrived).
    last_seq: Option<i64>,
}

pub(super) enum Control {
    Subscribe(String, Arc<tokio::sync::watch::Sender<bool>>),
    Unsubscribe(String),
}

pub(super) struct Inner {
    topics: Mutex<HashMap<StreamKey, Topic>>,
    pub(super) prefix: String,
    control: mpsc::UnboundedSender<Control>,
    publisher: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    client: Option<redis::Client>,
    acks: Mutex<HashMap<(String, String), tokio::sync::oneshot::Sender<()>>>,
}

/// The instance's message hub.
#[derive(Clone)]
pub struct Hub {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// A watcher's subscription: messages of one stream, while it lives.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<Message>>,
    hub: Hub,
    key: StreamKey,
}

impl Subscription {
    /// The watcher has everything of this stream through `seq`.
    pub fn seen(&self, seq: i64) {
        self.hub.seen(&self.key, seq);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.key)
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.release(&self.key);
    }
}

impl Hub {
    /// A hub publishing through the Redis at `redis_url` (none: this instance's watchers only),
    /// on channels under `prefix`. Starts the subscriber and the head poller.
    pub fn start(store: Store, redis_url: Option<&str>, prefix: &str, head_poll: Duration) -> Hub {
        let (control, commands) = mpsc::unbounded_channel();
        let client = redis_url.and_then(|url| match redis::Client::open(url) {
            Ok(client) => Some(client),
            Err(err) => {
                tracing::error!(error = %err, "messages.redis_url is not a Redis URL; fan-out stays local");
                None
            }
        });
        let hub = Hub {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                prefix: prefix.to_owned(),
                control,
                publisher: tokio::sync::OnceCell::new(),
                client: client.clone(),
                acks: Mutex::new(HashMap::new()),
            }),
        };
        if let Some(client) = client {
            tokio::spawn(subscriber::run(hub.clone(), client, commands));
        }
        tokio::spawn(catchup::poll_heads(hub.clone(), store, head_poll));
        hub
    }

    /// Subscribes to a stream's live messages. Returns once this instance's Redis
    /// subscription to the stream is in place (or after a second, if Redis does not answer:
    /// the head poll then covers what pub/sub would have brought), so that a watcher that
    /// replays from Postgres next misses nothing committed after the replay.
    pub async fn subscribe(&self, key: StreamKey) -> Subscription {
        let (subscription, mut subscribed) = {
            let mut topics = self.inner.topics.lock().expect("hub lock");
            let topic = topics.entry(key.clone()).or_insert_with(|| {
                let subscribed = Arc::new(tokio::sync::watch::Sender::new(false));
                let _ = self.inner.control.send(Control::Subscribe(
                    key.channel(&self.inner.prefix),
                    subscribed.clone(),
                ));
                Topic {
                    sender: broadcast::channel(LOCAL_BUFFER).0,
                    subscribed,
                    watchers: 0,
                    last_seq: None,
                }
            });
            topic.watchers += 1;
            let subscription = Subscription {
                receiver: topic.sender.subscribe(),
                hub: self.clone(),
                key,
            };
            (subscription, topic.subscribed.subscribe())
        };
        if self.inner.client.is_some() {
            let _ = tokio::time::timeout(Duration::from_secs(1), subscribed.wait_for(|s| *s)).await;
        }
        subscription
    }

    fn release(&self, key: &StreamKey) {
        let mut topics = self.inner.topics.lock().expect("hub lock");
        if let Some(topic) = topics.get_mut(key) {
            topic.watchers -= 1;
            if topic.watchers == 0 {
                topics.remove(key);
                let _ = self
                    .inner
                    .control
                    .send(Control::Unsubscribe(key.channel(&self.inner.prefix)));
            }
        }
    }

    /// Hands messages to this instance's watchers of their streams.
    pub fn deliver_local(&self, messages: &[Arc<Message>]) {
        let mut topics = self.inner.topics.lock().expect("hub lock");
        for message in messages {
            if let Some(topic) = topics.get_mut(&StreamKey::of(message)) {
                topic.last_seq = Some(topic.last_seq.unwrap_or(0).max(message.seq));
                let _ = topic.sender.send(message.clone());
            }
        }
    }

    /// Publishes committed messages: to this instance's watchers at once, and through Redis to
    /// the other instances' (one pipelined round trip; a Redis failure is logged, and the other
    /// instances catch up from Postgres).
    pub async fn publish(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let messages: Vec<Arc<Message>> = messages.into_iter().map(Arc::new).collect();
        self.deliver_local(&messages);
        let Some(connection) = self.publisher().await else {
            return;
        };
        let mut pipe = redis::pipe();
        for message in &messages {
            pipe.publish(
                StreamKey::of(message).channel(&self.inner.prefix),
                message.encode_to_vec(),
            )
            .ignore();
        }
        let mut connection = connection.clone();
        if let Err(err) = pipe.query_async::<()>(&mut connection).await {
            metrics::counter!("livemsg_message_publish_failures_total").increment(1);
            tracing::warn!(error = %err, "publishing messages to Redis failed; other instances catch up from Postgres");
        }
    }

    async fn publisher(&self) -> Option<&redis::aio::ConnectionManager> {
        let client = self.inner.client.as_ref()?;
        let connection = self
            .inner
            .publisher
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(1)))
                    .set_number_of_retries(1);
                client.get_connection_manager_with_config(config).await
            })
            .await;
        match connection {
            Ok(connection) => Some(connection),
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach Redis to publish messages");
                None
            }
        }
    }

    /// Waits up to `timeout` for the acknowledgement of a user message (from any instance).
    pub async fn wait_for_ack(&self, app_id: &str, msg_tid: &str, timeout: Duration) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let key = (app_id.to_owned(), msg_tid.to_owned());
        self.inner
            .acks
            .lock()
            .expect("ack lock")
            .insert(key.clone(), tx);
        let acked = tokio::time::timeout(timeout, rx)
            .await
            .is_ok_and(|r| r.is_ok());
        self.inner.acks.lock().expect("ack lock").remove(&key);
        acked
    }

    /// Records an acknowledgement: wakes a waiting sender here, and tells the other instances.
    pub async fn acknowledge(&self, app_id: &str, msg_tid: &str) {
        if self.resolve_ack(app_id, msg_tid) {
            return;
        }
        if let Some(connection) = self.publisher().await {
            let mut connection = connection.clone();
            let channel = format!("{}:ack", self.inner.prefix);
            let payload = format!("{app_id}\n{msg_tid}");
            if let Err(err) = connection.publish::<_, _, ()>(channel, payload).await {
                tracing::warn!(error = %err, "publishing an acknowledgement failed");
            }
        }
    }

    pub(super) fn resolve_ack(&self, app_id: &str, msg_tid: &str) -> bool {
        let waiting = self
            .inner
            .acks
            .lock()
            .expect("ack lock")
            .remove(&(app_id.to_owned(), msg_tid.to_owned()));
        waiting.is_some_and(|tx| tx.send(()).is_ok())
    }

    /// A watcher has everything of `key` through `seq` (it read it from Postgres): the head
    /// poller compares from there.
    pub fn seen(&self, key: &StreamKey, seq: i64) {
        let mut topics = self.inner.topics.lock().expect("hub lock");
        if let Some(topic) = topics.get_mut(key) {
            topic.last_seq = Some(topic.last_seq.unwrap_or(0).max(seq));
        }
    }

    /// The watched streams' channels, with their subscription flags.
    pub(super) fn channels(&self) -> Vec<(String, Arc<tokio::sync::watch::Sender<bool>>)> {
        let topics = self.inner.topics.lock().expect("hub lock");
        topics
            .iter()
            .map(|(key, topic)| (key.channel(&self.inner.prefix), topic.subscribed.clone()))
            .collect()
    }

    /// The watched streams, with the last seq handed out where it is known.
    pub(super) fn watched(&self) -> Vec<(StreamKey, Option<i64>)> {
        let topics = self.inner.topics.lock().expect("hub lock");
        topics
            .iter()
            .map(|(key, topic)| (key.clone(), topic.last_seq))
            .collect()
    }
}
