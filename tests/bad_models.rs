//! A missing, truncated or fake model is bad input: exit code 2, a message that names the path
//! and says how to get the default model, no core dump, and nothing from llama.cpp on the terminal.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::{ENGLISH, Home, model, stderr};

fn assert_rejected(home: &Home, model_path: &Path) {
    let output = home.run(
        &[
            "continue",
            "--max-tokens",
            "4",
            "--model",
            model_path.to_str().unwrap(),
        ],
        ENGLISH,
    );
    let err = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}: {err}",
        model_path.display()
    );
    assert!(
        err.contains(&model_path.display().to_string()),
        "the message does not name the path: {err}"
    );
    assert!(
        err.contains("make model"),
        "the message does not say how to get a model: {err}"
    );
    assert!(output.stdout.is_empty(), "something reached stdout");
    // Only Quill's own one-line message; llama.cpp's logging goes to the worker log.
    for noise in [
        "llama_",
        "gguf_",
        "ggml_",
        "GGML_ASSERT",
        "load_tensors",
        "core dumped",
    ] {
        assert!(
            !err.contains(noise),
            "llama.cpp output reached the terminal: {err}"
        );
    }
    assert_eq!(err.trim().lines().count(), 1, "more than one line: {err}");
    let cores: Vec<_> = std::fs::read_dir(home.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("core"))
        .collect();
    assert!(cores.is_empty(), "a core file was written: {cores:?}");
}

fn truncated_copy(dir: &Path, name: &str, bytes: usize) -> std::path::PathBuf {
    let mut head = vec![0u8; bytes];
    std::fs::File::open(model())
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&head)
        .unwrap();
    path
}

#[test]
fn a_missing_model_path_is_bad_input() {
    let home = Home::new();
    assert_rejected(&home, &home.dir.path().join("missing.gguf"));
}

#[test]
fn a_text_file_renamed_gguf_is_bad_input() {
    let home = Home::new();
    let path = home.dir.path().join("notes.gguf");
    std::fs::write(&path, "These are my notes, not a model.\n").unwrap();
    assert_rejected(&home, &path);
}

#[test]
fn a_truncated_gguf_is_bad_input() {
    let home = Home::new();
    // Cut in the tensor data, and cut inside the metadata.
    let in_data = truncated_copy(home.dir.path(), "half.gguf", 50_000_000);
    assert_rejected(&home, &in_data);
    let in_header = truncated_copy(home.dir.path(), "header.gguf", 4_096);
    assert_rejected(&home, &in_header);
}

#[test]
fn a_directory_is_not_a_model() {
    let home = Home::new();
    assert_rejected(&home, home.dir.path());
}
