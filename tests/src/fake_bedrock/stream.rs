//! Event-stream responses: Bedrock event frames (with the undocumented `"p"` padding on some),
//! the byte pieces a stream fault turns them into, and the paced HTTP body that sends them.

use super::faults::{Fault, StreamException};
use axum::body::Body;
use bytes::Bytes;
use edge::bedrock::eventstream::{encode, Frame};
use serde_json::{json, Value};
use std::{collections::VecDeque, time::Duration};
use tokio::sync::watch;

/// One event of an answer, before framing.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The `:event-type` (`contentBlockDelta`, `chunk`, …).
    pub event_type: &'static str,
    /// The JSON payload (an object).
    pub payload: Value,
    /// Whether this event carries a piece of the answer (faults count these).
    pub delta: bool,
}

impl Part {
    pub fn new(event_type: &'static str, payload: Value) -> Self {
        Self {
            event_type,
            payload,
            delta: false,
        }
    }

    pub fn delta(event_type: &'static str, payload: Value) -> Self {
        Self {
            event_type,
            payload,
            delta: true,
        }
    }
}

/// What the body sends next.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Bytes(Bytes),
    /// Abort the connection: the client sees a broken body, not a clean end.
    Abort,
}

const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Every third event gets a `"p"` padding member (as real Bedrock adds), so that clients
/// prove they ignore unknown keys.
fn padded(mut payload: Value, index: usize) -> Value {
    if index % 3 == 2 {
        if let Value::Object(members) = &mut payload {
            let len = 8 + (index * 13) % 50;
            members.insert("p".into(), Value::String(PADDING[..len].to_owned()));
        }
    }
    payload
}

