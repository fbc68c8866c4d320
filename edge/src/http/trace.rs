//! Trace context passed on to Bedrock: W3C `traceparent` / `tracestate` and AWS
//! `X-Amzn-Trace-Id`, taken from the client's request when well formed, never signed.

use crate::platform::header;

/// Trace headers passed on to Bedrock when well formed: W3C `traceparent` / `tracestate` and
/// AWS `X-Amzn-Trace-Id`.
pub fn trace_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let printable = |v: &str, max: usize| {
        !v.is_empty() && v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b))
    };
    let traceparent = |v: &str| {
        let parts: Vec<&str> = v.split('-').collect();
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        parts.len() == 4
            && hex(parts[0], 2)
            && hex(parts[1], 32)
            && hex(parts[2], 16)
            && hex(parts[3], 2)
    };
    let mut trace = Vec::new();
    for (name, check) in [
        ("traceparent", &traceparent as &dyn Fn(&str) -> bool),
        ("tracestate", &|v: &str| printable(v, 512)),
        ("x-amzn-trace-id", &|v: &str| printable(v, 256)),
    ] {
        if let Some(value) = header(headers, name).map(str::trim).filter(|v| check(v)) {
            trace.push((name.to_owned(), value.to_owned()));
        }
    }
    trace
}
