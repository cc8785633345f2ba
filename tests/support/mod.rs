//! Test fixtures: the real switch binary on loopback with free ports, SIPp
//! as carrier and agent phones, a small Rust SIP phone, a metrics reader.
//! Every process started here is ended by its PID when its guard drops.

#![allow(dead_code)]
// A driver of real processes and sockets: it reads the clock and spawns.
#![allow(clippy::disallowed_methods)]

pub mod api;
pub mod baresip;
pub mod kamailio;
pub mod linphone;
pub mod pcap;
pub mod scenarios;
pub mod tls;
pub mod webdriver;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard::sip::parse::{HeaderName, Message};

/// How long any single expected event may take before a test fails.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// A fresh directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("switchyard-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The test dialplan: the demo agents and DIDs, ports picked by the kernel,
/// a trunk on 127.0.0.1 whose outbound side is `carrier_port`.
pub fn test_config(no_answer: &str, carrier_port: u16) -> String {
    format!(
        r#"
[switch]
sip_listen = "127.0.0.1:0"
http_listen = "127.0.0.1:0"
realm = "switchyard-test"
no_answer_timeout = "{no_answer}"
digest_challenge = "md5-first"
cdr_path = "cdr.sqlite"

[[agents]]
id = "1001"
password = "demo-1001"
auto_login = true
skills = {{ support = 9 }}

[[agents]]
id = "1002"
password = "demo-1002"
auto_login = true
skills = {{ support = 4, sales = 6 }}

[[agents]]
id = "1003"
password = "demo-1003"
auto_login = true
skills = {{ sales = 7 }}

[[trunks]]
name = "demo-carrier"
allow_from = ["127.0.0.1"]
outbound = {{ address = "127.0.0.1:{carrier_port}", transport = "udp" }}

[dids]
"5550100" = {{ agent = "1001" }}
"5550101" = {{ agent = "1002" }}
"5550200" = {{ queue = "support" }}
"5550300" = {{ queue = "sales" }}

[[queues]]
name = "support"
requires = "support:1"
ring_timeout = "{no_answer}"

[[queues]]
name = "sales"
requires = "sales:1"
ring_timeout = "{no_answer}"
"#
    )
}

/// The switch, running as a child process.
pub struct SwitchProc {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// The TLS listener, when the config has `[tls]`.
    pub tls: Option<SocketAddr>,
    pub dir: PathBuf,
}

impl SwitchProc {
    /// Starts `switchyard run` on `config` and waits for its ports.
    pub fn start(name: &str, config: &str) -> SwitchProc {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into());
        SwitchProc::start_logged(name, config, &filter)
    }

    /// As `start`, with its log filter (`RUST_LOG`) given.
    pub fn start_logged(name: &str, config: &str, log_filter: &str) -> SwitchProc {
        let dir = temp_dir(name);
        let path = dir.join("switchyard.toml");
        std::fs::write(&path, config).expect("write config");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
        // SWITCHYARD_BIN: a copy of the binary, for runs sharing a target
        // directory with other branches that rebuild it.
        let bin = std::env::var_os("SWITCHYARD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_switchyard")));
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&path)
            .current_dir(&dir)
            .env("RUST_LOG", log_filter)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start switchyard");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx.recv_timeout(EVENT_TIMEOUT).unwrap_or_else(|_| {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            panic!("switch did not report its ports; stderr:\n{log}")
        });
        let field = |key: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        };
        let (sip, http) = (field("sip="), field("http="));
        let tls = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("tls="))
            .and_then(|v| v.parse().ok());
        SwitchProc {
            child,
            sip,
            http,
            tls,
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The switch's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// One HTTP GET: status line code and body.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_request(self.http, "GET", path)
    }

    pub fn metrics(&self) -> String {
        self.http_get("/metrics").1
    }

    /// Waits until `metric` (name with labels, as printed) satisfies `pred`.
    /// The switch publishes counters every 500 ms.
    pub fn wait_metric(&self, metric: &str, pred: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let text = self.metrics();
            if let Some(v) = metric_value(&text, metric) {
                if pred(v) {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "metric {metric} never matched; metrics:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM (to our own child, by PID).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "switch did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SwitchProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- switch log ({}) ----\n{}",
                self.dir.display(),
                tail(&self.log(), 200)
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A plain HTTP/1.1 request (no client crate needed for two endpoints).
pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, EVENT_TIMEOUT).expect("connect http");
    stream.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read http");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of one sample line (`name{labels} value`) in Prometheus text.
pub fn metric_value(text: &str, metric: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(metric)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// A UDP port free right now (the kernel's pick, released for the caller).
pub fn free_udp_port() -> u16 {
    free_port_block(1)
}

/// Where port blocks (RTP ranges) are taken from: below Linux's ephemeral
/// range (32768-60999 by default), so no socket bound to port 0 by a phone,
/// SIPp or the switch in a parallel test can land inside a block between
/// the check here and the switch binding it; above the demo's 20000-20999
/// and below the relay benches' 30000-39999.
const BLOCKS_FROM: u32 = 21_000;
const BLOCKS_TO: u32 = 30_000;
static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);
/// Largest block a test asks for.
const BLOCK_PORTS_MAX: u16 = 16;

/// The first of `n` consecutive UDP ports that are free right now. Blocks
/// handed out by one test process never overlap; processes start at
/// different offsets (by PID) and every port is checked by binding it.
pub fn free_port_block(n: u16) -> u16 {
    if n <= 1 {
        // The kernel may pick a port it picked before once it is free again:
        // a SIPp given the same number for its SIP and control sockets then
        // fails to bind. No port is handed out twice by one test process.
        static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
        for _ in 0..1000 {
            let port = UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
            if handed.insert(port) {
                return port;
            }
        }
        panic!("no UDP port this process has not handed out already");
    }
    // One stride for every size, so blocks of different sizes never overlap.
    assert!(
        n <= BLOCK_PORTS_MAX,
        "blocks hold at most {BLOCK_PORTS_MAX} ports"
    );
    let span = BLOCKS_TO - BLOCKS_FROM;
    let stride = u32::from(BLOCK_PORTS_MAX);
    let start = (std::process::id() * 7919) % span;
    for _ in 0..500 {
        let k = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed);
        let first = BLOCKS_FROM + (start + k * stride) % (span - stride);
        let first = u16::try_from(first).expect("blocks lie below 30000");
        let all_free = (first..first + n).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return first;
        }
    }
    panic!("no block of {n} free UDP ports");
}

