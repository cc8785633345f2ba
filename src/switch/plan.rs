//! The part of the config the signalling core consults per message, indexed
//! for lookups: agents by SIP user, trunks by source address, DIDs; and the
//! router's agent and queue specs, translated from the config once.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::acd::{self, AgentSpec, Condition, QueueSpec, RelaxStep, ServiceLevel};
use crate::config::{self, Config, DidTarget, QueueConfig, RequireExpr};
use crate::dial_rules::{DialRefused, DialRules};
use crate::sip::guard::{Cidr, GuardConfig};
use crate::sip::pike::PikeConfig;
use crate::sip::{Peer, Transport};

/// What a number routes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Agent(String),
    /// A queue, with the priority and attributes the DID gives its callers.
    Queue {
        queue: String,
        priority: u8,
        attributes: Vec<(String, String)>,
    },
    /// An IVR menu; the priority and attributes go with the caller to the
    /// queue it picks.
    Menu {
        menu: String,
        priority: u8,
        attributes: Vec<(String, String)>,
    },
}

#[derive(Clone, Debug)]
pub struct AgentPlan {
    pub password: String,
    /// Log in to every qualifying queue when the phone registers.
    pub auto_login: bool,
    /// May listen in on other agents' calls.
    pub supervisor: bool,
    /// SRTP on the agent's leg.
    pub srtp: crate::config::SrtpPolicy,
}

#[derive(Clone, Debug)]
pub struct TrunkPlan {
    pub name: String,
    pub allow: Vec<(IpAddr, u8)>,
    pub inbound_auth: Option<(String, String)>,
    pub outbound: Option<OutboundPlan>,
    pub identity: crate::config::IdentityPolicy,
    /// SRTP on the trunk's legs.
    pub srtp: crate::config::SrtpPolicy,
    /// A REFER from this trunk's side may move the call.
    pub allow_refer: bool,
}

#[derive(Clone, Debug)]
pub struct OutboundPlan {
    pub peer: Peer,
    pub credentials: Option<(String, String)>,
    /// Lower is tried first.
    pub priority: u32,
    pub options_interval: Option<Duration>,
    pub options_down_after: u32,
    /// Register for this long, if the carrier wants a registration.
    pub register: Option<Duration>,
}

/// Lookups the core needs, built once from a validated config.
#[derive(Clone, Debug)]
pub struct Plan {
    pub realm: String,
    /// The address we put in Via and Contact.
    pub local: SocketAddr,
    /// The TLS listener's address (`[tls]`), for Contacts on TLS legs.
    pub tls_local: Option<SocketAddr>,
    pub no_answer_timeout: Duration,
    pub max_calls: usize,
    pub agents: HashMap<String, AgentPlan>,
    pub trunks: Vec<TrunkPlan>,
    pub dids: HashMap<String, Route>,
    /// IVR menus by name.
    pub menus: HashMap<String, super::ivr::MenuPlan>,
    /// The campaigns' settings, for a reload (the campaigns and their
    /// contacts are loaded at start-up).
    pub campaigns: Vec<config::CampaignConfig>,
    /// The router's agents, in config order.
    pub acd_agents: Vec<AgentSpec>,
    /// The router's queues, in config order.
    pub acd_queues: Vec<QueueSpec>,
    pub registration: crate::sip::registrar::RegistrarConfig,
    pub digest_order: crate::sip::auth::ChallengeOrder,
    pub force_rport: bool,
    /// Bound on live transactions; simulations shrink it.
    pub transactions_max: usize,
    /// Media anchoring; `None` passes SDP end to end.
    pub media: Option<super::MediaPlan>,
    /// DIDs and queues whose answered calls are recorded.
    pub record_dids: HashSet<String>,
    pub record_queues: HashSet<String>,
    /// Failed-login limits per source and per user.
    pub guard: GuardConfig,
    /// Request rate limit per source.
    pub pike: PikeConfig,
    /// Which numbers each agent may dial out.
    pub dial_rules: HashMap<String, DialRules>,
    /// How far back windowed queue figures look (`[metrics].interval`).
    pub metrics_interval: Duration,
    /// The shortest session interval we accept (RFC 4028 Min-SE).
    pub min_se: Duration,
    /// How often an answered call without anchored media or session timer
    /// is probed with OPTIONS; zero never.
    pub probe_interval: Duration,
    /// Blind transfers of a call back to a party it was with, at most.
    pub transfer_loop_max: u32,
    /// When new calls are refused for the core's load.
    pub overload: crate::config::OverloadConfig,
    /// Disposition codes by queue, for queues that list any.
    pub dispositions: HashMap<String, Vec<String>>,
    /// `[switch] escalation_queue` and its priority.
    pub escalation: Option<(String, u8)>,
    /// `[switch] conference_factory`: desk phones' network conference URI user.
    pub conference_factory: Option<String>,
    /// Each queue's `transfer_priority` and `transfer_fallback`.
    pub queue_transfers: HashMap<String, (u8, config::TransferFallback)>,
    /// Each queue's `callback`, for queues that offer one.
    pub callbacks: HashMap<String, config::CallbackConfig>,
    /// The `[dnc]` lists as a reload read them (the core reads no file);
    /// `None` from [`Plan::from_config`] and once taken.
    pub dnc_lists: Option<(crate::dialer::Dnc, crate::dialer::Numbering)>,
}

