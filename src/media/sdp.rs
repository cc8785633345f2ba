//! SDP offer/answer for an anchored call (RFC 3264, RFC 8866).
//!
//! The switch parses each party's SDP (with `rtc-sdp`, which keeps lines it
//! does not know), learns where that party receives audio and which codecs it
//! takes, picks the codec and telephone-event payload type, and writes the SDP
//! the *other* party gets: our address and ports on `c=`/`m=`, the chosen
//! formats only, everything else kept. Only the first audio stream is
//! anchored; other streams are rejected with port 0 (RFC 3264 §6). Bad SDP is
//! an [`SdpError`], which the switch answers with [`SdpError::status`].

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use rtc_sdp::description::common::Attribute;
use rtc_sdp::SessionDescription;

/// Largest SDP body we parse.
pub const SDP_BYTES_MAX: usize = 16 * 1024;
/// Most `m=` sections in one SDP.
pub const MEDIA_SECTIONS_MAX: usize = 8;
/// Most formats we look at in the audio `m=` line.
pub const FORMATS_MAX: usize = 32;
/// The user name of our `o=` line and our `s=` (RFC 4566 §5.2, §5.3).
pub const ORIGIN_USER: &str = "switchyard";
/// The RFC 4733 events we offer when the party named none: the digits,
/// `*`, `#`, A-D and flash (RFC 4733 §7.1.1).
const TELEPHONE_EVENTS: &str = "0-16";

/// What is wrong with an SDP body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP of {len} bytes exceeds {SDP_BYTES_MAX}")]
    TooLarge { len: usize },
    #[error("SDP does not parse: {reason}")]
    Malformed { reason: String },
    #[error("SDP has {count} media sections, at most {MEDIA_SECTIONS_MAX} are taken")]
    TooManyMedia { count: usize },
    #[error("SDP offers no active audio stream")]
    NoAudio,
    #[error("audio transport {proto:?} is not RTP/AVP or RTP/SAVP")]
    UnsupportedTransport { proto: String },
    #[error("audio stream has no c= line, at media or session level")]
    NoConnection,
    #[error("c= address {value:?} is not an IPv4/IPv6 literal")]
    BadAddress { value: String },
    #[error("m= port {value} is out of range")]
    BadPort { value: isize },
    #[error("format {value:?} is not an RTP payload type")]
    BadPayloadType { value: String },
    #[error("SRTP refused: {reason}")]
    Crypto { reason: String },
    #[error("no codec in common (offered: {offered:?})")]
    NoCommonCodec { offered: Vec<Codec> },
}

impl SdpError {
    /// The SIP status that answers an offer with this fault: 488 Not
    /// Acceptable Here (RFC 3261 §21.4.26), or 413 for an oversized body.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            _ => 488,
        }
    }
}

/// The audio codecs the switch speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
    /// G.722 at 64 kbit/s: 16 kHz audio, an 8 kHz RTP clock.
    G722,
    Opus,
}

impl Codec {
    /// Names the config uses, in `from_name`'s spelling.
    pub const NAMES: &'static str = "pcmu, pcma, g722, opus";

    /// A codec by its config name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Codec> {
        match name.to_ascii_lowercase().as_str() {
            "pcmu" => Some(Self::Pcmu),
            "pcma" => Some(Self::Pcma),
            "g722" => Some(Self::G722),
            "opus" => Some(Self::Opus),
            _ => None,
        }
    }

    /// RTP clock rate (RFC 3551 §4.5.14; RFC 7587 §4.1 for Opus). G.722
    /// samples at 16 kHz but its RTP clock is 8 kHz (RFC 3551 §4.5.2).
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8_000,
            Self::Opus => 48_000,
        }
    }

    /// Timestamp units in one 20 ms frame.
    pub fn frame_samples(self) -> u32 {
        self.clock_rate() / 50
    }

    /// The static payload type, if the codec has one (RFC 3551 §6).
    pub fn static_pt(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    fn rtpmap(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU/8000",
            Self::Pcma => "PCMA/8000",
            Self::G722 => "G722/8000",
            Self::Opus => "opus/48000/2",
        }
    }
}

/// A format in an `m=` line: a codec or telephone-event (RFC 4733 §7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    Audio(Codec),
    TelephoneEvent,
}

/// A payload type and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub pt: u8,
    pub kind: FormatKind,
}