/// A SIPp process running a scenario.
pub struct Sipp {
    child: Child,
    name: String,
    log: PathBuf,
    pub port: u16,
}

/// Where a scenario or fragment file lives.
pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}

impl Sipp {
    /// Starts SIPp on a scenario file with placeholders replaced; `args`
    /// come before the target. Free ports are picked for SIP, media and control.
    pub fn start(
        dir: &Path,
        scenario: &str,
        replace: &[(&str, &str)],
        args: &[&str],
        target: Option<SocketAddr>,
    ) -> Sipp {
        let mut text = std::fs::read_to_string(sipp_dir().join(scenario)).expect("scenario");
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let base = Path::new(scenario)
            .file_name()
            .expect("scenario file name")
            .to_string_lossy();
        let file = dir.join(format!("{n}-{base}"));
        std::fs::write(&file, text).expect("write scenario");
        let port = args
            .windows(2)
            .find(|w| w[0] == "-p")
            .map(|w| w[1].parse().expect("port"))
            .unwrap_or_else(free_udp_port);
        let media = free_port_block(4);
        let control = free_udp_port();
        let log = dir.join(format!("{n}-sipp.log"));
        let mut cmd = Command::new("sipp");
        cmd.arg("-sf").arg(&file);
        cmd.args([
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-max_recv_loops",
            "100",
        ]);
        if !args.contains(&"-p") {
            cmd.args(["-p", &port.to_string()]);
        }
        cmd.args(["-mp", &media.to_string(), "-cp", &control.to_string()]);
        cmd.arg("-trace_msg")
            .arg("-message_file")
            .arg(dir.join(format!("{n}-messages.log")));
        cmd.args(args);
        if let Some(t) = target {
            cmd.arg(t.to_string());
        }
        let out = std::fs::File::create(&log).expect("sipp log");
        let child = cmd
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sipp (Debian package sip-tester)");
        Sipp {
            child,
            name: scenario.to_string(),
            log,
            port,
        }
    }

