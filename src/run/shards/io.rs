//! The shards' syscalls: waiting on the SIP socket, and sending a run of
//! datagrams with one sendmmsg(2) each, straight from their buffers.

use std::io;
use std::mem::zeroed;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use bytes::Bytes;

use crate::media::relay::transmit::write_sockaddr;

/// Datagrams given to one sendmmsg call.
const SEND_BATCH: usize = 16;
/// How long a send waits for room in a full socket buffer, once.
const SEND_WAIT_MS: i32 = 20;

/// Waits up to `ms` for `fd` to have `events` (POLLIN, POLLOUT).
pub fn wait(fd: RawFd, events: libc::c_short, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, owned by this frame.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n > 0 && p.revents & events != 0
}

/// Sends every datagram of `list`; returns how many were not sent.
pub fn send_batch(fd: RawFd, list: &[(SocketAddr, Bytes)]) -> usize {
    list.chunks(SEND_BATCH).map(|run| send_run(fd, run)).sum()
}

fn send_run(fd: RawFd, run: &[(SocketAddr, Bytes)]) -> usize {
    // SAFETY: plain old data; all-zero is valid for each.
    let mut addrs: [libc::sockaddr_in6; SEND_BATCH] = unsafe { zeroed() };
    let mut iov: [libc::iovec; SEND_BATCH] = unsafe { zeroed() };
    let mut msgs: [libc::mmsghdr; SEND_BATCH] = unsafe { zeroed() };
    for (k, (dst, bytes)) in run.iter().enumerate() {
        let name_len = write_sockaddr(*dst, &mut addrs[k]);
        // The kernel only reads through this pointer.
        iov[k].iov_base = bytes.as_ptr().cast_mut().cast();
        iov[k].iov_len = bytes.len();
        let h = &mut msgs[k].msg_hdr;
        h.msg_name = (&mut addrs[k] as *mut libc::sockaddr_in6).cast();
        h.msg_namelen = name_len;
        h.msg_iov = &mut iov[k];
        h.msg_iovlen = 1;
    }
    let (mut sent, mut failed, mut waited) = (0, 0, false);
    while sent < run.len() {
        // SAFETY: the headers point into `run` and this frame's arrays,
        // which outlive the call.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                msgs[sent..].as_mut_ptr(),
                (run.len() - sent) as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n > 0 {
            sent += n as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            // A full buffer: wait for room once per run, as the old
            // awaited send did, then count what still does not fit.
            io::ErrorKind::WouldBlock if !waited => {
                waited = true;
                wait(fd, libc::POLLOUT, SEND_WAIT_MS);
            }
            // This one failed (ICMP refused, no route): the rest go on.
            _ => {
                sent += 1;
                failed += 1;
            }
        }
    }
    failed
}
