//! A section's body as the model wrote it, made fit for the draft: no heading of its own (the
//! draft has it), no sentence an earlier section already said or this one says twice, no
//! wrapping-up of the whole article before its last section, and no sentence cut off.

use std::collections::HashSet;

use crate::document::parts;

/// Openings that close a whole article: a small model ends every section with one.
const CLOSINGS: &[&str] = &[
    "in conclusion",
    "to conclude",
    "in summary",
    "to summarize",
    "to summarise",
    "to sum up",
    "in closing",
    "总之",
    "综上所述",
    "总而言之",
    "总的来说",
    "最后，",
];

/// What a section's answer is held to: set by the article flow's plan, applied when the answer
/// is finished (see `Finishing::article`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionRules {
    pub heading: String,
    pub title: String,
    /// Every heading of the outline: a line of the body that is one of them is the model
    /// copying the outline, not writing the section.
    pub headings: Vec<String>,
    /// The keys (`sentence_key`) of every sentence the sections before it hold.
    pub earlier: HashSet<String>,
    pub is_last: bool,
    /// The most words (characters, when `unspaced`) it may run to; 0 for no limit.
    pub most_words: usize,
    pub unspaced: bool,
}

impl SectionRules {
    /// `answer` made a body for the draft, cut to `most_words`.
    pub fn apply(&self, answer: &str) -> Cleaned {
        let mut restated: Vec<&str> = vec![&self.heading, &self.title];
        restated.extend(self.headings.iter().map(String::as_str));
        let mut cleaned = clean(answer, &restated, &self.earlier, self.is_last);
        if self.most_words > 0 {
            cleaned.text = cut_to(&cleaned.text, self.most_words, self.unspaced);
        }
        cleaned
    }
}

/// What a finished answer of the article flow is made into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArticlePart {
    /// An outline of (at most) `wanted` sections: its `## ` headings and notes, as the draft
    /// holds them; a heading that only repeats the article's `title` is dropped.
    Outline {
        wanted: usize,
        title: String,
        /// The headings of the prompt's worked examples (as `overlap::same_key` reads them):
        /// an answer that repeats one copied the example, not planned this article.
        borrowed: Vec<String>,
    },
    Section(SectionRules),
}

/// A body made fit, and what was taken out of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub text: String,
    pub dropped_repeats: usize,
    pub dropped_closings: usize,
    /// Sentences that were mostly a run of digits.
    pub dropped_noise: usize,
}

/// What a sentence is compared by: its letters and digits, lower-cased. Two sentences that
/// differ only in spacing, case or punctuation are the same sentence.
pub fn sentence_key(sentence: &str) -> String {
    super::overlap::same_key(sentence)
}

/// The keys of every sentence of `text` (see `sentence_key`), for the sections after it.
pub fn sentence_keys(text: &str) -> HashSet<String> {
    let (sentences, _) = parts::sentences(text);
    sentences
        .iter()
        .flat_map(|s| keys_of(&s.sentence))
        .collect()
}

/// The keys a sentence is known by: its own, and those of the Unicode sentences inside it
/// long enough to stand alone (a short fragment joined to it must not hide a repeat of the
/// rest).
fn keys_of(sentence: &str) -> Vec<String> {
    use unicode_segmentation::UnicodeSegmentation;
    let mut keys = vec![sentence_key(sentence)];
    keys.extend(
        sentence
            .unicode_sentences()
            .map(sentence_key)
            .filter(|k| k.chars().count() >= STANDS_ALONE),
    );
    keys.retain(|k| !k.is_empty());
    keys.dedup();
    keys
}

/// Letters a part of a sentence needs for its repeat to count on its own.
const STANDS_ALONE: usize = 12;

/// `answer` as a section's body: cut at any heading it starts, lines that only restate one of
/// the `restated` headings (its own, the title's, the outline's) dropped, sentences seen in
/// `earlier` or before in the answer dropped, closing sentences dropped unless `is_last`, and
/// each paragraph ended at its last full sentence (a line without one, a heading of the
/// model's own, goes). Paragraphs are kept, a blank line between them.
pub fn clean(answer: &str, restated: &[&str], earlier: &HashSet<String>, is_last: bool) -> Cleaned {
    let mut cleaned = Cleaned::default();
    let restated: Vec<String> = restated
        .iter()
        .map(|h| sentence_key(super::outline::strip_number(h)))
        .collect();
    let mut seen = earlier.clone();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut started = false;
    for line in answer.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            if started {
                break; // the model began another section
            }
            continue;
        }
        let bare = super::outline::strip_number(trimmed.trim_start_matches(['-', '*', '+', ' ']));
        if restated.contains(&sentence_key(bare)) {
            continue;
        }
        if trimmed.is_empty() {
            if paragraphs.last().is_some_and(|p| !p.is_empty()) {
                paragraphs.push(String::new());
            }
            continue;
        }
        started = true;
        let kept = keep_sentences(trimmed, &mut seen, is_last, &mut cleaned);
        let kept = without_unfinished_end(&kept);
        if !kept.is_empty() {
            match paragraphs.last_mut().filter(|p| !p.is_empty()) {
                // A line break inside a paragraph: Markdown reads it as a space.
                Some(p) if !line_is_item(trimmed) => {
                    p.push('\n');
                    p.push_str(&kept);
                }
                _ => paragraphs.push(kept),
            }
        }
    }
    let text = paragraphs
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n\n");
    cleaned.text = without_unfinished_end(&text);
    cleaned
}

