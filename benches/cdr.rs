//! The call-record writer's cost per row: batches committed the way the
//! writer thread commits them (one transaction each) into a store that
//! already holds 10 000 calls, at batch sizes 1, 32 and 256.
//!
//! `cargo bench --bench cdr`. The store lives in `$CDR_BENCH_DIR` (default
//! the temp dir): a disk there measures fsync too, a tmpfs (`/dev/shm`)
//! mostly CPU. Per row = time per batch / batch size (criterion prints
//! elements per second).
//!
//! - `records`: queue calls' records, each with two legs (an agent who let
//!   it ring out, then one who answered).
//! - `mixed`: a stream of rows, each call's record followed by three
//!   agent log lines (connect, complete, wrap-up end), so the wrap-up is
//!   joined in; cut into batches of the size.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchyard::call::session::{Direction, LegOutcome, LegRecord, LegRole, LegVia, RecordDetail};
use switchyard::call::{CallRef, Outcome, Side};
use switchyard::ops::cdr::{AgentEventRow, CdrRow, CdrStore, StoreRow};
use switchyard::switch::CallRecord;

const PREFILL_CALLS: u64 = 10_000;
const BATCH_SIZES: [usize; 3] = [1, 32, 256];

/// Hands out calls with unique refs, Call-IDs and ids.
struct Calls {
    next: u64,
    /// Rows of the `mixed` stream not yet handed out.
    pending: VecDeque<StoreRow>,
}

impl Calls {
    fn record(&mut self) -> CdrRow {
        let n = self.next;
        self.next += 1;
        let ended_at = UNIX_EPOCH + Duration::from_secs(1_780_000_000) + Duration::from_millis(n);
        let leg =
            |party: &str, started: u64, answered: Option<u64>, ended: u64, outcome| LegRecord {
                party: party.to_owned(),
                role: LegRole::Agent,
                via: LegVia::Offer,
                started: Duration::from_millis(started),
                answered: answered.map(Duration::from_millis),
                ended: Duration::from_millis(ended),
                outcome,
                recording: None,
            };
        let record = CallRecord {
            call: CallRef(n),
            uuid: format!("0190a1b2-c3d4-7e5f-8a9b-{n:012x}")
                .parse()
                .expect("a well-formed UUID v7"),
            sip_call_id: format!("{n:016x}-4f1c9a@trunk.example.net"),
            trunk: Some("carrier-1".to_owned()),
            dialled: "+442071234567".to_owned(),
            queue: Some("loans".to_owned()),
            agent: Some(format!("agent{}", n % 200)),
            outcome: Outcome::Completed {
                hung_up_by: Side::A,
            },
            wait: Duration::from_millis(24_000),
            talk: Duration::from_millis(95_000),
            offers: 2,
            recording: None,
            from_agent: None,
            detail: RecordDetail {
                caller: format!("+4479{:08}", n % 100_000_000),
                caller_name: Some("A Caller".to_owned()),
                direction: Direction::Inbound,
                ivr_path: vec!["main:1".to_owned(), "loans:2".to_owned()],
                queue_entered: Some(Duration::from_millis(6_000)),
                queue_left: Some(Duration::from_millis(24_000)),
                hold: Duration::from_millis(4_000),
                hung_up_by: Some("caller"),
                legs: vec![
                    leg("agent7", 6_000, None, 15_000, LegOutcome::NoAnswer),
                    leg(
                        "agent8",
                        15_000,
                        Some(24_000),
                        119_000,
                        LegOutcome::CallerHungUp,
                    ),
                ],
                ..RecordDetail::default()
            },
        };
        CdrRow::new(&record, ended_at)
    }

    fn records(&mut self, n: usize) -> Vec<StoreRow> {
        (0..n).map(|_| StoreRow::Call(self.record())).collect()
    }

    /// The next `n` rows of a stream of records, each followed by its
    /// agent's log lines (at batch size 1, each line commits alone).
    fn mixed(&mut self, n: usize) -> Vec<StoreRow> {
        while self.pending.len() < n {
            let record = self.record();
            let call = record.call_uuid.clone();
            let unix_ms = 1_780_000_000_000 + record.call;
            self.pending.push_back(StoreRow::Call(record));
            for (i, (event, duration_ms)) in [
                ("connect", Some(24_000)),
                ("complete", Some(95_000)),
                ("wrapup_end", Some(8_000)),
            ]
            .into_iter()
            .enumerate()
            {
                self.pending.push_back(StoreRow::Agent(AgentEventRow {
                    at: switchyard::ops::cdr::rfc3339_utc(
                        UNIX_EPOCH + Duration::from_millis(unix_ms),
                    ),
                    unix_ms,
                    at_ms: u64::try_from(i).expect("three lines"),
                    agent: Some("agent8".to_owned()),
                    event: event.to_owned(),
                    queue: Some("loans".to_owned()),
                    call: call.clone(),
                    reason: None,
                    detail: None,
                    duration_ms,
                }));
            }
        }
        self.pending.drain(..n).collect()
    }
}

fn store_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("CDR_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "switchyard-bench-cdr-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the bench directory is writable");
    dir
}

fn bench_group(c: &mut Criterion, name: &str, make: fn(&mut Calls, usize) -> Vec<StoreRow>) {
    let dir = store_dir(name);
    let store = CdrStore::open(&dir.join("cdr.sqlite")).expect("a new store opens");
    let mut calls = Calls {
        next: 1,
        pending: VecDeque::new(),
    };
    let mut inserter = store.inserter();
    for _ in 0..PREFILL_CALLS / 250 {
        inserter
            .insert(&calls.records(250))
            .expect("the prefill is stored");
    }
    let mut group = c.benchmark_group(format!("cdr_insert/{name}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for size in BATCH_SIZES {
        group.throughput(Throughput::Elements(u64::try_from(size).expect("small")));
        group.bench_function(size.to_string(), |b| {
            b.iter_batched(
                || make(&mut calls, size),
                |rows| inserter.insert(&rows).expect("the batch is stored"),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    drop(inserter);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

fn records(c: &mut Criterion) {
    bench_group(c, "records", Calls::records);
}

fn mixed(c: &mut Criterion) {
    bench_group(c, "mixed", Calls::mixed);
}

criterion_group!(benches, records, mixed);
criterion_main!(benches);
