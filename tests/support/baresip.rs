//! baresip (Debian's 1.0.0) as a real agent phone: a private config dir,
//! SIP and RTP on 127.0.0.1 ports picked per test, a WAV file as its
//! microphone (`aufile`) and the `sndfile` filter recording what it hears.
//! It runs without a UI module and is ended by its PID when dropped.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{free_port_block, tail};

/// Set to `1` to let the baresip tests pass (with a note) where baresip is not installed.
pub const SKIP_ENV: &str = "SWITCHYARD_SKIP_BARESIP";

/// Where Debian's baresip-core puts its modules.
const MODULE_DIRS: [&str; 2] = ["/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules"];

/// The modules a headless phone needs: G.711, a WAV source, the recorder.
const MODULES: [&str; 3] = ["g711.so", "aufile.so", "sndfile.so"];

/// RTP/RTCP ports each baresip gets (one call, with room for re-binds).
const RTP_PORTS: u16 = 10;

/// How long `ctrl_tcp` may take to listen or to answer a command.
const CTRL_TIMEOUT: Duration = Duration::from_secs(10);

/// Lines of baresip's output kept for failure messages.
const LOG_LINES_MAX: usize = 2_000;

/// The module directory when baresip and its modules are installed; else why not.
pub fn installed() -> Result<PathBuf, String> {
    match Command::new("baresip")
        .arg("-h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err("baresip is not on PATH (Debian package baresip-core)".into())
        }
        Err(e) => return Err(format!("baresip does not start: {e}")),
        Ok(_) => {}
    }
    let dir = MODULE_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("g711.so").exists())
        .ok_or_else(|| format!("no baresip module dir with g711.so in {MODULE_DIRS:?}"))?;
    match MODULES.iter().find(|m| !dir.join(m).exists()) {
        Some(m) => Err(format!("baresip module {m} missing in {}", dir.display())),
        None => Ok(dir),
    }
}

/// The module directory, or `None` (after a note) when baresip is missing and
/// `SWITCHYARD_SKIP_BARESIP=1`; panics when it is missing otherwise (CI installs it).
pub fn require() -> Option<PathBuf> {
    match installed() {
        Ok(dir) => Some(dir),
        Err(why) if std::env::var(SKIP_ENV).as_deref() == Ok("1") => {
            eprintln!("SKIPPED: {why}; {SKIP_ENV}=1 is set");
            None
        }
        Err(why) => panic!(
            "{why}. Install it (apt-get install baresip-core), or set {SKIP_ENV}=1 to skip this test"
        ),
    }
}

/// A running baresip registered (or registering) as one account.
pub struct Baresip {
    child: Child,
    pub dir: PathBuf,
    /// Its SIP port on 127.0.0.1.
    pub sip: SocketAddr,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    /// Its `ctrl_tcp` command port, when started with [`Baresip::start_controlled`].
    ctrl: Option<SocketAddr>,
}

impl Baresip {
    /// Starts baresip in `dir` with one account line (RFC 3261 AOR plus
    /// baresip's `;auth_pass=…;answermode=auto` parameters), speaking
    /// `source_wav` (mono S16 at the codec's rate) and recording what it hears into `dir`.
    /// `codecs` names codec modules loaded beside G.711 (e.g. `g722.so`).
    pub fn start(
        modules: &Path,
        dir: &Path,
        account: &str,
        source_wav: &Path,
        codecs: &[&str],
    ) -> Baresip {
        Baresip::start_with(modules, dir, account, source_wav, codecs, "")
    }

    /// As [`Baresip::start`], with `extra` config lines (e.g. `sip_cafile`).
    pub fn start_with(
        modules: &Path,
        dir: &Path,
        account: &str,
        source_wav: &Path,
        codecs: &[&str],
        extra: &str,
    ) -> Baresip {
        std::fs::create_dir_all(dir).expect("baresip dir");
        // baresip also listens for TLS on the next port up: take both from a
        // block, below the ephemeral range, so no parallel test holds it.
        let sip = SocketAddr::from(([127, 0, 0, 1], free_port_block(2)));
        let rtp = free_port_block(RTP_PORTS);
        let config = format!(
            "poll_method epoll\n\
             sip_listen {sip}\n\
             net_interface 127.0.0.1\n\
             dns_server 127.0.0.1:53\n\
             rtp_ports {rtp}-{rtp_hi}\n\
             audio_source aufile,{src}\n\
             audio_alert aufile,{src}\n\
             module_path {modules}\n\
             module g711.so\n\
             {codecs}\
             module aufile.so\n\
             module sndfile.so\n\
             module_tmp account.so\n\
             snd_path {dir}\n\
             {extra}",
            rtp_hi = rtp + RTP_PORTS - 1,
            src = source_wav.display(),
            modules = modules.display(),
            dir = dir.display(),
            codecs = codecs
                .iter()
                .map(|m| format!("module {m}\n"))
                .collect::<String>(),
        );
        std::fs::write(dir.join("config"), config).expect("write baresip config");
        std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("write accounts");
        // -4: IPv4 only; -s: SIP trace in the log for failure messages.
        let mut child = Command::new("baresip")
            .args(["-4", "-s", "-f"])
            .arg(dir)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baresip");
        let (tx, rx) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Baresip {
            child,
            dir: dir.to_path_buf(),
            sip,
            lines: rx,
            log: Vec::new(),
            ctrl: None,
        }
    }

