//! A guest's stdout and stderr (docs/OPERATIONS.md, "Guest output"): forwarded to the host's
//! stderr, as `spin up` shows them, but at most [`BYTES_PER_REQUEST`] per request, both streams
//! together. Beyond that the guest's writes still succeed and are dropped, with one line saying
//! so: a guest that floods its output adds at most that much to the host's log per request, and
//! is never failed for printing. The bytes are written as the guest writes them, so a log pipe
//! that stops reading holds up the printing request, as it would the host's own lines.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// What one request's instance may print in all.
pub const BYTES_PER_REQUEST: usize = 64 * 1024;

/// The output budget of one request's instance, shared by its stdout and stderr.
#[derive(Clone)]
pub struct GuestOutput {
    component: Arc<str>,
    left: Arc<AtomicUsize>,
    cut: Arc<AtomicBool>,
}

impl GuestOutput {
    pub fn new(component: &str) -> Self {
        GuestOutput {
            component: component.into(),
            left: Arc::new(AtomicUsize::new(BYTES_PER_REQUEST)),
            cut: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Takes up to `wanted` bytes of the budget; returns how many were granted.
    fn take(&self, wanted: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                granted = wanted.min(left);
                Some(left - granted)
            });
        granted
    }

    /// Forwards what the budget allows of `buf`; the rest is dropped. Always "writes" all of it.
    fn forward(&self, buf: &[u8]) {
        let granted = self.take(buf.len());
        let mut err = std::io::stderr().lock();
        if let Some(part) = buf.get(..granted).filter(|p| !p.is_empty()) {
            let _ = err.write_all(part);
        }
        if granted < buf.len() && !self.cut.swap(true, Ordering::AcqRel) {
            let _ = writeln!(
                err,
                "\n[keyward] output of component {} cut after {BYTES_PER_REQUEST} bytes for this request",
                self.component
            );
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.forward(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_never_exceeded() {
        let out = GuestOutput::new("c");
        let other = out.clone();
        assert_eq!(out.take(BYTES_PER_REQUEST - 10), BYTES_PER_REQUEST - 10);
        assert_eq!(other.take(100), 10);
        assert_eq!(out.take(1), 0);
    }
}
