//! The finishing stage every answer goes through before the writer sees it, in the editor and
//! headless alike: what a small model adds around the answer (a "Here is the rewritten text:"
//! line, the passage repeated back) goes, an answer cut off by the token limit ends at its last
//! full sentence, a list answer is a list, a one-line answer one line, copy is cut to its
//! limit, and an answer that is a copy of the passage, of another variant, or (for a summary)
//! no shorter than what it summarises is refused so another can be asked for. Everything it
//! does is said in `notes`, so nothing is hidden from the writer.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::overlap::same_key;
use super::section::ArticlePart;
use super::{copy, outline, overlap, repeats};
use crate::document::diff;
use crate::document::grapheme::is_wide_script;
use crate::engine::protocol::StopReason;

/// What an answer is meant to look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Sentences and paragraphs.
    #[default]
    Prose,
    /// One line (a title, a one-line rewrite).
    Line,
    /// Items starting "- ".
    List,
    /// Marketing copy: unquoted, unlabelled, within `max_chars`.
    Copy,
}

/// How one request's answers are finished.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Finishing {
    pub shape: Shape,
    pub max_chars: Option<usize>,
    /// What every answer starts with (a template's prefill).
    pub prefill: String,
    /// The passage the answer is about (a rewrite's or summary's text): an answer that repeats
    /// it is not an answer.
    pub source: String,
    /// A summary: it must come out shorter than `source`.
    pub shorter: bool,
    /// A correction (fix grammar): the share of the passage's words it may change before the
    /// writer is warned; the passage back unchanged is a fair answer ("no changes").
    pub max_drift: Option<f64>,
    /// A rewrite: the least share of the passage's content words an answer keeps.
    pub min_kept: Option<f64>,
    /// A summary: the least share of its content words that come from the passage.
    pub min_grounded: Option<f64>,
    /// More text a summary may take its words from: the summaries of its parts, when a text
    /// too long for the context was summarised part by part and the answer summarises those.
    pub also_from: String,
    /// The writer asked for the model's text as it came: nothing is cut or dropped.
    pub raw: bool,
    /// The token limit is the writer's own for this request (`--max-tokens`): a rewrite it
    /// cut short is not judged on the part of the passage it did not reach. A limit from the
    /// shaping (a rewrite not much longer than its text) cuts one that ran long: that one is
    /// judged, and asked again.
    pub writers_limit: bool,
    /// An outline or a section of the article flow: made into what the draft holds.
    pub article: Option<ArticlePart>,
}

/// An answer as it is kept, and what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub text: String,
    /// Cut to fit `max_chars`: the pane marks it, the draft never gets the mark.
    pub cut: bool,
    pub notes: Vec<String>,
}

/// Why an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Empty,
    /// The passage given back.
    SameAsSource,
    /// The same as the variant kept at this index.
    SameAs(usize),
    /// A summary no shorter than its text.
    NotShorter,
    /// A summary in prose more than half as long as its text.
    NotHalf,
    /// Only the line a model puts before an answer ("Here's the revised version:").
    LeadInOnly,
    /// A rewrite that kept this share (in per cent) of the passage's content words, under
    /// `min_kept`: it is about something else, or dropped most of it.
    LostMeaning(u32),
    /// A summary with this share (in per cent) of its content words from the passage, under
    /// `min_grounded`: mostly the model's own claims.
    NotFromPassage(u32),
    /// An outline with fewer sections than the least it may have.
    TooFewSections {
        got: usize,
        wanted: usize,
    },
    /// An outline with a heading of the prompt's worked example: the example copied.
    CopiedExample,
}

impl Refused {
    /// The answer wandered from its passage: asked again cooler, not warmer.
    pub fn wandered(&self) -> bool {
        self.share().is_some()
    }

