//! Binding the switch's listening sockets.

use std::net::SocketAddr;

use tokio::net::{TcpListener, UdpSocket};
use tracing::info;

use super::{StartError, BIND_TRIES_MAX};
use crate::config::Config;
use crate::sip::transport;

/// Binds UDP, then TCP on the same port (retrying when port 0 gave a port
/// that TCP cannot have).
pub(super) async fn bind_sip(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), StartError> {
    let mut last = None;
    for _ in 0..BIND_TRIES_MAX {
        let udp =
            transport::bind_udp(addr).map_err(|source| StartError::BindSip { addr, source })?;
        let bound = udp
            .local_addr()
            .map_err(|source| StartError::BindSip { addr, source })?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if addr.port() == 0 => last = Some(source),
            Err(source) => return Err(StartError::BindSip { addr, source }),
        }
    }
    Err(StartError::BindSip {
        addr,
        source: last.expect("a bind failed"),
    })
}

/// With `[tls]`: the certificate (configured, or self-signed beside the
/// call records, its fingerprint logged) and the bound listener.
pub(super) async fn bind_tls(
    config: &Config,
) -> Result<Option<(transport::tls::TlsSetup, TcpListener, SocketAddr)>, StartError> {
    let Some(tls) = &config.tls else {
        return Ok(None);
    };
    let dir = match config.switch.cdr_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let setup = transport::tls::setup(tls, &dir)?;
    let addr = tls.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::BindTls { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let source = if tls.certificate.is_some() {
        "configured"
    } else {
        "self-signed"
    };
    info!(fingerprint = %setup.fingerprint, source, "TLS certificate (SHA-256)");
    Ok(Some((setup, listener, bound)))
}
