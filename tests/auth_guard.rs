//! Password guessing on the wire (issue 13 item 2): a guesser sending
//! wrong-password REGISTERs from one source gets a bounded number of
//! answers, then silence; its ban is logged, counted, listed and lifted
//! through the API; the right password from another source still
//! registers meanwhile. Guessing one agent from many sources bans each new
//! source at its first failure. A phone beyond `max_contacts` replaces the
//! older one, or is refused with 403. A ban survives a restart (even a
//! SIGKILL) until it ends or is lifted.
//!
//! Sources are distinct loopback addresses (127.0.0.2, …), and the test
//! dialplan does not trust loopback (`trust_loopback = false`); its trunk
//! (127.0.0.1) stays trusted.

// Real sockets with bounded waits: the test is a driver.
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use support::api::{api_section, call, get, ADMIN, VIEWER};
use support::{free_udp_port, test_config, Phone, SwitchProc};
use switchyard::sip::parse::{HeaderName, Message};

/// Failures from one source before its ban, in the test dialplan.
const ATTEMPTS: u32 = 4;
const BAN: Duration = Duration::from_secs(5);
/// How long the guesser guesses; guesses are also capped at [`GUESSES_MAX`].
const FLOOD: Duration = Duration::from_secs(6);
const GUESSES_MAX: u32 = 2000;
/// A guess every this long: ~2000 in the flood, as the scanner.
const GUESS_EVERY: Duration = Duration::from_millis(3);

fn config(security: &str) -> String {
    format!(
        "{}{}\n[security]\ntrust_loopback = false\n{security}\n",
        test_config("10s", free_udp_port()),
        api_section(16)
    )
}

fn guard_config() -> String {
    config(&format!(
        "auth_attempts = {ATTEMPTS}\nauth_user_attempts = 1000\nauth_window = \"60s\"\n\
         auth_ban = \"{}s\"\nauth_backoff = \"50ms\"\nrequests_burst = 100000\n\
         requests_per_second = 100000",
        BAN.as_secs()
    ))
}

/// A scanner: one socket on `ip`, REGISTERs for `user` with digest
/// answers computed from the last challenge it saw, one guess per
/// request, without waiting for answers.
struct Guesser {
    sock: UdpSocket,
    server: SocketAddr,
    challenge: Option<String>,
    nc: u32,
    sent: u32,
    answers: Vec<u16>,
    rng: rand::rngs::StdRng,
}

impl Guesser {
    fn new(server: SocketAddr, ip: &str) -> Guesser {
        let sock = UdpSocket::bind((ip, 0)).expect("bind guesser");
        sock.set_nonblocking(true).unwrap();
        Guesser {
            sock,
            server,
            challenge: None,
            nc: 0,
            sent: 0,
            answers: Vec::new(),
            rng: rand::rngs::StdRng::seed_from_u64(13),
        }
    }

    /// One REGISTER: with a wrong password once a challenge is known.
    fn guess(&mut self, user: &str, password: &str) {
        let addr = self.sock.local_addr().unwrap();
        let uri = format!("sip:{}", self.server);
        let n = self.sent;
        let auth = match &self.challenge {
            Some(c) => {
                self.nc += 1;
                let value = switchyard::sip::auth::answer_challenge(
                    c,
                    "REGISTER",
                    &uri,
                    user,
                    password,
                    self.nc,
                    &mut self.rng,
                )
                .expect("answer challenge");
                format!("Authorization: {value}\r\n")
            }
            None => String::new(),
        };
        let msg = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKg{n}x{p};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@{s}>;tag=g{p}\r\nTo: <sip:{user}@{s}>\r\n\
             Call-ID: guess{p}@{addr}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{addr}>\r\n\
             Expires: 60\r\n{auth}Content-Length: 0\r\n\r\n",
            s = self.server,
            p = std::process::id(),
            cseq = n + 1,
        );
        self.sock
            .send_to(msg.as_bytes(), self.server)
            .expect("send");
        self.sent += 1;
    }

    /// Takes every answer waiting; a 401 gives the next guesses their nonce.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
            let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            let Some(status) = msg.status() else {
                continue;
            };
            self.answers.push(status);
            if status == 401 {
                self.challenge = msg.header(&HeaderName::WwwAuthenticate).map(str::to_string);
                self.nc = 0;
            }
        }
    }

    fn count(&self, status: u16) -> usize {
        self.answers.iter().filter(|&&s| s == status).count()
    }
}

