//! SRTP state of an anchored call: our master key on each leg, the crypto
//! line each party's SDP gave, and the decisions on re-offers and answers
//! (RFC 4568 SDES). The lines themselves are read and written by
//! `media::sdp::crypto`; the policy lookups and the driver's key seed are
//! the switch's (`switch/srtp.rs`); packets are protected by the relay.
//!
//! Keys over a plain channel: RFC 4568 §8.3 wants SDES keys to travel
//! only over a secure one (TLS). A party that offers its own key over UDP
//! or TCP gets our answer (its key is exposed already) and a warn line.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::warn;

use super::CallMedia;
use crate::call::CallRef;
use crate::config::SrtpPolicy;
use crate::media::command::{LegRemote, MediaLeg, SrtpKeys};
use crate::media::sdp::crypto::{self, Crypto, OUR_GCM_OFFER_TAG, OUR_OFFER_TAG};
use crate::media::sdp::{Choice, Sdp, SdpError};
use crate::media::srtp::{MasterKey, Suite, KEY_PARAMS_BYTES};
use crate::sip::Transport;

/// Our keys on a call's two legs (one per suite: the party's line picks
/// which) and what each party's SDP said.
#[derive(Debug, Clone)]
pub struct CallSrtp {
    a_ours: OurKeys,
    b_ours: OurKeys,
    /// The caller's crypto line we took; `None`: its leg is plain.
    a: Option<Crypto>,
    /// The agent's (or carrier's) crypto line from its answer.
    b: Option<Crypto>,
    /// Our offer to the callee carried our key.
    b_offered: bool,
}

/// Draws the master keys of our SDP.
#[derive(Debug)]
pub struct KeySource(StdRng);

impl KeySource {
    /// `seed` must come from the OS in production (a ChaCha stream: 256
    /// bits in, unpredictable keys out); tests fix it.
    pub fn new(seed: [u8; 32]) -> KeySource {
        KeySource(StdRng::from_seed(seed))
    }

    fn draw(&mut self, suite: Suite) -> MasterKey {
        let mut bytes = [0u8; KEY_PARAMS_BYTES];
        let n = suite.key_params_bytes();
        self.0.fill(&mut bytes[..n]);
        MasterKey::for_suite(suite, &bytes[..n]).expect("drawn to the suite's length")
    }
}

/// Our key on one leg for each suite.
#[derive(Debug, Clone, Copy)]
struct OurKeys {
    cm: MasterKey,
    gcm: MasterKey,
}

impl OurKeys {
    fn draw(keys: &mut KeySource) -> OurKeys {
        OurKeys {
            cm: keys.draw(Suite::AesCm128HmacSha1_80),
            gcm: keys.draw(Suite::AeadAes128Gcm),
        }
    }

    /// Ours in the suite of the party's line.
    fn matching(self, theirs: &Crypto) -> MasterKey {
        match theirs.key.suite {
            Suite::AesCm128HmacSha1_80 => self.cm,
            Suite::AeadAes128Gcm => self.gcm,
        }
    }
}

impl CallSrtp {
    pub fn new(keys: &mut KeySource) -> CallSrtp {
        CallSrtp {
            a_ours: OurKeys::draw(keys),
            b_ours: OurKeys::draw(keys),
            a: None,
            b: None,
            b_offered: false,
        }
    }

    /// Our offer `text` to the callee with our keys, AES_CM first, then
    /// GCM (RTP/SAVP when `savp`).
    pub fn offer_to_b(&mut self, text: &str, savp: bool) -> String {
        self.b_offered = true;
        let lines = [
            (OUR_OFFER_TAG, self.b_ours.cm),
            (OUR_GCM_OFFER_TAG, self.b_ours.gcm),
        ];
        crypto::with_cryptos(text, &lines, savp)
    }

    /// The relay's keys for `leg`, when it is SRTP.
    pub fn keys(&self, leg: MediaLeg) -> Option<SrtpKeys> {
        let (ours, theirs) = match leg {
            MediaLeg::Caller => (self.a_ours, self.a?),
            MediaLeg::Agent => (self.b_ours, self.b?),
            MediaLeg::Supervisor | MediaLeg::Party(_) => return None,
        };
        Some(SrtpKeys {
            ours: ours.matching(&theirs),
            theirs: theirs.key,
        })
    }
}

