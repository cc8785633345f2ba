//! Feature codes an agent dials from its phone to change its ACD state:
//!
//! | dialled        | effect                                              |
//! |----------------|-----------------------------------------------------|
//! | `*45`          | log in to every queue the agent qualifies for       |
//! | `*46`          | log out of every queue                              |
//! | `*47`          | pause, reason `break`                               |
//! | `*47<n>`       | pause with reason 1 break, 2 lunch, 3 training      |
//! | `*48`          | resume (also cancels a pause due after wrap-up)     |
//! | `*49<n>`       | disposition: the n-th code of the last call's queue |
//!
//! Done, the INVITE is answered 200 with an SDP answer that mirrors the offer
//! with `a=inactive` (RFC 3264 §6: same m-lines, first format each, no media
//! flows; RFC 4566 §6) and hung up with BYE as soon as the ACK arrives: the
//! phone shows a short connected call, which is what desk phones expect of a
//! feature code. An unknown code gets 404; a change the router refuses (resume
//! when not paused, pause when logged out) gets 403 with a Warning.

use std::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info};

use super::demux::{Owner, OwnerKind};
use super::inbound::Req;
use super::Switch;
use crate::acd::{self, AcdError, PauseReason};
use crate::sip::build;
use crate::sip::parse::{Message, Method};
use crate::sip::transaction::{ClientKey, ServerKey, TxMethod};
use crate::sip::Peer;

/// Feature-code dialogs awaiting their ACK; past it a code gets 503.
pub const FEATURE_DIALOGS_MAX: usize = 1_024;
/// Most digits after `*47`: reason codes are small numbers.
const REASON_DIGITS_MAX: usize = 3;

/// A feature code, as dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureCode {
    Login,
    Logout,
    Pause(PauseReason),
    Resume,
    /// The n-th (from 1) disposition code of the agent's last queue call.
    Disposition(u8),
}

/// Why a feature code was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    #[error("no feature code {0:?}")]
    UnknownCode(String),
    #[error("no pause reason {0:?} (1 break, 2 lunch, 3 training)")]
    UnknownPauseReason(String),
    #[error("agent {0:?} is not known to the router")]
    UnknownAgent(String),
    #[error("the router refused: {0}")]
    Refused(#[from] AcdError),
    #[error("no disposition code {0} for the agent's last queue call")]
    UnknownDisposition(u8),
    #[error("{max} feature dialogs are open")]
    TooManyDialogs { max: usize },
}

impl FeatureError {
    /// The SIP status the phone gets.
    pub fn status(&self) -> u16 {
        match self {
            FeatureError::UnknownCode(_)
            | FeatureError::UnknownPauseReason(_)
            | FeatureError::UnknownDisposition(_) => 404,
            FeatureError::UnknownAgent(_) | FeatureError::Refused(_) => 403,
            FeatureError::TooManyDialogs { .. } => 503,
        }
    }
}

impl FeatureCode {
    /// `None` when `dialled` is no feature code at all (it does not start
    /// with `*`), else the code or why it is not one.
    pub fn parse(dialled: &str) -> Option<Result<FeatureCode, FeatureError>> {
        let rest = dialled.strip_prefix('*')?;
        let unknown = || FeatureError::UnknownCode(dialled.to_string());
        Some(match rest {
            "45" => Ok(FeatureCode::Login),
            "46" => Ok(FeatureCode::Logout),
            "47" => Ok(FeatureCode::Pause(PauseReason::Break)),
            "48" => Ok(FeatureCode::Resume),
            _ if rest.len() > 2 && rest.starts_with("49") => match rest[2..].parse::<u8>() {
                Ok(n) if rest.len() <= 4 && rest[2..].bytes().all(|b| b.is_ascii_digit()) => {
                    Ok(FeatureCode::Disposition(n))
                }
                _ => Err(unknown()),
            },
            _ => match rest.strip_prefix("47") {
                Some(digits)
                    if digits.len() <= REASON_DIGITS_MAX
                        && digits.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    match digits.parse::<u16>() {
                        Ok(1) => Ok(FeatureCode::Pause(PauseReason::Break)),
                        Ok(2) => Ok(FeatureCode::Pause(PauseReason::Lunch)),
                        Ok(3) => Ok(FeatureCode::Pause(PauseReason::Training)),
                        _ => Err(FeatureError::UnknownPauseReason(digits.to_string())),
                    }
                }
                _ => Err(unknown()),
            },
        })
    }

    fn label(self) -> &'static str {
        match self {
            FeatureCode::Login => "login",
            FeatureCode::Logout => "logout",
            FeatureCode::Pause(_) => "pause",
            FeatureCode::Resume => "resume",
            FeatureCode::Disposition(_) => "disposition",
        }
    }
}