    /// As [`Sipp::expect_success`], and returns every message it sent and
    /// received.
    pub fn expect_success_messages(self) -> String {
        let path = self.log.with_file_name(
            self.log
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace("sipp.log", "messages.log"),
        );
        self.expect_success();
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Waits for SIPp to finish its calls; panics with its trace if it failed.
    pub fn expect_success(mut self) {
        let status = self.wait();
        if !status.success() {
            let out = std::fs::read_to_string(&self.log).unwrap_or_default();
            let msgs = std::fs::read_to_string(
                self.log.with_file_name(
                    self.log
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .replace("sipp.log", "messages.log"),
                ),
            )
            .unwrap_or_default();
            panic!(
                "sipp {} failed ({status}):\n{}\n---- messages ----\n{}",
                self.name,
                tail(&out, 40),
                tail(&msgs, 120)
            );
        }
    }

    /// As [`Sipp::expect_success`], for a scenario that runs longer than
    /// the usual bound: waits at most `bound` more.
    pub fn expect_success_within(mut self, bound: Duration) {
        let deadline = Instant::now() + bound;
        while self.child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.expect_success();
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Every message SIPp sent and received so far (its `-trace_msg` file).
    pub fn messages(&self) -> String {
        let name = self.log.file_name().unwrap().to_string_lossy();
        let path = self
            .log
            .with_file_name(name.replace("sipp.log", "messages.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers `user` through SIPp with digest auth, its Contact at `contact_port`;
/// `final_status` is what the authenticated REGISTER must get.
pub fn sipp_register(
    dir: &Path,
    switch: &SwitchProc,
    user: &str,
    password: &str,
    contact_port: u16,
    final_status: u16,
) {
    let status = final_status.to_string();
    let port = contact_port.to_string();
    // The registration scenario the README uses, with the expected answer swapped in.
    let expect = format!("<recv response=\"{status}\"/>");
    Sipp::start(
        dir,
        "../../examples/sipp/register.xml",
        &[("<recv response=\"200\"/>", &expect)],
        &[
            "-m",
            "1",
            "-s",
            user,
            "-au",
            user,
            "-ap",
            password,
            "-key",
            "contact_port",
            &port,
        ],
        Some(switch.sip),
    )
    .expect_success();
}

/// An agent phone at `port` registers `user` (Contact at `contact_port`)
/// and dials feature `code`; `after` is what follows the final response
/// (`FEATURE_DONE`, or `FEATURE_REFUSED` with `@STATUS@` already set).
pub fn sipp_feature(
    switch: &SwitchProc,
    user: &str,
    password: &str,
    port: u16,
    contact_port: u16,
    code: &str,
    after: &str,
) {
    let after = after.replace("@USER@", user).replace("@CODE@", code);
    let (port, contact) = (port.to_string(), contact_port.to_string());
    Sipp::start(
        &switch.dir,
        "feature.xml",
        &[("@AFTER@", &after), ("@USER@", user), ("@CODE@", code)],
        &[
            "-m",
            "1",
            "-p",
            &port,
            "-au",
            user,
            "-ap",
            password,
            "-key",
            "contact_port",
            &contact,
        ],
        Some(switch.sip),
    )
    .expect_success();
}

/// Agent `user` (password `demo-<user>`) registered for a SIPp phone that
/// answers one call with audio at a test socket. `media_re` must match the
/// switch's offer (e.g. its `m=audio` port). Returns the SIPp process and
/// the agent's RTP socket.
pub fn sipp_media_agent(switch: &SwitchProc, user: &str, media_re: &str) -> (Sipp, UdpSocket) {
    let agent_port = free_udp_port();
    sipp_register(
        &switch.dir,
        switch,
        user,
        &format!("demo-{user}"),
        agent_port,
        200,
    );
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let agent_rtp_port = agent_rtp.local_addr().unwrap().port().to_string();
    let agent = Sipp::start(
        &switch.dir,
        "agent.xml",
        &[
            ("@ANSWER@", scenarios::AGENT_ANSWERS_MEDIA_AT),
            ("@MEDIA_RE@", media_re),
            ("@AGENT_RTP@", &agent_rtp_port),
        ],
        &["-m", "1", "-p", &agent_port.to_string()],
        None,
    );
    (agent, agent_rtp)
}

/// A minimal SIP phone over UDP for checks SIPp cannot express.
pub struct Phone {
    pub sock: UdpSocket,
    pub addr: SocketAddr,
    pub server: SocketAddr,
    seq: u32,
}

impl Phone {
    pub fn new(server: SocketAddr) -> Phone {
        Phone::from_ip(server, "127.0.0.1")
    }

    /// A phone whose source address is `ip` (any 127.0.0.x works on
    /// Linux): a distinct source for the switch's per-source limits.
    pub fn from_ip(server: SocketAddr, ip: &str) -> Phone {
        let sock = UdpSocket::bind((ip, 0)).expect("bind phone");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        Phone {
            sock,
            addr,
            server,
            seq: 0,
        }
    }

    pub fn send(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.server).expect("send");
    }

    /// The next SIP message that parses, within the event timeout.
    pub fn recv(&self) -> Message {
        self.try_recv(EVENT_TIMEOUT)
            .expect("no SIP message from the switch in time")
    }

    /// The next datagram, parsed or not.
    pub fn recv_raw(&self) -> Vec<u8> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                return buf[..n].to_vec();
            }
        }
        panic!("no datagram from the switch in time");
    }

    pub fn try_recv(&self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < deadline {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                if let Ok(msg) = Message::parse(Bytes::copy_from_slice(&buf[..n])) {
                    return Some(msg);
                }
            }
        }
        None
    }

    /// The next response with a final status (1xx skipped).
    pub fn recv_final(&self) -> Message {
        loop {
            let msg = self.recv();
            if msg.status().is_some_and(|s| s >= 200) {
                return msg;
            }
        }
    }

    /// A unique token for branches, tags and Call-IDs.
    pub fn token(&mut self) -> String {
        self.seq += 1;
        format!("{}x{}x{}", self.addr.port(), self.seq, std::process::id())
    }

    /// An out-of-dialog request with the usual headers; `extra` goes before Content-Length.
    pub fn request(&mut self, method: &str, uri: &str, from_user: &str, extra: &str) -> String {
        let t = self.token();
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{from_user}@{addr}>;tag=f{t}\r\nTo: <{uri}>\r\nCall-ID: c{t}\r\nCSeq: 1 {method}\r\n\
             {extra}Content-Length: 0\r\n\r\n",
            addr = self.addr
        )
    }

