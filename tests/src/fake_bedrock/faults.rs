//! Fault injection, set replies and call counting: the rules tests set through
//! `POST /_fake/faults` (or `FakeBedrock::set_fault`), what each fault kind does to a call, and
//! the reply texts set through `POST /_fake/replies` (or `FakeBedrock::set_reply`).

use super::errors::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What goes wrong with a matching call. JSON: `{"kind": "throttle"}`, `{"kind": "slow_tokens",
/// "ms": 200}`, `{"kind": "exception_after", "deltas": 2, "exception": "throttlingException"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// 429 ThrottlingException.
    Throttle,
    /// 503 ServiceUnavailableException.
    Unavailable,
    /// 500 InternalServerException.
    Internal,
    /// 424 ModelErrorException with `originalStatusCode`.
    ModelError,
    /// 408 ModelTimeoutException.
    ModelTimeout,
    /// 429 ModelNotReadyException.
    ModelNotReady,
    /// 400 ValidationException.
    Validation,
    /// 403 AccessDeniedException.
    AccessDenied,
    /// Never answers (no response headers) until the client goes away.
    Hang,
    /// Waits `ms` before the response headers.
    SlowFirstByte { ms: u64 },
    /// Waits `ms` between stream frames (non-streaming calls: once, before answering).
    SlowTokens { ms: u64 },
    /// Streams `deltas` deltas, then an exception frame, then ends. Non-streaming calls get the
    /// exception as an HTTP error instead (e.g. 429 ThrottlingException).
    ExceptionAfter {
        deltas: u32,
        exception: StreamException,
    },
    /// Streams `deltas` deltas, then a frame with a wrong message CRC. Non-streaming: 500.
    BadCrcAfter { deltas: u32 },
    /// Streams `deltas` deltas, then aborts the connection mid-body. Non-streaming: the JSON
    /// body breaks off half way with an aborted connection.
    DropAfter { deltas: u32 },
    /// Streams `deltas` deltas and half a frame, then ends cleanly. Non-streaming: half the
    /// JSON body, then a clean end.
    TruncatedAfter { deltas: u32 },
}

/// The modeled mid-stream exceptions, by their `:exception-type` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamException {
    ThrottlingException,
    ModelStreamErrorException,
    InternalServerException,
    ServiceUnavailableException,
    ValidationException,
    ModelTimeoutException,
}

impl StreamException {
    /// The `:exception-type` header value.
    pub fn name(self) -> &'static str {
        match self {
            Self::ThrottlingException => "throttlingException",
            Self::ModelStreamErrorException => "modelStreamErrorException",
            Self::InternalServerException => "internalServerException",
            Self::ServiceUnavailableException => "serviceUnavailableException",
            Self::ValidationException => "validationException",
            Self::ModelTimeoutException => "modelTimeoutException",
        }
    }

    /// The same error as an HTTP response (its message is also the frame's).
    pub fn error(self) -> ApiError {
        match self {
            Self::ThrottlingException => ApiError::throttling(),
            Self::ModelStreamErrorException => ApiError::model_stream_error(),
            Self::InternalServerException => ApiError::internal(),
            Self::ServiceUnavailableException => ApiError::unavailable(),
            Self::ValidationException => {
                ApiError::validation("The model stream was stopped: the input is invalid.")
            }
            Self::ModelTimeoutException => ApiError::model_timeout(),
        }
    }
}

impl Fault {
    /// The error answer this fault gives instead of a 200, if it gives one.
    pub fn http_error(&self, streaming: bool) -> Option<ApiError> {
        match self {
            Self::Throttle => Some(ApiError::throttling()),
            Self::Unavailable => Some(ApiError::unavailable()),
            Self::Internal => Some(ApiError::internal()),
            Self::ModelError => Some(ApiError::model_error()),
            Self::ModelTimeout => Some(ApiError::model_timeout()),
            Self::ModelNotReady => Some(ApiError::model_not_ready()),
            Self::Validation => Some(ApiError::validation(
                "The provided model identifier is invalid.",
            )),
            Self::AccessDenied => Some(ApiError::access_denied()),
            Self::ExceptionAfter { exception, .. } if !streaming => Some(exception.error()),
            Self::BadCrcAfter { .. } if !streaming => Some(ApiError::internal()),
            _ => None,
        }
    }
}

/// One rule, as posted to `/_fake/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The model id exactly as the caller sends it (decoded), or `*` for every model.
    pub model: String,
    /// Only calls signed for this region; absent = any region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The next N matching calls; absent = every call until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    pub fault: Fault,
}

