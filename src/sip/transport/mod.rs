//! The SIP sockets (driver): one UDP socket, and a TCP listener whose
//! connections are framed by Content-Length (RFC 3261 §18.3) and handed to
//! the switch task as whole messages. Idle streams are closed; a request
//! over the size limit gets 413 (RFC 3261 §21.4.11) before its stream is
//! closed (a stream cannot be resynchronised past an unread body).
//! TLS connections ([`tls`]) run the same framing over the decrypted stream.

#![allow(clippy::disallowed_methods)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::debug;

use crate::sip::build;
use crate::sip::limits::{MESSAGE_BYTES_MAX, TCP_CONNECTIONS_MAX, TCP_IDLE_TIMEOUT};
use crate::sip::parse::{salvage, Message, ParseError};
use crate::sip::{Peer, Transport};

pub mod tls;

/// Kernel buffer for the UDP socket: bursts of thousands of calls per second
/// overflow the default 208 KiB.
pub const UDP_BUFFER_BYTES: usize = 4 << 20;
/// Messages queued to one TCP connection's writer before we drop more.
pub const TCP_WRITE_QUEUE_MAX: usize = 256;
/// Frames queued from all TCP connections to the switch task.
pub const TCP_EVENTS_MAX: usize = 4096;

/// What TCP and TLS connections tell the switch task; the peer's
/// transport tells which, so one table holds both.
#[derive(Debug)]
pub enum TcpEvent {
    Opened {
        peer: Peer,
        writer: mpsc::Sender<Bytes>,
    },
    Frame {
        peer: Peer,
        bytes: Bytes,
    },
    Closed {
        peer: Peer,
    },
}

/// Binds the UDP socket with large buffers.
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.*mem_max.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Counts open connections against `TCP_CONNECTIONS_MAX`.
#[derive(Debug, Default)]
pub struct TcpCounters {
    pub open: AtomicUsize,
    pub refused: AtomicUsize,
    pub framing_errors: AtomicUsize,
    /// Messages over [`MESSAGE_BYTES_MAX`]; requests among them got 413.
    pub oversized: AtomicUsize,
    /// TLS handshakes done, and failed or timed out (both directions).
    pub tls_handshakes: AtomicUsize,
    pub tls_handshakes_failed: AtomicUsize,
}

/// How long a closing connection may take to write its last answer.
const CLOSE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Accepts connections until the listener fails.
pub async fn accept_loop(
    listener: TcpListener,
    events: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                debug!(%err, "accept failed");
                continue;
            }
        };
        if counters.open.load(Ordering::Relaxed) >= TCP_CONNECTIONS_MAX {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let peer = Peer {
            transport: Transport::Tcp,
            addr: peer,
        };
        spawn_connection(stream, peer, events.clone(), counters.clone());
    }
}

/// Opens a connection to `peer` for messages we originate; the returned
/// sender queues them until the connection is up.
pub fn connect(
    peer: SocketAddr,
    events: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
) -> mpsc::Sender<Bytes> {
    let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE_MAX);
    let pong = tx.clone();
    let peer = Peer {
        transport: Transport::Tcp,
        addr: peer,
    };
    tokio::spawn(async move {
        match TcpStream::connect(peer.addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                run_connection(stream, peer, events, counters, (pong, rx)).await
            }
            Err(err) => {
                debug!(%peer, %err, "tcp connect failed");
                let _ = events.send(TcpEvent::Closed { peer }).await;
            }
        }
    });
    tx
}

fn spawn_connection(
    stream: TcpStream,
    peer: Peer,
    events: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
) {
    let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE_MAX);
    let pong = tx.clone();
    tokio::spawn(async move {
        if events
            .send(TcpEvent::Opened { peer, writer: tx })
            .await
            .is_err()
        {
            return;
        }
        let _ = stream.set_nodelay(true);
        run_connection(stream, peer, events, counters, (pong, rx)).await;
    });
}

/// Frames one connection's stream (TCP, or TLS once its handshake is
/// done) into messages for the switch task, and writes what it queues.
async fn run_connection<S>(
    stream: S,
    peer: Peer,
    events: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
    (pong, mut outgoing): (mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>),
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    counters.open.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut write_task = tokio::spawn(async move {
        while let Some(bytes) = outgoing.recv().await {
            // An empty write asks to close once what was queued is out.
            if bytes.is_empty() {
                let _ = writer.shutdown().await;
                break;
            }
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(8192);
    'read: loop {
        let read = tokio::time::timeout(TCP_IDLE_TIMEOUT, reader.read_buf(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Err(_) => {
                debug!(%peer, "tcp connection idle, closing");
                break;
            }
            Ok(Ok(_)) => {}
        }
        loop {
            // Keep-alive CRLFs between messages (RFC 5626 §3.5.1): a
            // double-CRLF ping gets a single-CRLF pong (§4.4.1).
            let mut crlfs = 0;
            while buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
                crlfs += usize::from(buf[0] == b'\n');
                buf.advance(1);
            }
            if crlfs >= 2 {
                let _ = pong.try_send(Bytes::from_static(b"\r\n"));
            }
            if buf.is_empty() {
                break;
            }
            match Message::frame(&buf) {
                Ok(Some(len)) => {
                    let frame = buf.split_to(len).freeze();
                    if events
                        .send(TcpEvent::Frame { peer, bytes: frame })
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Ok(None) if buf.len() > MESSAGE_BYTES_MAX => {
                    too_large(&buf, peer, &counters, &pong, &mut write_task).await;
                    break 'read;
                }
                Ok(None) => break,
                Err(ParseError::TooLarge) => {
                    too_large(&buf, peer, &counters, &pong, &mut write_task).await;
                    break 'read;
                }
                Err(err) => {
                    // A stream we cannot frame cannot be resynchronised: close it.
                    debug!(%peer, %err, "tcp framing error, closing");
                    counters.framing_errors.fetch_add(1, Ordering::Relaxed);
                    break 'read;
                }
            }
        }
    }
    write_task.abort();
    counters.open.fetch_sub(1, Ordering::Relaxed);
    let _ = events.send(TcpEvent::Closed { peer }).await;
}

/// A message over [`MESSAGE_BYTES_MAX`]: a request is answered 413 from
/// what its head says, then the connection is closed once the answer is
/// written (bounded by [`CLOSE_WRITE_TIMEOUT`]).
async fn too_large(
    buf: &[u8],
    peer: Peer,
    counters: &TcpCounters,
    writer: &mpsc::Sender<Bytes>,
    write_task: &mut tokio::task::JoinHandle<()>,
) {
    counters.oversized.fetch_add(1, Ordering::Relaxed);
    debug!(%peer, bytes = buf.len(), "sip message over the size limit, closing");
    let from = peer;
    let warning = format!("message over {MESSAGE_BYTES_MAX} bytes");
    let answer = salvage(buf)
        .and_then(|s| build::response_to_salvage(&s, from, 413, build::reason(413), &warning));
    if let Some(bytes) = answer {
        let _ = writer.send(bytes).await;
    }
    let _ = writer.send(Bytes::new()).await;
    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, write_task).await;
}
