//! Session-timer negotiation (RFC 4028) on INVITEs as text, and the
//! deadlines it gives, in virtual time.

use bytes::Bytes;

use super::*;

const MIN_SE: Duration = Duration::from_secs(90);

fn invite(extra: &str) -> Message {
    let text = format!(
        "INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=a\r\nTo: <sip:5550100@127.0.0.1>\r\n\
         Call-ID: st1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:5070>\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    Message::parse(Bytes::from(text)).expect("a valid INVITE")
}

fn negotiated(extra: &str) -> Option<Negotiated> {
    negotiate(&invite(extra), MIN_SE).unwrap_or_else(|r| panic!("refused {}", r.status()))
}

#[test]
fn without_session_expires_there_is_no_timer() {
    assert_eq!(negotiated("Supported: timer\r\n"), None);
}

#[test]
fn the_caller_refreshes_when_it_says_so_or_supports_timers() {
    let n = negotiated("Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n").unwrap();
    assert_eq!(n.interval, Duration::from_secs(90));
    assert_eq!(n.refresher, Refresher::Caller);
    assert!(n.supported);
    assert_eq!(n.header(), "90;refresher=uac");
    // No refresher named, timers supported: the caller's (§9).
    let n = negotiated("x: 1800\r\nk: timer\r\n").unwrap();
    assert_eq!(
        (n.interval.as_secs(), n.refresher),
        (1800, Refresher::Caller)
    );
}

#[test]
fn we_refresh_when_asked_or_when_the_caller_knows_no_timers() {
    let n = negotiated("Session-Expires: 600;refresher=uas\r\nSupported: timer\r\n").unwrap();
    assert_eq!(n.refresher, Refresher::Us);
    let n = negotiated("Session-Expires: 600\r\n").unwrap();
    assert_eq!((n.refresher, n.supported), (Refresher::Us, false));
    assert_eq!(n.header(), "600;refresher=uas");
}

#[test]
fn an_interval_under_min_se_gets_422_naming_the_larger_min_se() {
    let r = negotiate(&invite("Session-Expires: 60\r\n"), MIN_SE).unwrap_err();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers(), [("Min-SE", "90".to_string())]);
    // The caller's own Min-SE counts too (§5): 100 is under its 120.
    let r = negotiate(&invite("Session-Expires: 100\r\nMin-SE: 120\r\n"), MIN_SE).unwrap_err();
    assert_eq!(r.headers(), [("Min-SE", "120".to_string())]);
}

#[test]
fn values_that_are_not_delta_seconds_get_400() {
    for extra in [
        "Session-Expires: soon\r\n",
        "Session-Expires: 90\r\nMin-SE: x\r\n",
        "Session-Expires: -5\r\n",
    ] {
        let r = negotiate(&invite(extra), MIN_SE).unwrap_err();
        assert_eq!(r.status(), 400, "{extra:?}");
    }
}

// The one clock read: the rest is t0 plus durations.
#[allow(clippy::disallowed_methods)]
#[test]
fn the_caller_must_refresh_by_the_interval_less_a_third_or_32_s_we_refresh_at_half() {
    let t0 = Instant::now();
    let n = |secs, refresher| Negotiated {
        interval: Duration::from_secs(secs),
        refresher,
        supported: true,
    };
    assert_eq!(
        session_due(t0, n(90, Refresher::Caller)),
        t0 + Duration::from_secs(60)
    );
    assert_eq!(
        session_due(t0, n(1800, Refresher::Caller)),
        t0 + Duration::from_secs(1768)
    );
    assert_eq!(
        session_due(t0, n(1800, Refresher::Us)),
        t0 + Duration::from_secs(900)
    );
}
