//! `quill model`: list, use, add and rm, run as the writer runs them, on the real default model
//! and on files that only pretend to be models.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{Home, ReadOnlyDir, TinyDisk, model, models_dir, names_in, stderr, stdout};

/// Runs `quill model ARGS` in `home`, with a data directory of its own, feeding `input`.
fn quill_model(home: &Home, args: &[&str], input: &str) -> Output {
    let mut command = home.command();
    command
        .env("XDG_DATA_HOME", home.dir.path().join("data"))
        .arg("model")
        .args(args);
    home.output_with_input(command, input)
}

fn config(home: &Home) -> PathBuf {
    home.dir.path().join("config/quill/config.toml")
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Exit 2 (bad input), with `words` in the message.
fn refused(output: &Output, words: &str) {
    assert_eq!(output.status.code(), Some(2), "{}", stderr(output));
    assert!(stderr(output).contains(words), "{}", stderr(output));
}

#[test]
fn add_copies_a_checked_model_whole_and_refuses_what_is_not_one() {
    let home = Home::new();
    let output = quill_model(&home, &["add", model().to_str().unwrap()], "");
    ok(&output);
    let copy = models_dir(&home).join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        stdout(&output).contains("Q4_1") && stdout(&output).contains("93.8 MiB"),
        "{}",
        stdout(&output)
    );
    assert!(
        std::fs::read(&copy).unwrap() == std::fs::read(model()).unwrap(),
        "the copy is the model, byte for byte"
    );
    assert_eq!(
        names_in(&models_dir(&home)),
        ["SmolLM2-135M-Instruct.Q4_1.gguf"],
        "no partial file is left beside it"
    );

    // The same name again is refused; another name is not.
    refused(
        &quill_model(&home, &["add", model().to_str().unwrap()], ""),
        "is already there",
    );
    ok(&quill_model(
        &home,
        &[
            "add",
            model().to_str().unwrap(),
            "--name",
            "small",
            "--link",
        ],
        "",
    ));
    let link = models_dir(&home).join("small.gguf");
    assert_eq!(std::fs::read_link(&link).unwrap(), model());

    // A text file, and a GGUF cut short after its magic: nothing is added.
    let notes = home.dir.path().join("notes.gguf");
    std::fs::write(&notes, "a draft, not a model").unwrap();
    refused(
        &quill_model(&home, &["add", notes.to_str().unwrap()], ""),
        "is not a GGUF model",
    );
    let cut = home.dir.path().join("cut.gguf");
    std::fs::write(&cut, b"GGUF\x03\x00\x00\x00\x01").unwrap();
    refused(
        &quill_model(&home, &["add", cut.to_str().unwrap()], ""),
        "damaged",
    );
    refused(
        &quill_model(&home, &["add", "/no/such/model.gguf"], ""),
        "no model file at /no/such/model.gguf",
    );
    assert_eq!(
        names_in(&models_dir(&home)),
        ["SmolLM2-135M-Instruct.Q4_1.gguf", "small.gguf"]
    );
}

#[test]
fn list_describes_each_model_and_marks_the_one_in_use() {
    let home = Home::new();
    ok(&quill_model(
        &home,
        &["add", "--link", "--name", "smol", model().to_str().unwrap()],
        "",
    ));
    std::fs::write(models_dir(&home).join("broken.gguf"), "not a model").unwrap();
    ok(&quill_model(&home, &["use", "smol"], ""));

    let output = quill_model(&home, &["list"], "");
    ok(&output);
    let text = stdout(&output);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .to_string()
    };
    let smol = row("smol.gguf");
    assert!(smol.starts_with("* smol.gguf"), "in use: {smol}");
    for fact in ["93.8 MiB", "llama", "Q4_1", "8192", "yes"] {
        assert!(smol.contains(fact), "{fact} in {smol}");
    }
    let broken = row("broken.gguf");
    assert!(broken.starts_with("  broken.gguf"), "{broken}");
    assert!(broken.contains("is not a GGUF model"), "{broken}");

    let output = quill_model(&home, &["list", "--json"], "");
    ok(&output);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let smol = rows.iter().find(|r| r["name"] == "smol.gguf").unwrap();
    assert_eq!(smol["in_use"], true);
    assert_eq!(smol["architecture"], "llama");
    assert_eq!(smol["quantisation"], "Q4_1");
    assert_eq!(smol["context_length"], 8192);
    assert_eq!(smol["chat_template"], true);
    assert_eq!(smol["bytes"], 98_362_432);
    let broken = rows.iter().find(|r| r["name"] == "broken.gguf").unwrap();
    assert_eq!(broken["in_use"], false);
    assert!(broken["problem"].as_str().unwrap().contains("not a GGUF"));
}

