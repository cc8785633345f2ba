//! Start-up and the switch task (driver): binds the sockets, owns the
//! signalling core, feeds it datagrams, TCP frames, timeouts and commands
//! (from [`CommandSender`]), and carries out what it returns. SIGINT/SIGTERM
//! (or [`Running::stop`]) start a graceful stop: new calls get 503, calls
//! in progress are hung up, then the process exits.

#![allow(clippy::disallowed_methods)]

mod bind;
mod callbacks;
mod campaigns;
mod handle;
mod load;
pub mod shards;

pub use handle::{
    CommandSender, EventBatch, EventStream, Running, COMMANDS_QUEUE_MAX, EVENTS_QUEUE_MAX,
};

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::media::command::{MediaCommand, MediaEvent};
use crate::media::prompts::PromptSet;
use crate::media::relay::{self, MediaError, MediaHandle, RelayConfig};
use crate::ops::cdr::{CdrError, CdrStore, CdrWriter};
use crate::ops::http::{self, Health};
use crate::ops::metrics as m;
use crate::ops::reload::Reloader;
use crate::sip::transport::{self, TcpCounters, TcpEvent};
use crate::sip::{Peer, Transport};
use crate::switch::{Event, Output, Plan, Switch};
use bind::{bind_sip, bind_tls};
use shards::{ShardConfig, ShardSet};

/// How long a graceful stop waits for calls to hang up, by default
/// (`[switch].drain_timeout`).
pub const DRAIN_TIMEOUT: Duration = crate::config::DRAIN_TIMEOUT_DEFAULT;
/// Shard batches taken per wake-up (the shards' sends go once, after them).
const SIP_BATCHES_MAX: usize = 16;
/// How often counters are copied into the metrics recorder.
const METRICS_PERIOD: Duration = Duration::from_millis(500);
/// Tries at binding TCP on the port the kernel picked for UDP.
const BIND_TRIES_MAX: usize = 16;
/// Relay events (digits, timeouts) queued for the switch task.
const MEDIA_EVENTS_MAX: usize = 1024;
/// Period of the relay's coarse clock and inactivity check.
const MEDIA_TICK: Duration = Duration::from_millis(250);
/// Silence after which another source may take over a latched leg.
const MEDIA_RELATCH_AFTER: Duration = Duration::from_secs(2);