    /// REGISTER with the digest dance; returns the final response.
    pub fn register(
        &mut self,
        user: &str,
        password: &str,
        contact: SocketAddr,
        expires: u32,
    ) -> Message {
        let contact = format!("<sip:{user}@{contact}>");
        self.register_with(user, password, &contact, "", expires)
    }

    /// REGISTER with the digest dance, the Contact value and `extra`
    /// header lines (each ending in CRLF) as given; the final response.
    pub fn register_with(
        &mut self,
        user: &str,
        password: &str,
        contact: &str,
        extra: &str,
        expires: u32,
    ) -> Message {
        let call_id = format!("reg{}", self.token());
        let uri = format!("sip:{}", self.server);
        let mut authorization = String::new();
        for cseq in 1..=2 {
            let t = self.token();
            let msg = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t};rport\r\nMax-Forwards: 70\r\n\
                 From: <sip:{user}@{server}>;tag=r{call_id}\r\nTo: <sip:{user}@{server}>\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: {expires}\r\n{extra}{authorization}Content-Length: 0\r\n\r\n",
                addr = self.addr,
                server = self.server,
            );
            self.send(msg.as_bytes());
            let response = self.recv_final();
            if response.status() != Some(401) || cseq == 2 {
                return response;
            }
            let challenge = response
                .header(&HeaderName::WwwAuthenticate)
                .expect("challenge")
                .to_string();
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let value = switchyard::sip::auth::answer_challenge(
                &challenge, "REGISTER", &uri, user, password, 1, &mut rng,
            )
            .expect("answer challenge");
            authorization = format!("Authorization: {value}\r\n");
        }
        unreachable!("the loop returns on its second pass")
    }
}

use rand::SeedableRng;

/// A caller on a trunk (from 127.0.0.1) whose audio socket is `rtp`: it
/// INVITEs a DID with a PCMU offer (or another, [`MediaCaller::offering`]),
/// and sends ACK, re-INVITEs and BYE in the dialog the switch's answer set up.
pub struct MediaCaller {
    pub phone: Phone,
    pub rtp: UdpSocket,
    token: String,
    did: String,
    /// The one payload type offered and its rtpmap value.
    offer: (u8, &'static str),
    /// The To of the switch's answer (with its tag), once answered.
    pub to: String,
    cseq: u32,
}

impl MediaCaller {
    pub fn new(server: SocketAddr, did: &str) -> MediaCaller {
        let mut phone = Phone::new(server);
        let token = phone.token();
        MediaCaller {
            rtp: UdpSocket::bind("127.0.0.1:0").expect("bind caller rtp"),
            phone,
            token,
            did: did.to_string(),
            offer: (0, "PCMU/8000"),
            to: format!("<sip:{did}@{server}>"),
            cseq: 1,
        }
    }

