//! The plan of a request, made before the first byte: the route's targets as candidates, each
//! with the call it gets (the chat request within the target's caps, or the native body as
//! checked for its model), then ordered by live health with open circuits left out.

use crate::{
    bedrock::{
        native::{self, NativeFormat},
        operation::Operation,
    },
    config::{
        limits::{DEFAULT_MAX_TOKENS, MAX_TOKENS},
        settings::Settings,
        Config, Target,
    },
    platform::{health::HealthQuery, Platform},
    routing::health,
};
use shared::ChatRequest;

/// One target of a chain and the call it gets.
pub struct Candidate {
    pub target: Target,
    pub operation: Operation,
}

/// The chat request as `target` gets it: `max_tokens` within the target's cap, the target's
/// temperature when the request sets none.
fn for_target(request: &ChatRequest, target: &Target) -> ChatRequest {
    let cap = target.max_tokens.unwrap_or(MAX_TOKENS).min(MAX_TOKENS);
    ChatRequest {
        max_tokens: Some(request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).min(cap)),
        temperature: request.temperature.or(target.temperature),
        ..request.clone()
    }
}

pub fn chat_candidates(
    settings: &Settings,
    route: &str,
    request: &ChatRequest,
    stream: bool,
) -> Vec<Candidate> {
    let Some(route) = settings.config.routes.get(route) else {
        return Vec::new();
    };
    route
        .targets
        .iter()
        .map(|target| {
            let request = for_target(request, target);
            Candidate {
                target: target.clone(),
                operation: if stream {
                    Operation::ConverseStream(request)
                } else {
                    Operation::Converse(request)
                },
            }
        })
        .collect()
}

/// The targets of `route` that take `raw_body` in the primary's native format, each with the
/// body as checked for its model. The app checked it against the primary already.
pub fn invoke_candidates(
    settings: &Settings,
    route: &str,
    raw_body: &[u8],
    stream: bool,
) -> Vec<Candidate> {
    let Some(route) = settings.config.routes.get(route) else {
        return Vec::new();
    };
    let mut format: Option<NativeFormat> = None;
    let mut candidates = Vec::new();
    for target in &route.targets {
        let rules = native::Rules {
            max_tokens: target.max_tokens,
            prompt_caching: route.prompt_caching,
        };
        let Ok((body, target_format)) = native::prepare(&target.model, raw_body, rules) else {
            continue;
        };
        if *format.get_or_insert(target_format) != target_format {
            continue;
        }
        candidates.push(Candidate {
            target: target.clone(),
            operation: if stream {
                Operation::InvokeStream {
                    body,
                    format: target_format,
                }
            } else {
                Operation::Invoke {
                    body,
                    format: target_format,
                }
            },
        });
    }
    candidates
}

/// The chain in the order to try, decided before the first byte.
pub struct Plan {
    pub candidates: Vec<Candidate>,
    /// Public names of the targets left out because their circuit is open.
    pub skipped: Vec<String>,
    /// Why the order differs from the configured one, if it does.
    pub reason: Option<String>,
    /// Keys of the targets whose half-open probe this request holds.
    pub probes: Vec<String>,
}

/// Orders `candidates` by the shared health (one round trip), leaving out open circuits.
pub async fn plan<P: Platform>(platform: &P, config: &Config, candidates: Vec<Candidate>) -> Plan {
    let targets: Vec<Target> = candidates.iter().map(|c| c.target.clone()).collect();
    let views = platform
        .health_load(HealthQuery {
            keys: targets.iter().map(Target::key).collect(),
            circuit: config.circuit,
            claim_probes: true,
        })
        .await;
    let ordered = health::order(&targets, &views, &config.routing);
    // What clients and logs see of a key: the target's public name.
    let public = |key: &str| {
        targets
            .iter()
            .find(|t| t.key() == key)
            .map_or_else(|| key.to_owned(), Target::public_key)
    };
    let skipped: Vec<String> = ordered.skipped.iter().map(|key| public(key)).collect();
    let mut notes = Vec::new();
    if !skipped.is_empty() {
        notes.push(format!("circuit open: {}", skipped.join(", ")));
    }
    let reordered = ordered
        .targets
        .iter()
        .enumerate()
        .any(|(i, p)| p.index != i);
    if reordered && ordered.skipped.is_empty() {
        notes.push("equivalent targets ordered by live latency and errors".into());
    }
    let probes: Vec<String> = ordered
        .targets
        .iter()
        .filter(|p| p.probe)
        .map(|p| p.key.clone())
        .collect();
    if !probes.is_empty() {
        let names: Vec<String> = probes.iter().map(|key| public(key)).collect();
        notes.push(format!("half-open probe: {}", names.join(", ")));
    }
    let mut slots: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    Plan {
        candidates: ordered
            .targets
            .iter()
            .filter_map(|p| slots.get_mut(p.index).and_then(Option::take))
            .collect(),
        skipped,
        reason: (!notes.is_empty()).then(|| notes.join("; ")),
        probes,
    }
}
