//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`): an incremental,
//! CRC-checked decoder for Bedrock's streamed answers, and the encoder the fake Bedrock uses.
//!
//! Frame layout (big-endian): total length, headers length, prelude CRC, headers, payload,
//! message CRC. Both CRCs are CRC-32 (IEEE).

pub mod crc32;
use thiserror::Error;

/// Largest frame the decoder accepts. Larger declared lengths are refused before buffering.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
const PRELUDE_LEN: usize = 12;
const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;

/// A typed header value; the discriminant is the wire type byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame with string headers, the only kind Bedrock sends.
    pub fn new(headers: &[(&str, &str)], payload: impl Into<Vec<u8>>) -> Self {
        Self {
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), HeaderValue::String((*v).to_owned())))
                .collect(),
            payload: payload.into(),
        }
    }

    /// The value of a string header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| match v {
                HeaderValue::String(s) => Some(s.as_str()),
                _ => None,
            })
    }
}

/// One decoded message, borrowed from the decoder's buffer: no copy, no allocation. Its header
/// block has been checked when the frame was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameView<'a> {
    headers: &'a [u8],
    pub payload: &'a [u8],
    message_type: Option<&'a str>,
    event_type: Option<&'a str>,
}

impl<'a> FrameView<'a> {
    /// Checks the header block (well formed, string values UTF-8, no name twice) in one walk,
    /// picking out the two headers every frame is dispatched on.
    fn new(headers: &'a [u8], payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut view = Self {
            headers,
            payload,
            message_type: None,
            event_type: None,
        };
        let mut rest = Headers(headers);
        loop {
            let earlier = &headers[..headers.len() - rest.0.len()];
            let Some(field) = rest.next() else {
                return Ok(view);
            };
            let field = field?;
            if Headers(earlier).any(|f| f.is_ok_and(|f| f.name == field.name)) {
                return Err(DecodeError::BadHeaders);
            }
            if field.kind == STRING {
                let value =
                    std::str::from_utf8(field.value).map_err(|_| DecodeError::BadHeaders)?;
                match field.name {
                    b":message-type" => view.message_type = Some(value),
                    b":event-type" => view.event_type = Some(value),
                    _ => {}
                }
            }
        }
    }

    /// `:message-type`: `event`, `exception` or `error`.
    pub fn message_type(&self) -> Option<&'a str> {
        self.message_type
    }

    /// `:event-type` of an `event` frame.
    pub fn event_type(&self) -> Option<&'a str> {
        self.event_type
    }

    /// The value of a string header.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        Headers(self.headers)
            .filter_map(Result::ok)
            .find(|field| field.name == name.as_bytes())
            .filter(|field| field.kind == STRING)
            .and_then(|field| std::str::from_utf8(field.value).ok())
    }

    /// An owned copy of the frame.
    pub fn to_frame(&self) -> Frame {
        let headers = Headers(self.headers)
            .filter_map(Result::ok)
            .map(|field| {
                let name = String::from_utf8_lossy(field.name).into_owned();
                (name, field.to_value())
            })
            .collect();
        Frame {
            headers,
            payload: self.payload.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("event-stream prelude checksum mismatch")]
    PreludeCrc,
    #[error("event-stream message checksum mismatch")]
    MessageCrc,
    #[error("event-stream frame declares {0} bytes, over the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    #[error("event-stream frame lengths are inconsistent")]
    BadLengths,
    #[error("event-stream header block is malformed")]
    BadHeaders,
    #[error("event stream ended in the middle of a frame")]
    Truncated,
}

/// Incremental decoder: [`push`](Self::push) bytes as they arrive, then take complete frames
/// with [`next_frame`](Self::next_frame). Frames are read in place; the buffer holds at most
/// one partial frame plus one chunk, and is compacted on the next push.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Where the next frame starts in `buf`; bytes before it are consumed.
    start: usize,
    failed: bool,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After an error the stream
    /// is unusable and every later call returns an error.
    pub fn next_frame(&mut self) -> Result<Option<FrameView<'_>>, DecodeError> {
        if self.failed {
            return Err(DecodeError::BadLengths);
        }
        match frame_at(&self.buf[self.start..]) {
            Ok(Some(total)) => {
                let frame = &self.buf[self.start..self.start + total];
                self.start += total;
                let headers_len = be_u32(&frame[4..8]) as usize;
                let view = FrameView::new(
                    &frame[PRELUDE_LEN..PRELUDE_LEN + headers_len],
                    &frame[PRELUDE_LEN + headers_len..total - 4],
                );
                // The buffer stays borrowed by a good frame; a failed decoder ignores it.
                self.failed = view.is_err();
                view.map(Some)
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.failed = true;
                self.buf = Vec::new();
                self.start = 0;
                Err(error)
            }
        }
    }

    /// Call when the byte stream has ended: an error if a partial frame is left over.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.start == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError::Truncated)
        }
    }
}

