//! The control API over plain HTTP/1.1 on a raw socket (independent of the
//! client in `switchyard::ops::client`), and a dialplan with a token per role.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

use super::EVENT_TIMEOUT;

pub const ADMIN: &str = "t-admin-0123456789";
pub const SUPERVISOR: &str = "t-supervisor-0123456789";
pub const VIEWER: &str = "t-viewer-0123456789";

/// The `[api]` section appended to a test dialplan.
pub fn api_section(connections_max: u32) -> String {
    api_section_with(connections_max, "")
}

/// As [`api_section`], with more keys (`extra`, one per line).
pub fn api_section_with(connections_max: u32, extra: &str) -> String {
    format!(
        r#"
[api]
connections_max = {connections_max}
{extra}
tokens = [
  {{ name = "ops", token = "{ADMIN}", role = "admin" }},
  {{ name = "floor", token = "{SUPERVISOR}", role = "supervisor" }},
  {{ name = "wall", token = "{VIEWER}", role = "viewer" }},
]
"#
    )
}

/// An answer: status, lower-cased headers, body as JSON (Null if not JSON).
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Value,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// One request with `Connection: close`; `body` as given (any bytes).
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Answer {
    let mut stream = TcpStream::connect_timeout(&addr, EVENT_TIMEOUT).expect("connect http");
    stream.set_read_timeout(Some(EVENT_TIMEOUT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or(b"");
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    // A server that refuses early may close before reading everything.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

pub fn get(addr: SocketAddr, path: &str, token: &str) -> Answer {
    call(addr, "GET", path, Some(token), None)
}

pub fn post(addr: SocketAddr, path: &str, token: &str, body: &str) -> Answer {
    call(addr, "POST", path, Some(token), Some(body.as_bytes()))
}

pub fn put(addr: SocketAddr, path: &str, token: &str, body: &str) -> Answer {
    call(addr, "PUT", path, Some(token), Some(body.as_bytes()))
}
