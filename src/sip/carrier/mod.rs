//! The switch as a client of its carriers, outside any call: OPTIONS
//! health checks (`health`) and registration (`registration`), each a pure
//! machine per trunk, and the two requests they send, built here.

pub mod health;
pub mod registration;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::build::{self, Writer};
use super::dialog;
use super::Transport;

/// The fields of one out-of-dialog request to a carrier.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    /// The carrier's address: Request-URI host and To.
    pub carrier: SocketAddr,
    pub transport: Transport,
    /// Our address, for Via and Contact.
    pub local: SocketAddr,
    pub branch: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub local_tag: &'a str,
}

impl Head<'_> {
    /// The Request-URI: the carrier's address (RFC 3261 §10.2: a REGISTER
    /// names the domain, no user).
    pub fn uri(&self) -> String {
        format!("sip:{}{}", self.carrier, self.transport.uri_param())
    }

    fn writer(&self, method: &str, user: &str) -> Writer {
        let mut w = Writer::request(method, &self.uri());
        w.header("Via", &dialog::via(self.transport, self.local, self.branch));
        w.header("Max-Forwards", "70");
        let (from, to) = match method {
            // §10.2: From and To are the address of record.
            "REGISTER" => (
                format!("<sip:{user}@{}>", self.carrier),
                format!("<sip:{user}@{}>", self.carrier),
            ),
            _ => (
                format!("<sip:{user}@{}>", self.local),
                format!("<sip:{}>", self.carrier),
            ),
        };
        w.header_fmt("From", format_args!("{from};tag={}", self.local_tag));
        w.header("To", &to);
        w.header("Call-ID", self.call_id);
        w.header_fmt("CSeq", format_args!("{} {method}", self.cseq));
        w.header("User-Agent", build::product());
        w
    }
}

/// An OPTIONS probe (RFC 3261 §11.1).
pub fn options(head: &Head<'_>) -> Bytes {
    let mut w = head.writer("OPTIONS", "switchyard");
    w.header("Accept", "application/sdp");
    w.finish(None)
}

/// A REGISTER binding `user` at our address for `expires` (RFC 3261
/// §10.2), with an Authorization or Proxy-Authorization answer.
pub fn register(
    head: &Head<'_>,
    user: &str,
    expires: Duration,
    auth: Option<(&str, &str)>,
) -> Bytes {
    let mut w = head.writer("REGISTER", user);
    w.header_fmt(
        "Contact",
        format_args!("<sip:{user}@{}{}>", head.local, head.transport.uri_param()),
    );
    w.header_fmt("Expires", format_args!("{}", expires.as_secs()));
    if let Some((name, value)) = auth {
        w.header(name, value);
    }
    w.finish(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::{HeaderName, Message};

    fn head() -> Head<'static> {
        Head {
            carrier: "127.0.0.1:5070".parse().expect("address"),
            transport: Transport::Udp,
            local: "127.0.0.1:5060".parse().expect("address"),
            branch: "z9hG4bKb1",
            call_id: "reg-1",
            cseq: 7,
            local_tag: "t1",
        }
    }

    #[test]
    fn a_register_names_the_domain_and_binds_the_address_of_record() {
        let auth = Some(("Authorization", "Digest username=\"sw\""));
        let bytes = register(&head(), "sw", Duration::from_secs(600), auth);
        let msg = Message::parse(bytes).expect("our REGISTER parses");
        assert_eq!(
            msg.request_uri().map(|u| u.as_str().to_string()),
            Some("sip:127.0.0.1:5070".into())
        );
        assert_eq!(msg.to().as_str(), "<sip:sw@127.0.0.1:5070>");
        assert_eq!(msg.cseq().seq, 7);
        assert_eq!(msg.header(&HeaderName::Expires), Some("600"));
        assert_eq!(
            msg.header(&HeaderName::Authorization),
            Some("Digest username=\"sw\"")
        );
    }

    #[test]
    fn an_options_probe_parses_and_carries_our_branch() {
        let msg = Message::parse(options(&head())).expect("our OPTIONS parses");
        assert_eq!(msg.vias()[0].branch(), Some("z9hG4bKb1"));
        assert_eq!(msg.cseq().method.as_str(), "OPTIONS");
    }
}
