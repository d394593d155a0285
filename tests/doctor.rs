//! `quill doctor` end to end: a healthy setup passes with a four-token generation; a missing
//! model, a broken or unreadable config and a read-only state folder each fail it, naming what
//! to fix.

mod common;

use std::process::Output;

use common::{Home, ReadOnlyDir, stderr, stdout};

fn doctor(home: &Home, with_model: bool) -> Output {
    let mut command = home.command();
    command.arg("doctor");
    if with_model {
        command.arg("--model").arg(common::model());
    }
    home.output(command)
}

fn config_file(home: &Home) -> std::path::PathBuf {
    home.dir.path().join("config/quill/config.toml")
}

#[test]
fn a_healthy_setup_passes_and_generates_four_tokens() {
    let home = Home::new();
    let output = doctor(&home, true);
    let report = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{report}\n{}",
        stderr(&output)
    );
    assert!(report.contains("Everything Quill needs works."), "{report}");
    for expected in [
        "engines: cpu",
        "compiled for",
        "has every one of them",
        "llama, 135M parameters, Q4_1",
        "chat template: yes",
        "generates  4 tokens in",
        "tokens/s",
        // The devices llama.cpp sees (a CPU build: the CPU alone), and where the layers went:
        // SmolLM2-135M has 30 repeating layers and the output.
        "devices    CPU (",
        "layers     CPU: 31 layers (gpu_layers = 0 in the config)",
    ] {
        assert!(report.contains(expected), "no {expected:?} in:\n{report}");
    }
    assert!(
        report.contains("native build") || report.contains("portable build"),
        "{report}"
    );
    let llama = report
        .lines()
        .find(|l| l.contains("llama.cpp  compiled for"))
        .unwrap();
    assert!(
        !llama.contains("AMX"),
        "AMX kernels are compiled in: {llama}"
    );
    assert!(!report.contains("FAIL"), "{report}");
}

#[test]
fn a_missing_model_set_in_the_config_names_its_line() {
    let home = Home::new();
    let config = config_file(&home);
    std::fs::write(
        &config,
        "[engine]\nthreads = 1\n\n[editor]\ntheme = \"default\"\n",
    )
    .unwrap();
    // Top-level keys come before the first table.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("# mine\nmodel = \"/nowhere/m.gguf\"\n{text}"),
    )
    .unwrap();
    let output = doctor(&home, false);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL  file       no model file at /nowhere/m.gguf"),
        "{report}"
    );
    assert!(
        report.contains(&format!("fix: line 2 of {}", config.display())),
        "{report}"
    );
    assert!(stderr(&output).contains("fix the lines marked FAIL"));
}

#[test]
fn the_default_model_missing_says_how_to_fetch_it() {
    let home = Home::new();
    let mut command = home.command();
    command
        .arg("doctor")
        .env("XDG_DATA_HOME", home.dir.path().join("empty"));
    let output = home.output(command);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("(the default model)"), "{report}");
    assert!(report.contains("make model"), "{report}");
}

#[test]
fn a_malformed_config_names_the_file_and_line() {
    let home = Home::new();
    let config = config_file(&home);
    std::fs::write(
        &config,
        "[engine]\nthreads = 1\n[sampling]\ntemperature = \"hot\"\n",
    )
    .unwrap();
    let output = doctor(&home, true);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL  config     config.toml:4:"),
        "{report}"
    );
    assert!(
        report.contains(&format!("fix: line 4 of {}", config.display())),
        "{report}"
    );
    // The rest is still checked.
    assert!(report.contains("generates  4 tokens"), "{report}");
}

#[test]
fn an_unreadable_config_fails() {
    let home = Home::new();
    let config = config_file(&home);
    std::fs::remove_file(&config).unwrap();
    std::fs::create_dir(&config).unwrap();
    let output = doctor(&home, true);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("cannot read"), "{report}");
    assert!(
        report.contains(&format!("fix: {}", config.display())),
        "{report}"
    );
}

#[test]
fn a_read_only_state_folder_fails_with_what_to_change() {
    let home = Home::new();
    let state = home.dir.path().join("state");
    let Some(_read_only) = ReadOnlyDir::new(&state) else {
        return;
    };
    let output = doctor(&home, true);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("FAIL  state"), "{report}");
    assert!(report.contains("crash journal"), "{report}");
    assert!(report.contains("XDG_STATE_HOME"), "{report}");
    assert!(report.contains("FAIL  logs"), "{report}");
}
