//! The fake's deterministic answers: the text (naming the model and region that answered, unless
//! a reply was set through `POST /_fake/replies`), its word-sized stream deltas, token counts and
//! the `maxTokens` cut-off.

/// The whole answer the fake gives `prompt` (the last user message's text).
pub fn reply_text(model_id: &str, region: &str, prompt: &str) -> String {
    let said: String = prompt.chars().take(60).collect();
    format!(
        "Hello from {model_id} in {region}. You said: {said}. This answer streams word by word."
    )
}

/// `text` in word-sized pieces, each with the whitespace that follows it, so that
/// concatenating the pieces gives back exactly `text`.
pub fn reply_deltas(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut previous_was_space = false;
    for c in text.chars() {
        let starts_word = previous_was_space && !c.is_whitespace();
        match pieces.last_mut() {
            Some(piece) if !starts_word => piece.push(c),
            _ => pieces.push(c.to_string()),
        }
        previous_was_space = c.is_whitespace();
    }
    pieces
}

/// The fake's token count for input text: its number of words.
pub fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// One generated answer, shared by every operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub deltas: Vec<String>,
    /// `end_turn`, `max_tokens` when the answer was cut short, or `stop_sequence`.
    pub stop_reason: &'static str,
    pub input_tokens: u64,
}

impl Answer {
    /// The answer `text` (the default reply, or one set through the control API), billed
    /// `input_words` input tokens (at least 1), ended before the first of `stops` it holds (as a model stops where
    /// it would write a stop sequence), and cut to `max_tokens` deltas.
    pub fn stopping(text: &str, input_words: u64, max_tokens: u64, stops: &[String]) -> Self {
        let stop_at = stops
            .iter()
            .filter_map(|stop| text.find(stop.as_str()))
            .min();
        let text = stop_at.map_or(text, |at| &text[..at]);
        let mut deltas = reply_deltas(text);
        let cut = usize::try_from(max_tokens).unwrap_or(usize::MAX);
        let stop_reason = if deltas.len() > cut {
            deltas.truncate(cut);
            "max_tokens"
        } else if stop_at.is_some() {
            "stop_sequence"
        } else {
            "end_turn"
        };
        Self {
            deltas,
            stop_reason,
            input_tokens: input_words.max(1),
        }
    }

    pub fn text(&self) -> String {
        self.deltas.concat()
    }

    pub fn output_tokens(&self) -> u64 {
        self.deltas.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_names_model_region_and_prompt() {
        assert_eq!(
            reply_text("amazon.nova-lite-v1:0", "eu-west-1", "Hi there"),
            "Hello from amazon.nova-lite-v1:0 in eu-west-1. You said: Hi there. This answer streams word by word."
        );
        let long = "é".repeat(100);
        assert!(reply_text("m", "r", &long).contains(&format!("said: {}.", "é".repeat(60))));
    }

    #[test]
    fn deltas_are_words_with_their_trailing_space() {
        assert_eq!(
            reply_deltas("Hello  big\nworld. "),
            ["Hello  ", "big\n", "world. "]
        );
        assert_eq!(reply_deltas(" lead"), [" ", "lead"]);
        assert!(reply_deltas("").is_empty());
        for text in [
            "a b c",
            "  x\t\ty  ",
            "one",
            reply_text("m", "r", "some prompt, with words").as_str(),
        ] {
            assert_eq!(reply_deltas(text).concat(), text);
        }
    }

    #[test]
    fn max_tokens_cuts_the_answer() {
        let full = Answer::stopping(&reply_text("m", "r", "p"), 0, u64::MAX, &[]);
        assert_eq!((full.stop_reason, full.input_tokens), ("end_turn", 1));
        assert_eq!(full.text(), reply_text("m", "r", "p"));
        let cut = Answer::stopping(&reply_text("m", "r", "p"), 7, 3, &[]);
        assert_eq!(
            (cut.stop_reason, cut.output_tokens(), cut.input_tokens),
            ("max_tokens", 3, 7)
        );
        assert_eq!(cut.text(), "Hello from m ");
        let set = Answer::stopping("# Title\n\nSome *text*.", 1, 2, &[]);
        assert_eq!(
            (set.text(), set.stop_reason),
            ("# Title\n\n".into(), "max_tokens")
        );
        assert_eq!(count_words(" two  words\n"), 2);
    }

    #[test]
    fn a_stop_sequence_ends_the_answer_before_it() {
        let stops = ["said".to_owned(), "word".to_owned()];
        let stopped = Answer::stopping(&reply_text("m", "r", "p"), 1, u64::MAX, &stops);
        assert_eq!(
            (stopped.text().as_str(), stopped.stop_reason),
            ("Hello from m in r. You ", "stop_sequence")
        );
    }
}
