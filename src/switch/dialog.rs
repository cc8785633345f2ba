//! A confirmed dialog on one leg (RFC 3261 §12) as the switch needs it to
//! send requests in it: the remote target, the route set learnt from
//! Record-Route, and where the next request goes. A carrier's SBC or an
//! agent's proxy that record-routes the INVITE sees every in-dialog
//! request we send (ACK, BYE), loose (`;lr`, §16.12.1.1) or strict routed.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::legs::MAX_FORWARDS;
use crate::sip::build::Writer;
use crate::sip::parse::{ByteStr, Contacts, HeaderName, Message, Uri};
use crate::sip::{Peer, Transport};

/// Most route set entries a dialog keeps (RFC 3261 sets none; a carrier
/// path has a handful): more are dropped from the far end.
pub const ROUTES_PER_DIALOG_MAX: usize = 16;

/// A confirmed dialog on one leg, as needed to send requests in it.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub target: String,
    /// The route set, each entry one name-addr (`<sip:…;lr>`), first hop first.
    pub routes: Vec<String>,
    pub peer: Peer,
    /// The From we send (our URI and tag) and the To (theirs, with tag).
    pub from: String,
    pub to: String,
    pub answer: Option<Bytes>,
    pub ack: Option<Bytes>,
}

impl Dialog {
    /// The dialog a UAS forms by answering `invite` with `local_tag`
    /// (RFC 3261 §12.1.1): target the Contact, route set the Record-Route
    /// in its order.
    pub(super) fn as_uas(invite: &Message, source: Peer, local_tag: &str) -> Dialog {
        let target = match invite.contacts() {
            Contacts::List(list) if !list.is_empty() => list[0].uri().as_str().to_string(),
            _ => invite.from().uri().as_str().to_string(),
        };
        Dialog {
            target,
            routes: route_set(invite, false),
            peer: source,
            from: format!("{};tag={local_tag}", invite.to().as_str()),
            to: invite.from().as_str().to_string(),
            answer: None,
            ack: None,
        }
    }

    /// Starts an in-dialog request (RFC 3261 §12.2.1.1): Request-URI and
    /// Route from the target and route set (strict routing when the first
    /// route lacks `lr`), our Via with a fresh branch, From/To with both
    /// tags, Call-ID and CSeq. Send it to [`Dialog::next_hop`].
    pub(super) fn request(
        &self,
        method: &str,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
    ) -> Writer {
        let strict = self.routes.first().is_some_and(|r| !is_loose(r));
        let target = format!("<{}>", self.target);
        let (uri, routes): (&str, Vec<&str>) = if strict {
            // §12.2.1.1: the first route becomes the Request-URI and the
            // remote target goes last in Route.
            let mut routes: Vec<&str> = self.routes[1..].iter().map(String::as_str).collect();
            routes.push(&target);
            (uri_text(&self.routes[0]), routes)
        } else {
            (
                &self.target,
                self.routes.iter().map(String::as_str).collect(),
            )
        };
        let mut w = Writer::request(method, uri);
        self.head(&mut w, &routes, local, branch, call_id, cseq, method);
        w
    }

    /// Where a request in the dialog goes (RFC 3261 §8.1.2, §12.2.1.1):
    /// the first route's address when it is an IP literal, else the peer
    /// the dialog was formed with (the phone's own TCP connection stays
    /// the way back for a phone that registered over it).
    pub(super) fn next_hop(&self) -> Peer {
        let Some(first) = self.routes.first() else {
            return self.peer;
        };
        let text = Bytes::copy_from_slice(uri_text(first).as_bytes());
        let Ok(uri) = ByteStr::from_utf8(text)
            .map_err(|_| ())
            .and_then(|t| Uri::parse(t).map_err(|_| ()))
        else {
            return self.peer;
        };
        let host = uri.host().trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = host.parse::<IpAddr>() else {
            return self.peer;
        };
        let addr = SocketAddr::new(ip, uri.port().unwrap_or(5060));
        if addr == self.peer.addr {
            return self.peer;
        }
        let transport = match uri.param("transport").flatten() {
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        };
        Peer { transport, addr }
    }

    #[allow(clippy::too_many_arguments)]
    fn head(
        &self,
        w: &mut Writer,
        routes: &[&str],
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
        method: &str,
    ) {
        w.header_fmt(
            "Via",
            format_args!(
                "SIP/2.0/{} {local};branch={branch};rport",
                self.next_hop().transport.as_str()
            ),
        );
        w.header_fmt("Max-Forwards", format_args!("{MAX_FORWARDS}"));
        for route in routes {
            w.header("Route", route);
        }
        w.header("From", &self.from);
        w.header("To", &self.to);
        w.header("Call-ID", call_id);
        w.header_fmt("CSeq", format_args!("{cseq} {method}"));
    }
}