    /// How much of its passage an answer that wandered kept, in per cent.
    pub fn share(&self) -> Option<u32> {
        match self {
            Refused::LostMeaning(share) | Refused::NotFromPassage(share) => Some(*share),
            _ => None,
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Empty => write!(f, "empty"),
            Refused::TooFewSections { got, wanted } => {
                write!(f, "an outline of {got} sections for {wanted}")
            }
            Refused::CopiedExample => write!(f, "the prompt's example copied"),
            Refused::SameAsSource => write!(f, "a copy of the passage"),
            Refused::SameAs(i) => write!(f, "the same as variant {}", i + 1),
            Refused::NotShorter => write!(f, "no shorter than the passage"),
            Refused::NotHalf => write!(f, "over half as long as the passage"),
            Refused::LeadInOnly => write!(f, "a lead-in with no answer after it"),
            Refused::LostMeaning(kept) => write!(
                f,
                "the passage's meaning lost (kept {kept} % of its content words)"
            ),
            Refused::NotFromPassage(share) => write!(
                f,
                "mostly not from the passage ({share} % of its content words are)"
            ),
        }
    }
}

/// An outline read and written back as headings and notes; a section's body cleaned (see
/// `section::clean`), what was taken out said.
fn finish_article(part: &ArticlePart, text: &str) -> Finished {
    let mut notes = Vec::new();
    let text = match part {
        ArticlePart::Outline { wanted, title, .. } => {
            let mut items = outline::read_for(text, title);
            items.truncate(*wanted);
            outline::markdown(&items)
        }
        ArticlePart::Section(rules) => {
            let text = strip_preamble(text.trim()).unwrap_or_else(|| text.to_string());
            let cleaned = rules.apply(&text);
            if cleaned.dropped_repeats > 0 {
                notes.push(format!(
                    "dropped {} sentence(s) said before",
                    cleaned.dropped_repeats
                ));
            }
            if cleaned.dropped_closings > 0 {
                notes.push("dropped a conclusion: more sections follow".to_string());
            }
            cleaned.text
        }
    };
    Finished {
        text,
        cut: false,
        notes,
    }
}

impl Finishing {
    /// Finishes `text`, the whole of one answer, which ended for `stop`.
    pub fn finish(&self, text: &str, stop: StopReason) -> Finished {
        let mut notes = Vec::new();
        if self.raw {
            return Finished {
                text: text.trim_end().to_string(),
                cut: false,
                notes,
            };
        }
        if self.shape == Shape::Copy {
            return self.finish_copy(text);
        }
        if let Some(part) = &self.article {
            return finish_article(part, text);
        }
        let original = text;
        let mut text = text.trim().to_string();
        // A server that does not go on from a begun answer starts it again: "The" + "The city".
        let start = self.prefill.trim();
        if !start.is_empty() && text.starts_with(&format!("{start}{start}")) {
            text.replace_range(..start.len(), "");
            notes.push("took off the answer's start, which the model wrote twice".to_string());
        }
        if let Some(rest) = strip_preamble(&text) {
            notes.push("took off the model's lead-in line".to_string());
            text = rest;
        }
        if let Some(rest) = strip_source_echo(&text, &self.source) {
            notes.push("took off the passage the model repeated first".to_string());
            text = rest;
        }
        let cut_off = matches!(stop, StopReason::MaxTokens | StopReason::ContextFull);
        let looped = matches!(self.shape, Shape::Prose | Shape::Line)
            && repeats::repeat_start(&text).is_some_and(|at| {
                text.truncate(at);
                true
            });
        if looped {
            notes.push("cut off where the model began repeating itself".to_string());
        }
        self.shape_text(&mut text, cut_off, looped, &mut notes);
        if let Some(max) = self.max_drift {
            text = self.keep_corrections(text, max, &mut notes);
        }
        // A continuation's leading space says its first word is a new one ("It was" + " a",
        // not "It wasa"): kept for the spacing at the insertion point to read.
        let lead = if self.source.is_empty() && self.shape == Shape::Prose {
            &original[..original.len() - original.trim_start().len()]
        } else {
            ""
        };
        Finished {
            text: format!("{lead}{}", text.trim_end()),
            cut: false,
            notes,
        }
    }

    /// Copy: unquoted, unlabelled, cut at a word within `max_chars`.
    fn finish_copy(&self, text: &str) -> Finished {
        let mut notes = Vec::new();
        let finished = copy::finish(text, &self.prefill, self.max_chars);
        let cut = self
            .max_chars
            .is_some_and(|max| copy::unquote(text).chars().count() > max)
            && !finished.is_empty();
        if cut {
            notes.push(format!(
                "cut to fit {} characters",
                self.max_chars.unwrap_or(0)
            ));
        }
        Finished {
            text: finished,
            cut,
            notes,
        }
    }

