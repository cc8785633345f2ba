//! Kamailio (Debian's 5.6) as a carrier's record-routing SBC on loopback:
//! `tests/kamailio/sbc.cfg`, a port picked per test, its log (one line
//! per request it sees) in the test's directory. It is ended by its PID
//! (SIGTERM, which takes its worker processes down) when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_udp_port, tail, EVENT_TIMEOUT};

/// Set to `1` to let the Kamailio tests pass (with a note) where it is not installed.
pub const SKIP_ENV: &str = "SWITCHYARD_SKIP_KAMAILIO";
/// Shared and private memory for a one-call proxy, in MiB.
const SHM_MB: &str = "64";
const PKG_MB: &str = "8";
/// How long a probe waits for an answer before it is sent again.
const PROBE_WAIT: Duration = Duration::from_millis(300);

pub struct Kamailio {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

/// Whether kamailio can run here: `None` (after a note) when it is missing
/// and `SWITCHYARD_SKIP_KAMAILIO=1`; panics when missing otherwise (CI installs it).
pub fn require() -> Option<()> {
    let found = Command::new("kamailio")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(());
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        eprintln!("note: kamailio is not installed; skipped ({SKIP_ENV}=1)");
        return None;
    }
    panic!("kamailio is not on PATH (Debian package kamailio; or set {SKIP_ENV}=1)");
}

impl Kamailio {
    /// Starts the SBC in `dir`, relaying new requests to `next_hop` (the
    /// switch, or on calls out the carrier's UAS), and waits until it
    /// answers its readiness probe (an OPTIONS to `probe@`).
    pub fn start(dir: &Path, next_hop: SocketAddr) -> Kamailio {
        let port = free_udp_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kamailio/sbc.cfg");
        let run = dir.join("kamailio");
        std::fs::create_dir_all(&run).expect("kamailio run dir");
        let log = dir.join("kamailio.log");
        let out = std::fs::File::create(&log).expect("kamailio log");
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-n", "1", "-m", SHM_MB, "-M", PKG_MB])
            .arg("-Y")
            .arg(&run)
            .arg("-w")
            .arg(&run)
            .arg("-A")
            .arg(format!("LISTEN=udp:{addr}"))
            .arg("-A")
            .arg(format!("NEXT_HOP=\"sip:{next_hop}\""))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("start kamailio");
        let mut k = Kamailio { child, addr, log };
        k.wait_ready();
        k
    }

    /// Every "SBC <method> <uri> si=<source>" line logged so far.
    pub fn seen(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("SBC ").map(|(_, rest)| rest.to_string()))
            .filter(|l| !l.starts_with("OPTIONS"))
            .collect()
    }

    pub fn log(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 60)
    }

    fn wait_ready(&mut self) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        sock.set_read_timeout(Some(PROBE_WAIT)).unwrap();
        let me = sock.local_addr().unwrap();
        let probe = format!(
            "OPTIONS sip:probe@{a} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKprobe{p}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=p\r\nTo: <sip:probe@{a}>\r\n\
             Call-ID: probe-{p}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            a = self.addr,
            p = self.addr.port()
        );
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kamailio exited ({status}):\n{}", self.log());
            }
            let _ = sock.send_to(probe.as_bytes(), self.addr);
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    return;
                }
            }
        }
        panic!("kamailio did not relay an OPTIONS in time:\n{}", self.log());
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
