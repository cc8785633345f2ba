//! Batched receive with recvmmsg(2). One call takes every datagram queued
//! on a socket (up to [`RECV_BATCH`]) and, when it returns fewer, tells us
//! the queue is empty, so the relay thread moves on from the socket without
//! the extra `recvfrom` that would only answer EAGAIN. At 50 packets/s per
//! socket that saves one of the three syscalls each relayed packet costs.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use super::PACKET_BYTES_MAX;

/// Datagrams taken per recvmmsg call.
pub const RECV_BATCH: usize = 4;

/// Receive buffers for `N` datagrams of up to `size` bytes each,
/// allocated once with the thread that reads (a relay thread: RTP-sized;
/// the SIP receiver: a whole UDP datagram).
pub(crate) struct RecvBatch<const N: usize = RECV_BATCH> {
    bufs: Vec<u8>,
    size: usize,
    addrs: [libc::sockaddr_storage; N],
    lens: [usize; N],
    truncated: [bool; N],
}

impl RecvBatch {
    /// A relay thread's batch.
    pub fn new() -> Box<Self> {
        RecvBatch::with_size(PACKET_BYTES_MAX)
    }
}

impl<const N: usize> RecvBatch<N> {
    pub fn with_size(size: usize) -> Box<Self> {
        Box::new(Self {
            bufs: vec![0; N * size],
            size,
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            addrs: unsafe { zeroed() },
            lens: [0; N],
            truncated: [false; N],
        })
    }

    /// Takes up to `N` datagrams from `fd` without blocking.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
        let mut iov: [libc::iovec; N] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; N] = unsafe { zeroed() };
        for (i, buf) in self.bufs.chunks_exact_mut(self.size).enumerate() {
            iov[i].iov_base = buf.as_mut_ptr().cast();
            iov[i].iov_len = self.size;
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: every header points into buffers owned by `self` or by
        // this frame, which outlive the call; the kernel writes within the
        // lengths given.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                N as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, m) in msgs.iter().enumerate().take(n) {
            self.lens[i] = (m.msg_len as usize).min(self.size);
            self.truncated[i] = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`recv`](Self::recv) and its source;
    /// `None` for one cut short by the buffer or from an unknown family.
    pub fn packet(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        if self.truncated[i] {
            return None;
        }
        let src = to_socket_addr(&self.addrs[i])?;
        let start = i * self.size;
        Some((&mut self.bufs[start..start + self.lens[i]], src))
    }
}

pub(crate) fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}
