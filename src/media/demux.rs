//! What arrives on an RTP/RTCP port besides RTP and RTCP (RFC 7983 §7):
//! phones such as linphone send STUN Binding requests (RFC 5389) there as
//! connectivity checks and keepalives, even without ICE. They are not media
//! for the other party and not malformed media either: the relay lets them
//! keep the leg alive and drops them unrelayed and uncounted.

/// STUN's magic cookie (RFC 5389 §6).
const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// A STUN header: type, length, cookie, 96-bit transaction id.
const STUN_HEADER_LEN: usize = 20;

/// A STUN message: first byte 0..=3 (RFC 7983 §7), the magic cookie at
/// bytes 4..8, and a whole header.
pub fn is_stun(packet: &[u8]) -> bool {
    packet.len() >= STUN_HEADER_LEN && packet[0] <= 3 && packet[4..8] == STUN_MAGIC_COOKIE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linphones_binding_request_is_stun_and_rtp_or_rtcp_is_not() {
        // As linphone 5.1 sends it to our RTP port (a Binding request).
        let binding = [
            0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0x10, 0x4c, 0x64, 0x76, 0x6c, 0x21,
            0x4c, 0xa4, 0xf5, 0xa4, 0xf7, 0xf3,
        ];
        assert!(is_stun(&binding));
        assert!(!is_stun(&binding[..19]), "a header cut short");
        let mut rtp = [0u8; 172];
        rtp[0] = 0x80;
        assert!(!is_stun(&rtp));
        let rr = [0x81, 201, 0, 7, 0, 0, 0, 1];
        assert!(!is_stun(&rr));
        let mut wrong_cookie = binding;
        wrong_cookie[4] = 0;
        assert!(!is_stun(&wrong_cookie));
    }
}
