//! The HTTP surface: `GET /metrics` (Prometheus text format), `GET /healthz`,
//! the wallboard (`super::wallboard`) and the control API (`super::api`) on
//! one listener. Our own accept loop
//! bounds it (`[api]`, defaults in `config::api`): at most `connections_max`
//! connections (the rest wait in the kernel's backlog), request headers
//! within `header_timeout`, and a connection that moves no byte for
//! `idle_timeout` is closed.
//! Anything else gets a JSON 404 or 405.

#![allow(clippy::disallowed_methods)] // a driver: it spawns a task per connection

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::debug;

use super::api::{self, Tokens};
use crate::config::{ApiConfig, Config};
use crate::run::{CommandSender, EventStream};

/// What the switch task publishes for /healthz (and the per-agent series
/// of /metrics), read without blocking it.
#[derive(Debug, Default)]
pub struct Health {
    pub draining: AtomicBool,
    pub calls_active: AtomicU64,
    pub registrations_active: AtomicU64,
    pub agent_states: super::metrics::AgentStates,
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    health: Arc<Health>,
}

/// Everything served on the HTTP listener.
pub fn app(
    metrics: PrometheusHandle,
    health: Arc<Health>,
    commands: CommandSender,
    events: EventStream,
    reloader: Arc<super::reload::Reloader>,
    config: &Config,
) -> Router {
    let tokens = Arc::new(Tokens::new(&config.api));
    let mut open = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(healthz))
        .with_state(AppState { metrics, health });
    if !config.api.open_metrics {
        open = open.layer(axum::middleware::from_fn_with_state(
            tokens.clone(),
            api::require,
        ));
    }
    open.merge(super::wallboard::router())
        .merge(api::router(commands, events, tokens, reloader, config))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Serves `app` on `listener` until `stop` turns true; connections in
/// flight then finish their current request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: ApiConfig,
    mut stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(bounds.connections_max as usize));
    loop {
        let permit = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(err) => {
                // Out of descriptors and the like: the next accept may work.
                debug!(%err, "http accept failed");
                continue;
            }
        };
        let app = app.clone().layer(Extension(ConnectInfo(peer)));
        let stop = stop.clone();
        let timeouts = (bounds.header_timeout, bounds.idle_timeout);
        tokio::spawn(async move {
            connection(stream, app, timeouts, stop).await;
            drop(permit);
        });
    }
}

/// One connection; `timeouts` are (header, idle).
async fn connection(
    stream: TcpStream,
    app: Router,
    (header_timeout, idle_timeout): (Duration, Duration),
    mut stop: watch::Receiver<bool>,
) {
    let moved = Arc::new(AtomicU64::new(0));
    let io = Counted {
        inner: stream,
        moved: moved.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    tokio::pin!(conn);
    let mut seen = 0;
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(idle_timeout) => {
                let now = moved.load(Ordering::Relaxed);
                if now == seen {
                    debug!("idle http connection closed");
                    return;
                }
                seen = now;
            }
        }
    }
}

/// A TCP stream that counts the bytes it moves, for the idle timeout.
struct Counted {
    inner: TcpStream,
    moved: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.moved.fetch_add(n as u64, Ordering::Relaxed);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.moved.fetch_add(n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render() + &state.health.agent_states.render(),
    )
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let draining = state.health.draining.load(Ordering::Relaxed);
    let body = json!({
        "status": if draining { "draining" } else { "ok" },
        "calls_active": state.health.calls_active.load(Ordering::Relaxed),
        "registrations_active": state.health.registrations_active.load(Ordering::Relaxed),
    });
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body))
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "error": "not_found", "message": "no such path; try /metrics, /healthz or /api/v1/openapi.json" }),
        ),
    )
}

async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(
            json!({ "error": "method_not_allowed", "message": "this path does not take that method" }),
        ),
    )
}