    /// As [`Baresip::start`], driven like a user at its keyboard: `menu`
    /// (dial, hangup, transfer) behind `ctrl_tcp` on a port of its own.
    pub fn start_controlled(
        modules: &Path,
        dir: &Path,
        account: &str,
        source_wav: &Path,
        codecs: &[&str],
    ) -> Baresip {
        // Below the ephemeral range, like the SIP ports, and free for TCP.
        let port = (0..100)
            .map(|_| free_port_block(2))
            .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
            .expect("a free TCP port for ctrl_tcp");
        let ctrl = SocketAddr::from(([127, 0, 0, 1], port));
        let extra = format!("module menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen {ctrl}\n");
        let mut phone = Baresip::start_with(modules, dir, account, source_wav, codecs, &extra);
        phone.ctrl = Some(ctrl);
        phone
    }

    /// Runs one of menu's long commands (`dial`, `hangup`, `transfer`, …)
    /// through `ctrl_tcp`; its answer's `data`, or why it failed.
    pub fn command(&mut self, command: &str, params: &str) -> Result<String, String> {
        let ctrl = self.ctrl.expect("started with Baresip::start_controlled");
        // It listens once its modules are loaded, shortly after it starts.
        let deadline = Instant::now() + CTRL_TIMEOUT;
        let mut stream = loop {
            match TcpStream::connect_timeout(&ctrl, CTRL_TIMEOUT) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("connect ctrl_tcp {ctrl}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(CTRL_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let json =
            serde_json::json!({"command": command, "params": params, "token": "t"}).to_string();
        // ctrl_tcp speaks netstrings: `<length>:<json>,`.
        stream
            .write_all(format!("{}:{json},", json.len()).as_bytes())
            .map_err(|e| format!("send to ctrl_tcp: {e}"))?;
        let mut reader = BufReader::new(stream);
        // Events may come first on the same connection; the answer has `response`.
        for _ in 0..100 {
            let mut len = Vec::new();
            reader
                .read_until(b':', &mut len)
                .map_err(|e| format!("read ctrl_tcp: {e}"))?;
            let len: usize = std::str::from_utf8(&len[..len.len().saturating_sub(1)])
                .ok()
                .and_then(|l| l.trim().parse().ok())
                .ok_or_else(|| format!("bad netstring length {len:?}"))?;
            let mut body = vec![0u8; len + 1];
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("read ctrl_tcp: {e}"))?;
            let value: serde_json::Value = serde_json::from_slice(&body[..len])
                .map_err(|e| format!("ctrl_tcp sent no JSON: {e}"))?;
            if value["response"] == true {
                let data = value["data"].as_str().unwrap_or("").to_string();
                return match value["ok"] == true {
                    true => Ok(data),
                    false => Err(data),
                };
            }
        }
        Err("ctrl_tcp sent no answer".into())
    }

    /// Waits for an output line containing `needle`; panics with the log
    /// after `timeout`, or at once when a line contains `fatal`.
    pub fn expect_line(&mut self, needle: &str, fatal: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => panic!(
                    "baresip printed no line with {needle:?} in {timeout:?}; its output:\n{}",
                    self.log()
                ),
            };
            if self.log.len() < LOG_LINES_MAX {
                self.log.push(line.clone());
            }
            if line.contains(needle) {
                return line;
            }
            if let Some(f) = fatal.iter().find(|f| line.contains(**f)) {
                panic!("baresip printed {f:?}; its output:\n{}", self.log());
            }
        }
    }

    /// What baresip printed so far (the last 200 lines).
    pub fn log(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            if self.log.len() < LOG_LINES_MAX {
                self.log.push(line);
            }
        }
        tail(&self.log.join("\n"), 200)
    }

    /// Everything baresip printed so far (its SIP trace included), up to
    /// the lines kept.
    pub fn output(&mut self) -> String {
        self.log();
        self.log.join("\n")
    }

    /// The WAV `sndfile` wrote of the audio baresip received and decoded
    /// (`dump-<time>-dec.wav`); complete once the call has ended.
    pub fn recording(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with("-dec.wav"))
            })
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            eprintln!("---- baresip output ({}) ----\n{log}", self.dir.display());
        }
    }
}

/// Writes `secs` seconds of a `freq_hz` sine as mono 16-bit WAV at
/// `rate_hz` (baresip 1.0's `aufile` takes only the codec's own rate).
pub fn write_tone_wav(path: &Path, freq_hz: f64, secs: u32, rate_hz: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    let mut sine = switchyard::media::tone::Sine::new(freq_hz, rate_hz, 0.3);
    let mut block = vec![0i16; rate_hz as usize];
    for _ in 0..secs {
        sine.fill(&mut block);
        for &s in &block {
            w.write_sample(s).expect("write wav sample");
        }
    }
    w.finalize().expect("finalize wav");
}

/// Reads a mono 16-bit WAV: its samples and its sample rate (baresip
/// records at the codec's rate, 16 kHz for G.722).
pub fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let rate = r.spec().sample_rate;
    (r.samples::<i16>().map_while(Result::ok).collect(), rate)
}
