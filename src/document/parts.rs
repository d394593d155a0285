//! A text too long to read at once, split into parts that each fit: at headings first, then at
//! paragraphs, a paragraph longer than a part at its sentences. Sizes are estimated in tokens
//! without a tokenizer, on the safe side, so a part never needs cutting to fit.

use unicode_segmentation::UnicodeSegmentation;

use super::join::is_unspaced;

/// Tokens `text` takes at most, estimated: about a token per four Latin characters and up to
/// two per Chinese or Japanese character (what the default model's tokenizer gives for the
/// seed article, 22.5k tokens for 14k characters, rounded up).
pub fn estimate_tokens(text: &str) -> usize {
    let (mut unspaced, mut other) = (0usize, 0usize);
    for c in text.chars() {
        if is_unspaced(c) {
            unspaced += 1;
        } else {
            other += 1;
        }
    }
    unspaced * 2 + other.div_ceil(3)
}

/// Splits `text` into parts of at most `max_tokens` (estimated) each, in order, whole
/// paragraphs where they fit; a heading starts a new part when the part so far is at least
/// half full, so sections stay together.
pub fn split(text: &str, max_tokens: usize) -> Vec<String> {
    let max_tokens = max_tokens.max(16);
    let mut parts = Vec::new();
    let mut current = String::new();
    for block in blocks(text, max_tokens) {
        let block = block.trim();
        let used = estimate_tokens(&current);
        // The separator counts too.
        let cost = estimate_tokens(&format!("\n\n{block}"));
        let is_heading = block.starts_with('#');
        let full = used + cost > max_tokens || (is_heading && used * 2 >= max_tokens);
        if full && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(block);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// The paragraphs of `text` (runs of non-blank lines), each at most `max_tokens`: a longer one
/// comes as runs of its sentences.
fn blocks(text: &str, max_tokens: usize) -> Vec<String> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        if estimate_tokens(paragraph) <= max_tokens {
            out.push(paragraph.to_string());
            continue;
        }
        let mut run = String::new();
        for sentence in paragraph.split_sentence_bounds() {
            if !run.is_empty() && estimate_tokens(&run) + estimate_tokens(sentence) > max_tokens {
                out.push(std::mem::take(&mut run));
            }
            run.push_str(sentence);
            // A "sentence" longer than a part (no punctuation at all): cut by characters.
            while estimate_tokens(&run) > max_tokens {
                let keep = fitting_prefix(&run, max_tokens);
                out.push(run[..keep].to_string());
                run = run[keep..].to_string();
            }
        }
        if !run.trim().is_empty() {
            out.push(run);
        }
    }
    out
}

/// A sentence of a text and the text before it (spaces, line breaks) that is not part of any
/// sentence: `before` + `sentence` of each, in order, then the tail, give the text back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    pub before: String,
    pub sentence: String,
}

/// Fewer words than this (characters, in Chinese or Japanese) is not a sentence to correct on
/// its own ("Dear Mr." before a name, a greeting): it goes with the next.
const SHORTEST_SENTENCE: usize = 4;

/// `text` as its sentences (Unicode's sentence boundaries), each with the spaces or line breaks
/// before it, and what follows the last. A fragment too short to stand alone joins the next
/// sentence of its paragraph.
pub fn sentences(text: &str) -> (Vec<Sentence>, String) {
    let mut out: Vec<Sentence> = Vec::new();
    let mut gap = String::new();
    let mut pending = String::new();
    for bound in text.split_sentence_bounds() {
        let core = bound.trim_end();
        let lead = &core[..core.len() - core.trim_start().len()];
        let core = core.trim_start();
        let trail = &bound[lead.len() + core.len()..];
        if core.is_empty() {
            if pending.is_empty() {
                gap.push_str(bound);
            } else {
                pending.push_str(bound);
            }
            continue;
        }
        if pending.is_empty() {
            gap.push_str(lead);
        } else {
            pending.push_str(lead);
        }
        pending.push_str(core);
        // Too short to stand alone, and the next sentence is in the same paragraph.
        if is_fragment(&pending) && !trail.contains('\n') {
            pending.push_str(trail);
            continue;
        }
        out.push(Sentence {
            before: std::mem::take(&mut gap),
            sentence: std::mem::take(&mut pending),
        });
        gap.push_str(trail);
    }
    if !pending.is_empty() {
        // Fragments at the end ("Best, Ana"): a sentence of their own.
        let end = pending.trim_end().len();
        let tail = pending.split_off(end);
        out.push(Sentence {
            before: std::mem::take(&mut gap),
            sentence: pending,
        });
        gap = tail;
    }
    (out, gap)
}

