//! Who owns a job. A client names itself with an opaque `X-Client-Id` (the chat UI keeps a
//! random one in `localStorage`); without one, its IP (`CF-Connecting-IP`) is its identity.
//! This scopes jobs to their submitter, it is not authentication: anyone who knows a client
//! id can read that client's jobs, so ids should be random (at least 16 characters).

use crate::{platform::nonempty_header, routing::rate_limit::client_ip};

/// Shortest and longest accepted `X-Client-Id`.
pub const CLIENT_ID_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// The owner of the request's jobs: `cid:<X-Client-Id>`, else `ip:<address>`. `Err` names
/// the problem with a malformed client id.
pub fn client_id(headers: &[(String, String)]) -> Result<String, String> {
    if let Some(id) = nonempty_header(headers, "x-client-id") {
        let valid = CLIENT_ID_LEN.contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        return if valid {
            Ok(format!("cid:{id}"))
        } else {
            Err(format!(
                "X-Client-Id must be {} to {} characters of A-Z, a-z, 0-9, '-' and '_'",
                CLIENT_ID_LEN.start(),
                CLIENT_ID_LEN.end()
            ))
        };
    }
    Ok(format!("ip:{}", client_ip(headers)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn the_client_id_wins_over_the_ip() {
        let id = "3f2b9c1d-8e7a-4b6c-9d0e-1f2a3b4c5d6e";
        assert_eq!(
            client_id(&headers(&[
                ("CF-Connecting-IP", "203.0.113.9"),
                ("X-Client-Id", id)
            ])),
            Ok(format!("cid:{id}"))
        );
        assert_eq!(
            client_id(&headers(&[("cf-connecting-ip", "203.0.113.9")])),
            Ok("ip:203.0.113.9".into())
        );
        assert_eq!(client_id(&[]), Ok("ip:unknown".into()));
    }

    #[test]
    fn malformed_client_ids_are_refused() {
        for bad in [
            "short",
            "has spaces in it here",
            &"x".repeat(129),
            "ünïcödé-ünïcödé",
        ] {
            assert!(
                client_id(&headers(&[("x-client-id", bad)])).is_err(),
                "{bad}"
            );
        }
    }
}
