//! The rig of the tests of calls the switch places (originate, campaigns):
//! the pure switch core, its outputs collected, virtual time advanced
//! timer by timer, and the SIP the tests answer with (agents' phones, the
//! carrier's far end). Campaign tests load a campaign into it.

#![allow(dead_code, unused_imports)]
#![allow(clippy::disallowed_methods)]

pub use std::collections::BTreeMap;
pub use std::net::SocketAddr;
pub use std::path::Path;
pub use std::time::{Duration, Instant, UNIX_EPOCH};

pub use bytes::Bytes;
pub use switchyard::acd::callback::Callback;
pub use switchyard::call::{CallUuid, Outcome, Side};
pub use switchyard::config::Config;
pub use switchyard::dialer::{Contact, ContactState, Dnc, Numbering, Zone};
pub use switchyard::media::sdp::Codec;
pub use switchyard::sip::parse::{HeaderName, Message, Method};
pub use switchyard::sip::{Peer, Transport};
pub use switchyard::switch::campaigns::{CampaignOutput, CampaignSnapshot};
pub use switchyard::switch::{
    CallRecord, CallbackStore, CampaignMove, Command, CommandError, Direction, EventKind,
    MediaCommand, MediaLeg, Output, Plan, Reply, Switch,
};

pub const AGENT: &str = "192.0.2.11:5070";
pub const AGENT_2: &str = "192.0.2.12:5070";
pub const TRUNK: &str = "10.0.0.2:5060";
pub const AGENT_SDP: &str = "v=0\r\no=phone 7 7 IN IP4 192.0.2.11\r\ns=-\r\nc=IN IP4 192.0.2.11\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
pub const TRUNK_SDP: &str = "v=0\r\no=carrier 9 9 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
pub const STEPS_MAX: usize = 10_000;
/// 2026-12-07 12:00 UTC: inside the default 09:00-21:00 window.
pub const NOON: u64 = 1_796_644_800;

/// [`config`] with more keys in its campaign's table.
pub fn config_with(campaign_keys: &str) -> String {
    config().replace(
        "autostart = true",
        &format!("autostart = true\n{campaign_keys}"),
    )
}

pub fn config() -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"
no_answer_timeout = "20s"

[[agents]]
id = "1001"
password = "pw-1001"
auto_login = true
skills = {{ sales = 5 }}

[[agents]]
id = "1002"
password = "pw-1002"
auto_login = true
skills = {{ sales = 5 }}

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]
outbound = {{ address = "{TRUNK}", transport = "udp" }}

[dids]
"5550200" = {{ queue = "sales" }}

[[queues]]
name = "sales"
requires = "sales:1"
strategy = "most-skilled"
ring_timeout = "8s"
wrap_up = "0s"

[[campaigns]]
name = "renewals"
queue = "sales"
contacts = "renewals.csv"
mode = "progressive"
trunk = "carrier"
caller_id = "5550300"
max_attempts = 3
retry = {{ busy = "1m", no_answer = "1h", failed = "30m" }}
autostart = true

[media]
rtp_ports = "20000-20019"
rtp_address = "127.0.0.1"
"#
    )
}

pub struct Sim {
    pub switch: Switch,
    /// When the run started, and the wall clock then.
    pub t0: Instant,
    pub wall0: Duration,
    pub now: Instant,
    /// Sent by the switch and not yet looked at.
    pub outbox: Vec<(SocketAddr, Message)>,
    pub media: Vec<MediaCommand>,
    pub records: Vec<CallRecord>,
    /// The campaigns' store changes, in order.
    pub saved: Vec<CampaignOutput>,
    /// The callback store as `run/` would keep it.
    pub store: BTreeMap<u64, Callback>,
    pub events: Vec<EventKind>,
}

impl Sim {
    /// The switch with agent 1001 registered and the campaign loaded with
    /// `numbers` (E.164), `dnc` refused.
    pub fn new(numbers: &[&str], dnc: &[&str]) -> Sim {
        Sim::build(numbers, dnc, true)
    }

    /// As `new`; the campaign waits for a start unless `autostart`.
    pub fn build(numbers: &[&str], dnc: &[&str], autostart: bool) -> Sim {
        Sim::with_config(&config(), numbers, dnc, autostart)
    }

    /// The switch on `config`, no phone registered, no campaign loaded.
    pub fn bare(config: &str) -> Sim {
        Sim::bare_at(config, Duration::from_secs(NOON))
    }

