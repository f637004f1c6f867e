//! Accepting and holding connections: caps, the header and idle watchdog, HTTP/1 with hyper,
//! and the drain on shutdown. Each request goes to `invoke`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use hyper::server::conn::http1;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wasmtime_wasi_http::io::TokioIo;

use super::error_body;
use super::front_door::connections::{ConnClock, QuotaGuard, Refusal, ThrottledLog, Watched};
use super::front_door::{PeerKey, head};
use super::invoke::handle;
use crate::app::Runtime;
use crate::observability::metrics::Refusal as Refused;

/// Accept failures (out of file descriptors) and refused connections repeat at line rate under
/// attack; each is logged at most once a second.
static ACCEPT_FAILURES: ThrottledLog = ThrottledLog::new();
static REFUSED_CONNECTIONS: ThrottledLog = ThrottledLog::new();

/// Serves until `shutdown` fires, then stops accepting (the listener is closed, so new
/// connections are refused), lets every request in progress finish and closes idle connections,
/// waiting at most `drain` for them (docs/OPERATIONS.md, "Stopping").
pub async fn serve(
    runtime: Arc<Runtime>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    drain: std::time::Duration,
) -> Result<()> {
    let local = listener.local_addr()?;
    let connections = TaskTracker::new();
    let draining = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Running out of file descriptors must not stop the server (nor flood its log).
                ACCEPT_FAILURES.hit(|more| {
                    tracing::warn!("accept failed: {e} ({more} more in the last second)")
                });
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = match runtime.connections.try_take(PeerKey::of(peer)) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                refuse_connection(&stream, refusal);
                if let Some(m) = crate::observability::metrics::get() {
                    m.refused(match refusal {
                        Refusal::HostFull => Refused::ConnectionCap,
                        Refusal::PeerFull => Refused::ConnectionCapPerPeer,
                    });
                }
                REFUSED_CONNECTIONS.hit(|more| {
                    tracing::warn!(
                        "refused a connection from {peer}: {} ({more} more in the last second)",
                        match refusal {
                            Refusal::HostFull => "the host's connection cap is reached",
                            Refusal::PeerFull => "the peer's connection cap is reached",
                        }
                    )
                });
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            runtime.clone(),
            stream,
            peer,
            local,
            admitted,
            draining.clone(),
        ));
    }
    drop(listener);
    connections.close();
    draining.cancel();
    tracing::info!(
        in_flight = connections.len(),
        "stopped accepting; draining connections"
    );
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            unfinished = connections.len(),
            "drain deadline passed; stopping with connections still open"
        );
    }
    Ok(())
}

/// Answers a connection over a cap with one JSON error, without reading from it, and closes it.
fn refuse_connection(stream: &TcpStream, refusal: Refusal) {
    let (status, code, message) = match refusal {
        Refusal::HostFull => (
            "503 Service Unavailable",
            "UNAVAILABLE",
            "the server has too many open connections; retry shortly",
        ),
        Refusal::PeerFull => (
            "429 Too Many Requests",
            "TOO_MANY_CONNECTIONS",
            "too many open connections from your address; close some and retry",
        ),
    };
    let body = error_body(code, message);
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Best effort and never waiting: a fresh socket's send buffer takes this at once.
    let _ = stream.try_write(response.as_bytes());
}

async fn connection(
    runtime: Arc<Runtime>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    admitted: QuotaGuard,
    draining: CancellationToken,
) {
    let clock = ConnClock::new();
    let io = TokioIo::new(Watched::new(stream, clock.clone()));
    let limits = runtime.front_door.clone();
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |req| {
        let runtime = runtime.clone();
        let clock = service_clock.clone();
        async move {
            clock.request_started();
            let response = handle(&runtime, req, peer, local).await;
            clock.request_finished();
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let serving = http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(head::BACKSTOP_HEAD_BYTES)
        .max_headers(head::BACKSTOP_HEADER_FIELDS)
        .serve_connection(io, service);
    tokio::pin!(serving);
    let mut told_to_drain = false;
    loop {
        tokio::select! {
            served = serving.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
                break;
            }
            () = clock.expired(limits.header_timeout, limits.idle_timeout) => {
                tracing::debug!("closed connection from {peer}: no request within the header or idle timeout");
                break;
            }
            // Finish the request in progress (its response says `connection: close`), then
            // close; an idle connection closes at once.
            () = draining.cancelled(), if !told_to_drain => {
                told_to_drain = true;
                serving.as_mut().graceful_shutdown();
            }
        }
    }
    drop(admitted);
}
