//! What every article prompt carries besides its own text: the brief and the writer's style
//! guide, within a token budget, and the summaries of sections already written, each made once
//! and kept by its text's hash.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::document::front_matter::Brief;
use crate::document::parts::estimate_tokens;

/// The most tokens the brief and style guide take in a prompt by default: a 4k context keeps
/// room for the outline, the summaries, the text before the cursor and the answer.
pub const BRIEF_TOKENS: usize = 400;

/// The brief and style guide as a prompt reads them, and what they cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guidance {
    pub text: String,
    /// Estimated tokens of `text`.
    pub tokens: usize,
    /// Estimated tokens of the brief and guide before they were cut to the budget.
    pub wanted: usize,
}

/// The brief as labelled lines, then the style guide, cut to `budget` tokens: the brief's own
/// lines first, the guide's lines while they fit. Empty when there is neither.
pub fn guidance(brief: &Brief, style: &str, budget: usize) -> Guidance {
    let mut lines: Vec<String> = Vec::new();
    let mut line = |label: &str, value: &str| {
        if !value.trim().is_empty() {
            lines.push(format!("{label}: {}", value.trim()));
        }
    };
    line("Title", &brief.title);
    line("Audience", &brief.audience);
    line("Goal", &brief.goal);
    line("Tone", &brief.tone);
    line("Key points", &brief.key_points.join("; "));
    line("Words to avoid", &brief.avoid.join(", "));
    if let Some(words) = brief.words {
        lines.push(format!("Length: about {words} words"));
    }
    let style = style.trim();
    let wanted = estimate_tokens(&lines.join("\n")) + estimate_tokens(style);
    let mut text = String::new();
    for l in &lines {
        if estimate_tokens(&text) + estimate_tokens(l) > budget {
            break;
        }
        text.push_str(l);
        text.push('\n');
    }
    if !style.is_empty() {
        let mut guide = String::from("Style guide:\n");
        let mut any = false;
        for l in style.lines() {
            if estimate_tokens(&text) + estimate_tokens(&guide) + estimate_tokens(l) > budget {
                break;
            }
            guide.push_str(l);
            guide.push('\n');
            any = true;
        }
        if any {
            text.push_str(&guide);
        }
    }
    let text = text.trim_end().to_string();
    Guidance {
        tokens: estimate_tokens(&text),
        text,
        wanted,
    }
}

/// The writer's style guide: `style.md` in the config folder; empty when there is none or it
/// cannot be read as text (said once by the caller, never fatal).
pub fn read_style(path: &std::path::Path) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            format!(
                "{} is not UTF-8 text: the style guide is left out; save it as UTF-8",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!(
            "cannot read the style guide {}: {e}; it is left out",
            path.display()
        )),
    }
}

/// Summaries of sections, by the hash of the text they summarise: a section is summarised
/// once however many sections after it are written, and again only when its text changes.
#[derive(Debug, Clone, Default)]
pub struct Summaries {
    by_hash: HashMap<[u8; 32], String>,
}

impl Summaries {
    pub fn key(text: &str) -> [u8; 32] {
        Sha256::digest(text.trim().as_bytes()).into()
    }

    pub fn get(&self, text: &str) -> Option<&str> {
        self.by_hash.get(&Self::key(text)).map(String::as_str)
    }

    pub fn insert(&mut self, text: &str, summary: String) {
        self.by_hash.insert(Self::key(text), summary);
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// A summary that cannot be had from the model (refused, or the engine failed): the section's
/// first sentence, which is what it leads with.
pub fn first_sentence(text: &str) -> String {
    let (sentences, _) = crate::document::parts::sentences(text);
    sentences
        .first()
        .map(|s| s.sentence.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief() -> Brief {
        Brief {
            title: "茶的故事".into(),
            audience: "beginners".into(),
            key_points: vec!["history".into(), "brewing".into()],
            words: Some(800),
            ..Brief::default()
        }
    }

    #[test]
    fn the_brief_comes_as_labelled_lines_then_the_guide() {
        let g = guidance(&brief(), "Short sentences.\nNo jargon.", BRIEF_TOKENS);
        assert_eq!(
            g.text,
            "Title: 茶的故事\nAudience: beginners\nKey points: history; brewing\nLength: about 800 words\nStyle guide:\nShort sentences.\nNo jargon."
        );
        assert_eq!(g.tokens, estimate_tokens(&g.text));
    }

    #[test]
    fn a_long_guide_is_cut_to_the_budget_and_the_brief_kept() {
        let style = "Write plainly and never use the passive voice.\n".repeat(200);
        let g = guidance(&brief(), &style, 100);
        assert!(g.tokens <= 100, "{}", g.tokens);
        assert!(g.text.starts_with("Title: 茶的故事"));
        assert!(g.wanted > 1000);
    }

    #[test]
    fn nothing_set_is_nothing_said() {
        assert_eq!(guidance(&Brief::default(), "  ", 400).text, "");
    }

    #[test]
    fn summaries_are_kept_by_the_text() {
        let mut s = Summaries::default();
        s.insert("Tea calms.\n", "calm".into());
        assert_eq!(s.get("  Tea calms."), Some("calm"));
        assert_eq!(s.get("Tea calms!"), None);
    }
}
