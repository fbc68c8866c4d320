//! Converse request validation, and the order of ConverseStream events.

use super::*;

fn refusal(body: Value) -> String {
    parse(&body).unwrap_err().message
}

#[test]
fn a_valid_conversation_gives_the_last_user_text() {
    let body = json!({
        "system": [{"text": "be brief"}],
        "messages": [
            {"role": "user", "content": [{"text": "first question"}]},
            {"role": "assistant", "content": [{"text": "an answer"}]},
            {"role": "user", "content": [{"text": "second"}, {"image": {"format": "png", "source": {"bytes": "aGk="}}}, {"text": "part"}]}
        ],
        "inferenceConfig": {"maxTokens": 5, "temperature": 0.5, "topP": 1, "stopSequences": ["END"]}
    });
    assert_eq!(
        parse(&body),
        Ok(Conversation {
            prompt: "second [image: png, 2 bytes] part".into(),
            // The image bills as the words standing for it, as an image bills input tokens.
            input_words: 12,
            max_tokens: 5,
            stop_sequences: vec!["END".into()],
        })
    );
}

#[test]
fn invalid_bodies_name_the_problem() {
    let user = json!([{"role": "user", "content": [{"text": "hi"}]}]);
    assert!(refusal(json!({})).contains("'messages'"));
    assert!(refusal(json!({"messages": []})).contains("'messages'"));
    assert!(
        refusal(json!({"messages": [{"role": "system", "content": []}]}))
            .contains("messages.1.member.role")
    );
    assert!(
        refusal(json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}))
            .contains("start with a user")
    );
    assert!(
        refusal(json!({"messages": [{"role": "user", "content": [{"text": 1}]}]}))
            .contains("content.1.member.text")
    );
    assert!(
        refusal(json!({"messages": [{"role": "user", "content": [{"bogus": 1}]}]}))
            .contains("bogus")
    );
    assert!(refusal(json!({"messages": [{"role": "user"}]})).contains("messages.1.member.content"));
    assert!(
        refusal(json!({"messages": user, "inferenceConfig": {"maxTokens": 0}}))
            .contains("maxTokens")
    );
    assert!(
        refusal(json!({"messages": user, "inferenceConfig": {"temperature": 1.5}}))
            .contains("temperature")
    );
    assert!(refusal(json!({"messages": user, "inferenceConfig": {"topP": -0.1}})).contains("topP"));
    assert!(refusal(json!({"messages": user, "system": "text"})).contains("'system'"));
}

#[test]
fn stream_events_come_in_bedrock_order() {
    let answer = Answer::stopping(
        &crate::fake_bedrock::reply::reply_text("m", "r", "p"),
        1,
        u64::MAX,
        &[],
    );
    let names: Vec<&str> = stream_parts(&answer, 3)
        .iter()
        .map(|p| p.event_type)
        .collect();
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(
        &names[names.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    assert_eq!(
        names.iter().filter(|n| **n == "contentBlockDelta").count(),
        answer.deltas.len()
    );
    assert_eq!(
        response(&answer, 3)["usage"]["totalTokens"],
        1 + answer.output_tokens()
    );
}
