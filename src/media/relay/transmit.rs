//! What a call's media core has to send, queued until its driver sends it:
//! the core does no IO, so it can run in virtual time in tests, and the
//! driver sends each socket's run of packets with one sendmmsg(2).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::PACKET_BYTES_MAX;

/// Packets queued per call before more are refused (the driver empties the
/// queue after every packet batch, timer and command, so this is slack).
pub const TRANSMITS_MAX: usize = 64;
/// Packets given to one sendmmsg call (its headers are zeroed on the
/// stack each call, and most runs are one packet).
const SEND_BATCH: usize = 8;

/// One packet to send: from socket `socket` of the call (2n: leg n's RTP,
/// 2n + 1: its RTCP) to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub socket: usize,
    pub dst: SocketAddr,
    start: usize,
    len: usize,
}

/// Packets queued by a call's core, their bytes in one reused arena.
#[derive(Default)]
pub struct Transmits {
    bytes: Vec<u8>,
    queued: Vec<Transmit>,
}

/// The queue is full: the packet is dropped as a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl Transmits {
    /// Queues a copy of `packet`.
    pub fn push(&mut self, socket: usize, packet: &[u8], dst: SocketAddr) -> Result<(), QueueFull> {
        if self.queued.len() >= TRANSMITS_MAX || packet.len() > PACKET_BYTES_MAX {
            return Err(QueueFull);
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(packet);
        self.queued.push(Transmit {
            socket,
            dst,
            start,
            len: packet.len(),
        });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Queued packet `i` and its bytes.
    #[cfg(test)]
    pub fn get(&self, i: usize) -> Option<(Transmit, &[u8])> {
        let t = *self.queued.get(i)?;
        Some((t, &self.bytes[t.start..t.start + t.len]))
    }

    /// Empties the queue, keeping its memory.
    pub fn clear(&mut self) {
        self.queued.clear();
        self.bytes.clear();
    }

    /// Sends every queued packet, each run of packets from one socket with
    /// sendmmsg, then empties the queue. `fd_of` maps a socket number to
    /// its descriptor (`None`: the leg is gone, its packets are dropped).
    /// Returns the packets that were not sent (a full socket buffer, an
    /// unreachable peer).
    pub fn send_all(&mut self, fd_of: impl Fn(usize) -> Option<RawFd>) -> usize {
        let mut failed = 0;
        let mut i = 0;
        while i < self.queued.len() {
            let socket = self.queued[i].socket;
            let mut end = i + 1;
            while end < self.queued.len()
                && end - i < SEND_BATCH
                && self.queued[end].socket == socket
            {
                end += 1;
            }
            failed += match fd_of(socket) {
                Some(fd) => self.send_run(fd, i, end),
                None => end - i,
            };
            i = end;
        }
        self.clear();
        failed
    }

    /// Sends queued packets `from..to` (at most [`SEND_BATCH`]) on `fd`;
    /// returns how many were not sent.
    fn send_run(&mut self, fd: RawFd, from: usize, to: usize) -> usize {
        let count = to - from;
        // SAFETY: plain old data; all-zero is valid for each.
        let mut addrs: [libc::sockaddr_in6; SEND_BATCH] = unsafe { zeroed() };
        let mut iov: [libc::iovec; SEND_BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { zeroed() };
        for k in 0..count {
            let t = self.queued[from + k];
            let name_len = write_sockaddr(t.dst, &mut addrs[k]);
            iov[k].iov_base = self.bytes[t.start..].as_mut_ptr().cast();
            iov[k].iov_len = t.len;
            let h = &mut msgs[k].msg_hdr;
            h.msg_name = (&mut addrs[k] as *mut libc::sockaddr_in6).cast();
            h.msg_namelen = name_len;
            h.msg_iov = &mut iov[k];
            h.msg_iovlen = 1;
        }
        let (mut sent, mut failed) = (0, 0);
        while sent < count {
            // SAFETY: the headers point into `self.bytes` and this frame's
            // arrays, which outlive the call; the kernel only reads them.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The packet at `sent` failed (a full buffer, ICMP refused):
                // count it and go on with the rest, as single sends would.
                sent += 1;
                failed += 1;
                continue;
            }
            sent += n as usize;
        }
        failed
    }
}

/// Writes `addr` as a C socket address into room for the larger of the
/// two families; returns its length.
pub(crate) fn write_sockaddr(addr: SocketAddr, out: &mut libc::sockaddr_in6) -> libc::socklen_t {
    const _: () = assert!(size_of::<libc::sockaddr_in>() <= size_of::<libc::sockaddr_in6>());
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: a sockaddr_in fits in a sockaddr_in6, whose alignment
            // is at least its own.
            let s = unsafe { &mut *(out as *mut libc::sockaddr_in6).cast::<libc::sockaddr_in>() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = a.port().to_be();
            s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            out.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            out.sin6_port = a.port().to_be();
            out.sin6_flowinfo = a.flowinfo();
            out.sin6_addr.s6_addr = a.ip().octets();
            out.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn a_full_queue_refuses_and_clear_keeps_nothing() {
        let dst: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let mut q = Transmits::default();
        for i in 0..TRANSMITS_MAX {
            q.push(i % 2, &[i as u8; 12], dst).expect("room");
        }
        assert_eq!(q.push(0, &[0; 12], dst), Err(QueueFull));
        let (t, bytes) = q.get(5).expect("fifth");
        assert_eq!((t.socket, bytes), (1, &[5u8; 12][..]));
        q.clear();
        assert!(q.is_empty() && q.get(0).is_none());
    }

    #[test]
    fn runs_of_packets_arrive_in_order_on_each_socket() {
        let a = UdpSocket::bind("127.0.0.1:0").expect("a");
        let b = UdpSocket::bind("127.0.0.1:0").expect("b");
        let sink = UdpSocket::bind("127.0.0.1:0").expect("sink");
        sink.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let dst = sink.local_addr().expect("addr");
        let mut q = Transmits::default();
        // 20 from socket 0 (three sendmmsg runs), 1 from socket 1, 1 from a gone leg.
        for i in 0..20u8 {
            q.push(0, &[i; 40], dst).expect("room");
        }
        q.push(1, &[99; 40], dst).expect("room");
        q.push(2, &[77; 40], dst).expect("room");
        let fds = [a.as_raw_fd(), b.as_raw_fd()];
        let failed = q.send_all(|s| fds.get(s).copied());
        assert_eq!(failed, 1, "only the gone leg's packet fails");
        assert!(q.is_empty());
        let mut buf = [0u8; 64];
        for i in 0..20u8 {
            let (n, from) = sink.recv_from(&mut buf).expect("packet");
            assert_eq!((n, buf[0], from), (40, i, a.local_addr().expect("a")));
        }
        let (n, from) = sink.recv_from(&mut buf).expect("packet");
        assert_eq!((n, buf[0], from), (40, 99, b.local_addr().expect("b")));
    }
}
