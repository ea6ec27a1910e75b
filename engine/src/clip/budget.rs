//! Memory for decoded pixels, shared by every decode in the process (index workers, uploads,
//! thumbnails): a decode first reserves what its image will take, read from the file's header,
//! and waits while others hold the budget. Peak memory then stays near the budget whatever the
//! files are, instead of growing with decode threads times the largest image.

use std::sync::{Condvar, Mutex, OnceLock};

/// The budget when none is set: room for two 100 MP photos decoding at once.
pub const DEFAULT_BUDGET_BYTES: u64 = 2 << 30;

/// Bytes one decode of a `w` x `h` image may hold at its peak: RGBA pixels, plus the copy a
/// colour conversion or rotation makes.
pub fn decode_cost(w: u32, h: u32) -> u64 {
    u64::from(w) * u64::from(h) * 4 * 2
}

/// A shared allowance of bytes.
pub struct DecodeBudget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// Held while a decode's memory is in use; gives it back when dropped.
pub struct Reservation<'a> {
    budget: &'a DecodeBudget,
    bytes: u64,
}

impl DecodeBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> DecodeBudget {
        DecodeBudget { total, used: Mutex::new(0), freed: Condvar::new() }
    }

    /// Waits until `bytes` fit, then holds them. A decode larger than the whole budget runs
    /// alone, when nothing else holds any.
    pub fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used > 0 && *used + bytes > self.total {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += bytes;
        Reservation { budget: self, bytes }
    }

    #[cfg(test)]
    fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|p| p.into_inner());
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

static BUDGET: OnceLock<DecodeBudget> = OnceLock::new();

/// Sets the process's decode budget; only the first call (before any decode) takes effect.
/// Returns whether it did.
pub fn set_budget(bytes: u64) -> bool {
    BUDGET.set(DecodeBudget::new(bytes)).is_ok()
}

/// The process's decode budget.
pub fn budget() -> &'static DecodeBudget {
    BUDGET.get_or_init(|| DecodeBudget::new(DEFAULT_BUDGET_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_wait_for_room_and_oversized_ones_run_alone() {
        let budget = DecodeBudget::new(100);
        let a = budget.reserve(60);
        assert_eq!(budget.used(), 60);
        std::thread::scope(|s| {
            let waiting = s.spawn(|| {
                let _b = budget.reserve(50);
                budget.used()
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert_eq!(budget.used(), 60, "the second waits while the first holds the budget");
            drop(a);
            assert_eq!(waiting.join().unwrap(), 50);
        });
        assert_eq!(budget.used(), 0);
        let huge = budget.reserve(500);
        assert_eq!(budget.used(), 500, "alone, an oversized decode still runs");
        drop(huge);
    }
}
