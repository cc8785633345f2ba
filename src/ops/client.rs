//! The command-line client's side of the API: a small blocking HTTP/1.1
//! client over `TcpStream` (the API is plain HTTP on loopback or a LAN, so
//! no client crate is pulled in), the event stream reader, and the tables
//! `switchyard agents|queues|calls` print.

pub mod cli;
mod table;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub use table::{agents_table, calls_table, event_line, queues_table};

/// Where the CLI looks when neither `--api` nor `SWITCHYARD_API` is given.
pub const DEFAULT_API: &str = "http://127.0.0.1:8080";
/// Connect and read timeout of one request.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// A quiet event stream is given up after this (the switch sends a
/// keep-alive every 15 s).
pub const EVENTS_READ_TIMEOUT: Duration = Duration::from_secs(45);
/// Largest response (header or body) read.
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad API address {0:?} (expected e.g. http://127.0.0.1:8080)")]
    Address(String),
    #[error("cannot reach the switch at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to the switch: {0}")]
    Io(#[from] std::io::Error),
    #[error("the switch sent a malformed HTTP response")]
    Malformed,
    #[error("the response is larger than {RESPONSE_BYTES_MAX} bytes")]
    TooLarge,
}

/// One answer: status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One event off the stream.
#[derive(Debug, PartialEq)]
pub struct StreamEvent {
    pub id: Option<u64>,
    pub data: String,
}

/// The API at one address, with one token.
#[derive(Clone, Debug)]
pub struct Client {
    host: String,
    token: Option<String>,
    events_timeout: Duration,
}

impl Client {
    /// `api`: `http://host:port` or `host:port`.
    pub fn new(api: &str, token: Option<String>) -> Result<Client, ClientError> {
        let host = api
            .strip_prefix("http://")
            .unwrap_or(api)
            .trim_end_matches('/');
        if host.is_empty() || host.contains('/') || api.starts_with("https://") {
            return Err(ClientError::Address(api.to_string()));
        }
        Ok(Client {
            host: host.to_string(),
            token,
            events_timeout: EVENTS_READ_TIMEOUT,
        })
    }

    /// How long a read of the event stream may wait (tests shorten it).
    pub fn events_timeout(mut self, timeout: Duration) -> Client {
        self.events_timeout = timeout;
        self
    }

    /// One request; `body` is sent as JSON.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Response, ClientError> {
        let mut reader = self.send(method, path, body, &[], CLIENT_TIMEOUT)?;
        let (status, headers) = read_head(&mut reader)?;
        let mut body = Vec::new();
        let limit = RESPONSE_BYTES_MAX as u64 + 1;
        if is_chunked(&headers) {
            Chunked::new(reader).take(limit).read_to_end(&mut body)?;
        } else {
            reader.take(limit).read_to_end(&mut body)?;
        }
        if body.len() > RESPONSE_BYTES_MAX {
            return Err(ClientError::TooLarge);
        }
        let body = String::from_utf8(body).map_err(|_| ClientError::Malformed)?;
        Ok(Response { status, body })
    }

    /// Opens the event stream, resuming after `last_id` if given. A
    /// refusal comes back as its response.
    pub fn events(&self, last_id: Option<u64>) -> Result<Result<Events, Response>, ClientError> {
        let last = last_id.map(|id| format!("Last-Event-ID: {id}"));
        let extra: Vec<&str> = last.iter().map(String::as_str).collect();
        let mut reader = self.send("GET", "/api/v1/events", None, &extra, self.events_timeout)?;
        let (status, headers) = read_head(&mut reader)?;
        if status != 200 {
            let mut body = String::new();
            reader
                .take(RESPONSE_BYTES_MAX as u64)
                .read_to_string(&mut body)?;
            return Ok(Err(Response { status, body }));
        }
        if !is_chunked(&headers) {
            return Err(ClientError::Malformed);
        }
        Ok(Ok(Events {
            lines: BufReader::new(Chunked::new(reader)),
        }))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &[&str],
        read_timeout: Duration,
    ) -> Result<BufReader<TcpStream>, ClientError> {
        let addr = self
            .host
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ClientError::Address(self.host.clone()))?;
        let stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).map_err(|source| {
            ClientError::Connect {
                addr: self.host.clone(),
                source,
            }
        })?;
        stream.set_read_timeout(Some(read_timeout))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json, text/event-stream\r\n",
            self.host
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for line in extra {
            head.push_str(line);
            head.push_str("\r\n");
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || method != "GET" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut writer = &stream;
        writer.write_all(head.as_bytes())?;
        writer.write_all(body.as_bytes())?;
        Ok(BufReader::new(stream))
    }
}

/// A following event stream.
pub struct Events {
    lines: BufReader<Chunked<BufReader<TcpStream>>>,
}

impl Events {
    /// The next event, `None` when the switch ends the stream.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, ClientError> {
        let mut id = None;
        let mut data = String::new();
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() {
                    return Ok(Some(StreamEvent { id, data }));
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
            if data.len() > RESPONSE_BYTES_MAX {
                return Err(ClientError::TooLarge);
            }
        }
    }
}

type Headers = Vec<(String, String)>;

fn read_head(reader: &mut impl BufRead) -> Result<(u16, Headers), ClientError> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Malformed)?;
    let mut headers = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        total += reader.read_line(&mut line)?;
        if total > RESPONSE_BYTES_MAX {
            return Err(ClientError::TooLarge);
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Ok((status, headers));
        }
        let (name, value) = line.split_once(':').ok_or(ClientError::Malformed)?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn is_chunked(headers: &Headers) -> bool {
    headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
}

/// Reads a chunked body (RFC 9112 §7.1) as plain bytes.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    fn new(inner: R) -> Self {
        Chunked {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let malformed = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk");
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            if line.trim().is_empty() {
                // The CRLF that ends the previous chunk.
                line.clear();
                self.inner.read_line(&mut line)?;
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(size, 16).map_err(|_| malformed())?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(malformed());
        }
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_across_chunks() {
        let wire = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        let mut out = String::new();
        Chunked::new(&wire[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello, world");
        let mut bad = String::new();
        assert!(Chunked::new(&b"zz\r\n"[..])
            .read_to_string(&mut bad)
            .is_err());
    }

    #[test]
    fn addresses_take_an_http_prefix_or_none() {
        assert!(Client::new("http://127.0.0.1:8080/", None).is_ok());
        assert!(Client::new("127.0.0.1:8080", None).is_ok());
        assert!(Client::new("https://x:1", None).is_err());
        assert!(Client::new("http://x:1/api", None).is_err());
    }
}