    /// Holds `text` to its shape: one line, a list, or prose that ends at a full sentence when
    /// it was cut off or looped.
    fn shape_text(&self, text: &mut String, cut_off: bool, looped: bool, notes: &mut Vec<String>) {
        match self.shape {
            Shape::Line => {
                if let Some((first, _)) = text.split_once('\n') {
                    *text = first.trim().to_string();
                    notes.push("kept the first line".to_string());
                }
            }
            Shape::List => {
                let (list, made) = as_list(text, cut_off);
                if made {
                    notes.push("made the answer a list".to_string());
                }
                if list.dropped_last {
                    notes.push("dropped an unfinished last point".to_string());
                }
                *text = list.text;
            }
            Shape::Prose | Shape::Copy => {
                // What is left of a loop ends at its last full sentence, as a cut one does.
                if (cut_off || looped)
                    && let Some(end) = last_sentence_end(text)
                {
                    let end = end.min(text.len());
                    if !text[end..].trim().is_empty() {
                        notes.push(format!(
                            "ended at the last full sentence (dropped \"{}\")",
                            text[end..].trim()
                        ));
                        text.truncate(end);
                    }
                } else if cut_off && !ends_sentence(text) {
                    notes.push("the token limit stopped it mid-sentence".to_string());
                }
            }
        }
    }

    /// A correction that changed more than `max_drift` of the passage rewrote it (a small
    /// model's fix of an email came back a new email): only its small edits, the fixes, are
    /// taken into the passage, and the rewritten stretches keep the writer's words.
    fn keep_corrections(&self, text: String, max: f64, notes: &mut Vec<String>) -> String {
        let source = self.source.trim();
        if source.is_empty() || diff::drift(&diff::diff(source, &text)) <= max {
            return text;
        }
        let (merged, taken, left) = diff::keep_small_edits(source, &text, FIX_WORDS);
        notes.push(format!(
            "changed more than a correction: took {taken} small edit{} and kept the passage's \
             words in {left} rewritten stretch{}",
            if taken == 1 { "" } else { "s" },
            if left == 1 { "" } else { "es" },
        ));
        merged
    }

    /// How much of `text`, an answer still streaming, finishing will keep as it is whatever
    /// comes next, in bytes of `text.trim_start()`: what may be shown as final already. Only
    /// prose that carries on the writer's text settles early (up to its last full sentence);
    /// anything that may yet lose a lead-in, an echo or its shape settles when done.
    pub fn settled(&self, text: &str) -> usize {
        if self.raw {
            return text.trim_start().len();
        }
        if self.shape != Shape::Prose || !self.source.is_empty() {
            return 0;
        }
        let text = text.trim_start();
        let lower = text.to_lowercase();
        let first_line_done = text.contains('\n') || text.contains([':', '：']);
        let may_lead_in = LEAD_INS
            .iter()
            .any(|w| lower.starts_with(w) || w.starts_with(&lower));
        if may_lead_in && (!first_line_done || strip_preamble(text).is_some()) {
            return 0;
        }
        // Not the line break after it: the answer may end there, and finishing drops it.
        // Nor a loop's start, which finishing cuts off.
        let text = repeats::repeat_start(text).map_or(text, |at| &text[..at]);
        last_sentence_end(text).map_or(0, |end| text[..end].trim_end().len())
    }

    /// Whether a finished answer can be kept beside those already kept.
    pub fn check(&self, text: &str, kept: &[&str]) -> Result<(), Refused> {
        if self.raw {
            return Ok(());
        }
        let key = same_key(text);
        if key.is_empty() {
            return Err(Refused::Empty);
        }
        if let Some(ArticlePart::Outline {
            wanted, borrowed, ..
        }) = &self.article
        {
            let wanted = *wanted;
            let items = outline::read(text);
            if items.len() < outline::fewest(wanted) {
                return Err(Refused::TooFewSections {
                    got: items.len(),
                    wanted,
                });
            }
            if items
                .iter()
                .any(|i| borrowed.contains(&super::overlap::same_key(&i.heading)))
            {
                return Err(Refused::CopiedExample);
            }
        }
        // A continuation may end on a colon: the writer's next line is a list.
        let answers_something = !self.source.is_empty() || self.shape == Shape::Copy;
        if answers_something && is_lead_in_only(text, &self.source) {
            return Err(Refused::LeadInOnly);
        }
        if let Some(i) = kept.iter().position(|k| same_key(k) == key) {
            return Err(Refused::SameAs(i));
        }
        let source = same_key(&self.source);
        if !source.is_empty() && key == source && self.max_drift.is_none() {
            return Err(Refused::SameAsSource);
        }
        let (length, of) = (
            text.trim().chars().count(),
            self.source.trim().chars().count(),
        );
        if self.shorter && !source.is_empty() && length >= of {
            return Err(Refused::NotShorter);
        }
        // A summary in prose gives the gist: more than half the passage is a copy of it.
        if self.shorter && self.shape == Shape::Prose && !source.is_empty() && length * 2 > of {
            return Err(Refused::NotHalf);
        }
        self.check_meaning(text)
    }
}

