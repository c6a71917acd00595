//! A token bucket for attempt starts: `rate` tokens per second, at most `burst` stored.
//!
//! Reservation style: taking a token may drive the balance below zero, and the taker sleeps
//! until its token would have been refilled. Takers are thereby served in arrival order and
//! spaced exactly `1 / rate` apart once the burst is spent, without polling.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate, burst, state: Mutex::new(State { tokens: burst, at: Instant::now() }) }
    }

    /// How long the caller must wait for its token (zero when one is available now).
    pub(crate) fn reserve(&self) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.saturating_duration_since(s.at).as_secs_f64() * self.rate;
        s.tokens = (s.tokens + refill).min(self.burst);
        s.at = now;
        s.tokens -= 1.0;
        if s.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-s.tokens / self.rate) }
    }

    /// Takes a token, waiting for it when none is left; true when it had to wait.
    pub(crate) async fn acquire(&self) -> bool {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        !wait.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_spaced() {
        let b = TokenBucket::new(10.0, 3);
        for _ in 0..3 {
            assert_eq!(b.reserve(), Duration::ZERO);
        }
        let w1 = b.reserve();
        let w2 = b.reserve();
        assert!(w1 > Duration::from_millis(90) && w1 <= Duration::from_millis(100), "{w1:?}");
        assert!(w2 > Duration::from_millis(190) && w2 <= Duration::from_millis(200), "{w2:?}");
    }
}