/// Media direction (RFC 3264 §5.1, §8.4 for hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// A parsed SDP, with what the relay needs pulled out of its audio stream.
#[derive(Debug, Clone)]
pub struct Sdp {
    desc: SessionDescription,
    audio: usize,
    /// Where the party receives RTP; `None` for `c=0.0.0.0` (old-style hold).
    pub rtp: Option<SocketAddr>,
    /// Where it receives RTCP: `a=rtcp` (RFC 3605) or RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// Codecs we speak, in the party's order of preference.
    pub codecs: Vec<Format>,
    /// The telephone-event payload type at 8 kHz, if offered.
    pub telephone_event: Option<u8>,
    pub direction: Direction,
    /// `a=ptime` in ms: the packet length the party wants to receive
    /// (RFC 4566 §6); the relay re-packetises towards it.
    pub ptime: Option<u32>,
    /// `a=maxptime` in ms: the longest packet it takes (RFC 4566 §6).
    pub maxptime: Option<u32>,
    /// The audio profile is RTP/SAVP(F): SRTP or nothing (RFC 3711 §12).
    pub secure: bool,
    /// Its `a=crypto` lines (RFC 4568), see [`crypto::negotiate`].
    pub crypto: crypto::Offered,
}

/// Our side of a leg: where the party must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub ip: IpAddr,
    pub rtp_port: u16,
    pub rtcp_port: u16,
}

/// The codec chosen for a leg, and its telephone-event type if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub codec: Format,
    pub telephone_event: Option<u8>,
}

impl Choice {
    /// The formats to put in this leg's `m=` line.
    pub fn formats(&self) -> Vec<Format> {
        let mut f = vec![self.codec];
        if let Some(pt) = self.telephone_event {
            f.push(Format {
                pt,
                kind: FormatKind::TelephoneEvent,
            });
        }
        f
    }
}

/// Parses an SDP body and extracts its first active audio stream.
pub fn parse(text: &str) -> Result<Sdp, SdpError> {
    if text.len() > SDP_BYTES_MAX {
        return Err(SdpError::TooLarge { len: text.len() });
    }
    let desc = SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes())).map_err(|e| {
        SdpError::Malformed {
            reason: e.to_string(),
        }
    })?;
    let count = desc.media_descriptions.len();
    if count > MEDIA_SECTIONS_MAX {
        return Err(SdpError::TooManyMedia { count });
    }
    let audio = desc
        .media_descriptions
        .iter()
        .position(|m| m.media_name.media == "audio" && m.media_name.port.value != 0)
        .ok_or(SdpError::NoAudio)?;
    let m = &desc.media_descriptions[audio];
    let proto = m.media_name.protos.join("/");
    let secure = match proto.as_str() {
        "RTP/AVP" | "RTP/AVPF" => false,
        "RTP/SAVP" | "RTP/SAVPF" => true,
        _ => return Err(SdpError::UnsupportedTransport { proto }),
    };
    let crypto = crypto::read(
        m.attributes
            .iter()
            .filter(|a| a.key == "crypto")
            .filter_map(|a| a.value.as_deref()),
    );
    let port = m.media_name.port.value;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(SdpError::BadPort { value: port })?;
    let conn = m
        .connection_information
        .as_ref()
        .or(desc.connection_information.as_ref())
        .and_then(|c| c.address.as_ref())
        .ok_or(SdpError::NoConnection)?;
    let ip: IpAddr = conn.address.parse().map_err(|_| SdpError::BadAddress {
        value: conn.address.clone(),
    })?;
    let rtp = (!ip.is_unspecified()).then_some(SocketAddr::new(ip, port));
    let rtcp = rtp.map(|a| rtcp_address(m.attribute("rtcp").flatten(), a));

    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for token in m.media_name.formats.iter().take(FORMATS_MAX) {
        let pt = token
            .parse::<u8>()
            .ok()
            .filter(|pt| *pt < 128)
            .ok_or_else(|| SdpError::BadPayloadType {
                value: token.clone(),
            })?;
        match format_kind(&m.attributes, pt) {
            Some(FormatKind::TelephoneEvent) => {
                telephone_event = telephone_event.or(Some(pt));
            }
            Some(kind) => codecs.push(Format { pt, kind }),
            None => {}
        }
    }
    let direction = direction(&m.attributes)
        .or_else(|| direction(&desc.attributes))
        .unwrap_or(Direction::SendRecv);
    let millis = |key: &str| {
        let session = desc.attribute(key).map(String::as_str);
        let value = m.attribute(key).flatten().or(session);
        value.and_then(|v| v.trim().parse::<u32>().ok())
    };
    let (ptime, maxptime) = (millis("ptime"), millis("maxptime"));
    Ok(Sdp {
        desc,
        audio,
        rtp,
        rtcp,
        codecs,
        telephone_event,
        direction,
        ptime,
        maxptime,
        secure,
        crypto,
    })
}