impl Plan {
    pub fn from_config(cfg: &Config) -> Plan {
        let agents = cfg
            .agents
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    AgentPlan {
                        password: a.password.clone(),
                        auto_login: a.auto_login,
                        supervisor: a.supervisor,
                        srtp: a.srtp,
                    },
                )
            })
            .collect();
        let trunks = cfg.trunks.iter().map(trunk_plan).collect();
        let dids = cfg
            .dids
            .iter()
            .map(|(number, did)| (number.clone(), did_route(did)))
            .collect();
        let acd_agents = cfg.agents.iter().map(agent_spec).collect();
        Plan {
            realm: cfg.switch.realm.clone(),
            local: cfg.switch.sip_listen,
            tls_local: cfg.tls.as_ref().map(|t| t.listen),
            no_answer_timeout: cfg.switch.no_answer_timeout,
            max_calls: cfg.switch.max_calls as usize,
            agents,
            trunks,
            dids,
            menus: cfg
                .menus
                .iter()
                .map(|m| (m.name.clone(), super::ivr::MenuPlan::from_config(m)))
                .collect(),
            campaigns: cfg.campaigns.clone(),
            acd_agents,
            acd_queues: cfg.queues.iter().map(queue_spec).collect(),
            digest_order: cfg.switch.digest_challenge,
            force_rport: cfg.switch.force_rport,
            transactions_max: crate::sip::limits::TRANSACTIONS_MAX,
            media: cfg.media.as_ref().map(super::MediaPlan::from_config),
            record_dids: cfg
                .dids
                .iter()
                .filter(|(_, d)| d.record)
                .map(|(n, _)| n.clone())
                .collect(),
            record_queues: cfg
                .queues
                .iter()
                .filter(|q| q.record)
                .map(|q| q.name.clone())
                .collect(),
            metrics_interval: cfg.metrics.interval,
            overload: cfg.overload.clone(),
            min_se: cfg.switch.min_se,
            probe_interval: cfg.switch.probe_interval,
            escalation: cfg.switch.escalation.clone(),
            conference_factory: cfg.switch.conference_factory.clone(),
            dnc_lists: None,
            transfer_loop_max: cfg.switch.transfer_loop_max,
            dispositions: cfg
                .queues
                .iter()
                .filter(|q| !q.dispositions.is_empty())
                .map(|q| (q.name.clone(), q.dispositions.clone()))
                .collect(),
            queue_transfers: cfg
                .queues
                .iter()
                .map(|q| {
                    let rule = (q.transfer_priority, q.transfer_fallback.clone());
                    (q.name.clone(), rule)
                })
                .collect(),
            callbacks: cfg
                .queues
                .iter()
                .filter_map(|q| Some((q.name.clone(), q.callback.clone()?)))
                .collect(),
            registration: crate::sip::registrar::RegistrarConfig {
                min_expires: cfg.switch.registration.min_expires,
                max_expires: cfg.switch.registration.max_expires,
                default_expires: cfg.switch.registration.default_expires,
                contacts: contact_limit(cfg),
            },
            guard: guard_config(cfg),
            pike: pike_config(cfg),
            dial_rules: cfg
                .agents
                .iter()
                .map(|a| (a.id.clone(), cfg.dial_rules_for(&a.id)))
                .collect(),
        }
    }

    /// Whether `agent` may dial `number` out through a trunk. Every path
    /// that places a call to the carrier on an agent's behalf (an agent's
    /// INVITE, originate) asks this first. An agent the plan does not know
    /// gets the built-in rules.
    pub fn check_dial(&self, agent: &str, number: &str) -> Result<(), DialRefused> {
        match self.dial_rules.get(agent) {
            Some(rules) => rules.check(number),
            None => DialRules::demo_default().check(number),
        }
    }

    /// The deny rule `number` hits for `agent`, for the log.
    pub fn dial_denied_by(&self, agent: &str, number: &str) -> Option<String> {
        self.dial_rules
            .get(agent)
            .and_then(|r| r.denied_by(number))
            .map(ToString::to_string)
    }

    /// The trunk whose `allow_from` covers this source address.
    pub fn trunk_for(&self, ip: IpAddr) -> Option<&TrunkPlan> {
        self.trunks.iter().find(|t| {
            t.allow
                .iter()
                .any(|(net, prefix)| in_net(ip, *net, *prefix))
        })
    }

    /// Our address on `transport`: the TLS listener's for TLS.
    pub fn local_on(&self, transport: Transport) -> SocketAddr {
        match (transport, self.tls_local) {
            (Transport::Tls, Some(addr)) => addr,
            _ => self.local,
        }
    }

    pub fn default_transport(&self) -> Transport {
        Transport::Udp
    }
}

