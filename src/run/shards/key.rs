//! Which shard a datagram belongs to: the hash of its Call-ID, read with a
//! light scan of the head before any parse, so every message of a dialog
//! (its retransmissions, CANCEL, ACK, BYE, re-INVITE and the responses to
//! our own requests) goes through the same shard, in the order it came.

use std::net::SocketAddr;

/// The value of the first `Call-ID` (or compact `i`) header, trimmed;
/// `None` when the head has none before its blank line.
pub fn call_id(datagram: &[u8]) -> Option<&[u8]> {
    // Skip the start line; headers follow, one per line.
    let mut rest = &datagram[next_line(datagram)?..];
    while !rest.is_empty() && rest[0] != b'\r' && rest[0] != b'\n' {
        let end = line_end(rest);
        let line = &rest[..end];
        // Only a name starting with C or I can be Call-ID or i; the rest of
        // the lines cost one look at their first byte.
        let candidate = matches!(line.first().map(u8::to_ascii_lowercase), Some(b'c' | b'i'));
        if let Some(colon) = memchr::memchr(b':', line).filter(|_| candidate) {
            let name = line[..colon].trim_ascii_end();
            if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
                let value = line[colon + 1..].trim_ascii();
                return (!value.is_empty()).then_some(value);
            }
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    None
}

/// The shard of a datagram among `shards`: by Call-ID, else (STUN, a
/// keep-alive, a message without one) by its peer, so a source's
/// unparsable stream still lands in one place. What the core sends is
/// dealt the same way, with the destination as the peer: a dialog's
/// messages leave in the order the core sent them, from the shard its
/// messages come in on, and a few busy peers do not load one shard.
pub fn shard_of(datagram: &[u8], src: SocketAddr, shards: usize) -> usize {
    // One shard (`sip_workers = 1`): nothing to scan for.
    if shards <= 1 {
        return 0;
    }
    match call_id(datagram) {
        Some(id) => shard_of_id(id, shards),
        None => (fnv1a(&addr_bytes(src)) % shards as u64) as usize,
    }
}

/// The shard of a Call-ID among `shards`.
pub fn shard_of_id(call_id: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    (fnv1a(call_id) % shards as u64) as usize
}

fn addr_bytes(addr: SocketAddr) -> [u8; 18] {
    let mut out = [0; 18];
    let ip = match addr {
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped().octets(),
        SocketAddr::V6(a) => a.ip().octets(),
    };
    out[..16].copy_from_slice(&ip);
    out[16..].copy_from_slice(&addr.port().to_be_bytes());
    out
}

/// FNV-1a: stable across runs and builds (tests compute shards with it),
/// and a Call-ID is short.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where the line that starts `text` ends (its `\n`, or the text's end).
/// memchr: the core scans each datagram it hands a shard this way.
fn line_end(text: &[u8]) -> usize {
    memchr::memchr(b'\n', text).unwrap_or(text.len())
}

fn next_line(text: &[u8]) -> Option<usize> {
    let end = line_end(text);
    (end < text.len()).then_some(end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        Call-ID:  abc@host \r\nCSeq: 1 INVITE\r\n\r\nv=0 Call-ID: body\r\n";

    #[test]
    fn the_call_id_is_found_in_any_spelling_and_trimmed() {
        assert_eq!(call_id(INVITE), Some(&b"abc@host"[..]));
        let compact = b"SIP/2.0 200 OK\r\ni :x1\r\n\r\n";
        assert_eq!(call_id(compact), Some(&b"x1"[..]));
        let upper = b"BYE sip:a SIP/2.0\nCALL-ID: Q\n\n";
        assert_eq!(call_id(upper), Some(&b"Q"[..]));
        // Other names starting with C come first; the compact form in capitals.
        let late = b"ACK sip:a SIP/2.0\r\nContact: <sip:c>\r\nCSeq: 1 ACK\r\nI: late\r\n\r\n";
        assert_eq!(call_id(late), Some(&b"late"[..]));
    }

    #[test]
    fn a_call_id_in_the_body_or_missing_is_not_taken() {
        let body_only = b"INVITE sip:a SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\nCall-ID: no\r\n";
        assert_eq!(call_id(body_only), None);
        assert_eq!(call_id(b"\r\n\r\n"), None);
        assert_eq!(call_id(b""), None);
        assert_eq!(
            call_id(b"INVITE sip:a SIP/2.0\r\nCall-ID:   \r\n\r\n"),
            None
        );
        // A header named like it is not it.
        assert_eq!(call_id(b"X sip:a SIP/2.0\r\nCall-IDs: 1\r\n\r\n"), None);
    }

    #[test]
    fn a_dialog_stays_on_one_shard_and_dialogs_spread() {
        let src1: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let src2: SocketAddr = "127.0.0.2:5070".parse().unwrap();
        let msg = |method: &str, id: usize| {
            format!("{method} sip:a SIP/2.0\r\nCall-ID: call-{id}\r\n\r\n").into_bytes()
        };
        let mut used = [0usize; 4];
        for id in 0..200 {
            let s = shard_of(&msg("INVITE", id), src1, 4);
            // Another source (the agent's side) and method: same shard.
            assert_eq!(shard_of(&msg("BYE", id), src2, 4), s);
            used[s] += 1;
        }
        assert!(used.iter().all(|&n| n > 20), "{used:?}");
        assert_eq!(shard_of(INVITE, src1, 1), 0);
        assert_eq!(shard_of(INVITE, src1, 0), 0);
    }
}
