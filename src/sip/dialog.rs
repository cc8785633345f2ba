//! Dialogs and the requests sent in them (RFC 3261 §12): the dialog state
//! of one leg (remote target, route set learnt from Record-Route, From/To
//! with their tags) and a builder for each request the switch sends inside
//! a dialog (ACK, BYE, re-INVITE, INFO), plus the INVITE that starts a
//! client transaction and its CANCEL and non-2xx ACK head (§9.1, §17.1.1.3).
//! A carrier's SBC or an agent's proxy that record-routes the INVITE sees
//! every in-dialog request we send, loose (`;lr`, §16.12.1.1) or strict
//! routed. Pure: the caller brings branches, tags, Call-IDs and CSeqs, and
//! sends the bytes; nothing here knows the switch.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::sip::build::{product, Writer, ALLOW};
use crate::sip::parse::{ByteStr, Contacts, HeaderName, Message, Uri};
use crate::sip::{Peer, Transport};

/// Max-Forwards on requests we originate (RFC 3261 §8.1.1.6).
pub const MAX_FORWARDS: u32 = 70;

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
    pub fn as_uas(invite: &Message, source: Peer, local_tag: &str) -> Dialog {
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

    /// The dialog a UAC forms from a 2xx to its INVITE (RFC 3261 §12.1.2):
    /// target the response's Contact (else the Request-URI), route set the
    /// Record-Route reversed, To with the remote tag, the answer kept.
    pub fn as_uac(
        response: &Message,
        request_uri: &str,
        peer: Peer,
        from: &str,
        local_tag: &str,
    ) -> Dialog {
        let target = match response.contacts() {
            Contacts::List(list) if !list.is_empty() => list[0].uri().as_str().to_string(),
            _ => request_uri.to_string(),
        };
        Dialog {
            target,
            routes: route_set(response, true),
            peer,
            from: format!("{from};tag={local_tag}"),
            to: response.to().as_str().to_string(),
            answer: Some(response.body().clone()).filter(|b| !b.is_empty()),
            ack: None,
        }
    }

    /// The ACK of a 2xx, its own transaction sent end to end (RFC 3261
    /// §13.2.2.4): the INVITE's CSeq number.
    pub fn ack(&self, local: SocketAddr, branch: &str, call_id: &str, cseq: u32) -> Bytes {
        self.request("ACK", local, branch, call_id, cseq)
            .finish(None)
    }

    /// A BYE (RFC 3261 §15.1.1) with our User-Agent.
    pub fn bye(&self, local: SocketAddr, branch: &str, call_id: &str, cseq: u32) -> Bytes {
        let mut w = self.request("BYE", local, branch, call_id, cseq);
        w.header("User-Agent", product());
        w.finish(None)
    }

    /// A re-INVITE (RFC 3261 §14.1) carrying `sdp`, with our Contact.
    pub fn reinvite(
        &self,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
        contact: &str,
        sdp: &[u8],
    ) -> Bytes {
        let mut w = self.request("INVITE", local, branch, call_id, cseq);
        w.header("Contact", contact);
        w.header("Allow", ALLOW);
        w.header("User-Agent", product());
        w.finish(Some(("application/sdp", sdp)))
    }

    /// An INFO (RFC 6086) carrying `body` of `content_type`.
    pub fn info(
        &self,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
        content_type: &str,
        body: &[u8],
    ) -> Bytes {
        let mut w = self.request("INFO", local, branch, call_id, cseq);
        w.header("User-Agent", product());
        w.finish(Some((content_type, body)))
    }

    /// A NOTIFY of a REFER's implicit subscription (RFC 3515 §2.4.4):
    /// `frag` is the status line of the transfer so far (`SIP/2.0 100
    /// Trying`), `done` ends the subscription.
    #[allow(clippy::too_many_arguments)]
    pub fn refer_notify(
        &self,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
        contact: &str,
        frag: &str,
        done: bool,
    ) -> Bytes {
        let mut w = self.request("NOTIFY", local, branch, call_id, cseq);
        w.header("Contact", contact);
        w.header("Event", "refer");
        let state = if done {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        w.header("Subscription-State", state);
        w.header("User-Agent", product());
        let body = format!("{frag}\r\n");
        w.finish(Some(("message/sipfrag;version=2.0", body.as_bytes())))
    }

    /// Starts an in-dialog request (RFC 3261 §12.2.1.1): Request-URI and
    /// Route from the target and route set (strict routing when the first
    /// route lacks `lr`), our Via with a fresh branch, From/To with both
    /// tags, Call-ID and CSeq. Send it to [`Dialog::next_hop`].
    pub fn request(
        &self,
        method: &str,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
    ) -> Writer {
        self.request_with(method, local, branch, call_id, cseq, true)
    }

    /// The head of the ACK for a non-2xx final response to a re-INVITE
    /// (RFC 3261 §17.1.1.3): as the re-INVITE's, without To, which the
    /// transaction takes from the response, and without Content-Length.
    pub fn reinvite_ack_head(
        &self,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
    ) -> Bytes {
        self.request_with("ACK", local, branch, call_id, cseq, false)
            .head()
    }

    fn request_with(
        &self,
        method: &str,
        local: SocketAddr,
        branch: &str,
        call_id: &str,
        cseq: u32,
        with_to: bool,
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
        let head = Head {
            routes: &routes,
            local,
            branch,
            call_id,
            cseq,
            method,
            with_to,
        };
        self.head(&mut w, &head);
        w
    }

    /// Where a request in the dialog goes (RFC 3261 §8.1.2, §12.2.1.1):
    /// the first route's address when it is an IP literal, else the peer
    /// the dialog was formed with (the phone's own TCP connection stays
    /// the way back for a phone that registered over it).
    pub fn next_hop(&self) -> Peer {
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
        let transport = Transport::of_uri(
            uri.scheme() == crate::sip::parse::Scheme::Sips,
            uri.param("transport").flatten(),
        );
        Peer { transport, addr }
    }

    fn head(&self, w: &mut Writer, h: &Head<'_>) {
        w.header("Via", &via(self.next_hop().transport, h.local, h.branch));
        w.header_fmt("Max-Forwards", format_args!("{MAX_FORWARDS}"));
        for route in h.routes {
            w.header("Route", route);
        }
        w.header("From", &self.from);
        if h.with_to {
            w.header("To", &self.to);
        }
        w.header("Call-ID", h.call_id);
        w.header_fmt("CSeq", format_args!("{} {}", h.cseq, h.method));
    }
}

/// What an in-dialog request's head carries besides the dialog's own.
struct Head<'a> {
    routes: &'a [&'a str],
    local: SocketAddr,
    branch: &'a str,
    call_id: &'a str,
    cseq: u32,
    method: &'a str,
    with_to: bool,
}

