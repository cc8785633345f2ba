//! The public event stream: the core's events, numbered, kept in a bounded
//! ring so a client that reconnects with `Last-Event-ID` gets what it
//! missed, and served as Server-Sent Events. A client too slow to keep up
//! loses its stream; the switch never waits for it.

#![allow(clippy::disallowed_methods)] // a driver: it spawns the ring's feeder

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::run::{EventBatch, EventStream};
use crate::switch::Event;

/// Events kept for clients that reconnect.
pub const EVENTS_RING_MAX: usize = 1_024;
/// Event streams served at once; more get 503, so streams cannot take
/// every HTTP connection from the operators' requests.
pub const SSE_CLIENTS_MAX: usize = 64;
/// Events queued for one SSE client; one further behind is dropped.
pub const SSE_CLIENT_QUEUE_MAX: usize = 256;
/// A comment line this often keeps proxies (and our idle timeout) from
/// closing a quiet stream.
pub const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

/// The feeder says it lost events at most this often, with the count
/// since it last said so: under load it may lag many times a second.
pub const EVENTS_LOST_WARN_GAP: Duration = Duration::from_secs(10);

/// One event as kept: its stream id and the event. Its JSON is made once,
/// by the first client that sends it, so nothing is serialised while no
/// client listens (the switch's usual state under load).
#[derive(Clone, Debug)]
pub struct Stamped {
    pub id: u64,
    kept: Arc<Kept>,
}

/// The event stays in the core's batch, shared with every other
/// subscriber: the ring keeps a place in it rather than a copy.
#[derive(Debug)]
struct Kept {
    batch: EventBatch,
    index: usize,
    json: OnceLock<Option<Arc<str>>>,
}

impl Kept {
    fn event(&self) -> &Event {
        &self.batch[self.index]
    }
}

impl Stamped {
    /// The event's JSON; `None` (logged once) if it cannot be serialised.
    pub fn json(&self) -> Option<Arc<str>> {
        let kept = &self.kept;
        let made = kept
            .json
            .get_or_init(|| match serde_json::to_string(kept.event()) {
                Ok(text) => Some(text.into()),
                Err(err) => {
                    warn!(id = self.id, %err, "event not serialisable; not sent");
                    None
                }
            });
        made.clone()
    }
}

/// The numbered ring and the fan-out to SSE clients.
#[derive(Debug)]
pub struct EventRing {
    inner: Mutex<Ring>,
    tx: broadcast::Sender<Stamped>,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    items: VecDeque<Stamped>,
}

impl EventRing {
    pub fn new() -> Arc<EventRing> {
        let (tx, _) = broadcast::channel(SSE_CLIENT_QUEUE_MAX);
        let inner = Mutex::new(Ring {
            next_id: 1,
            items: VecDeque::with_capacity(EVENTS_RING_MAX),
        });
        Arc::new(EventRing { inner, tx })
    }

