//! Prompt-lookup decoding end to end with the real model.
//!
//! Exactness: every built-in prompt gives the same text with drafting on as with it off, greedy
//! and sampled with a seed, in English and Chinese, variants included. It is checked on a
//! build whose llama.cpp leaves out llamafile's batched matrix kernels (`make test` builds it
//! in target/exact with GGML_LLAMAFILE=OFF and passes it as QUILL_EXACT_QUILL): with them,
//! llama.cpp computes a batch of two or more tokens with other kernels than a single token, so
//! the scores of a checked draft differ from a one-token decode's in their last bits, and a
//! near tie can go the other way, as it does for variants side by side. That build keeps
//! every decode on the same kernels, and what is left to differ is Quill's own doing.
//!
//! The shipped build: drafts happen and hold where the answer copies its input, in the
//! headless commands and in the editor.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{
    CHINESE, ENGLISH, Home, MODEL_THREADS, MODEL_WAIT, Tmux, stats, stderr, stdout, wait_file,
};

/// A home whose config turns drafting on or off.
fn home(lookup: bool) -> Home {
    let home = Home::new();
    std::fs::write(
        home.dir.path().join("config/quill/config.toml"),
        format!(
            "[engine]\nthreads = {MODEL_THREADS}\nflash_attention = \"off\"\n\
             prompt_lookup = {lookup}\n\n[sampling]\nseed = 7\n"
        ),
    )
    .unwrap();
    home
}

/// The build with batch-invariant kernels, or None (after saying so) where there is none.
fn exact_quill() -> Option<PathBuf> {
    match std::env::var_os("QUILL_EXACT_QUILL") {
        Some(path) if PathBuf::from(&path).exists() => Some(PathBuf::from(path)),
        _ => {
            common::precondition_missing(
                "QUILL_EXACT_QUILL names no binary: `make test` builds target/exact with \
                 GGML_LLAMAFILE=OFF and sets it",
            );
            None
        }
    }
}

/// Runs `binary` (the exact build, or the shipped one) in `home` with `args` on `input`.
fn run(binary: &Path, home: &Home, args: &[&str], input: &str) -> Output {
    let mut command = home.command_for(binary);
    command.args(args).arg("--model").arg(common::model());
    home.output_with_input(command, input)
}

/// `action` on `input` with drafting off, then on: their outputs, which end alike (an answer
/// the checks refuse every time is refused both ways).
fn both(binary: &Path, action: &[&str], input: &str) -> (Output, Output) {
    let mut args: Vec<&str> = action.to_vec();
    args.extend(["--max-tokens", "96", "--stats"]);
    let plain = run(binary, &home(false), &args, input);
    let lookup = run(binary, &home(true), &args, input);
    assert_eq!(
        plain.status.code(),
        lookup.status.code(),
        "{args:?}: {}\n{}",
        stderr(&plain),
        stderr(&lookup)
    );
    (plain, lookup)
}

const PROMPTS: [&str; 8] = [
    "continue",
    "rewrite-concise",
    "rewrite-formal",
    "rewrite-friendly",
    "rewrite-grammar",
    "summarise-tldr",
    "summarise-bullets",
    "expand",
];

#[test]
fn greedy_answers_are_token_for_token_the_same_with_drafting() {
    let Some(quill) = exact_quill() else { return };
    let mut drafted = 0;
    let mut held = 0;
    let mut answered = 0;
    for prompt in PROMPTS {
        for (language, input) in [("English", ENGLISH), ("Chinese", CHINESE)] {
            let action = ["run", prompt, "--temperature", "0", "--seed", "3"];
            let (plain, lookup) = both(&quill, &action, input);
            assert_eq!(
                stdout(&lookup),
                stdout(&plain),
                "{prompt} on the {language} passage"
            );
            if !plain.status.success() {
                continue;
            }
            answered += 1;
            let (p, l) = (stats(&plain), stats(&lookup));
            assert_eq!(p["drafted"], 0, "drafting off drafts nothing: {p}");
            drafted += l["drafted"].as_u64().unwrap();
            held += l["accepted"].as_u64().unwrap();
        }
    }
    assert!(answered >= 12, "only {answered} answers of 16");
    // The comparison is only worth something if drafts were checked, and many held.
    assert!(drafted > 100 && held * 2 > drafted, "{held} of {drafted}");
}

