//! Lanes for group commit: a fixed number of queues, each drained by its own writer in batches,
//! with every group's work always in the same lane.
//!
//! A writer takes the first item waiting in its lane and every other item already waiting there
//! (up to a batch's size), so a lone item goes out at once and waits for nothing, while under
//! load each batch carries what gathered during the last one. Keeping a group to one lane keeps
//! its items in order, and makes a busy group's work gather into large batches behind one writer,
//! instead of several writers each taking a few of its items and then waiting in turn for the
//! group's row lock (with a commit each). Many groups spread over all the lanes.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::mpsc;

/// The queues of `count` writers.
#[derive(Debug)]
pub(crate) struct Lanes<T> {
    queues: Arc<[mpsc::Sender<T>]>,
}

impl<T> Clone for Lanes<T> {
    fn clone(&self) -> Self {
        Lanes {
            queues: self.queues.clone(),
        }
    }
}

impl<T: Send + 'static> Lanes<T> {
    /// Starts `count` lanes (at least one), each with a writer that hands batches of up to
    /// `max_batch` items to `write` and records their sizes in the histogram `metric`. A writer
    /// stops when every sender is gone.
    pub(crate) fn start<W, F>(
        count: usize,
        max_batch: usize,
        metric: &'static str,
        write: W,
    ) -> Self
    where
        W: Fn(Vec<T>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        let queues = (0..count.max(1))
            .map(|_| {
                let (queue, mut receiver) = mpsc::channel(max_batch * 4);
                let write = write.clone();
                tokio::spawn(async move {
                    let mut batch = Vec::with_capacity(max_batch);
                    while receiver.recv_many(&mut batch, max_batch).await > 0 {
                        metrics::histogram!(metric).record(batch.len() as f64);
                        write(std::mem::replace(&mut batch, Vec::with_capacity(max_batch))).await;
                    }
                });
                queue
            })
            .collect();
        Lanes { queues }
    }

    /// The lane of `key` (an app and a group): always the same one in this process.
    pub(crate) fn lane(&self, key: impl Hash) -> usize {
        // Fixed keys (not a RandomState), so the lane does not change while the process runs.
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        (hasher.finish() % self.queues.len() as u64) as usize
    }

    /// Queues `item` in lane `lane` (from [`Lanes::lane`]); gives it back if the lane's writer
    /// is gone.
    pub(crate) async fn push(&self, lane: usize, item: T) -> Result<(), T> {
        self.queues[lane % self.queues.len()]
            .send(item)
            .await
            .map_err(|err| err.0)
    }

    /// How many items wait for a writer now, over all lanes.
    pub(crate) fn waiting(&self) -> usize {
        self.queues
            .iter()
            .map(|queue| queue.max_capacity() - queue.capacity())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::sync::Semaphore;

    type Batches = Arc<Mutex<Vec<Vec<u32>>>>;

    /// Lanes whose writers record each batch; a batch holding item 0 first waits for the gate.
    fn recording(count: usize) -> (Lanes<u32>, Batches, Arc<Semaphore>) {
        let (batches, gate) = (Batches::default(), Arc::new(Semaphore::new(0)));
        let (b, g) = (batches.clone(), gate.clone());
        let lanes = Lanes::start(count, 100, "test_batch_size", move |batch: Vec<u32>| {
            let (batches, gate) = (b.clone(), g.clone());
            async move {
                if batch.contains(&0) {
                    gate.acquire().await.unwrap().forget();
                }
                batches.lock().unwrap().push(batch);
            }
        });
        (lanes, batches, gate)
    }

    async fn until(batches: &Batches, count: usize) {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while batches.lock().unwrap().len() < count {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the batches are written");
    }

    #[tokio::test]
    async fn what_waits_behind_a_busy_writer_goes_in_one_batch_in_order() {
        let (lanes, batches, gate) = recording(4);
        let lane = lanes.lane(("app", "hot"));
        assert_eq!(lanes.lane(("app", "hot")), lane, "a key keeps its lane");
        assert!(
            (0..100).any(|i| lanes.lane(("app", format!("g{i}").as_str())) != lane),
            "keys spread over the lanes"
        );
        // The first item is taken at once, alone; its writer then waits at the gate.
        lanes.push(lane, 0).await.unwrap();
        while lanes.waiting() > 0 {
            tokio::task::yield_now().await;
        }
        for item in 1..=50 {
            lanes.push(lane, item).await.unwrap();
        }
        assert_eq!(lanes.waiting(), 50);
        gate.add_permits(1);
        until(&batches, 2).await;
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches, vec![vec![0], (1..=50).collect::<Vec<_>>()]);
    }

    #[tokio::test]
    async fn a_busy_lane_does_not_hold_up_the_others() {
        let (lanes, batches, gate) = recording(2);
        lanes.push(0, 0).await.unwrap();
        lanes.push(1, 7).await.unwrap();
        lanes.push(1, 8).await.unwrap();
        // Lane 0's writer waits at the gate; lane 1's writes meanwhile.
        until(&batches, 1).await;
        assert_eq!(batches.lock().unwrap().concat(), vec![7, 8]);
        gate.add_permits(1);
        until(&batches, 2).await;
        let mut written = batches.lock().unwrap().concat();
        written.sort_unstable();
        assert_eq!(written, vec![0, 7, 8]);
    }
}