    /// Feeds the ring from the switch's broadcast until it closes;
    /// `also` sees each event too (the agent board).
    pub fn feed(self: &Arc<Self>, mut events: EventStream, also: impl Fn(&Event) + Send + 'static) {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut lost = LostEvents::default();
            loop {
                match events.recv_shared().await {
                    Ok((batch, index)) => {
                        also(&batch[index]);
                        ring.push_shared(batch, index);
                    }
                    Err(broadcast::error::RecvError::Lagged(batches)) => {
                        lost.add(batches, Instant::now());
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Numbers and keeps one event and hands it to the live clients.
    pub fn push(&self, event: Event) {
        self.push_shared(Arc::from([event]), 0);
    }

    /// [`EventRing::push`] for the event at `index` of a core's batch.
    /// Consecutive events share their batch, so the ring holds at most
    /// one batch's worth more than its own bound.
    fn push_shared(&self, batch: EventBatch, index: usize) {
        if index >= batch.len() {
            return;
        }
        let kept = Arc::new(Kept {
            batch,
            index,
            json: OnceLock::new(),
        });
        let mut ring = self.lock();
        let item = Stamped {
            id: ring.next_id,
            kept,
        };
        ring.next_id += 1;
        if ring.items.len() == EVENTS_RING_MAX {
            ring.items.pop_front();
        }
        ring.items.push_back(item.clone());
        // Sent under the lock, so `subscribe_after` sees each event once.
        let _ = self.tx.send(item);
    }

    /// The kept events after `last` (all of them for an id we never gave,
    /// e.g. from before a restart), and a receiver for what follows.
    pub fn subscribe_after(
        &self,
        last: Option<u64>,
    ) -> (Vec<Stamped>, broadcast::Receiver<Stamped>) {
        let ring = self.lock();
        let rx = self.tx.subscribe();
        let backlog = match last {
            None => Vec::new(),
            Some(last) if last >= ring.next_id => ring.items.iter().cloned().collect(),
            Some(last) => ring.items.iter().filter(|s| s.id > last).cloned().collect(),
        };
        (backlog, rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the ring consistent
        // (push only appends and trims): keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The SSE response: the backlog after `last`, then live events until the
/// client goes or falls [`SSE_CLIENT_QUEUE_MAX`] events behind.
/// A comment goes out every `keepalive` at most ([`SSE_KEEPALIVE`]).
pub fn stream(
    ring: &EventRing,
    last: Option<u64>,
    keepalive: Duration,
    slot: OwnedSemaphorePermit,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // The slot is freed when the stream is dropped.
    let events = stamped_after(ring, last).filter_map(move |item| {
        let _slot = &slot;
        let event = item.json().map(|json| {
            Ok(SseEvent::default()
                .id(item.id.to_string())
                .data(json.as_ref()))
        });
        std::future::ready(event)
    });
    let every = keepalive.min(SSE_KEEPALIVE);
    Sse::new(events).keep_alive(KeepAlive::new().interval(every))
}

/// Event batches the feeder lost by falling behind the switch's broadcast,
/// told in the log at most every [`EVENTS_LOST_WARN_GAP`].
#[derive(Debug, Default)]
struct LostEvents {
    untold: u64,
    total: u64,
    told_at: Option<Instant>,
}

impl LostEvents {
    fn add(&mut self, n: u64, now: Instant) {
        self.untold += n;
        self.total += n;
        let due = self
            .told_at
            .is_none_or(|at| now.duration_since(at) >= EVENTS_LOST_WARN_GAP);
        if due {
            warn!(
                batches_lost = self.untold,
                batches_lost_total = self.total,
                "event feeder fell behind the switch; events lost for the API, its stream and the agent board"
            );
            self.untold = 0;
            self.told_at = Some(now);
        }
    }
}

/// The events after `last`; ends when the client lags (or the switch stops).
fn stamped_after(ring: &EventRing, last: Option<u64>) -> impl Stream<Item = Stamped> {
    let (backlog, rx) = ring.subscribe_after(last);
    let state = (VecDeque::from(backlog), rx);
    stream::unfold(state, |(mut backlog, mut rx)| async move {
        if let Some(item) = backlog.pop_front() {
            return Some((item, (backlog, rx)));
        }
        match rx.recv().await {
            Ok(item) => Some((item, (backlog, rx))),
            Err(broadcast::error::RecvError::Lagged(lost)) => {
                info!(lost, "slow event stream client dropped");
                None
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_gets_what_came_after_its_last_id() {
        let ring = EventRing::new();
        for n in 0..5 {
            ring.push(Event::numbered(n));
        }
        let (backlog, _) = ring.subscribe_after(Some(3));
        let ids: Vec<u64> = backlog.iter().map(|s| s.id).collect();
        assert_eq!(ids, [4, 5]);
        let json = backlog[0].json().expect("serialisable");
        assert!(json.contains("\"agent\":\"3\""));
        assert!(ring.subscribe_after(None).0.is_empty());
        // An id from before a restart: everything kept.
        assert_eq!(ring.subscribe_after(Some(99)).0.len(), 5);
    }

    #[test]
    fn the_ring_keeps_the_newest_events_only() {
        let ring = EventRing::new();
        let total = EVENTS_RING_MAX as u64 + 10;
        for n in 0..total {
            ring.push(Event::numbered(n));
        }
        let (backlog, _) = ring.subscribe_after(Some(0));
        assert_eq!(backlog.len(), EVENTS_RING_MAX);
        assert_eq!(backlog[0].id, 11);
        assert_eq!(backlog.last().map(|s| s.id), Some(total));
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_loses_its_stream_and_the_ring_goes_on() {
        let ring = EventRing::new();
        ring.push(Event::numbered(0));
        let client = stamped_after(&ring, Some(0));
        // Nobody reads while more than the client's queue arrives.
        for n in 1..=SSE_CLIENT_QUEUE_MAX as u64 + 1 {
            ring.push(Event::numbered(n));
        }
        let got: Vec<u64> = client.map(|s| s.id).collect().await;
        assert_eq!(got, [1], "the backlog, then the end of the stream");
        let (backlog, _) = ring.subscribe_after(Some(0));
        assert_eq!(backlog.len(), SSE_CLIENT_QUEUE_MAX + 2);
    }

    #[test]
    fn live_events_follow_the_backlog_without_a_gap() {
        let ring = EventRing::new();
        ring.push(Event::numbered(0));
        let (backlog, mut rx) = ring.subscribe_after(Some(0));
        ring.push(Event::numbered(1));
        assert_eq!(backlog.iter().map(|s| s.id).collect::<Vec<_>>(), [1]);
        assert_eq!(rx.try_recv().map(|s| s.id).ok(), Some(2));
    }

    #[test]
    fn json_is_made_once_and_only_when_a_client_reads() {
        let ring = EventRing::new();
        ring.push(Event::numbered(7));
        let (backlog, _) = ring.subscribe_after(Some(0));
        assert!(
            backlog[0].kept.json.get().is_none(),
            "no client read it yet"
        );
        let first = backlog[0].json().expect("serialisable");
        let (again, _) = ring.subscribe_after(Some(0));
        let second = again[0].json().expect("serialisable");
        assert!(Arc::ptr_eq(&first, &second), "serialised once, shared");
        assert!(first.contains("\"agent\":\"7\""));
    }

    #[test]
    fn lost_events_are_told_at_most_once_per_gap_with_the_count_since() {
        let t0 = Instant::now();
        let mut lost = LostEvents::default();
        lost.add(5, t0);
        assert_eq!(
            (lost.untold, lost.told_at),
            (0, Some(t0)),
            "the first loss is told at once"
        );
        lost.add(3, t0 + Duration::from_secs(1));
        lost.add(4, t0 + EVENTS_LOST_WARN_GAP - Duration::from_millis(1));
        assert_eq!(lost.untold, 7, "held back inside the gap");
        let later = t0 + EVENTS_LOST_WARN_GAP;
        lost.add(1, later);
        assert_eq!(
            (lost.untold, lost.total, lost.told_at),
            (0, 13, Some(later))
        );
    }

    #[tokio::test]
    async fn the_feeder_numbers_each_event_of_each_batch_and_shows_it_to_the_board() {
        let (tx, rx) = broadcast::channel(8);
        let ring = EventRing::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let board = seen.clone();
        let (_, mut live) = ring.subscribe_after(None);
        ring.feed(crate::run::EventStream::new(rx), move |e| {
            board.lock().expect("board").push(e.at_ms);
        });
        let events: Vec<Event> = (1..=3).map(Event::numbered).collect();
        assert!(tx.send(events.into()).is_ok());
        let mut ids = Vec::new();
        for _ in 0..3 {
            let item = tokio::time::timeout(Duration::from_secs(10), live.recv())
                .await
                .expect("the feeder passes the events on")
                .expect("the ring stays open");
            ids.push(item.id);
            // Each number shows its own event of the shared batch.
            let json = item.json().expect("serialisable");
            assert!(json.contains(&format!("\"at_ms\":{}", item.id)), "{json}");
        }
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(*seen.lock().expect("board"), [1, 2, 3]);
    }
}
