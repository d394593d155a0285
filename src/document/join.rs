//! Putting generated text into the draft so that it reads as writing: the space, line break or
//! blank line the place needs, none between characters of scripts written without spaces
//! (Chinese, Japanese), no doubled spaces, never glued to the word or sentence before it.

use super::grapheme::is_wide_script;

/// What the inserted text is to the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// It carries on the writer's text (continue, ghost text): it may finish a word the writer
    /// was typing, and keeps the line breaks the model chose.
    Continuation,
    /// A piece of its own (a summary, a template's copy): a paragraph of its own at the end of
    /// a line, a phrase with spaces around it inside one.
    Block,
}

/// Scripts written without spaces between words. Korean is written with spaces.
pub fn is_unspaced(c: char) -> bool {
    (is_wide_script(c) && !matches!(c as u32, 0xAC00..=0xD7AF))
        || matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF65)
}

/// Punctuation after which a new word takes a space (Latin usage).
fn wants_space_after(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ',' | ';' | ':' | ')' | ']' | '"' | '”' | '’' | '…'
    )
}

/// What can start a word that follows punctuation.
fn starts_word(c: char) -> bool {
    (c.is_alphanumeric() && !is_unspaced(c)) || matches!(c, '"' | '“' | '(' | '[' | '\'' | '‘')
}

/// The separator between `prev` (the last character before) and `next` (the first after) when
/// neither side brought one.
fn separator(prev: char, next: char) -> &'static str {
    if is_unspaced(prev) || is_unspaced(next) || prev.is_whitespace() || next.is_whitespace() {
        return "";
    }
    if wants_space_after(prev) && starts_word(next) {
        return " ";
    }
    ""
}

/// `text` as it should go in between `before` and `after` (the draft's text either side of the
/// insertion point): with the leading and trailing spacing the place needs.
pub fn fit(before: &str, text: &str, after: &str, join: Join) -> String {
    match join {
        Join::Continuation => continuation(before, text, after),
        Join::Block => block(before, text, after),
    }
}

fn continuation(before: &str, text: &str, after: &str) -> String {
    let prev = before.chars().next_back();
    let mut body = if text.starts_with('\n') {
        // The model chose a line break: at most one blank line results.
        let breaks_before = before
            .chars()
            .rev()
            .take_while(|c| *c == '\n' || *c == ' ')
            .filter(|c| *c == '\n')
            .count();
        let rest = text.trim_start_matches(['\n', ' ', '\t']);
        let wanted = 2usize
            .saturating_sub(breaks_before)
            .min(text.matches('\n').count());
        format!("{}{rest}", "\n".repeat(wanted))
    } else {
        let rest = text.trim_start_matches([' ', '\t']);
        let had_space = rest.len() != text.len();
        let first = rest.chars().next();
        let lead = match (prev, first) {
            (None, _) | (_, None) => "",
            (Some(p), _) if p.is_whitespace() => "",
            (Some(p), Some(f)) if had_space => {
                if is_unspaced(p) && is_unspaced(f) {
                    ""
                } else {
                    " "
                }
            }
            (Some(p), Some(f)) => separator(p, f),
        };
        format!("{lead}{rest}")
    };
    // The text after: no doubled space, and a space where a word would otherwise touch it.
    if let (Some(last), Some(next)) = (body.chars().next_back(), after.chars().next()) {
        if last == ' ' && next.is_whitespace() {
            body.pop();
        } else if !last.is_whitespace()
            && !next.is_whitespace()
            && (next.is_alphanumeric() && !is_unspaced(next))
            && (last.is_alphanumeric() || wants_space_after(last))
            && !is_unspaced(last)
        {
            body.push(' ');
        }
    }
    body
}

