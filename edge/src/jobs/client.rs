//! Who owns a job: the client that names itself with an opaque `X-Client-Id` (the chat UI keeps
//! a random one in `localStorage`). The id works as a bearer secret for the client's jobs, so
//! it is required (no fallback on the IP address, which clients behind one NAT share), must be
//! long enough not to be guessed, and is stored only as a digest: neither the store nor a
//! callback receiver learns what would let them read the jobs.

use crate::{platform::nonempty_header, text::hex::hex};
use sha2::{Digest, Sha256};

/// Shortest and longest accepted `X-Client-Id`.
pub const CLIENT_ID_LEN: std::ops::RangeInclusive<usize> = 16..=128;

/// The owner of the request's jobs: `cid:` and the SHA-256 of its `X-Client-Id`, in hex. `Err`
/// names the problem with a missing or malformed client id.
pub fn client_id(headers: &[(String, String)]) -> Result<String, String> {
    let rule = format!(
        "X-Client-Id: jobs belong to the client that submits them; send a random id of {} to {} \
         characters of A-Z, a-z, 0-9, '-' and '_', and keep it",
        CLIENT_ID_LEN.start(),
        CLIENT_ID_LEN.end()
    );
    let id = nonempty_header(headers, "x-client-id").ok_or_else(|| rule.clone())?;
    let valid = CLIENT_ID_LEN.contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(rule);
    }
    Ok(format!("cid:{}", hex(&Sha256::digest(id.as_bytes()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn the_owner_is_a_digest_of_the_client_id_and_never_the_address() {
        let id = "3f2b9c1d-8e7a-4b6c-9d0e-1f2a3b4c5d6e";
        let owner = client_id(&headers(&[
            ("CF-Connecting-IP", "203.0.113.9"),
            ("X-Client-Id", id),
        ]))
        .unwrap();
        assert!(
            owner.starts_with("cid:") && owner.len() == 4 + 64,
            "{owner}"
        );
        assert!(!owner.contains(id));
        let again = client_id(&headers(&[("x-client-id", id)])).unwrap();
        assert_eq!(owner, again, "the same client, wherever it calls from");
        let error = client_id(&headers(&[("cf-connecting-ip", "203.0.113.9")])).unwrap_err();
        assert!(error.starts_with("X-Client-Id:"), "{error}");
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