/// The length of the complete, CRC-checked frame at the start of `buf`; `None` if more bytes are
/// needed. The prelude is checked as soon as it is there, so an oversized or corrupt frame is
/// refused before its bytes are buffered.
fn frame_at(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < PRELUDE_LEN {
        return Ok(None);
    }
    let total = be_u32(&buf[0..4]) as usize;
    let headers_len = be_u32(&buf[4..8]) as usize;
    if crc32::hash(&buf[0..8]) != be_u32(&buf[8..12]) {
        return Err(DecodeError::PreludeCrc);
    }
    if total > MAX_FRAME_LEN {
        return Err(DecodeError::TooLarge(total));
    }
    if total < MIN_FRAME_LEN || headers_len > total - MIN_FRAME_LEN {
        return Err(DecodeError::BadLengths);
    }
    if buf.len() < total {
        return Ok(None);
    }
    if crc32::hash(&buf[..total - 4]) != be_u32(&buf[total - 4..total]) {
        return Err(DecodeError::MessageCrc);
    }
    Ok(Some(total))
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// One header field as it lies in the frame: name, wire type byte, value bytes.
#[derive(Debug, Clone, Copy)]
struct RawHeader<'a> {
    name: &'a [u8],
    kind: u8,
    value: &'a [u8],
}

const STRING: u8 = 7;

impl RawHeader<'_> {
    fn to_value(self) -> HeaderValue {
        fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
            let mut out = [0u8; N];
            out.copy_from_slice(&bytes[..N]);
            out
        }
        let v = self.value;
        match self.kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(fixed(v))),
            3 => HeaderValue::Short(i16::from_be_bytes(fixed(v))),
            4 => HeaderValue::Int(i32::from_be_bytes(fixed(v))),
            5 => HeaderValue::Long(i64::from_be_bytes(fixed(v))),
            6 => HeaderValue::Bytes(v.to_vec()),
            STRING => HeaderValue::String(String::from_utf8_lossy(v).into_owned()),
            8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed(v))),
            _ => HeaderValue::Uuid(fixed(v)),
        }
    }
}

/// Walks a header block field by field; an overrun, an empty name or an unknown type ends the
/// walk with an error. String values are checked as UTF-8 by [`FrameView::new`].
struct Headers<'a>(&'a [u8]);

impl<'a> Headers<'a> {
    fn field(&mut self) -> Result<RawHeader<'a>, DecodeError> {
        let block = self.0;
        let name_len = *block.first().ok_or(DecodeError::BadHeaders)? as usize;
        let kind_at = 1 + name_len;
        let kind = *block.get(kind_at).ok_or(DecodeError::BadHeaders)?;
        let (value_at, value_len) = match kind {
            0 | 1 => (kind_at + 1, 0),
            2 => (kind_at + 1, 1),
            3 => (kind_at + 1, 2),
            4 => (kind_at + 1, 4),
            5 | 8 => (kind_at + 1, 8),
            9 => (kind_at + 1, 16),
            6 | STRING => {
                let len = block
                    .get(kind_at + 1..kind_at + 3)
                    .ok_or(DecodeError::BadHeaders)?;
                (kind_at + 3, u16::from_be_bytes([len[0], len[1]]) as usize)
            }
            _ => return Err(DecodeError::BadHeaders),
        };
        let end = value_at + value_len;
        if name_len == 0 || block.len() < end {
            return Err(DecodeError::BadHeaders);
        }
        self.0 = &block[end..];
        Ok(RawHeader {
            name: &block[1..kind_at],
            kind,
            value: &block[value_at..end],
        })
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Result<RawHeader<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}