    /// A caller offering payload type `pt` (`rtpmap` e.g. `G722/8000`) alone.
    pub fn offering(server: SocketAddr, did: &str, pt: u8, rtpmap: &'static str) -> MediaCaller {
        MediaCaller {
            offer: (pt, rtpmap),
            ..MediaCaller::new(server, did)
        }
    }

    /// Our offer, with `direction` (e.g. `a=sendrecv`).
    pub fn sdp(&self, direction: &str) -> String {
        let port = self.rtp.local_addr().unwrap().port();
        format!(
            "v=0\r\no=caller 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {map}\r\n{direction}\r\n",
            self.cseq,
            pt = self.offer.0,
            map = self.offer.1,
        )
    }

    fn request(&self, method: &str, branch: &str, cseq: u32, body: Option<&str>) -> String {
        let (sip, addr, t) = (self.phone.server, self.phone.addr, &self.token);
        let mut out = format!(
            "{method} sip:{did}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{t}{branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+15550001@{addr}>;tag=f{t}\r\nTo: {to}\r\nCall-ID: c{t}\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:caller@{addr}>\r\n",
            did = self.did,
            to = self.to
        );
        match body {
            Some(b) => out.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )),
            None => out.push_str("Content-Length: 0\r\n\r\n"),
        }
        out
    }

    /// Sends the INVITE; returns the first response with `status`.
    pub fn invite(&mut self, status: u16) -> Message {
        let sdp = self.sdp("a=sendrecv");
        let invite = self.request("INVITE", "", 1, Some(&sdp));
        self.phone.send(invite.as_bytes());
        self.until(status)
    }

    /// Sends the INVITE with `sdp` as its offer; returns the first
    /// response with `status`.
    pub fn invite_with(&mut self, sdp: &str, status: u16) -> Message {
        let invite = self.request("INVITE", "", 1, Some(sdp));
        self.phone.send(invite.as_bytes());
        self.until(status)
    }

    /// The next response with `status` (others skipped).
    pub fn until(&self, status: u16) -> Message {
        loop {
            let msg = self.phone.recv();
            if msg.status() == Some(status) {
                return msg;
            }
        }
    }

    /// ACKs a 2xx and remembers the dialog's To.
    pub fn ack(&mut self, ok: &Message) {
        self.to = ok.to().as_str().to_string();
        let cseq = ok.cseq().seq;
        let ack = self.request("ACK", &format!("ack{cseq}"), cseq, None);
        self.phone.send(ack.as_bytes());
    }

    /// A re-INVITE offering `direction`; returns the 200, ACKed.
    pub fn reinvite(&mut self, direction: &str) -> Message {
        let sdp = self.sdp(direction);
        self.reinvite_with(&sdp)
    }

    /// A re-INVITE offering `sdp` as given; returns the 200, ACKed.
    pub fn reinvite_with(&mut self, sdp: &str) -> Message {
        self.cseq += 1;
        let req = self.request("INVITE", &format!("re{}", self.cseq), self.cseq, Some(sdp));
        self.phone.send(req.as_bytes());
        let ok = self.until(200);
        self.ack(&ok);
        ok
    }

    /// The next in-dialog request (`method` at the next CSeq), not sent:
    /// for tests that race two requests of one dialog.
    pub fn next_request(&mut self, method: &str, body: Option<&str>) -> String {
        self.cseq += 1;
        let branch = format!("{}{}", method.to_ascii_lowercase(), self.cseq);
        self.request(method, &branch, self.cseq, body)
    }

    /// The INVITE with our PCMU offer, not sent.
    pub fn invite_request(&self) -> String {
        self.request("INVITE", "", 1, Some(&self.sdp("a=sendrecv")))
    }

    pub fn bye(&mut self) -> Message {
        self.cseq += 1;
        let bye = self.request("BYE", "bye", self.cseq, None);
        self.phone.send(bye.as_bytes());
        self.until(200)
    }
}

