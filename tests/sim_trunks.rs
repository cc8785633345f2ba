//! Several outbound trunks on the pure switch core, in virtual time: a
//! call out whose first trunk never answers moves to the next once Timer B
//! fires, and is recorded on it; when every trunk fails the call ends on
//! the last failure; a trunk whose OPTIONS go unanswered is marked down and
//! skipped, and one answer (a 404 too) brings it back; a trunk with
//! `register = true` registers, answers the challenge, refreshes at half
//! the grant, backs off after a refusal and un-registers at shutdown, and
//! the calls it then sends to our registered Contact route by their To.

#![allow(clippy::disallowed_methods)]

mod sim_wire;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sim_wire::{drain, final_status, peer, request, sdp, with_auth, Out};
use switchyard::call::Outcome;
use switchyard::config::Config;
use switchyard::sip::parse::{HeaderName, Message, Method};
use switchyard::switch::{Plan, Switch, TrunkSnapshot};

const AGENT: &str = "192.0.2.11:5070";
const CARRIER: &str = "10.0.0.2:5060";
const BACKUP: &str = "10.0.0.3:5060";
const STEPS_MAX: usize = 10_000;

fn switch(carrier_extra: &str) -> (Switch, Instant) {
    let now = Instant::now();
    (Switch::new(plan(carrier_extra, 2), 3, now), now)
}

/// The plan: "backup" at `backup_priority`, "carrier" at 1 with `carrier_extra`.
fn plan(carrier_extra: &str, backup_priority: u32) -> Plan {
    let text = format!(
        r#"
[switch]
sip_listen = "127.0.0.1:5060"
http_listen = "127.0.0.1:0"
digest_challenge = "md5-first"
no_answer_timeout = "60s"

[[agents]]
id = "1001"
password = "pw-1001"

[[trunks]]
name = "backup"
outbound = {{ address = "{BACKUP}", priority = {backup_priority} }}

[[trunks]]
name = "carrier"
allow_from = ["10.0.0.0/8"]
outbound = {{ address = "{CARRIER}", priority = 1{carrier_extra} }}

[dids]
"5550100" = {{ agent = "1001" }}
"#
    );
    let cfg = Config::parse(&text, Path::new("sim.toml")).expect("valid config");
    Plan::from_config(&cfg)
}

/// Runs the timers up to `until`, deadline by deadline, gathering output.
fn advance(switch: &mut Switch, now: &mut Instant, until: Instant, out: &mut Out) {
    for _ in 0..STEPS_MAX {
        match switch.poll_timeout() {
            Some(at) if at <= until => {
                *now = (*now).max(at);
                switch.handle_timeout(*now);
                let more = drain(switch);
                out.sip.extend(more.sip);
                out.records.extend(more.records);
            }
            _ => {
                *now = until;
                return;
            }
        }
    }
    panic!("timers did not settle in {STEPS_MAX} steps");
}

/// The messages sent to `to`, in order.
fn sent_to<'a>(out: &'a Out, to: &str) -> Vec<&'a Message> {
    let to: std::net::SocketAddr = to.parse().unwrap();
    out.sip
        .iter()
        .filter(|(a, _)| *a == to)
        .map(|(_, m)| m)
        .collect()
}

fn requests<'a>(out: &'a Out, to: &str, method: Method) -> Vec<&'a Message> {
    sent_to(out, to)
        .into_iter()
        .filter(|m| m.method() == Some(&method))
        .collect()
}

