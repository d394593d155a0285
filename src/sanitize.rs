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

/// Removes terminal escape sequences whole and every other unsafe character; borrows when
/// there is nothing to remove (the common case). "\u{1b}]0;title\u{7}" goes entirely, not
/// just its ESC and BEL: the rest would be junk on screen and in the draft.
pub fn strip_controls(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe_char) {
        let mut out = String::with_capacity(text.len());
        EscapeFilter::default().push(text, &mut out);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Where an `EscapeFilter` is within a sequence.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After ESC.
    Escape,
    /// In a control sequence (ESC [ or the 8-bit CSI): parameters up to a final byte.
    Csi,
    /// In a control string (OSC, DCS, SOS, PM, APC), up to BEL or the string terminator.
    Str,
    /// After ESC inside a control string: `\` ends it.
    StrEscape,
}

/// Removes escape sequences (CSI, OSC, DCS, SOS, PM, APC and two-character escapes, in their
/// 7-bit and 8-bit forms) and other unsafe characters from text that arrives in pieces, such as
/// a model's tokens: a sequence split across pieces goes whole. A line break ends any
/// sequence, so a stray ESC costs at most the rest of its line.
#[derive(Debug, Default, Clone)]
pub struct EscapeFilter {
    state: State,
}

impl EscapeFilter {
    /// Appends to `out` what of `text` is text.
    pub fn push(&mut self, text: &str, out: &mut String) {
        for c in text.chars() {
            self.step(c, out);
        }
    }

    fn step(&mut self, c: char, out: &mut String) {
        use State::*;
        if c == '\n' && self.state != Text {
            self.state = Text;
        }
        self.state = match (self.state, c) {
            (Text, '\u{1b}') => Escape,
            (Text, '\u{9b}') => Csi,
            // OSC, DCS, SOS, PM, APC in their 8-bit forms.
            (Text, '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}') => Str,
            (Text, c) => {
                if !is_unsafe_char(c) {
                    out.push(c);
                }
                Text
            }
            (Escape, '[') => Csi,
            (Escape, ']' | 'P' | 'X' | '^' | '_') => Str,
            // Intermediate bytes (ESC ( B chooses a character set): the final byte follows.
            (Escape, ' '..='/') => Escape,
            // A final byte ends a two-character escape (ESC c resets the terminal).
            (Escape, '0'..='~') => Text,
            // Anything else cancels the escape and counts on its own: another ESC starts a
            // new sequence, a letter of text stays text.
            (Escape, c) => {
                self.state = Text;
                return self.step(c, out);
            }
            (Csi, ' '..='?') => Csi,
            (Csi, '@'..='~') => Text,
            // Not a control sequence after all: the character is text again.
            (Csi, c) => {
                self.state = Text;
                return self.step(c, out);
            }
            (Str, '\u{7}' | '\u{9c}') => Text,
            (Str, '\u{1b}') => StrEscape,
            (Str, _) => Str,
            (StrEscape, '\\') => Text,
            (StrEscape, c) => {
                self.state = Escape;
                return self.step(c, out);
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_removed() {
        let hostile = "ok\u{1b}[2J\u{7}\r\u{9b}31m\u{202e}txt\u{2066}";
        assert_eq!(strip_controls(hostile), "oktxt");
    }

    #[test]
    fn whole_sequences_go_even_split_across_pieces() {
        let pieces = [
            "a\u{1b}",
            "]0;PWNED",
            "\u{7}b\u{1b}[",
            "6nc\u{1b}P+q\u{1b}",
            "\\d\u{1b}cé",
            "\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{9c} \u{1b}(B中文\u{9d}52;c;x\u{7}.",
        ];
        let mut filter = EscapeFilter::default();
        let mut out = String::new();
        for piece in pieces {
            filter.push(piece, &mut out);
        }
        assert_eq!(out, "abcdélink 中文.");
    }

    #[test]
    fn a_stray_escape_costs_at_most_the_rest_of_its_line() {
        assert_eq!(strip_controls("one\u{1b}]unterminated\ntwo"), "one\ntwo");
        assert_eq!(strip_controls("x\u{1b}[12;é"), "xé");
        // ESC cancels the escape it interrupts and starts its own.
        assert_eq!(strip_controls("a\u{1b}\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(strip_controls("a\u{1b}éb"), "aéb");
    }

    #[test]
    fn prose_tabs_newlines_cjk_and_emoji_pass_untouched() {
        let text = "第一段\n\tIndented — “quoted” 😀";
        assert!(matches!(strip_controls(text), Cow::Borrowed(t) if t == text));
    }
}
