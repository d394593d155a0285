//! The article flow in the editor, as a writer drives it: the real binary in tmux with the real
//! default model. The model's words vary; the tests check where they go, what is left of the
//! outline's notes, the undo steps and the file's bytes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Home, MODEL_WAIT, Tmux, wait_file};

fn start(home: &Home, file: &Path) -> Tmux {
    Tmux::with_model(home, &[], file, 120, 30)
}

/// The outline's notes still in `text` (a section not written yet keeps its note).
fn notes(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with('*') && l.ends_with('*') && l.len() > 2)
        .count()
}

fn headings(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("## ")).count()
}

#[test]
fn outline_write_section_write_article_stop_resume_and_undo() {
    let home = Home::new();
    let file = home.dir.path().join("libraries.md");
    // A short article, so each section is quick: 3 sections of about 40 words.
    let original = "---\nwords: 120\nsections: 3\n---\n# Why Public Libraries Still Matter\n";
    std::fs::write(&file, original).unwrap();
    let tmux = start(&home, &file);
    // The outline, at the end of the draft: accepted as one step.
    tmux.keys(&["C-End", "M-o"]);
    tmux.wait_for_within("Outline", Duration::from_secs(10));
    tmux.wait_for_within(" tokens ", MODEL_WAIT);
    tmux.keys(&["M-Enter"]);
    tmux.wait_for("accepted");
    tmux.keys(&["C-s"]);
    let outlined = wait_file(&file, |t| t.contains("## "));
    let sections = headings(&outlined);
    assert!((2..=3).contains(&sections), "{outlined}");
    assert_eq!(
        notes(&outlined),
        sections,
        "a note under each heading:\n{outlined}"
    );
    assert!(outlined.starts_with(original), "{outlined}");
    // The cursor on the first heading: Ctrl-Home goes to the body's start (the front matter
    // is folded out of the cursor's way), then past the title and a blank line.
    tmux.keys(&["C-Home", "Down", "Down"]);
    tmux.keys(&["M-w"]);
    tmux.wait_for_within("Write section 1 of 1", Duration::from_secs(10));
    tmux.wait_for_within(" tokens ", MODEL_WAIT);
    tmux.keys(&["M-Enter"]);
    tmux.wait_for("accepted");
    tmux.keys(&["C-s"]);
    let one = wait_file(&file, |t| notes(t) == sections - 1);
    // Write article: the empty sections in order; Esc stops after the one being written.
    tmux.keys(&["M-a"]);
    tmux.wait_for_within("section 1 of", Duration::from_secs(10));
    tmux.keys(&["Escape"]);
    tmux.wait_for("stopping after this section");
    tmux.wait_for_within("write article stopped", MODEL_WAIT);
    tmux.keys(&["C-s"]);
    let stopped = wait_file(&file, |t| notes(t) == sections - 2);
    assert_ne!(stopped, one);
    if sections == 3 {
        // Run again: it goes on with the section still empty, and ends.
        tmux.keys(&["M-a"]);
        tmux.wait_for_within("section 1 of 1", Duration::from_secs(10));
        tmux.wait_for_within("write article done", MODEL_WAIT);
        tmux.keys(&["C-s"]);
    }
    let written = wait_file(&file, |t| notes(t) == 0);
    assert_eq!(headings(&written), sections, "{written}");
    assert!(written.starts_with(original), "{written}");
    assert!(!written.contains("<|"), "{written}");
    // Undo takes the last section back to its note, and only that.
    tmux.keys(&["C-z", "C-s"]);
    let undone = wait_file(&file, |t| notes(t) == 1);
    assert_eq!(headings(&undone), sections);
}

#[test]
fn the_brief_form_writes_the_front_matter_and_leaves_the_body_byte_for_byte() {
    let home = Home::new();
    let file = home.dir.path().join("tea.md");
    let body = "# Tea\r\n\r\nBody text, with Chinese: 绿茶。\r\n\r\nMore.\r\n";
    let original =
        format!("---\r\ntitle: Old\r\ndate: 2026-12-06 # kept\r\n# a comment\r\n---\r\n{body}");
    std::fs::write(&file, &original).unwrap();
    let tmux = start(&home, &file);
    tmux.keys(&["M-b"]);
    tmux.wait_for("Brief");
    // Title: its old value out, the new one in; then the audience.
    for _ in 0..3 {
        tmux.keys(&["BSpace"]);
    }
    tmux.type_text("Tea at home");
    tmux.keys(&["Tab"]);
    tmux.type_text("beginners");
    tmux.keys(&["Enter"]);
    tmux.wait_for("front matter");
    // Shown folded to one line, then whole on Alt-Shift-B.
    let screen = tmux.wait_for("▸ brief: Tea at home · for beginners");
    assert!(!screen.contains("# a comment"), "{screen}");
    tmux.keys(&["M-B"]);
    tmux.wait_for("# a comment");
    tmux.keys(&["C-s"]);
    let saved = wait_file(&file, |t| t != original);
    assert_eq!(
        saved,
        format!(
            "---\r\ntitle: Tea at home\r\ndate: 2026-12-06 # kept\r\n# a comment\r\naudience: beginners\r\n---\r\n{body}"
        )
    );
    // One undo step takes it back.
    tmux.keys(&["C-z", "C-s"]);
    wait_file(&file, |t| t == original);
}

#[test]
fn a_front_matter_that_does_not_parse_is_named_with_its_line_and_left_alone() {
    let home = Home::new();
    let file = home.dir.path().join("bad.md");
    let original = "---\ntitle: Tea\nwords: [many\n---\n# Tea\n\nBody.\n";
    std::fs::write(&file, original).unwrap();
    let tmux = start(&home, &file);
    tmux.keys(&["M-b"]);
    tmux.wait_for("Brief");
    tmux.type_text("x");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the front matter is left as it is");
    assert!(screen.contains("front matter, line"), "{screen}");
    // An action still runs, without the brief, and says why.
    tmux.keys(&["C-End", "C-e"]);
    let screen = tmux.wait_for("brief left out: front matter, line");
    assert!(screen.contains("line 4"), "{screen}");
    tmux.keys(&["Escape", "Escape"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
}