impl FaultRule {
    /// A rule for every call to `model`.
    pub fn new(model: impl Into<String>, fault: Fault) -> Self {
        Self {
            model: model.into(),
            region: None,
            times: None,
            fault,
        }
    }

    /// Only for the next `n` matching calls.
    pub fn times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }

    /// Only for calls signed for `region`.
    pub fn region(self, region: impl Into<String>) -> Self {
        Self {
            region: Some(region.into()),
            ..self
        }
    }

    fn matches(&self, model: &str, region: &str) -> bool {
        (self.model == model || self.model == "*")
            && self.region.as_deref().is_none_or(|r| r == region)
    }
}

/// A reply text for a model's calls, as posted to `/_fake/replies`: every call to `model` (`*`:
/// every model) answers `text` instead of the generated greeting, in word-sized deltas and cut
/// at `maxTokens` as usual. Benchmarks use it for long (markdown) answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetReply {
    pub model: String,
    pub text: String,
}

/// Fault rules, set replies and call counters, shared by the server and the handle.
#[derive(Debug, Default)]
pub struct Control {
    faults: Mutex<Vec<FaultRule>>,
    replies: Mutex<BTreeMap<String, String>>,
    calls: Mutex<Calls>,
}

#[derive(Debug, Default)]
struct Calls {
    by_model: BTreeMap<String, u32>,
    by_region: BTreeMap<String, u32>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Control {
    /// Adds a rule; rules are tried in the order they were added. `times: 0` is refused.
    pub fn add(&self, rule: FaultRule) -> Result<(), String> {
        if rule.times == Some(0) {
            return Err("times must be at least 1 (leave it out for always)".into());
        }
        lock(&self.faults).push(rule);
        Ok(())
    }

    /// Clears all rules, set replies and counters.
    pub fn reset(&self) {
        lock(&self.faults).clear();
        lock(&self.replies).clear();
        *lock(&self.calls) = Calls::default();
    }

    /// Sets the reply of `reply.model` (replacing an earlier one); an empty text is refused.
    pub fn set_reply(&self, reply: SetReply) -> Result<(), String> {
        if reply.text.is_empty() {
            return Err("text must not be empty".into());
        }
        lock(&self.replies).insert(reply.model, reply.text);
        Ok(())
    }

    /// The reply set for `model`, else the one set for `*`.
    pub fn reply_for(&self, model: &str) -> Option<String> {
        let replies = lock(&self.replies);
        replies.get(model).or_else(|| replies.get("*")).cloned()
    }

    /// The set replies by model.
    pub fn replies(&self) -> BTreeMap<String, String> {
        lock(&self.replies).clone()
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.faults).clone()
    }

    /// Counts one authenticated call to `model` signed for `region`.
    pub fn record_call(&self, model: &str, region: &str) {
        let mut calls = lock(&self.calls);
        *calls.by_model.entry(model.to_owned()).or_default() += 1;
        *calls
            .by_region
            .entry(format!("{model}@{region}"))
            .or_default() += 1;
    }

    pub fn calls(&self, model: &str) -> u32 {
        lock(&self.calls).by_model.get(model).copied().unwrap_or(0)
    }

