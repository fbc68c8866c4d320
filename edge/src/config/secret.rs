//! A credential string that cannot leak by accident: `Debug` and `Display` print `*****`, and
//! the value is reachable only through [`Secret::expose`]; and the [`Credentials`] made of them.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that needs it (signing, an `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

/// How the edge proves itself to Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    SigV4 {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// A Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`).
    Bearer(Secret),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_hides_the_value() {
        let secret = Secret::new("wJalrXUtnFEMI");
        assert_eq!(format!("{secret}"), "*****");
        assert_eq!(format!("{secret:?}"), "*****");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(*****)");
        assert_eq!(secret.expose(), "wJalrXUtnFEMI");
    }
}