/// The frame of the `index`-th event.
pub fn event_frame(part: &Part, index: usize) -> Frame {
    let payload = padded(part.payload.clone(), index);
    Frame::new(
        &[
            (":event-type", part.event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string(),
    )
}

/// A modeled mid-stream exception frame.
pub fn exception_frame(exception: StreamException) -> Frame {
    let message = exception.error().message;
    Frame::new(
        &[
            (":exception-type", exception.name()),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string(),
    )
}

/// The byte pieces of a stream of `parts`, broken as `fault` says. A fault "after K deltas"
/// strikes just before the (K+1)-th delta, or just after the last one if there are fewer.
pub fn pieces(parts: &[Part], fault: Option<&Fault>) -> Vec<Piece> {
    let frames: Vec<Vec<u8>> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| encode(&event_frame(part, i)))
        .collect();
    let whole = || {
        frames
            .iter()
            .map(|f| Piece::Bytes(Bytes::from(f.clone())))
            .collect()
    };
    let after = match fault {
        Some(Fault::ExceptionAfter { deltas, .. })
        | Some(Fault::BadCrcAfter { deltas })
        | Some(Fault::DropAfter { deltas })
        | Some(Fault::TruncatedAfter { deltas }) => *deltas as usize,
        _ => return whole(),
    };
    let delta_positions: Vec<usize> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.delta)
        .map(|(i, _)| i)
        .collect();
    let cut = match delta_positions.get(after) {
        Some(&position) => position,
        None => delta_positions.last().map_or(0, |&last| last + 1),
    };
    let mut out: Vec<Piece> = frames[..cut]
        .iter()
        .map(|f| Piece::Bytes(Bytes::from(f.clone())))
        .collect();
    // The frame the fault replaces (or corrupts): the next one, else a final delta-like frame.
    let next = frames
        .get(cut)
        .cloned()
        .unwrap_or_else(|| frames.last().cloned().unwrap_or_default());
    match fault {
        Some(Fault::ExceptionAfter { exception, .. }) => {
            out.push(Piece::Bytes(encode(&exception_frame(*exception)).into()))
        }
        Some(Fault::BadCrcAfter { .. }) => {
            let mut corrupt = next;
            if let Some(last) = corrupt.last_mut() {
                *last ^= 0xff;
            }
            out.push(Piece::Bytes(corrupt.into()));
        }
        Some(Fault::DropAfter { .. }) => out.push(Piece::Abort),
        Some(Fault::TruncatedAfter { .. }) => {
            out.push(Piece::Bytes(Bytes::from(next[..next.len() / 2].to_vec())))
        }
        _ => {}
    }
    out
}

/// A body that sends `pieces` one at a time with `delay` between them. Ends early (broken)
/// if the fake shuts down.
pub fn paced_body(pieces: Vec<Piece>, delay: Duration, shutdown: watch::Receiver<bool>) -> Body {
    let state = (VecDeque::from(pieces), true, shutdown);
    let stream =
        futures::stream::unfold(state, move |(mut queue, first, mut shutdown)| async move {
            let piece = queue.pop_front()?;
            if !first && !delay.is_zero() {
                let stopped = tokio::select! {
                    () = tokio::time::sleep(delay) => false,
                    _ = shutdown.wait_for(|stopped| *stopped) => true,
                };
                if stopped {
                    return Some((Err(aborted()), (VecDeque::new(), false, shutdown)));
                }
            }
            let item = match piece {
                Piece::Bytes(bytes) => Ok(bytes),
                Piece::Abort => {
                    queue.clear();
                    Err(aborted())
                }
            };
            Some((item, (queue, false, shutdown)))
        });
    Body::from_stream(stream)
}

fn aborted() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "fake-bedrock: connection dropped on purpose",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge::bedrock::eventstream::{DecodeError, FrameDecoder};

    fn parts() -> Vec<Part> {
        let mut parts = vec![Part::new("messageStart", json!({"role": "assistant"}))];
        for text in ["a ", "b ", "c"] {
            parts.push(Part::delta(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": text}}),
            ));
        }
        parts.push(Part::new("messageStop", json!({"stopReason": "end_turn"})));
        parts
    }

    fn decode(pieces: &[Piece]) -> (Vec<Frame>, Result<(), DecodeError>) {
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        for piece in pieces {
            if let Piece::Bytes(bytes) = piece {
                decoder.push(bytes);
            }
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => frames.push(frame.to_frame()),
                    Ok(None) => break,
                    Err(e) => return (frames, Err(e)),
                }
            }
        }
        (frames, decoder.finish())
    }

    #[test]
    fn frames_carry_bedrock_headers_and_some_padding() {
        let (frames, end) = decode(&pieces(&parts(), None));
        assert_eq!((frames.len(), end), (5, Ok(())));
        assert_eq!(frames[1].header(":event-type"), Some("contentBlockDelta"));
        assert_eq!(frames[1].header(":message-type"), Some("event"));
        let payloads: Vec<Value> = frames
            .iter()
            .map(|f| serde_json::from_slice(&f.payload).unwrap())
            .collect();
        assert!(payloads[2]["p"].is_string() && payloads[1].get("p").is_none());
    }

    #[test]
    fn stream_faults_strike_after_k_deltas() {
        let exception = StreamException::ThrottlingException;
        let (frames, end) = decode(&pieces(
            &parts(),
            Some(&Fault::ExceptionAfter {
                deltas: 2,
                exception,
            }),
        ));
        assert_eq!((frames.len(), end), (4, Ok(())));
        assert_eq!(
            frames[3].header(":exception-type"),
            Some("throttlingException")
        );
        assert_eq!(frames[3].header(":message-type"), Some("exception"));

        let (frames, end) = decode(&pieces(&parts(), Some(&Fault::BadCrcAfter { deltas: 1 })));
        assert_eq!((frames.len(), end), (2, Err(DecodeError::MessageCrc)));

        let (frames, end) = decode(&pieces(
            &parts(),
            Some(&Fault::TruncatedAfter { deltas: 0 }),
        ));
        assert_eq!((frames.len(), end), (1, Err(DecodeError::Truncated)));

        let dropped = pieces(&parts(), Some(&Fault::DropAfter { deltas: 9 }));
        assert_eq!((dropped.len(), dropped.last()), (5, Some(&Piece::Abort)));
    }
}