#[test]
fn the_configured_model_is_listed_even_outside_the_models_folder() {
    let home = Home::new();
    // `model` is a top-level key: before the first table.
    let text = format!(
        "model = {:?}\n{}",
        model().display().to_string(),
        common::ENGINE_CONFIG
    );
    std::fs::write(config(&home), text).unwrap();
    let output = quill_model(&home, &["list"], "");
    ok(&output);
    assert!(
        stdout(&output).contains("* SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains(&format!("model = in {}", config(&home).display())),
        "{}",
        stdout(&output)
    );
}

#[test]
fn use_writes_the_model_into_the_config_and_keeps_its_comments() {
    let home = Home::new();
    let mine = "# my settings\n[sampling]\n# warm\ntemperature = 0.9 # the writer's\n";
    std::fs::write(config(&home), mine).unwrap();
    ok(&quill_model(
        &home,
        &["add", "--link", "--name", "smol", model().to_str().unwrap()],
        "",
    ));
    let output = quill_model(&home, &["use", "smol"], "");
    ok(&output);
    let written = std::fs::read_to_string(config(&home)).unwrap();
    let path = models_dir(&home).join("smol.gguf");
    assert!(
        written.contains(&format!("model = {:?}", path.display().to_string())),
        "{written}"
    );
    for kept in [
        "# my settings",
        "# warm",
        "temperature = 0.9 # the writer's",
    ] {
        assert!(written.contains(kept), "{kept:?} kept in {written}");
    }

    // A path works as well as a name; a name that is nowhere changes nothing.
    ok(&quill_model(&home, &["use", model().to_str().unwrap()], ""));
    let written = std::fs::read_to_string(config(&home)).unwrap();
    assert!(
        written.contains(&format!("model = {:?}", model().display().to_string())),
        "{written}"
    );
    refused(
        &quill_model(&home, &["use", "no-such-model"], ""),
        "no model called \"no-such-model\"",
    );
    let not_a_model = home.dir.path().join("draft.md");
    std::fs::write(&not_a_model, "# A draft").unwrap();
    refused(
        &quill_model(&home, &["use", not_a_model.to_str().unwrap()], ""),
        "is not a GGUF model",
    );
    assert_eq!(std::fs::read_to_string(config(&home)).unwrap(), written);
}

#[test]
fn rm_asks_first_and_never_removes_the_model_in_use() {
    let home = Home::new();
    for name in ["a", "b"] {
        ok(&quill_model(
            &home,
            &["add", "--link", "--name", name, model().to_str().unwrap()],
            "",
        ));
    }
    ok(&quill_model(&home, &["use", "a"], ""));
    refused(
        &quill_model(&home, &["rm", "a", "--yes"], ""),
        "is the model in use",
    );

    // No, then nothing typed at all: kept.
    for answer in ["n\n", ""] {
        let output = quill_model(&home, &["rm", "b"], answer);
        ok(&output);
        assert!(
            stderr(&output).contains("remove the link"),
            "{}",
            stderr(&output)
        );
        assert!(models_dir(&home).join("b.gguf").symlink_metadata().is_ok());
    }
    let output = quill_model(&home, &["rm", "b"], "y\n");
    ok(&output);
    assert!(models_dir(&home).join("b.gguf").symlink_metadata().is_err());
    assert!(model().exists(), "the file a link pointed to stays");

    refused(
        &quill_model(&home, &["rm", "b"], "y\n"),
        "no model called \"b\"",
    );
    // Only the models folder: a path elsewhere is not removed.
    refused(
        &quill_model(&home, &["rm", model().to_str().unwrap(), "--yes"], ""),
        "no model called",
    );
    assert!(model().exists());
}

#[test]
fn a_missing_model_in_use_is_listed_with_what_to_do() {
    let home = Home::new();
    let output = quill_model(&home, &["list"], "");
    ok(&output);
    let text = stdout(&output);
    assert!(
        text.contains("* SmolLM2-135M-Instruct.Q4_1.gguf") && text.contains("no model file at"),
        "{text}"
    );
    assert!(
        text.contains("`make model` fetches the default one"),
        "{text}"
    );
}

#[test]
fn a_disk_without_room_for_the_model_gets_nothing_added() {
    let home = Home::new();
    let dir = models_dir(&home);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(_unmount) = TinyDisk::mount(&dir) else {
        return;
    };
    let output = quill_model(&home, &["add", model().to_str().unwrap()], "");
    refused(&output, "free");
    assert!(stderr(&output).contains("--link"), "{}", stderr(&output));
    assert!(names_in(&dir).is_empty(), "{:?}", names_in(&dir));
    // Linking needs no room.
    ok(&quill_model(
        &home,
        &["add", "--link", model().to_str().unwrap()],
        "",
    ));
}

/// The twin that needs no root: a models folder that refuses writes.
#[test]
fn a_models_folder_that_refuses_writes_gets_nothing_added() {
    let home = Home::new();
    let dir = models_dir(&home);
    let Some(_read_only) = ReadOnlyDir::new(&dir) else {
        return;
    };
    let output = quill_model(&home, &["add", model().to_str().unwrap()], "");
    refused(&output, "nothing was added");
    assert!(names_in(&dir).is_empty(), "{:?}", names_in(&dir));
}
