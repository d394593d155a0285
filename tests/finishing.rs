//! What the writer gets from the headless commands is finished text (issue: "text the writer
//! can use as it comes"): the real binary, the real default model, pinned seeds.

mod common;

use common::{CHINESE, ENGLISH, Home, stderr, stdout};

/// Letters and digits only, lower case: how answers are compared for sameness.
fn key(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn variants(text: &str) -> Vec<String> {
    text.split("--- variant ")
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.split_once("---\n")
                .map_or(v, |(_, body)| body)
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn a_continuation_cut_by_the_token_limit_ends_at_a_sentence_and_says_so() {
    let home = Home::new();
    let mut cut = 0;
    for seed in ["1", "2", "3"] {
        let args = ["continue", "--max-tokens", "40", "--seed", seed];
        let output = home.run(&args, ENGLISH);
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        let text = text.trim_end();
        let err = stderr(&output);
        let ends = text.ends_with(['.', '!', '?', '"', '”', ')']);
        assert!(
            ends || err.contains("mid-sentence"),
            "seed {seed}: ends mid-sentence without a word on stderr: {text:?} / {err}"
        );
        if err.contains("ended at the last full sentence") {
            cut += 1;
        }
        // The raw text is still there for who asks.
        let raw = home.run(&[&args[..], &["--raw"]].concat(), ENGLISH);
        assert!(
            stdout(&raw).trim().len() >= text.len(),
            "raw is never shorter"
        );
    }
    assert!(
        cut > 0,
        "40 tokens always run past a sentence end on some seed"
    );
}

#[test]
fn bullets_are_a_list_and_variants_are_distinct_and_not_the_passage() {
    let home = Home::new();
    // Recorded: 3 of 3 variants were the paragraph itself, no bullets.
    let output = home.run(
        &[
            "summarise",
            "--style",
            "bullets",
            "--variants",
            "3",
            "--seed",
            "5",
            "--max-tokens",
            "120",
        ],
        ENGLISH,
    );
    let kept = variants(&stdout(&output));
    if kept.is_empty() {
        // The small model can fail every try; then it must say so and fail.
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        assert!(stderr(&output).contains("0 of 3 variants kept"));
        return;
    }
    assert!(output.status.success(), "{}", stderr(&output));
    for (i, v) in kept.iter().enumerate() {
        for line in v.lines() {
            assert!(line.starts_with("- "), "variant {i}: not a list: {v}");
        }
        assert_ne!(key(v), key(ENGLISH), "variant {i} is the passage");
        assert!(
            v.chars().count() < ENGLISH.chars().count(),
            "not shorter: {v}"
        );
        for other in &kept[..i] {
            assert_ne!(key(v), key(other), "two variants are the same");
        }
    }
    if kept.len() < 3 {
        assert!(
            stderr(&output).contains("dropped and asked again"),
            "fewer variants, and not a word why: {}",
            stderr(&output)
        );
    }
}

/// The share of letters in `text` that are CJK ideographs.
fn han_share(text: &str) -> f64 {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let han = letters
        .iter()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(*c))
        .count();
    han as f64 / letters.len().max(1) as f64
}

#[test]
fn a_chinese_passage_gets_a_chinese_answer() {
    // Recorded: "Based on the content of this article, I can provide you with a summary…".
    let home = Home::new();
    let mut chinese = 0;
    for seed in ["1", "2", "3"] {
        let output = home.run(
            &[
                "summarise",
                "--style",
                "tldr",
                "--seed",
                seed,
                "--max-tokens",
                "96",
            ],
            CHINESE,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        if han_share(&text) > 0.5 {
            chinese += 1;
        }
    }
    assert!(
        chinese >= 2,
        "most answers to a Chinese passage are Chinese"
    );
    // `--language` over detection is checked in `plan`'s tests: this model answers a Chinese
    // passage in Chinese whatever it is told.
}

/// Recorded: `quill summarise` on the 42 KB seed article read 17% of it and said nothing.
/// A text longer than the context is summarised whole, part by part, with progress, and the
/// stats say all of it was read. (A small context stands in for a long article here.)
#[test]
fn a_text_longer_than_the_context_is_summarised_whole_in_parts() {
    let home = Home::new();
    let article = [CHINESE; 4].join("\n\n");
    let output = home.run(
        &[
            "summarise",
            "--style",
            "tldr",
            "--ctx-size",
            "1024",
            "--max-tokens",
            "48",
            "--seed",
            "1",
            "--stats",
        ],
        &article,
    );
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("summarising part 1 of "), "{err}");
    let stats: serde_json::Value = serde_json::from_str(
        err.lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("a stats line"),
    )
    .unwrap();
    let parts = &stats["parts"];
    let count = parts["count"].as_u64().expect("parts in the stats");
    assert!(count >= 2, "{stats}");
    assert!(err.contains(&format!("part {count} of {count}")), "{err}");
    assert_eq!(parts["dropped_tokens"].as_u64(), Some(0), "{stats}");
    assert!(err.contains("all of the text was read"), "{err}");
    assert!(!stdout(&output).trim().is_empty());
}

/// The passage of the report that opened issue 25: a grammar fix printed only "Here's a
/// revised version with improved grammar and style:".
const FLAWED: &str = "Their is many reason why a writer should keeps a journal, and most of them \
    is about practise. When you writes every day, the words comes easier.";

#[test]
fn a_grammar_fix_gives_the_passage_corrected_never_a_lead_in() {
    let home = Home::new();
    let errors = ["Their is", "should keeps", "you writes", "words comes"];
    for seed in ["1", "2", "3"] {
        let output = home.run(&["run", "rewrite-grammar", "--seed", seed], FLAWED);
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        let text = text.trim();
        assert!(
            !quill::prompt::finish::is_lead_in_only(text, FLAWED) && text.len() > 40,
            "seed {seed}: {text:?}"
        );
        // The answer begins as the passage does and fixes some of its errors.
        assert!(
            text.starts_with("Their") || text.starts_with("There"),
            "{text}"
        );
        let fixed = errors.iter().filter(|e| !text.contains(*e)).count();
        assert!(fixed >= 2, "seed {seed}: only {fixed} errors fixed: {text}");
        // Asked a sentence at a time, as the prompt says.
        assert!(
            stderr(&output).contains("corrected a sentence at a time (2 sentences)"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn summaries_are_shorter_than_half_and_bullets_start_as_a_list() {
    let home = Home::new();
    for seed in ["1", "2"] {
        let output = home.run(&["summarise", "--seed", seed], ENGLISH);
        let text = stdout(&output);
        let err = stderr(&output);
        // Either a summary at most half as long, or a plain "no usable answer": never a
        // lead-in alone.
        if output.status.success() {
            assert!(
                text.trim().chars().count() * 2 <= ENGLISH.trim().chars().count(),
                "{text}"
            );
            assert!(
                !quill::prompt::finish::is_lead_in_only(text.trim(), ENGLISH),
                "{text}"
            );
        } else {
            assert!(err.contains("no usable answer"), "{err}");
        }
    }
}

/// The bullets' grammar holds the list to three or four points of one line; for Chinese, the
/// points are the passage's own, in its order, each once. A grammar that does not parse is
/// an error that says where to fix it, not a crash.
#[test]
fn bullets_follow_their_grammar_and_a_broken_grammar_is_reported() {
    let home = Home::new();
    for seed in ["1", "2"] {
        let output = home.run(
            &["summarise", "--style", "bullets", "--seed", seed],
            CHINESE,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        let items: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!((3..=4).contains(&items.len()), "seed {seed}: {text}");
        let mut from = 0;
        for item in &items {
            let point = item.strip_prefix("- ").expect("a bullet");
            let at = CHINESE[from..].find(point);
            assert!(
                at.is_some(),
                "seed {seed}: {point:?} is not the passage's, after the last: {text}"
            );
            from += at.unwrap_or(0) + point.len();
        }
    }
    let templates = home.dir.path().join("config/quill/templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("summarise-bullets.toml"),
        "name = \"Broken\"\naction = \"summarise\"\ntemplate = \"{{ selection }}\"\n\
         [sampling]\ngrammar = \"root ::= (\"\n",
    )
    .unwrap();
    let output = home.run(&["summarise", "--style", "bullets"], ENGLISH);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("grammar"), "{}", stderr(&output));
}

/// Recorded with the default model: an email on one line came back "Hi Sarah," alone (the
/// model broke the line after the greeting and a stop at the break ended the answer), and
/// later as a new email of its own.
#[test]
fn a_one_line_email_is_fixed_whole_and_not_rewritten() {
    let home = Home::new();
    let email = "Hi Sarah, thank you for sending draft of the quarterly report so quickly. I \
        have read through it and the figures looks correct to me. Could you add a short section \
        on the delays we had with the new supplier? Let me know if you need any help before \
        Friday. Best regards, David";
    let output = home.run(&["run", "rewrite-grammar"], email);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let text = text.trim();
    assert!(!text.contains('\n'), "one line in, one line out: {text:?}");
    // The writer's sentences are all there, whatever the model rewrote.
    for kept in ["quarterly report", "new supplier", "before Friday", "David"] {
        assert!(text.contains(kept), "{kept:?} lost: {text:?}");
    }
}

/// Recorded: after "... this winter. " the default model wrote dates ("2018-05-22 20:30:00"),
/// or a line break and the end, where a writer's ghost text or continuation should be words.
#[test]
fn a_continuation_after_a_sentence_and_a_space_is_words() {
    let home = Home::new();
    let passage = "Researchers at the coastal marine station have recorded the highest number \
        of sea turtle nests in a decade. The station plans to publish its full data in a local \
        report this winter. ";
    let output = home.run(
        &["continue", "--temperature", "0", "--max-tokens", "16"],
        passage,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    assert!(letters >= 10, "words, not numbers or nothing: {text:?}");
}

/// Recorded with the default model: persuasive and friendly rewrites that kept under 40 % of
/// the passage's content words (a new paragraph on another subject) were shown as answers.
#[test]
fn a_rewrite_that_lost_the_passage_is_refused_and_asked_again() {
    let home = Home::new();
    let templates = home.dir.path().join("config/quill/templates");
    std::fs::create_dir_all(&templates).unwrap();
    // The built-in prompt with a floor no rewrite can meet: every try is refused.
    let built_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/prompts/rewrite-persuasive.toml"
    ))
    .unwrap();
    let strict = built_in.replace("min_kept = 0.4", "min_kept = 1.0");
    assert_ne!(strict, built_in, "the built-in prompt sets min_kept");
    std::fs::write(templates.join("rewrite-persuasive.toml"), strict).unwrap();
    let args = ["rewrite", "--style", "persuasive", "--seed", "4"];
    let output = home.run(&args, ENGLISH);
    let err = stderr(&output);
    // Three tries refused: the least bad is given, and stderr says what is wrong with it.
    assert!(output.status.success(), "{err}");
    assert!(err.contains("3 dropped"), "{err}");
    assert!(
        err.contains("the passage's meaning lost") && err.contains("check it"),
        "{err}"
    );
    assert!(!stdout(&output).trim().is_empty());
    // With the built-in floor an answer shown unmarked keeps the passage's subject.
    std::fs::remove_file(templates.join("rewrite-persuasive.toml")).unwrap();
    let words = |t: &str| -> std::collections::BTreeSet<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 6)
            .map(|w| w.to_lowercase().chars().take(5).collect())
            .collect()
    };
    let mut shown = 0;
    for seed in ["1", "2", "3"] {
        let output = home.run(
            &["rewrite", "--style", "persuasive", "--seed", seed],
            ENGLISH,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        if stderr(&output).contains("check it") {
            continue;
        }
        shown += 1;
        let (passage, answer) = (words(ENGLISH), words(&stdout(&output)));
        let kept = passage.intersection(&answer).count();
        assert!(
            kept * 4 >= passage.len(),
            "seed {seed}: kept {kept} of {} long words: {}",
            passage.len(),
            stdout(&output)
        );
    }
    assert!(shown > 0, "no seed gave a faithful rewrite");
}
