//! Live health per upstream target (`model@region`): its [`Circuit`], an EWMA of time to first
//! token and an EWMA of the error rate; and the ordering of a route's chain by that health.
//!
//! The state lives where the platform keeps it (a Durable Object on Workers, memory in native
//! tests); what crosses that seam is in `platform::health`, and [`TargetHealth`] holds the
//! transitions, so every store behaves the same.

pub mod cache;

use crate::{
    config::{policy::RoutingPolicy, Target},
    platform::health::{Admission, HealthQuery, HealthRecord, Outcome, TargetView},
    routing::circuit::Circuit,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stored state of one target.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TargetHealth {
    pub circuit: Circuit,
    /// EWMA of the time to first token, in milliseconds.
    pub ttft_ms: Option<f64>,
    /// EWMA of failures (1) and successes (0).
    pub error_rate: f64,
    pub samples: u64,
    pub updated_ms: u64,
}

fn ewma(previous: f64, sample: f64, alpha: f64, first: bool) -> f64 {
    if first {
        sample
    } else {
        alpha * sample + (1.0 - alpha) * previous
    }
}

impl TargetHealth {
    /// Answers one key of a [`HealthQuery`].
    pub fn view(&mut self, key: &str, query: &HealthQuery, now_ms: u64) -> TargetView {
        let admission = if query.claim_probes {
            self.circuit.admit(now_ms, &query.circuit)
        } else {
            self.circuit.peek(now_ms, &query.circuit)
        };
        TargetView {
            key: key.to_owned(),
            admission,
            circuit: self.circuit.name().into(),
            ttft_ms: self.ttft_ms,
            error_rate: self.error_rate,
            samples: self.samples,
        }
    }

    /// Folds in one outcome.
    pub fn record(&mut self, outcome: Outcome, record: &HealthRecord, now_ms: u64) {
        if outcome == Outcome::Released {
            // No call was made: nothing to learn but that the probe is free again.
            self.circuit.release_probe(now_ms, &record.circuit);
            return;
        }
        let first = self.samples == 0;
        let alpha = record.ewma_alpha.clamp(f64::MIN_POSITIVE, 1.0);
        match outcome {
            Outcome::Success { ttft_ms } => {
                self.circuit.on_success();
                self.error_rate = ewma(self.error_rate, 0.0, alpha, first);
                if let Some(ttft) = ttft_ms {
                    #[allow(clippy::cast_precision_loss)]
                    let ttft = ttft as f64;
                    self.ttft_ms = Some(match self.ttft_ms {
                        Some(previous) => ewma(previous, ttft, alpha, false),
                        None => ttft,
                    });
                }
            }
            Outcome::Failure => {
                self.circuit.on_failure(now_ms, &record.circuit);
                self.error_rate = ewma(self.error_rate, 1.0, alpha, first);
            }
            Outcome::Refused => {
                self.circuit.on_refusal(now_ms);
                self.error_rate = ewma(self.error_rate, 1.0, alpha, first);
            }
            Outcome::Released => {}
        }
        self.samples = self.samples.saturating_add(1);
        self.updated_ms = now_ms;
    }
}

/// A store in memory: what the native platforms keep, and what the Durable Object loads its
/// rows into for the length of one call.
#[derive(Debug, Clone, Default)]
pub struct HealthStore {
    pub targets: BTreeMap<String, TargetHealth>,
}

impl HealthStore {
    pub fn load(&mut self, query: &HealthQuery, now_ms: u64) -> Vec<TargetView> {
        query
            .keys
            .iter()
            .map(|key| {
                if !query.claim_probes && !self.targets.contains_key(key) {
                    return TargetView::unknown(key);
                }
                self.targets
                    .entry(key.clone())
                    .or_default()
                    .view(key, query, now_ms)
            })
            .collect()
    }

    pub fn record(&mut self, record: &HealthRecord, now_ms: u64) {
        for report in &record.reports {
            self.targets.entry(report.key.clone()).or_default().record(
                report.outcome,
                record,
                now_ms,
            );
        }
    }
}

/// A target of the plan: its place in the route's chain, and whether it carries a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub index: usize,
    pub key: String,
    pub probe: bool,
}

/// The chain in the order to try, and the targets left out because their circuit is open.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ordered {
    pub targets: Vec<Planned>,
    pub skipped: Vec<String>,
}