/// Who is never limited: `[security].trusted`, loopback and the trunks'
/// sources when asked for.
fn trusted(cfg: &Config) -> Vec<Cidr> {
    let cidr = |n: &config::IpNet| Cidr {
        addr: n.addr,
        prefix_len: n.prefix_len,
    };
    let mut out: Vec<Cidr> = cfg.security.trusted.iter().map(cidr).collect();
    if cfg.security.trust_loopback {
        out.push(Cidr {
            addr: IpAddr::from([127, 0, 0, 0]),
            prefix_len: 8,
        });
        out.push(Cidr {
            addr: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            prefix_len: 128,
        });
    }
    if cfg.security.trust_trunks {
        out.extend(
            cfg.trunks
                .iter()
                .flat_map(|t| t.allow_from.iter().map(cidr)),
        );
    }
    out
}

fn guard_config(cfg: &Config) -> GuardConfig {
    let s = &cfg.security;
    GuardConfig {
        attempts_max: s.auth_attempts,
        user_attempts_max: s.auth_user_attempts,
        window: s.auth_window,
        ban: s.auth_ban,
        backoff_first: s.auth_backoff,
        trusted: trusted(cfg),
    }
}

fn pike_config(cfg: &Config) -> PikeConfig {
    let s = &cfg.security;
    PikeConfig {
        burst: s.requests_burst,
        rate_per_sec: s.requests_per_second,
        refusals_answered_max: s.requests_refused_answered,
        trusted: trusted(cfg),
    }
}

fn contact_limit(cfg: &Config) -> crate::sip::registrar::ContactLimit {
    crate::sip::registrar::ContactLimit {
        max_default: cfg.security.max_contacts as usize,
        per_aor: cfg
            .agents
            .iter()
            .filter_map(|a| a.max_contacts.map(|m| (a.id.clone(), m as usize)))
            .collect(),
        remove_existing: cfg.security.remove_existing,
    }
}

fn trunk_plan(t: &config::TrunkConfig) -> TrunkPlan {
    TrunkPlan {
        name: t.name.clone(),
        allow: t
            .allow_from
            .iter()
            .map(|n| (n.addr, n.prefix_len))
            .collect(),
        inbound_auth: t
            .inbound
            .as_ref()
            .map(|c| (c.username.clone(), c.password.clone())),
        outbound: t.outbound.as_ref().map(|o| OutboundPlan {
            peer: Peer {
                transport: o.transport,
                addr: o.address,
            },
            credentials: o
                .credentials
                .as_ref()
                .map(|c| (c.username.clone(), c.password.clone())),
            priority: o.priority,
            options_interval: o.options_interval,
            options_down_after: o.options_down_after,
            register: o.register,
        }),
        identity: t.identity.clone(),
        srtp: t.srtp,
        allow_refer: t.allow_refer,
    }
}

