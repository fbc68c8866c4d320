//! Anthropic and Nova InvokeModel bodies: validation, format choice, and stream chunks.

use super::*;

fn anthropic(extra: Value) -> Value {
    let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello there"}]});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body
}

#[test]
fn anthropic_bodies_are_validated() {
    let parsed = parse_anthropic(&anthropic(json!({"system": "be brief"}))).unwrap();
    assert_eq!(
        (
            parsed.prompt.as_str(),
            parsed.input_words,
            parsed.max_tokens
        ),
        ("hello there", 4, 50)
    );
    let blocks = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}, {"type": "image"}]}]});
    assert_eq!(parse_anthropic(&anthropic(blocks)).unwrap().prompt, "a b");
    for (bad, expected) in [
        (
            json!({"anthropic_version": "2023-06-01"}),
            "anthropic_version",
        ),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"messages": []}), "messages"),
        (json!({"temperature": 2}), "temperature"),
        (
            json!({"messages": [{"role": "assistant", "content": "x"}]}),
            "user",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}),
            "type",
        ),
    ] {
        let message = parse_anthropic(&anthropic(bad)).unwrap_err().message;
        assert!(message.contains(expected), "{message}");
    }
    let mut missing = anthropic(json!({}));
    missing.as_object_mut().unwrap().remove("max_tokens");
    assert!(parse_anthropic(&missing)
        .unwrap_err()
        .message
        .contains("required key [max_tokens]"));
}

#[test]
fn formats_follow_the_model_id_then_the_body() {
    assert_eq!(
        Format::of("us.anthropic.claude-3-5-haiku-20241022-v1:0", &json!({})),
        Format::Anthropic
    );
    assert_eq!(
        Format::of("amazon.nova-lite-v1:0", &anthropic(json!({}))),
        Format::Nova
    );
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/jf2sje1c0jnb";
    assert_eq!(Format::of(arn, &anthropic(json!({}))), Format::Anthropic);
    assert_eq!(Format::of(arn, &json!({"messages": []})), Format::Nova);
}

#[test]
fn chunks_wrap_the_native_events() {
    let answer = Answer::stopping(
        &crate::fake_bedrock::reply::reply_text("m", "r", "p"),
        1,
        u64::MAX,
        &[],
    );
    let decode = |part: &Part| -> Value {
        let bytes = STANDARD
            .decode(part.payload["bytes"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let parts = stream_parts(Format::Anthropic, "m", "msg_1", &answer, 10);
    let types: Vec<Value> = parts.iter().map(|p| decode(p)["type"].clone()).collect();
    assert_eq!(types.first(), Some(&json!("message_start")));
    assert_eq!(types.last(), Some(&json!("message_stop")));
    assert_eq!(
        decode(&parts[parts.len() - 1])["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
        answer.output_tokens()
    );
    let nova = stream_parts(Format::Nova, "m", "msg_1", &answer, 10);
    assert_eq!(
        decode(&nova[1])["contentBlockDelta"]["delta"]["text"],
        answer.deltas[0].as_str()
    );
    assert!(decode(&nova[nova.len() - 1])["amazon-bedrock-invocationMetrics"].is_object());
}
