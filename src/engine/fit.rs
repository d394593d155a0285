//! Shortening the writer's text to a token budget, cutting at the most natural boundary.
//!
//! Kept separate from the worker so the policy is tested without a model: the worker passes a
//! token-counting function.

use super::protocol::Fit;

/// Boundary classes from coarsest to finest; a coarser cut is preferred when it keeps most of
/// the budget.
const CLASSES: [Boundary; 4] = [
    Boundary::Paragraph,
    Boundary::Sentence,
    Boundary::Word,
    Boundary::Char,
];

/// A coarser boundary is taken when what it keeps uses at least this share of the budget.
const GOOD_ENOUGH: f64 = 0.75;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    Paragraph,
    Sentence,
    Word,
    Char,
}

/// Returns the longest piece of `text` that keeps the side `fit` asks for and counts at most
/// `budget` tokens, cut at a paragraph, else sentence, else word, else character boundary.
pub fn fit_text<'a>(
    text: &'a str,
    fit: Fit,
    budget: usize,
    count: &mut dyn FnMut(&str) -> usize,
) -> &'a str {
    if fit == Fit::Fixed || count(text) <= budget {
        return text;
    }
    let mut best: &str = "";
    let mut best_tokens = 0;
    for class in CLASSES {
        let cuts = cut_points(text, fit, class);
        if let Some((piece, tokens)) = longest_fitting(text, fit, &cuts, budget, count)
            && (best.is_empty() || tokens > best_tokens)
        {
            best = piece;
            best_tokens = tokens;
            if tokens as f64 >= GOOD_ENOUGH * budget as f64 {
                break;
            }
        }
    }
    best
}

/// How much of the kept text's start is remembered, to find the same cut again.
pub const ANCHOR_CHARS: usize = 64;

/// A text of the prompt that may be shortened, with its token count.
pub struct Shortenable<'a> {
    pub text: &'a mut String,
    pub fit: Fit,
    pub count: usize,
}

/// Shortens the texts that may be shortened, longest first, by `excess` tokens in all if it
/// can; returns how many tokens went. A text kept by its end (the draft before the cursor) is
/// cut where the last request's was (`previous_anchor`) while that still fits: the text only
/// grew at the end, and an engine's cache holds the prompt that starts there. Otherwise it gets
/// a fresh cut with a quarter of the budget to spare, so the next several requests can keep it;
/// where it starts is left in `anchor`.
pub fn shorten(
    texts: &mut [Shortenable],
    mut excess: usize,
    previous_anchor: Option<&str>,
    anchor: &mut Option<String>,
    count: &mut dyn FnMut(&str) -> usize,
) -> usize {
    let mut dropped = 0;
    if excess == 0 {
        return 0;
    }
    let mut order: Vec<usize> = (0..texts.len())
        .filter(|&i| texts[i].fit != Fit::Fixed)
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].count));
    for i in order {
        if excess == 0 {
            break;
        }
        let item = &mut texts[i];
        let target = item.count.saturating_sub(excess);
        let kept = match item.fit {
            Fit::KeepEnd => {
                let again = previous_anchor
                    .and_then(|previous| item.text.rfind(previous))
                    .map(|at| &item.text[at..])
                    .filter(|candidate| count(candidate) <= target);
                let kept = match again {
                    Some(kept) => kept,
                    None => fit_text(item.text, item.fit, target * 3 / 4, count),
                };
                *anchor = Some(kept.chars().take(ANCHOR_CHARS).collect());
                kept.to_string()
            }
            _ => fit_text(item.text, item.fit, target, count).to_string(),
        };
        let kept_count = count(&kept);
        let saved = item.count.saturating_sub(kept_count);
        dropped += saved;
        excess = excess.saturating_sub(saved);
        item.count = kept_count;
        *item.text = kept;
    }
    dropped
}

fn piece(text: &str, fit: Fit, cut: usize) -> &str {
    match fit {
        Fit::KeepStart => &text[..cut],
        _ => &text[cut..],
    }
}

/// `cuts` are ordered so that the kept piece shrinks as the index grows; the token count is
/// monotone along them, so a binary search finds the longest piece within budget.
fn longest_fitting<'a>(
    text: &'a str,
    fit: Fit,
    cuts: &[usize],
    budget: usize,
    count: &mut dyn FnMut(&str) -> usize,
) -> Option<(&'a str, usize)> {
    let (mut lo, mut hi) = (0, cuts.len());
    let mut found = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let candidate = piece(text, fit, cuts[mid]);
        let tokens = count(candidate);
        if tokens <= budget {
            found = Some((candidate, tokens));
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    found.filter(|(p, _)| !p.trim().is_empty())
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…' | '；')
}

fn is_cjk_sentence_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '…' | '；')
}

