//! SDES key exchange (RFC 4568) on the audio stream: reading the party's
//! `a=crypto` lines, deciding by the party's SRTP policy whether its leg
//! is SRTP, and writing our own line into the SDP we send it. Pure: our
//! keys are drawn by the caller.
//!
//! AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM (RFC 7714 §14.1) are taken,
//! each with one inline key, no MKI and no session parameters that weaken
//! it (UNENCRYPTED_*, UNAUTHENTICATED_SRTP, a key derivation rate); other
//! lines are skipped, as §7.1.1 allows. Our offers carry both suites,
//! AES_CM first.

use super::{Sdp, SdpError};
use crate::config::SrtpPolicy;
use crate::media::srtp::{MasterKey, Suite};

/// Largest crypto tag (RFC 4568 §9.1: up to nine digits).
pub const CRYPTO_TAG_MAX: u32 = 999_999_999;
/// Most `a=crypto` lines looked at in one stream.
pub const CRYPTO_LINES_MAX: usize = 16;
/// The tags of the lines in our own offers: AES_CM, then GCM.
pub const OUR_OFFER_TAG: u32 = 1;
pub const OUR_GCM_OFFER_TAG: u32 = 2;

/// A usable crypto line of the party: its tag and master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub key: MasterKey,
}

/// The crypto attributes of an audio stream, as read by `sdp::parse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offered {
    /// The first usable line.
    pub usable: Option<Crypto>,
    /// Why the first unusable line of our suite (or any line, when none
    /// is of our suite) was skipped, for the 488's reason.
    pub problem: Option<String>,
    /// Lines seen.
    pub lines: usize,
}

/// Reads the `a=crypto` values of a stream.
pub(super) fn read<'a>(values: impl Iterator<Item = &'a str>) -> Offered {
    let mut offered = Offered::default();
    for value in values.take(CRYPTO_LINES_MAX) {
        offered.lines += 1;
        match line(value) {
            Ok(c) if offered.usable.is_none() => offered.usable = Some(c),
            Ok(_) => {}
            Err(reason) => {
                offered.problem.get_or_insert(reason);
            }
        }
    }
    offered
}

/// One `a=crypto` value: `<tag> <suite> inline:<key||salt>[|lifetime]
/// [|MKI:length] [session params]` (RFC 4568 §9.1, §6.1).
fn line(value: &str) -> Result<Crypto, String> {
    let mut parts = value.split_whitespace();
    let tag = parts
        .next()
        .and_then(|t| t.parse::<u32>().ok())
        .filter(|t| *t <= CRYPTO_TAG_MAX)
        .ok_or_else(|| format!("crypto tag of \"{}\" is not a number", clip(value)))?;
    let name = parts.next().unwrap_or_default();
    let Some(suite) = Suite::from_name(name) else {
        return Err(format!(
            "crypto suite \"{}\" is not {}",
            clip(name),
            Suite::NAMES
        ));
    };
    let params = parts.next().unwrap_or_default();
    if params.contains(';') {
        return Err("more than one key in a crypto line".into());
    }
    let inline = params
        .strip_prefix("inline:")
        .ok_or("crypto key is not inline:")?;
    let mut fields = inline.split('|');
    let key_text = fields.next().unwrap_or_default();
    for field in fields {
        if field.contains(':') {
            return Err("crypto MKI is not supported".into());
        }
    }
    for session_param in parts {
        let name = session_param.split('=').next().unwrap_or_default();
        if name != "WSH" {
            return Err(format!(
                "crypto session parameter {} is not supported",
                clip(name)
            ));
        }
    }
    let key = MasterKey::from_inline_for(suite, key_text).ok_or_else(|| {
        format!(
            "crypto key is not {} bytes of base64 (key and salt)",
            suite.key_params_bytes()
        )
    })?;
    Ok(Crypto { tag, key })
}

