//! linphone (Debian's linphone-cli 5.1, `linphonec`) as a real agent phone:
//! a private HOME and config, SIP and RTP on 127.0.0.1 ports picked per
//! test, auto-answer, commands written to its console (`pause`, `resume`)
//! and its console lines awaited with a bounded timeout. Its SIP log
//! (`-l`) holds every message it sent and received. It is ended by its
//! PID when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{free_port_block, free_udp_port, EVENT_TIMEOUT};

/// Set to `1` to let the linphone tests pass (with a note) where it is not installed.
pub const SKIP_ENV: &str = "SWITCHYARD_SKIP_LINPHONE";

pub struct Linphone {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Console lines read so far, for failure messages.
    seen: Vec<String>,
    log: PathBuf,
    /// Where it receives RTP.
    pub rtp_port: u16,
}

/// Whether linphonec can run here: `None` (after a note) when it is missing
/// and `SWITCHYARD_SKIP_LINPHONE=1`; panics when missing otherwise (CI installs it).
pub fn require() -> Option<()> {
    let found = Command::new("linphonec")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        return Some(());
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        eprintln!("note: linphonec is not installed; skipped ({SKIP_ENV}=1)");
        return None;
    }
    panic!("linphonec is not on PATH (Debian package linphone-cli; or set {SKIP_ENV}=1)");
}

impl Linphone {
    /// Starts linphonec in `dir` registering `user` with `password` in
    /// `realm` at the switch, answering calls by itself.
    pub fn start(
        dir: &Path,
        switch: SocketAddr,
        user: &str,
        password: &str,
        realm: &str,
    ) -> Linphone {
        let account = format!(
            "[proxy_0]\nreg_proxy=<sip:{switch};transport=udp>\nreg_identity=sip:{user}@{ip}\n\
             reg_expires=600\nreg_sendregister=1\n\
             [auth_info_0]\nusername={user}\npasswd={password}\nrealm={realm}\n",
            ip = switch.ip()
        );
        Linphone::spawn(dir, "default_proxy=0\n", &account)
    }

    /// Starts linphonec in `dir` as a customer's phone: no account, no
    /// registration, its default codecs (Opus first); it dials the switch
    /// directly, as a carrier's caller does ([`Linphone::command`] `call`).
    pub fn caller(dir: &Path) -> Linphone {
        Linphone::spawn(dir, "contact=sip:customer@127.0.0.1\n", "")
    }

    /// linphonec with its SIP and RTP ports picked here, `sip` lines added
    /// to its `[sip]` section and `sections` after the others. Its media
    /// address is 127.0.0.1 (`[rtp] bind_address`): left to itself, an
    /// unregistered linphonec advertises the host's default-route address
    /// in its SDP (here an IPv6 one, which the switch's IPv4 relay cannot
    /// reach before it latches, and which is off loopback).
    fn spawn(dir: &Path, sip: &str, sections: &str) -> Linphone {
        let home = dir.join("linphone-home");
        // linphonec refuses to start without its data directory.
        std::fs::create_dir_all(home.join(".local/share/linphone")).expect("linphone home");
        let sip_port = free_udp_port();
        let rtp_port = free_port_block(4);
        let rc = dir.join("linphonerc");
        let config = format!(
            "[sip]\nsip_port={sip_port}\nsip_tcp_port=0\nsip_tls_port=0\n{sip}ipv6=0\n\
             [rtp]\naudio_rtp_port={rtp_port}\nbind_address=127.0.0.1\n\
             [sound]\nechocancellation=0\n{sections}"
        );
        std::fs::write(&rc, config).expect("write linphonerc");
        let log = dir.join("linphone.log");
        let mut child = Command::new("linphonec")
            .arg("-a")
            .arg("-c")
            .arg(&rc)
            .args(["-d", "1", "-l"])
            .arg(&log)
            .env("HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start linphonec (Debian package linphone-cli)");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Linphone {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            log,
            rtp_port,
        }
    }

    /// Types a console command.
    pub fn command(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("write to linphonec");
        self.stdin.flush().expect("flush linphonec");
    }

    /// Waits for a console line containing `needle`; returns it.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "linphonec never said {needle:?}; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Console lines read so far, waiting `settle` for more first.
    pub fn console(&mut self, settle: Duration) -> Vec<String> {
        let deadline = Instant::now() + settle;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    /// Its SIP log: every message it sent and received.
    pub fn sip_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
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