/// Sends a PCMU sine of `freq_hz` from `sock` to `to` for `for_how_long`,
/// one 20 ms packet at a time.
pub fn send_tone(sock: &UdpSocket, to: SocketAddr, freq_hz: f64, for_how_long: Duration) {
    let mut sine = switchyard::media::tone::Sine::new(freq_hz, 8000, 0.3);
    let mut pcm = [0i16; 160];
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < for_how_long {
        sine.fill(&mut pcm);
        let mut pkt = vec![0x80, 0];
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&n.wrapping_mul(160).to_be_bytes());
        pkt.extend_from_slice(&0xCA11u32.to_be_bytes());
        pkt.extend(pcm.iter().map(|&s| switchyard::media::g711::ulaw_encode(s)));
        let _ = sock.send_to(&pkt, to);
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a `freq_hz` tone at 16 kHz as G.722 (PT 9, RTP clock 8000,
/// RFC 3551 §4.5.2) from `sock` to `to` every 20 ms for `for_how_long`.
pub fn send_g722_tone(sock: &UdpSocket, to: SocketAddr, freq_hz: f64, for_how_long: Duration) {
    use switchyard::media::g722;
    let mut sine = switchyard::media::tone::Sine::new(freq_hz, g722::SAMPLE_RATE_HZ, 0.3);
    let mut encoder = g722::Encoder::new();
    let mut pcm = [0i16; g722::FRAME_SAMPLES];
    let mut payload = [0u8; g722::FRAME_BYTES];
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < for_how_long {
        sine.fill(&mut pcm);
        encoder.encode(&pcm, &mut payload).expect("one 20 ms frame");
        let mut pkt = vec![0x80, 9];
        pkt.extend_from_slice(&(n as u16).to_be_bytes());
        pkt.extend_from_slice(&n.wrapping_mul(160).to_be_bytes());
        pkt.extend_from_slice(&0x6722u32.to_be_bytes());
        pkt.extend_from_slice(&payload);
        let _ = sock.send_to(&pkt, to);
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// RTP packets arriving at `sock` for `for_how_long`.
pub fn rtp_heard(sock: &UdpSocket, for_how_long: Duration) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + for_how_long;
    let mut buf = [0u8; 2048];
    let mut packets = Vec::new();
    while Instant::now() < deadline {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if n > 12 {
                packets.push(buf[..n].to_vec());
            }
        }
    }
    packets
}

/// Asserts that every `switchyard_rtp_packets_dropped_total{reason}` is 0
/// once the switch's media legs are gone (their counters flushed): what an
/// interop test must leave behind (issue 10).
pub fn assert_no_rtp_drops(switch: &SwitchProc) {
    switch.wait_metric("switchyard_media_legs_active", |v| v == 0.0);
    // Counters are published every 500 ms: one more round after the legs end.
    std::thread::sleep(Duration::from_millis(600));
    let metrics = switch.metrics();
    let drops: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("switchyard_rtp_packets_dropped_total{"))
        .collect();
    assert!(!drops.is_empty(), "drop counters are exported");
    assert!(
        drops.iter().all(|l| l.ends_with(" 0")),
        "no packet dropped: {drops:#?}"
    );
}

/// Asserts that `sdp` (what one side received) is the switch's own: our
/// `o=` line, none of the far side's `o=` lines (`far_origins`, as that
/// side wrote them) and none of its own attributes (`far_attributes`).
pub fn assert_our_sdp(sdp: &str, who: &str, far_origins: &[String], far_attributes: &[&str]) {
    assert!(
        sdp.contains("o=switchyard "),
        "no o= line of ours at the {who}:\n{sdp}"
    );
    for origin in far_origins {
        assert!(
            !sdp.contains(origin.as_str()),
            "the far leg's {origin:?} reached the {who}:\n{sdp}"
        );
    }
    for attribute in far_attributes {
        assert!(
            !sdp.contains(attribute),
            "the far leg's {attribute:?} reached the {who}:\n{sdp}"
        );
    }
}

/// The `o=` lines in `text` (an SDP, a SIP trace) that are not ours.
pub fn foreign_origins(text: &str) -> Vec<String> {
    let mut origins: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("o=") && !l.starts_with("o=switchyard "))
        .map(str::to_string)
        .collect();
    origins.sort();
    origins.dedup();
    origins
}

/// The share of `pcm`'s 100 ms stretches that carry `freq_hz` (Goertzel):
/// a phone's jitter buffer may open a gap or shift the phase where a
/// stream starts, which a single Goertzel over the whole recording would
/// count against the tone.
pub fn tone_share(pcm: &[i16], freq_hz: f64, rate: u32) -> f64 {
    let stretches: Vec<&[i16]> = pcm.chunks_exact(rate as usize / 10).collect();
    let with_tone = stretches
        .iter()
        .filter(|s| switchyard::media::tone::tone_present(s, freq_hz, rate))
        .count();
    with_tone as f64 / stretches.len().max(1) as f64
}
