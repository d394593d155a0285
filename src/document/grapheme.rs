//! Grapheme and word boundaries over a rope, chunk by chunk, so a cursor never lands inside a
//! cluster (a flag, a family emoji, a letter with combining marks) and no line is copied.

use ropey::{Rope, RopeSlice, str_utils::byte_to_char_idx};
use unicode_segmentation::{GraphemeCursor, GraphemeIncomplete};

/// The char index of the grapheme boundary after `char_idx` (the end of the text at most).
pub fn next_boundary(rope: &Rope, char_idx: usize) -> usize {
    let slice = rope.slice(..);
    if char_idx >= slice.len_chars() {
        return slice.len_chars();
    }
    let byte_idx = slice.char_to_byte(char_idx);
    let (mut chunk, mut chunk_byte, mut chunk_char, _) = slice.chunk_at_byte(byte_idx);
    let mut cursor = GraphemeCursor::new(byte_idx, slice.len_bytes(), true);
    loop {
        match cursor.next_boundary(chunk, chunk_byte) {
            Ok(None) => return slice.len_chars(),
            Ok(Some(n)) => return chunk_char + byte_to_char_idx(chunk, n - chunk_byte),
            Err(GraphemeIncomplete::NextChunk) => {
                chunk_byte += chunk.len();
                let (c, b, ch, _) = slice.chunk_at_byte(chunk_byte);
                (chunk, chunk_byte, chunk_char) = (c, b, ch);
            }
            Err(GraphemeIncomplete::PreContext(n)) => provide_context(&mut cursor, slice, n),
            Err(_) => return char_idx + 1,
        }
    }
}

/// The char index of the grapheme boundary before `char_idx` (0 at least).
pub fn prev_boundary(rope: &Rope, char_idx: usize) -> usize {
    let slice = rope.slice(..);
    if char_idx == 0 {
        return 0;
    }
    let char_idx = char_idx.min(slice.len_chars());
    let byte_idx = slice.char_to_byte(char_idx);
    let (mut chunk, mut chunk_byte, mut chunk_char, _) = slice.chunk_at_byte(byte_idx);
    let mut cursor = GraphemeCursor::new(byte_idx, slice.len_bytes(), true);
    loop {
        match cursor.prev_boundary(chunk, chunk_byte) {
            Ok(None) => return 0,
            Ok(Some(n)) => return chunk_char + byte_to_char_idx(chunk, n - chunk_byte),
            Err(GraphemeIncomplete::PrevChunk) => {
                let (c, b, ch, _) = slice.chunk_at_byte(chunk_byte - 1);
                (chunk, chunk_byte, chunk_char) = (c, b, ch);
            }
            Err(GraphemeIncomplete::PreContext(n)) => provide_context(&mut cursor, slice, n),
            Err(_) => return char_idx - 1,
        }
    }
}

fn provide_context(cursor: &mut GraphemeCursor, slice: RopeSlice, n: usize) {
    let context = slice.chunk_at_byte(n - 1).0;
    cursor.provide_context(context, n - context.len());
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\''
}

/// Start of the word at or before `char_idx` (Ctrl-Left): skips spaces and punctuation, then the
/// word. Each CJK character counts as a word of its own.
pub fn prev_word(rope: &Rope, char_idx: usize) -> usize {
    let mut i = char_idx.min(rope.len_chars());
    while i > 0 && !is_word_char(rope.char(i - 1)) {
        i -= 1;
    }
    if i > 0 && is_wide_script(rope.char(i - 1)) {
        return i - 1;
    }
    while i > 0 && is_word_char(rope.char(i - 1)) && !is_wide_script(rope.char(i - 1)) {
        i -= 1;
    }
    i
}

/// End of the word at or after `char_idx` (Ctrl-Right).
pub fn next_word(rope: &Rope, char_idx: usize) -> usize {
    let len = rope.len_chars();
    let mut i = char_idx.min(len);
    while i < len && !is_word_char(rope.char(i)) {
        i += 1;
    }
    if i < len && is_wide_script(rope.char(i)) {
        return i + 1;
    }
    while i < len && is_word_char(rope.char(i)) && !is_wide_script(rope.char(i)) {
        i += 1;
    }
    i
}