/// Whether `ip` is listed by `GET /api/v1/bans` with at least `left` to go.
fn listed_ban(switch: &SwitchProc, ip: &str, left: Duration) -> bool {
    let bans = get(switch.http, "/api/v1/bans", ADMIN).body;
    bans["bans"].as_array().is_some_and(|list| {
        list.iter()
            .any(|b| b["ip"] == ip && b["seconds_left"].as_u64().unwrap_or(0) >= left.as_secs())
    })
}

#[test]
fn a_guesser_gets_a_bounded_number_of_answers_then_silence() {
    let switch = SwitchProc::start("guard-guesser", &guard_config());
    let mut g = Guesser::new(switch.sip, "127.0.0.2");
    let start = Instant::now();
    let mut banned_after = None;
    while start.elapsed() < FLOOD && g.sent < GUESSES_MAX {
        let password = format!("guess-{}", g.sent);
        g.guess("1001", &password);
        std::thread::sleep(GUESS_EVERY);
        g.drain();
        if banned_after.is_none() && g.count(403) >= ATTEMPTS as usize {
            banned_after = Some(start.elapsed());
        }
    }
    // Answers still in flight arrive within a round trip on loopback.
    std::thread::sleep(Duration::from_millis(200));
    g.drain();
    let bans_in_flood = 1 + (FLOOD.as_millis() / BAN.as_millis()) as usize;
    // Per ban period: ATTEMPTS refusals; the challenges (401) on top are
    // one per nonce (a stale one may add one more each period).
    let bound = bans_in_flood * (ATTEMPTS as usize + 2);
    eprintln!(
        "guesser: {} guesses in {:?}, {} answers ({} x 403, {} x 401), first ban after {:?}; bound {bound}",
        g.sent,
        start.elapsed(),
        g.answers.len(),
        g.count(403),
        g.count(401),
        banned_after
    );
    assert!(
        g.sent >= 500,
        "the guesser guessed too little to tell: {}",
        g.sent
    );
    assert!(
        g.count(403) >= ATTEMPTS as usize,
        "the guesser's wrong passwords were refused: {:?}",
        g.answers
    );
    assert!(
        g.answers.len() <= bound,
        "{} answers to {} guesses, more than {bound}: {:?}",
        g.answers.len(),
        g.sent,
        g.answers
    );
    let log = switch.log();
    assert!(
        log.contains("sip source banned: failed logins")
            && log.contains("source_ip=127.0.0.2 failures=4"),
        "no ban line in the log"
    );
    switch.wait_metric("switchyard_auth_bans_total", |v| v >= 1.0);
    switch.wait_metric("switchyard_auth_failures_total", |v| {
        v >= f64::from(ATTEMPTS)
    });
}