fn clip(text: &str) -> &str {
    let end = text.char_indices().nth(40).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// Whether the party's offer makes its leg SRTP under its `policy`:
/// the crypto line we take, none for plain RTP, or why the offer must be
/// refused (488).
pub fn negotiate(offer: &Sdp, policy: SrtpPolicy) -> Result<Option<Crypto>, SdpError> {
    let c = &offer.crypto;
    let refuse = |default: &str| SdpError::Crypto {
        reason: c.problem.clone().unwrap_or_else(|| default.to_owned()),
    };
    match policy {
        SrtpPolicy::Off if offer.secure => Err(SdpError::Crypto {
            reason: "SRTP is off for this party".into(),
        }),
        SrtpPolicy::Off => Ok(None),
        _ if c.usable.is_some() => Ok(c.usable),
        SrtpPolicy::Mandatory => Err(refuse("SRTP is mandatory and no crypto line was offered")),
        SrtpPolicy::Optional if offer.secure => Err(refuse("RTP/SAVP without a crypto line")),
        SrtpPolicy::Optional => Ok(None),
    }
}

/// Our SDP `text` with our crypto line on its audio stream, and the
/// audio profile made RTP/SAVP when `savp` (an offer that requires SRTP).
pub fn with_crypto(text: &str, tag: u32, key: &MasterKey, savp: bool) -> String {
    with_cryptos(text, &[(tag, *key)], savp)
}

/// As [`with_crypto`], with one line per (tag, key), in order.
pub fn with_cryptos(text: &str, lines: &[(u32, MasterKey)], savp: bool) -> String {
    let mut out = String::with_capacity(text.len() + 80 * lines.len());
    for l in text.split_inclusive("\r\n") {
        match l.strip_prefix("m=audio ") {
            Some(rest) if savp => {
                out.push_str("m=audio ");
                out.push_str(&rest.replacen(" RTP/AVP ", " RTP/SAVP ", 1));
            }
            _ => out.push_str(l),
        }
        if l.starts_with("m=audio ") && !l.starts_with("m=audio 0 ") {
            for (tag, key) in lines {
                out.push_str(&format!(
                    "a=crypto:{tag} {} inline:{}\r\n",
                    key.suite.name(),
                    key.to_inline()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::sdp::parse;
    use crate::media::srtp::KEY_PARAMS_BYTES;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn offer(proto: &str, crypto: &str) -> String {
        format!(
            "v=0\r\no=p 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n{crypto}"
        )
    }

    #[test]
    fn the_first_usable_line_is_taken_and_others_skipped() {
        let text = offer(
            "RTP/SAVP",
            &format!(
                "a=crypto:1 AEAD_AES_256_GCM inline:xyz\r\n\
                 a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20\r\n\
                 a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"
            ),
        );
        let sdp = parse(&text).unwrap();
        assert!(sdp.secure);
        let c = negotiate(&sdp, SrtpPolicy::Optional).unwrap().unwrap();
        assert_eq!(c.tag, 2);
        assert_eq!(c.key, MasterKey::from_inline(KEY).unwrap());
        assert_eq!(sdp.crypto.lines, 3);
    }

    #[test]
    fn policies_decide_plain_offers_and_savp_offers() {
        let plain = parse(&offer("RTP/AVP", "")).unwrap();
        assert_eq!(negotiate(&plain, SrtpPolicy::Off), Ok(None));
        assert_eq!(negotiate(&plain, SrtpPolicy::Optional), Ok(None));
        let err = negotiate(&plain, SrtpPolicy::Mandatory).unwrap_err();
        assert_eq!(err.status(), 488);
        assert!(err.to_string().contains("mandatory"), "{err}");

        let line = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n");
        let secure = parse(&offer("RTP/SAVP", &line)).unwrap();
        let err = negotiate(&secure, SrtpPolicy::Off).unwrap_err();
        assert!(err.to_string().contains("SRTP is off"), "{err}");
        // Best effort: crypto offered on RTP/AVP is taken when allowed.
        let best_effort = parse(&offer("RTP/AVP", &line)).unwrap();
        assert!(negotiate(&best_effort, SrtpPolicy::Optional)
            .unwrap()
            .is_some());
        assert_eq!(negotiate(&best_effort, SrtpPolicy::Off), Ok(None));
    }

    #[test]
    fn a_bad_crypto_line_on_savp_is_refused_with_its_reason() {
        for (line, reason) in [
            (
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",
                "30 bytes",
            ),
            ("a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:{KEY}", "tag"),
            (
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4",
                "MKI",
            ),
            (
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP",
                "UNENCRYPTED_SRTP",
            ),
            ("a=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY}", "F8_128"),
        ] {
            let line = line.replace("{KEY}", KEY);
            let sdp = parse(&offer("RTP/SAVP", &format!("{line}\r\n"))).unwrap();
            let err = negotiate(&sdp, SrtpPolicy::Optional).unwrap_err();
            assert_eq!(err.status(), 488);
            assert!(err.to_string().contains(reason), "{line}: {err}");
        }
    }

    #[test]
    fn our_line_goes_on_the_audio_stream_and_savp_only_when_asked() {
        let key = MasterKey::from_bytes(&[3; KEY_PARAMS_BYTES]);
        let ours = "v=0\r\no=a 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
                    m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 0 RTP/AVP 96\r\n";
        let savp = with_crypto(ours, 1, &key, true);
        assert!(
            savp.contains("m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")
        );
        assert!(savp.contains("m=video 0 RTP/AVP 96\r\n"));
        let avp = with_crypto(ours, 7, &key, false);
        assert!(avp.contains("m=audio 5000 RTP/AVP 0\r\na=crypto:7 "));
        let back = parse(&savp).unwrap();
        assert!(back.secure);
        assert_eq!(back.crypto.usable.map(|c| c.key), Some(key));
    }
}