/// `from`'s response `status` to our request `req`, with its tag and `extra` headers.
fn respond(
    switch: &mut Switch,
    now: Instant,
    from: &str,
    req: &Message,
    status: u16,
    extra: &str,
) -> Out {
    let vias: String = req
        .header_all(&HeaderName::Via)
        .map(|v| format!("Via: {v}\r\n"))
        .collect();
    let body = if status == 200 && req.method() == Some(&Method::Invite) {
        sdp(6000)
    } else {
        String::new()
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    let text = format!(
        "SIP/2.0 {status} X\r\n{vias}From: {}\r\nTo: {};tag=far\r\nCall-ID: {}\r\nCSeq: {} {}\r\n\
         Contact: <sip:far@{from}>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        req.from().as_str(),
        req.to().as_str(),
        req.call_id(),
        req.cseq().seq,
        req.cseq().method.as_str(),
        body.len()
    );
    switch.handle_datagram(now, peer(from), Bytes::from(text));
    drain(switch)
}

/// Agent 1001 registers and dials 5551234.
fn agent_dials(switch: &mut Switch, now: Instant) -> Out {
    let reg = with_auth(
        switch,
        now,
        "REGISTER",
        "sip:127.0.0.1:5060",
        "1001",
        AGENT,
        "reg-1001",
        "",
    );
    assert_eq!(final_status(&reg), Some(200));
    with_auth(
        switch,
        now,
        "INVITE",
        "sip:5551234@127.0.0.1:5060",
        "1001",
        AGENT,
        "call-1",
        &sdp(4000),
    )
}

fn trunk<'a>(all: &'a [TrunkSnapshot], name: &str) -> &'a TrunkSnapshot {
    all.iter().find(|t| t.name == name).expect("listed")
}

#[test]
fn a_first_trunk_that_never_answers_hands_the_call_to_the_next_at_timer_b() {
    let (mut sw, mut now) = switch("");
    let t0 = now;
    let out = agent_dials(&mut sw, now);
    let first = requests(&out, CARRIER, Method::Invite);
    assert_eq!(first.len(), 1, "the first trunk by priority is tried first");
    assert!(requests(&out, BACKUP, Method::Invite).is_empty());
    let first_branch = first[0].vias()[0].branch().map(str::to_string);

    let mut out = Out::default();
    advance(
        &mut sw,
        &mut now,
        t0 + Duration::from_millis(31_999),
        &mut out,
    );
    assert!(requests(&out, BACKUP, Method::Invite).is_empty());
    advance(&mut sw, &mut now, t0 + Duration::from_secs(32), &mut out);
    let second = requests(&out, BACKUP, Method::Invite);
    assert_eq!(second.len(), 1, "Timer B moves the call to the backup");
    let invite = second[0].clone();
    assert_eq!(
        invite.request_uri().unwrap().as_str(),
        format!("sip:5551234@{BACKUP}")
    );
    assert_ne!(invite.vias()[0].branch().map(str::to_string), first_branch);
    // The agent heard no final answer meanwhile.
    assert_eq!(
        sent_to(&out, AGENT)
            .iter()
            .find_map(|m| m.status().filter(|s| *s >= 200)),
        None
    );
    assert_eq!(trunk(&sw.trunk_snapshots(now), "carrier").failovers, 1);

    let answered = respond(&mut sw, now, BACKUP, &invite, 200, "");
    assert_eq!(requests(&answered, BACKUP, Method::Ack).len(), 1);
    assert_eq!(final_status(&answered), Some(200), "the agent is connected");

    sw.shutdown(now);
    let mut out = drain(&mut sw);
    advance(&mut sw, &mut now, t0 + Duration::from_secs(80), &mut out);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].trunk.as_deref(), Some("backup"));
    assert_eq!(trunk(&sw.trunk_snapshots(now), "backup").failovers, 0);
}

#[test]
fn when_every_trunk_fails_the_call_ends_on_the_last_failure() {
    let (mut sw, now) = switch("");
    let out = agent_dials(&mut sw, now);
    let first = requests(&out, CARRIER, Method::Invite)[0].clone();
    let out = respond(&mut sw, now, CARRIER, &first, 503, "");
    assert_eq!(requests(&out, CARRIER, Method::Ack).len(), 1);
    let second = requests(&out, BACKUP, Method::Invite)[0].clone();
    assert!(sent_to(&out, AGENT)
        .iter()
        .all(|m| m.status().is_none_or(|s| s < 200)));
    let out = respond(&mut sw, now, BACKUP, &second, 502, "");
    let to_agent: Vec<u16> = sent_to(&out, AGENT)
        .iter()
        .filter_map(|m| m.status())
        .collect();
    // As with one trunk: a carrier's failure reaches the caller as 480
    // (the call machine's mapping) and the record keeps the status.
    assert_eq!(to_agent, vec![480]);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].outcome, Outcome::Rejected(502));
    assert_eq!(out.records[0].trunk.as_deref(), Some("backup"));
}

