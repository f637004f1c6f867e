//! A host-wide budget for guest linear memory, on top of the per-instance cap.
//!
//! The per-instance cap alone lets `max instances × memory limit` (32 GiB at the defaults) be
//! committed at once, so a burst of requests that each grow their heap could exhaust the
//! machine and take every service down together. Each store reserves its growth from one shared
//! budget instead; a growth the budget cannot cover fails inside the guest, and the host answers
//! that request with 503 and `Retry-After` (docs/OPERATIONS.md, "Memory").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of guest linear memory all running instances may hold together.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    fn try_reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes reserved now, for the metrics.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// One store's limiter: its own cap, and what it holds of the shared budget (given back when
/// the store is dropped).
#[derive(Debug)]
pub struct InstanceMemory {
    per_instance: usize,
    budget: Arc<MemoryBudget>,
    reserved: usize,
    /// A growth was refused because the shared budget was spent (not the instance's own cap).
    pub budget_exhausted: bool,
    /// A growth was refused because it would pass the instance's own cap (`--memory-limit`).
    pub limit_reached: bool,
}

impl InstanceMemory {
    pub fn new(per_instance: usize, budget: Arc<MemoryBudget>) -> Self {
        InstanceMemory {
            per_instance,
            budget,
            reserved: 0,
            budget_exhausted: false,
            limit_reached: false,
        }
    }
}

impl wasmtime::ResourceLimiter for InstanceMemory {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.per_instance {
            self.limit_reached = true;
            return Ok(false);
        }
        let extra = desired.saturating_sub(current);
        if !self.budget.try_reserve(extra) {
            self.budget_exhausted = true;
            return Ok(false);
        }
        self.reserved = self.reserved.saturating_add(extra);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pooling allocator's per-slot reservation.
        Ok(true)
    }
}

impl Drop for InstanceMemory {
    fn drop(&mut self) {
        self.budget.release(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn instances_share_one_budget_and_give_it_back() {
        let budget = MemoryBudget::new(10);
        let mut a = InstanceMemory::new(8, budget.clone());
        let mut b = InstanceMemory::new(8, budget.clone());
        assert!(a.memory_growing(0, 6, None).unwrap());
        assert!(!b.memory_growing(0, 6, None).unwrap());
        assert!(b.budget_exhausted);
        assert!(b.memory_growing(0, 4, None).unwrap());
        // The instance's own cap is not the budget's doing.
        assert!(!a.memory_growing(6, 9, None).unwrap());
        assert!(!a.budget_exhausted);
        assert!(a.limit_reached && !b.limit_reached);
        drop(a);
        assert_eq!(budget.used(), 4);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