/// `text` without its last sentence when that one has no end mark (the model was stopped in
/// it, or it leads into a list that did not come: a colon ends nothing); empty when no
/// sentence is whole.
fn without_unfinished_end(text: &str) -> String {
    let (sentences, _) = parts::sentences(text);
    let Some(last) = sentences.last() else {
        return String::new();
    };
    let ends = last
        .sentence
        .trim_end()
        .trim_end_matches(['"', '\'', '”', '’', ')', '）', '」', '*', '_'])
        .ends_with(['.', '!', '?', '。', '！', '？', '…']);
    if ends {
        return text.trim_end().to_string();
    }
    let kept: String = sentences[..sentences.len() - 1]
        .iter()
        .map(|s| format!("{}{}", s.before, s.sentence))
        .collect();
    kept.trim().to_string()
}

/// Words of `text`, or its letters when it is written without spaces (how Chinese counts).
pub fn count_words(text: &str, unspaced: bool) -> usize {
    if unspaced {
        text.chars().filter(|c| c.is_alphanumeric()).count()
    } else {
        text.split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count()
    }
}

/// `text` cut after the last sentence that keeps it within `most` words (characters when
/// `unspaced`); the first sentence stays whatever its length.
pub fn cut_to(text: &str, most: usize, unspaced: bool) -> String {
    if count_words(text, unspaced) <= most {
        return text.to_string();
    }
    let (sentences, _) = parts::sentences(text);
    let mut out = String::new();
    for s in sentences {
        let longer = format!("{out}{}{}", s.before, s.sentence);
        if !out.is_empty() && count_words(&longer, unspaced) > most {
            break;
        }
        out = if out.is_empty() {
            s.sentence.clone()
        } else {
            longer
        };
    }
    out.trim_end().to_string()
}

fn line_is_item(line: &str) -> bool {
    line.starts_with(['-', '*', '+'])
        || line
            .split_once('.')
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
}

/// The sentences of one line that are new and may stand here, joined as they were.
fn keep_sentences(
    line: &str,
    seen: &mut HashSet<String>,
    is_last: bool,
    cleaned: &mut Cleaned,
) -> String {
    let (sentences, tail) = parts::sentences(line);
    let mut out = String::new();
    for mut s in sentences {
        // Noise is dropped from inside a sentence too: a run of digits is short of words,
        // so the splitter joins it to the sentence after it.
        let (clear, noise) = without_digit_noise(&s.sentence);
        if noise > 0 {
            cleaned.dropped_noise += noise;
            if clear.trim().is_empty() {
                continue;
            }
            s.sentence = clear.trim().to_string();
        }
        let keys = keys_of(&s.sentence);
        if keys.iter().any(|k| seen.contains(k)) {
            cleaned.dropped_repeats += 1;
            continue;
        }
        seen.extend(keys);
        if !is_last && is_closing(&s.sentence) {
            cleaned.dropped_closings += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(&s.before);
        }
        out.push_str(&s.sentence);
    }
    if !out.is_empty() {
        out.push_str(tail.trim_end());
    }
    out
}

/// `sentence` without the Unicode sentences in it that are digit noise, and how many went.
fn without_digit_noise(sentence: &str) -> (String, usize) {
    use unicode_segmentation::UnicodeSegmentation;
    let mut noise = 0;
    let kept = sentence
        .split_sentence_bounds()
        .filter(|part| {
            let is_noise = is_digit_noise(part);
            noise += usize::from(is_noise);
            !is_noise
        })
        .collect();
    (kept, noise)
}

