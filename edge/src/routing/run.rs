//! One request's run along its planned chain, as the steps the pipeline's decision loop takes:
//! [`Run::attempt`] makes one call and says how it went ([`AttemptOutcome`]), before anything
//! reached the client; [`Run::after_failure`] decides what follows a failed attempt (retry,
//! next target, or stop); an [`Answer`] that has started is read to its end, which
//! [`Run::end`] turns into `done` or a failure after the first byte; [`Run::give_up`] ends a
//! run no target answered
//! (the last resort, or the error). The run keeps the request's log line and the targets'
//! health reports.

use crate::{
    bedrock::{
        call::{self, UpstreamEvent, UpstreamEvents},
        error::{BedrockError, BedrockErrorKind},
        operation::NativeBody,
        send::CallOptions,
    },
    config::{
        policy::RetryPolicy, settings::Settings, Config, LastResort, Target, Timeouts, TokenBudget,
    },
    platform::{
        health::{HealthRecord, HealthReport, Outcome},
        Platform,
    },
    routing::{
        circuit::{failure_outcome, refuses_to_serve},
        plan::Candidate,
        request_log::{LogLine, RequestLog},
        retry::{next_step, Deadline, Failure, Next},
    },
};
use shared::{Delta, Done, Fallback, Meta, StreamError, StreamEvent, Usage};
use std::rc::Rc;

/// What the pipeline produces: the client's events, plus what whole answers need.
pub enum Step {
    Meta(Meta),
    Fallback(Fallback),
    Delta(String),
    Native(NativeBody),
    Done {
        done: Done,
        upstream_ms: u64,
    },
    Failed {
        error: BedrockError,
        upstream_ms: u64,
    },
}

impl Step {
    pub fn into_event(self) -> Option<StreamEvent> {
        Some(match self {
            Self::Meta(meta) => StreamEvent::Meta(meta),
            Self::Fallback(fallback) => StreamEvent::Fallback(fallback),
            Self::Delta(text) => StreamEvent::Delta(Delta { text }),
            Self::Native(_) => return None,
            Self::Done { done, .. } => StreamEvent::Done(done),
            Self::Failed { error, .. } => StreamEvent::Error(StreamError {
                code: error.code(),
                message: error.client_message(),
                retryable: error.retryable(),
            }),
        })
    }
}

/// How one attempt went, before anything of it reached the client.
pub enum AttemptOutcome<P: Platform> {
    /// The answer started (its first text, or a whole answer without any): forward it.
    Answered(Box<Answer<P>>),
    /// It failed before the first byte reached the client: retry or fall back.
    FailedBeforeFirstByte(BedrockError),
    /// The request's deadline passed before the attempt could start.
    OutOfTime,
}

/// An answer that has started: its first text (read by the attempt), then the rest of the
/// stream.
pub struct Answer<P: Platform> {
    target: Target,
    events: UpstreamEvents<P>,
    sent_ms: u64,
    /// The first text, read by the attempt and not yet passed on.
    first_text: Option<String>,
    stop_reason: String,
    usage: Usage,
    /// Milliseconds from the request reaching the edge to the first text.
    first_token_ms: Option<u64>,
    bill: Bill<P>,
}

/// What an answer costs its client's token budget, charged once when the answer is dropped,
/// however it ended (a client going away mid-stream included): the usage Bedrock reported,
/// or, for an answer that broke off before reporting it, an estimate of the text that
/// streamed (four characters a token).
struct Bill<P: Platform> {
    platform: P,
    /// The client and its budget, when the request is billed.
    to: Option<(String, TokenBudget)>,
    usage: Option<Usage>,
    streamed_chars: usize,
}

impl<P: Platform> Drop for Bill<P> {
    fn drop(&mut self) {
        let Some((client, budget)) = &self.to else {
            return;
        };
        let tokens = match self.usage {
            Some(usage) => u64::from(usage.input_tokens) + u64::from(usage.output_tokens),
            None => self.streamed_chars.div_ceil(4) as u64,
        };
        if tokens > 0 {
            self.platform.budget_charge(client, *budget, tokens);
        }
    }
}

/// How an answer's stream ended.
pub enum Ending {
    /// Its stop and usage arrived and the stream closed.
    Complete,
    /// It broke off.
    Failed(BedrockError),
}