    /// As `bare`, its wall clock at `wall0` (since the epoch).
    pub fn bare_at(config: &str, wall0: Duration) -> Sim {
        let cfg = Config::parse(config, Path::new("sim.toml")).expect("valid config");
        let now = Instant::now();
        let mut switch = Switch::new(Plan::from_config(&cfg), 7, now);
        switch.set_wall_clock(now, UNIX_EPOCH + wall0);
        Sim {
            switch,
            t0: now,
            wall0,
            now,
            outbox: Vec::new(),
            media: Vec::new(),
            records: Vec::new(),
            saved: Vec::new(),
            store: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// The wall clock now, in ms since the epoch.
    pub fn wall_ms(&self) -> u64 {
        (self.wall0 + self.now.duration_since(self.t0)).as_millis() as u64
    }

    pub fn with_config(text: &str, numbers: &[&str], dnc: &[&str], autostart: bool) -> Sim {
        let cfg = Config::parse(text, Path::new("sim.toml")).expect("valid config");
        let mut sim = Sim::bare(text);
        sim.register("1001", AGENT);
        let mut set = Dnc::default();
        for n in dnc {
            set.add(n);
        }
        sim.switch.set_dnc(set, Numbering::default());
        let zone = Zone::parse("UTC").unwrap();
        let contacts = numbers
            .iter()
            .map(|n| Contact::new(n.to_string(), "Customer".into(), zone))
            .collect();
        let mut campaign = cfg.campaigns[0].clone();
        campaign.autostart = autostart;
        sim.switch.add_campaign(sim.now, campaign, contacts, None);
        sim.drain();
        sim
    }

    pub fn send(&mut self, from: &str, text: String) {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from.parse().unwrap(),
        };
        self.switch
            .handle_datagram(self.now, peer, Bytes::from(text));
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.switch.poll_output() {
            match out {
                Output::Transmit { peer, bytes } => {
                    self.outbox
                        .push((peer.addr, Message::parse(bytes).expect("we send valid SIP")));
                }
                Output::Media(c) => self.media.push(c),
                Output::Event(e) => self.events.push(e.kind),
                Output::CallEnded(r) => self.records.push(r),
                Output::Tx(c) => {
                    unreachable!("a core without shards holds its transactions: {c:?}")
                }
            }
        }
        while let Some(o) = self.switch.poll_campaign_output() {
            self.saved.push(o);
        }
        while let Some(change) = self.switch.poll_callback_store() {
            match change {
                CallbackStore::Save { id, callback } => {
                    self.store.insert(id, callback);
                }
                CallbackStore::Delete { id } => {
                    self.store.remove(&id);
                }
            }
        }
    }

    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..STEPS_MAX {
            match self.switch.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.switch.handle_timeout(self.now);
                    self.drain();
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("timers did not settle in {STEPS_MAX} steps");
    }

    pub fn take(&mut self, to: &str, what: &str, pred: impl Fn(&Message) -> bool) -> Message {
        let to: SocketAddr = to.parse().unwrap();
        let Some(i) = self.outbox.iter().position(|(a, m)| *a == to && pred(m)) else {
            panic!("no {what} to {to}; outbox: {:#?}", self.outbox);
        };
        self.outbox.remove(i).1
    }

    pub fn take_request(&mut self, to: &str, method: Method) -> Message {
        let what = format!("{method:?}");
        self.take(to, &what, |m| m.method() == Some(&method))
    }

    pub fn take_status(&mut self, to: &str, status: u16) -> Message {
        self.take(to, &status.to_string(), |m| m.status() == Some(status))
    }

    /// INVITEs sent to the trunk and not taken yet.
    pub fn trunk_invites(&self) -> Vec<&Message> {
        let to: SocketAddr = TRUNK.parse().unwrap();
        self.outbox
            .iter()
            .filter(|(a, m)| *a == to && m.method() == Some(&Method::Invite))
            .map(|(_, m)| m)
            .collect()
    }

    pub fn register(&mut self, user: &str, phone: &str) {
        let aor = format!("<sip:{user}@127.0.0.1:5060>");
        let reg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {phone};branch=z9hG4bKreg{user}{cseq}\r\n\
                 Max-Forwards: 70\r\nFrom: {aor};tag=r{user}\r\nTo: {aor}\r\nCall-ID: reg-{user}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{phone}>\r\nExpires: 3600\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.send(phone, reg(1, ""));
        let challenge = self.take_status(phone, 401);
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let value = switchyard::sip::auth::answer_challenge(
            challenge.header(&HeaderName::WwwAuthenticate).unwrap(),
            "REGISTER",
            "sip:127.0.0.1:5060",
            user,
            &format!("pw-{user}"),
            1,
            &mut rng,
        )
        .unwrap();
        self.send(phone, reg(2, &format!("Authorization: {value}\r\n")));
        self.take_status(phone, 200);
    }

    pub fn answer(&mut self, from: &str, req: &Message, status: u16, sdp: &str) {
        self.send(from, response(req, status, from, sdp));
    }

    /// A BYE from `from` in the dialog our `req` opened.
    pub fn bye_back(&mut self, from: &str, req: &Message) {
        let to_tag = format!("t{}", tag_of(from));
        let text = format!(
            "BYE sip:switchyard@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKbye{}\r\n\
             Max-Forwards: 70\r\nFrom: {};tag={to_tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\n\
             Content-Length: 0\r\n\r\n",
            tag_of(from),
            req.to().as_str(),
            req.from().as_str(),
            req.call_id(),
        );
        self.send(from, text);
    }

    /// INVITEs sent to `to` and not taken yet.
    pub fn invites_to(&self, to: &str) -> usize {
        let to: SocketAddr = to.parse().unwrap();
        self.outbox
            .iter()
            .filter(|(a, m)| *a == to && m.method() == Some(&Method::Invite))
            .count()
    }

    /// Drops what was sent to `to` and not looked at (provisional answers,
    /// retransmissions).
    pub fn forget(&mut self, to: &str) {
        let to: SocketAddr = to.parse().unwrap();
        self.outbox.retain(|(a, _)| *a != to);
    }

    /// Nothing was sent to `to` (beyond what was taken).
    pub fn quiet(&self, to: &str) -> bool {
        let to: SocketAddr = to.parse().unwrap();
        !self.outbox.iter().any(|(a, _)| *a == to)
    }

    /// A command that must be done.
    pub fn command(&mut self, command: Command) {
        assert_eq!(
            self.switch.handle_command(self.now, command),
            Ok(Reply::Done)
        );
        self.drain();
    }

    pub fn agent_state(&mut self, agent: &str) -> &'static str {
        match self.switch.handle_command(self.now, Command::ListAgents) {
            Ok(Reply::Agents { agents }) => {
                agents.into_iter().find(|a| a.id == agent).unwrap().state
            }
            other => panic!("{other:?}"),
        }
    }

