//! What each fuzz target checks, as plain functions of the fuzzer's bytes: the cargo-fuzz
//! targets (fuzz/fuzz_targets) call them under libFuzzer, and tests/fuzz_corpus.rs replays the
//! committed seeds through them in `make test`. A check panics when Quill breaks a promise;
//! input Quill refuses with a message is not a failure.
//!
//! The bytes become structured cases through `arbitrary`, so the fuzzer's mutations map onto
//! edits, cuts and bit flips rather than only onto raw text.

#![allow(dead_code)] // each target uses one check

use std::collections::BTreeMap;
use std::path::PathBuf;

use arbitrary::{Arbitrary, Result, Unstructured};
use quill::document::file::{self, decode, encode};
use quill::document::history::EditKind;
use quill::document::journal::{self, Base, Journal};
use quill::document::{Change, Document, Selection};
use quill::engine::fit::fit_text;
use quill::engine::protocol::{Event, Fit, Part, Prompt, Request};
use quill::engine::stream::TextStream;
use quill::prompt::copy;
use quill::sanitize::{EscapeFilter, is_unsafe_char, strip_controls};
use unicode_segmentation::UnicodeSegmentation;

/// A file of this process's own in the temp folder, reused by every run of a target (a new
/// temp dir per input would be most of the time spent).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quill-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    dir.join(name)
}

fn run(data: &[u8], check: impl FnOnce(&mut Unstructured) -> Result<()>) {
    // Running out of bytes ends a case early; it is not a finding.
    let _ = check(&mut Unstructured::new(data));
}

/// The journal after a crash: raw bytes of any shape are read or refused; a real journal cut
/// anywhere or with a bit flipped gives back a prefix of its edits; an intact one gives back
/// all of them and its snapshot.
pub fn journal(data: &[u8]) {
    run(data, |u| {
        let path = scratch("draft.journal");
        if bool::arbitrary(u)? {
            std::fs::write(&path, u.bytes(u.len())?).unwrap();
            let _ = journal::read(&path);
            return Ok(());
        }
        let base_text = String::arbitrary(u)?;
        let snapshot = Option::<String>::arbitrary(u)?;
        let changes = Vec::<(u16, u8, String)>::arbitrary(u)?
            .into_iter()
            .map(|(start, removed, inserted)| Change {
                start: usize::from(start),
                removed: "x".repeat(usize::from(removed % 8)),
                inserted,
            })
            .collect::<Vec<_>>();
        let mut journal =
            Journal::create(&path, Base::of_text(None, &base_text), snapshot.as_deref()).unwrap();
        for chunk in changes.chunks(3) {
            journal.append(chunk).unwrap();
        }
        drop(journal);
        let whole = std::fs::read(&path).unwrap();
        let cut = u.int_in_range(0..=whole.len())?;
        let mut bytes = whole[..cut].to_vec();
        let flip = Option::<(u32, u8)>::arbitrary(u)?;
        if let Some((at, bit)) = flip
            && !bytes.is_empty()
        {
            let at = at as usize % bytes.len();
            bytes[at] ^= 1 << (bit % 8);
        }
        let intact = bytes == whole;
        std::fs::write(&path, &bytes).unwrap();
        match journal::read(&path).unwrap() {
            Some(recovered) => {
                assert!(recovered.changes.len() <= changes.len());
                assert_eq!(recovered.changes[..], changes[..recovered.changes.len()]);
                if intact {
                    assert_eq!(recovered.changes, changes, "an intact journal lost edits");
                    assert_eq!(recovered.snapshot, snapshot);
                    assert!(recovered.base.matches(&base_text));
                }
            }
            None => assert!(!intact, "an intact journal was not read"),
        }
        Ok(())
    })
}

/// Files: any bytes are opened or refused with a reason; a file that opens is saved back
/// byte for byte through the real save path.
pub fn file(data: &[u8]) {
    let path = scratch("draft.md");
    std::fs::write(&path, data).unwrap();
    match file::load(&path) {
        Ok(loaded) => {
            let (text, format) = decode(String::from_utf8(data.to_vec()).unwrap());
            assert_eq!(loaded.text, text);
            assert_eq!(
                encode(&text, &format),
                data,
                "decode/encode changed the file"
            );
            file::save(&path, &loaded.text, loaded.format).unwrap();
            assert_eq!(
                std::fs::read(&path).unwrap(),
                data,
                "a save changed the file"
            );
        }
        Err(e) => {
            assert!(
                data.contains(&0) || std::str::from_utf8(data).is_err(),
                "refused a text file: {e}"
            );
            assert!(!e.to_string().is_empty());
        }
    }
}