/// The Record-Route values of a message, one name-addr each (a header line
/// may hold several, comma-separated), reversed for a UAC (RFC 3261
/// §12.1.2) and in order for a UAS (§12.1.1). At most
/// [`ROUTES_PER_DIALOG_MAX`].
pub(super) fn route_set(msg: &Message, reversed: bool) -> Vec<String> {
    let mut routes: Vec<String> = msg
        .header_values(&HeaderName::RecordRoute)
        .take(ROUTES_PER_DIALOG_MAX)
        .map(str::to_string)
        .collect();
    if reversed {
        routes.reverse();
    }
    routes
}

/// The URI inside a name-addr (`"x" <sip:a;lr>;p` gives `sip:a;lr`).
fn uri_text(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(a), Some(b)) if a < b => &name_addr[a + 1..b],
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim(),
    }
}

/// A loose router's URI carries `lr` (RFC 3261 §19.1.1).
fn is_loose(name_addr: &str) -> bool {
    uri_text(name_addr)
        .split(';')
        .skip(1)
        .any(|p| p.trim().eq_ignore_ascii_case("lr") || p.trim().starts_with("lr="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(routes: &[&str]) -> Dialog {
        Dialog {
            target: "sip:carrier@192.0.2.7:5070".into(),
            routes: routes.iter().map(|r| r.to_string()).collect(),
            peer: Peer {
                transport: Transport::Udp,
                addr: "192.0.2.50:5060".parse().unwrap(),
            },
            from: "<sip:5550100@192.0.2.1>;tag=ours".into(),
            to: "<sip:+15550001@192.0.2.7>;tag=theirs".into(),
            answer: None,
            ack: None,
        }
    }

    fn bye(d: &Dialog) -> String {
        let local = "192.0.2.1:5060".parse().unwrap();
        let bytes = d.request("BYE", local, "z9hG4bKb", "cid", 2).finish(None);
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn parse(text: &str) -> Message {
        Message::parse(Bytes::from(text.to_string())).unwrap()
    }

    #[test]
    fn loose_routes_go_in_route_headers_in_order_and_pick_the_next_hop() {
        let d = dialog(&[
            "<sip:192.0.2.50;lr>",
            "<sip:192.0.2.51:5080;lr;transport=udp>",
        ]);
        let text = bye(&d);
        assert!(
            text.starts_with("BYE sip:carrier@192.0.2.7:5070 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Route: <sip:192.0.2.50;lr>\r\nRoute: <sip:192.0.2.51:5080;lr;transport=udp>\r\n"
            ),
            "{text}"
        );
        // The first hop is the SBC at its default port: the dialog's peer.
        assert_eq!(d.next_hop(), d.peer);
        let other = dialog(&["<sip:198.51.100.9:5070;lr>"]);
        assert_eq!(other.next_hop().addr, "198.51.100.9:5070".parse().unwrap());
        assert_eq!(dialog(&[]).next_hop(), d.peer);
    }

    #[test]
    fn a_strict_router_becomes_the_request_uri_and_the_target_goes_last() {
        let d = dialog(&["<sip:192.0.2.60:5062>", "<sip:192.0.2.61;lr>"]);
        let text = bye(&d);
        assert!(
            text.starts_with("BYE sip:192.0.2.60:5062 SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Route: <sip:192.0.2.61;lr>\r\nRoute: <sip:carrier@192.0.2.7:5070>\r\n"),
            "{text}"
        );
        assert_eq!(d.next_hop().addr, "192.0.2.60:5062".parse().unwrap());
    }

    #[test]
    fn the_route_set_is_the_record_route_in_order_for_a_uas_and_reversed_for_a_uac() {
        let msg = parse(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             Record-Route: <sip:p1.example;lr>, \"x, y\" <sip:p2.example;lr>\r\n\
             Record-Route: <sip:p3.example;lr>\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\
             Content-Length: 0\r\n\r\n",
        );
        assert_eq!(
            route_set(&msg, false),
            vec![
                "<sip:p1.example;lr>",
                "\"x, y\" <sip:p2.example;lr>",
                "<sip:p3.example;lr>"
            ]
        );
        assert_eq!(route_set(&msg, true)[0], "<sip:p3.example;lr>");
    }
}