/// The RFC 3261 branch magic cookie (§8.1.1.7): a branch that starts with
/// it is globally unique for the transaction it names.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// A branch for a new client transaction from a random `token`.
pub fn branch(token: &str) -> String {
    format!("{BRANCH_COOKIE}{token}")
}

/// Our Via for a request we send (RFC 3261 §8.1.1.7), asking for `rport`
/// (RFC 3581).
pub fn via(transport: Transport, local: SocketAddr, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {local};branch={branch};rport",
        transport.as_str()
    )
}

/// The INVITE of a client transaction as first sent (before a dialog
/// exists): what its CANCEL and the ACK of a non-2xx must repeat.
#[derive(Debug, Clone, Copy)]
pub struct Invite<'a> {
    pub uri: &'a str,
    /// Our Via, as [`via`] wrote it.
    pub via: &'a str,
    /// Our From, without the tag.
    pub from: &'a str,
    pub local_tag: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
}

impl Invite<'_> {
    /// Starts the INVITE: Request-URI, Via, Max-Forwards, From, To,
    /// Call-ID and CSeq (RFC 3261 §8.1.1). The caller adds Contact and
    /// the rest, then the offer.
    pub fn request(&self) -> Writer {
        self.head("INVITE")
    }

    /// Its CANCEL (RFC 3261 §9.1: same Request-URI, Call-ID, From, To,
    /// CSeq number and top Via as the INVITE).
    pub fn cancel(&self) -> Bytes {
        self.head("CANCEL").finish(None)
    }

    /// The head of the ACK for a non-2xx final response (RFC 3261
    /// §17.1.1.3), without To, which the transaction takes from the
    /// response, and without Content-Length.
    pub fn ack_head(&self) -> Bytes {
        let mut w = Writer::request("ACK", self.uri);
        w.header("Via", self.via);
        w.header_fmt("Max-Forwards", format_args!("{MAX_FORWARDS}"));
        w.header_fmt("From", format_args!("{};tag={}", self.from, self.local_tag));
        w.header("Call-ID", self.call_id);
        w.header_fmt("CSeq", format_args!("{} ACK", self.cseq));
        w.head()
    }

    fn head(&self, method: &str) -> Writer {
        let mut w = Writer::request(method, self.uri);
        w.header("Via", self.via);
        w.header_fmt("Max-Forwards", format_args!("{MAX_FORWARDS}"));
        w.header_fmt("From", format_args!("{};tag={}", self.from, self.local_tag));
        w.header("To", self.to);
        w.header("Call-ID", self.call_id);
        w.header_fmt("CSeq", format_args!("{} {method}", self.cseq));
        w
    }
}

