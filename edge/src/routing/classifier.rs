//! The `auto` route's fast local classifier: scores the whole conversation (length, code,
//! reasoning and writing cues, number of turns; not just the last turn) and picks a tier,
//! `simple`, `medium` or `complex`, with a reason a person can read in the `meta` event.
//! No I/O, no model call; microseconds per request.

use crate::config::policy::{Thresholds, Tier};
use shared::{ChatRequest, Role};

/// The tier and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub tier: Tier,
    pub score: i32,
    /// E.g. `complex (score 5): reasoning cues (prove, step by step); 2 code blocks; 9.1k chars over 5 turns`.
    pub reason: String,
}

/// Asking for careful thought: what to look for, and the name the reason gives it.
const REASONING_CUES: [(&str, &str); 24] = [
    ("why ", "why"),
    ("explain", "explain"),
    ("prove", "prove"),
    ("proof", "prove"),
    ("derive", "derive"),
    ("step by step", "step by step"),
    ("step-by-step", "step by step"),
    ("analy", "analyse"),
    ("compare", "compare"),
    ("trade-off", "trade-offs"),
    ("tradeoff", "trade-offs"),
    ("pros and cons", "trade-offs"),
    ("architecture", "architecture"),
    ("design a", "design"),
    ("optimi", "optimise"),
    ("debug", "debug"),
    ("evaluate", "evaluate"),
    ("reason about", "reason about"),
    ("strategy", "strategy"),
    ("calculate", "calculate"),
    ("what if", "what if"),
    ("implication", "implications"),
    ("root cause", "root cause"),
    ("in depth", "in depth"),
];

/// Asking for a piece of writing (more than a one-liner).
const WRITING_CUES: [&str; 10] = [
    "write", "draft", "essay", "story", "poem", "email", "rewrite", "article", "letter", "outline",
];

/// Asking for something short and mechanical.
const SIMPLE_CUES: [&str; 10] = [
    "classify",
    "label",
    "extract",
    "translate",
    "yes or no",
    "one word",
    "tl;dr",
    "spell",
    "define ",
    "true or false",
];

/// Lines that look like source code.
fn is_code_line(line: &str) -> bool {
    let line = line.trim();
    if line.len() < 4 {
        return false;
    }
    const STARTS: [&str; 14] = [
        "fn ",
        "def ",
        "class ",
        "import ",
        "#include",
        "pub ",
        "let ",
        "const ",
        "function ",
        "return ",
        "SELECT ",
        "for (",
        "if (",
        "impl ",
    ];
    STARTS.iter().any(|s| line.starts_with(s))
        || line.ends_with(';')
        || line.ends_with('{')
        || line == "}"
}

/// Classifies `request`, whole: the system prompt and every turn.
pub fn classify(request: &ChatRequest, thresholds: &Thresholds) -> Classification {
    let mut chars = request.system.as_deref().map_or(0, |s| s.chars().count());
    let mut fences = 0;
    let mut code_lines = 0;
    let mut reasoning: Vec<&str> = Vec::new();
    let mut writing = false;
    let mut simple = false;
    for message in &request.messages {
        let content = message.content.text();
        chars += content.chars().count();
        fences += content.matches("```").count() / 2;
        code_lines += content.lines().filter(|l| is_code_line(l)).count();
        if message.role != Role::User {
            continue;
        }
        // The cues are ASCII: lowercasing ASCII is enough to match them in any case.
        let text = content.to_ascii_lowercase();
        for (cue, label) in REASONING_CUES {
            if text.contains(cue) && !reasoning.contains(&label) {
                reasoning.push(label);
            }
        }
        writing |= WRITING_CUES.iter().any(|cue| text.contains(cue));
        simple |= SIMPLE_CUES.iter().any(|cue| text.contains(cue));
    }
    let turns = request.messages.len();

    let mut score = 0;
    let mut why: Vec<String> = Vec::new();
    if !reasoning.is_empty() {
        score += if reasoning.len() >= 3 { 3 } else { 2 };
        why.push(format!("reasoning cues ({})", reasoning.join(", ")));
    }
    if fences > 0 || code_lines >= 3 {
        score += if fences >= 3 || code_lines >= 30 {
            2
        } else {
            1
        };
        why.push(if fences > 0 {
            format!("{fences} code block{}", if fences == 1 { "" } else { "s" })
        } else {
            format!("{code_lines} lines of code")
        });
    }
    if writing {
        score += 1;
        why.push("a writing task".into());
    }
    let length_points = match chars {
        0..2_000 => 0,
        2_000..8_000 => 1,
        8_000..20_000 => 2,
        _ => 3,
    };
    score += length_points;
    if turns >= 8 {
        score += 1;
    }
    if length_points > 0 || turns >= 8 {
        why.push(format!("{} over {turns} turns", size(chars)));
    }
    if simple && score < thresholds.complex {
        score -= 1;
        why.push("a short mechanical task".into());
    }
    let tier = if score >= thresholds.complex {
        Tier::Complex
    } else if score >= thresholds.medium {
        Tier::Medium
    } else {
        Tier::Simple
    };
    if why.is_empty() {
        why.push(format!(
            "short ({} over {turns} turns), no code or reasoning cues",
            size(chars)
        ));
    }
    Classification {
        tier,
        score,
        reason: format!("{tier} (score {score}): {}", why.join("; ")),
    }
}