/// Byte offsets where the text may be cut, ordered from the longest kept piece to the shortest.
/// For `KeepEnd` a cut is where the kept piece starts; for `KeepStart`, where it ends.
fn cut_points(text: &str, fit: Fit, class: Boundary) -> Vec<usize> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut starts = Vec::new(); // offsets where a new unit begins
    for (i, &(offset, c)) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j].1);
        let prev2 = i.checked_sub(2).map(|j| chars[j].1);
        let begins = match class {
            Boundary::Paragraph => prev == Some('\n') && prev2 == Some('\n') && c != '\n',
            Boundary::Sentence => {
                !c.is_whitespace()
                    && match prev {
                        Some(p) if is_cjk_sentence_end(p) => true,
                        Some(p) if p.is_whitespace() => {
                            prev2.is_some_and(is_sentence_end) || p == '\n'
                        }
                        _ => false,
                    }
            }
            Boundary::Word => !c.is_whitespace() && prev.is_some_and(char::is_whitespace),
            Boundary::Char => i > 0,
        };
        if begins {
            starts.push(offset);
        }
    }
    match fit {
        Fit::KeepStart => {
            // The kept piece ends where a unit begins (trailing whitespace trimmed), longest first.
            let mut ends: Vec<usize> = starts
                .iter()
                .map(|&s| text[..s].trim_end().len())
                .filter(|&e| e > 0)
                .collect();
            ends.dedup();
            ends.reverse();
            ends
        }
        _ => starts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn text_within_budget_is_untouched() {
        let text = "One two three.";
        assert_eq!(fit_text(text, Fit::KeepEnd, 3, &mut words), text);
    }

    #[test]
    fn keep_end_cuts_at_a_paragraph_when_that_keeps_enough() {
        let text = "Alpha beta gamma.\n\nDelta epsilon. Zeta eta theta.\n\nIota kappa lambda mu.";
        // Budget 9: the last two paragraphs are 5 + 4 = 9 words.
        let kept = fit_text(text, Fit::KeepEnd, 9, &mut words);
        assert_eq!(
            kept,
            "Delta epsilon. Zeta eta theta.\n\nIota kappa lambda mu."
        );
    }

    #[test]
    fn keep_end_falls_back_to_a_sentence() {
        let text = "Alpha beta gamma.\n\nDelta epsilon. Zeta eta theta. Iota kappa lambda mu.";
        let kept = fit_text(text, Fit::KeepEnd, 8, &mut words);
        assert_eq!(kept, "Zeta eta theta. Iota kappa lambda mu.");
    }

    #[test]
    fn keep_start_keeps_whole_leading_sentences() {
        let text = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota kappa.";
        let kept = fit_text(text, Fit::KeepStart, 7, &mut words);
        assert_eq!(kept, "Alpha beta gamma. Delta epsilon zeta.");
    }

    #[test]
    fn chinese_sentences_are_cut_after_their_full_stop() {
        let text = "第一句话很长很长。第二句。第三句在这里。";
        let kept = fit_text(text, Fit::KeepEnd, 12, &mut chars);
        assert_eq!(kept, "第二句。第三句在这里。");
        let kept = fit_text(text, Fit::KeepStart, 12, &mut chars);
        assert_eq!(kept, "第一句话很长很长。");
    }

    #[test]
    fn one_long_sentence_is_cut_at_a_word_and_never_exceeds_the_budget() {
        let text = "a b c d e f g h i j k l m n o p";
        let kept = fit_text(text, Fit::KeepEnd, 4, &mut words);
        assert_eq!(kept, "m n o p");
        let text = "无标点的一长串中文字符没有任何句号";
        let kept = fit_text(text, Fit::KeepEnd, 5, &mut chars);
        assert_eq!(kept, "有任何句号");
        assert!(chars(kept) <= 5);
    }

    #[test]
    fn fixed_parts_are_never_cut() {
        let text = "a b c d";
        assert_eq!(fit_text(text, Fit::Fixed, 1, &mut words), text);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        assert_eq!(fit_text("a b c", Fit::KeepEnd, 0, &mut words), "");
    }
}
