//! One line of editable text, as every one-line field uses it (the minibuffer, the palette's
//! query, a setting being typed, a template's fields): the cursor steps by grapheme, words by
//! the draft's rules, and the editing commands are the draft's own.

use unicode_segmentation::UnicodeSegmentation;

use crate::command::Command;
use crate::keymap::Key;

/// One line only: a pasted or remembered break would end the field, and a control character
/// would reach the terminal.
fn one_line(text: &str) -> String {
    crate::sanitize::strip_controls(&text.replace(['\n', '\r'], " ")).into_owned()
}

/// The text and the cursor, a byte offset on a grapheme boundary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineInput {
    pub text: String,
    pub cursor: usize,
    /// The whole text is selected (a value filled in for the writer): typing or deleting
    /// replaces it, a motion keeps it.
    pub selected: bool,
}

impl LineInput {
    /// `text` with the cursor at its end.
    pub fn new(text: &str) -> Self {
        let text = one_line(text);
        LineInput {
            cursor: text.len(),
            text,
            selected: false,
        }
    }

    /// `text` filled in for the writer, selected, as a default is: typing replaces it.
    pub fn prefilled(text: &str) -> Self {
        let mut input = LineInput::new(text);
        input.selected = !input.text.is_empty();
        input
    }

    /// A selected text goes before what replaces it.
    fn take_selection(&mut self) -> bool {
        let was = std::mem::take(&mut self.selected);
        if was {
            self.text.clear();
            self.cursor = 0;
        }
        was
    }

    pub fn insert(&mut self, s: &str) {
        self.take_selection();
        let s = one_line(s);
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
    }

    /// Handles an editing command or a key that types; false if it is neither.
    pub fn edit(&mut self, command: Option<Command>, key: &Key) -> bool {
        use Command as C;
        if matches!(
            command,
            Some(C::delete_backward | C::delete_forward | C::delete_word_backward)
        ) && self.take_selection()
        {
            return true;
        }
        // Any other key keeps the text; a motion or a typed character ends the selection.
        let typed = command.is_none() && key.typed_char().is_some();
        if !typed {
            self.selected = false;
        }
        match command {
            Some(C::move_left) => self.cursor = self.prev(),
            Some(C::move_right) => self.cursor = self.next(),
            Some(C::move_word_left) => self.cursor = self.word_start(),
            Some(C::move_word_right) => self.cursor = self.word_end(),
            Some(C::move_line_start | C::move_doc_start) => self.cursor = 0,
            Some(C::move_line_end | C::move_doc_end) => self.cursor = self.text.len(),
            Some(C::delete_backward) => self.delete_to(self.prev()),
            Some(C::delete_forward) => {
                let next = self.next();
                self.text.replace_range(self.cursor..next, "");
            }
            Some(C::delete_word_backward) => self.delete_to(self.word_start()),
            _ => match key.typed_char() {
                Some(c) => self.insert(c.encode_utf8(&mut [0; 4])),
                None => return false,
            },
        }
        true
    }

    fn delete_to(&mut self, start: usize) {
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    fn prev(&self) -> usize {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next(&self) -> usize {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map_or(self.cursor, |g| self.cursor + g.len())
    }

    /// The start of the word before the cursor, by the draft's own rules (each CJK character
    /// a word; punctuation such as a file name's dot between words).
    fn word_start(&self) -> usize {
        self.by_words(crate::document::grapheme::prev_word)
    }

    /// The end of the word after the cursor, by the draft's rules.
    fn word_end(&self) -> usize {
        self.by_words(crate::document::grapheme::next_word)
    }

    /// Where `motion` over the text as a rope takes the cursor, as a byte offset. A line is
    /// short: making a rope of it per key costs nothing a writer could notice.
    fn by_words(&self, motion: fn(&ropey::Rope, usize) -> usize) -> usize {
        let rope = ropey::Rope::from_str(&self.text);
        rope.char_to_byte(motion(&rope, rope.byte_to_char(self.cursor)))
    }

    /// Display columns before the cursor (CJK counts two).
    pub fn cursor_col(&self) -> usize {
        unicode_width::UnicodeWidthStr::width(&self.text[..self.cursor])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::KeyCode;

    fn press(input: &mut LineInput, command: Command) {
        input.edit(Some(command), &Key::plain(KeyCode::F(20)));
    }

    #[test]
    fn editing_steps_over_whole_graphemes() {
        let mut input = LineInput::new("a写👍🏽");
        press(&mut input, Command::move_left);
        assert_eq!(&input.text[input.cursor..], "👍🏽");
        press(&mut input, Command::delete_backward);
        assert_eq!(input.text, "a👍🏽");
        assert_eq!(input.cursor_col(), 1);
        input.edit(None, &Key::plain(KeyCode::Char('字')));
        assert_eq!(input.text, "a字👍🏽");
        assert_eq!(input.cursor_col(), 3);
        press(&mut input, Command::delete_forward);
        assert_eq!(input.text, "a字");
    }

    #[test]
    fn words_and_line_ends_move_and_delete_as_in_the_draft() {
        let mut input = LineInput::new("save as draft.md");
        press(&mut input, Command::move_word_left);
        assert_eq!(&input.text[input.cursor..], "md");
        press(&mut input, Command::delete_word_backward);
        assert_eq!(
            input.text, "save as md",
            "the dot goes with the word, as in the draft"
        );
        press(&mut input, Command::move_line_start);
        assert_eq!(input.cursor, 0);
        press(&mut input, Command::move_word_right);
        assert_eq!(&input.text[..input.cursor], "save");
        press(&mut input, Command::move_line_end);
        assert_eq!(input.cursor, input.text.len());
        // A paste is one line, without control characters.
        input.insert("\n+\u{1b}[2J");
        assert_eq!(input.text, "save as md +");
    }
}