impl Finishing {
    /// Whether an answer still says what its passage says: a rewrite keeps the passage's
    /// content words, a summary's come from it.
    fn check_meaning(&self, text: &str) -> Result<(), Refused> {
        if self.source.trim().is_empty() {
            return Ok(());
        }
        let percent = |share: f64| (share * 100.0).round() as u32;
        if let Some(min) = self.min_kept {
            let kept = overlap::kept_share(&self.source, text);
            if kept < min {
                return Err(Refused::LostMeaning(percent(kept)));
            }
        }
        if let Some(min) = self.min_grounded {
            let from = format!("{}\n\n{}", self.source, self.also_from);
            let grounded = overlap::grounded_share(text, &from);
            if grounded < min {
                return Err(Refused::NotFromPassage(percent(grounded)));
            }
        }
        Ok(())
    }
}

/// The most words a correction's one edit replaces or adds ("looks" -> "look", "sending
/// draft" -> "sending the draft", "an historic" -> "a historic").
const FIX_WORDS: usize = 3;

/// Marks that end a sentence.
const SENTENCE_ENDS: &[char] = &['.', '!', '?', '。', '！', '？', '…', '‼', '⁇', '⁈', '⁉'];

/// What may follow a sentence's end and still belong to it.
const CLOSERS: &[char] = &[
    '"', '\'', '”', '’', ')', ']', '}', '」', '』', '）', '》', '】', '〉', '〕', '*', '_',
];

/// Abbreviations whose full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "mr", "mrs", "ms", "dr", "prof", "st", "vs", "cf", "no", "fig", "approx",
];

fn is_cjk_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '…')
}

/// Whether `text` already ends at the end of a sentence (or a line of its own: a heading).
pub fn ends_sentence(text: &str) -> bool {
    let t = text.trim_end_matches([' ', '\t']);
    if t.ends_with('\n') {
        return true;
    }
    let t = t.trim_end_matches(CLOSERS);
    t.ends_with(SENTENCE_ENDS)
}

/// The byte offset just past the last sentence end in `text` (the mark and any closing quote
/// or bracket after it), or past the last line break that follows some text. None when there
/// is no full sentence at all.
pub fn last_sentence_end(text: &str) -> Option<usize> {
    sentence_ends(text).last().copied()
}

/// The byte offset just past the first sentence end in `text` (see `last_sentence_end`).
pub fn first_sentence_end(text: &str) -> Option<usize> {
    sentence_ends(text).first().copied()
}

/// Every sentence end in `text`, in order.
fn sentence_ends(text: &str) -> Vec<usize> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut ends = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '\n' {
            if !text[..at].trim().is_empty() {
                ends.push(at);
            }
            i += 1;
            continue;
        }
        if !SENTENCE_ENDS.contains(&c) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len()
            && (SENTENCE_ENDS.contains(&chars[j].1) || CLOSERS.contains(&chars[j].1))
        {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
        let next = chars.get(j).map(|(_, c)| *c);
        // "3.5", "example.com" and "e.g. this" are not ends; a CJK mark always is.
        let is_end = is_cjk_end(c)
            || (next.is_none_or(|n| n.is_whitespace() || is_wide_script(n))
                && !(c == '.' && is_abbreviation(&text[..at])));
        if is_end {
            ends.push(end);
        }
        i = j;
    }
    ends
}

fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_lowercase();
    // A single letter is an initial ("J. Smith").
    (word.chars().count() == 1 && word.chars().all(char::is_alphabetic))
        || ABBREVIATIONS.contains(&word.as_str())
}