#[test]
fn unanswered_options_mark_a_trunk_down_and_one_answer_brings_it_back() {
    let (mut sw, mut now) = switch(", options_interval = \"5s\", options_down_after = 2");
    let t0 = now;
    let mut out = Out::default();
    advance(&mut sw, &mut now, t0, &mut out);
    assert_eq!(
        requests(&out, CARRIER, Method::Options).len(),
        1,
        "a probe at start"
    );
    assert!(
        requests(&out, BACKUP, Method::Options).is_empty(),
        "backup is not checked"
    );
    advance(
        &mut sw,
        &mut now,
        t0 + Duration::from_millis(9_999),
        &mut out,
    );
    assert!(trunk(&sw.trunk_snapshots(now), "carrier").up);
    let mut out = Out::default();
    advance(&mut sw, &mut now, t0 + Duration::from_secs(10), &mut out);
    assert!(
        !trunk(&sw.trunk_snapshots(now), "carrier").up,
        "two probes missed"
    );
    let probe = requests(&out, CARRIER, Method::Options)[0].clone();

    // Calls go straight to the backup.
    let call = agent_dials(&mut sw, now);
    assert!(requests(&call, CARRIER, Method::Invite).is_empty());
    assert_eq!(requests(&call, BACKUP, Method::Invite).len(), 1);

    // Any answer, a 404 too, brings it back.
    respond(&mut sw, now, CARRIER, &probe, 404, "");
    assert!(trunk(&sw.trunk_snapshots(now), "carrier").up);
}

#[test]
fn a_registering_trunk_answers_the_challenge_refreshes_at_half_and_unregisters_at_shutdown() {
    let extra =
        ", username = \"sw\", password = \"secret\", register = true, register_expires = \"10m\"";
    let (mut sw, mut now) = switch(extra);
    let t0 = now;
    let registered = |sw: &Switch, now| trunk(&sw.trunk_snapshots(now), "carrier").registered;
    assert_eq!(registered(&sw, now), Some(false));
    assert_eq!(trunk(&sw.trunk_snapshots(now), "backup").registered, None);
    let mut out = Out::default();
    advance(&mut sw, &mut now, t0, &mut out);
    let first = requests(&out, CARRIER, Method::Register)[0].clone();
    assert_eq!(
        first.request_uri().unwrap().as_str(),
        format!("sip:{CARRIER}")
    );
    assert_eq!(first.to().as_str(), format!("<sip:sw@{CARRIER}>"));
    assert_eq!(first.expires(), Some(600));
    assert_eq!(first.header(&HeaderName::Authorization), None);

    let challenge = "WWW-Authenticate: Digest realm=\"carrier\", nonce=\"abc\"\r\n";
    let out = respond(&mut sw, now, CARRIER, &first, 401, challenge);
    let second = requests(&out, CARRIER, Method::Register)[0].clone();
    let auth = second
        .header(&HeaderName::Authorization)
        .expect("our digest answer");
    assert!(
        auth.contains("username=\"sw\"") && auth.contains("nonce=\"abc\""),
        "{auth}"
    );
    assert_eq!((second.call_id(), second.cseq().seq), (first.call_id(), 2));
    assert!(!auth.contains("secret"));

    respond(&mut sw, now, CARRIER, &second, 200, "Expires: 120\r\n");
    assert_eq!(registered(&sw, now), Some(true));

    // The refresh comes at half the grant, 60 s.
    let mut out = Out::default();
    advance(
        &mut sw,
        &mut now,
        t0 + Duration::from_millis(59_999),
        &mut out,
    );
    assert!(requests(&out, CARRIER, Method::Register).is_empty());
    advance(&mut sw, &mut now, t0 + Duration::from_secs(60), &mut out);
    let refresh = requests(&out, CARRIER, Method::Register)[0].clone();
    assert_eq!(
        (refresh.call_id(), refresh.cseq().seq),
        (first.call_id(), 3)
    );

    // Refused: still registered until the grant runs out, retried after 5 s.
    respond(&mut sw, now, CARRIER, &refresh, 403, "");
    assert_eq!(registered(&sw, now), Some(true));
    let mut out = Out::default();
    advance(&mut sw, &mut now, t0 + Duration::from_secs(65), &mut out);
    let retry = requests(&out, CARRIER, Method::Register)[0].clone();
    respond(&mut sw, now, CARRIER, &retry, 200, "Expires: 120\r\n");

    sw.shutdown(now);
    let out = drain(&mut sw);
    let bye = requests(&out, CARRIER, Method::Register);
    assert_eq!(bye.len(), 1, "un-REGISTER at shutdown");
    assert_eq!(bye[0].expires(), Some(0));
}

