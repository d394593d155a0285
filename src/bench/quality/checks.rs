//! What a writer would reject in an answer, checked without a model: empty or a lead-in
//! alone, not in the passage's language, a grammar fix that fixed nothing or rewrote too much,
//! a rewrite that lost the passage's meaning, a summary that is not short or copies a
//! sentence, bullets that are not a short list. Each check gives the reason a writer would
//! give, so the report can say why answers were not usable.

use unicode_segmentation::UnicodeSegmentation;

use crate::document::diff;
use crate::prompt::finish::is_lead_in_only;
pub use crate::prompt::overlap::{grounded_share, is_han, kept_share};

/// What an answer is checked against.
#[derive(Debug, Clone)]
pub enum Expect {
    /// A grammar fix of `flawed` (the source): some seeded error gone, at most `max_drift`
    /// of the words changed.
    Fix { errors: Vec<String>, max_drift: f64 },
    /// A rewrite in another register or length: the passage's content words kept.
    Rewrite,
    /// One or two sentences: at most half as long, no sentence copied whole, grounded.
    Gist,
    /// 3 to 6 short bullets, grounded.
    Bullets,
    /// A paragraph made of one sentence: longer, and about it.
    Expand,
    /// A short title for the passage ("ask" with a fixed instruction).
    Title,
    /// The passage carried on.
    Continue,
    /// A ghost: a few words that carry on the passage.
    Ghost,
    /// Marketing copy about `subject` (the brief's product, topic or company).
    Copy { subject: String },
}

/// A rewrite that keeps fewer of its passage's content words than this has lost its subject.
/// A register change rewords connectives and verbs but keeps the nouns, names and figures
/// that carry the facts: half the content words of a four-sentence paragraph is the least a
/// faithful rewrite keeps in practice (the benchmark's own concise rewrites keep 50-80 %), and
/// an answer that keeps fewer than 40 % is about something else or has dropped most of it.
pub const REWRITE_KEEPS: f64 = 0.4;
/// A summary or an expansion whose own content words come less than this much from the
/// passage is mostly the model's own claims.
pub const GROUNDED: f64 = 0.5;
/// The expansion of a sentence keeps at least this share of the sentence's content words.
pub const EXPAND_KEEPS: f64 = 0.5;
/// A bullet longer than this (words; Chinese: characters over two) is not a short point.
pub const BULLET_WORDS: usize = 20;

/// Why an answer is not usable, or None when it is.
pub fn verdict(expect: &Expect, source: &str, answer: &str, chinese: bool) -> Option<String> {
    let answer = answer.trim();
    if answer.is_empty() {
        return Some("empty".into());
    }
    if is_lead_in_only(answer, source) {
        return Some("a lead-in alone".into());
    }
    // Dates and numbers alone ("2018-05-22 20:30:00") are no writing in any language.
    if !answer.chars().any(char::is_alphabetic) {
        return Some("no words".into());
    }
    if !in_language(answer, chinese) {
        return Some("not in the passage's language".into());
    }
    match expect {
        Expect::Fix { errors, max_drift } => fix(source, answer, errors, *max_drift),
        Expect::Rewrite => (kept_share(source, answer) < REWRITE_KEEPS)
            .then(|| "meaning lost (content words kept < 40 %)".into()),
        Expect::Gist => gist(source, answer),
        Expect::Bullets => bullets(source, answer, chinese),
        Expect::Expand => expand(source, answer),
        Expect::Title => title(source, answer, chinese),
        Expect::Continue => carry_on(source, answer, chinese, 4),
        Expect::Ghost => carry_on(source, answer, chinese, 1),
        Expect::Copy { subject } => copy(subject, answer),
    }
}

fn fix(flawed: &str, answer: &str, errors: &[String], max_drift: f64) -> Option<String> {
    if errors.iter().all(|e| answer.contains(e.as_str())) {
        return Some("every seeded error kept".into());
    }
    let drift = diff::drift(&diff::diff(flawed.trim(), answer));
    (drift > max_drift).then(|| "changed more than a fix".into())
}