/// Words that open a lead-in line a small model puts before the answer it was asked for.
const LEAD_INS: &[&str] = &[
    "here is",
    "here's",
    "here are",
    "sure",
    "certainly",
    "of course",
    "okay",
    "ok,",
    "below is",
    "the rewritten",
    "the revised",
    "the corrected",
    "the summary",
    "rewritten",
    "revised",
    "corrected",
    "summary",
    "tl;dr",
    "key points",
    "based on",
    "以下是",
    "这是",
    "好的",
    "当然",
    "总结",
    "摘要",
    "改写",
];

/// The answer without a lead-in line ("Here is the rewritten passage:", "Summary:"); None when
/// it has none, or nothing would be left.
fn strip_preamble(text: &str) -> Option<String> {
    let (first, rest) = match text.split_once('\n') {
        Some((first, rest)) => (first.trim(), rest.trim()),
        None => (text.trim(), ""),
    };
    let lower = first.to_lowercase();
    let is_lead_in = LEAD_INS.iter().any(|w| lower.starts_with(w));
    if !is_lead_in {
        return None;
    }
    // "Summary: the text itself" on one line: the label goes, the text stays.
    for mark in [':', '：'] {
        if let Some((label, after)) = first.split_once(mark)
            && label.chars().count() <= 60
        {
            let after = after.trim();
            return match (after.is_empty(), rest.is_empty()) {
                (true, true) => None,
                (true, false) => Some(rest.to_string()),
                (false, true) => Some(after.to_string()),
                (false, false) => Some(format!("{after}\n{rest}")),
            };
        }
    }
    None
}

/// Whether `text` is nothing but a lead-in: one line that announces an answer and ends
/// ("Here's a revised version with improved grammar:", "The text could be made more
/// concise as follows:") or opens like one and says what it is ("Sure! Here is the summary.").
/// A passage that itself ends with a colon may be given back ending with one.
pub fn is_lead_in_only(text: &str, source: &str) -> bool {
    let text = text.trim();
    if text.is_empty() || text.contains('\n') {
        return false;
    }
    let announces = text.ends_with([':', '：']) && !source.trim_end().ends_with([':', '：']);
    let lower = text.to_lowercase();
    let opens_like_one = LEAD_INS.iter().any(|w| lower.starts_with(w))
        && text.split_whitespace().count() <= 15
        && ANSWER_NAMES.iter().any(|w| lower.contains(w))
        && !same_key(source).starts_with(&same_key(&text.chars().take(12).collect::<String>()));
    announces || opens_like_one
}

/// What a lead-in calls the answer it announces.
const ANSWER_NAMES: &[&str] = &[
    "version",
    "rewrit",
    "revised",
    "corrected",
    "summary",
    "text",
    "passage",
    "paragraph",
    "points",
    "改写",
    "总结",
    "摘要",
    "文本",
    "版本",
];

