//! A stand-in for a Cloudflare Access team, for tests: it serves the team's public key at
//! `/cdn-cgi/access/certs` as Access does (a JWK set), and signs RS256 assertions with the
//! matching private key (`tests/fixtures/access-test-key.pem`, a key made for these tests and
//! used nowhere else), with the claims Access puts in `Cf-Access-Jwt-Assertion`.

use axum::{routing::get, Json, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rsa::{
    pkcs1v15::SigningKey, pkcs8::DecodePrivateKey, sha2::Sha256, signature::SignatureEncoding,
    signature::Signer, traits::PublicKeyParts, RsaPrivateKey,
};
use serde_json::{json, Value};

const TEST_KEY_PEM: &str = include_str!("../fixtures/access-test-key.pem");
/// The `kid` the team publishes its key under.
pub const KEY_ID: &str = "test-key-1";

/// The team's signing key.
pub struct AccessIssuer {
    key: RsaPrivateKey,
}

impl AccessIssuer {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            key: RsaPrivateKey::from_pkcs8_pem(TEST_KEY_PEM)?,
        })
    }

    /// The team's key set, as `/cdn-cgi/access/certs` answers it.
    pub fn key_set(&self) -> Value {
        let public = self.key.to_public_key();
        json!({"keys": [{
            "kid": KEY_ID,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]})
    }

    /// An assertion with `claims`, signed with the team's key under `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signer = SigningKey::<Sha256>::new(self.key.clone());
        let signature = signer.sign(signed.as_bytes()).to_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Serves the key set on 127.0.0.1; the team's base URL.
    pub async fn serve(&self) -> anyhow::Result<String> {
        let keys = self.key_set();
        let app = Router::new().route(
            "/cdn-cgi/access/certs",
            get(move || {
                let keys = keys.clone();
                async move { Json(keys) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }
}

/// Verifies an RS256 `signature` of `signed` with the RSA key of base64url modulus `n` and
/// exponent `e`: what Web Crypto does for the Worker, for the native platforms.
pub fn verify_rs256(n: &str, e: &str, signed: &[u8], signature: &[u8]) -> bool {
    use rsa::{pkcs1v15::VerifyingKey, signature::Verifier, BigUint, RsaPublicKey};
    let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(n), URL_SAFE_NO_PAD.decode(e)) else {
        return false;
    };
    let Ok(key) = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)) else {
        return false;
    };
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key)
        .verify(signed, &signature)
        .is_ok()
}