/// Why the switch could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind SIP on {addr}: {source}")]
    BindSip {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot bind HTTP on {addr}: {source}")]
    BindHttp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(String),
    #[error("cannot open the call record store: {0}")]
    Cdr(#[from] CdrError),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] transport::tls::TlsError),
    #[error("cannot bind SIP over TLS on {addr}: {source}")]
    BindTls {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the SIP threads: {0}")]
    SipThreads(std::io::Error),
    #[error("cannot start the media relay: {0}")]
    Media(#[from] MediaError),
}

/// Runs the switch until a stop signal, then drains.
pub async fn run(config: Config) -> Result<(), StartError> {
    start(config).await?.wait().await;
    Ok(())
}

/// Starts the switch and returns at once: its addresses, a handle for
/// commands, and its task, which ends after a stop signal and a drain.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let metrics = m::builder()
        .and_then(|b| b.install_recorder())
        .map_err(|e| StartError::Metrics(e.to_string()))?;
    m::describe();
    let store = CdrStore::open(&config.switch.cdr_path)?;
    let imported = store.spill_import();
    if imported.imported > 0 || imported.rejected > 0 {
        warn!(
            imported = imported.imported,
            rejected = imported.rejected,
            "call records recovered from the spill file"
        );
    }
    let cdr = CdrWriter::start(store)?;
    let (udp, tcp) = bind_sip(config.switch.sip_listen).await?;
    let sip_addr = udp.local_addr().map_err(|source| StartError::BindSip {
        addr: config.switch.sip_listen,
        source,
    })?;
    let http_listener = TcpListener::bind(config.switch.http_listen)
        .await
        .map_err(|source| StartError::BindHttp {
            addr: config.switch.http_listen,
            source,
        })?;
    let http_addr = http_listener
        .local_addr()
        .unwrap_or(config.switch.http_listen);

    let tls = bind_tls(&config).await?;
    let tls_addr = tls.as_ref().map(|(_, _, addr)| *addr);

    crate::sip::build::set_product(&config.security.server_header);
    let mut plan = Plan::from_config(&config);
    plan.local = sip_addr;
    plan.tls_local = tls_addr;
    let seed = rand::random::<u64>();
    let media = match &plan.media {
        Some(mp) => {
            // Without prompts calls still connect; queued callers hear silence.
            let prompts = match PromptSet::load_dir(&mp.prompts_dir) {
                Ok(set) => set,
                Err(err) => {
                    warn!(%err, dir = %mp.prompts_dir.display(), "queue prompts not loaded");
                    PromptSet::default()
                }
            };
            let config = RelayConfig {
                bind_ip: mp.bind_ip,
                advertise_ip: mp.advertise_ip,
                port_min: mp.port_min,
                port_max: mp.port_max,
                media_timeout: mp.inactivity_timeout,
                relatch_after: MEDIA_RELATCH_AFTER,
                tick: MEDIA_TICK,
                events_queue_max: MEDIA_EVENTS_MAX,
                // The packet path gets a relay thread per core, apart from
                // the signalling runtime.
                threads: std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(crate::media::relay::RELAY_THREADS_MAX),
                rng_seed: rand::random::<u64>(),
                // `check_usable` made sure the group exists.
                recordings_group: config
                    .media
                    .as_ref()
                    .and_then(|m| m.recordings_group.as_deref())
                    .and_then(relay::group_id),
            };
            let (handle, events) = relay::start_with_prompts(config, Arc::new(prompts))?;
            info!(ports = %format!("{}-{}", mp.port_min, mp.port_max), "media anchored in the switch");
            Some((handle, events))
        }
        None => None,
    };
    let now = Instant::now();
    let mut switch = Switch::new(plan, seed, now);
    // SRTP master keys come from their own OS-seeded stream.
    switch.set_srtp_seed(rand::random::<[u8; 32]>());
    switch.set_wall_clock(now, SystemTime::now());
    let bans_file = crate::ops::bans::bans_path(&config.switch.cdr_path);
    switch.restore_bans(now, &crate::ops::bans::load(&bans_file, SystemTime::now()));
    let contacts = campaigns::load(&config, &mut switch, now);
    let callbacks = callbacks::load(&config, &mut switch, now);

    let health = Arc::new(Health::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (commands, commands_rx) = CommandSender::channel();
    let (events, _) = broadcast::channel(EVENTS_QUEUE_MAX);
    let reloader = Reloader::new(
        config.clone(),
        commands.clone(),
        media.as_ref().map(|(h, _)| h.clone()),
    );
    crate::ops::reload::on_sighup(reloader.clone());
    // The API subscribes before the first event can be sent.
    let app = http::app(
        metrics,
        health.clone(),
        commands.clone(),
        EventStream::new(events.subscribe()),
        reloader,
        &config,
    );
    crate::ops::retention::spawn(&config, stop_rx.clone());
    tokio::spawn(http::serve(
        http_listener,
        app,
        config.api.clone(),
        stop_rx.clone(),
    ));

    let counters = Arc::new(TcpCounters::default());
    let (tcp_tx, tcp_rx) = mpsc::channel(transport::TCP_EVENTS_MAX);
    tokio::spawn(transport::accept_loop(
        tcp,
        tcp_tx.clone(),
        counters.clone(),
    ));
    let tls_setup = tls.map(|(setup, listener, _)| {
        let accept =
            transport::tls::accept_loop(listener, setup.clone(), tcp_tx.clone(), counters.clone());
        tokio::spawn(accept);
        setup
    });

    // Metrics exist from the first scrape on.
    m::publish(&switch, Instant::now());
    if config.metrics.agent_state {
        health.agent_states.update(&switch);
    }
    // Tests and scripts read this line to learn the ports picked for port 0.
    match tls_addr {
        Some(tls_addr) => {
            println!("switchyard listening sip={sip_addr} http={http_addr} tls={tls_addr}");
            info!(%sip_addr, %http_addr, %tls_addr, "switchyard started");
        }
        None => {
            println!("switchyard listening sip={sip_addr} http={http_addr}");
            info!(%sip_addr, %http_addr, "switchyard started");
        }
    }

    let sharding = ShardConfig::for_config(&config);
    // A batch holds at least one message: the message bound bites first.
    let (sip_tx, sip_rx) = mpsc::channel(sharding.core_messages_max);
    let udp = udp.into_std().map_err(StartError::SipThreads)?;
    let shards = ShardSet::start(udp, &sharding, sip_tx).map_err(StartError::SipThreads)?;
    // The shards hold the UDP dialogs' transactions from here on.
    let mut switch = switch;
    switch.hand_udp_transactions_to_shards();
    let (stop_request, stop_requested) = watch::channel(false);
    let mut task = SwitchTask {
        events: events.clone(),
        unpublished: Vec::new(),
        switch,
        shards,
        tcp_tx,
        counters,
        tls: tls_setup,
        health,
        conns: HashMap::new(),
        cdr,
        contacts,
        callbacks,
        media: media.as_ref().map(|(h, _)| h.clone()),
        agent_state_series: config.metrics.agent_state,
        bans: crate::ops::bans::BanSaver::start(bans_file),
        drain_timeout: config.switch.drain_timeout,
        load: load::LoadMeter::default(),
        trim: load::Trim::default(),
    };
    let inputs = Inputs {
        sip: sip_rx,
        tcp: tcp_rx,
        media: media.map(|(_, events)| events),
        commands: commands_rx,
        stop: stop_requested,
    };
    let task = tokio::spawn(async move {
        task.run(inputs).await;
        let _ = stop_tx.send(true);
        let SwitchTask {
            cdr,
            contacts,
            callbacks,
            shards,
            ..
        } = task;
        let _ = tokio::task::spawn_blocking(move || shards.stop()).await;
        if let Some(writer) = contacts {
            let _ = tokio::task::spawn_blocking(move || writer.close()).await;
        }
        if let Some(writer) = callbacks {
            let _ = tokio::task::spawn_blocking(move || writer.close()).await;
        }
        // Every record submitted is written (or spilled) before we exit.
        match tokio::task::spawn_blocking(move || cdr.close()).await {
            Ok(Ok(written)) => info!(written, "call records flushed"),
            Ok(Err(err)) => warn!(%err, "call records could not all be flushed"),
            Err(err) => warn!(%err, "call record writer failed"),
        }
        info!("switchyard stopped");
    });
    Ok(Running {
        sip_addr,
        http_addr,
        tls_addr,
        commands,
        events,
        stop: stop_request,
        task,
    })
}

/// What the switch task waits on besides its timers.
struct Inputs {
    /// Parsed SIP over UDP, from the shards.
    sip: mpsc::Receiver<shards::Batch>,
    tcp: mpsc::Receiver<TcpEvent>,
    media: Option<mpsc::Receiver<MediaEvent>>,
    commands: mpsc::Receiver<handle::Envelope>,
    /// Set to true by [`Running::stop`].
    stop: watch::Receiver<bool>,
}

struct SwitchTask {
    switch: Switch,
    /// SIP over UDP: the receiver and shard threads.
    shards: ShardSet,
    tcp_tx: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
    /// With `[tls]`: what connections to TLS trunks are made with.
    tls: Option<transport::tls::TlsSetup>,
    health: Arc<Health>,
    /// Open TCP and TLS connections, by peer.
    conns: HashMap<Peer, mpsc::Sender<Bytes>>,
    cdr: CdrWriter,
    /// Writes campaign contacts' changes (with `[[campaigns]]`).
    contacts: Option<campaigns::ContactWriter>,
    /// Writes queued callbacks' changes.
    callbacks: Option<callbacks::CallbackWriter>,
    media: Option<MediaHandle>,
    /// The event stream; subscribers that fall behind lag (lose events).
    events: broadcast::Sender<EventBatch>,
    /// This pass's events, published together at the end of `flush`.
    unpublished: Vec<Event>,
    /// `[metrics].agent_state`: render one state series per agent.
    agent_state_series: bool,
    /// Saves the failed-login bans when they change.
    bans: crate::ops::bans::BanSaver,
    /// `[switch].drain_timeout`: how long a stop waits for calls to hang up.
    drain_timeout: Duration,
    /// The core's load, measured for its admission of new calls.
    load: load::LoadMeter,
    /// When freed heap goes back to the OS after a burst.
    trim: load::Trim,
}

impl SwitchTask {
    async fn run(&mut self, inputs: Inputs) {
        let Inputs {
            sip: mut sip_rx,
            tcp: mut tcp_rx,
            media: mut media_rx,
            commands: mut commands_rx,
            stop: mut stop_requested,
        } = inputs;
        let mut metrics_tick = tokio::time::interval(METRICS_PERIOD);
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        let mut load_tick = tokio::time::interval(load::LOAD_PERIOD);
        load_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = async move {
            tokio::select! {
                _ = stop_signal() => {}
                // A dropped handle asks for nothing: only `true` stops.
                Ok(_) = stop_requested.wait_for(|s| *s) => {}
            }
        };
        tokio::pin!(stop);
        loop {
            let deadline = self
                .switch
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let sleep_until =
                deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                Some(batch) = sip_rx.recv() => {
                    self.on_sip(batch);
                    // Take what else is waiting, up to a bound, carrying out
                    // each batch's outputs; the shards get their sends once,
                    // in the flush below, so they are woken once per pass.
                    for _ in 0..SIP_BATCHES_MAX {
                        self.carry_out().await;
                        let Ok(batch) = sip_rx.try_recv() else { break };
                        self.on_sip(batch);
                    }
                }
                Some(event) = tcp_rx.recv() => self.on_tcp(event),
                Some(event) = recv_opt(&mut media_rx) => self.on_media_event(event),
                Some(request) = commands_rx.recv() => self.on_request(request).await,
                _ = tokio::time::sleep_until(sleep_until) => {
                    let now = Instant::now();
                    self.load.ran(sleep_until.into_std(), now);
                    self.switch.handle_timeout(now);
                }
                due = load_tick.tick() => {
                    let now = Instant::now();
                    self.load.ran(due.into_std(), now);
                    let queued = self.shards.waiting() + tcp_rx.len() + media_rx.as_ref().map_or(0, |rx| rx.len());
                    self.switch.set_shard_transactions(self.shards.transactions());
                    self.switch.handle_load(now, self.load.report(queued));
                }
                _ = metrics_tick.tick() => {
                    // Re-read the wall clock: call ids follow a stepped clock.
                    self.switch.set_wall_clock(Instant::now(), SystemTime::now());
                    self.publish();
                }
                _ = &mut stop, if drain_deadline.is_none() => {
                    info!("stop requested: refusing new calls, hanging up calls in progress");
                    self.health.draining.store(true, Ordering::Relaxed);
                    self.switch.shutdown(Instant::now());
                    drain_deadline = Some(tokio::time::Instant::now() + self.drain_timeout);
                }
                _ = sleep_opt(drain_deadline) => {
                    // Calls whose BYEs went unanswered end here, with their records.
                    warn!(calls = self.switch.calls_active(), "drain timeout: ending the calls still up");
                    self.switch.abort_calls(Instant::now());
                    self.flush().await;
                    break;
                }
            }
            self.flush().await;
            if drain_deadline.is_some() && self.switch.is_drained() {
                break;
            }
        }
        self.publish();
    }

    /// A shard's parsed messages, in the order they came.
    fn on_sip(&mut self, batch: shards::Batch) {
        let now = Instant::now();
        self.load.waiting(self.shards.took(batch.messages.len()));
        for event in batch.events {
            self.switch.handle_tx_event(now, event);
        }
        for m in batch.messages {
            self.switch
                .handle_message(now, m.peer, m.bytes, m.parsed, m.seen);
        }
    }

    fn on_tcp(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Opened { peer, writer } => {
                self.conns.insert(peer, writer);
            }
            TcpEvent::Frame { peer, bytes } => {
                self.switch.handle_datagram(Instant::now(), peer, bytes);
            }
            TcpEvent::Closed { peer } => {
                self.conns.remove(&peer);
                // RFC 5626 flows over this connection have failed.
                self.switch.handle_flow_closed(Instant::now(), peer);
            }
        }
    }

    /// Carries out everything the core asked for, and hands the shards
    /// their sends.
    async fn flush(&mut self) {
        self.carry_out().await;
        self.shards.flush();
    }

    /// Carries out everything the core asked for; datagrams wait in
    /// `shards` for its next flush.
    async fn carry_out(&mut self) {
        while let Some(output) = self.switch.poll_output() {
            match output {
                Output::Transmit { peer, bytes } => self.transmit(peer, bytes).await,
                Output::CallEnded(record) => {
                    info!(
                        call = %record.uuid,
                        outcome = record.outcome.label(),
                        queue = record.queue.as_deref().unwrap_or(""),
                        wait_ms = record.wait.as_millis() as u64,
                        talk_ms = record.talk.as_millis() as u64,
                        "call record"
                    );
                    if let Err(err) = self.cdr.submit(record, SystemTime::now()) {
                        warn!(%err, "call record lost");
                    }
                }
                Output::Media(command) => self.on_media_command(command),
                Output::Tx(command) => self.shards.command(command),
                Output::Event(event) => self.unpublished.push(event),
            }
        }
        if !self.unpublished.is_empty() {
            let batch: EventBatch = std::mem::take(&mut self.unpublished).into();
            // The agent event log is written like the records; the writer
            // thread picks out the events that make its lines.
            if let Err(err) = self.cdr.submit_events(batch.clone()) {
                warn!(%err, "agent event log lines lost");
            }
            // No subscriber is fine; a slow one lags, we never wait.
            let _ = self.events.send(batch);
        }
        while let Some(output) = self.switch.poll_campaign_output() {
            if let Some(writer) = &mut self.contacts {
                writer.submit(output);
            }
        }
        callbacks::CallbackWriter::drain(&mut self.callbacks, &mut self.switch);
        let switch = &self.switch;
        self.bans
            .offer(switch.bans_changed(), || switch.active_bans(Instant::now()));
    }

    /// A command or a reload from the API, the CLI or SIGHUP.
    async fn on_request(&mut self, request: handle::Envelope) {
        let now = Instant::now();
        // What a request set off is sent (and its events published) before
        // the reply says it is done; the asker may have given up waiting.
        match request {
            handle::Envelope::Command(command, reply) => {
                let result = self.switch.handle_command(now, command);
                self.flush().await;
                let _ = reply.send(result);
            }
            handle::Envelope::Reload(plan, reply) => {
                let result = self.switch.reload(now, *plan);
                self.flush().await;
                let _ = reply.send(result);
            }
        }
    }

    /// Hands a media decision to the relay as it is; a failure goes back
    /// to the core, which ends the call (or drops what failed).
    fn on_media_command(&mut self, command: MediaCommand) {
        let Some(media) = &self.media else {
            return;
        };
        let call = command.call();
        let lost = command.on_failure();
        if let Err(err) = media.apply(command) {
            warn!(%call, %err, ?lost, "media command failed");
            self.switch.handle_media(Instant::now(), lost);
        }
    }

    /// Tells the core what the relay reported, as the relay put it.
    fn on_media_event(&mut self, event: MediaEvent) {
        match &event {
            MediaEvent::Timeout { call, silent_for } => {
                info!(%call, ?silent_for, "media timeout");
            }
            MediaEvent::PeerLearnt { leg, addr, rtcp } => {
                tracing::debug!(call = %leg.call, n = leg.n, %addr, rtcp, "media peer learnt");
            }
            MediaEvent::Digit { .. }
            | MediaEvent::RecordingFailed { .. }
            | MediaEvent::Answering { .. }
            | MediaEvent::GreetingOver { .. } => {}
        }
        if let Some(input) = event.input() {
            self.switch.handle_media(Instant::now(), input);
        }
    }

    async fn transmit(&mut self, peer: Peer, bytes: Bytes) {
        match peer.transport {
            Transport::Udp => {
                self.shards.transmit(peer.addr, bytes);
            }
            Transport::Tcp | Transport::Tls => {
                let (events, counters) = (&self.tcp_tx, &self.counters);
                let writer = match (self.conns.entry(peer), peer.transport, &self.tls) {
                    (Entry::Occupied(e), _, _) => e.into_mut(),
                    (Entry::Vacant(e), Transport::Tcp, _) => e.insert(transport::connect(
                        peer.addr,
                        events.clone(),
                        counters.clone(),
                    )),
                    (Entry::Vacant(e), _, Some(tls)) => e.insert(transport::tls::connect(
                        peer.addr,
                        tls,
                        events.clone(),
                        counters.clone(),
                    )),
                    (Entry::Vacant(_), _, None) => {
                        // Nothing to connect with: a TLS trunk needs `[tls]`.
                        metrics::counter!(m::TCP_WRITES_DROPPED_TOTAL).increment(1);
                        return;
                    }
                };
                if writer.try_send(bytes).is_err() {
                    metrics::counter!(m::TCP_WRITES_DROPPED_TOTAL).increment(1);
                }
            }
        }
    }

    fn publish(&mut self) {
        let now = Instant::now();
        let entries = self.switch.calls_active() + self.switch.transactions_active();
        if self.trim.due(now, entries) && !load::trim_heap() {
            warn!("jemalloc refused to purge its arenas; freed heap stays with the switch");
        }
        m::publish(&self.switch, now);
        m::record_samples(&mut self.switch);
        if self.agent_state_series {
            self.health.agent_states.update(&self.switch);
        }
        self.health
            .calls_active
            .store(self.switch.calls_active() as u64, Ordering::Relaxed);
        self.health
            .registrations_active
            .store(self.switch.registrations_active() as u64, Ordering::Relaxed);
        if let Some(media) = &self.media {
            m::publish_media(&media.stats(), &self.switch);
        }
        m::publish_shards(&self.shards.figures());
        metrics::counter!(m::CDR_WRITTEN_TOTAL).absolute(self.cdr.written());
        metrics::counter!(m::CDR_COMMITS_TOTAL).absolute(self.cdr.commits());
        metrics::counter!(m::CDR_SPILLED_TOTAL).absolute(self.cdr.spilled());
        metrics::counter!(m::CDR_DROPPED_TOTAL).absolute(self.cdr.dropped());
        metrics::gauge!(m::TCP_CONNECTIONS_ACTIVE)
            .set(self.counters.open.load(Ordering::Relaxed) as f64);
        metrics::counter!(m::TCP_CONNECTIONS_REFUSED_TOTAL)
            .absolute(self.counters.refused.load(Ordering::Relaxed) as u64);
        metrics::counter!(m::TCP_FRAMING_ERRORS_TOTAL)
            .absolute(self.counters.framing_errors.load(Ordering::Relaxed) as u64);
        metrics::counter!(m::TCP_OVERSIZED_TOTAL)
            .absolute(self.counters.oversized.load(Ordering::Relaxed) as u64);
        metrics::counter!(m::TLS_HANDSHAKES_TOTAL, "result" => "ok")
            .absolute(self.counters.tls_handshakes.load(Ordering::Relaxed) as u64);
        metrics::counter!(m::TLS_HANDSHAKES_TOTAL, "result" => "failed")
            .absolute(self.counters.tls_handshakes_failed.load(Ordering::Relaxed) as u64);
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
