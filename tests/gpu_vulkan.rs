//! The GPU code path on a machine without a GPU: the Vulkan build (`scripts/build-gpu vulkan`)
//! on lavapipe, Mesa's Vulkan device that computes on the CPU. The model goes whole onto the
//! Vulkan device (`gpu_layers = -1`), and what it writes is compared with the CPU build's.
//!
//! `make test-vulkan` builds that binary, names it in QUILL_VULKAN_QUILL and runs these. They
//! are left out of `make test`: the build (every CPU variant of llama.cpp's CPU backend and
//! several hundred shaders) and these tests would add 22 minutes to it on two cores.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{CHINESE, ENGLISH, Home, MODEL_THREADS, stderr, stdout};

const WHY_IGNORED: &str = "needs the Vulkan build: make test-vulkan";

/// The Vulkan build, which `make test-vulkan` names.
fn vulkan_quill() -> PathBuf {
    let path = std::env::var_os("QUILL_VULKAN_QUILL")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("QUILL_VULKAN_QUILL names no binary: {WHY_IGNORED}"));
    assert!(
        path.exists(),
        "{} does not exist: {WHY_IGNORED}",
        path.display()
    );
    path
}

/// A home whose config puts every layer on the GPU, greedy and on one thread.
fn home() -> Home {
    let home = Home::new();
    std::fs::write(
        home.dir.path().join("config/quill/config.toml"),
        format!(
            "[engine]\nthreads = {MODEL_THREADS}\ngpu_layers = -1\nprompt_lookup = false\n\n\
             [sampling]\nseed = 7\n"
        ),
    )
    .unwrap();
    home
}

/// Runs `binary` in `home` with `args` on `input`, with lavapipe in view and `env` besides.
fn run(binary: &Path, home: &Home, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let mut command = home.command_for(binary);
    command
        // llama.cpp leaves a Vulkan device that is a CPU out unless named: lavapipe is the
        // first (and here the only) device.
        .env("GGML_VK_VISIBLE_DEVICES", "0")
        .envs(env.iter().copied())
        .args(args)
        .arg("--model")
        .arg(common::model());
    home.output_with_input(command, input)
}

#[test]
#[ignore = "needs the Vulkan build: make test-vulkan"]
fn the_vulkan_build_puts_the_model_on_the_vulkan_device_and_says_so() {
    let home = home();
    let out = run(&vulkan_quill(), &home, &["doctor"], "", &[]);
    let report = stdout(&out);
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    assert!(
        report.contains("Vulkan from libggml-vulkan.so; devices: Vulkan0"),
        "the Vulkan backend loaded and sees lavapipe:\n{report}"
    );
    assert!(report.contains("llvmpipe"), "lavapipe's device:\n{report}");
    assert!(
        report.contains("CPU from libggml-cpu-"),
        "one CPU variant loaded:\n{report}"
    );
    // SmolLM2-135M: 30 repeating layers and the output layer, all on the GPU.
    assert!(
        report.contains("Vulkan0: 31 layers"),
        "every layer on the Vulkan device:\n{report}"
    );
}

/// Greedy continuations of the Vulkan build against the CPU build's. The Vulkan shaders sum
/// the same products in another order (and keep some in half precision), so each score
/// differs from the CPU's in its last bits, and where two tokens are nearly tied greedy
/// decoding may pick the other; the texts part there (the README says so). A broken GPU path
/// writes something else from the first token: each pair must agree on its start, and most
/// pairs on every token.
#[test]
#[ignore = "needs the Vulkan build: make test-vulkan"]
fn greedy_continuations_match_the_cpu_build() {
    let prompts = [
        ENGLISH,
        "The lighthouse keeper had not spoken to anyone in three weeks when the boat came.",
        "Good writing is clear thinking made visible. Before you write a sentence,",
        CHINESE,
    ];
    let args = [
        "continue",
        "--raw",
        "--temperature",
        "0",
        "--max-tokens",
        "32",
    ];
    let home = home();
    let mut same = 0;
    for prompt in prompts {
        let cpu = run(Path::new(common::QUILL), &home, &args, prompt, &[]);
        let gpu = run(&vulkan_quill(), &home, &args, prompt, &[]);
        assert!(cpu.status.success(), "{}", stderr(&cpu));
        assert!(gpu.status.success(), "{}", stderr(&gpu));
        let (cpu, gpu) = (stdout(&cpu), stdout(&gpu));
        let shared = cpu
            .chars()
            .zip(gpu.chars())
            .take_while(|(a, b)| a == b)
            .count();
        eprintln!("{prompt:.20}: {shared} chars alike\n  cpu: {cpu:?}\n  gpu: {gpu:?}");
        assert!(
            shared >= 8.min(cpu.chars().count()) && !gpu.trim().is_empty(),
            "they part at once:\ncpu: {cpu:?}\ngpu: {gpu:?}"
        );
        same += usize::from(cpu == gpu);
    }
    assert!(
        same * 2 >= prompts.len(),
        "only {same} of {} alike to the end",
        prompts.len()
    );
}

/// With no Vulkan driver the same binary starts, says why the GPU is unused, and writes on
/// the CPU.
#[test]
#[ignore = "needs the Vulkan build: make test-vulkan"]
fn without_a_vulkan_driver_it_runs_on_the_cpu() {
    let home = home();
    // The loader finds no driver: lavapipe's manifest is not where this names.
    let no_driver = [
        ("VK_DRIVER_FILES", "/nonexistent.json"),
        ("VK_ICD_FILENAMES", "/nonexistent.json"),
    ];
    let out = run(&vulkan_quill(), &home, &["doctor"], "", &no_driver);
    let report = stdout(&out);
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    assert!(!report.contains("Vulkan0"), "{report}");
    assert!(report.contains("CPU: 31 layers"), "{report}");
    let out = run(
        &vulkan_quill(),
        &home,
        &[
            "continue",
            "--raw",
            "--temperature",
            "0",
            "--max-tokens",
            "12",
        ],
        ENGLISH,
        &no_driver,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).trim().is_empty());
}

/// A GPU build without its CPU modules (a binary copied without its folder) says what is
/// missing and what to do, in the editor's engine, the headless commands and the doctor, and
/// exits with the engine's status.
#[test]
#[ignore = "needs the Vulkan build: make test-vulkan"]
fn without_its_backend_modules_it_says_what_is_missing() {
    let home = home();
    let empty = tempfile::tempdir().unwrap();
    let nowhere = [("QUILL_BACKENDS_DIR", empty.path().to_str().unwrap())];
    let out = run(
        &vulkan_quill(),
        &home,
        &["continue", "--max-tokens", "4"],
        ENGLISH,
        &nowhere,
    );
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{message}");
    assert!(
        message.contains("no CPU backend") && message.contains("holds no backend modules"),
        "{message}"
    );
    assert!(message.contains("Keep the libggml-*.so files"), "{message}");
    let out = run(&vulkan_quill(), &home, &["doctor"], "", &nowhere);
    let report = stdout(&out);
    assert!(!out.status.success());
    assert!(
        report.contains("FAIL  backend    cpu did not load"),
        "{report}"
    );
}
