//! Distributed tracing (docs/OPERATIONS.md, "Tracing"): W3C trace context in, out to the guests'
//! outbound requests, and spans exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
//!
//! - A request's `traceparent` is accepted only when it is exactly one well-formed W3C header;
//!   anything else is ignored, never an error.
//! - Each outbound request of a guest carries a `traceparent` with the request's trace id and a
//!   new span id (the outbound call's span when spans are exported), replacing any the guest set.
//!   Without an incoming one, a trace is started only when spans are exported.
//! - Spans: `request` (server; child of the incoming parent), and its children `instantiate`,
//!   `storage` (one per storage call) and `outbound` (client). Attributes name routes,
//!   components, backends and hosts, never paths, users or tokens.
//!
//! Off (no endpoint, no incoming `traceparent`), a request pays one header lookup.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, Tracer};

use super::request_id;

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A parsed W3C `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// The request's parent, when it sent exactly one valid `traceparent`.
    pub fn of(headers: &HeaderMap) -> Option<TraceParent> {
        let mut sent = headers.get_all(TRACEPARENT).iter();
        match (sent.next(), sent.next()) {
            (Some(value), None) => TraceParent::parse(value.as_bytes()),
            _ => None,
        }
    }

    /// `version "-" trace-id "-" parent-id "-" trace-flags`, lowercase hex, as W3C Trace
    /// Context specifies: version `ff` and all-zero ids are invalid; version `00` is exactly 55
    /// characters; a later version may append fields after a `-`, which are ignored.
    pub fn parse(v: &[u8]) -> Option<TraceParent> {
        let [version] = hex::<1>(v.get(0..2)?)?;
        let well_placed =
            v.get(2) == Some(&b'-') && v.get(35) == Some(&b'-') && v.get(52) == Some(&b'-');
        let length_ok = match version {
            0xff => false,
            0x00 => v.len() == 55,
            _ => v.len() == 55 || v.get(55) == Some(&b'-'),
        };
        if !well_placed || !length_ok {
            return None;
        }
        let trace_id = hex::<16>(v.get(3..35)?)?;
        let parent_id = hex::<8>(v.get(36..52)?)?;
        let [flags] = hex::<1>(v.get(53..55)?)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// `N` bytes from exactly `2N` lowercase hex digits.
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = (nibble(*hi)? << 4) | nibble(*lo)?;
    }
    Some(out)
}

/// The `traceparent` (version 00) for a span of a trace.
pub fn header(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> HeaderValue {
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
    if let Some(t) = text.get_mut(3..35) {
        request_id::hex_into(&trace_id, t);
    }
    if let Some(s) = text.get_mut(36..52) {
        request_id::hex_into(&span_id, s);
    }
    if let Some(f) = text.get_mut(53..55) {
        request_id::hex_into(&[flags], f);
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The span exporter, when `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` turned it on at start.
struct Exporter {
    provider: SdkTracerProvider,
    tracer: Tracer,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

fn tracer() -> Option<&'static Tracer> {
    EXPORTER.get().map(|e| &e.tracer)
}

/// Whether spans are exported.
pub fn exporting() -> bool {
    EXPORTER.get().is_some()
}

/// Starts exporting spans when the standard OTLP endpoint variables ask for it; `Ok(None)` when
/// they do not. `runtime` is where exports are sent from: the SDK's batch processor runs on a
/// thread of its own, and its requests are handed to the host's runtime rather than to a second
/// one.
pub fn start_exporting(runtime: tokio::runtime::Handle) -> anyhow::Result<Option<String>> {
    let endpoint = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(HostRuntimeClient { runtime })
        .build()
        .map_err(|e| anyhow::anyhow!("cannot export spans to {endpoint}: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("keyward");
    }
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("keyward");
    let _ = EXPORTER.set(Exporter { provider, tracer });
    Ok(Some(endpoint))
}

/// Sends what is still buffered (at most `within`), then stops exporting.
pub async fn stop_exporting(within: Duration) {
    let Some(exporter) = EXPORTER.get() else {
        return;
    };
    let provider = exporter.provider.clone();
    // Shutting down blocks until the batch thread has exported, which needs this runtime.
    let flushed = tokio::task::spawn_blocking(move || provider.shutdown());
    match tokio::time::timeout(within, flushed).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!("span export did not finish: {e}"),
        Ok(Err(e)) => tracing::warn!("span export did not finish: {e}"),
        Err(_) => tracing::warn!("span export did not finish within {within:?}"),
    }
}

/// The OTLP exporter's HTTP client: the same hyper client (and TLS stack) guests' outbound
/// requests use, run on the host's runtime.
#[derive(Debug)]
struct HostRuntimeClient {
    runtime: tokio::runtime::Handle,
}

/// How long one export may take, connection included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HostRuntimeClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let request = request.map(|b| Full::new(b).map_err(|never| match never {}));
        let exchange = async move {
            let (response, connection) =
                wasmtime_wasi_http::default_send_request(request, None).await?;
            let driving = tokio::spawn(connection);
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            driving.abort();
            Ok::<_, wasmtime_wasi_http::Error>(http::Response::from_parts(parts, body))
        };
        // Built inside the task: a timer needs the runtime, and this runs on the SDK's thread.
        let sent = self
            .runtime
            .spawn(async move { tokio::time::timeout(EXPORT_TIMEOUT, exchange).await })
            .await;
        match sent {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(e))) => Err(format!("{e}").into()),
            Ok(Err(_)) => Err("no answer in time".into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// One request's trace: what its outbound calls carry and, when spans are exported, the
/// request's span, which its other spans are children of.
pub struct RequestTrace {
    trace_id: [u8; 16],
    flags: u8,
    /// The context holding the request's span (exporting only).
    span: Option<Context>,
}

impl RequestTrace {
    /// The request's trace, or `None` when there is none to keep: no valid `traceparent` came
    /// and spans are not exported.
    pub fn begin(headers: &HeaderMap, request_id: &HeaderValue) -> Option<Arc<RequestTrace>> {
        let incoming = TraceParent::of(headers);
        let Some(tracer) = tracer() else {
            return incoming.map(|p| {
                Arc::new(RequestTrace {
                    trace_id: p.trace_id,
                    flags: p.flags,
                    span: None,
                })
            });
        };
        let parent = match incoming {
            Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(p.trace_id),
                opentelemetry::trace::SpanId::from_bytes(p.parent_id),
                TraceFlags::new(p.flags),
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        let mut span = tracer
            .span_builder("request")
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        if let Ok(id) = request_id.to_str() {
            span.set_attribute(KeyValue::new("keyward.request_id", id.to_owned()));
        }
        let context = span.span_context().clone();
        Some(Arc::new(RequestTrace {
            trace_id: context.trace_id().to_bytes(),
            flags: context.trace_flags().to_u8(),
            span: Some(parent.with_span(span)),
        }))
    }

    /// Names what the request was routed to, on its span.
    pub fn routed(&self, route: &str, component: &str) {
        if let Some(cx) = &self.span {
            let span = cx.span();
            span.set_attribute(KeyValue::new("http.route", route.to_owned()));
            span.set_attribute(KeyValue::new("keyward.component", component.to_owned()));
        }
    }

    /// Ends the request's span with the answer's status.
    pub fn answered(&self, method: &http::Method, status: u16) {
        if let Some(cx) = &self.span {
            let span = cx.span();
            span.set_attribute(KeyValue::new(
                "http.request.method",
                method.as_str().to_owned(),
            ));
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 500 {
                span.set_status(Status::error(""));
            }
            span.end();
        }
    }

    /// A child of the request's span, when spans are exported.
    pub fn child(&self, name: &'static str, kind: SpanKind) -> Option<Span> {
        let (cx, tracer) = (self.span.as_ref()?, tracer()?);
        Some(
            tracer
                .span_builder(name)
                .with_kind(kind)
                .start_with_context(tracer, cx),
        )
    }

    /// The `traceparent` for an outbound call, and the call's span when spans are exported.
    pub fn outbound(&self, destination: &str) -> (HeaderValue, Option<Span>) {
        match self.child("outbound", SpanKind::Client) {
            Some(mut span) => {
                span.set_attribute(KeyValue::new("server.address", destination.to_owned()));
                let context = span.span_context();
                let value = header(
                    self.trace_id,
                    context.span_id().to_bytes(),
                    context.trace_flags().to_u8(),
                );
                (value, Some(span))
            }
            None => (header(self.trace_id, fresh_span_id(), self.flags), None),
        }
    }
}

/// A random, non-zero span id for a span that is not exported.
fn fresh_span_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    let _ = getrandom::fill(&mut id);
    if id == [0; 8]
        && let Some(last) = id.last_mut()
    {
        *last = 1;
    }
    id
}

/// Ends a child span, marking it failed when `failed`.
pub fn end(span: Option<Span>, failed: bool) {
    if let Some(mut span) = span {
        if failed {
            span.set_status(Status::error(""));
        }
        span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn accepts_only_well_formed_traceparents() {
        let p = TraceParent::parse(VALID.as_bytes()).unwrap();
        assert_eq!(
            p.parent_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(p.flags, 1);
        assert_eq!(header(p.trace_id, p.parent_id, p.flags), VALID);
        // A later version may carry more fields.
        assert!(TraceParent::parse(format!("01{}-extra", &VALID[2..]).as_bytes()).is_some());
        for bad in [
            "",
            &VALID[..54],
            &format!("{VALID}-"),          // version 00 is exactly 55
            &VALID.to_uppercase(),         // lowercase only
            &format!("ff{}", &VALID[2..]), // version ff is invalid
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            &format!("01{}x", &VALID[2..]), // no `-` before more fields
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad.as_bytes()), None, "{bad:?}");
        }
        let mut twice = HeaderMap::new();
        twice.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert!(TraceParent::of(&twice).is_some());
        twice.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert!(TraceParent::of(&twice).is_none());
    }

    #[test]
    fn without_an_exporter_only_an_incoming_trace_is_kept_and_passed_on() {
        let id = HeaderValue::from_static("r");
        assert!(RequestTrace::begin(&HeaderMap::new(), &id).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        let trace = RequestTrace::begin(&headers, &id).unwrap();
        let (out, span) = trace.outbound("idp.test");
        assert!(span.is_none());
        let out = TraceParent::parse(out.as_bytes()).unwrap();
        let incoming = TraceParent::parse(VALID.as_bytes()).unwrap();
        assert_eq!(
            (out.trace_id, out.flags),
            (incoming.trace_id, incoming.flags)
        );
        assert_ne!(out.parent_id, incoming.parent_id);
    }
}
