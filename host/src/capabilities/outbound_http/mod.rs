//! Outbound `wasi:http`: only to the component's `allowed_outbound_hosts`, else
//! `HttpRequestDenied`, as in Spin.
//!
//! Entries: `scheme://host[:port]` where scheme is `http`, `https` or `*`; host is a name, an IP
//! address, `*` or `*.suffix`; port is a number or `*` and defaults to the scheme's port.
//! Entries for other schemes (`redis://`, `postgres://`, …) concern other interfaces and never
//! allow HTTP.
//!
//! A permitted request is then sent by [`connect::send_checked`]: its destination must resolve to
//! public addresses only, or to addresses the operator allowed (docs/OPERATIONS.md, "Outbound
//! safety").

pub mod address;
mod connect;

use std::sync::Arc;

use anyhow::{Result, bail};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::observability::metrics::OutboundOutcome;
use crate::observability::trace::{RequestTrace, TRACEPARENT};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Http,
    Https,
    Any,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    SchemeDefault,
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<Self> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("`{entry}` must look like scheme://host[:port]");
        };
        let scheme = match scheme {
            "http" => SchemePattern::Http,
            "https" => SchemePattern::Https,
            "*" => SchemePattern::Any,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
                SchemePattern::Other
            }
            _ => bail!("`{entry}` has an invalid scheme"),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!("`{entry}` must not contain a path");
        }
        let (host, port) = split_host_port(rest)
            .ok_or_else(|| anyhow::anyhow!("`{entry}` has an invalid port"))?;
        if host.is_empty() {
            bail!("`{entry}` has no host");
        }
        if host == "self" {
            bail!("`{entry}`: `self` requests are not supported by the keyward host");
        }
        let host = match host {
            "*" => HostPattern::Any,
            h => match h.strip_prefix("*.") {
                Some(suffix) if !suffix.is_empty() && !suffix.contains('*') => {
                    HostPattern::Suffix(suffix.to_ascii_lowercase())
                }
                _ if h.contains('*') => {
                    bail!("`{entry}`: `*` is only allowed as `*` or `*.domain`")
                }
                _ => HostPattern::Exact(h.to_ascii_lowercase()),
            },
        };
        Ok(AllowedHost { scheme, host, port })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = match self.scheme {
            SchemePattern::Http => scheme == "http",
            SchemePattern::Https => scheme == "https",
            SchemePattern::Any => scheme == "http" || scheme == "https",
            SchemePattern::Other => false,
        };
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        let port = port.unwrap_or(default_port);
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::SchemeDefault => port == default_port,
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(&format!(".{s}")),
        };
        scheme_ok && port_ok && host_ok
    }
}

fn split_host_port(s: &str) -> Option<(&str, PortPattern)> {
    // Bracketed IPv6 literal: [::1]:8080
    if s.starts_with('[') {
        let end = s.find(']')?;
        let (host, rest) = s.split_at(end + 1);
        return match rest.strip_prefix(':') {
            None if rest.is_empty() => Some((host, PortPattern::SchemeDefault)),
            Some(p) => Some((host, parse_port(p)?)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, p)) => Some((host, parse_port(p)?)),
        None => Some((s, PortPattern::SchemeDefault)),
    }
}

fn parse_port(p: &str) -> Option<PortPattern> {
    if p == "*" {
        return Some(PortPattern::Any);
    }
    p.parse().ok().map(PortPattern::Exact)
}

/// The per-request `wasi:http` hooks: the allow-list check, then the address check and the
/// client ([`connect`]).
pub struct OutboundHooks {
    pub allowed: Arc<Vec<AllowedHost>>,
    /// Which non-public addresses requests may reach (`--allow-outbound-private`).
    pub addresses: Arc<address::AddressPolicy>,
    /// The request's trace: its outbound calls carry it on (`traceparent`).
    pub trace: Option<Arc<RequestTrace>>,
}