#[test]
fn a_reload_reorders_the_trunks_at_once_and_keeps_a_registration_whose_settings_stay() {
    let extra = ", username = \"sw\", password = \"secret\", register = true";
    let (mut sw, mut now) = switch(extra);
    let mut out = Out::default();
    let t0 = now;
    advance(&mut sw, &mut now, t0, &mut out);
    let register = requests(&out, CARRIER, Method::Register)[0].clone();
    respond(&mut sw, now, CARRIER, &register, 200, "Expires: 3600\r\n");
    assert_eq!(
        trunk(&sw.trunk_snapshots(now), "carrier").registered,
        Some(true)
    );

    // The backup now comes first; the carrier's registration is untouched.
    sw.reload(now, plan(extra, 0)).expect("reloaded");
    let out = drain(&mut sw);
    assert!(requests(&out, CARRIER, Method::Register).is_empty());
    assert_eq!(
        trunk(&sw.trunk_snapshots(now), "carrier").registered,
        Some(true)
    );
    let call = agent_dials(&mut sw, now);
    assert_eq!(requests(&call, BACKUP, Method::Invite).len(), 1);
    assert!(requests(&call, CARRIER, Method::Invite).is_empty());

    // Its registration settings changed: it registers afresh.
    let changed = format!("{extra}, register_expires = \"2h\"");
    sw.reload(now, plan(&changed, 0)).expect("reloaded");
    assert_eq!(
        trunk(&sw.trunk_snapshots(now), "carrier").registered,
        Some(false)
    );
    let mut out = Out::default();
    advance(&mut sw, &mut now, t0, &mut out);
    let again = requests(&out, CARRIER, Method::Register);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].expires(), Some(7200));
}

#[test]
fn a_carrier_connection_that_fails_before_any_answer_hands_the_call_on_at_once() {
    let (mut sw, now) = switch(", transport = \"tcp\"");
    let out = agent_dials(&mut sw, now);
    assert_eq!(requests(&out, CARRIER, Method::Invite).len(), 1);
    let tcp = switchyard::sip::Peer {
        transport: switchyard::sip::Transport::Tcp,
        addr: CARRIER.parse().unwrap(),
    };
    // A flow to someone else changes nothing.
    sw.handle_flow_closed(now, peer(BACKUP));
    assert!(requests(&drain(&mut sw), BACKUP, Method::Invite).is_empty());
    sw.handle_flow_closed(now, tcp);
    let out = drain(&mut sw);
    assert_eq!(requests(&out, BACKUP, Method::Invite).len(), 1);
    assert_eq!(trunk(&sw.trunk_snapshots(now), "carrier").failovers, 1);
}

#[test]
fn a_carrier_we_register_with_calls_our_contact_and_the_number_is_in_to() {
    let register = ", username = \"sw\", password = \"secret\", register = true";
    for (extra, reaches_agent) in [(register, true), ("", false)] {
        let (mut sw, now) = switch(extra);
        let reg = with_auth(
            &mut sw,
            now,
            "REGISTER",
            "sip:127.0.0.1:5060",
            "1001",
            AGENT,
            "reg-1001",
            "",
        );
        assert_eq!(final_status(&reg), Some(200));
        let invite = request(
            "INVITE",
            "sip:sw@127.0.0.1:5060",
            "15551234567",
            CARRIER,
            "from-carrier",
            1,
            "<sip:5550100@127.0.0.1>",
            "",
            &sdp(4000),
        );
        sw.handle_datagram(now, peer(CARRIER), invite);
        let out = drain(&mut sw);
        let rung = requests(&out, AGENT, Method::Invite).len();
        assert_eq!(rung == 1, reaches_agent, "{extra:?}");
        if !reaches_agent {
            let to_carrier: Vec<u16> = sent_to(&out, CARRIER)
                .iter()
                .filter_map(|m| m.status())
                .collect();
            assert!(to_carrier.contains(&404), "{to_carrier:?}");
        }
    }
}