#[test]
fn a_banned_source_is_silent_listed_and_lifted_while_others_register() {
    let switch = SwitchProc::start("guard-ban", &guard_config());
    let mut g = Guesser::new(switch.sip, "127.0.0.2");
    // Guess until the API lists the ban with most of it to go (bounded).
    let deadline = Instant::now() + support::EVENT_TIMEOUT;
    while !listed_ban(&switch, "127.0.0.2", BAN / 2) {
        assert!(Instant::now() < deadline, "never banned: {:?}", g.answers);
        for _ in 0..20 {
            g.guess("1001", "wrong");
            std::thread::sleep(GUESS_EVERY);
            g.drain();
        }
    }
    // Listing and lifting bans is for admins.
    let viewer = get(switch.http, "/api/v1/bans", VIEWER);
    assert_eq!(viewer.status, 403, "{viewer:?}");
    switch.wait_metric("switchyard_auth_bans_active", |v| v == 1.0);

    // Another source with the right password registers meanwhile.
    let mut good = Phone::from_ip(switch.sip, "127.0.0.3");
    let ok = good.register("1001", "demo-1001", good.addr, 3600);
    assert_eq!(ok.status(), Some(200));

    // The banned source gets no answer at all, even to the right password.
    let mut banned = Phone::from_ip(switch.sip, "127.0.0.2");
    let uri = format!("sip:{}", switch.sip);
    let request = banned.request("REGISTER", &uri, "1002", "");
    banned.send(request.as_bytes());
    assert!(
        banned.try_recv(Duration::from_secs(1)).is_none(),
        "a banned source was answered"
    );

    // Lifted through the API, it may log in again.
    let lifted = call(
        switch.http,
        "DELETE",
        "/api/v1/bans/127.0.0.2",
        Some(ADMIN),
        None,
    );
    assert_eq!(lifted.status, 200, "{lifted:?}");
    let again = call(
        switch.http,
        "DELETE",
        "/api/v1/bans/127.0.0.2",
        Some(ADMIN),
        None,
    );
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (404, Some("not_banned"))
    );
    assert!(!listed_ban(&switch, "127.0.0.2", Duration::ZERO));
    let mut back = Phone::from_ip(switch.sip, "127.0.0.2");
    let ok = back.register("1002", "demo-1002", back.addr, 3600);
    assert_eq!(ok.status(), Some(200));
    assert!(switch
        .log()
        .contains("sip ban lifted by a command source_ip=127.0.0.2"));
}

#[test]
fn guessing_one_agent_from_many_sources_bans_each_new_source_at_once() {
    let config = config(
        "auth_attempts = 100\nauth_user_attempts = 3\nauth_window = \"60s\"\n\
         auth_ban = \"60s\"\nauth_backoff = \"1ms\"",
    );
    let switch = SwitchProc::start("guard-user", &config);
    let uri = format!("sip:{}", switch.sip);
    // A source backing off (1 ms) answers a retransmission at the latest;
    // a banned one never does.
    let challenge_answered = |phone: &mut Phone| {
        let probe = phone.request("REGISTER", &uri, "1001", "");
        phone.send(probe.as_bytes());
        if phone.try_recv(Duration::from_millis(300)).is_some() {
            return true;
        }
        phone.send(probe.as_bytes());
        phone.try_recv(Duration::from_secs(1)).is_some()
    };
    for i in 4..10 {
        let ip = format!("127.0.0.{i}");
        let mut phone = Phone::from_ip(switch.sip, &ip);
        let refused = phone.register("1001", &format!("guess-{i}"), phone.addr, 60);
        assert_eq!(refused.status(), Some(403), "{ip}");
        // The first three failures for 1001 only make their sources back
        // off (1 ms); from the fourth on, each failing source is banned.
        let answered = challenge_answered(&mut phone);
        assert_eq!(
            answered,
            i < 7,
            "{ip} answered after its failure: {answered}"
        );
    }
    switch.wait_metric("switchyard_auth_bans_total", |v| v == 3.0);
    // A fresh source with the right password is not held to the agent's count.
    let mut good = Phone::from_ip(switch.sip, "127.0.0.20");
    assert_eq!(
        good.register("1001", "demo-1001", good.addr, 60).status(),
        Some(200)
    );
}