impl<P: Platform> Answer<P> {
    fn new(candidate: &Candidate, events: UpstreamEvents<P>, sent_ms: u64, bill: Bill<P>) -> Self {
        Self {
            bill,
            target: candidate.target.clone(),
            events,
            sent_ms,
            first_text: None,
            stop_reason: String::new(),
            usage: Usage::default(),
            first_token_ms: None,
        }
    }

    /// The next text of the answer, or how it ended; its stop reason and usage are kept as
    /// they pass.
    pub async fn next_text(&mut self) -> Result<String, Ending> {
        if let Some(text) = self.first_text.take() {
            return Ok(text);
        }
        loop {
            match self.events.next().await {
                Some(UpstreamEvent::Text(text)) => {
                    self.bill.streamed_chars += text.len();
                    return Ok(text);
                }
                Some(UpstreamEvent::Stop { reason }) => self.stop_reason = reason,
                Some(UpstreamEvent::Usage { input, output }) => {
                    self.usage = Usage {
                        input_tokens: input,
                        output_tokens: output,
                    };
                    self.bill.usage = Some(self.usage);
                }
                Some(UpstreamEvent::Error(error)) => return Err(Ending::Failed(error)),
                None => return Err(Ending::Complete),
            }
        }
    }
}

/// Collects the outcomes of one request and hands them to the platform once, when dropped
/// (whatever way the request ends, a client going away included), with the half-open probes
/// it held and did not use released.
struct Reports<P: Platform> {
    platform: P,
    record: HealthRecord,
    /// Keys of the probes granted to this request and not yet reported on.
    unused_probes: Vec<String>,
}

impl<P: Platform> Reports<P> {
    fn new(platform: P, config: &Config) -> Self {
        Self {
            platform,
            record: HealthRecord {
                reports: Vec::new(),
                circuit: config.circuit,
                ewma_alpha: config.routing.ewma_alpha,
            },
            unused_probes: Vec::new(),
        }
    }

    fn add(&mut self, target: &Target, outcome: Outcome) {
        let key = target.key();
        self.unused_probes.retain(|probe| *probe != key);
        self.record.reports.push(HealthReport { key, outcome });
    }
}

impl<P: Platform> Drop for Reports<P> {
    fn drop(&mut self) {
        for key in std::mem::take(&mut self.unused_probes) {
            self.record.reports.push(HealthReport {
                key,
                outcome: Outcome::Released,
            });
        }
        if !self.record.reports.is_empty() {
            let record = HealthRecord {
                reports: std::mem::take(&mut self.record.reports),
                ..self.record.clone()
            };
            self.platform.health_record(record);
        }
    }
}

/// The state of one request's run.
pub struct Run<P: Platform> {
    platform: P,
    settings: Rc<Settings>,
    trace: Vec<(String, String)>,
    started_ms: u64,
    log: RequestLog<P>,
    reports: Reports<P>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    last_resort: Option<LastResort>,
    deadline: Deadline,
    upstream_ms: u64,
    /// Calls made to the current target.
    attempts: u32,
    /// The target tried last, and why it was left.
    previous: String,
    why: String,
    last_error: Option<BedrockError>,
    /// Every failed attempt so far was a target refusing to serve: if all refuse, the
    /// client hears why (credentials, access), not the last resort meant for outages.
    only_refusals: bool,
    /// The client whose token budget the answer is charged to, and that budget.
    bill_to: Option<(String, TokenBudget)>,
}

