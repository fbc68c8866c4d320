//! Maps a method and the raw, still percent-encoded path to a Bedrock Runtime operation. The
//! path is split on literal `/` before decoding, so `%2F` inside a model id stays in the id.

use super::errors::ApiError;
use axum::http::Method;
use percent_encoding::percent_decode_str;

/// The model operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
}

impl Operation {
    pub fn streaming(self) -> bool {
        matches!(self, Self::ConverseStream | Self::InvokeStream)
    }
}

/// A recognised request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Model {
        model_id: String,
        operation: Operation,
    },
    StartAsyncInvoke,
    GetAsyncInvoke {
        invocation_arn: String,
    },
    ListAsyncInvokes,
}

/// The route of `method raw_path`; 404 UnknownOperationException if there is none.
pub fn route(method: &Method, raw_path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = raw_path
        .strip_prefix('/')
        .unwrap_or(raw_path)
        .split('/')
        .collect();
    let post = method == Method::POST;
    let get = method == Method::GET;
    match segments[..] {
        ["model", id, op] if post => {
            let operation = match op {
                "converse" => Operation::Converse,
                "converse-stream" => Operation::ConverseStream,
                "invoke" => Operation::Invoke,
                "invoke-with-response-stream" => Operation::InvokeStream,
                _ => return Err(ApiError::unknown_operation()),
            };
            Ok(Route::Model {
                model_id: decode(id, "modelId")?,
                operation,
            })
        }
        ["async-invoke"] if post => Ok(Route::StartAsyncInvoke),
        ["async-invoke"] if get => Ok(Route::ListAsyncInvokes),
        ["async-invoke", arn] if get => Ok(Route::GetAsyncInvoke {
            invocation_arn: decode(arn, "invocationArn")?,
        }),
        _ => Err(ApiError::unknown_operation()),
    }
}

/// Percent-decodes one path label.
fn decode(segment: &str, member: &str) -> Result<String, ApiError> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|id| id.into_owned())
        .map_err(|_| ApiError::constraint(member, "Member must be valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(path: &str) -> (String, Operation) {
        match route(&Method::POST, path) {
            Ok(Route::Model {
                model_id,
                operation,
            }) => (model_id, operation),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn every_model_id_form_decodes() {
        let cases = [
            ("anthropic.claude-3-haiku-20240307-v1%3A0", "anthropic.claude-3-haiku-20240307-v1:0"),
            ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
            ("us.anthropic.claude-3-5-haiku-20241022-v1%3A0", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            ("global.amazon.nova-2-lite-v1%3a0", "global.amazon.nova-2-lite-v1:0"),
            (
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0",
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fjf2sje1c0jnb",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb",
            ),
            (
                "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Famazon.nova-lite-v1%3A0",
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
            ),
        ];
        for (encoded, id) in cases {
            for (op, operation) in [
                ("converse", Operation::Converse),
                ("converse-stream", Operation::ConverseStream),
                ("invoke", Operation::Invoke),
                ("invoke-with-response-stream", Operation::InvokeStream),
            ] {
                assert_eq!(
                    model(&format!("/model/{encoded}/{op}")),
                    (id.to_owned(), operation)
                );
            }
        }
    }

    #[test]
    fn async_invoke_routes() {
        assert_eq!(
            route(&Method::POST, "/async-invoke"),
            Ok(Route::StartAsyncInvoke)
        );
        assert_eq!(
            route(&Method::GET, "/async-invoke"),
            Ok(Route::ListAsyncInvokes)
        );
        assert_eq!(
            route(&Method::GET, "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aasync-invoke%2Fabcdefghijkl"),
            Ok(Route::GetAsyncInvoke {
                invocation_arn: "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdefghijkl".into()
            })
        );
    }

    #[test]
    fn unknown_paths_are_404_unknown_operation() {
        for (method, path) in [
            (Method::POST, "/"),
            (Method::GET, "/model/amazon.nova-lite-v1:0/converse"),
            (Method::POST, "/model/amazon.nova-lite-v1:0/chat"),
            // A raw `/` splits the id: Bedrock needs `%2F`.
            (Method::POST, "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb/invoke"),
            (Method::POST, "/model/amazon.nova-lite-v1:0/converse/"),
            (Method::DELETE, "/async-invoke"),
        ] {
            let error = route(&method, path).unwrap_err();
            assert_eq!((error.status, error.name), (404, "UnknownOperationException"), "{method} {path}");
        }
        assert_eq!(
            route(&Method::POST, "/model/%FF/converse")
                .unwrap_err()
                .status,
            400
        );
    }
}