/// A sentence that is mostly digits: kept from Latin letters, the default model writing
/// Chinese escapes into runs of them ("8271940562817304916…"). A run of eight or more, or
/// digits over two fifths of its letters, is no prose (a year, a price, a phone number's
/// parts are shorter).
fn is_digit_noise(sentence: &str) -> bool {
    let mut run = 0;
    let mut longest = 0;
    let (mut digits, mut letters) = (0, 0);
    for c in sentence.chars() {
        if c.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
            digits += 1;
        } else {
            run = 0;
        }
        if c.is_alphanumeric() {
            letters += 1;
        }
    }
    longest >= 8 || (digits >= 6 && digits * 5 > letters * 2)
}

fn is_closing(sentence: &str) -> bool {
    let lower = sentence.trim_start().to_lowercase();
    CLOSINGS.iter().any(|c| lower.starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restated_heading_and_a_next_heading_are_cut() {
        let answer =
            "## Why tea\n**Why tea**\n\nTea calms the mind. It is cheap.\n\n## Next\nMore.";
        let c = clean(answer, &["Why tea", "Tea"], &HashSet::new(), false);
        assert_eq!(c.text, "Tea calms the mind. It is cheap.");
    }

    #[test]
    fn earlier_sentences_and_repeats_are_dropped() {
        let earlier = sentence_keys("Tea calms the mind.");
        let answer = "Tea calms the mind. Green tea has less caffeine.\n\ngreen tea has LESS caffeine! Black tea is strong.";
        let c = clean(answer, &["Kinds", "Tea"], &earlier, false);
        assert_eq!(
            c.text,
            "Green tea has less caffeine.\n\nBlack tea is strong."
        );
        assert_eq!(c.dropped_repeats, 2);
    }

    #[test]
    fn a_repeat_hidden_behind_a_short_fragment_is_found() {
        // "It is." is too short to stand alone: the splitter joins it to the next sentence.
        let earlier = sentence_keys("What's more, it can be done with your own ideas.");
        let answer = "It is. What's more, it can be done with your own ideas. Paper is cheap.";
        let c = clean(answer, &["H", "T"], &earlier, false);
        assert_eq!(c.text, "Paper is cheap.");
    }

    #[test]
    fn runs_of_digits_are_noise_and_years_are_not() {
        let answer = "远程办公很方便。8271940562817304916725。它在2023年很流行。价格是12元。";
        let c = clean(answer, &["H", "T"], &HashSet::new(), true);
        assert_eq!(c.text, "远程办公很方便。它在2023年很流行。价格是12元。");
        assert_eq!(c.dropped_noise, 1);
        assert!(is_digit_noise("345678910112345679111212"));
        assert!(!is_digit_noise("In 2023 there were 12 of them."));
    }

    #[test]
    fn closings_wait_for_the_last_section() {
        let answer = "Water should be hot. In conclusion, tea is good.";
        let c = clean(answer, &["Brewing", "Tea"], &HashSet::new(), false);
        assert_eq!(c.text, "Water should be hot.");
        assert_eq!(c.dropped_closings, 1);
        let c = clean(answer, &["Brewing", "Tea"], &HashSet::new(), true);
        assert_eq!(c.text, answer);
    }

    #[test]
    fn chinese_sentences_are_compared_and_cut_too() {
        let earlier = sentence_keys("茶能让人平静。");
        let answer = "茶能让人平静。绿茶的咖啡因较少。总之，茶很好。红茶很浓";
        let c = clean(answer, &["种类", "茶"], &earlier, false);
        assert_eq!(c.text, "绿茶的咖啡因较少。");
    }

    #[test]
    fn copied_outline_lines_and_broken_lines_go() {
        let answer =
            "Green tea is mild.\n2. Brewing it well\nThe Art of\nIt keeps for a year. And the";
        let c = clean(
            answer,
            &["Kinds", "Tea", "Brewing it well"],
            &HashSet::new(),
            false,
        );
        assert_eq!(c.text, "Green tea is mild.\nIt keeps for a year.");
    }

    #[test]
    fn a_long_body_is_cut_at_a_sentence() {
        let text = "One two three four. Five six seven eight.\n\nNine ten eleven twelve.";
        assert_eq!(
            cut_to(text, 9, false),
            "One two three four. Five six seven eight."
        );
        assert_eq!(cut_to(text, 2, false), "One two three four.");
        assert_eq!(cut_to(text, 100, false), text);
        assert_eq!(cut_to("茶很好。水很热。", 5, true), "茶很好。");
    }

    #[test]
    fn an_unfinished_last_sentence_is_cut() {
        let c = clean(
            "One whole full sentence. And half of",
            &["H", "T"],
            &HashSet::new(),
            true,
        );
        assert_eq!(c.text, "One whole full sentence.");
    }
}