#[test]
fn sampled_answers_and_variants_with_a_seed_are_the_same_with_drafting() {
    let Some(quill) = exact_quill() else { return };
    for (prompt, input) in [
        ("rewrite-concise", ENGLISH),
        ("rewrite-grammar", CHINESE),
        ("continue", ENGLISH),
    ] {
        let action = ["run", prompt, "--temperature", "0.8", "--seed", "11"];
        let (plain, lookup) = both(&quill, &action, input);
        assert_eq!(stdout(&lookup), stdout(&plain), "{prompt}");
    }
    // Three variants side by side, each drafting from its own text.
    let action = [
        "run",
        "rewrite-grammar",
        "--temperature",
        "0.8",
        "--seed",
        "5",
        "--variants",
        "3",
    ];
    let (plain, lookup) = both(&quill, &action, ENGLISH);
    assert_eq!(stdout(&lookup), stdout(&plain));
    let variants = stats(&lookup)["variants"].as_array().unwrap().clone();
    assert!(
        variants.iter().any(|v| v["drafted"].as_u64().unwrap() > 0),
        "{variants:?}"
    );
}

#[test]
fn the_shipped_build_drafts_where_the_answer_copies_its_input() {
    let quill = PathBuf::from(common::QUILL);
    let action = [
        "run",
        "rewrite-grammar",
        "--temperature",
        "0",
        "--max-tokens",
        "96",
        "--stats",
    ];
    let output = run(&quill, &home(true), &action, ENGLISH);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).trim().is_empty());
    let s = stats(&output);
    let (drafted, held) = (
        s["drafted"].as_u64().unwrap(),
        s["accepted"].as_u64().unwrap(),
    );
    assert!(drafted > 20 && held * 2 > drafted, "{s}");
    assert!(s["tokens_per_decode"].as_f64().unwrap() > 1.5, "{s}");
    // Off, it decodes a token at a time.
    let plain = run(&quill, &home(false), &action, ENGLISH);
    let plain = stats(&plain);
    assert_eq!(plain["drafted"], 0);
    let per_decode = plain["tokens_per_decode"].as_f64().unwrap();
    assert!(per_decode > 0.9 && per_decode <= 1.0, "{plain}");
}

#[test]
fn the_editor_rewrites_with_drafting_and_stops_at_once_on_esc() {
    let home = home(true);
    let file = home.dir.path().join("draft.md");
    std::fs::write(&file, format!("{ENGLISH}\n")).unwrap();
    let tmux = Tmux::with_model(&home, &[], &file, 100, 24);
    // The whole draft rewritten (variants streamed side by side), the first accepted.
    tmux.keys(&["C-a", "C-r"]);
    tmux.wait_for_within(" tokens ", MODEL_WAIT);
    tmux.keys(&["M-Enter"]);
    tmux.wait_for("accepted");
    tmux.keys(&["C-s"]);
    let saved = wait_file(&file, |t| t != format!("{ENGLISH}\n"));
    assert!(saved.split_whitespace().count() > 10, "{saved}");
    // A continuation stopped as it streams: Esc ends it and the draft is as it was.
    tmux.keys(&["C-End", "C-e"]);
    tmux.wait_for_within("Continue", Duration::from_secs(10));
    tmux.keys(&["Escape"]);
    tmux.wait_for_within("cancelled", Duration::from_secs(10));
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_gone("Continue ·");
    assert!(!screen.contains("[+]"), "the draft changed:\n{screen}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), saved);
}
