//! Server-Sent Events framing: the edge encodes [`StreamEvent`]s with [`encode`], clients decode
//! a byte stream that may be split anywhere with [`SseParser`].

use crate::events::StreamEvent;

/// `Content-Type` of a streamed answer.
pub const CONTENT_TYPE: &str = "text/event-stream";

/// One event as SSE text: `event: <name>\ndata: <json>\n\n`, written into one buffer.
pub fn encode(event: &StreamEvent) -> String {
    let name = event.name();
    let mut out = Vec::with_capacity(name.len() + 48);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    event.write_data_json(&mut out);
    out.extend_from_slice(b"\n\n");
    // Only UTF-8 went in: the name, the literals and serde_json's output.
    String::from_utf8(out).unwrap_or_default()
}

/// A comment line; keeps intermediaries from closing an idle stream.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// An event as it came off the wire, before its data is interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub name: String,
    pub data: String,
}

impl RawEvent {
    /// Interprets the event; `None` for event names this version does not know.
    pub fn parse(&self) -> Option<Result<StreamEvent, serde_json::Error>> {
        StreamEvent::from_parts(&self.name, &self.data)
    }
}

/// Incremental SSE parser (WHATWG rules for `event`, `data` and comments). Feed it chunks as
/// they arrive; it returns each event once its terminating blank line has been seen.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    name: String,
    data: Vec<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and returns the events they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<RawEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n' || b == b'\r') {
            // A `\r` at the very end may be the first half of `\r\n`: wait for the next byte.
            if self.pending[end] == b'\r' && end + 1 == self.pending.len() {
                break;
            }
            let skip = if self.pending[end] == b'\r' && self.pending.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.pending.drain(..end + skip).take(end).collect();
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<RawEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.name.clear();
                return None;
            }
            let name = std::mem::take(&mut self.name);
            let data = std::mem::take(&mut self.data).join("\n");
            return Some(RawEvent {
                name: if name.is_empty() {
                    "message".into()
                } else {
                    name
                },
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        chat::Usage,
        error::ErrorCode,
        events::{Delta, Done, Fallback, Meta, StreamError},
    };

    fn sample() -> Vec<StreamEvent> {
        vec![
            StreamEvent::Meta(Meta {
                request_id: "r1".into(),
                route: "generate".into(),
                model: "m".into(),
                region: "us-east-1".into(),
                reason: None,
            }),
            StreamEvent::Fallback(Fallback {
                from: "primary".into(),
                to: "secondary".into(),
                reason: "throttling".into(),
                model: "m2".into(),
                region: "eu-west-1".into(),
            }),
            StreamEvent::Delta(Delta {
                text: "line one\nline two — ünïcödé".into(),
            }),
            StreamEvent::Done(Done {
                stop_reason: "end_turn".into(),
                usage: Usage {
                    input_tokens: 3,
                    output_tokens: 5,
                },
                latency_ms: 12,
                first_token_ms: Some(4),
                last_resort: None,
            }),
            StreamEvent::Error(StreamError {
                code: ErrorCode::UpstreamTimeout,
                message: "no answer".into(),
                retryable: true,
            }),
        ]
    }

    #[test]
    fn encoded_events_parse_back_at_every_split_point() {
        let wire: String = sample()
            .iter()
            .map(encode)
            .collect::<Vec<_>>()
            .join(KEEP_ALIVE);
        let bytes = wire.as_bytes();
        for size in 1..=bytes.len() {
            let mut parser = SseParser::new();
            let events: Vec<StreamEvent> = bytes
                .chunks(size)
                .flat_map(|chunk| parser.push(chunk))
                .map(|raw| raw.parse().unwrap().unwrap())
                .collect();
            assert_eq!(events, sample(), "chunk size {size}");
        }
    }

    #[test]
    fn events_go_by_their_documented_names() {
        let names: Vec<&str> = sample().iter().map(StreamEvent::name).collect();
        assert_eq!(names, ["meta", "fallback", "delta", "done", "error"]);
    }

    #[test]
    fn multi_line_data_crlf_and_unknown_events_follow_the_spec() {
        let mut parser = SseParser::new();
        let events =
            parser.push(b"event: other\r\ndata: a\r\ndata:b\r\n\r\n: comment\n\ndata: plain\n\n");
        assert_eq!(
            events,
            vec![
                RawEvent {
                    name: "other".into(),
                    data: "a\nb".into()
                },
                RawEvent {
                    name: "message".into(),
                    data: "plain".into()
                },
            ]
        );
        assert!(events[0].parse().is_none());
    }
}