impl CallMedia {
    /// Our answer to the caller with our crypto line when its leg is SRTP
    /// (the tag of the line we took, RFC 4568 §7.1.2).
    pub fn secure_a(&self, text: String) -> String {
        self.secure_answer(MediaLeg::Caller, text)
    }

    /// Takes the callee's answer: its crypto line when we offered ours.
    pub fn take_b_answer(&mut self, call: CallRef, answer: &Sdp) {
        let Some(s) = self.srtp.as_mut().filter(|s| s.b_offered) else {
            return;
        };
        // The answer names the line it took by its tag; its suite must be
        // that line's (RFC 4568 §7.1.3).
        s.b = answer.crypto.usable.filter(|c| match c.tag {
            OUR_OFFER_TAG => c.key.suite == Suite::AesCm128HmacSha1_80,
            OUR_GCM_OFFER_TAG => c.key.suite == Suite::AeadAes128Gcm,
            _ => answer.crypto.lines == 1,
        });
        if s.b.is_none() {
            warn!(%call, "the callee answered our SRTP offer without a usable crypto line: its media stays plain");
        }
    }

    /// A re-offer on `leg`: an SRTP leg stays SRTP (the party may change
    /// its key), a plain one stays plain.
    pub fn check_reoffer(&mut self, leg: MediaLeg, offer: &Sdp) -> Result<(), SdpError> {
        let Some(s) = self.srtp.as_mut() else {
            return Ok(());
        };
        let current = match leg {
            MediaLeg::Caller => &mut s.a,
            MediaLeg::Agent => &mut s.b,
            MediaLeg::Supervisor | MediaLeg::Party(_) => return Ok(()),
        };
        match (current.is_some(), offer.crypto.usable) {
            (true, Some(c)) => {
                *current = Some(c);
                Ok(())
            }
            (true, None) => Err(SdpError::Crypto {
                reason: "a re-offer on an SRTP leg must keep SRTP".into(),
            }),
            (false, _) if offer.secure => Err(SdpError::Crypto {
                reason: "RTP/SAVP re-offer on a plain leg".into(),
            }),
            (false, _) => Ok(()),
        }
    }

    /// Our answer on `leg` with our crypto line when the leg is SRTP.
    pub fn secure_answer(&self, leg: MediaLeg, text: String) -> String {
        let Some(s) = self.srtp.as_ref() else {
            return text;
        };
        let line = match leg {
            MediaLeg::Caller => s.a.map(|c| (c.tag, s.a_ours.matching(&c))),
            MediaLeg::Agent => s.b.map(|c| (c.tag, s.b_ours.matching(&c))),
            MediaLeg::Supervisor | MediaLeg::Party(_) => None,
        };
        match line {
            Some((tag, ours)) => crypto::with_crypto(&text, tag, &ours, false),
            None => text,
        }
    }

    /// What the relay needs of `leg` from its SDP, with its SRTP keys.
    pub fn leg_remote(&self, leg: MediaLeg, s: &Sdp, choice: Choice) -> LegRemote {
        LegRemote {
            srtp: self.srtp.as_ref().and_then(|k| k.keys(leg)),
            ..super::media::remote(s, choice)
        }
    }
}

/// The caller's offer under its `policy`: the crypto line its leg takes
/// (stored on the call's media), or the reason for 488.
pub fn negotiate_caller(
    m: &mut CallMedia,
    policy: SrtpPolicy,
    transport: Transport,
    sip_call_id: &str,
) -> Result<(), SdpError> {
    let Some(s) = m.srtp.as_mut() else {
        return Ok(());
    };
    if m.awaiting_answer {
        return Ok(());
    }
    s.a = crypto::negotiate(&m.a_offer, policy)?;
    if s.a.is_some() && transport != Transport::Tls {
        warn!(
            sip_call_id,
            transport = transport.as_str(),
            "SRTP keys offered over an insecure transport (RFC 4568 §8.3): answered, but anyone on the path can read them"
        );
    }
    Ok(())
}