fn gist(source: &str, answer: &str) -> Option<String> {
    if answer.chars().count() * 2 > source.trim().chars().count() {
        return Some("not half as long as the passage".into());
    }
    if copies_a_sentence(source, answer) {
        return Some("a sentence copied whole".into());
    }
    (grounded_share(answer, source) < GROUNDED).then(|| "mostly not from the passage".into())
}

fn bullets(source: &str, answer: &str, chinese: bool) -> Option<String> {
    let items: Vec<&str> = answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if !(3..=6).contains(&items.len()) || !items.iter().all(|l| l.starts_with("- ")) {
        return Some(format!("{} lines, not 3-6 bullets", items.len()));
    }
    if items
        .iter()
        .any(|i| length_in_words(i, chinese) > BULLET_WORDS)
    {
        return Some(format!("a bullet over {BULLET_WORDS} words"));
    }
    // A writer takes a list that says one thing twice for a list of fewer points.
    let distinct: std::collections::HashSet<&str> = items.iter().copied().collect();
    if distinct.len() < items.len() {
        return Some("a bullet repeated".into());
    }
    (grounded_share(answer, source) < GROUNDED).then(|| "mostly not from the passage".into())
}

fn expand(sentence: &str, answer: &str) -> Option<String> {
    if answer.chars().count() * 10 < sentence.trim().chars().count() * 13 {
        return Some("no longer than the sentence".into());
    }
    (kept_share(sentence, answer) < EXPAND_KEEPS).then(|| "not about the sentence".into())
}

fn title(source: &str, answer: &str, chinese: bool) -> Option<String> {
    if answer.contains('\n') {
        return Some("more than one line".into());
    }
    if length_in_words(answer, chinese) > 12 {
        return Some("too long for a title".into());
    }
    (grounded_share(answer, source) == 0.0).then(|| "nothing of the passage".into())
}

fn carry_on(source: &str, answer: &str, chinese: bool, least_words: usize) -> Option<String> {
    if length_in_words(answer, chinese) < least_words {
        return Some("too short".into());
    }
    if copies_a_sentence(source, answer) {
        return Some("repeats the passage".into());
    }
    let lower = answer.to_lowercase();
    ["<|", "assistant:", "user:", "###"]
        .iter()
        .any(|m| lower.contains(m))
        .then(|| "chat or markup debris".into())
}

fn copy(subject: &str, answer: &str) -> Option<String> {
    if answer.contains("{{") || answer.contains("}}") {
        return Some("a placeholder left in".into());
    }
    (grounded_share(subject, answer) == 0.0).then(|| "does not name the subject".into())
}

/// Whether `text` is written in the passage's language, by its script: Chinese is mostly Han
/// characters; English mostly Latin letters, and English where a reliable guess is possible.
pub fn in_language(text: &str, chinese: bool) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.is_empty() {
        return false;
    }
    let han = letters.iter().filter(|c| is_han(**c)).count();
    if chinese {
        return han * 2 >= letters.len();
    }
    let latin = letters.iter().filter(|c| c.is_ascii_alphabetic()).count();
    if latin * 10 < letters.len() * 9 {
        return false;
    }
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() && text.len() >= 40 => info.lang() == whatlang::Lang::Eng,
        _ => true,
    }
}

/// Whether `answer` holds a whole sentence of `source` (one of five words or ten
/// characters at least), spacing and case aside.
pub fn copies_a_sentence(source: &str, answer: &str) -> bool {
    let answer = squeeze(answer);
    source
        .unicode_sentences()
        .map(squeeze)
        .filter(|s| s.split(' ').count() >= 5 || s.chars().count() >= 10 && s.chars().any(is_han))
        .any(|s| answer.contains(s.trim_end_matches(['.', '。', '!', '?', '！', '？'])))
}

