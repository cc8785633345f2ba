//! RTCP SSRC rewriting for relayed reports (RFC 3550 §6.4, RFC 4585 §6.1).
//!
//! The relay sends each leg RTP under its own SSRC, so a report relayed
//! unchanged would name SSRCs the receiver has never seen and its quality
//! figures would be dropped. Each report is rewritten in place: the sender
//! SSRC becomes ours on the outgoing leg, and report blocks about our SSRC on
//! the incoming leg are turned to the original SSRC of the stream they
//! describe. Anything else in the compound packet is left alone.

/// What is wrong with an RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    #[error("RTCP packet at offset {offset} is truncated")]
    Truncated { offset: usize },
    #[error("RTCP version {version} at offset {offset}, expected 2")]
    BadVersion { offset: usize, version: u8 },
}

/// How to rename the SSRCs of one relayed compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcRewrite {
    /// Our SSRC on the leg the packet goes out on.
    pub sender: u32,
    /// Our SSRC on the leg it came in on (what the reporter saw from us)…
    pub reported_ours: u32,
    /// …and the original SSRC of the stream that SSRC carried, if known.
    pub reported_original: Option<u32>,
}

const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;
const RTPFB: u8 = 205;
const PSFB: u8 = 206;
const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// Rewrites every packet of the compound `packet` in place. On error the
/// packet may be partly rewritten; the relay drops it.
pub fn rewrite_ssrcs(packet: &mut [u8], r: SsrcRewrite) -> Result<(), RtcpError> {
    let mut offset = 0;
    while offset < packet.len() {
        let header = packet
            .get(offset..offset + 4)
            .ok_or(RtcpError::Truncated { offset })?;
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { offset, version });
        }
        let count = usize::from(header[0] & 0x1F);
        let pt = header[1];
        let len = 4 * (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1);
        let body = packet
            .get_mut(offset..offset + len)
            .ok_or(RtcpError::Truncated { offset })?;
        match pt {
            SR | RR => {
                put(body, 4, r.sender);
                let first = if pt == SR { 8 + SENDER_INFO_LEN } else { 8 };
                for k in 0..count {
                    let at = first + k * REPORT_BLOCK_LEN;
                    if at + REPORT_BLOCK_LEN > body.len() {
                        return Err(RtcpError::Truncated { offset });
                    }
                    rename_reported(body, at, r);
                }
            }
            SDES | BYE if count > 0 => put(body, 4, r.sender),
            RTPFB | PSFB => {
                put(body, 4, r.sender);
                rename_reported(body, 8, r);
            }
            _ => {}
        }
        offset += len;
    }
    Ok(())
}

fn rename_reported(body: &mut [u8], at: usize, r: SsrcRewrite) {
    let (Some(original), Some(current)) = (r.reported_original, get(body, at)) else {
        return;
    };
    if current == r.reported_ours {
        put(body, at, original);
    }
}

fn get(body: &[u8], at: usize) -> Option<u32> {
    let b = body.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn put(body: &mut [u8], at: usize, v: u32) {
    if let Some(b) = body.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: SsrcRewrite = SsrcRewrite {
        sender: 0x5E4D,
        reported_ours: 0x0A11,
        reported_original: Some(0xA6E7),
    };

    fn sr_with_block(reported: u32) -> Vec<u8> {
        let mut p = vec![0x81, SR, 0, 12];
        p.extend(0x1111u32.to_be_bytes());
        p.extend([0u8; SENDER_INFO_LEN]);
        p.extend(reported.to_be_bytes());
        p.extend([7u8; REPORT_BLOCK_LEN - 4]);
        p
    }

    fn sdes() -> Vec<u8> {
        let mut p = vec![0x81, SDES, 0, 2];
        p.extend(0x1111u32.to_be_bytes());
        p.extend([1, 2, b'a', 0]);
        p
    }

    #[test]
    fn sender_report_gets_our_ssrc_and_its_block_the_original_source() {
        let mut p = sr_with_block(0x0A11);
        p.extend(sdes());
        rewrite_ssrcs(&mut p, R).unwrap();
        assert_eq!(get(&p, 4), Some(0x5E4D));
        assert_eq!(get(&p, 28), Some(0xA6E7));
        assert_eq!(&p[32..52], &[7u8; 20], "report figures untouched");
        assert_eq!(get(&p, 56), Some(0x5E4D), "SDES chunk renamed");
        assert_eq!(&p[60..], &[1, 2, b'a', 0]);
    }

    #[test]
    fn blocks_about_other_sources_are_left_alone() {
        let mut p = sr_with_block(0x9999);
        rewrite_ssrcs(&mut p, R).unwrap();
        assert_eq!(get(&p, 28), Some(0x9999));
    }

    #[test]
    fn receiver_report_and_feedback_are_renamed() {
        let mut p = vec![0x81, RR, 0, 7];
        p.extend(0x1111u32.to_be_bytes());
        p.extend(0x0A11u32.to_be_bytes());
        p.extend([0u8; REPORT_BLOCK_LEN - 4]);
        p.extend([0x81, PSFB, 0, 2]);
        p.extend(0x1111u32.to_be_bytes());
        p.extend(0x0A11u32.to_be_bytes());
        rewrite_ssrcs(&mut p, R).unwrap();
        assert_eq!((get(&p, 4), get(&p, 8)), (Some(0x5E4D), Some(0xA6E7)));
        assert_eq!((get(&p, 36), get(&p, 40)), (Some(0x5E4D), Some(0xA6E7)));
    }

    #[test]
    fn malformed_compounds_are_errors_not_panics() {
        let mut short = sr_with_block(0x0A11);
        short.truncate(30);
        assert_eq!(
            rewrite_ssrcs(&mut short, R),
            Err(RtcpError::Truncated { offset: 0 })
        );
        let mut v1 = sr_with_block(0);
        v1[0] = 0x41;
        assert_eq!(
            rewrite_ssrcs(&mut v1, R),
            Err(RtcpError::BadVersion {
                offset: 0,
                version: 1
            })
        );
        // A block count that does not fit the stated length.
        let mut lying = sr_with_block(0);
        lying[0] = 0x82;
        assert_eq!(
            rewrite_ssrcs(&mut lying, R),
            Err(RtcpError::Truncated { offset: 0 })
        );
        for cut in 0..sr_with_block(0).len() {
            let mut p = sr_with_block(0x0A11);
            p.truncate(cut);
            let _ = rewrite_ssrcs(&mut p, R);
        }
    }
}