/// A feature-code dialog between our 200 and the phone's ACK.
#[derive(Debug)]
pub struct FeatureLeg {
    key: ServerKey,
    /// Our BYE, sent once the ACK arrives.
    bye: Bytes,
    bye_branch: String,
    peer: Peer,
}

impl FeatureLeg {
    /// The branch of the INVITE that opened the dialog.
    pub fn invite_branch(&self) -> &str {
        &self.key.branch
    }

    /// A leg opened by an INVITE with `branch`, for tests of the table.
    #[cfg(test)]
    pub(super) fn opened_by(branch: &str) -> FeatureLeg {
        let peer = Peer {
            transport: crate::sip::Transport::Udp,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 5060)),
        };
        FeatureLeg {
            key: ServerKey {
                branch: branch.to_string(),
                sent_by: "127.0.0.1:5060".into(),
                method: TxMethod::Invite,
            },
            bye: Bytes::new(),
            bye_branch: String::new(),
            peer,
        }
    }
}

impl Switch {
    /// An authenticated agent dialled a feature code.
    pub(super) fn on_feature(
        &mut self,
        now: Instant,
        req: &Req<'_>,
        agent: &str,
        code: Result<FeatureCode, FeatureError>,
    ) {
        let result = code.and_then(|code| self.apply_feature(now, agent, code).map(|()| code));
        let tag = self.token();
        let code = match result {
            Ok(code) => code,
            Err(err) => {
                debug!(%err, "feature code refused");
                self.stats.features_refused += 1;
                let warning = format!("399 switchyard \"{err}\"");
                let headers = [("Warning", warning)];
                return self.respond(now, req, err.status(), Some(&tag), &headers, None);
            }
        };
        self.stats.features_done += 1;
        info!(feature = code.label(), "agent feature code");
        let ip = self.plan.local.ip();
        let sdp = inactive_answer(req.msg.body(), ip, u64::from(self.rng_u32()));
        let headers = [
            ("Contact", self.contact_on(req.source.transport)),
            ("Allow", build::ALLOW.to_string()),
        ];
        self.respond(
            now,
            req,
            200,
            Some(&tag),
            &headers,
            Some(("application/sdp", &sdp)),
        );
        let (bye_branch, bye) = self.feature_bye(req, &tag);
        let call_id = req.msg.call_id();
        let leg = FeatureLeg {
            key: req.key.clone(),
            bye,
            bye_branch,
            peer: req.source,
        };
        self.demux.insert(call_id, Owner::Feature(Box::new(leg)));
        self.demux
            .insert(&req.key.branch, Owner::DialogInvite(call_id.to_string()));
    }

    fn apply_feature(
        &mut self,
        now: Instant,
        agent: &str,
        code: FeatureCode,
    ) -> Result<(), FeatureError> {
        if self.demux.count(OwnerKind::Feature) >= FEATURE_DIALOGS_MAX {
            return Err(FeatureError::TooManyDialogs {
                max: FEATURE_DIALOGS_MAX,
            });
        }
        let id = self
            .router
            .agent_id(agent)
            .ok_or_else(|| FeatureError::UnknownAgent(agent.to_string()))?;
        let input = match code {
            FeatureCode::Login => acd::Input::AgentLogin {
                agent: id,
                queue: None,
            },
            FeatureCode::Logout => acd::Input::AgentLogout {
                agent: id,
                queue: None,
            },
            FeatureCode::Pause(reason) => acd::Input::AgentPause { agent: id, reason },
            FeatureCode::Resume => acd::Input::AgentResume { agent: id },
            FeatureCode::Disposition(n) => {
                return match self.dispose_by_index(now, agent, usize::from(n)) {
                    true => Ok(()),
                    false => Err(FeatureError::UnknownDisposition(n)),
                };
            }
        };
        Ok(self.route(now, input)?)
    }

    /// The ACK of a feature code's 200: hang up at once.
    pub(super) fn on_feature_ack(&mut self, now: Instant, msg: &Message) {
        let Some(Owner::Feature(leg)) = self.demux.remove_dialog(msg.call_id()) else {
            return;
        };
        self.tx_ack_2xx(now, &leg.key, msg.call_id());
        let key = ClientKey {
            branch: leg.bye_branch,
            method: TxMethod::NonInvite("BYE".into()),
        };
        if let Err(err) = self.tx_send(now, key, leg.peer, leg.bye, None) {
            debug!(%err, "cannot send the feature code's BYE");
        }
    }

