//! STUN keepalives on the SIP port (RFC 5626 §4.4.2, §8.1): a phone using
//! SIP outbound over UDP sends STUN Binding requests (RFC 5389) to keep its
//! NAT binding and to learn whether the flow still works; the switch, its
//! first hop, answers each with a Binding success response naming the
//! address the request came from (XOR-MAPPED-ADDRESS, §15.2). Pure: the
//! caller passes the datagram and its source, and sends what comes back.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

/// STUN's magic cookie (RFC 5389 §6).
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Message header: type, length, cookie, 96-bit transaction id.
const HEADER_LEN: usize = 20;
/// Binding request and success response (RFC 5389 §18.1).
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
/// XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// Largest request we answer: a keepalive carries few attributes.
pub const STUN_REQUEST_BYTES_MAX: usize = 548;

/// A datagram that is not a SIP message to parse (RFC 5626 keep-alives).
#[derive(Debug, PartialEq, Eq)]
pub enum KeepAlive {
    /// CRLFs (§3.5.1): nothing to answer.
    Crlf,
    /// A STUN Binding request over UDP (§4.4.2): send this answer back.
    Stun(Bytes),
}

/// Whether `datagram` from `from` is a keep-alive rather than SIP; STUN
/// is looked for only over UDP (`udp`).
pub fn keep_alive(datagram: &[u8], from: SocketAddr, udp: bool) -> Option<KeepAlive> {
    if datagram.iter().all(u8::is_ascii_whitespace) {
        return Some(KeepAlive::Crlf);
    }
    udp.then(|| binding_response(datagram, from))
        .flatten()
        .map(KeepAlive::Stun)
}

/// The Binding success response to `packet` when it is a well-formed
/// STUN Binding request from `from`; `None` for anything else.
pub fn binding_response(packet: &[u8], from: SocketAddr) -> Option<Bytes> {
    if packet.len() < HEADER_LEN || packet.len() > STUN_REQUEST_BYTES_MAX {
        return None;
    }
    let kind = u16::from_be_bytes([packet[0], packet[1]]);
    let length = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let cookie = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    // §6: attributes are padded to 4 bytes, so a valid length is too.
    if kind != BINDING_REQUEST
        || cookie != MAGIC_COOKIE
        || length % 4 != 0
        || HEADER_LEN + length != packet.len()
    {
        return None;
    }
    let transaction = &packet[8..HEADER_LEN];
    let port = from.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let (family, address): (u8, Vec<u8>) = match from.ip() {
        IpAddr::V4(ip) => (0x01, (u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes().to_vec()),
        IpAddr::V6(ip) => {
            // XORed with the cookie followed by the transaction id.
            let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
            key.extend_from_slice(transaction);
            let xored = ip.octets().iter().zip(&key).map(|(a, k)| a ^ k).collect();
            (0x02, xored)
        }
    };
    let value_len = 4 + address.len();
    let mut out = BytesMut::with_capacity(HEADER_LEN + 4 + value_len);
    out.put_u16(BINDING_SUCCESS);
    out.put_u16((4 + value_len) as u16);
    out.put_u32(MAGIC_COOKIE);
    out.put_slice(transaction);
    out.put_u16(XOR_MAPPED_ADDRESS);
    out.put_u16(value_len as u16);
    out.put_u8(0);
    out.put_u8(family);
    out.put_u16(port);
    out.put_slice(&address);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Binding request with transaction id `0x01..=0x0c` and no attributes.
    fn request() -> Vec<u8> {
        let mut p = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        p.extend(1..=12u8);
        p
    }

    #[test]
    fn keep_alives_are_told_from_sip_and_stun_only_over_udp() {
        let from: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert_eq!(keep_alive(b"\r\n\r\n", from, false), Some(KeepAlive::Crlf));
        assert!(matches!(
            keep_alive(&request(), from, true),
            Some(KeepAlive::Stun(_))
        ));
        assert_eq!(keep_alive(&request(), from, false), None);
        assert_eq!(keep_alive(b"OPTIONS sip:a SIP/2.0\r\n", from, true), None);
    }

    #[test]
    fn a_binding_request_gets_the_source_back_xored_as_rfc_5389_says() {
        let from: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let r = binding_response(&request(), from).expect("answered");
        assert_eq!(&r[0..2], &[0x01, 0x01], "Binding success");
        assert_eq!(&r[2..4], &[0x00, 0x0c], "one 12-byte attribute");
        assert_eq!(&r[4..8], &[0x21, 0x12, 0xa4, 0x42]);
        assert_eq!(&r[8..20], &request()[8..20], "same transaction");
        assert_eq!(&r[20..24], &[0x00, 0x20, 0x00, 0x08]);
        assert_eq!(r[25], 0x01, "IPv4");
        // RFC 5769 §2.2 spells out the same XOR: port ^ 0x2112, address ^ cookie.
        let port = u16::from_be_bytes([r[26], r[27]]) ^ 0x2112;
        assert_eq!(port, 32853);
        let ip = u32::from_be_bytes([r[28], r[29], r[30], r[31]]) ^ MAGIC_COOKIE;
        assert_eq!(
            std::net::Ipv4Addr::from(ip),
            "192.0.2.1".parse::<std::net::Ipv4Addr>().unwrap()
        );
    }

    #[test]
    fn an_ipv6_source_is_xored_with_cookie_and_transaction() {
        let from: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let r = binding_response(&request(), from).unwrap();
        assert_eq!(r.len(), 20 + 4 + 20);
        assert_eq!(r[25], 0x02, "IPv6");
        let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
        key.extend(1..=12u8);
        let ip: Vec<u8> = r[28..44].iter().zip(&key).map(|(a, k)| a ^ k).collect();
        let ip: [u8; 16] = ip.try_into().unwrap();
        assert_eq!(
            std::net::Ipv6Addr::from(ip),
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn sip_responses_and_broken_stun_get_no_answer() {
        let from: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert!(binding_response(b"OPTIONS sip:x SIP/2.0\r\n\r\n", from).is_none());
        let mut success = request();
        success[1] = 0x01;
        success[0] = 0x01;
        assert!(binding_response(&success, from).is_none(), "not a request");
        let mut long = request();
        long[3] = 8;
        assert!(
            binding_response(&long, from).is_none(),
            "length beyond the packet"
        );
        assert!(binding_response(&request()[..19], from).is_none());
        let mut cookie = request();
        cookie[4] = 0;
        assert!(binding_response(&cookie, from).is_none(), "RFC 3489 STUN");
    }
}
