//! Properties over generated inputs (proptest): the parts that read what Quill does not
//! control (journals after a crash, files, model text, config and templates, keys, protocol
//! lines) never panic and keep their promises for any input, not only the examples in the
//! unit tests.

use std::collections::BTreeMap;

use proptest::prelude::*;
use quill::document::Change;
use quill::document::file::{decode, encode};
use quill::document::journal::{self, Base, Journal};
use quill::engine::fit::fit_text;
use quill::engine::protocol::{Event, Fit, Request};
use quill::prompt::copy;
use quill::sanitize::{EscapeFilter, is_unsafe_char, strip_controls};

/// Text with what model output and files hold: ASCII, CJK, emoji, combining marks, line
/// breaks, and now and then an escape sequence or a control character.
fn messy_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z ,.!?'\n]{1,8}",
            2 => "[中文字。，！？]{1,4}",
            1 => Just("😀".to_string()),
            1 => Just("e\u{301}".to_string()),
            1 => Just("\u{1b}]0;title\u{7}".to_string()),
            1 => Just("\u{1b}[2J".to_string()),
            1 => Just("\u{9b}31m".to_string()),
            1 => Just("\u{1b}P+q\u{1b}\\".to_string()),
            1 => "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{202a}-\u{202e}]",
        ],
        0..24,
    )
    .prop_map(|pieces| pieces.concat())
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    proptest::collection::vec(("[a-z中 ]{0,6}", 0usize..4), 1..12).prop_map(|edits| {
        // Each change applies to the text the ones before it left: typing at the end,
        // sometimes replacing what the last one typed.
        let mut len = 0;
        edits
            .into_iter()
            .map(|(inserted, take)| {
                let removed_len = take.min(len);
                let start = len - removed_len;
                let change = Change {
                    start,
                    removed: "x".repeat(removed_len),
                    inserted: inserted.clone(),
                };
                len = start + inserted.chars().count();
                change
            })
            .collect()
    })
}

