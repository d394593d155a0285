//! How much of one text's meaning another keeps, measured without a model by the words that
//! carry it: a rewrite keeps its passage's content words, a summary's content words come from
//! its passage. The finishing stage refuses an answer that falls below a prompt's floor, and
//! the quality benchmark judges answers by the same measure.

use std::collections::BTreeSet;

use unicode_segmentation::UnicodeSegmentation;

/// Words the meaning of an English text does not rest on.
const STOP_WORDS: &[&str] = &[
    "about", "above", "after", "again", "also", "been", "before", "being", "both", "could", "does",
    "doing", "down", "each", "even", "every", "from", "have", "having", "here", "into", "just",
    "like", "made", "make", "many", "more", "most", "much", "must", "only", "other", "over",
    "same", "should", "some", "such", "than", "that", "their", "them", "then", "there", "these",
    "they", "this", "those", "through", "very", "what", "when", "where", "which", "while", "will",
    "with", "would", "your", "yours", "were", "will", "because", "under", "until", "well", "still",
    "ever", "among", "upon", "within", "without",
];

/// Characters that carry grammar rather than content in Chinese: a pair with one is skipped.
const FUNCTION_HAN: &str = "的了是在和也就都而及与或这那个们我你他她它有不之为以于把被让";

/// What two answers are compared by: letters and digits only, lower case, so answers that
/// differ in spacing, case or punctuation count as the same.
pub fn same_key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The content words of `text`: English words of four letters or more outside a stop list,
/// cut to their first five letters so "walked" and "walking" match; for Chinese, pairs of
/// adjacent Han characters without a function character.
pub fn content_words(text: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    let han: Vec<char> = text.chars().collect();
    for pair in han.windows(2) {
        if pair
            .iter()
            .all(|c| is_han(*c) && !FUNCTION_HAN.contains(*c))
        {
            words.insert(pair.iter().collect());
        }
    }
    for word in text.unicode_words() {
        if word.chars().any(is_han) {
            continue;
        }
        let lower = word.to_lowercase();
        let is_number = lower.chars().all(|c| c.is_ascii_digit()) && lower.len() >= 2;
        if is_number || (lower.chars().count() >= 4 && !STOP_WORDS.contains(&lower.as_str())) {
            words.insert(lower.chars().take(5).collect());
        }
    }
    words
}

/// The share of `source`'s content words that `answer` has too (1.0 when it has none).
pub fn kept_share(source: &str, answer: &str) -> f64 {
    let from = content_words(source);
    if from.is_empty() {
        return 1.0;
    }
    let to = content_words(answer);
    from.intersection(&to).count() as f64 / from.len() as f64
}

/// The share of `answer`'s content words that come from `source` (1.0 when it has none).
pub fn grounded_share(answer: &str, source: &str) -> f64 {
    kept_share(answer, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_compared_by_word_stems_and_chinese_by_character_pairs() {
        let news = "The council voted to extend the riverside bike path; work begins in March.";
        assert!(
            kept_share(
                news,
                "Councillors extended the riverside path, working from March."
            ) > 0.5
        );
        assert!(kept_share(news, "Cycling is a healthy hobby at weekends.") < 0.2);
        let passage = "随着人工智能技术的快速发展，大模型已经成为推动行业创新的关键力量。";
        assert!(kept_share(passage, "大模型推动行业创新。") > 0.3);
        assert!(kept_share(passage, "今天天气很好。") < 0.1);
        assert_eq!(
            grounded_share("", passage),
            1.0,
            "nothing claimed, nothing invented"
        );
    }
}
