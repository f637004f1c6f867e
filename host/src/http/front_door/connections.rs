//! Open connections: counted against a host-wide and a per-peer cap, and watched so that none
//! can be held open without sending a request (docs/OPERATIONS.md, "The front door").

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::PeerKey;

/// Which cap refused a connection or an instance slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The host-wide cap is reached.
    HostFull,
    /// This peer holds its share already.
    PeerFull,
}

/// A host-wide count with a per-peer share: used for open connections and for instance slots, so
/// that one peer can never hold everything.
#[derive(Debug)]
pub struct PeerQuota {
    total_cap: usize,
    /// 0: no per-peer cap.
    per_peer_cap: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_peer: HashMap<PeerKey, usize>,
}

impl PeerQuota {
    pub fn new(total_cap: usize, per_peer_cap: usize) -> Arc<Self> {
        Arc::new(PeerQuota {
            total_cap: total_cap.max(1),
            per_peer_cap,
            held: Mutex::new(Held::default()),
        })
    }

    /// Takes one unit for `peer`, or says which cap refused it. The unit is given back when the
    /// guard is dropped.
    pub fn try_take(self: &Arc<Self>, peer: PeerKey) -> Result<QuotaGuard, Refusal> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.total >= self.total_cap {
            return Err(Refusal::HostFull);
        }
        let mine = held.by_peer.get(&peer).copied().unwrap_or(0);
        if self.per_peer_cap > 0 && mine >= self.per_peer_cap {
            return Err(Refusal::PeerFull);
        }
        held.total += 1;
        held.by_peer.insert(peer, mine + 1);
        Ok(QuotaGuard {
            quota: self.clone(),
            peer,
        })
    }

    /// Units held now, for the metrics.
    pub fn in_use(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.in_use()
    }
}

/// One unit of a [`PeerQuota`], returned on drop.
#[derive(Debug)]
pub struct QuotaGuard {
    quota: Arc<PeerQuota>,
    peer: PeerKey,
}

impl Drop for QuotaGuard {
    fn drop(&mut self) {
        let mut held = self.quota.held.lock().unwrap_or_else(|e| e.into_inner());
        held.total = held.total.saturating_sub(1);
        if let Some(n) = held.by_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.by_peer.remove(&self.peer);
            }
        }
    }
}

const AWAITING_HEAD: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;

/// Where one connection is in its life, for the watchdog: waiting for a request head (since
/// accept, or since the first byte of the next request), idle between requests, or busy with a
/// request (then the body and request deadlines apply instead).
#[derive(Debug)]
pub struct ConnClock {
    /// tokio's clock, so that tests can run the deadlines on paused time.
    epoch: tokio::time::Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
}

impl ConnClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ConnClock {
            epoch: tokio::time::Instant::now(),
            phase: AtomicU8::new(AWAITING_HEAD),
            since_ms: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        // `since` first: a watchdog reading the new phase then sees its start time (or a later
        // one), never the previous phase's.
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.phase.store(phase, Ordering::Release);
    }

    /// Bytes arrived: on an idle connection they start the next request head.
    fn on_bytes(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(AWAITING_HEAD);
        }
    }

    /// The request head is complete: from here the body and request deadlines apply.
    pub fn request_started(&self) {
        self.enter(BUSY);
    }

    /// The response has been handed to the connection: the idle timer starts.
    pub fn request_finished(&self) {
        self.enter(IDLE);
    }

    /// Completes when the connection has waited too long for a request head or sat idle too
    /// long; never while a request is in progress.
    pub async fn expired(&self, header_timeout: Duration, idle_timeout: Duration) {
        let recheck = header_timeout
            .min(idle_timeout)
            .max(Duration::from_millis(10));
        loop {
            let limit = match self.phase.load(Ordering::Acquire) {
                AWAITING_HEAD => Some(header_timeout),
                IDLE => Some(idle_timeout),
                _ => None,
            };
            let Some(limit) = limit else {
                tokio::time::sleep(recheck).await;
                continue;
            };
            let since = self.since_ms.load(Ordering::Acquire);
            let deadline =
                since.saturating_add(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX));
            let now = self.now_ms();
            if now >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(deadline - now)).await;
        }
    }
}

/// A socket that tells its [`ConnClock`] when bytes arrive.
pub struct Watched<S> {
    inner: S,
    clock: Arc<ConnClock>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, clock: Arc<ConnClock>) -> Self {
        Watched { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.on_bytes();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A warning that would repeat on every accept (out of file descriptors, a peer over its cap)
/// is logged at most once a second, with the number of repeats it stood for.
#[derive(Debug)]
pub struct ThrottledLog {
    last: Mutex<Option<(Instant, u64)>>,
}

impl ThrottledLog {
    pub const fn new() -> Self {
        ThrottledLog {
            last: Mutex::new(None),
        }
    }

    /// Calls `log` with the number of suppressed repeats when a line is due.
    pub fn hit(&self, log: impl FnOnce(u64)) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *last {
            Some((at, suppressed)) if at.elapsed() < Duration::from_secs(1) => *suppressed += 1,
            _ => {
                let suppressed = last.map_or(0, |(_, s)| s);
                *last = Some((Instant::now(), 0));
                drop(last);
                log(suppressed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_share_and_the_rest_stay_for_others() {
        let q = PeerQuota::new(3, 2);
        let a = PeerKey::V4([10, 0, 0, 1]);
        let b = PeerKey::V4([10, 0, 0, 2]);
        let a1 = q.try_take(a).unwrap();
        let _a2 = q.try_take(a).unwrap();
        assert_eq!(q.try_take(a).unwrap_err(), Refusal::PeerFull);
        let _b1 = q.try_take(b).unwrap();
        assert_eq!(q.try_take(b).unwrap_err(), Refusal::HostFull);
        drop(a1);
        assert_eq!(q.held(), 2);
        let _b2 = q.try_take(b).unwrap();
    }

    #[test]
    fn throttled_log_counts_what_it_swallowed() {
        let log = ThrottledLog::new();
        let mut lines = Vec::new();
        for _ in 0..5 {
            log.hit(|n| lines.push(n));
        }
        assert_eq!(lines, vec![0]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_header_deadlines() {
        let clock = ConnClock::new();
        let header = Duration::from_secs(2);
        let idle = Duration::from_secs(5);
        clock.request_started();
        // Busy: never expires by itself.
        let busy = tokio::time::timeout(Duration::from_secs(60), clock.expired(header, idle));
        assert!(busy.await.is_err());
        // Idle: expires after the idle timeout, counted from the end of the request.
        clock.request_finished();
        let started = tokio::time::Instant::now();
        clock.expired(header, idle).await;
        assert_eq!(started.elapsed().as_secs(), 5);
        // A fresh connection waits for its head for the header timeout only.
        let fresh = ConnClock::new();
        let started = tokio::time::Instant::now();
        fresh.expired(header, idle).await;
        assert_eq!(started.elapsed().as_secs(), 2);
    }
}
