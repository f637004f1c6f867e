//! Small pieces several test files need.

/// Runs `f(0)` … `f(n - 1)` on `n` threads released together (a barrier), for races; the
/// results in order.
pub fn race<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// A JSON body of at most `limit` bytes that opens with `prefix` (an object key and an array)
/// and fills the array with `{}`: the cheapest JSON text that becomes a heap object in a generic
/// value, so a decoder that builds one costs many times the body's size.
pub fn object_flood(prefix: &str, limit: usize) -> String {
    let mut body = String::from(prefix);
    while body.len() < limit - 8 {
        body.push_str("{},");
    }
    body.push_str("{}]}");
    assert!(body.len() <= limit);
    body
}

/// Runs `f` and asserts that the heap it needed at its peak stays under `max_bytes`; returns what
/// `f` returned. The test binary must install `peak_alloc::PeakAlloc` as its global allocator.
#[track_caller]
pub fn assert_peak_below<R>(max_bytes: usize, what: &str, f: impl FnOnce() -> R) -> R {
    let (r, peak) = peak_alloc::peak_during(f);
    assert!(
        peak < max_bytes,
        "{what} took {} KiB (at most {} KiB expected)",
        peak / 1024,
        max_bytes / 1024
    );
    r
}

/// `2026-12-01T10:00:00Z` for a unix time in milliseconds (whole seconds, UTC), as the services
/// write timestamps in JSON.
pub fn iso_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_utc_of_t0() {
        assert_eq!(
            super::iso_utc(crate::secrets::T0_MS),
            "2026-12-01T10:00:00Z"
        );
        assert_eq!(super::iso_utc(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
