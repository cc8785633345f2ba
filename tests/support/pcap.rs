//! Writes audio as a pcap of PCMU RTP for SIPp's `play_pcap_audio`: 20 ms
//! packets over Ethernet, IPv4 and UDP, as `tests/sipp/gen_tone_pcap.py`
//! does for the fixed tone. SIPp rewrites the addresses and ports and keeps
//! the RTP headers and the packets' spacing.

use std::path::Path;

use switchyard::media::g711::ulaw_encode_into;

const FRAME: usize = 160;
const SSRC: u32 = 0x0A3D_0001;

/// Writes `pcm` (8 kHz) to `path` as PCMU RTP, one packet per 20 ms.
pub fn write_pcmu(path: &Path, pcm: &[i16]) {
    // Global header: magic, version 2.4, UTC, accuracy, snaplen, Ethernet.
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65_535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, frame) in pcm.chunks(FRAME).enumerate() {
        let mut payload = vec![0u8; frame.len()];
        ulaw_encode_into(frame, &mut payload);
        let data = packet(i as u16, (i * FRAME) as u32, &payload);
        let usec = i as u64 * 20_000;
        for v in [(usec / 1_000_000) as u32, (usec % 1_000_000) as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let len = data.len() as u32;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&data);
    }
    std::fs::write(path, out).unwrap();
}

fn packet(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut rtp = vec![0x80, 0];
    rtp.extend_from_slice(&seq.to_be_bytes());
    rtp.extend_from_slice(&ts.to_be_bytes());
    rtp.extend_from_slice(&SSRC.to_be_bytes());
    rtp.extend_from_slice(payload);
    let mut udp = Vec::with_capacity(8 + rtp.len());
    udp.extend_from_slice(&4000u16.to_be_bytes());
    udp.extend_from_slice(&4000u16.to_be_bytes());
    udp.extend_from_slice(&((8 + rtp.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&0u16.to_be_bytes());
    udp.extend_from_slice(&rtp);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&seq.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut eth = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    eth.extend_from_slice(&ip);
    eth.extend_from_slice(&udp);
    eth
}

/// The IPv4 header checksum (RFC 791).
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum >> 16) + (sum & 0xFFFF);
    }
    !(sum as u16)
}
