//! A short-lived, per-isolate copy of targets' views, so that planning a request (or a hit on
//! `/api/health`) does not cost a round trip to the shared health store every time, and so
//! that a slow store leaves the last known state to plan with.
//!
//! Planning is served from memory only in the common case: every target of the query known,
//! fresh and closed (admission `Allowed`). Anything else (an unknown or stale target, an open
//! or half-open circuit, whose probe must be granted by the store to one caller only) goes to
//! the store. Inspection (no probes claimed) takes any fresh view. A failure reported by this
//! isolate drops its target, since it may open the circuit. Other isolates' failures reach
//! this one within the cache's time to live.

use crate::platform::health::{Admission, HealthQuery, HealthRecord, Outcome, TargetView};
use std::collections::HashMap;

/// How long a healthy view is trusted without asking the store again.
pub const DEFAULT_TTL_MS: u64 = 1_000;

/// How long a call to the store may take before the request goes on with [`last_known`]
/// views (a read) or the write is given up (a record).
///
/// [`last_known`]: HealthCache::last_known
pub const STORE_TIMEOUT_MS: u64 = 500;

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

    /// The answer to `query`, in key order, if every key is cached and fresh at `now_ms` and,
    /// when the query claims probes, closed.
    pub fn lookup(&self, query: &HealthQuery, now_ms: u64) -> Option<Vec<TargetView>> {
        query
            .keys
            .iter()
            .map(|key| {
                let (view, fetched_ms) = self.views.get(key)?;
                let fresh = now_ms.saturating_sub(*fetched_ms) < self.ttl_ms;
                let usable = !query.claim_probes || view.admission == Admission::Allowed;
                (fresh && usable).then(|| view.clone())
            })
            .collect()
    }

    /// The last views known of `keys` whatever their age, for when the store is slow: a
    /// target never seen counts as healthy, and a probe cannot be granted without the store.
    pub fn last_known(&self, keys: &[String]) -> Vec<TargetView> {
        keys.iter()
            .map(|key| match self.views.get(key) {
                Some((view, _)) if view.admission == Admission::Probe => TargetView {
                    admission: Admission::Rejected,
                    ..view.clone()
                },
                Some((view, _)) => view.clone(),
                None => TargetView::unknown(key),
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

    fn planning(names: &[&str]) -> HealthQuery {
        HealthQuery {
            keys: keys(names),
            circuit: CircuitPolicy::default(),
            claim_probes: true,
        }
    }

    fn inspection(names: &[&str]) -> HealthQuery {
        HealthQuery {
            claim_probes: false,
            ..planning(names)
        }
    }

    #[test]
    fn fresh_closed_targets_are_served_in_query_order() {
        let mut cache = HealthCache::new(1_000);
        cache.store(
            &[view("a", Admission::Allowed), view("b", Admission::Allowed)],
            0,
        );
        let views = cache.lookup(&planning(&["b", "a"]), 999).unwrap();
        assert_eq!(views[0].key, "b");
        assert_eq!(views[1].key, "a");
        assert_eq!(cache.lookup(&planning(&["a"]), 1_000), None, "stale");
        assert_eq!(cache.lookup(&planning(&["a", "c"]), 10), None, "c unknown");
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
        assert!(cache.lookup(&planning(&["a"]), 1).is_some());
        assert_eq!(cache.lookup(&planning(&["a", "open"]), 1), None);
        assert_eq!(cache.lookup(&planning(&["probe"]), 1), None);
        // Inspecting claims nothing: every fresh view serves, open or not.
        let views = cache
            .lookup(&inspection(&["a", "open", "probe"]), 1)
            .unwrap();
        assert_eq!(views[1].admission, Admission::Rejected);
        assert_eq!(cache.lookup(&inspection(&["a"]), 1_000), None, "stale");
    }

    #[test]
    fn a_slow_store_leaves_the_last_known_views() {
        let mut cache = HealthCache::new(1_000);
        cache.store(
            &[
                view("open", Admission::Rejected),
                view("probe", Admission::Probe),
            ],
            0,
        );
        let views = cache.last_known(&keys(&["open", "probe", "never"]));
        let admissions: Vec<Admission> = views.iter().map(|v| v.admission).collect();
        assert_eq!(
            admissions,
            [Admission::Rejected, Admission::Rejected, Admission::Allowed],
            "long stale views still count; no probe without the store"
        );
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
        assert_eq!(cache.lookup(&planning(&["a"]), 1), None);
        assert!(cache.lookup(&planning(&["b"]), 1).is_some());
    }
}