/// Scripts written without spaces between words: each character is a unit for motion, word
/// counts and wrapping.
pub fn is_wide_script(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3040..=0x30FF | 0x3100..=0x312F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F | 0x20000..=0x2FA1F)
}

/// Words in `text`: runs of letters and digits (with inner apostrophes, as in "don't"), and
/// each CJK character on its own. A plain scan: it runs on every open of a long draft.
pub fn count_words(text: &str) -> usize {
    let mut in_word = false;
    text.chars()
        .filter(|&c| starts_word(c, &mut in_word))
        .count()
}

/// One step of the word count: whether `c` starts a word, given whether a word is open before
/// it (updated to whether one is open after it).
fn starts_word(c: char, in_word: &mut bool) -> bool {
    if is_wide_script(c) {
        *in_word = false;
        true
    } else if c.is_alphanumeric() || c == '_' {
        !std::mem::replace(in_word, true)
    } else {
        if !is_apostrophe(c) {
            *in_word = false;
        }
        false
    }
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Words that start within chars `from..to` of `rope`, counted as `count_words` counts them
/// over the whole text: the state at `from` comes from the text before it. An apostrophe
/// leaves the state as it was, so only the first other char back decides it.
pub fn count_words_in(rope: &Rope, from: usize, to: usize) -> usize {
    let mut before = rope.chars_at(from);
    let mut in_word = false;
    while let Some(c) = before.prev() {
        if !is_apostrophe(c) {
            in_word = !is_wide_script(c) && (c.is_alphanumeric() || c == '_');
            break;
        }
    }
    rope.chars_at(from)
        .take(to.saturating_sub(from))
        .filter(|&c| starts_word(c, &mut in_word))
        .count()
}

/// How many chars from `at` on can start a word or not depending on the text before `at`:
/// the first one, and those after each apostrophe that follows it directly.
pub fn word_state_reach(rope: &Rope, at: usize) -> usize {
    let mut reach = 0;
    for c in rope.chars_at(at) {
        reach += 1;
        if !is_apostrophe(c) {
            break;
        }
    }
    reach
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_steps_over_whole_clusters() {
        // e + combining acute, a family emoji (ZWJ sequence), a flag, then CJK.
        let text = "e\u{301}👨‍👩‍👧🇫🇷中";
        let rope = Rope::from_str(text);
        let mut stops = vec![0];
        let mut i = 0;
        while i < rope.len_chars() {
            i = next_boundary(&rope, i);
            stops.push(i);
        }
        assert_eq!(stops, vec![0, 2, 7, 9, 10]);
        let mut back = vec![rope.len_chars()];
        let mut i = rope.len_chars();
        while i > 0 {
            i = prev_boundary(&rope, i);
            back.push(i);
        }
        back.reverse();
        assert_eq!(back, stops);
    }

    #[test]
    fn boundaries_hold_across_rope_chunks() {
        let text = "ab\u{301}".repeat(3000);
        let rope = Rope::from_str(&text);
        let mut i = 0;
        let mut count = 0;
        while i < rope.len_chars() {
            i = next_boundary(&rope, i);
            count += 1;
        }
        assert_eq!(count, 6000);
    }

    #[test]
    fn word_motion_treats_each_cjk_character_as_a_word() {
        let rope = Rope::from_str("hello, world 你好");
        assert_eq!(next_word(&rope, 0), 5);
        assert_eq!(next_word(&rope, 5), 12);
        assert_eq!(next_word(&rope, 12), 14);
        assert_eq!(next_word(&rope, 14), 15);
        assert_eq!(prev_word(&rope, 15), 14);
        assert_eq!(prev_word(&rope, 14), 13);
        assert_eq!(prev_word(&rope, 13), 7);
        assert_eq!(prev_word(&rope, 7), 0);
    }

    #[test]
    fn words_are_counted_with_cjk_characters_as_words() {
        assert_eq!(count_words("The cat sat."), 3);
        assert_eq!(count_words("大模型 is big"), 5);
        assert_eq!(count_words("Don't stop — it’s 2 a.m."), 6);
        assert_eq!(count_words(""), 0);
    }
}
