//! Token budgets per client ([`TokenBudget`]): what a client has spent in the current window,
//! kept by the platform (a Durable Object per client on Workers, [`BudgetBook`] in memory
//! elsewhere). The HTTP layer refuses a client whose window is spent before any call; the
//! run charges an answer's real usage when it ends.

use crate::config::TokenBudget;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One client's spending in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpentWindow {
    /// The window's number since the epoch ([`TokenBudget::window`]).
    pub window: u64,
    pub tokens: u64,
}

impl SpentWindow {
    /// What was spent in the window that holds `now_ms` (nothing once it has passed).
    pub fn spent(&self, budget: &TokenBudget, now_ms: u64) -> u64 {
        if self.window == budget.window(now_ms) {
            self.tokens
        } else {
            0
        }
    }

    /// Adds `tokens` to the window that holds `now_ms`, starting it afresh if it is new.
    pub fn charge(&mut self, budget: &TokenBudget, now_ms: u64, tokens: u64) {
        let window = budget.window(now_ms);
        if self.window != window {
            *self = Self { window, tokens: 0 };
        }
        self.tokens = self.tokens.saturating_add(tokens);
    }
}

/// Every client's window, in memory: what the native platforms keep.
#[derive(Debug, Default)]
pub struct BudgetBook {
    clients: HashMap<String, SpentWindow>,
}

impl BudgetBook {
    pub fn spent(&self, client: &str, budget: &TokenBudget, now_ms: u64) -> u64 {
        self.clients
            .get(client)
            .map_or(0, |window| window.spent(budget, now_ms))
    }

    pub fn charge(&mut self, client: &str, budget: &TokenBudget, now_ms: u64, tokens: u64) {
        self.clients
            .entry(client.to_owned())
            .or_default()
            .charge(budget, now_ms, tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOURLY: TokenBudget = TokenBudget {
        tokens: 100,
        period_s: 3_600,
    };

    #[test]
    fn spending_adds_up_within_a_window_and_starts_over_in_the_next() {
        let mut book = BudgetBook::default();
        let start = 7_200_000;
        book.charge("ip:a", &HOURLY, start, 60);
        book.charge("ip:a", &HOURLY, start + 3_599_999, 30);
        assert_eq!(book.spent("ip:a", &HOURLY, start + 10), 90);
        assert_eq!(book.spent("ip:b", &HOURLY, start), 0, "per client");
        assert_eq!(
            book.spent("ip:a", &HOURLY, start + 3_600_000),
            0,
            "next window"
        );
        book.charge("ip:a", &HOURLY, start + 3_600_000, 5);
        assert_eq!(book.spent("ip:a", &HOURLY, start + 3_600_001), 5);
        assert_eq!(HOURLY.seconds_left(start + 3_600_000), 3_600);
        assert_eq!(HOURLY.seconds_left(start + 3_599_999), 1);
    }
}