/// Picks the first codec of `offer` (the offerer's preference, RFC 3264
/// §6.1) that we `support`, and the offer's telephone-event type.
pub fn choose(offer: &Sdp, support: &[Codec]) -> Result<Choice, SdpError> {
    offer
        .codecs
        .iter()
        .find(|f| matches!(f.kind, FormatKind::Audio(c) if support.contains(&c)))
        .map(|f| Choice {
            codec: *f,
            telephone_event: offer.telephone_event,
        })
        .ok_or_else(|| SdpError::NoCommonCodec {
            offered: offer.codecs.iter().filter_map(audio_codec).collect(),
        })
}

/// The codec a leg uses after a re-offer (RFC 3264 §8.3.2): the one it
/// has, `current`, as long as the offer still lists it (at the payload type
/// the offer now gives it), so a phone reordering its list on resume does
/// not change the stream; else the offer's first that we `support`.
pub fn rechoose(
    offer: &Sdp,
    current: Option<Format>,
    support: &[Codec],
) -> Result<Choice, SdpError> {
    let kept = current.and_then(|cur| offer.codecs.iter().find(|f| f.kind == cur.kind));
    match kept {
        Some(f) => Ok(Choice {
            codec: *f,
            telephone_event: offer.telephone_event,
        }),
        None => choose(offer, support),
    }
}

/// The first codec of `a` that `b` also has: when `None`, the relay must
/// transcode between the two legs.
pub fn common_codec(a: &Sdp, b: &Sdp) -> Option<Codec> {
    a.codecs
        .iter()
        .filter_map(audio_codec)
        .find(|c| b.codecs.iter().filter_map(audio_codec).any(|d| d == *c))
}

impl Sdp {
    /// This offer as our offer on the other leg, in our own words: our
    /// address and ports, the audio `m=` line carrying exactly `formats` as
    /// plain RTP/AVP (we strip the feedback an AVPF profile would promise,
    /// and desk phones refuse it), the direction this SDP had, other
    /// streams rejected with port 0 (RFC 3264 §6). See [`Sdp::rewrite_as`].
    pub fn rewrite(&self, anchor: Anchor, formats: &[Format]) -> String {
        self.write(anchor, formats, self.direction, Some("RTP/AVP"))
    }

    /// Our answer to this offer: as [`Sdp::rewrite`], with `direction`, and
    /// the offer's own transport profile (an answer keeps it, RFC 3264 §6.1).
    pub fn rewrite_as(&self, anchor: Anchor, formats: &[Format], direction: Direction) -> String {
        self.write(anchor, formats, direction, None)
    }

    /// Writes our SDP from this one's streams, passing only a whitelist:
    /// per format its `rtpmap` (ours) and `fmtp` (the party's, where it
    /// describes the same codec), `ptime`/`maxptime`, `a=rtcp` at our port
    /// and `direction`. Nothing else of the party reaches the other leg:
    /// no `o=` line (ours is set by [`Origin::stamp`]; a placeholder here),
    /// no `ssrc`/`cname`/`msid`/`label`/`mid`/`group`, ICE, DTLS, `extmap`
    /// or `rtcp-fb`/`rtcp-rsize`, which describe the far party's own
    /// stream and would leak its identity (topology hiding) or promise
    /// what the relay does not do.
    fn write(
        &self,
        anchor: Anchor,
        formats: &[Format],
        direction: Direction,
        audio_proto: Option<&str>,
    ) -> String {
        use std::fmt::Write as _;
        let (family, ip) = (addr_type(anchor.ip), anchor.ip);
        let mut out = String::with_capacity(256);
        let _ = write!(
            out,
            "v=0\r\no={ORIGIN_USER} 0 0 IN {family} {ip}\r\ns={ORIGIN_USER}\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
        );
        for (i, m) in self.desc.media_descriptions.iter().enumerate() {
            let proto = m.media_name.protos.join("/");
            if i != self.audio {
                let fmts = m.media_name.formats.join(" ");
                let _ = write!(out, "m={} 0 {proto} {fmts}\r\n", m.media_name.media);
                continue;
            }
            let pts: Vec<String> = formats.iter().map(|f| f.pt.to_string()).collect();
            let proto = audio_proto.unwrap_or(&proto);
            let _ = write!(
                out,
                "m=audio {} {proto} {}\r\n",
                anchor.rtp_port,
                pts.join(" ")
            );
            for f in formats {
                let _ = write!(out, "a=rtpmap:{}\r\n", rtpmap_value(*f));
                let fmtp = m
                    .attributes
                    .iter()
                    .filter(|a| a.key == "fmtp" && format_attr_pt(a) == Some(f.pt))
                    .find_map(|a| a.value.as_deref())
                    .filter(|_| format_kind(&m.attributes, f.pt) == Some(f.kind));
                match (fmtp, f.kind) {
                    (Some(v), _) => {
                        let _ = write!(out, "a=fmtp:{v}\r\n");
                    }
                    (None, FormatKind::TelephoneEvent) => {
                        let _ = write!(out, "a=fmtp:{} {TELEPHONE_EVENTS}\r\n", f.pt);
                    }
                    (None, FormatKind::Audio(_)) => {}
                }
            }
            for key in ["ptime", "maxptime"] {
                if let Some(Some(v)) = m.attribute(key) {
                    let _ = write!(out, "a={key}:{}\r\n", v.trim());
                }
            }
            let _ = write!(out, "a=rtcp:{}\r\n", anchor.rtcp_port);
            let _ = write!(out, "a={}\r\n", direction.as_str());
        }
        out
    }