fn is_fragment(text: &str) -> bool {
    let unspaced = text.chars().filter(|c| is_unspaced(*c)).count();
    let words = text.split_whitespace().count();
    unspaced.max(words) < SHORTEST_SENTENCE
}

/// The longest prefix of `text` (in bytes, on a character boundary) within `max_tokens`.
fn fitting_prefix(text: &str, max_tokens: usize) -> usize {
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if estimate_tokens(&text[..i + c.len_utf8()]) > max_tokens {
            break;
        }
        end = i + c.len_utf8();
    }
    end.max(text.chars().next().map_or(0, char::len_utf8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejoined(sentences: &[Sentence], tail: &str) -> String {
        let mut text: String = sentences
            .iter()
            .map(|s| format!("{}{}", s.before, s.sentence))
            .collect();
        text.push_str(tail);
        text
    }

    #[test]
    fn sentences_give_the_text_back_with_its_spaces_and_line_breaks() {
        let text = "  Hello there, all of you.  Is it working now?\n\nA new paragraph starts here. Best, Ana\n";
        let (sentences, tail) = sentences(text);
        let plain: Vec<&str> = sentences.iter().map(|s| s.sentence.as_str()).collect();
        assert_eq!(
            plain,
            [
                "Hello there, all of you.",
                "Is it working now?",
                "A new paragraph starts here.",
                "Best, Ana"
            ]
        );
        assert_eq!(sentences[0].before, "  ");
        assert_eq!(sentences[2].before, "\n\n");
        assert_eq!(tail, "\n");
        assert_eq!(rejoined(&sentences, &tail), text);
    }

    #[test]
    fn a_fragment_goes_with_the_next_sentence_and_chinese_splits_at_its_stops() {
        let text = "Dear Mr. Okafor, thank you for the meeting. It went well.";
        let (sentences, tail) = sentences(text);
        assert_eq!(
            sentences[0].sentence,
            "Dear Mr. Okafor, thank you for the meeting."
        );
        assert_eq!(sentences.len(), 2);
        assert_eq!(rejoined(&sentences, &tail), text);
        let zh = "好。本市首条线路开通了。市民可以免费乘坐！";
        let (sentences, tail) = super::sentences(zh);
        let plain: Vec<&str> = sentences.iter().map(|s| s.sentence.as_str()).collect();
        assert_eq!(plain, ["好。本市首条线路开通了。", "市民可以免费乘坐！"]);
        assert_eq!(rejoined(&sentences, &tail), zh);
    }

    #[test]
    fn a_short_text_is_one_part() {
        assert_eq!(split("One.\n\nTwo.", 100), vec!["One.\n\nTwo."]);
    }

    #[test]
    fn parts_fit_keep_every_word_in_order_and_break_at_paragraphs() {
        let text = (0..40)
            .map(|i| format!("Paragraph {i} has a few words in it."))
            .collect::<Vec<_>>()
            .join("\n\n");
        let parts = split(&text, 60);
        assert!(parts.len() > 3, "{parts:?}");
        for part in &parts {
            assert!(estimate_tokens(part) <= 60, "{part}");
            assert!(part.starts_with("Paragraph"), "cut mid-paragraph: {part}");
        }
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&parts.join("\n\n")), words(&text));
    }

    #[test]
    fn a_heading_starts_a_part_and_chinese_counts_heavier() {
        let text = "# One\n\nAlpha beta gamma delta.\n\nEpsilon zeta eta theta.\n\n# Two\n\nIota.";
        let parts = split(text, 20);
        assert!(parts.iter().any(|p| p.starts_with("# Two")), "{parts:?}");
        assert!(estimate_tokens("大模型") >= 6);
        // A long paragraph of Chinese with no breaks is split at its sentences.
        let zh = "大模型正在改变产品。".repeat(40);
        let parts = split(&zh, 50);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| estimate_tokens(p) <= 50));
        assert!(parts.iter().all(|p| p.ends_with('。')), "{parts:?}");
        assert_eq!(parts.concat().replace("\n\n", ""), zh);
    }
}