/// Orders `targets` (a route's chain, in configured order) by `views` (the store's answer, by
/// key; a missing key counts as unknown). Targets of the same model keep the places the model
/// has in the chain but swap among themselves by expected latency: the EWMA time to first token,
/// plus `error_rate * error_penalty_ms`, plus `cost * cost_weight_ms`; ties keep the configured
/// order. A target never tried counts as the best known time of its group with the mean known
/// error rate: it does not outrank a healthy primary after one blip, and it does outrank one
/// that keeps failing. Then targets whose circuit rejects are left out.
pub fn order(targets: &[Target], views: &[TargetView], policy: &RoutingPolicy) -> Ordered {
    let view_of = |target: &Target| {
        let key = target.key();
        views
            .iter()
            .find(|v| v.key == key)
            .cloned()
            .unwrap_or_else(|| TargetView::unknown(&key))
    };
    let all: Vec<TargetView> = targets.iter().map(view_of).collect();
    let mut slots: Vec<usize> = (0..targets.len()).collect();
    let mut seen_models: Vec<&str> = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        if seen_models.contains(&target.model.as_str()) {
            continue;
        }
        seen_models.push(&target.model);
        let group: Vec<usize> = (i..targets.len())
            .filter(|&j| targets[j].model == target.model)
            .collect();
        if group.len() < 2 {
            continue;
        }
        let prior_ttft = group
            .iter()
            .filter_map(|&j| all[j].ttft_ms)
            .min_by(f64::total_cmp)
            .unwrap_or(0.0);
        let known: Vec<f64> = group
            .iter()
            .filter(|&&j| all[j].samples > 0)
            .map(|&j| all[j].error_rate)
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let prior_error_rate = known.iter().sum::<f64>() / known.len().max(1) as f64;
        let score = |j: usize| {
            let view = &all[j];
            let error_rate = if view.samples == 0 {
                prior_error_rate
            } else {
                view.error_rate
            };
            view.ttft_ms.unwrap_or(prior_ttft)
                + error_rate * policy.error_penalty_ms
                + targets[j].cost * policy.cost_weight_ms
        };
        let mut ranked = group.clone();
        ranked.sort_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)));
        for (slot, member) in group.iter().zip(ranked) {
            slots[*slot] = member;
        }
    }
    let mut ordered = Ordered::default();
    for index in slots {
        let view = &all[index];
        match view.admission {
            Admission::Rejected => ordered.skipped.push(view.key.clone()),
            admission => ordered.targets.push(Planned {
                index,
                key: view.key.clone(),
                probe: admission == Admission::Probe,
            }),
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::policy::CircuitPolicy, platform::health::HealthReport};

    const CIRCUIT: CircuitPolicy = CircuitPolicy {
        failure_threshold: 2,
        cool_down_ms: 100,
        window: 10,
        error_rate: None,
    };

    fn target(model: &str, region: &str) -> Target {
        Target::new(model, region)
    }

    fn view(key: &str, ttft: Option<f64>, error_rate: f64) -> TargetView {
        TargetView {
            ttft_ms: ttft,
            error_rate,
            samples: 10,
            ..TargetView::unknown(key)
        }
    }

    fn keys(ordered: &Ordered) -> Vec<&str> {
        ordered.targets.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn equivalent_targets_swap_by_latency_and_errors_others_keep_their_place() {
        let chain = [
            target("sonnet", "us-east-1"),
            target("sonnet", "us-west-2"),
            target("haiku", "us-east-1"),
        ];
        let policy = RoutingPolicy::default();
        // Nothing known: configured order.
        assert_eq!(
            keys(&order(&chain, &[], &policy)),
            ["sonnet@us-east-1", "sonnet@us-west-2", "haiku@us-east-1"]
        );
        // The second region is faster.
        let views = [
            view("sonnet@us-east-1", Some(900.0), 0.0),
            view("sonnet@us-west-2", Some(400.0), 0.0),
            view("haiku@us-east-1", Some(100.0), 0.0),
        ];
        let ordered = order(&chain, &views, &policy);
        assert_eq!(
            keys(&ordered),
            ["sonnet@us-west-2", "sonnet@us-east-1", "haiku@us-east-1"]
        );
        assert_eq!(ordered.targets[0].index, 1);
        // Faster but failing a third of its calls: 400 + 0.33 * 5000 > 900.
        let views = [
            view("sonnet@us-east-1", Some(900.0), 0.0),
            view("sonnet@us-west-2", Some(400.0), 0.33),
        ];
        assert_eq!(
            keys(&order(&chain, &views, &policy))[..2],
            ["sonnet@us-east-1", "sonnet@us-west-2"]
        );
        // An unknown target counts as the best known one: ties keep the configured order.
        let views = [view("sonnet@us-west-2", Some(400.0), 0.0)];
        assert_eq!(
            keys(&order(&chain, &views, &policy))[..2],
            ["sonnet@us-east-1", "sonnet@us-west-2"]
        );
    }

    #[test]
    fn an_untried_twin_does_not_outrank_a_primary_after_one_blip() {
        let chain = [target("m", "us-east-1"), target("m", "us-west-2")];
        let policy = RoutingPolicy::default();
        // One failure among successes, at alpha 0.3.
        let views = [view("m@us-east-1", Some(500.0), 0.3)];
        assert_eq!(
            keys(&order(&chain, &views, &policy)),
            ["m@us-east-1", "m@us-west-2"]
        );
        // A twin that has answered as fast without failing does.
        let views = [
            view("m@us-east-1", Some(500.0), 0.3),
            view("m@us-west-2", Some(500.0), 0.0),
        ];
        assert_eq!(
            keys(&order(&chain, &views, &policy)),
            ["m@us-west-2", "m@us-east-1"]
        );
    }

    #[test]
    fn cost_weighting_is_configurable() {
        let mut cheap = target("m", "us-west-2");
        cheap.cost = 0.5;
        let chain = [target("m", "us-east-1"), cheap];
        let views = [
            view("m@us-east-1", Some(500.0), 0.0),
            view("m@us-west-2", Some(600.0), 0.0),
        ];
        let latency_only = RoutingPolicy::default();
        assert_eq!(
            keys(&order(&chain, &views, &latency_only)),
            ["m@us-east-1", "m@us-west-2"]
        );
        let cost_aware = RoutingPolicy {
            cost_weight_ms: 400.0,
            ..latency_only
        };
        // 500 + 400 > 600 + 200.
        assert_eq!(
            keys(&order(&chain, &views, &cost_aware)),
            ["m@us-west-2", "m@us-east-1"]
        );
    }

    #[test]
    fn open_circuits_are_skipped_and_probes_marked() {
        let chain = [target("a", "us-east-1"), target("b", "us-east-1")];
        let views = [
            TargetView {
                admission: Admission::Rejected,
                ..TargetView::unknown("a@us-east-1")
            },
            TargetView {
                admission: Admission::Probe,
                ..TargetView::unknown("b@us-east-1")
            },
        ];
        let ordered = order(&chain, &views, &RoutingPolicy::default());
        assert_eq!(ordered.skipped, ["a@us-east-1"]);
        assert_eq!(
            ordered.targets,
            [Planned {
                index: 1,
                key: "b@us-east-1".into(),
                probe: true
            }]
        );
    }

    #[test]
    fn the_store_tracks_circuits_and_moving_averages() {
        let mut store = HealthStore::default();
        let record = |reports: Vec<HealthReport>| HealthRecord {
            reports,
            circuit: CIRCUIT,
            ewma_alpha: 0.5,
        };
        let report = |outcome| HealthReport {
            key: "k".into(),
            outcome,
        };
        let query = |claim_probes| HealthQuery {
            keys: vec!["k".into()],
            circuit: CIRCUIT,
            claim_probes,
        };
        store.record(
            &record(vec![report(Outcome::Success { ttft_ms: Some(100) })]),
            0,
        );
        store.record(
            &record(vec![report(Outcome::Success { ttft_ms: Some(300) })]),
            1,
        );
        let health = store.targets["k"];
        assert_eq!(health.ttft_ms, Some(200.0));
        assert_eq!((health.error_rate, health.samples), (0.0, 2));

        store.record(
            &record(vec![report(Outcome::Failure), report(Outcome::Failure)]),
            10,
        );
        let health = store.targets["k"];
        assert_eq!(health.error_rate, 0.75);
        assert_eq!(health.circuit, Circuit::Open { opened_ms: 10 });
        assert_eq!(
            store.load(&query(true), 50)[0].admission,
            Admission::Rejected
        );
        // Inspecting after the cool-down changes nothing; planning claims the probe once.
        assert_eq!(
            store.load(&query(false), 110)[0].admission,
            Admission::Probe
        );
        assert_eq!(store.load(&query(true), 110)[0].admission, Admission::Probe);
        let view = &store.load(&query(true), 111)[0];
        assert_eq!(
            (view.admission, view.circuit.as_str()),
            (Admission::Rejected, "half_open")
        );
        store.record(
            &record(vec![report(Outcome::Success { ttft_ms: None })]),
            120,
        );
        assert_eq!(
            store.load(&query(true), 121)[0].admission,
            Admission::Allowed
        );
        // Unknown keys are healthy, and inspecting them stores nothing.
        let unknown = HealthQuery {
            keys: vec!["new".into()],
            ..query(false)
        };
        assert_eq!(store.load(&unknown, 0), [TargetView::unknown("new")]);
        assert!(!store.targets.contains_key("new"));
    }

    #[test]
    fn seam_types_serialise_compactly() {
        let report = HealthReport {
            key: "m@r".into(),
            outcome: Outcome::Success { ttft_ms: Some(5) },
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"key":"m@r","outcome":"success","ttft_ms":5}"#
        );
        let back: HealthReport =
            serde_json::from_str(r#"{"key":"m@r","outcome":"failure"}"#).unwrap();
        assert_eq!(back.outcome, Outcome::Failure);
        // A success without a first token: `ttft_ms` absent or null.
        for json in [
            r#"{"key":"m@r","outcome":"success"}"#,
            r#"{"key":"m@r","outcome":"success","ttft_ms":null}"#,
        ] {
            let back: HealthReport = serde_json::from_str(json).unwrap();
            assert_eq!(back.outcome, Outcome::Success { ttft_ms: None });
        }
        assert!(serde_json::from_str::<HealthReport>(r#"{"key":"m@r","outcome":"meh"}"#).is_err());
    }

    #[test]
    fn policy_bounds() {
        assert_eq!(RoutingPolicy::default().check(), Ok(()));
        let bad = RoutingPolicy {
            ewma_alpha: 0.0,
            ..RoutingPolicy::default()
        };
        assert!(bad.check().is_err());
    }
}