fn size(chars: usize) -> String {
    if chars >= 1_000 {
        #[allow(clippy::cast_precision_loss)]
        let thousands = chars as f64 / 1_000.0;
        format!("{thousands:.1}k chars")
    } else {
        format!("{chars} chars")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ChatMessage;

    fn ask(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            messages,
            ..ChatRequest::default()
        }
    }

    fn tier(messages: Vec<ChatMessage>) -> (Tier, String) {
        let c = classify(&ask(messages), &Thresholds::default());
        (c.tier, c.reason)
    }

    #[test]
    fn short_questions_are_simple() {
        let (t, reason) = tier(vec![ChatMessage::user("Hi! What's the capital of France?")]);
        assert_eq!(t, Tier::Simple, "{reason}");
        assert_eq!(
            reason,
            "simple (score 0): short (33 chars over 1 turns), no code or reasoning cues"
        );
        let (t, reason) = tier(vec![ChatMessage::user(
            "Classify this review as positive or negative: great phone.",
        )]);
        assert_eq!(t, Tier::Simple, "{reason}");
    }

    #[test]
    fn writing_and_some_reasoning_are_medium() {
        let (t, reason) = tier(vec![ChatMessage::user(
            "Write a short email to my team about Friday's offsite.",
        )]);
        assert_eq!(t, Tier::Medium, "{reason}");
        let (t, reason) = tier(vec![ChatMessage::user("Explain how a hash map works.")]);
        assert_eq!(t, Tier::Medium, "{reason}");
        assert!(reason.contains("reasoning cues (explain)"), "{reason}");
    }

    #[test]
    fn code_with_reasoning_is_complex() {
        let code =
            "```rust\nfn main() {\n    let x = vec![1, 2, 3];\n    println!(\"{x:?}\");\n}\n```";
        let (t, reason) = tier(vec![ChatMessage::user(format!(
            "Debug this and explain step by step why it fails:\n{code}"
        ))]);
        assert_eq!(t, Tier::Complex, "{reason}");
        assert!(
            reason.starts_with(
                "complex (score 4): reasoning cues (why, explain, step by step, debug)"
            ),
            "{reason}"
        );
        assert!(reason.contains("1 code block"), "{reason}");
    }

    #[test]
    fn the_whole_conversation_counts_not_just_the_last_turn() {
        let long = "The quarterly figures show revenue growth in every region. ".repeat(150);
        let conversation = vec![
            ChatMessage::user(format!(
                "Analyze these figures and compare regions:\n{long}"
            )),
            ChatMessage::assistant("Here is the comparison..."),
            ChatMessage::user("ok"),
        ];
        let (t, reason) = tier(conversation);
        assert_eq!(t, Tier::Complex, "{reason}");
        assert!(reason.contains("8.9k chars over 3 turns"), "{reason}");
        // The same last turn alone is simple.
        assert_eq!(tier(vec![ChatMessage::user("ok")]).0, Tier::Simple);
    }

    #[test]
    fn thresholds_are_configurable() {
        let request = ask(vec![ChatMessage::user("Explain how a hash map works.")]);
        let strict = Thresholds {
            medium: 3,
            complex: 6,
        };
        assert_eq!(classify(&request, &strict).tier, Tier::Simple);
        assert!(Thresholds {
            medium: 2,
            complex: 2
        }
        .check()
        .is_err());
    }
}
