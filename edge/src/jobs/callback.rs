//! Callbacks: which URLs may receive one, how each POST is signed, and when a failed delivery
//! is tried again.
//!
//! The signature header is `x-signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<body>"` with the `JOB_CALLBACK_SECRET`; a receiver recomputes it, compares in
//! constant time and refuses old timestamps (replays). See [`verify`].

use crate::{config::settings::is_loopback, crypto::hmac_sha256, text::hex::hex};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-signature";
/// Deliveries per job before the callback is given up (`failed`).
pub const MAX_ATTEMPTS: u32 = 6;
/// How long one delivery holds the callback (longer than its timeout).
pub const LEASE_MS: u64 = 30_000;
/// How long the receiver has to answer one POST.
pub const TIMEOUT_MS: u64 = 10_000;

/// The `x-signature` value of `body` sent at `timestamp_s`.
pub fn sign(secret: &str, timestamp_s: u64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp_s}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "t={timestamp_s},v1={}",
        hex(&hmac_sha256(secret.as_bytes(), &signed))
    )
}

/// What a receiver does: `Ok` when `header` signs `body` with `secret` and its timestamp is
/// within `tolerance_s` of `now_s`.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_s: u64,
    tolerance_s: u64,
) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("no timestamp")?;
    if timestamp.abs_diff(now_s) > tolerance_s {
        return Err("timestamp outside the tolerance");
    }
    let expected = sign(secret, timestamp, body);
    let expected = expected.rsplit("v1=").next().unwrap_or_default();
    // Constant time in the signature's content.
    let matches = |candidate: &str| {
        candidate.len() == expected.len()
            && candidate
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    };
    if signatures.into_iter().any(matches) {
        Ok(())
    } else {
        Err("signature mismatch")
    }
}

/// Seconds to wait before delivery attempt `attempt + 1` after attempt `attempt` failed:
/// `base_s`, then 4× each time; `None` once [`MAX_ATTEMPTS`] were made.
pub fn retry_delay_s(base_s: u32, attempt: u32) -> Option<u32> {
    (attempt < MAX_ATTEMPTS).then(|| {
        let factor = 4u32.saturating_pow(attempt.saturating_sub(1));
        base_s.saturating_mul(factor).min(12 * 3600)
    })
}

/// Checks a callback URL: `https://` to an allowed host (`http://` only to loopback hosts,
/// for local receivers), no user info, at most 2048 characters. `allowed` holds host names
/// (`hooks.example.com`), `*.example.com` for any subdomain, or IPs.
pub fn check_url(url: &str, allowed: &[String]) -> Result<(), String> {
    if allowed.is_empty() {
        return Err("callbacks are not enabled on this edge (JOB_CALLBACK_ALLOWED_HOSTS)".into());
    }
    if url.len() > 2048 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be an absolute URL of at most 2048 printable characters".into());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("must be an absolute http(s) URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not contain user info".into());
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return Err("has an invalid port".into()),
        None => authority,
    }
    .to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !host_ok {
        return Err("has an invalid host".into());
    }
    let loopback = is_loopback(&host);
    match scheme {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must use https (http only to a loopback host)".into()),
    }
    let allowed_host = allowed
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => *pattern == host,
        });
    if allowed_host {
        Ok(())
    } else {
        Err(format!("host {host:?} is not allowed for callbacks"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signatures_verify_and_refuse_tampering_and_replays() {
        let body = br#"{"id":"job_1","status":"succeeded"}"#;
        let header = sign("s3cret", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(verify("s3cret", &header, body, 1_700_000_100, 300), Ok(()));
        assert_eq!(
            verify("s3cret", &header, b"{}", 1_700_000_000, 300),
            Err("signature mismatch")
        );
        assert_eq!(
            verify("other", &header, body, 1_700_000_000, 300),
            Err("signature mismatch")
        );
        assert_eq!(
            verify("s3cret", &header, body, 1_700_001_000, 300),
            Err("timestamp outside the tolerance")
        );
        assert_eq!(
            verify("s3cret", "v1=abc", body, 0, 300),
            Err("no timestamp")
        );
    }

    #[test]
    fn deliveries_back_off_then_stop() {
        let delays: Vec<Option<u32>> = (1..=MAX_ATTEMPTS).map(|n| retry_delay_s(5, n)).collect();
        assert_eq!(
            delays,
            [Some(5), Some(20), Some(80), Some(320), Some(1280), None]
        );
        assert_eq!(retry_delay_s(0, 1), Some(0));
    }

    #[test]
    fn only_allowed_hosts_receive_callbacks() {
        let allowed = vec![
            "hooks.example.com".to_owned(),
            "*.corp.example".to_owned(),
            "127.0.0.1".to_owned(),
            "127.attacker.example".to_owned(),
        ];
        for ok in [
            "https://hooks.example.com/jobs?x=1",
            "https://hooks.example.com:8443/jobs",
            "https://a.b.corp.example/x",
            "http://127.0.0.1:4567/hook",
        ] {
            assert_eq!(check_url(ok, &allowed), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://hooks.example.com/jobs", "must use https"),
            // A name starting with `127.` is not a loopback address.
            ("http://127.attacker.example/hook", "must use https"),
            ("https://evil.example.com/", "not allowed"),
            ("https://corp.example/", "not allowed"),
            ("https://hooks.example.com@evil.com/", "user info"),
            ("ftp://hooks.example.com/", "must use https"),
            ("hooks.example.com/x", "absolute"),
            ("https://hooks.example.com:x/", "invalid port"),
            ("https://exa mple.com/", "printable"),
            ("https:///path", "invalid host"),
        ] {
            let error = check_url(bad, &allowed).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
        assert!(check_url("https://hooks.example.com/", &[])
            .unwrap_err()
            .contains("not enabled"));
    }
}
