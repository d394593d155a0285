//! Text from the model, from files and from templates is untrusted: terminal control characters
//! must never reach the terminal raw, nor the draft.

use std::borrow::Cow;

/// True for characters that can drive a terminal or reorder text: C0 controls other than tab and
/// newline, DEL, C1 controls, and the bidirectional overrides and isolates.
pub fn is_unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Removes unsafe characters; borrows when there is nothing to remove (the common case).
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe_char) {
        Cow::Owned(text.chars().filter(|&c| !is_unsafe_char(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_removed() {
        let hostile = "ok\u{1b}[2J\u{7}\r\u{9b}31m\u{202e}txt\u{2066}";
        assert_eq!(strip_controls(hostile), "ok[2J31mtxt");
    }

    #[test]
    fn prose_tabs_newlines_cjk_and_emoji_pass_untouched() {
        let text = "第一段\n\tIndented — “quoted” 😀";
        assert!(matches!(strip_controls(text), Cow::Borrowed(t) if t == text));
    }
}
