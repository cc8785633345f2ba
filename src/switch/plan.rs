//! The part of the config the signalling core consults per message, indexed
//! for lookups: agents by SIP user, trunks by source address, DIDs.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::{Config, DidTarget};
use crate::sip::{Peer, Transport};

/// What a number routes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Agent(String),
    Queue(String),
}

#[derive(Clone, Debug)]
pub struct AgentPlan {
    pub password: String,
    pub skills: Vec<(String, u8)>,
}

#[derive(Clone, Debug)]
pub struct TrunkPlan {
    pub name: String,
    pub allow: Vec<(IpAddr, u8)>,
    pub inbound_auth: Option<(String, String)>,
    pub outbound: Option<OutboundPlan>,
}

#[derive(Clone, Debug)]
pub struct OutboundPlan {
    pub peer: Peer,
    pub credentials: Option<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct QueuePlan {
    /// Skills any of which qualifies an agent (naive routing).
    pub skills: Vec<String>,
    pub ring_timeout: Duration,
}

/// Lookups the core needs, built once from a validated config.
#[derive(Clone, Debug)]
pub struct Plan {
    pub realm: String,
    /// The address we put in Via and Contact.
    pub local: SocketAddr,
    pub no_answer_timeout: Duration,
    pub max_calls: usize,
    pub agents: HashMap<String, AgentPlan>,
    /// Agents in config order, for deterministic naive routing.
    pub agent_order: Vec<String>,
    pub trunks: Vec<TrunkPlan>,
    pub dids: HashMap<String, Route>,
    pub queues: HashMap<String, QueuePlan>,
    pub registration: crate::sip::registrar::RegistrarConfig,
    pub digest_order: crate::sip::auth::ChallengeOrder,
    pub force_rport: bool,
}

impl Plan {
    pub fn from_config(cfg: &Config) -> Plan {
        let agents = cfg
            .agents
            .iter()
            .map(|a| {
                let skills = a.skills.iter().map(|(s, l)| (s.clone(), *l)).collect();
                (
                    a.id.clone(),
                    AgentPlan {
                        password: a.password.clone(),
                        skills,
                    },
                )
            })
            .collect();
        let trunks = cfg
            .trunks
            .iter()
            .map(|t| TrunkPlan {
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
                }),
            })
            .collect();
        let dids = cfg
            .dids
            .iter()
            .map(|(number, did)| {
                let route = match &did.target {
                    DidTarget::Agent(a) => Route::Agent(a.clone()),
                    DidTarget::Queue(q) => Route::Queue(q.clone()),
                };
                (number.clone(), route)
            })
            .collect();
        let queues = cfg
            .queues
            .iter()
            .map(|q| {
                let mut skills: Vec<String> = q
                    .requires
                    .alternatives
                    .iter()
                    .flat_map(|a| a.skills.iter().map(|s| s.skill.clone()))
                    .collect();
                skills.dedup();
                (
                    q.name.clone(),
                    QueuePlan {
                        skills,
                        ring_timeout: q.ring_timeout,
                    },
                )
            })
            .collect();
        Plan {
            realm: cfg.switch.realm.clone(),
            local: cfg.switch.sip_listen,
            no_answer_timeout: cfg.switch.no_answer_timeout,
            max_calls: cfg.switch.max_calls as usize,
            agents,
            agent_order: cfg.agents.iter().map(|a| a.id.clone()).collect(),
            trunks,
            dids,
            queues,
            digest_order: cfg.switch.digest_challenge,
            force_rport: cfg.switch.force_rport,
            registration: crate::sip::registrar::RegistrarConfig {
                min_expires: cfg.switch.registration.min_expires,
                max_expires: cfg.switch.registration.max_expires,
                default_expires: cfg.switch.registration.default_expires,
            },
        }
    }

    /// The trunk whose `allow_from` covers this source address.
    pub fn trunk_for(&self, ip: IpAddr) -> Option<&TrunkPlan> {
        self.trunks.iter().find(|t| {
            t.allow
                .iter()
                .any(|(net, prefix)| in_net(ip, *net, *prefix))
        })
    }

    /// The first trunk that takes outbound calls.
    pub fn outbound_trunk(&self) -> Option<&TrunkPlan> {
        self.trunks.iter().find(|t| t.outbound.is_some())
    }

    pub fn default_transport(&self) -> Transport {
        Transport::Udp
    }
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