#[test]
fn a_second_phone_replaces_the_first_by_default_and_is_refused_when_configured() {
    let switch = SwitchProc::start("guard-contacts", &config(""));
    let mut ada = Phone::from_ip(switch.sip, "127.0.0.2");
    assert_eq!(
        ada.register("1001", "demo-1001", ada.addr, 3600).status(),
        Some(200)
    );
    let mut other = Phone::from_ip(switch.sip, "127.0.0.3");
    let ok = other.register("1001", "demo-1001", other.addr, 3600);
    assert_eq!(ok.status(), Some(200));
    // One phone: the newcomer's binding alone is listed (RFC 3261 §10.3).
    let contacts: Vec<&str> = ok.header_all(&HeaderName::Contact).collect();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert!(contacts[0].contains("127.0.0.3"), "{contacts:?}");
    assert!(switch
        .log()
        .contains("registration replaced the agent's older phone (max_contacts)"));

    let switch = SwitchProc::start("guard-contacts-refuse", &config("remove_existing = false"));
    let mut ada = Phone::from_ip(switch.sip, "127.0.0.2");
    assert_eq!(
        ada.register("1001", "demo-1001", ada.addr, 3600).status(),
        Some(200)
    );
    let mut other = Phone::from_ip(switch.sip, "127.0.0.3");
    let refused = other.register("1001", "demo-1001", other.addr, 3600);
    assert_eq!(refused.status(), Some(403));
    // Ada's phone refreshing its own binding is fine.
    assert_eq!(
        ada.register("1001", "demo-1001", ada.addr, 3600).status(),
        Some(200)
    );
}

#[test]
fn a_ban_survives_a_restart_until_lifted_through_the_api() {
    let dir = support::temp_dir("guard-restart");
    let db = dir.join("cdr.sqlite");
    let text = config(
        "auth_attempts = 2\nauth_window = \"60s\"\nauth_ban = \"600s\"\nauth_backoff = \"1ms\"",
    )
    .replace(
        "cdr_path = \"cdr.sqlite\"",
        &format!("cdr_path = \"{}\"", db.display()),
    );
    let saved = dir.join("cdr.sqlite.bans.json");
    let first = SwitchProc::start("guard-restart-1", &text);
    let mut g = Guesser::new(first.sip, "127.0.0.5");
    let deadline = Instant::now() + support::EVENT_TIMEOUT;
    while !listed_ban(&first, "127.0.0.5", Duration::from_secs(60)) {
        assert!(Instant::now() < deadline, "never banned: {:?}", g.answers);
        for _ in 0..20 {
            g.guess("1001", "wrong");
            std::thread::sleep(GUESS_EVERY);
            g.drain();
        }
    }
    // Saved as soon as it is made: a crash (SIGKILL on drop) keeps it.
    while !std::fs::read_to_string(&saved).is_ok_and(|t| t.contains("127.0.0.5")) {
        assert!(Instant::now() < deadline, "ban never saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(first);

    let second = SwitchProc::start("guard-restart-2", &text);
    assert!(
        listed_ban(&second, "127.0.0.5", Duration::from_secs(60)),
        "the ban did not come back"
    );
    let uri = format!("sip:{}", second.sip);
    let mut banned = Phone::from_ip(second.sip, "127.0.0.5");
    let request = banned.request("REGISTER", &uri, "1002", "");
    banned.send(request.as_bytes());
    assert!(
        banned.try_recv(Duration::from_secs(1)).is_none(),
        "a source banned before the restart was answered"
    );
    let mut good = Phone::from_ip(second.sip, "127.0.0.6");
    assert_eq!(
        good.register("1001", "demo-1001", good.addr, 60).status(),
        Some(200)
    );
    let lifted = call(
        second.http,
        "DELETE",
        "/api/v1/bans/127.0.0.5",
        Some(ADMIN),
        None,
    );
    assert_eq!(lifted.status, 200, "{lifted:?}");
    while std::fs::read_to_string(&saved).is_ok_and(|t| t.contains("127.0.0.5")) {
        assert!(Instant::now() < deadline, "lift never saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(second);

    // Lifted stays lifted across the next restart.
    let third = SwitchProc::start("guard-restart-3", &text);
    assert!(!listed_ban(&third, "127.0.0.5", Duration::ZERO));
    let mut back = Phone::from_ip(third.sip, "127.0.0.5");
    assert_eq!(
        back.register("1002", "demo-1002", back.addr, 60).status(),
        Some(200)
    );
    drop(third);
    let _ = std::fs::remove_dir_all(&dir);
}