    /// `{"calls": {"<model>": N}, "by_region": {"<model>@<region>": N}}`.
    pub fn calls_json(&self) -> Value {
        let calls = lock(&self.calls);
        json!({ "calls": calls.by_model, "by_region": calls.by_region })
    }

    /// The fault for this call, if a rule matches; uses up one of the rule's `times`.
    pub fn take_fault(&self, model: &str, region: &str) -> Option<Fault> {
        let mut rules = lock(&self.faults);
        let index = rules.iter().position(|rule| rule.matches(model, region))?;
        let fault = rules[index].fault.clone();
        if let Some(times) = &mut rules[index].times {
            *times -= 1;
            if *times == 0 {
                rules.remove(index);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_the_documented_json() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"model":"m","region":"eu-west-1","times":2,"fault":{"kind":"exception_after","deltas":3,"exception":"modelStreamErrorException"}}"#,
        )
        .unwrap();
        let exception = StreamException::ModelStreamErrorException;
        assert_eq!(
            rule,
            FaultRule::new(
                "m",
                Fault::ExceptionAfter {
                    deltas: 3,
                    exception
                }
            )
            .times(2)
            .region("eu-west-1")
        );
        let hang: FaultRule =
            serde_json::from_str(r#"{"model":"*","fault":{"kind":"hang"}}"#).unwrap();
        assert_eq!(hang.fault, Fault::Hang);
        assert_eq!(
            serde_json::to_value(Fault::SlowTokens { ms: 5 }).unwrap(),
            json!({"kind":"slow_tokens","ms":5})
        );
        for bad in [
            r#"{"model":"m","fault":{"kind":"nope"}}"#,
            r#"{"model":"m","fault":{"kind":"throttle"},"x":1}"#,
        ] {
            assert!(serde_json::from_str::<FaultRule>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_runs_out_and_region_filters() {
        let control = Control::default();
        control
            .add(FaultRule::new("m", Fault::Throttle).times(2))
            .unwrap();
        control
            .add(FaultRule::new("m", Fault::Internal).region("eu-west-1"))
            .unwrap();
        assert!(control
            .add(FaultRule::new("m", Fault::Internal).times(0))
            .is_err());
        assert_eq!(control.take_fault("m", "us-east-1"), Some(Fault::Throttle));
        assert_eq!(control.take_fault("other", "us-east-1"), None);
        assert_eq!(control.take_fault("m", "us-east-1"), Some(Fault::Throttle));
        assert_eq!(control.take_fault("m", "us-east-1"), None);
        assert_eq!(control.take_fault("m", "eu-west-1"), Some(Fault::Internal));
        assert_eq!(control.take_fault("m", "eu-west-1"), Some(Fault::Internal));
        control.record_call("m", "us-east-1");
        control.record_call("m", "eu-west-1");
        assert_eq!(control.calls("m"), 2);
        assert_eq!(control.calls_json()["by_region"]["m@eu-west-1"], 1);
        control.reset();
        assert_eq!((control.calls("m"), control.rules().len()), (0, 0));
    }

    #[test]
    fn set_replies_apply_by_model_then_wildcard_until_reset() {
        let control = Control::default();
        let reply = |model: &str, text: &str| SetReply {
            model: model.into(),
            text: text.into(),
        };
        assert_eq!(control.reply_for("m"), None);
        control.set_reply(reply("*", "for all")).unwrap();
        control.set_reply(reply("m", "for m")).unwrap();
        assert!(control.set_reply(reply("m", "")).is_err());
        assert_eq!(control.reply_for("m").as_deref(), Some("for m"));
        assert_eq!(control.reply_for("other").as_deref(), Some("for all"));
        let parsed: SetReply = serde_json::from_str(r##"{"model":"m","text":"# Hi"}"##).unwrap();
        assert_eq!(parsed, reply("m", "# Hi"));
        assert!(serde_json::from_str::<SetReply>(r#"{"model":"m","text":"x","y":1}"#).is_err());
        control.reset();
        assert_eq!(control.reply_for("other"), None);
    }
}