/// Cases per property: 256 in `make test`, many more in `make soak` (`QUILL_PROPERTY_CASES`).
fn cases() -> u32 {
    std::env::var("QUILL_PROPERTY_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// A journal cut anywhere (a crash mid-write) or with any bit flipped (a bad sector)
    /// gives back a prefix of its edits, never a panic, never an edit it did not hold.
    #[test]
    fn a_torn_or_corrupt_journal_recovers_a_prefix_of_its_edits(
        changes in changes(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        flipped in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("draft.journal");
        let mut journal = Journal::create(&path, Base::of_text(None, ""), None).unwrap();
        for change in &changes {
            journal.append(std::slice::from_ref(change)).unwrap();
        }
        drop(journal);
        let whole = std::fs::read(&path).unwrap();
        let mut bytes = whole[..cut.index(whole.len() + 1)].to_vec();
        if flipped && !bytes.is_empty() {
            let at = flip.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Some(recovered) = journal::read(&path).unwrap() {
            prop_assert!(recovered.changes.len() <= changes.len());
            prop_assert_eq!(&recovered.changes[..], &changes[..recovered.changes.len()]);
        }
    }

    /// Any UTF-8 file made of lines ending in LF or CRLF (mixed or not), with or without a
    /// BOM and a final line break, is written back byte for byte.
    #[test]
    fn files_round_trip_byte_for_byte(
        bom in any::<bool>(),
        lines in proptest::collection::vec(("[a-z 中😀\t]{0,10}", any::<bool>()), 0..20),
        last in "[a-z中]{0,5}",
    ) {
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        for (line, crlf) in &lines {
            text.push_str(line);
            text.push_str(if *crlf { "\r\n" } else { "\n" });
        }
        text.push_str(&last);
        let (decoded, format) = decode(text.clone());
        prop_assert!(!decoded.contains('\r'));
        prop_assert_eq!(encode(&decoded, &format), text.into_bytes());
    }

    /// Nothing unsafe comes out of the sanitiser, whole sequences go, it changes nothing
    /// twice, and a stream cut anywhere gives what the whole text gives.
    #[test]
    fn the_sanitiser_leaves_no_control_and_is_the_same_in_pieces(
        text in messy_text(),
        cut in any::<prop::sample::Index>(),
    ) {
        let clean = strip_controls(&text).into_owned();
        prop_assert!(!clean.chars().any(is_unsafe_char), "{:?}", clean);
        prop_assert!(!clean.contains("title") && !clean.contains("[2J") && !clean.contains("31m"));
        prop_assert_eq!(strip_controls(&clean).into_owned(), clean.clone());
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let at = boundaries[cut.index(boundaries.len())];
        let mut filter = EscapeFilter::default();
        let mut streamed = String::new();
        filter.push(&text[..at], &mut streamed);
        filter.push(&text[at..], &mut streamed);
        prop_assert_eq!(streamed, clean);
    }

    /// The writer's text fitted to a budget never exceeds it and keeps the side it should.
    #[test]
    fn fitted_text_stays_within_its_budget_and_keeps_its_side(
        text in "[a-z 中。.\n]{0,200}",
        budget in 0usize..80,
        keep_end in any::<bool>(),
    ) {
        let fit = if keep_end { Fit::KeepEnd } else { Fit::KeepStart };
        let mut count = |s: &str| s.chars().count();
        let kept = fit_text(&text, fit, budget, &mut count);
        prop_assert!(kept.chars().count() <= budget, "{:?}", kept);
        if keep_end {
            prop_assert!(text.ends_with(kept));
        } else {
            prop_assert!(text.starts_with(kept));
        }
    }

    /// Marketing copy never exceeds `max_chars`, and a cut never splits a word.
    #[test]
    fn copy_is_never_longer_than_its_limit_nor_cut_mid_word(
        text in "[A-Za-z ,.!]{0,120}",
        max in 1usize..60,
    ) {
        let finished = copy::finish(&text, "", Some(max));
        prop_assert!(finished.chars().count() <= max, "{:?}", finished);
        let cut = copy::cut_to_chars(&text, max);
        prop_assert!(cut.chars().count() <= max);
        if !cut.is_empty() && cut.len() < text.trim().len() {
            // What follows the cut in the text is not the rest of a word.
            let trimmed = text.trim();
            prop_assert!(trimmed.starts_with(&cut));
            let next = trimmed[cut.len()..].chars().next();
            let last = cut.chars().last();
            prop_assert!(
                !(next.is_some_and(char::is_alphanumeric) && last.is_some_and(char::is_alphanumeric)),
                "cut mid-word: {:?} | {:?}", cut, &trimmed[cut.len()..]
            );
        }
    }

    /// Config, prompt and template text of any shape is refused with a message, never a
    /// panic, and a template renders or says why.
    #[test]
    fn config_prompts_and_templates_never_panic(text in "[\\[\\]a-z_=\"{}%# .\n0-9-]{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let _ = quill::config::Config::load(&path);
        let _ = quill::prompt::PromptTemplate::parse("fuzz", &text);
        let fields: BTreeMap<String, String> = [("name".to_string(), "中文".to_string())].into();
        let _ = quill::prompt::template::render_plain(&text, &fields);
        let _ = quill::prompt::template::placeholders(&text);
    }

    /// Any key name parses or is refused; one that parses names itself back the same.
    #[test]
    fn key_names_parse_and_name_themselves_back(text in "(C-|A-|S-){0,3}([a-zA-Z0-9]|F[0-9]{1,2}|Enter|Esc|Tab|Left|Home|PageUp|Backspace|[^ ]{1,3})") {
        if let Some(key) = quill::keymap::Key::parse(&text) {
            let name = key.name();
            prop_assert_eq!(quill::keymap::Key::parse(&name), Some(key), "{}", name);
        }
    }

    /// A line of the worker protocol, whole or broken, is read or refused, never a panic.
    #[test]
    fn protocol_lines_are_read_or_refused(text in messy_text(), cut in any::<prop::sample::Index>()) {
        let line = Request::Generate {
            job: 1,
            prompt: quill::engine::protocol::Prompt::Completion {
                parts: vec![quill::engine::protocol::Part::fixed(text.clone())],
            },
            sampling: Default::default(),
            options: Default::default(),
        }
        .to_line()
        .unwrap();
        prop_assert!(!line.contains('\n'));
        prop_assert!(serde_json::from_str::<Request>(&line).is_ok());
        let boundaries: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
        let at = boundaries[cut.index(boundaries.len())];
        let _ = serde_json::from_str::<Request>(&line[..at]);
        let _ = serde_json::from_str::<Event>(&text);
    }
}