/// Model output: token bytes of any shape, split anywhere, become the same safe text as the
/// whole; nothing unsafe reaches the screen, whether or not stop strings are set.
pub fn stream(data: &[u8]) {
    run(data, |u| {
        let stops = Vec::<String>::arbitrary(u)?;
        let pieces = Vec::<Vec<u8>>::arbitrary(u)?;
        let mut whole = TextStream::new(&stops);
        let mut split = TextStream::new(&stops);
        let (mut a, mut b) = (String::new(), String::new());
        let mut stopped = (false, false);
        let all: Vec<u8> = pieces.concat();
        for piece in &pieces {
            let step = split.push(piece);
            b.push_str(&step.text);
            stopped.1 |= step.stopped;
        }
        let step = split.finish();
        b.push_str(&step.text);
        stopped.1 |= step.stopped;
        let step = whole.push(&all);
        a.push_str(&step.text);
        stopped.0 |= step.stopped;
        let step = whole.finish();
        a.push_str(&step.text);
        stopped.0 |= step.stopped;
        assert!(!b.chars().any(is_unsafe_char), "{b:?}");
        assert_eq!(
            a, b,
            "the text depends on how the tokens were split: stops {stops:?}, pieces {pieces:?}"
        );
        assert_eq!(stopped.0, stopped.1);
        if stops.is_empty() {
            assert!(!stopped.0);
        }
        Ok(())
    })
}

/// The sanitiser's promises over any text: no control or bidi character out, idempotent, and
/// the same whether the text comes whole or in pieces.
pub fn sanitize(data: &[u8]) {
    run(data, sanitize_case)
}

fn sanitize_case(u: &mut Unstructured) -> Result<()> {
    let text = String::arbitrary(u)?;
    let clean = strip_controls(&text).into_owned();
    assert!(!clean.chars().any(is_unsafe_char), "{clean:?}");
    assert_eq!(strip_controls(&clean), clean);
    let mut filter = EscapeFilter::default();
    let mut streamed = String::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        // At least one byte a piece, also once the fuzzer's bytes run out.
        let mut at = u.int_in_range(1..=rest.len()).unwrap_or(rest.len());
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        filter.push(&rest[..at], &mut streamed);
        rest = &rest[at..];
    }
    assert_eq!(streamed, clean);
    Ok(())
}

/// The writer's text fitted to a budget stays within it, keeps its side, and keeps as much
/// as fits when counted in characters.
pub fn fit(data: &[u8]) {
    run(data, |u| {
        let text = String::arbitrary(u)?;
        let budget = usize::from(u16::arbitrary(u)? % 512);
        let keep_end = bool::arbitrary(u)?;
        let fit = if keep_end {
            Fit::KeepEnd
        } else {
            Fit::KeepStart
        };
        let mut count = |s: &str| s.chars().count();
        let kept = fit_text(&text, fit, budget, &mut count);
        assert!(kept.chars().count() <= budget, "{kept:?}");
        if keep_end {
            assert!(text.ends_with(kept));
        } else {
            assert!(text.starts_with(kept));
        }
        if text.chars().count() <= budget {
            assert_eq!(kept, text, "text within its budget was cut");
        }
        Ok(())
    })
}

/// Marketing copy: never longer than `max_chars`, and a cut falls on a word boundary.
pub fn copy(data: &[u8]) {
    run(data, |u| {
        let text = String::arbitrary(u)?;
        let prefill = String::arbitrary(u)?;
        let max = usize::from(u8::arbitrary(u)?).max(1);
        let finished = copy::finish(&text, &prefill, Some(max));
        assert!(finished.chars().count() <= max, "{finished:?}");
        let cut = copy::cut_to_chars(&text, max);
        assert!(cut.chars().count() <= max, "{cut:?}");
        let trimmed = text.trim();
        assert!(
            trimmed.starts_with(&cut),
            "{cut:?} is not where {trimmed:?} starts"
        );
        let boundary = cut.is_empty()
            || cut.len() == trimmed.len()
            || trimmed
                .split_word_bound_indices()
                .any(|(at, piece)| at + piece.len() == cut.len());
        assert!(
            boundary,
            "cut mid-word: {cut:?} | {:?}",
            &trimmed[cut.len()..]
        );
        Ok(())
    })
}

/// Config, theme, prompt-template and template-field text of any shape loads or is refused
/// with a message naming the file; nothing panics, and a template renders or says why.
pub fn config(data: &[u8]) {
    // The bytes are the file as it is on disk, so real config, theme and template files seed it.
    let text = String::from_utf8_lossy(data).into_owned();
    let fields: BTreeMap<String, String> = [
        ("product".to_string(), "Quill 写作".to_string()),
        ("audience".to_string(), text.chars().take(40).collect()),
    ]
    .into();
    {
        let dir = scratch("config");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, &text).unwrap();
        let (config, warning) = quill::config::Config::load(&path);
        if let Some(warning) = warning {
            assert!(warning.0.contains("config.toml"), "{}", warning.0);
        }
        let _ = config.keymaps();
        let _ = config.sampling();
        let themes = quill::ui::theme::ThemeLibrary::load(Some(&dir));
        for name in themes.names() {
            let _ = themes.get(&name);
        }
        let (_, warnings) = quill::prompt::PromptLibrary::load(Some(&dir));
        for warning in warnings {
            assert!(warning.contains("config.toml"), "{warning}");
        }
        let _ = quill::prompt::PromptTemplate::parse("fuzz", &text);
        let _ = quill::prompt::template::placeholders(&text);
        let _ = quill::prompt::template::render_plain(&text, &fields);
    }
}