fn block(before: &str, text: &str, after: &str) -> String {
    let body = text.trim();
    if body.is_empty() {
        return String::new();
    }
    let line_before = before.rsplit('\n').next().unwrap_or("");
    let line_after = after.split('\n').next().unwrap_or("");
    let at_line_end = line_after.trim().is_empty();
    // A line left open for it ("Draft: ") takes it inline; so does a place inside a line. A
    // finished line, or an answer of several lines, gets a paragraph of its own.
    let left_open =
        line_before.ends_with(char::is_whitespace) || line_before.trim_end().ends_with([':', '：']);
    let inline =
        !line_before.trim().is_empty() && !body.contains('\n') && (!at_line_end || left_open);
    if inline {
        // Inside a line: a phrase, spaced like a word.
        let first = body.chars().next().unwrap_or(' ');
        let last = body.chars().next_back().unwrap_or(' ');
        let lead = match before.chars().next_back() {
            Some(p) if !p.is_whitespace() && !is_unspaced(p) && !is_unspaced(first) => " ",
            _ => "",
        };
        let trail = match after.chars().next() {
            Some(n) if !n.is_whitespace() && !is_unspaced(n) && !is_unspaced(last) => " ",
            _ => "",
        };
        return format!("{lead}{body}{trail}");
    }
    // A paragraph of its own: a blank line before it unless the draft starts here or already
    // has one, and after it when text follows.
    let before_trimmed = before.trim_end_matches([' ', '\t']);
    let lead = if before_trimmed.trim().is_empty() || before_trimmed.ends_with("\n\n") {
        ""
    } else if before_trimmed.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    let after_trimmed = after.trim_start_matches([' ', '\t']);
    let trail = if after_trimmed.is_empty() || after_trimmed.starts_with("\n\n") {
        ""
    } else if after_trimmed.starts_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{lead}{body}{trail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cont(before: &str, text: &str) -> String {
        fit(before, text, "", Join::Continuation)
    }

    #[test]
    fn a_continuation_is_never_glued_to_the_sentence_before() {
        // Recorded: what accepting gave before ("pages.The first draft of…").
        assert_eq!(
            cont("…fills pages.", "The first draft of"),
            " The first draft of"
        );
        assert_eq!(cont("He asked why,", "and she"), " and she");
        // The model brought its own space: kept once.
        assert_eq!(cont("fills pages.", " The first"), " The first");
        assert_eq!(cont("fills pages.", "   The first"), " The first");
        // The writer's own trailing space: no second one.
        assert_eq!(cont("survive. ", " Then"), "Then");
        assert_eq!(cont("survive. ", "Then"), "Then");
        // Finishing a word the writer was typing stays glued.
        assert_eq!(cont("The fas", "ter it goes"), "ter it goes");
        // A draft that is empty so far.
        assert_eq!(cont("", "  Once upon"), "Once upon");
    }

    #[test]
    fn no_space_between_characters_of_unspaced_scripts() {
        assert_eq!(cont("大模型很强。", "它可以写作"), "它可以写作");
        assert_eq!(cont("大模型很强。", " 它可以写作"), "它可以写作");
        assert_eq!(cont("日本語です。", "次に"), "次に");
        // Korean is written with spaces.
        assert_eq!(cont("한국어입니다.", " 다음"), " 다음");
    }

    #[test]
    fn line_breaks_the_model_chose_make_at_most_one_blank_line() {
        assert_eq!(cont("End.\n\n", "\n\nNext"), "Next");
        assert_eq!(cont("End.\n", "\n\nNext"), "\nNext");
        assert_eq!(cont("End.", "\n\nNext"), "\n\nNext");
        assert_eq!(cont("End.", "\nNext"), "\nNext");
    }

    #[test]
    fn text_after_the_insertion_is_not_touched_or_doubled() {
        assert_eq!(
            fit("It was", " a dark", " night.", Join::Continuation),
            " a dark"
        );
        assert_eq!(
            fit("It was", " a dark ", " night.", Join::Continuation),
            " a dark"
        );
        assert_eq!(
            fit("It was", " a dark", "night.", Join::Continuation),
            " a dark "
        );
    }

    #[test]
    fn a_block_is_a_paragraph_of_its_own_at_a_line_end() {
        // Recorded: a summary accepted at the end of a paragraph.
        assert_eq!(
            fit("fills pages.", "The best assistant.", "", Join::Block),
            "\n\nThe best assistant."
        );
        assert_eq!(
            fit("fills pages.\n", "Summary.", "", Join::Block),
            "\nSummary."
        );
        assert_eq!(fit("", "TL;DR.", "Body.", Join::Block), "TL;DR.\n\n");
        assert_eq!(
            fit("Para.\n\n", "TL;DR.", "\n\nBody.", Join::Block),
            "TL;DR."
        );
        // Inside a line: spaced like a word, none for Chinese.
        assert_eq!(
            fit("Buy", "Quill now", "today.", Join::Block),
            " Quill now "
        );
        assert_eq!(fit("买", "笔", "吧", Join::Block), "笔");
        // A line left open for it.
        assert_eq!(
            fit("Draft: ", "Write faster", "", Join::Block),
            "Write faster"
        );
        assert_eq!(fit("Headline:", "Write", "", Join::Block), " Write");
        // A list is never put inside a line.
        assert_eq!(fit("Points: ", "- a\n- b", "", Join::Block), "\n\n- a\n- b");
    }
}
