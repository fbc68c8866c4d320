//! Bedrock's answer streams as [`UpstreamEvent`]s: one incremental decoder over the
//! event-stream framing and its exception frames, with a per-operation [`EventMapper`] for the
//! `event` frames (ConverseStream events, InvokeModelWithResponseStream chunks).

use crate::bedrock::{
    error::{BedrockError, BedrockErrorKind},
    eventstream::{FrameDecoder, FrameView},
};
use serde::{de::DeserializeOwned, Deserialize};

/// What the edge takes from Bedrock's answer, whatever the operation.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamEvent {
    Text(String),
    Stop {
        reason: String,
    },
    Usage {
        input: u32,
        output: u32,
    },
    /// The answer failed; nothing follows.
    Error(BedrockError),
}

/// How one operation's `event` frames map to upstream events.
pub trait EventMapper {
    /// Handles a frame whose `:message-type` is `event`, pushing what it means onto `out`.
    /// Unknown event types are ignored.
    fn on_event(
        &mut self,
        frame: &FrameView<'_>,
        out: &mut Vec<UpstreamEvent>,
    ) -> Result<(), BedrockError>;

    /// Whether the answer's stop event has been seen, so that the end of the body is a
    /// normal end rather than a cut-off.
    fn complete(&self) -> bool;
}

/// Incremental decoder of an answer stream: [`push`](Self::push) body chunks as they arrive,
/// then [`finish`](Self::finish) at the end of the body. Exception and `error` frames become an
/// `Error` event, other message types are ignored; after an error nothing more is reported.
pub struct StreamDecoder {
    frames: FrameDecoder,
    mapper: Box<dyn EventMapper>,
    failed: bool,
}

impl StreamDecoder {
    pub fn new(mapper: impl EventMapper + 'static) -> Self {
        Self {
            frames: FrameDecoder::new(),
            mapper: Box::new(mapper),
            failed: false,
        }
    }

    /// The events completed by `chunk`, in order. An `Error` is always the last one.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<UpstreamEvent> {
        let mut events = Vec::new();
        if self.failed {
            return events;
        }
        self.frames.push(chunk);
        loop {
            let result = match self.frames.next_frame() {
                Ok(Some(frame)) => match frame.message_type() {
                    Some("event") => self.mapper.on_event(&frame, &mut events),
                    Some("exception" | "error") => Err(BedrockError::from_exception_frame(&frame)),
                    _ => Ok(()),
                },
                Ok(None) => break,
                Err(error) => Err(BedrockError::new(
                    BedrockErrorKind::BadFrame,
                    error.to_string(),
                )),
            };
            if let Err(error) = result {
                self.failed = true;
                events.push(UpstreamEvent::Error(error));
                break;
            }
        }
        events
    }

    /// Call once the body has ended: an error if it ended mid-frame or before the stop event.
    /// `Ok` after an error already reported by [`push`](Self::push).
    pub fn finish(&self) -> Result<(), BedrockError> {
        let whole_frames = self.frames.finish().is_ok();
        if self.failed || (self.mapper.complete() && whole_frames) {
            return Ok(());
        }
        let problem = if whole_frames {
            "the event stream ended before the answer's stop event"
        } else {
            "the event stream ended in the middle of a frame"
        };
        Err(BedrockError::new(BedrockErrorKind::Truncated, problem))
    }
}

/// Parses a JSON payload; `what` names it in the (log-only) error.
pub fn json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, BedrockError> {
    serde_json::from_slice(bytes).map_err(|error| bad_payload(what, &error))
}

fn bad_payload(what: &str, error: &serde_json::Error) -> BedrockError {
    BedrockError::new(
        BedrockErrorKind::BadFrame,
        format!("{what} payload: {error}"),
    )
}