impl<P: Platform> Run<P> {
    /// A run of the chain route `route`, its answer charged to `billed` (a client) when the
    /// configuration has a token budget; `Err` is the step that ends a request whose route is
    /// gone from the configuration.
    pub fn new(
        platform: P,
        settings: Rc<Settings>,
        trace: Vec<(String, String)>,
        started_ms: u64,
        route: &str,
        line: LogLine,
        billed: Option<String>,
    ) -> Result<Self, Step> {
        let mut log = RequestLog::new(platform.clone(), line, started_ms);
        let config = &settings.config;
        let Some(route) = config.routes.get(route) else {
            let error = BedrockError::new(
                BedrockErrorKind::EdgeMisconfigured,
                format!("no route named {route:?}"),
            );
            return Err(fail(&mut log, error, 0));
        };
        Ok(Self {
            reports: Reports::new(platform.clone(), config),
            retry: route.retry,
            timeouts: route.timeouts,
            last_resort: route.last_resort.clone(),
            deadline: Deadline::new(started_ms, &route.retry),
            platform,
            trace,
            started_ms,
            log,
            upstream_ms: 0,
            attempts: 0,
            previous: String::new(),
            why: "circuit open".into(),
            last_error: None,
            only_refusals: true,
            bill_to: billed.zip(config.token_budget),
            settings,
        })
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Ends the run before any attempt: nothing of the route takes the request.
    pub fn refuse(mut self, error: BedrockError) -> Step {
        fail(&mut self.log, error, 0)
    }

    /// The first target (the chain's head once planned) is the one `meta` announces; `probes`
    /// are the half-open probes the plan was granted.
    pub fn begin(&mut self, first: &Target, circuit_open: Vec<String>, probes: Vec<String>) {
        self.reports.unused_probes = probes;
        self.log.line.circuit_open = circuit_open;
        self.log.line.model = Some(first.public_model());
        self.log.line.region = Some(first.region.clone());
        self.previous = first.public_key();
    }

    /// Moves on to `target`, the chain's `position`-th: a `fallback` to announce after the
    /// first.
    pub fn start_target(&mut self, position: usize, target: &Target) -> Option<Fallback> {
        self.attempts = 0;
        let fallback = (position > 0).then(|| {
            self.log.line.fallbacks += 1;
            self.log.line.model = Some(target.public_model());
            self.log.line.region = Some(target.region.clone());
            Fallback {
                from: self.previous.clone(),
                to: target.public_key(),
                reason: self.why.clone(),
                model: target.public_model(),
                region: target.region.clone(),
            }
        });
        self.previous = target.public_key();
        self.log.line.targets_tried.push(target.public_key());
        fallback
    }

    /// One call to `candidate`, read until its answer starts or it fails.
    pub async fn attempt(&mut self, candidate: &Candidate) -> AttemptOutcome<P> {
        let remaining = self.deadline.remaining(self.platform.now_ms());
        if remaining == 0 {
            self.last_error = Some(BedrockError::new(
                BedrockErrorKind::FirstByteTimeout,
                format!(
                    "no answer started within the {} ms deadline",
                    self.retry.deadline_ms
                ),
            ));
            return AttemptOutcome::OutOfTime;
        }
        self.attempts += 1;
        self.log.line.attempts += 1;
        let call = CallOptions {
            timeouts: Timeouts {
                first_byte_ms: self.timeouts.first_byte_ms.min(remaining),
                idle_ms: self.timeouts.idle_ms,
            },
            trace: &self.trace,
        };
        let sent_ms = self.platform.now_ms();
        let mut answered = None;
        let opened = call::open(
            &self.platform,
            &self.settings,
            &candidate.target,
            &candidate.operation,
            &call,
            &mut answered,
        )
        .await;
        if let Some(answered) = answered {
            self.log.line.upstream_status = Some(answered.status);
            self.log.line.upstream_request_id = answered.request_id;
        }
        let events = match opened {
            Ok(events) => events,
            Err(error) => return self.failed_before_first_byte(&candidate.target, sent_ms, error),
        };
        let bill = Bill {
            platform: self.platform.clone(),
            to: self.bill_to.clone(),
            usage: None,
            streamed_chars: 0,
        };
        let mut answer = Answer::new(candidate, events, sent_ms, bill);
        let ttft_ms = match answer.next_text().await {
            Err(Ending::Failed(error)) => {
                return self.failed_before_first_byte(&candidate.target, sent_ms, error);
            }
            Ok(text) => {
                // The answer has started: no retry or fallback now.
                let now = self.platform.now_ms();
                answer.first_text = Some(text);
                answer.first_token_ms = Some(now.saturating_sub(self.started_ms));
                Some(now.saturating_sub(sent_ms))
            }
            Err(Ending::Complete) => None,
        };
        self.reports
            .add(&candidate.target, Outcome::Success { ttft_ms });
        AttemptOutcome::Answered(Box::new(answer))
    }

    fn failed_before_first_byte(
        &mut self,
        target: &Target,
        sent_ms: u64,
        error: BedrockError,
    ) -> AttemptOutcome<P> {
        self.upstream_ms += self.platform.now_ms().saturating_sub(sent_ms);
        if let Some(outcome) = failure_outcome(error.kind) {
            self.reports.add(target, outcome);
        }
        AttemptOutcome::FailedBeforeFirstByte(error)
    }

    /// What follows a failed attempt: the same target again after a backoff, the next one, or
    /// no other try at all.
    pub fn after_failure(&mut self, error: BedrockError) -> Next {
        let now = self.platform.now_ms();
        let next = next_step(
            &self.retry,
            Failure::of(&error),
            self.attempts,
            now,
            self.deadline,
            self.platform.random_u64(),
        );
        // A short, safe reason for a `fallback` event: the error's kind.
        self.why = error.kind.as_str().to_owned();
        self.only_refusals &= refuses_to_serve(error.kind);
        self.last_error = Some(error);
        next
    }

    /// The steps that end a started answer: `Done` (after InvokeModel's own body), or
    /// `Failed` when it broke off after the first byte.
    pub fn end(&mut self, answer: &mut Answer<P>, ending: Ending) -> (Option<Step>, Step) {
        self.end_call(answer);
        let error = match ending {
            Ending::Failed(error) => error,
            Ending::Complete => {
                self.log.line.input_tokens = Some(answer.usage.input_tokens);
                self.log.line.output_tokens = Some(answer.usage.output_tokens);
                self.log.write("ok");
                let done = Step::Done {
                    done: Done {
                        stop_reason: std::mem::take(&mut answer.stop_reason),
                        usage: answer.usage,
                        latency_ms: self.log.line.latency_ms,
                        first_token_ms: answer.first_token_ms,
                        last_resort: None,
                    },
                    upstream_ms: self.upstream_ms,
                };
                return (answer.events.take_native().map(Step::Native), done);
            }
        };
        if let Some(outcome) = failure_outcome(error.kind) {
            self.reports.add(&answer.target, outcome);
        }
        (None, fail(&mut self.log, error, self.upstream_ms))
    }

    /// Ends an answered call: its time upstream and its first token go in the log line.
    fn end_call(&mut self, answer: &Answer<P>) {
        self.upstream_ms += self.platform.now_ms().saturating_sub(answer.sent_ms);
        self.log.line.upstream_ms = Some(self.upstream_ms);
        self.log.line.first_token_ms = answer.first_token_ms;
    }

    /// Ends a run no target answered: the route's last resort unless the last error `stopped`
    /// the run (one no other target would fix) or every target refused to serve, else the
    /// error.
    pub fn give_up(&mut self, stopped: bool) -> Vec<Step> {
        self.log.line.upstream_ms = Some(self.upstream_ms);
        let refused_everywhere = self.only_refusals
            && self
                .last_error
                .as_ref()
                .is_some_and(|error| refuses_to_serve(error.kind));
        let stopped = stopped || refused_everywhere;
        if let (false, Some(last_resort)) = (stopped, self.last_resort.clone()) {
            self.log.line.fallbacks += 1;
            self.log.line.last_resort = Some(last_resort.kind());
            if let Some(error) = &self.last_error {
                record_error(&mut self.log.line, error);
            }
            let fallback = Step::Fallback(Fallback {
                from: self.previous.clone(),
                to: "last_resort".into(),
                reason: self.why.clone(),
                model: String::new(),
                region: String::new(),
            });
            let text = Step::Delta(last_resort.text().to_owned());
            self.log.write("last_resort");
            let done = Step::Done {
                done: Done {
                    stop_reason: "last_resort".into(),
                    usage: Usage::default(),
                    latency_ms: self.log.line.latency_ms,
                    first_token_ms: None,
                    last_resort: Some(last_resort.kind().into()),
                },
                upstream_ms: self.upstream_ms,
            };
            return vec![fallback, text, done];
        }
        let error = self.last_error.take().unwrap_or_else(|| {
            BedrockError::new(
                BedrockErrorKind::ServiceUnavailable,
                "every target's circuit is open",
            )
        });
        vec![fail(&mut self.log, error, self.upstream_ms)]
    }
}

/// Logs the failure (a whole answer's status is the error's) and makes its step.
fn fail<P: Platform>(log: &mut RequestLog<P>, error: BedrockError, upstream_ms: u64) -> Step {
    record_error(&mut log.line, &error);
    if log.line.stream == Some(false) {
        log.line.status = Some(error.http_status());
    }
    log.write("error");
    Step::Failed { error, upstream_ms }
}

fn record_error(line: &mut LogLine, error: &BedrockError) {
    line.error = Some(error.kind.as_str().to_owned());
    line.set_detail(error.loggable_message());
}