    /// The `a=ptime` of the audio stream (RFC 4566 §6), if given.
    pub fn ptime(&self) -> Option<u32> {
        let m = &self.desc.media_descriptions[self.audio];
        m.attribute("ptime").flatten()?.trim().parse().ok()
    }
}

impl Direction {
    /// The attribute's name (RFC 3264 §5.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The answer's direction for an offer's (RFC 3264 §6.1).
    pub fn mirror(self) -> Direction {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }
}

fn audio_codec(f: &Format) -> Option<Codec> {
    match f.kind {
        FormatKind::Audio(c) => Some(c),
        FormatKind::TelephoneEvent => None,
    }
}

fn addr_type(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => "IP4".to_string(),
        IpAddr::V6(_) => "IP6".to_string(),
    }
}

/// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605 §2.1); a bad one falls back to
/// RTP port + 1, as if it were absent.
fn rtcp_address(value: Option<&str>, rtp: SocketAddr) -> SocketAddr {
    let fallback = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
    let Some(v) = value else { return fallback };
    let mut parts = v.split_whitespace();
    let Some(port) = parts.next().and_then(|p| p.parse::<u16>().ok()) else {
        return fallback;
    };
    let ip = parts
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(rtp.ip());
    SocketAddr::new(ip, port)
}

/// The payload type a `rtpmap`/`fmtp`/`rtcp-fb` attribute describes.
fn format_attr_pt(a: &Attribute) -> Option<u8> {
    if !matches!(a.key.as_str(), "rtpmap" | "fmtp" | "rtcp-fb") {
        return None;
    }
    a.value.as_deref()?.split_whitespace().next()?.parse().ok()
}

/// The `rtpmap` value we write for a format (RFC 4566 §6): one for every
/// format, static ones included, so the other side needs no table.
fn rtpmap_value(f: Format) -> String {
    match f.kind {
        FormatKind::Audio(c) => format!("{} {}", f.pt, c.rtpmap()),
        FormatKind::TelephoneEvent => format!("{} telephone-event/8000", f.pt),
    }
}

/// What payload type `pt` carries: its `a=rtpmap`, else the static table.
fn format_kind(attrs: &[Attribute], pt: u8) -> Option<FormatKind> {
    let map = attrs
        .iter()
        .filter(|a| a.key == "rtpmap")
        .filter_map(|a| a.value.as_deref())
        .find_map(|v| {
            let (p, enc) = v.split_once(' ')?;
            (p.parse::<u8>().ok()? == pt).then_some(enc.trim())
        });
    let Some(enc) = map else {
        return match pt {
            0 => Some(FormatKind::Audio(Codec::Pcmu)),
            8 => Some(FormatKind::Audio(Codec::Pcma)),
            9 => Some(FormatKind::Audio(Codec::G722)),
            _ => None,
        };
    };
    let mut parts = enc.split('/');
    let name = parts.next().unwrap_or_default();
    let rate = parts.next().and_then(|r| r.parse::<u32>().ok());
    match (name.to_ascii_lowercase().as_str(), rate) {
        ("pcmu", Some(8_000)) => Some(FormatKind::Audio(Codec::Pcmu)),
        ("pcma", Some(8_000)) => Some(FormatKind::Audio(Codec::Pcma)),
        ("g722", Some(8_000)) => Some(FormatKind::Audio(Codec::G722)),
        ("opus", Some(48_000)) => Some(FormatKind::Audio(Codec::Opus)),
        ("telephone-event", Some(8_000)) => Some(FormatKind::TelephoneEvent),
        _ => None,
    }
}

fn direction(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().find_map(|a| match a.key.as_str() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    })
}

pub mod crypto;
mod origin;

pub use origin::Origin;

#[cfg(test)]
mod tests;