impl OutboundHooks {
    fn permits(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        self.allowed
            .iter()
            .any(|a| a.allows(scheme, host, uri.port_u16()))
    }
}

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        let metrics = crate::observability::metrics::get();
        // Metrics, spans and logs name the destination as host[:port], as the guest addressed
        // it: never the path or the query, which may carry ids or tokens.
        let destination = match request.uri().authority() {
            Some(a) => a
                .as_str()
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            None => String::new(),
        };
        if !self.permits(request.uri()) {
            if let Some(m) = metrics {
                m.outbound(
                    &destination,
                    OutboundOutcome::Denied,
                    std::time::Duration::ZERO,
                );
            }
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // The trace goes on with the call, whatever the guest put in this header.
        let span = match &self.trace {
            Some(trace) => {
                let (traceparent, span) = trace.outbound(&destination);
                request.headers_mut().insert(TRACEPARENT, traceparent);
                span
            }
            None => None,
        };
        let addresses = self.addresses.clone();
        Box::new(async move {
            let mut pending = PendingCall {
                metrics: metrics.map(|m| (m, destination.clone())),
                span,
                started: std::time::Instant::now(),
                outcome: OutboundOutcome::Timeout,
            };
            let sent = match connect::send_checked(request, options, &addresses).await {
                Ok(sent) => Ok(sent),
                Err(connect::SendError::Http(e)) => Err(e),
                Err(connect::SendError::Refused(refused)) => {
                    // The destination as the guest named it, and the address it resolved to:
                    // neither carries a path, a query or credentials.
                    tracing::warn!(
                        destination = %destination,
                        address = %refused.addr.ip(),
                        kind = refused.why.label(),
                        "outbound request refused: the destination is a {} address (allow it with --allow-outbound-private)",
                        refused.why.label()
                    );
                    pending.outcome = OutboundOutcome::Prohibited;
                    drop(pending);
                    return Err(HttpError::DestinationIpProhibited);
                }
            };
            pending.outcome = outcome_of(&sent);
            drop(pending);
            sent
        })
    }
}

/// An outbound call being timed (metrics) and traced (its span). It is recorded when dropped,
/// so a call abandoned before its answer (its request's deadline stopped the instance) counts
/// as a timeout.
struct PendingCall {
    metrics: Option<(&'static crate::observability::metrics::Metrics, String)>,
    span: Option<opentelemetry_sdk::trace::Span>,
    started: std::time::Instant,
    outcome: OutboundOutcome,
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if let Some((metrics, host)) = &self.metrics {
            metrics.outbound(host, self.outcome, self.started.elapsed());
        }
        crate::observability::trace::end(self.span.take(), self.outcome != OutboundOutcome::Ok);
    }
}

/// How an outbound request ended, for the metrics: a timeout is told apart from other failures
/// because an operator acts differently on it (a slow identity provider, not a refusing one).
fn outcome_of<T>(sent: &Result<T, HttpError>) -> OutboundOutcome {
    match sent {
        Ok(_) => OutboundOutcome::Ok,
        Err(
            HttpError::ConnectionTimeout
            | HttpError::ConnectionReadTimeout
            | HttpError::ConnectionWriteTimeout
            | HttpError::HttpResponseTimeout
            | HttpError::DnsTimeout,
        ) => OutboundOutcome::Timeout,
        Err(HttpError::HttpRequestDenied) => OutboundOutcome::Denied,
        Err(_) => OutboundOutcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entry: &str, scheme: &str, host: &str, port: Option<u16>) -> bool {
        AllowedHost::parse(entry)
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn matching() {
        assert!(allowed(
            "https://api.example.com",
            "https",
            "api.example.com",
            None
        ));
        assert!(allowed(
            "https://api.example.com",
            "https",
            "API.example.com",
            Some(443)
        ));
        assert!(!allowed(
            "https://api.example.com",
            "http",
            "api.example.com",
            None
        ));
        assert!(!allowed(
            "https://api.example.com",
            "https",
            "api.example.com",
            Some(8443)
        ));
        assert!(allowed(
            "http://127.0.0.1:*",
            "http",
            "127.0.0.1",
            Some(4711)
        ));
        assert!(allowed("*://x.test:8080", "https", "x.test", Some(8080)));
        assert!(allowed(
            "https://*.example.com",
            "https",
            "a.b.example.com",
            None
        ));
        assert!(!allowed(
            "https://*.example.com",
            "https",
            "example.com",
            None
        ));
        assert!(!allowed(
            "https://*.example.com",
            "https",
            "badexample.com",
            None
        ));
        assert!(allowed("http://[::1]:80", "http", "[::1]", None));
        assert!(!allowed("redis://x.test", "http", "x.test", None));
        assert!(allowed("https://*", "https", "anything.test", None));
    }

    #[test]
    fn rejects_bad_entries() {
        for bad in [
            "example.com",
            "https://a/b",
            "https://a:port",
            "https://a*b.com",
            "http://self",
            "https://",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