    /// A request in the dialog that `req` (ours, to `from`) opened, which
    /// `from` answered: From and To swapped.
    pub fn request_back(&mut self, from: &str, req: &Message, method: &str, cseq: u32) {
        self.request_back_with(from, req, method, cseq, "");
    }

    /// As `request_back`, with `extra` header lines.
    pub fn request_back_with(
        &mut self,
        from: &str,
        req: &Message,
        method: &str,
        cseq: u32,
        extra: &str,
    ) {
        let to_tag = format!("t{}", tag_of(from));
        let uri = req
            .header(&HeaderName::Contact)
            .map(|c| c.trim_matches(|ch| ch == '<' || ch == '>').to_string())
            .unwrap_or_else(|| "sip:switchyard@127.0.0.1:5060".into());
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{method}{cseq}{}\r\n\
             Max-Forwards: 70\r\nFrom: {};tag={to_tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             {extra}Content-Length: 0\r\n\r\n",
            tag_of(from),
            req.to().as_str(),
            req.from().as_str(),
            req.call_id(),
        );
        self.send(from, text);
    }

    /// The one record so far.
    pub fn record(&self) -> &CallRecord {
        assert_eq!(self.records.len(), 1, "one record: {:?}", self.records);
        &self.records[0]
    }

    /// The call's event types, in order.
    pub fn event_types(&self, call: CallUuid) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.call() == Some(call) && !matches!(e, EventKind::AgentState { .. }))
            .map(|e| {
                serde_json::to_value(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    pub fn snapshot(&self) -> CampaignSnapshot {
        self.switch.campaign_snapshots().remove(0)
    }

    /// The last state saved for contact `i`.
    pub fn saved_state(&self, i: u32) -> Option<ContactState> {
        self.saved.iter().rev().find_map(|o| match o {
            CampaignOutput::Contact { id, contact, .. } if id.0 == i => Some(contact.state),
            _ => None,
        })
    }
}

pub fn tag_of(addr: &str) -> String {
    addr.replace(['.', ':'], "")
}

pub fn response(req: &Message, status: u16, from: &str, sdp: &str) -> String {
    let mut out = format!("SIP/2.0 {status} X\r\n");
    for via in req.header_all(&HeaderName::Via) {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    let to = match req.to().tag() {
        Some(_) => req.to().as_str().to_string(),
        None => format!("{};tag=t{}", req.to().as_str(), tag_of(from)),
    };
    let ct = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {}\r\nContact: <sip:phone@{from}>\r\n{ct}Content-Length: {}\r\n\r\n{sdp}",
        req.from().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        sdp.len()
    ));
    out
}

pub fn uri_of(msg: &Message) -> String {
    msg.request_uri()
        .map(|u| u.as_str().to_string())
        .unwrap_or_default()
}

pub fn body(msg: &Message) -> String {
    String::from_utf8_lossy(msg.body()).to_string()
}