fn did_route(did: &config::DidRoute) -> Route {
    let attributes = did
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match &did.target {
        DidTarget::Agent(a) => Route::Agent(a.clone()),
        DidTarget::Queue(q) => Route::Queue {
            queue: q.clone(),
            priority: did.priority,
            attributes,
        },
        DidTarget::Menu(m) => Route::Menu {
            menu: m.clone(),
            priority: did.priority,
            attributes,
        },
    }
}

fn agent_spec(a: &config::AgentConfig) -> AgentSpec {
    AgentSpec {
        name: a.id.clone(),
        skills: a.skills.iter().map(|(s, l)| (s.clone(), *l)).collect(),
        attributes: a
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        max_no_answer: a.max_no_answer,
    }
}

/// A validated queue config as the router takes it.
fn queue_spec(q: &QueueConfig) -> QueueSpec {
    QueueSpec {
        name: q.name.clone(),
        requires: conditions(&q.requires),
        strategy: match q.strategy {
            config::Strategy::LongestIdle => acd::Strategy::LongestIdle,
            config::Strategy::MostSkilled => acd::Strategy::MostSkilled,
            config::Strategy::RoundRobin => acd::Strategy::RoundRobin,
            config::Strategy::FewestCalls => acd::Strategy::FewestCalls,
            config::Strategy::LeastTalkTime => acd::Strategy::LeastTalkTime,
            config::Strategy::Random => acd::Strategy::Random,
            config::Strategy::RingAll => acd::Strategy::RingAll,
        },
        ring_timeout: q.ring_timeout,
        wrap_up: q.wrap_up,
        disposition_wrap_up_max: q.disposition_required.then_some(q.wrap_up_max),
        max_length: (q.max_length as usize).min(acd::QUEUE_CALLS_MAX),
        max_wait: Some(q.max_wait),
        overflow: match &q.overflow {
            config::Overflow::Busy => acd::Overflow::Busy,
            config::Overflow::Queue(name) => acd::Overflow::Queue(name.clone()),
        },
        when_no_agents: match q.when_no_agents {
            config::WhenNoAgents::Join => acd::WhenNoAgents::Join,
            config::WhenNoAgents::Refuse => acd::WhenNoAgents::Refuse,
        },
        service_level: ServiceLevel {
            threshold: q.service_level.within,
            target_percent: (q.service_level.target * 100.0).round().clamp(0.0, 100.0) as u8,
        },
        // The config allows more steps than the router's tier mask holds;
        // the later steps are dropped (a caller that waited that long is
        // served by the last kept requirement).
        relax: q
            .relax
            .iter()
            .take(acd::RELAX_STEPS_MAX)
            .map(|r| RelaxStep {
                after: r.after,
                requires: conditions(&r.requires),
            })
            .collect(),
    }
}

fn conditions(expr: &RequireExpr) -> Vec<Vec<Condition>> {
    expr.alternatives
        .iter()
        .map(|alt| {
            let skills = alt.skills.iter().map(|s| Condition::Skill {
                skill: s.skill.clone(),
                min_level: s.min_level,
            });
            let attributes = alt.attributes.iter().map(|a| Condition::Attribute {
                name: a.name.clone(),
                value: a.value.clone(),
            });
            skills.chain(attributes).collect()
        })
        .collect()
}

/// True when `ip` is inside `net/prefix`.
fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = u32::from(prefix.min(32));
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = u32::from(prefix.min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|v4| in_net(IpAddr::V4(v4), net, prefix)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_net_matches_cidrs() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_net(ip("127.0.0.1"), ip("127.0.0.1"), 32));
        assert!(in_net(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!in_net(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(in_net(ip("2001:db8::5"), ip("2001:db8::"), 32));
        assert!(in_net(ip("::ffff:127.0.0.1"), ip("127.0.0.0"), 8));
        assert!(in_net(ip("8.8.8.8"), ip("0.0.0.0"), 0));
    }
}