/// The Record-Route values of a message, one name-addr each (a header line
/// may hold several, comma-separated), reversed for a UAC (RFC 3261
/// §12.1.2) and in order for a UAS (§12.1.1). At most
/// [`ROUTES_PER_DIALOG_MAX`].
pub fn route_set(msg: &Message, reversed: bool) -> Vec<String> {
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

    fn invite<'a>() -> Invite<'a> {
        Invite {
            uri: "sip:1001@192.0.2.9:5071",
            via: "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKi;rport",
            from: "<sip:switchyard@192.0.2.1>",
            local_tag: "ours",
            to: "<sip:1001@192.0.2.1>",
            call_id: "b1",
            cseq: 7,
        }
    }

    fn text(bytes: &Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn a_cancel_repeats_the_invites_uri_via_from_to_call_id_and_cseq_number() {
        let cancel = text(&invite().cancel());
        assert_eq!(
            cancel,
            "CANCEL sip:1001@192.0.2.9:5071 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKi;rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:switchyard@192.0.2.1>;tag=ours\r\n\
             To: <sip:1001@192.0.2.1>\r\n\
             Call-ID: b1\r\n\
             CSeq: 7 CANCEL\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let msg = parse(&cancel);
        assert_eq!(msg.cseq().seq, 7);
    }

    #[test]
    fn the_invite_and_its_non_2xx_ack_head_share_uri_via_and_cseq() {
        let inv = invite();
        let sent = text(&inv.request().finish(Some(("application/sdp", b"v=0\r\n"))));
        assert!(sent.starts_with("INVITE sip:1001@192.0.2.9:5071 SIP/2.0\r\nVia: "));
        assert!(sent.contains("CSeq: 7 INVITE\r\n"), "{sent}");
        assert_eq!(
            text(&inv.ack_head()),
            "ACK sip:1001@192.0.2.9:5071 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKi;rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:switchyard@192.0.2.1>;tag=ours\r\n\
             Call-ID: b1\r\n\
             CSeq: 7 ACK\r\n"
        );
        assert_eq!(
            via(
                Transport::Tcp,
                "192.0.2.1:5060".parse().unwrap(),
                "z9hG4bKx"
            ),
            "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKx;rport"
        );
    }

    #[test]
    fn a_uac_dialog_targets_the_contact_and_reverses_the_record_route() {
        let ok = parse(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             Record-Route: <sip:192.0.2.70;lr>, <sip:192.0.2.71;lr>\r\n\
             Contact: <sip:1001@192.0.2.9:5071>\r\n\
             From: <sip:switchyard@192.0.2.1>;tag=ours\r\nTo: <sip:1001@192.0.2.1>;tag=phone\r\n\
             Call-ID: b1\r\nCSeq: 7 INVITE\r\nContent-Type: application/sdp\r\n\
             Content-Length: 5\r\n\r\nv=0\r\n",
        );
        let peer = dialog(&[]).peer;
        let d = Dialog::as_uac(
            &ok,
            "sip:1001@192.0.2.1",
            peer,
            "<sip:switchyard@192.0.2.1>",
            "ours",
        );
        assert_eq!(d.target, "sip:1001@192.0.2.9:5071");
        assert_eq!(d.routes, vec!["<sip:192.0.2.71;lr>", "<sip:192.0.2.70;lr>"]);
        assert_eq!(d.from, "<sip:switchyard@192.0.2.1>;tag=ours");
        assert_eq!(d.to, "<sip:1001@192.0.2.1>;tag=phone");
        assert_eq!(d.answer.as_deref(), Some(&b"v=0\r\n"[..]));
        let local = "192.0.2.1:5060".parse().unwrap();
        let ack = text(&d.ack(local, "z9hG4bKa", "b1", 7));
        assert!(
            ack.starts_with("ACK sip:1001@192.0.2.9:5071 SIP/2.0\r\n"),
            "{ack}"
        );
        assert!(ack.contains("Route: <sip:192.0.2.71;lr>\r\nRoute: <sip:192.0.2.70;lr>\r\n"));
        assert!(ack.contains("CSeq: 7 ACK\r\n"), "{ack}");
    }

    #[test]
    fn bye_reinvite_and_info_carry_the_dialogs_tags_and_their_own_cseq() {
        let d = dialog(&[]);
        let local = "192.0.2.1:5060".parse().unwrap();
        let bye = text(&d.bye(local, "z9hG4bKb", "cid", 3));
        assert!(
            bye.contains("CSeq: 3 BYE\r\nUser-Agent: switchyard\r\n"),
            "{bye}"
        );
        let reinvite = text(&d.reinvite(
            local,
            "z9hG4bKr",
            "cid",
            4,
            "<sip:switchyard@192.0.2.1>",
            b"v=0\r\n",
        ));
        assert!(reinvite.starts_with("INVITE sip:carrier@192.0.2.7:5070 SIP/2.0\r\n"));
        assert!(reinvite.contains("From: <sip:5550100@192.0.2.1>;tag=ours\r\nTo: <sip:+15550001@192.0.2.7>;tag=theirs\r\n"));
        assert!(reinvite.contains("CSeq: 4 INVITE\r\nContact: <sip:switchyard@192.0.2.1>\r\n"));
        assert!(
            reinvite.ends_with("Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n")
        );
        let info = text(&d.info(
            local,
            "z9hG4bKn",
            "cid",
            5,
            "application/dtmf-relay",
            b"Signal=5\r\n",
        ));
        assert!(info.starts_with("INFO sip:carrier@192.0.2.7:5070 SIP/2.0\r\n"));
        assert!(info.contains("CSeq: 5 INFO\r\n"));
        assert!(info.contains("Content-Type: application/dtmf-relay\r\nContent-Length: 10\r\n"));
        assert_eq!(parse(&info).cseq().seq, 5);
    }
}
