//! A [`Circuit`] as the Durable Object stores it: the state's name and its members
//! (`{"state":"open","opened_ms":7}`). That is the JSON of an internally tagged enum, written
//! and read here as a flat struct: serde's tagged enums buffer every value before reading it,
//! code that cost the Worker several KB.

use super::Circuit;
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
pub(super) struct StoredCircuit {
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consecutive_failures: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window_bits: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window_len: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opened_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probe_started_ms: Option<u64>,
}

impl From<Circuit> for StoredCircuit {
    fn from(circuit: Circuit) -> Self {
        let state = circuit.name().to_owned();
        match circuit {
            Circuit::Closed {
                consecutive_failures,
                window_bits,
                window_len,
            } => Self {
                state,
                consecutive_failures: Some(consecutive_failures),
                window_bits: Some(window_bits),
                window_len: Some(window_len),
                ..Self::default()
            },
            Circuit::Open { opened_ms } => Self {
                state,
                opened_ms: Some(opened_ms),
                ..Self::default()
            },
            Circuit::HalfOpen { probe_started_ms } => Self {
                state,
                probe_started_ms: Some(probe_started_ms),
                ..Self::default()
            },
        }
    }
}

impl TryFrom<StoredCircuit> for Circuit {
    type Error = String;

    fn try_from(stored: StoredCircuit) -> Result<Self, String> {
        fn member<T>(value: Option<T>, name: &str) -> Result<T, String> {
            value.ok_or_else(|| format!("missing field `{name}`"))
        }
        match stored.state.as_str() {
            "closed" => Ok(Self::Closed {
                consecutive_failures: member(stored.consecutive_failures, "consecutive_failures")?,
                window_bits: member(stored.window_bits, "window_bits")?,
                window_len: member(stored.window_len, "window_len")?,
            }),
            "open" => Ok(Self::Open {
                opened_ms: member(stored.opened_ms, "opened_ms")?,
            }),
            "half_open" => Ok(Self::HalfOpen {
                probe_started_ms: member(stored.probe_started_ms, "probe_started_ms")?,
            }),
            other => Err(format!("unknown circuit state `{other}`")),
        }
    }
}
