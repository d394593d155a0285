//! Marketing copy as the writer gets it: a template's `max_chars` enforced on a word boundary,
//! the wrapping quotes a small model likes taken off, and variants compared for sameness.
//! Headless runs and the editor both finish their variants here.

use unicode_segmentation::UnicodeSegmentation;

/// How far past `max_chars` a stream may run before it is stopped: enough to see where the
/// word at the limit ends, so the cut can fall on a boundary.
pub const OVERSHOOT_CHARS: usize = 24;

/// Copy with a limit this short is one line (a tagline, a headline, a subject): generation stops
/// at the first line break.
pub const ONE_LINE_MAX_CHARS: usize = 160;

/// Whether a stream of `chars` characters has gone far enough past `max_chars` to stop.
pub fn is_past_limit(chars: usize, max_chars: Option<usize>) -> bool {
    max_chars.is_some_and(|max| chars > max + OVERSHOOT_CHARS)
}

/// Cuts `text` to at most `max` characters at a word boundary (never mid-word; between any two
/// CJK characters), trimmed.
pub fn cut_to_chars(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut end = 0;
    let mut chars = 0;
    for (at, word) in text.split_word_bound_indices() {
        chars += word.chars().count();
        if chars > max {
            break;
        }
        end = at + word.len();
    }
    text[..end].trim_end().to_string()
}

/// Quotes a small model likes to wrap a one-line answer in (or open, when the cut took the
/// closing one).
pub fn unquote(text: &str) -> &str {
    let t = text.trim();
    let t = match t.strip_prefix(['"', '“']) {
        Some(rest) if !rest.contains(['"', '”']) => rest.trim_start(),
        _ => t,
    };
    for (open, close) in [('"', '"'), ('“', '”'), ('\'', '\'')] {
        if t.len() > 2
            && let Some(inner) = t.strip_prefix(open).and_then(|r| r.strip_suffix(close))
            && !inner.contains(close)
        {
            return inner.trim();
        }
    }
    t
}

/// A generated variant as it is kept: unquoted and within `max_chars` on a word boundary.
/// Empty when nothing usable fits.
pub fn finish(text: &str, max_chars: Option<usize>) -> String {
    let text = unquote(text);
    match max_chars {
        Some(max) => unquote(&cut_to_chars(text, max)).to_string(),
        None => text.to_string(),
    }
}

/// Two variants are the same copy if they differ only in case and spacing.
pub fn is_same_copy(a: &str, b: &str) -> bool {
    let key = |s: &str| {
        s.to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_to_a_character_limit_never_splits_a_word() {
        assert_eq!(
            cut_to_chars("Write faster with Quill today", 20),
            "Write faster with"
        );
        assert_eq!(cut_to_chars("Short one", 30), "Short one");
        assert_eq!(
            cut_to_chars("exactly twenty chars", 20),
            "exactly twenty chars"
        );
        assert_eq!(cut_to_chars("Supercalifragilistic", 5), "");
        assert_eq!(cut_to_chars("Don't stop writing", 7), "Don't");
    }

    #[test]
    fn chinese_is_cut_between_characters() {
        let cut = cut_to_chars("写作更快更好的工具就在这里", 10);
        assert_eq!(cut, "写作更快更好的工具就");
        let cut = cut_to_chars("写作 更快 更好 的 工具 就在 这里", 10);
        assert!(
            cut.chars().count() <= 10 && cut.starts_with("写作 更快"),
            "{cut}"
        );
    }

    #[test]
    fn wrapping_quotes_are_removed() {
        assert_eq!(unquote("\"Write faster.\""), "Write faster.");
        assert_eq!(unquote("“Write faster.”"), "Write faster.");
        assert_eq!(unquote("\"A\" and \"B\""), "\"A\" and \"B\"");
        assert_eq!(unquote("\"Cut before its end"), "Cut before its end");
    }

    #[test]
    fn finishing_unquotes_cuts_and_compares() {
        assert_eq!(
            finish("\"Write faster with Quill today\"", Some(20)),
            "Write faster with"
        );
        assert_eq!(finish("  ", Some(20)), "");
        assert!(is_same_copy("Write  Faster", "write faster"));
        assert!(!is_same_copy("Write faster", "Write better"));
        assert!(!is_past_limit(30 + OVERSHOOT_CHARS, Some(30)));
        assert!(is_past_limit(31 + OVERSHOOT_CHARS, Some(30)));
        assert!(!is_past_limit(10_000, None));
    }
}
