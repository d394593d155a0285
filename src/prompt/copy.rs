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

/// Cuts `text` to at most `max` characters: at the end of a sentence if that keeps at least half
/// the limit, else at a word boundary (never mid-word; between any two CJK characters); trimmed.
pub fn cut_to_chars(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let sentence_end = last_boundary_within(text.split_sentence_bound_indices(), max);
    let sentence = text[..sentence_end].trim_end();
    // A sentence boundary is not always a word boundary ("e.ך": Hebrew and Arabic letters
    // after a full stop start a sentence but continue the word); such a cut is mid-word.
    if sentence.chars().count() * 2 >= max && is_word_boundary(text, sentence.len()) {
        return sentence.to_string();
    }
    let end = last_boundary_within(text.split_word_bound_indices(), max);
    text[..end].trim_end().to_string()
}

fn is_word_boundary(text: &str, at: usize) -> bool {
    at == 0
        || at == text.len()
        || text
            .split_word_bound_indices()
            .any(|(start, piece)| start + piece.len() == at)
}

/// The byte offset of the last boundary between `pieces` (sentences, words) that keeps at most
/// `max` characters before it.
fn last_boundary_within<'a>(pieces: impl Iterator<Item = (usize, &'a str)>, max: usize) -> usize {
    let mut chars = 0;
    let mut end = 0;
    for (at, piece) in pieces {
        chars += piece.chars().count();
        if chars > max {
            break;
        }
        end = at + piece.len();
    }
    end
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

/// Labels a model puts before the copy it was asked for ("Subject: ...").
const LABELS: &[&str] = &[
    "subject line:",
    "subject:",
    "headline:",
    "tagline:",
    "title:",
    "meta description:",
    "post:",
    "tweet:",
    "answer:",
];

/// Words a phrase does not end on: a cut that leaves one of these last backs off past it.
const DANGLING_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "but", "by", "for", "from", "in", "is", "of", "on", "or",
    "our", "so", "that", "the", "to", "with", "your",
];

/// Punctuation a finished phrase does not end on.
const DANGLING_MARKS: &[char] = &[',', ':', ';', '-', '–', '—', '&', '/', '(', '+', '|'];

/// A one-line answer loses a leading label; copy of several labelled lines (a landing-page
/// hero, AIDA) keeps its labels.
fn strip_label(text: &str) -> &str {
    if text.contains('\n') {
        return text;
    }
    let lower = text.to_lowercase();
    LABELS
        .iter()
        .find(|label| lower.starts_with(*label))
        .map_or(text, |label| text[label.len()..].trim_start())
}

/// A phrase cut short loses what it cannot end on: open punctuation and function words.
fn tidy_cut(text: &str) -> &str {
    let mut t = text.trim_end();
    loop {
        let trimmed = t.trim_end_matches(DANGLING_MARKS).trim_end();
        let last = trimmed.rsplit(char::is_whitespace).next().unwrap_or("");
        let drop_word =
            trimmed.len() > last.len() && DANGLING_WORDS.contains(&last.to_lowercase().as_str());
        let next = if drop_word {
            trimmed[..trimmed.len() - last.len()].trim_end()
        } else {
            trimmed
        };
        if next == t {
            return t;
        }
        t = next;
    }
}

/// A generated variant as it is kept: unquoted, without a label the model put first, and
/// within `max_chars`, cut on a word boundary and not ending on a dangling word or mark.
/// Empty when nothing usable fits, or when the model added nothing to the `prefill` it was
/// given.
pub fn finish(text: &str, prefill: &str, max_chars: Option<usize>) -> String {
    if !prefill.trim().is_empty()
        && text
            .trim_start()
            .strip_prefix(prefill.trim())
            .is_some_and(|rest| rest.trim().is_empty())
    {
        return String::new();
    }
    let text = unquote(strip_label(unquote(text)));
    let tidy = |t: &str| unquote(tidy_cut(t)).to_string();
    match max_chars {
        Some(max) if text.chars().count() > max => tidy(&cut_to_chars(text, max)),
        _ => tidy(text),
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
    fn longer_copy_is_cut_at_a_sentence_end_when_one_is_near() {
        let text = "Quill writes with you. It never loses a word, even offline, and more.";
        assert_eq!(cut_to_chars(text, 40), "Quill writes with you.");
        assert_eq!(
            cut_to_chars(text, 60),
            "Quill writes with you. It never loses a word, even offline,"
        );
        // Too little would be left: a word boundary instead.
        assert_eq!(
            cut_to_chars("Go. It never loses a word at all", 20),
            "Go. It never loses a"
        );
        assert_eq!(
            cut_to_chars("写作更快。更好的工具就在这里等你", 12),
            "写作更快。更好的工具就在"
        );
        assert_eq!(
            cut_to_chars("写作更快更好。工具在这里", 8),
            "写作更快更好。"
        );
    }

    /// Found by the copy fuzz target.
    #[test]
    fn a_sentence_end_inside_a_word_is_not_a_place_to_cut() {
        // "e." then a Hebrew letter: a new sentence by UAX #29, but the same word.
        let text = "Shalom shalom are.שלום and more words here";
        let cut = cut_to_chars(text, 20);
        assert_eq!(cut, "Shalom shalom");
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
            finish("\"Write faster with Quill today\"", "", Some(20)),
            "Write faster"
        );
        assert_eq!(finish("  ", "", Some(20)), "");
        assert_eq!(
            finish("Subject: Spring release:", "", Some(60)),
            "Spring release"
        );
        assert_eq!(
            finish("Makes Quill a benchmark of the", "", Some(28)),
            "Makes Quill a benchmark"
        );
        assert_eq!(finish("Headline: Write, edit —", "", None), "Write, edit");
        assert_eq!(
            finish("Cut Your Power Bill Today!", "", Some(30)),
            "Cut Your Power Bill Today!"
        );
        assert_eq!(finish("The", "", Some(30)), "The", "a lone word stays");
        let hero = "Headline: Write anywhere\nSubheadline: Offline.\nCall to action: Try it";
        assert_eq!(finish(hero, "", None), hero);
        assert_eq!(finish("Attention:\n", "Attention:", None), "");
        assert_eq!(
            finish("Attention: Look.", "Attention:", None),
            "Attention: Look."
        );
        assert!(is_same_copy("Write  Faster", "write faster"));
        assert!(!is_same_copy("Write faster", "Write better"));
        assert!(!is_past_limit(30 + OVERSHOOT_CHARS, Some(30)));
        assert!(is_past_limit(31 + OVERSHOOT_CHARS, Some(30)));
        assert!(!is_past_limit(10_000, None));
    }
}
