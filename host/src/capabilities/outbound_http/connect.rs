//! Sending a guest's outbound request to a checked address (docs/OPERATIONS.md, "Outbound
//! safety"): the destination is resolved once, every resolved address is checked against the
//! [`AddressPolicy`], and the connection goes to exactly those addresses (no second lookup
//! between the check and the connection). HTTP/1.1, over TLS (the Mozilla roots) for `https`.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::address::{AddressPolicy, Refused};

/// Timeouts when the guest sets none (as wasmtime's own client).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Why a request did not get a response.
pub enum SendError {
    /// The destination resolved to an address the policy refuses: nothing was sent.
    Refused(Refused),
    Http(HttpError),
}

impl From<HttpError> for SendError {
    fn from(e: HttpError) -> Self {
        SendError::Http(e)
    }
}

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
);

/// The addresses `host:port` stands for: an IP literal as itself, a name as the resolver
/// answers (within `timeout`).
async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, HttpError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| HttpError::DnsTimeout)?
        .map_err(|_| HttpError::DestinationNotFound)?
        .collect::<Vec<_>>();
    if found.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    Ok(found)
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(builder) => builder,
                // ring supports the default versions; should that ever change, the process's
                // default provider is the fallback.
                Err(_) => rustls::ClientConfig::builder(),
            };
            Arc::new(config.with_root_certificates(roots).with_no_client_auth())
        })
        .clone()
}

/// Sends `request` if its destination passes `policy`.
pub async fn send_checked(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    policy: &AddressPolicy,
) -> Result<Sent, SendError> {
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or(HttpError::HttpRequestUriInvalid)?
        .to_owned();
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(HttpError::HttpRequestUriInvalid.into()),
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let option = |pick: fn(&RequestOptions) -> Option<Duration>| {
        options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
    };
    let connect_timeout = option(|o| o.connect_timeout);
    let first_byte_timeout = option(|o| o.first_byte_timeout);
    let between_bytes_timeout = option(|o| o.between_bytes_timeout).max(Duration::from_nanos(1));

    let addrs = resolve(&host, port, connect_timeout).await?;
    policy
        .check(&host, port, &addrs)
        .map_err(SendError::Refused)?;

    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(&addrs[..]))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
            _ => HttpError::Connect(e),
        })?;
    let stream: Box<dyn Stream> = if tls {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let name = match literal.parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::from(ip),
            Err(_) => rustls::pki_types::ServerName::try_from(literal.to_owned())
                .map_err(|_| HttpError::HttpRequestUriInvalid)?,
        };
        let connector = tokio_rustls::TlsConnector::from(tls_config());
        let stream = tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)?
    .map_err(HttpError::from)?;

    // The request line carries the path and query only (the authority is not a proxy's).
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    *request.uri_mut() = target
        .parse()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let mut conn = Box::pin(conn);
    let exchange = async {
        let send = sender.send_request(request);
        tokio::pin!(send);
        let mut conn_done = false;
        loop {
            tokio::select! {
                response = &mut send => return response.map(|r| (r, conn_done)).map_err(HttpError::from),
                finished = &mut conn, if !conn_done => match finished {
                    Ok(()) => conn_done = true,
                    Err(e) => return Err(HttpError::from(e)),
                },
            }
        }
    };
    let (response, conn_done) = tokio::time::timeout(first_byte_timeout, exchange)
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let response = response.map(|incoming| {
        TimedBody {
            incoming,
            between_bytes: between_bytes_timeout,
            deadline: Box::pin(tokio::time::sleep(between_bytes_timeout)),
        }
        .boxed_unsync()
    });
    let io = async move {
        if conn_done {
            return Ok(());
        }
        conn.await.map_err(|e| {
            if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::from(e)
            }
        })
    };
    Ok((response, Box::new(io)))
}

/// A response body that fails when no frame arrives within `between_bytes`.
struct TimedBody {
    incoming: Incoming,
    between_bytes: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.between_bytes;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::from(e)
            }))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