/// Bedrock's own token counts (`amazon-bedrock-invocationMetrics`), a member of the last
/// chunk's event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub input_token_count: Option<u32>,
    pub output_token_count: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::eventstream::crc32;
    use crate::bedrock::eventstream::{encode, Frame, HeaderValue, MAX_FRAME_LEN};

    /// Every `event` frame's payload as text; complete after a `stop` event.
    #[derive(Default)]
    struct Echo {
        stopped: bool,
    }

    impl EventMapper for Echo {
        fn on_event(
            &mut self,
            frame: &FrameView<'_>,
            out: &mut Vec<UpstreamEvent>,
        ) -> Result<(), BedrockError> {
            match frame.event_type() {
                Some("text") => out.push(UpstreamEvent::Text(
                    String::from_utf8_lossy(frame.payload).into_owned(),
                )),
                Some("stop") => self.stopped = true,
                _ => {}
            }
            Ok(())
        }

        fn complete(&self) -> bool {
            self.stopped
        }
    }

    fn frame(message_type: &str, event_type: &str, payload: &str) -> Vec<u8> {
        encode(&Frame::new(
            &[(":message-type", message_type), (":event-type", event_type)],
            payload,
        ))
    }

    fn kind_of(events: &[UpstreamEvent]) -> Option<BedrockErrorKind> {
        match events.last() {
            Some(UpstreamEvent::Error(error)) => Some(error.kind),
            _ => None,
        }
    }

    #[test]
    fn unknown_message_and_event_types_are_ignored() {
        let bytes = [
            frame("event", "text", "a"),
            frame("something-new", "text", "ignored"),
            frame("event", "brandNewEvent", "{}"),
            encode(&Frame {
                headers: vec![(":message-type".into(), HeaderValue::Int(7))],
                payload: b"typed header".to_vec(),
            }),
            frame("event", "text", "b"),
            frame("event", "stop", ""),
        ]
        .concat();
        for size in 1..=bytes.len() {
            let mut decoder = StreamDecoder::new(Echo::default());
            let events: Vec<_> = bytes.chunks(size).flat_map(|c| decoder.push(c)).collect();
            assert_eq!(
                events,
                [
                    UpstreamEvent::Text("a".into()),
                    UpstreamEvent::Text("b".into())
                ],
                "chunk size {size}"
            );
            assert_eq!(decoder.finish(), Ok(()));
        }
    }

    #[test]
    fn bad_checksums_are_one_error_then_silence() {
        let mut bytes = [frame("event", "text", "a"), frame("event", "text", "b")].concat();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        let mut decoder = StreamDecoder::new(Echo::default());
        let events = decoder.push(&bytes);
        assert_eq!(events[0], UpstreamEvent::Text("a".into()));
        assert_eq!(kind_of(&events), Some(BedrockErrorKind::BadFrame));
        assert!(decoder.push(&frame("event", "text", "c")).is_empty());
        assert_eq!(decoder.finish(), Ok(()), "the error was already reported");
        let mut prelude = frame("event", "text", "a");
        prelude[2] ^= 0x01;
        let mut decoder = StreamDecoder::new(Echo::default());
        assert_eq!(
            kind_of(&decoder.push(&prelude)),
            Some(BedrockErrorKind::BadFrame)
        );
    }

    #[test]
    fn an_oversized_prelude_fails_before_anything_is_buffered() {
        let total = (MAX_FRAME_LEN + 1) as u32;
        let mut prelude = total.to_be_bytes().to_vec();
        prelude.extend(0u32.to_be_bytes());
        prelude.extend(crc32::hash(&prelude).to_be_bytes());
        let mut decoder = StreamDecoder::new(Echo::default());
        let events = decoder.push(&prelude);
        assert_eq!(kind_of(&events), Some(BedrockErrorKind::BadFrame));
        // Later bytes are dropped, not kept.
        assert!(decoder.push(&vec![0u8; 1 << 20]).is_empty());
        assert!(decoder.frames.finish().is_ok(), "nothing is held");
    }

    #[test]
    fn truncation_is_an_error_at_the_end() {
        let whole = [frame("event", "text", "a"), frame("event", "stop", "")].concat();
        for cut in [whole.len() - 1, whole.len() - 20, 5] {
            let mut decoder = StreamDecoder::new(Echo::default());
            decoder.push(&whole[..cut]);
            let error = decoder.finish().unwrap_err();
            assert_eq!(error.kind, BedrockErrorKind::Truncated, "cut at {cut}");
        }
        let mut decoder = StreamDecoder::new(Echo::default());
        decoder.push(&frame("event", "text", "a"));
        assert!(decoder.finish().unwrap_err().message.contains("stop event"));
        let mut decoder = StreamDecoder::new(Echo::default());
        decoder.push(&whole);
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn exception_frames_end_the_stream() {
        let bytes = [
            frame("event", "text", "a"),
            encode(&Frame::new(
                &[
                    (":message-type", "exception"),
                    (":exception-type", "modelTimeoutException"),
                ],
                r#"{"message":"too slow"}"#,
            )),
            frame("event", "text", "b"),
        ]
        .concat();
        let mut decoder = StreamDecoder::new(Echo::default());
        let events = decoder.push(&bytes);
        assert_eq!(events.len(), 2);
        assert_eq!(kind_of(&events), Some(BedrockErrorKind::ModelTimeout));
    }
}
