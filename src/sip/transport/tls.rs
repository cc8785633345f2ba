//! SIP over TLS (RFC 3261 §26.2, driver): the server and client configs
//! (rustls with ring, TLS 1.2 and 1.3), the self-signed certificate made
//! when none is configured, and the accept and connect paths. Once the
//! handshake is done a TLS connection is framed exactly as TCP is, by
//! [`super::run_connection`]; its flows (RFC 5626) close the same way.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::debug;

use super::{run_connection, TcpCounters, TcpEvent, TCP_WRITE_QUEUE_MAX};
use crate::sip::limits::TCP_CONNECTIONS_MAX;
use crate::sip::{Peer, Transport};

/// File names of the self-signed pair, beside the call records.
pub const SELF_SIGNED_CERT: &str = "switchyard-tls.crt";
pub const SELF_SIGNED_KEY: &str = "switchyard-tls.key";
/// Where the system's roots are when no `[tls].ca` is given (Debian).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why TLS could not be set up; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("{path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
}

/// What the switch serves and trusts over TLS.
#[derive(Clone)]
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
    /// SHA-256 of our certificate, as `AB:CD:…`.
    pub fingerprint: String,
    pub handshake_timeout: Duration,
}

/// The ring provider: the only one built in (no aws-lc). rustls 0.23.48
/// deprecates it for lacking post-quantum key exchange, which SIP phones
/// do not offer anyway.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Bad {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsError::NoKey {
        path: path.to_owned(),
    })
}

/// The server config from a chain and its key; a key that does not match
/// the certificate is refused here, not at the first handshake.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certificates(cert)?;
    let key_der = load_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsError::Bad {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(Arc::new(config))
}

/// The client config for trunks: their certificates must chain to `ca`,
/// else to the system's roots.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let path = ca.unwrap_or(Path::new(SYSTEM_ROOTS));
    let mut roots = RootCertStore::empty();
    match load_certificates(path) {
        Ok(certs) => {
            roots.add_parsable_certificates(certs);
        }
        // No system roots is not fatal: trunks over TLS then fail their
        // handshakes, counted and logged, and the rest of the switch runs.
        Err(err) if ca.is_none() => debug!(%err, "no system roots for TLS trunks"),
        Err(err) => return Err(err),
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The configured pair, or the self-signed one in `dir` (made now when
/// absent, the key written 0600).
pub fn certificate_paths(
    configured: Option<(&Path, &Path)>,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), TlsError> {
    if let Some((cert, key)) = configured {
        return Ok((cert.to_owned(), key.to_owned()));
    }
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let names = vec!["localhost".to_owned(), "switchyard".to_owned()];
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params.subject_alt_names.push(rcgen::SanType::IpAddress(
        std::net::Ipv4Addr::LOCALHOST.into(),
    ));
    let pair = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let made = params
        .self_signed(&pair)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(&key, pair.serialize_pem().as_bytes())?;
    fs::write(&cert, made.pem()).map_err(|source| TlsError::Write {
        path: cert.clone(),
        source,
    })?;
    Ok((cert, key))
}

/// SHA-256 of the first certificate in `cert`, hex pairs joined by `:`
/// (what phones show when asked to trust it).
pub fn fingerprint(cert: &Path) -> Result<String, TlsError> {
    use sha2::Digest;
    let chain = load_certificates(cert)?;
    let digest = sha2::Sha256::digest(chain[0].as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    Ok(hex.join(":"))
}

/// Everything TLS needs, from the `[tls]` section; `dir` holds the
/// self-signed pair when none is configured.
pub fn setup(tls: &crate::config::TlsConfig, dir: &Path) -> Result<TlsSetup, TlsError> {
    let configured = tls.certificate.as_deref().zip(tls.key.as_deref());
    let (cert, key) = certificate_paths(configured, dir)?;
    let server = server_config(&cert, &key)?;
    let client = client_config(tls.ca.as_deref())?;
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(server),
        connector: TlsConnector::from(client),
        fingerprint: fingerprint(&cert)?,
        handshake_timeout: tls.handshake_timeout,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let err = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(err)?;
    file.write_all(bytes).map_err(err)
}

/// Accepts TLS connections until the listener fails. Each handshake runs
/// in its own task under `handshake_timeout`, holding a connection slot.
pub async fn accept_loop(
    listener: TcpListener,
    setup: TlsSetup,
    events: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(err) => {
                debug!(%err, "tls accept failed");
                continue;
            }
        };
        if counters.open.load(Ordering::Relaxed) >= TCP_CONNECTIONS_MAX {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let peer = Peer {
            transport: Transport::Tls,
            addr,
        };
        let (setup, events, counters) = (setup.clone(), events.clone(), counters.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            // The slot is held from accept on, so that stalled handshakes
            // count against the connection cap.
            counters.open.fetch_add(1, Ordering::Relaxed);
            let shake = setup.acceptor.accept(stream);
            let result = tokio::time::timeout(setup.handshake_timeout, shake).await;
            counters.open.fetch_sub(1, Ordering::Relaxed);
            let stream = match result {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    counters
                        .tls_handshakes_failed
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(%peer, %err, "tls handshake failed");
                    return;
                }
                Err(_) => {
                    counters
                        .tls_handshakes_failed
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(%peer, "tls handshake timed out");
                    return;
                }
            };
            counters.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE_MAX);
            let pong = tx.clone();
            if events
                .send(TcpEvent::Opened { peer, writer: tx })
                .await
                .is_err()
            {
                return;
            }
            run_connection(stream, peer, events, counters, (pong, rx)).await;
        });
    }
}

/// Opens a TLS connection to a trunk at `addr` for messages we originate;
/// its certificate must name `addr`'s IP. The returned sender queues
/// messages until the handshake is done.
pub fn connect(
    addr: SocketAddr,
    setup: &TlsSetup,
    events: mpsc::Sender<TcpEvent>,
    counters: Arc<TcpCounters>,
) -> mpsc::Sender<Bytes> {
    let (tx, rx) = mpsc::channel(TCP_WRITE_QUEUE_MAX);
    let pong = tx.clone();
    let peer = Peer {
        transport: Transport::Tls,
        addr,
    };
    let (connector, timeout) = (setup.connector.clone(), setup.handshake_timeout);
    tokio::spawn(async move {
        let name = ServerName::IpAddress(addr.ip().into());
        let shake = async {
            let stream = TcpStream::connect(addr).await?;
            let _ = stream.set_nodelay(true);
            connector.connect(name, stream).await
        };
        match tokio::time::timeout(timeout, shake).await {
            Ok(Ok(stream)) => {
                counters.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                run_connection(stream, peer, events, counters, (pong, rx)).await;
            }
            failed => {
                counters
                    .tls_handshakes_failed
                    .fetch_add(1, Ordering::Relaxed);
                let err = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(%peer, %err, "tls connection to trunk failed");
                let _ = events.send(TcpEvent::Closed { peer }).await;
            }
        }
    });
    tx
}
