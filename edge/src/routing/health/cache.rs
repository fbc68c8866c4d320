//! A short-lived, per-isolate copy of healthy targets' views, so that planning a request does
//! not cost a round trip to the shared health store every time.
//!
//! Only the common case is served from memory: every target of the query known, fresh and
//! closed (admission `Allowed`). Anything else (an unknown or stale target, an open or
//! half-open circuit, whose probe must be granted by the store to one caller only) goes to the
//! store. A failure reported by this isolate drops its target, since it may open the circuit.
//! Other isolates' failures reach this one within the cache's time to live.

use crate::platform::health::{Admission, HealthRecord, Outcome, TargetView};
use std::collections::HashMap;

/// How long a healthy view is trusted without asking the store again.
pub const DEFAULT_TTL_MS: u64 = 1_000;

#[derive(Debug)]
pub struct HealthCache {
    ttl_ms: u64,
    views: HashMap<String, (TargetView, u64)>,
}

impl Default for HealthCache {
    fn default() -> Self {
        Self::new(DEFAULT_TTL_MS)
    }
}

impl HealthCache {
    pub fn new(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            views: HashMap::new(),
        }
    }

    /// The views of `keys`, in order, if every one is cached, fresh at `now_ms` and closed.
    pub fn lookup(&self, keys: &[String], now_ms: u64) -> Option<Vec<TargetView>> {
        keys.iter()
            .map(|key| {
                let (view, fetched_ms) = self.views.get(key)?;
                let fresh = now_ms.saturating_sub(*fetched_ms) < self.ttl_ms;
                (fresh && view.admission == Admission::Allowed).then(|| view.clone())
            })
            .collect()
    }

    /// Keeps the store's answer, fetched at `now_ms`.
    pub fn store(&mut self, views: &[TargetView], now_ms: u64) {
        for view in views {
            self.views.insert(view.key.clone(), (view.clone(), now_ms));
        }
    }

    /// Drops the targets `record` reports a failure or a refusal of.
    pub fn note(&mut self, record: &HealthRecord) {
        for report in &record.reports {
            if !matches!(report.outcome, Outcome::Success { .. }) {
                self.views.remove(&report.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::policy::CircuitPolicy, platform::health::HealthReport};

    fn view(key: &str, admission: Admission) -> TargetView {
        TargetView {
            admission,
            ..TargetView::unknown(key)
        }
    }

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn fresh_closed_targets_are_served_in_query_order() {
        let mut cache = HealthCache::new(1_000);
        cache.store(
            &[view("a", Admission::Allowed), view("b", Admission::Allowed)],
            0,
        );
        let views = cache.lookup(&keys(&["b", "a"]), 999).unwrap();
        assert_eq!(views[0].key, "b");
        assert_eq!(views[1].key, "a");
        assert_eq!(cache.lookup(&keys(&["a"]), 1_000), None, "stale");
        assert_eq!(cache.lookup(&keys(&["a", "c"]), 10), None, "c unknown");
    }

    #[test]
    fn open_and_probing_circuits_always_ask_the_store() {
        let mut cache = HealthCache::new(1_000);
        cache.store(
            &[
                view("a", Admission::Allowed),
                view("open", Admission::Rejected),
                view("probe", Admission::Probe),
            ],
            0,
        );
        assert!(cache.lookup(&keys(&["a"]), 1).is_some());
        assert_eq!(cache.lookup(&keys(&["a", "open"]), 1), None);
        assert_eq!(cache.lookup(&keys(&["probe"]), 1), None);
    }

    #[test]
    fn a_failure_drops_its_target_and_a_success_keeps_it() {
        let mut cache = HealthCache::new(1_000);
        cache.store(
            &[view("a", Admission::Allowed), view("b", Admission::Allowed)],
            0,
        );
        let report = |key: &str, outcome| HealthReport {
            key: key.into(),
            outcome,
        };
        cache.note(&HealthRecord {
            reports: vec![
                report("a", Outcome::Failure),
                report("b", Outcome::Success { ttft_ms: Some(5) }),
            ],
            circuit: CircuitPolicy::default(),
            ewma_alpha: 0.3,
        });
        assert_eq!(cache.lookup(&keys(&["a"]), 1), None);
        assert!(cache.lookup(&keys(&["b"]), 1).is_some());
    }
}
