//! Rate-limit counters (docs/shield.md, "Design: rate limit").

use super::Store;
use crate::error::ApiResult;

impl Store<'_> {
    /// Counts one request in the fixed window starting at `window_start` (unix ms); returns the
    /// count so far. The first request of
    /// a bucket's window removes every older window of every bucket: a bucket that never comes
    /// back (an unknown project, a deleted one) must not keep its counters forever.
    pub fn count_request(&self, bucket: &str, window_start: i64) -> ApiResult<i64> {
        let rows = self.run(
            "INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES (?, ?, 1) \
             ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1 \
             RETURNING count",
            &[bucket.into(), window_start.into()],
        )?;
        let count = rows.first().and_then(|r| r.integer(0)).unwrap_or(1);
        if count == 1 {
            self.run(
                "DELETE FROM rate_limit_counters WHERE window_start < ?",
                &[window_start.into()],
            )?;
        }
        Ok(count)
    }

    /// How many requests `bucket` has counted in the window starting at `window_start`, without
    /// counting one (the client-address bucket is asked before authentication and counted only
    /// when it fails: docs/shield.md, "Design: rate limit").
    pub fn request_count(&self, bucket: &str, window_start: i64) -> ApiResult<i64> {
        let rows = self.run(
            "SELECT count FROM rate_limit_counters WHERE bucket = ? AND window_start = ?",
            &[bucket.into(), window_start.into()],
        )?;
        Ok(rows.first().and_then(|r| r.integer(0)).unwrap_or(0))
    }
}

/// shield's rate-limit counters are rows of `rate_limit_counters` (one atomic upsert per
/// request), under guest-kit's one rate limiter.
impl guest_kit::ratelimit::Counters for Store<'_> {
    fn hit(
        &self,
        bucket: &str,
        window: i64,
        window_ms: i64,
        _limit: u64,
    ) -> Result<u64, guest_kit::ratelimit::CounterError> {
        let count = self
            .count_request(bucket, window.saturating_mul(window_ms))
            .map_err(|_| guest_kit::ratelimit::CounterError)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
