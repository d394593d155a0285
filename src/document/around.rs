//! The writer's text around a position, as the assistant sends it: bounded windows before and
//! after the cursor that start and end at paragraphs, and the paragraph under the cursor.

use ropey::Rope;

/// At most about `max` characters before `at`, starting at a paragraph so that the start stays
/// put while the writer types (the worker's cache depends on it).
pub fn text_before(rope: &Rope, at: usize, max: usize) -> String {
    let at = at.min(rope.len_chars());
    let mut start = at.saturating_sub(max);
    if start > 0 {
        let window = rope.slice(start..at).to_string();
        if let Some(i) = window.find("\n\n") {
            start += window[..i + 2].chars().count();
        }
    }
    rope.slice(start..at).to_string()
}

/// At most about `max` characters after `at`, ending at a paragraph where there is one.
pub fn text_after(rope: &Rope, at: usize, max: usize) -> String {
    let at = at.min(rope.len_chars());
    let end = (at + max).min(rope.len_chars());
    let window = rope.slice(at..end).to_string();
    if end < rope.len_chars()
        && let Some(i) = window.rfind("\n\n")
    {
        return window[..i].to_string();
    }
    window
}

/// The paragraph around `at`: between blank lines, without them.
pub fn paragraph_at(rope: &Rope, at: usize) -> (usize, usize) {
    let is_blank = |line: usize| rope.line(line).chars().all(char::is_whitespace);
    let lines = rope.len_lines();
    let here = rope.char_to_line(at.min(rope.len_chars()));
    let mut first = here;
    while first > 0 && !is_blank(first - 1) {
        first -= 1;
    }
    let mut last = here;
    while last + 1 < lines && !is_blank(last + 1) {
        last += 1;
    }
    let start = rope.line_to_char(first);
    let mut end = if last + 1 < lines {
        rope.line_to_char(last + 1)
    } else {
        rope.len_chars()
    };
    // Leave the paragraph's own line break out of what is replaced.
    while end > start && rope.char(end - 1) == '\n' {
        end -= 1;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_around_the_cursor_is_bounded_and_starts_at_a_paragraph() {
        let rope = Rope::from_str("aaaa\n\nbbbb\n\ncccc dddd");
        let end = rope.len_chars();
        assert_eq!(text_before(&rope, end, 100), "aaaa\n\nbbbb\n\ncccc dddd");
        // A window of 12 chars starts inside "bbbb": it moves on to the next paragraph.
        assert_eq!(text_before(&rope, end, 12), "cccc dddd");
        // Typing one more character does not move the start.
        let rope2 = Rope::from_str("aaaa\n\nbbbb\n\ncccc dddde");
        assert_eq!(text_before(&rope2, rope2.len_chars(), 12), "cccc dddde");
        assert_eq!(text_after(&rope, 0, 8), "aaaa");
        assert_eq!(text_after(&rope, 0, 100), "aaaa\n\nbbbb\n\ncccc dddd");
    }

    #[test]
    fn the_paragraph_under_the_cursor_excludes_blank_lines() {
        let rope = Rope::from_str("first para\nstill first\n\nsecond 段落\n\nthird");
        assert_eq!(paragraph_at(&rope, 3), (0, 22));
        assert_eq!(paragraph_at(&rope, 26), (24, 33));
        assert_eq!(paragraph_at(&rope, 40), (35, 40));
    }
}
