//! Headless Chromium through chromedriver (W3C WebDriver over plain HTTP on
//! loopback): start it on a free port, open a page, run a script, click,
//! take a screenshot. chromedriver is ended by its PID when the guard
//! drops, after the session (and with it the browser) is closed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// One WebDriver request may take this long (a page load, a screenshot).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; closes it and ends chromedriver on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

/// Whether chromedriver and Chromium are installed (`.ci/run` installs them).
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

impl Browser {
    /// chromedriver on a free loopback port and a headless Chromium session.
    pub fn start(log_dir: &Path, width: u32, height: u32) -> Browser {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let log = std::fs::File::create(log_dir.join("chromedriver.log")).expect("log file");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = TcpStream::connect(addr).is_ok()
                && browser.request("GET", "/status", None)["value"]["ready"] == true;
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut args = vec![
            "--headless=new".to_string(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            format!("--window-size={width},{height}"),
        ];
        // Chromium refuses its sandbox as root (CI containers run as root).
        if running_as_root() {
            args.push("--no-sandbox".into());
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let reply = browser.request("POST", "/session", Some(caps));
        browser.session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_string();
        browser
    }

    pub fn open(&self, url: &str) {
        self.command("POST", "url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// Polls `script` until `want` holds of its value, up to `within`.
    pub fn wait_for(
        &self,
        what: &str,
        script: &str,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let value = self.run(script, json!([]));
            if want(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; last {value}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Clicks the element `css` selects, as a user would. The board
    /// redraws on every update: an element found just before a redraw is
    /// stale by the click, and is looked up again (a few times at most).
    pub fn click(&self, css: &str) {
        const STALE_TRIES: usize = 5;
        for _ in 0..STALE_TRIES {
            let found = self.command(
                "POST",
                "element",
                json!({ "using": "css selector", "value": css }),
            );
            let id = found[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no element {css}: {found}"))
                .to_string();
            let path = format!("/session/{}/element/{id}/click", self.session);
            let reply = self.request("POST", &path, Some(json!({})));
            match reply["value"].get("error").and_then(Value::as_str) {
                None => return,
                Some("stale element reference") => continue,
                Some(_) => panic!("webdriver click {css}: {reply}"),
            }
        }
        panic!("{css}: stale on each of {STALE_TRIES} clicks");
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let value = self.command("GET", "screenshot", Value::Null);
        base64_decode(value.as_str().expect("screenshot is base64"))
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}/{path}", self.session);
        let body = (method == "POST").then_some(body);
        let reply = self.request(method, &path, body);
        if reply["value"].get("error").is_some() {
            panic!("webdriver {method} {path}: {reply}");
        }
        reply["value"].clone()
    }

    /// One HTTP/1.1 request with `Connection: close`; the reply's JSON.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut stream = TcpStream::connect(self.addr).expect("connect chromedriver");
        stream
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .expect("timeout");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        stream.write_all(body.as_bytes()).expect("write");
        // chromedriver may keep the connection open: read by Content-Length
        // (or to the last chunk), not to the end of the stream.
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buf).expect("read reply");
            raw.extend_from_slice(&buf[..n]);
            if n == 0 || reply_complete(&raw) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.request("DELETE", &path, None)
            }));
        }
        // Our own child, by PID.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn running_as_root() -> bool {
    // Our uid from /proc: no libc call needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether `raw` holds a whole HTTP reply.
fn reply_complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let head = head.to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with("0\r\n\r\n");
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| body.len() >= n)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (d << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}
