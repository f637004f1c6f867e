//! The metrics listener (`--metrics-listen`): `GET /metrics` in the Prometheus text format, on
//! its own address so that it can stay on a private interface while the main listener is public.
//! It serves scrapers, not clients: a few connections at a time, each for a bounded time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

use super::metrics::{Levels, Metrics};
use crate::app::Runtime;

/// Scrapes served at once; further connections wait in the listen backlog.
const MAX_CONNECTIONS: usize = 8;

/// How long one scraper's connection may stay open, whatever it sends.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// Serves until the task is dropped or aborted (its connections go with it).
pub async fn serve(runtime: Arc<Runtime>, metrics: &'static Metrics, listener: TcpListener) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!("metrics listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Finished connections are reaped here, so the set does not grow.
        while connections.try_join_next().is_some() {}
        let runtime = runtime.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                let runtime = runtime.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&runtime, metrics, &req)) }
            });
            let serving = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, serving).await;
        });
    }
}

fn answer(runtime: &Runtime, metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    if req.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "text/plain", "see /metrics\n".into());
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".into(),
        );
    }
    let levels = Levels {
        instances_in_use: runtime.instance_slots.in_use(),
        instances_capacity: usize::try_from(runtime.limits.max_instances).unwrap_or(usize::MAX),
        connections_open: runtime.connections.in_use(),
        connections_capacity: runtime.front_door.max_connections,
        guest_memory_bytes: runtime.memory_budget.used(),
        guest_memory_budget_bytes: runtime.limits.memory_budget_bytes,
    };
    match metrics.encode(&levels) {
        Ok(text) => reply(StatusCode::OK, super::metrics::CONTENT_TYPE, text),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "cannot encode the metrics\n".into(),
        ),
    }
}
