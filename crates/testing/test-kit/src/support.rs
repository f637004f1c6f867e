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