/// Encodes one frame with both CRCs.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in &frame.headers {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        match value {
            HeaderValue::Bool(true) => headers.push(0),
            HeaderValue::Bool(false) => headers.push(1),
            HeaderValue::Byte(v) => {
                headers.push(2);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                headers.push(3);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                headers.push(4);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                headers.push(5);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                headers.push(6);
                headers.extend_from_slice(&(v.len() as u16).to_be_bytes());
                headers.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                headers.push(7);
                headers.extend_from_slice(&(v.len() as u16).to_be_bytes());
                headers.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                headers.push(8);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                headers.push(9);
                headers.extend_from_slice(v);
            }
        }
    }
    let total = MIN_FRAME_LEN + headers.len() + frame.payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(&frame.payload);
    let message_crc = crc32::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ConverseStream `contentBlockDelta` computed with a botocore-verified encoder.
    const DELTA_HELLO: &str = "0000009700000057f30be03e0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a2248656c6c6f227d7d67623831";
    /// Mid-stream `throttlingException` frame.
    const THROTTLED: &str = "000000b2000000613590d5d30f3a657863657074696f6e2d747970650700137468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070009657863657074696f6e7b226d657373616765223a22546f6f206d616e792072657175657374732c20706c656173652077616974206265666f726520747279696e6720616761696e2e227de8ffb26a";

    fn decode_all(bytes: &[u8], chunk: usize) -> Result<Vec<Frame>, DecodeError> {
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        for piece in bytes.chunks(chunk) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame()? {
                frames.push(frame.to_frame());
            }
        }
        decoder.finish()?;
        Ok(frames)
    }

    #[test]
    fn published_vectors_encode_byte_for_byte() {
        assert_eq!(
            encode(&Frame::default()),
            hex("00000010 00000000 05c248eb 7d98c8ff")
        );
        let delta = Frame::new(
            &[
                (":event-type", "contentBlockDelta"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        );
        assert_eq!(encode(&delta), hex(DELTA_HELLO));
        let int_header = Frame {
            headers: vec![("event-id".into(), HeaderValue::Int(0xA00C))],
            payload: b"{'foo':'bar'}".to_vec(),
        };
        assert_eq!(encode(&int_header), hex("0000002b 0000000e 348bec7b 086576656e742d6964 04 0000a00c 7b27666f6f273a27626172277d d3890285"));
    }

    #[test]
    fn every_chunk_size_gives_the_same_frames() {
        let all_types = Frame {
            headers: vec![
                ("t".into(), HeaderValue::Bool(true)),
                ("f".into(), HeaderValue::Bool(false)),
                ("b".into(), HeaderValue::Byte(-5)),
                ("s".into(), HeaderValue::Short(20000)),
                ("i".into(), HeaderValue::Int(500000)),
                ("l".into(), HeaderValue::Long(50_000_000_000)),
                ("y".into(), HeaderValue::Bytes(b"some bytes".to_vec())),
                ("ts".into(), HeaderValue::Timestamp(5_000_000_000)),
                ("u".into(), HeaderValue::Uuid([7; 16])),
            ],
            payload: b"payload".to_vec(),
        };
        let mut stream = hex(DELTA_HELLO);
        stream.extend(encode(&all_types));
        stream.extend(hex(THROTTLED));
        let expected = decode_all(&stream, stream.len()).unwrap();
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[1], all_types);
        assert_eq!(
            expected[2].header(":exception-type"),
            Some("throttlingException")
        );
        for size in 1..=stream.len() {
            assert_eq!(
                decode_all(&stream, size).unwrap(),
                expected,
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn corrupt_frames_are_errors_not_panics() {
        let good = hex(DELTA_HELLO);
        let mut bad_payload = good.clone();
        bad_payload[100] ^= 1;
        assert_eq!(decode_all(&bad_payload, 7), Err(DecodeError::MessageCrc));
        let mut bad_prelude = good.clone();
        bad_prelude[1] ^= 1;
        assert_eq!(decode_all(&bad_prelude, 7), Err(DecodeError::PreludeCrc));
        assert_eq!(
            decode_all(&good[..good.len() - 1], 7),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn oversized_and_inconsistent_preludes_are_refused_before_buffering() {
        let prelude = |total: u32, headers: u32| {
            let mut p = total.to_be_bytes().to_vec();
            p.extend(headers.to_be_bytes());
            let crc = crc32::hash(&p);
            p.extend(crc.to_be_bytes());
            p
        };
        let mut decoder = FrameDecoder::new();
        decoder.push(&prelude(16 * 1024 * 1024 + 1, 0));
        assert_eq!(
            decoder.next_frame(),
            Err(DecodeError::TooLarge(16 * 1024 * 1024 + 1))
        );
        assert!(
            decoder.next_frame().is_err(),
            "a failed decoder stays failed"
        );
        let mut decoder = FrameDecoder::new();
        decoder.push(&prelude(20, 10));
        assert_eq!(decoder.next_frame(), Err(DecodeError::BadLengths));
    }

    #[test]
    fn malformed_header_blocks_are_refused() {
        for block in [
            &[3u8, b'a', b'b'][..],
            &[1, b'a', 42],
            &[1, b'a', 7, 0, 9, b'x'],
            &[1, b'a', 7, 0, 1, 0xff],
            &[0, 0],
        ] {
            assert_eq!(FrameView::new(block, b""), Err(DecodeError::BadHeaders));
        }
        let duplicate = [1, b'a', 0, 1, b'a', 1];
        assert_eq!(
            FrameView::new(&duplicate, b""),
            Err(DecodeError::BadHeaders)
        );
    }
}