fn squeeze(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Words, or for Chinese, characters over two (a Chinese word is about two characters).
fn length_in_words(text: &str, chinese: bool) -> usize {
    if chinese {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .count()
            .div_ceil(2)
    } else {
        text.unicode_words().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEWS: &str = "The city council voted on Tuesday to extend the riverside bike path by \
        four kilometres. Work will begin in March and should take about a year. The council \
        expects the new section to cut car trips into the centre. Local shops along the route \
        welcomed the plan.";

    #[test]
    fn a_lead_in_alone_or_nothing_is_never_usable() {
        for answer in [
            "",
            "  ",
            "Here's a revised version with improved grammar and style:",
        ] {
            assert!(
                verdict(&Expect::Rewrite, NEWS, answer, false).is_some(),
                "{answer}"
            );
        }
    }

    #[test]
    fn the_grammar_fix_must_fix_something_and_change_little() {
        let flawed = "Their is many reason why a writer should keeps a journal.";
        let errors = vec!["Their is".to_string(), "should keeps".to_string()];
        let expect = Expect::Fix {
            errors,
            max_drift: 0.3,
        };
        let fixed = "There is many reason why a writer should keep a journal.";
        assert_eq!(verdict(&expect, flawed, fixed, false), None);
        assert_eq!(
            verdict(&expect, flawed, flawed, false).as_deref(),
            Some("every seeded error kept")
        );
        let other = "Keeping a diary every day helps anyone who writes for a living.";
        assert!(
            verdict(&expect, flawed, other, false)
                .unwrap()
                .starts_with("changed more")
        );
    }

    #[test]
    fn numbers_alone_are_no_words() {
        assert_eq!(
            verdict(&Expect::Ghost, "", "2018-06-28 20:12:22.", false).as_deref(),
            Some("no words")
        );
    }

    #[test]
    fn a_rewrite_keeps_the_content_words_and_the_language() {
        let formal = "On Tuesday the city council approved extending the riverside bike path \
            by four kilometres. Construction begins in March and is expected to take a year. \
            The council anticipates fewer car trips into the centre; local shops welcomed it.";
        assert_eq!(verdict(&Expect::Rewrite, NEWS, formal, false), None);
        let lost = "Cycling is a healthy hobby that many people enjoy at weekends.";
        assert!(verdict(&Expect::Rewrite, NEWS, lost, false).is_some());
        let chinese = "市议会周二投票决定将河滨自行车道延长四公里。";
        assert_eq!(
            verdict(&Expect::Rewrite, NEWS, chinese, false).as_deref(),
            Some("not in the passage's language")
        );
    }

    #[test]
    fn summaries_are_short_grounded_and_not_copied() {
        let good = "The council will extend the riverside bike path by four kilometres.";
        assert_eq!(verdict(&Expect::Gist, NEWS, good, false), None);
        let copied = "Work will begin in March and should take about a year.";
        assert_eq!(
            verdict(&Expect::Gist, NEWS, copied, false).as_deref(),
            Some("a sentence copied whole")
        );
        assert!(verdict(&Expect::Gist, NEWS, NEWS, false).is_some());
        let invented = "Mayor Jones resigned after protests about parking fees downtown.";
        assert!(verdict(&Expect::Gist, NEWS, invented, false).is_some());
    }

    #[test]
    fn bullets_are_three_to_six_short_points() {
        let good = "- Council extends riverside bike path\n- Work begins in March\n- Fewer car \
                    trips expected";
        assert_eq!(verdict(&Expect::Bullets, NEWS, good, false), None);
        let two = "- Council extends riverside bike path\n- Work begins in March";
        assert!(verdict(&Expect::Bullets, NEWS, two, false).is_some());
        let again =
            "- Work begins in March\n- Council extends riverside bike path\n- Work begins in March";
        assert_eq!(
            verdict(&Expect::Bullets, NEWS, again, false).as_deref(),
            Some("a bullet repeated")
        );
    }

    #[test]
    fn chinese_is_told_by_its_script_and_compared_by_character_pairs() {
        let passage = "随着人工智能技术的快速发展，大模型已经成为推动行业创新的关键力量。";
        assert!(in_language(passage, true));
        assert!(!in_language("Large models drive innovation.", true));
        assert!(kept_share(passage, "大模型推动行业创新。") > 0.3);
        assert!(kept_share(passage, "今天天气很好。") < 0.1);
        assert_eq!(
            verdict(&Expect::Title, passage, "大模型与行业创新", true),
            None
        );
    }
}