/// Key names from the config parse or are refused; one that parses names itself back.
pub fn keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Some(key) = quill::keymap::Key::parse(line) {
            let name = key.name();
            assert_eq!(quill::keymap::Key::parse(&name), Some(key), "{name}");
        }
        if let Some(action) = quill::keymap::Action::parse(line) {
            assert_eq!(quill::keymap::Action::parse(&action.name()), Some(action));
        }
        let _ = quill::keymap::Mode::from_name(line);
    }
}

/// The worker protocol: any line is read or refused; a request with any text is one line and
/// reads back as itself.
pub fn protocol(data: &[u8]) {
    let _ = serde_json::from_slice::<Event>(data);
    let _ = serde_json::from_slice::<Request>(data);
    let text = String::from_utf8_lossy(data).into_owned();
    let request = Request::Generate {
        job: 7,
        prompt: Prompt::Completion {
            parts: vec![Part::fixed(text)],
        },
        sampling: Default::default(),
        options: Default::default(),
    };
    let line = request.to_line().unwrap();
    assert!(!line.contains('\n'));
    assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);
}

#[derive(Arbitrary, Debug)]
enum Op {
    Type(String),
    Paste(String),
    Move(u16, bool),
    SelectAll,
    Backspace,
    Delete,
    DeleteWord,
    Replace(u16, u16, String),
    Undo,
    Redo,
    Journal,
}

/// The document model under any sequence of edits: the journal's changes rebuild the text,
/// the word count is exact, undo goes back to the start and redo to the end.
pub fn document(data: &[u8]) {
    run(data, |u| {
        let original = String::arbitrary(u)?;
        let mut doc = Document::from_text(&original);
        let mut journaled = Document::from_text(&original);
        let mut steps = 0;
        while !u.is_empty() && steps < 64 {
            steps += 1;
            match Op::arbitrary(u)? {
                Op::Type(text) => doc.insert(&text, EditKind::Typing),
                Op::Paste(text) => doc.insert(&text, EditKind::Other),
                Op::Move(at, extend) => doc.move_to(usize::from(at), extend),
                Op::SelectAll => doc.select(Selection {
                    anchor: 0,
                    head: doc.len_chars(),
                }),
                Op::Backspace => doc.delete_backward(),
                Op::Delete => doc.delete_forward(),
                Op::DeleteWord => doc.delete_word_backward(),
                Op::Replace(a, b, text) => {
                    let (a, b) = (usize::from(a.min(b)), usize::from(a.max(b)));
                    doc.replace(a, b, &text)
                }
                Op::Undo => {
                    doc.undo();
                }
                Op::Redo => {
                    doc.redo();
                }
                Op::Journal => {
                    let changes = doc.take_unjournaled();
                    if !changes.is_empty() {
                        assert!(journaled.replay(&changes), "journaled changes did not fit");
                    }
                }
            }
            let s = doc.selection();
            assert!(s.anchor <= doc.len_chars() && s.head <= doc.len_chars());
            assert_eq!(
                doc.word_count(),
                Document::from_text(&doc.text()).word_count()
            );
        }
        let mut journal = |doc: &mut Document| {
            let changes = doc.take_unjournaled();
            if !changes.is_empty() {
                assert!(journaled.replay(&changes), "journaled changes did not fit");
            }
            assert_eq!(
                journaled.text(),
                doc.text(),
                "the journal does not rebuild the text"
            );
        };
        journal(&mut doc);
        // The last steps may have been undos: redo first, to the newest state there is.
        while doc.redo() {}
        journal(&mut doc);
        let newest = doc.text();
        while doc.undo() {}
        assert_eq!(doc.text(), original, "undo did not go back to the start");
        assert!(!doc.is_modified());
        journal(&mut doc);
        while doc.redo() {}
        assert_eq!(
            doc.text(),
            newest,
            "redo did not come back to the newest state"
        );
        Ok(())
    })
}

/// The first 8 KB of a model file: its magic number, version and the metadata that begins it,
/// no weights. What the `model_header` target starts from.
pub fn model_head(model: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(model)
        .and_then(|f| f.take(8192).read_to_end(&mut head))
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    head
}

/// A model file of any shape: checked, listed or turned into a tokenizer, or refused with a
/// reason; never a crash, never an allocation the size a corrupt length field asks for.
pub fn model_header(data: &[u8]) {
    let path = scratch("model.gguf");
    std::fs::write(&path, data).unwrap();
    let _ = quill::engine::model_file::check(&path);
    let facts = quill::models::inspect(&path);
    if let Some(problem) = &facts.problem {
        assert!(!problem.is_empty());
    }
    let _ = quill::models::tokenizer::tokenizer_json(&path);
}
