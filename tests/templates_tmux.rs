//! Templates in the editor, end to end: the real binary in tmux with the real default model.
//! Fill the tagline's form, accept a variant into the draft, save the form as a preset and run
//! it headless; turn a selection into a template, edit it in $EDITOR and delete it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Home, MODEL_WAIT, Tmux, stderr, stdout, wait_file};

fn start(home: &Home, env: &[&str], file: &Path) -> Tmux {
    Tmux::with_model(home, env, file, 120, 30)
}

/// Opens the template picker and the form of `name`.
fn open_form(tmux: &Tmux, name: &str, title: &str) -> String {
    tmux.keys(&["F7"]);
    tmux.wait_for("Templates (type to filter");
    tmux.type_text(name);
    tmux.keys(&["Enter"]);
    tmux.wait_for(title)
}

#[test]
#[allow(clippy::too_many_lines)] // test code: one scenario, told in order
fn fill_the_tagline_form_accept_a_variant_and_save_a_preset() {
    let home = Home::new();
    let file = home.dir.path().join("launch.md");
    let original = "Our launch copy:\n\n";
    std::fs::write(&file, original).unwrap();
    let tmux = start(&home, &[], &file);
    tmux.keys(&["C-End"]);

    let form = open_form(&tmux, "tagline", "Tagline (at most 60 characters)");
    assert!(form.contains("Audience  small businesses"), "{form}");
    tmux.type_text("Quill, a terminal writing assistant");
    tmux.keys(&["Enter"]);
    tmux.wait_for_within("Tagline · 1/5", Duration::from_secs(10));
    // A finished variant shows its token count; its character count is never over 60.
    let screen = tmux.wait_for_within(" tokens ", MODEL_WAIT);
    let count = screen
        .split("chars")
        .next()
        .and_then(|head| head.trim_end().rsplit(' ').next())
        .unwrap_or_default()
        .to_string();
    let (chars, max) = count.split_once('/').expect(&screen);
    assert_eq!(max, "60", "{screen}");
    assert!(chars.parse::<usize>().unwrap() <= 60, "{screen}");

    tmux.keys(&["M-Enter"]);
    tmux.wait_for("accepted");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    let saved = wait_file(&file, |t| t != original);
    // The file ended with a line break: so does the text saved over it.
    let tagline = saved
        .strip_prefix(original)
        .expect(&saved)
        .strip_suffix('\n')
        .expect(&saved);
    assert!(
        !tagline.trim().is_empty() && tagline.chars().count() <= 60,
        "{tagline:?}"
    );
    assert!(
        !tagline.contains('\n'),
        "a tagline is one line: {tagline:?}"
    );

    // The form remembers the product; C-s keeps it as a preset.
    let form = open_form(&tmux, "tagline", "Tagline (at most 60 characters)");
    assert!(
        form.contains("Product*  Quill, a terminal writing assistant"),
        "{form}"
    );
    tmux.keys(&["C-s"]);
    tmux.wait_for("Template name");
    tmux.type_text("quill-tagline");
    tmux.keys(&["Enter"]);
    tmux.wait_for("saved template quill-tagline");
    let preset = home
        .dir
        .path()
        .join("config/quill/templates/quill-tagline.toml");
    let text = std::fs::read_to_string(&preset).unwrap();
    assert!(
        text.contains("default = \"Quill, a terminal writing assistant\""),
        "{text}"
    );

    // Saving under the same name again asks, and cancelling leaves the file alone.
    open_form(
        &tmux,
        "quill-tagline",
        "quill-tagline (at most 60 characters)",
    );
    tmux.type_text(" v2");
    tmux.keys(&["C-s"]);
    tmux.wait_for("Template name");
    tmux.type_text("quill-tagline");
    tmux.keys(&["Enter"]);
    tmux.wait_for("exists already");
    tmux.keys(&["c"]);
    tmux.wait_for("not saved");
    assert_eq!(std::fs::read_to_string(&preset).unwrap(), text);

    // The preset runs headless with no fields given.
    let out = home.run(&["template", "run", "quill-tagline", "--variants", "2"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("--- variant"))
        .map(str::to_string)
        .collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:?}");
}

#[test]
fn a_selection_becomes_a_template_then_is_edited_and_deleted() {
    let home = Home::new();
    let editor = home.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^description = .*/description = \"Edited by the writer\"/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = home.dir.path().join("prompt.md");
    std::fs::write(&file, "Write a two-line poem about {{ subject }}.").unwrap();
    let env = format!("EDITOR={}", editor.display());
    let tmux = start(&home, &[&env, "VISUAL="], &file);

    tmux.keys(&["C-a", "C-p"]);
    tmux.type_text("new template");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Template name");
    tmux.type_text("poem");
    tmux.keys(&["Enter"]);
    tmux.wait_for("saved template poem");
    let out = home.run(&["template", "show", "poem"], "");
    assert!(
        stdout(&out).contains("subject - Subject [required]"),
        "{}",
        stdout(&out)
    );
    let out = home.run(
        &[
            "template",
            "run",
            "poem",
            "--set",
            "subject=rain",
            "--seed",
            "4",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).trim().is_empty());

    // Edit: $EDITOR changes the file; the picker shows the change at once.
    tmux.keys(&["C-p"]);
    tmux.type_text("edit template");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Edit which template?");
    tmux.type_text("poem");
    tmux.keys(&["Enter"]);
    tmux.wait_for("poem.toml again");
    tmux.keys(&["F7"]);
    tmux.type_text("poem");
    tmux.wait_for("Edited by the writer");
    tmux.keys(&["Escape"]);
    // A key sent hard on the Escape can be read with it as one Alt chord, which left the
    // picker open to take the palette's text (seen once on a loaded CI machine).
    tmux.wait_gone("Edited by the writer");

    // Delete: only the writer's own are offered, and it asks first.
    tmux.keys(&["C-p"]);
    tmux.type_text("delete template");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Delete which of your templates?");
    tmux.keys(&["Enter"]);
    // The hint is made from the confirm keys in force.
    tmux.wait_for("Delete your template poem? y delete · n keep it · c cancel");
    tmux.keys(&["y"]);
    tmux.wait_for("deleted");
    assert!(
        !home
            .dir
            .path()
            .join("config/quill/templates/poem.toml")
            .exists()
    );
    // The draft was never touched.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "Write a two-line poem about {{ subject }}."
    );
}

/// Recorded: typing into the audience field appended to its default ("small businessesX").
#[test]
fn typing_into_a_field_with_a_default_replaces_it() {
    let home = Home::new();
    let file = home.dir.path().join("copy.md");
    std::fs::write(&file, "").unwrap();
    let tmux = start(&home, &[], &file);
    let form = open_form(&tmux, "tagline", "Tagline (at most 60 characters)");
    assert!(form.contains("Audience  small businesses"), "{form}");
    // Product first (the form starts there), then down to the audience.
    tmux.type_text("Quill");
    tmux.keys(&["Down"]);
    tmux.type_text("novelists");
    let screen = tmux.wait_for("Audience  novelists");
    assert!(!screen.contains("small businesses"), "{screen}");
}