    /// The phone never ACKed (RFC 3261 §13.3.1.4): the dialog is gone.
    pub(super) fn on_feature_no_ack(&mut self, call_id: &str) {
        self.demux.remove_dialog(call_id);
    }

    /// A request inside a feature dialog before our BYE: the phone hung up first.
    pub(super) fn on_feature_request(&mut self, now: Instant, req: &Req<'_>, method: &Method) {
        if *method == Method::Bye {
            if let Some(Owner::Feature(leg)) = self.demux.remove_dialog(req.msg.call_id()) {
                self.tx_ack_2xx(now, &leg.key, req.msg.call_id());
            }
        }
        self.respond(now, req, 200, None, &[], None);
    }

    /// Our BYE for the dialog the 200 creates (RFC 3261 §12.1.1: the route
    /// set is the INVITE's Record-Route, the target its Contact).
    pub(super) fn feature_bye(&mut self, req: &Req<'_>, tag: &str) -> (String, Bytes) {
        let branch = crate::sip::dialog::branch(&self.token());
        let dialog = super::legs::Dialog::as_uas(req.msg, req.source, tag);
        let bye = dialog.bye(self.plan.local, &branch, req.msg.call_id(), 1);
        (branch, bye)
    }

    fn rng_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(&mut self.rng)
    }
}

/// An SDP answer that takes no media: each offered m-line answered with its
/// first format and `a=inactive` (RFC 3264 §6). With no offer (it comes in
/// the ACK then), this is an offer of PCMU, inactive.
pub fn inactive_answer(offer: &[u8], local: IpAddr, session: u64) -> Bytes {
    let family = if local.is_ipv4() { "IP4" } else { "IP6" };
    let mut sdp = format!(
        "v=0\r\no=switchyard {session} {session} IN {family} {local}\r\ns=-\r\nc=IN {family} {local}\r\nt=0 0\r\n"
    );
    let text = std::str::from_utf8(offer).unwrap_or("");
    let mut media = 0;
    let mut first_format: Option<String> = None;
    for line in text.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut parts = m.split_whitespace();
            let (Some(kind), Some(_port), Some(proto)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let fmt = parts.next().unwrap_or("0").to_string();
            if media > 0 {
                sdp.push_str("a=inactive\r\n");
            }
            sdp.push_str(&format!("m={kind} 9 {proto} {fmt}\r\n"));
            first_format = Some(fmt);
            media += 1;
        } else if let (Some(attr), Some(fmt)) = (line.strip_prefix("a=rtpmap:"), &first_format) {
            if attr.split_whitespace().next() == Some(fmt.as_str()) {
                sdp.push_str(line);
                sdp.push_str("\r\n");
            }
        }
    }
    if media == 0 {
        sdp.push_str("m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n");
    }
    sdp.push_str("a=inactive\r\n");
    Bytes::from(sdp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_codes_parse_to_their_actions() {
        let p = |s: &str| FeatureCode::parse(s);
        assert_eq!(p("*45"), Some(Ok(FeatureCode::Login)));
        assert_eq!(p("*46"), Some(Ok(FeatureCode::Logout)));
        assert_eq!(p("*47"), Some(Ok(FeatureCode::Pause(PauseReason::Break))));
        assert_eq!(p("*472"), Some(Ok(FeatureCode::Pause(PauseReason::Lunch))));
        assert_eq!(
            p("*473"),
            Some(Ok(FeatureCode::Pause(PauseReason::Training)))
        );
        assert_eq!(p("*48"), Some(Ok(FeatureCode::Resume)));
        assert_eq!(p("5550200"), None);
    }

    #[test]
    fn unknown_codes_and_reasons_are_refused_with_404() {
        let err = FeatureCode::parse("*99").unwrap().unwrap_err();
        assert_eq!(err.status(), 404);
        let err = FeatureCode::parse("*479").unwrap().unwrap_err();
        assert_eq!(err, FeatureError::UnknownPauseReason("9".into()));
        let err = FeatureCode::parse("*4712345").unwrap().unwrap_err();
        assert_eq!(err.status(), 404);
    }

    #[test]
    fn inactive_answer_mirrors_each_m_line_with_its_first_format() {
        let offer = b"v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let sdp = inactive_answer(offer, local, 7);
        let text = std::str::from_utf8(&sdp).unwrap();
        assert_eq!(
            text,
            "v=0\r\no=switchyard 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=inactive\r\n\
m=video 9 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=inactive\r\n"
        );
    }

    #[test]
    fn inactive_answer_without_offer_offers_inactive_pcmu() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let text = String::from_utf8(inactive_answer(b"", local, 1).to_vec()).unwrap();
        assert!(text.ends_with("m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n"));
    }
}