/// The answer without the passage repeated at its start; None when it does not start with
/// it, or is nothing but it.
fn strip_source_echo(text: &str, source: &str) -> Option<String> {
    let source = source.trim();
    if source.chars().count() < 12 {
        return None;
    }
    let rest = text.strip_prefix(source)?.trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

struct List {
    text: String,
    dropped_last: bool,
}

/// Item markers a model uses, each taken as "- ".
fn item_body(line: &str) -> Option<&str> {
    let t = line.trim_start();
    for marker in ["- ", "* ", "• ", "· ", "+ ", "– "] {
        if let Some(rest) = t.strip_prefix(marker) {
            // "- 1. point": a list begun with "- " that the model numbered all the same.
            return Some(item_body(rest).unwrap_or(rest).trim());
        }
    }
    // "1. " or "1) "
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits <= 3 {
        let rest = &t[digits..];
        let rest = rest
            .strip_prefix(". ")
            .or_else(|| rest.strip_prefix(") "))
            .or_else(|| rest.strip_prefix('、'));
        if let Some(rest) = rest {
            return Some(rest.trim());
        }
    }
    None
}

/// `text` as "- " items: its own items when it has some (lines that are not items, such as a
/// heading the model added, go), else its sentences. When the answer was cut off, an
/// unfinished last item goes. Returns whether the list had to be made from sentences.
fn as_list(text: &str, cut_off: bool) -> (List, bool) {
    let mut items: Vec<String> = text
        .lines()
        .filter_map(item_body)
        .filter(|b| !b.is_empty())
        .map(str::to_string)
        .collect();
    let made = items.is_empty();
    if made {
        items = text
            .unicode_sentences()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let mut dropped_last = false;
    if cut_off && items.len() > 1 && items.last().is_some_and(|last| !ends_item(last)) {
        items.pop();
        dropped_last = true;
    }
    let text = items
        .iter()
        .map(|i| format!("- {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    (List { text, dropped_last }, made)
}

/// An item is finished when it ends a sentence or its line (the model moved on).
fn ends_item(item: &str) -> bool {
    ends_sentence(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prose() -> Finishing {
        Finishing::default()
    }

    #[test]
    fn an_answer_cut_by_the_token_limit_ends_at_its_last_full_sentence() {
        // Recorded from the default model: continue, max_tokens 64.
        let text = "Writers revise because the first draft is for them. The second is for the reader, which is that";
        let f = prose().finish(text, StopReason::MaxTokens);
        assert_eq!(
            f.text,
            "Writers revise because the first draft is for them."
        );
        assert!(f.notes[0].contains("which is that"), "{:?}", f.notes);
        // Chinese, cut mid-word.
        let zh = "大模型正在改变产品的形态。越来越多的创新趋";
        let f = prose().finish(zh, StopReason::MaxTokens);
        assert_eq!(f.text, "大模型正在改变产品的形态。");
        // A closing quote belongs to its sentence.
        let quoted = "He said \"write daily.\" Then he";
        assert_eq!(
            prose().finish(quoted, StopReason::MaxTokens).text,
            "He said \"write daily.\""
        );
        // Ended by the model itself: left alone.
        assert_eq!(
            prose().finish(text, StopReason::EndOfText).text,
            text,
            "only a cut-off answer is cut"
        );
    }

    #[test]
    fn numbers_abbreviations_and_urls_are_not_sentence_ends() {
        assert_eq!(last_sentence_end("Version 3.5 is out"), None);
        assert_eq!(last_sentence_end("See e.g. the guide"), None);
        assert_eq!(last_sentence_end("Go to example.com now"), None);
        assert_eq!(last_sentence_end("J. Smith wrote"), None);
        assert_eq!(last_sentence_end("Done. And"), Some(5));
        assert_eq!(last_sentence_end("好。然后"), Some("好。".len()));
        // With no full sentence at all, the text stays and the writer is told.
        let f = prose().finish("which is that", StopReason::MaxTokens);
        assert_eq!(f.text, "which is that");
        assert!(f.notes[0].contains("mid-sentence"));
    }

    #[test]
    fn lead_in_lines_and_a_repeated_passage_are_taken_off() {
        let f = prose().finish(
            "Here is the rewritten passage:\n\nThe cat sat on the mat.",
            StopReason::EndOfText,
        );
        assert_eq!(f.text, "The cat sat on the mat.");
        let f = prose().finish("Summary: Cats sit.", StopReason::EndOfText);
        assert_eq!(f.text, "Cats sit.");
        let f = prose().finish("以下是总结：\n猫坐着。", StopReason::EndOfText);
        assert_eq!(f.text, "猫坐着。");
        // A first line that happens to start with "Sure" but is the answer stays.
        let f = prose().finish("Surely this works.", StopReason::EndOfText);
        assert_eq!(f.text, "Surely this works.");
        let echo = Finishing {
            source: "Quill is a terminal writing assistant.".into(),
            ..prose()
        };
        let f = echo.finish(
            "Quill is a terminal writing assistant. It helps writers.",
            StopReason::EndOfText,
        );
        assert_eq!(f.text, "It helps writers.");
    }

    #[test]
    fn a_loop_is_cut_off_at_the_last_sentence_before_it() {
        let f = prose().finish(
            "We look forward to seeing you, and I hope to see you soon. Thank you for your \
             support. Thank you for your support. Than",
            StopReason::MaxTokens,
        );
        assert_eq!(
            f.text,
            "We look forward to seeing you, and I hope to see you soon. Thank you for your support."
        );
        assert!(f.notes.iter().any(|n| n.contains("repeating itself")));
        // A continuation streams: what is shown as final never includes the loop.
        let text = "It rained all day. The river rose. The river rose. The";
        assert_eq!(
            prose().settled(text),
            "It rained all day. The river rose.".len()
        );
    }

    #[test]
    fn a_correction_that_rewrote_the_passage_keeps_only_its_small_edits() {
        let fix = Finishing {
            source: "The figures looks correct to me. Let me know if you need any help.".into(),
            max_drift: Some(0.3),
            ..prose()
        };
        let f = fix.finish(
            "The figures look correct to me. I am happy to assist you with any questions today.",
            StopReason::EndOfText,
        );
        assert_eq!(
            f.text,
            "The figures look correct to me. Let me know if you need any help."
        );
        assert!(f.notes.iter().any(|n| n.contains("took 1 small edit")));
        // A fix within the drift allowed is the model's own.
        let f = fix.finish(
            "The figures look correct to me. Let me know if you need help.",
            StopReason::EndOfText,
        );
        assert_eq!(
            f.text,
            "The figures look correct to me. Let me know if you need help."
        );
    }

    #[test]
    fn a_begun_answer_started_again_by_a_server_is_not_doubled() {
        let begun = Finishing {
            prefill: "The".into(),
            source: "The city council voted.".into(),
            ..prose()
        };
        let f = begun.finish("TheThe city council agreed.", StopReason::EndOfText);
        assert_eq!(f.text, "The city council agreed.");
        let f = begun.finish("The Theatre voted.", StopReason::EndOfText);
        assert_eq!(f.text, "The Theatre voted.");
    }

    #[test]
    fn a_list_answer_is_a_list() {
        let list = Finishing {
            shape: Shape::List,
            ..prose()
        };
        // Recorded: bullets asked for, a paragraph given.
        let f = list.finish(
            "Quill runs a local model. It streams text. It never loses a word.",
            StopReason::EndOfText,
        );
        assert_eq!(
            f.text,
            "- Quill runs a local model.\n- It streams text.\n- It never loses a word."
        );
        assert!(f.notes.iter().any(|n| n.contains("list")));
        // Its own items, other markers, a heading line dropped, an unfinished last item gone.
        let f = list.finish(
            "Key points:\n* Local model.\n2. Streams text.\n- Never lo",
            StopReason::MaxTokens,
        );
        assert_eq!(f.text, "- Local model.\n- Streams text.");
        assert!(f.notes.iter().any(|n| n.contains("unfinished")));
        // A list begun with "- " and numbered all the same, in either language.
        let f = list.finish(
            "- 1. 本地模型。\n- 2、流式输出。\n- 2023 was a year.",
            StopReason::EndOfText,
        );
        assert_eq!(f.text, "- 本地模型。\n- 流式输出。\n- 2023 was a year.");
    }

    #[test]
    fn a_one_line_answer_stops_at_the_line() {
        let line = Finishing {
            shape: Shape::Line,
            ..prose()
        };
        assert_eq!(
            line.finish("A better title\nAnd a second", StopReason::EndOfText)
                .text,
            "A better title"
        );
    }

    #[test]
    fn copies_of_the_passage_or_of_a_variant_are_refused_and_a_summary_must_be_shorter() {
        let source = "Alt-T on a paragraph gave three identical copies of it.";
        let rewrite = Finishing {
            source: source.into(),
            ..prose()
        };
        assert_eq!(
            rewrite.check(
                "alt-t on a paragraph gave three identical copies of it",
                &[]
            ),
            Err(Refused::SameAsSource)
        );
        assert_eq!(
            rewrite.check("Three copies.", &["three  COPIES!"]),
            Err(Refused::SameAs(0))
        );
        assert_eq!(rewrite.check("Three copies came back.", &[]), Ok(()));
        assert_eq!(rewrite.check("  \n", &[]), Err(Refused::Empty));
        let grammar = Finishing {
            max_drift: Some(0.3),
            ..rewrite.clone()
        };
        assert_eq!(
            grammar.check(source, &[]),
            Ok(()),
            "no changes is an answer"
        );
        let summary = Finishing {
            shorter: true,
            ..rewrite
        };
        assert_eq!(
            summary.check(&format!("{source} And more words."), &[]),
            Err(Refused::NotShorter)
        );
        assert_eq!(summary.check("Three copies.", &[]), Ok(()));
        assert_eq!(
            summary.check("Alt-T on a paragraph gave three copies.", &[]),
            Err(Refused::NotHalf)
        );
        // A lead-in alone is no answer, in any language.
        for lead_in in [
            "Here's a revised version with improved grammar and style:",
            "The text is in English but could be reorganized into a more concise version:",
            "Sure! Here is the summary.",
            "以下是改写后的文本：",
        ] {
            assert_eq!(
                summary.check(lead_in, &[]),
                Err(Refused::LeadInOnly),
                "{lead_in}"
            );
        }
        assert_eq!(summary.check("Here is the plan: we ship.", &[]), Ok(()));
        let after_colon = Finishing {
            source: "We need three things:".into(),
            ..prose()
        };
        assert_eq!(after_colon.check("We need three items:", &[]), Ok(()));
        assert_eq!(prose().check("The recipe needs three things:", &[]), Ok(()));
    }

    #[test]
    fn an_answer_that_wandered_from_its_passage_is_refused() {
        let source = "The city council voted on Tuesday to extend the riverside bike path by \
            four kilometres. Work will begin in March.";
        let rewrite = Finishing {
            source: source.into(),
            min_kept: Some(0.4),
            ..prose()
        };
        let faithful = "On Tuesday the council approved extending the riverside bike path by \
            four kilometres; construction begins in March.";
        assert_eq!(rewrite.check(faithful, &[]), Ok(()));
        let other = "Cycling keeps you healthy and saves money on the bus.";
        assert_eq!(rewrite.check(other, &[]), Err(Refused::LostMeaning(0)));
        let summary = Finishing {
            source: source.into(),
            shorter: true,
            min_grounded: Some(0.5),
            ..prose()
        };
        assert_eq!(
            summary.check("The council extends the bike path.", &[]),
            Ok(())
        );
        let invented = "Mayor Jones resigned over parking fees.";
        assert_eq!(
            summary.check(invented, &[]),
            Err(Refused::NotFromPassage(0))
        );
        assert!(Refused::NotFromPassage(0).wandered() && !Refused::NotHalf.wandered());
    }

    #[test]
    fn copy_cut_to_fit_is_marked() {
        let headline = Finishing {
            shape: Shape::Copy,
            max_chars: Some(30),
            ..prose()
        };
        let f = headline.finish(
            "Digital Draft Your Paperless Future Today",
            StopReason::MaxTokens,
        );
        assert!(f.text.chars().count() <= 30, "{}", f.text);
        assert!(f.cut);
        assert!(f.notes[0].contains("30"));
        let f = headline.finish("Write faster", StopReason::EndOfText);
        assert!(!f.cut);
    }

    #[test]
    fn a_continuation_settles_sentence_by_sentence_and_the_finish_keeps_it() {
        let f = prose();
        let streams = [
            " It was late. The rain had",
            "Here is more:\nText.",
            "Sure",
            "Surely it works. And",
            // The line break after a sentence may be where the answer ends.
            " At a time.\"\n\nThe",
        ];
        for text in streams {
            let settled = f.settled(text);
            let shown = &text.trim_start()[..settled];
            for stop in [StopReason::MaxTokens, StopReason::EndOfText] {
                let done = f.finish(text, stop).text;
                // What was shown is measured after the leading space, as the finish keeps it.
                assert!(
                    done.trim_start().starts_with(shown),
                    "{text:?}: showed {shown:?} but finished as {done:?}"
                );
            }
        }
        assert_eq!(
            f.settled(" It was late. The rain had"),
            "It was late.".len()
        );
        assert_eq!(
            f.settled("Here is more:\nText."),
            0,
            "a lead-in is not shown"
        );
        assert_eq!(f.settled("Sure"), 0, "could yet be a lead-in");
        // A rewrite or a summary settles only when done.
        let summary = Finishing {
            source: "A passage long enough.".into(),
            ..prose()
        };
        assert_eq!(summary.settled("It was late. The"), 0);
    }

    #[test]
    fn raw_output_is_left_as_it_came() {
        let raw = Finishing {
            raw: true,
            shape: Shape::List,
            source: "x".repeat(20),
            ..prose()
        };
        let text = "Here is it:\nwhich is that";
        assert_eq!(raw.finish(text, StopReason::MaxTokens).text, text);
        assert_eq!(raw.check(&"x".repeat(20), &[]), Ok(()));
        assert_eq!(raw.check("", &[]), Ok(()), "nothing, as it came");
    }
}
