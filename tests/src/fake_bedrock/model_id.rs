//! The model identifiers Bedrock Runtime accepts in `/model/{modelId}/…` (bedrock-wire.md §1.4):
//! foundation-model ids, inference-profile ids (`us.`, `eu.`, `apac.`, `global.`, …) and ARNs.

/// Longest identifier accepted (`ConversationalModelId` in the service model).
const MAX_LEN: usize = 2048;

/// `Ok` if `id` has one of the accepted forms, else the reason, for a ValidationException.
pub fn check(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.len() <= MAX_LEN
        && if id.starts_with("arn:") {
            is_arn(id)
        } else {
            is_model_name(id)
        };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "1 validation error detected: Value '{id}' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: a foundation-model id, an inference-profile id or a Bedrock model ARN"
        ))
    }
}

/// The foundation-model ARN of a plain id (ARNs are returned unchanged).
pub fn model_arn(id: &str, region: &str) -> String {
    if id.starts_with("arn:") {
        id.to_owned()
    } else {
        format!("arn:aws:bedrock:{region}::foundation-model/{id}")
    }
}

/// `[a-z0-9-]{1,63}`.
fn is_segment(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `provider.name[-version][:n[:m]]`, possibly behind a geographic prefix (`us.provider.name…`).
fn is_model_name(s: &str) -> bool {
    let mut parts = s.split(':');
    let dotted = parts.next().unwrap_or_default();
    let suffixes: Vec<&str> = parts.collect();
    let names: Vec<&str> = dotted.split('.').collect();
    names.len() >= 2
        && names.iter().all(|n| is_segment(n))
        && suffixes.len() <= 2
        && suffixes.iter().all(|n| is_segment(n))
}

/// `[a-z0-9]{12}`, the resource ids Bedrock generates.
fn is_generated_id(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:{partition}:bedrock:{region}:{account}:{type}/{id}` (and SageMaker endpoints).
fn is_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let Some((kind, rest)) = resource.split_once('/') else {
        return false;
    };
    let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
    let region_ok = region.len() <= 20 && is_segment(region);
    let resource_ok = match (service, kind) {
        ("bedrock", "foundation-model") => account.is_empty() && is_model_name(rest),
        ("bedrock", "inference-profile") => is_account(account) && is_model_name(rest),
        ("bedrock", "default-prompt-router") => is_account(account) && is_model_name(rest),
        (
            "bedrock",
            "application-inference-profile"
            | "provisioned-model"
            | "custom-model-deployment"
            | "imported-model"
            | "prompt-router",
        ) => is_account(account) && is_generated_id(rest),
        ("bedrock", "prompt") => is_account(account) && is_prompt(rest),
        ("sagemaker", "endpoint") => {
            is_account(account)
                && (1..=63).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    };
    partition_ok && region_ok && resource_ok
}

/// `[0-9a-zA-Z]{10}` with an optional `:version` of up to 5 digits.
fn is_prompt(s: &str) -> bool {
    let (id, version) = s.split_once(':').unwrap_or((s, "1"));
    id.len() == 10
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && (1..=5).contains(&version.len())
        && version.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_is_accepted() {
        for id in [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.nova-lite-v1:0",
            "anthropic.claude-v2:1:200k",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "apac.amazon.nova-pro-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "jp.anthropic.claude-sonnet-4-6",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb",
            "arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abcdef123456",
            "arn:aws:bedrock:us-west-2:123456789012:custom-model-deployment/abcdef123456",
            "arn:aws:bedrock:us-west-2:123456789012:imported-model/abcdef123456",
            "arn:aws:bedrock:us-west-2:123456789012:prompt/PROMPT1234:3",
            "arn:aws:bedrock:us-west-2:123456789012:default-prompt-router/anthropic.claude:1",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:sagemaker:us-west-2:123456789012:endpoint/my-endpoint",
        ] {
            assert_eq!(check(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for id in [
            "",
            "claude",
            "Anthropic.Claude-3",
            "anthropic.claude v1",
            "anthropic..claude",
            "anthropic.claude:1:2:3",
            "anthropic.claude/v1",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/short",
            "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/",
            "arn:aws:s3:::bucket/key",
            "arn:aws:bedrock:us-east-1:123456789012:unknown/abcdef123456",
        ] {
            assert!(check(id).is_err(), "{id}");
        }
        assert!(check(&format!("a.{}", "b".repeat(3000))).is_err());
    }

    #[test]
    fn plain_ids_get_a_foundation_model_arn() {
        assert_eq!(
            model_arn("amazon.nova-lite-v1:0", "us-west-2"),
            "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0"
        );
        let arn =
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb";
        assert_eq!(model_arn(arn, "eu-west-1"), arn);
    }
}
