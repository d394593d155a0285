//! `threads = 0` follows the free cores: when other programs keep the cores busy the worker
//! decodes with one thread, it goes back to one per core once they stop, and its cache is
//! carried across each change. The load is fed to the worker through `QUILL_CPU_LOAD_FILE`,
//! so the test means the same on a quiet machine and a busy one; reading the real counters is
//! unit-tested in `engine::cpuload`, and `quill bench --busy` measures the gain with real busy
//! loops.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ENGLISH, Home, QUILL, model, precondition_missing};
use quill::engine::cpuload::LOAD_FILE_ENV;
use quill::engine::protocol::{
    Event, Fit, GenerateOptions, GenerationStats, LoadParams, Part, Prompt, Request, SamplingParams,
};
use quill::engine::{Client, WorkerCommand};

/// A greedy continuation of the same draft: its text and stats.
fn continuation(engine: &mut Client, job: u64) -> (String, GenerationStats) {
    engine
        .send(&Request::Generate {
            job,
            prompt: Prompt::Completion {
                parts: vec![Part {
                    text: format!("{ENGLISH} {ENGLISH}"),
                    fit: Fit::KeepEnd,
                }],
            },
            sampling: SamplingParams {
                temperature: 0.0,
                max_tokens: 24,
                ..SamplingParams::default()
            },
            options: GenerateOptions {
                reuse_prefix: true,
                ignore_eos: true,
                variants: 1,
                ..GenerateOptions::default()
            },
        })
        .unwrap();
    let mut text = String::new();
    loop {
        match engine.recv_timeout(Duration::from_secs(120)) {
            Some(Event::TokenGenerated { job: j, text: t }) if j == job => text.push_str(&t),
            Some(Event::GenerationFinished { job: j, stats }) if j == job => return (text, stats),
            Some(Event::GenerationFailed { reason, .. }) => panic!("generation failed: {reason}"),
            Some(Event::WorkerExited { exit }) => panic!("worker exited: {exit}"),
            Some(_) => {}
            None => panic!("no answer from the worker"),
        }
    }
}

/// Says other programs use `cores` cores, then generates until the worker has moved to
/// `threads` threads (it reads the load four times a second), or fails after 10 s.
fn with_load(
    engine: &mut Client,
    load_file: &Path,
    cores: f64,
    threads: u32,
    job: &mut u64,
) -> (String, GenerationStats) {
    std::fs::write(load_file, cores.to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        *job += 1;
        let (text, stats) = continuation(engine, *job);
        if stats.threads == threads {
            return (text, stats);
        }
        assert!(
            Instant::now() < deadline,
            "with {cores} cores busy elsewhere the worker stays at {} threads, not {threads}",
            stats.threads
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn automatic_threads_follow_the_free_cores_and_keep_the_cache() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let home = Home::new();
    let load_file = home.dir.path().join("load");
    // Every core busy before the model loads: the first context already takes one thread.
    std::fs::write(&load_file, cores.to_string()).unwrap();
    let mut engine = Client::start(&WorkerCommand {
        program: PathBuf::from(QUILL),
        log_file: home.worker_log(),
        env: vec![(LOAD_FILE_ENV.into(), load_file.display().to_string())],
    })
    .unwrap();
    engine
        .load(
            LoadParams {
                model: model(),
                n_ctx: 1024,
                n_threads: 0,
                n_gpu_layers: 0,
                flash_attention: Default::default(),
                // Texts are compared between runs: plain decoding, as in tests/common's
                // config. Drafts are chosen by timing, and a batched check changes a score's
                // last bits on this build (tests/lookup.rs says why).
                prompt_lookup: false,
                remote: None,
            },
            Duration::from_secs(120),
        )
        .expect("load the default model");
    let (text, first) = continuation(&mut engine, 1);
    assert_eq!(first.threads, 1, "{first:?}");
    assert!(!text.trim().is_empty());
    if cores < 2 {
        precondition_missing("one core: the thread count has nowhere to go but one");
        return;
    }
    let mut job = 1;

    // The cores free again: a thread per core, with the cache carried over (all but the last
    // prompt token reused) and the same greedy text, so the carried cache is the right one.
    let (again, stats) = with_load(&mut engine, &load_file, 0.0, cores as u32, &mut job);
    assert_eq!(again, text, "the carried-over cache gave another text");
    assert_eq!(stats.reused_tokens + 1, stats.prompt_tokens, "{stats:?}");

    // And down again when the load comes back.
    let (again, stats) = with_load(&mut engine, &load_file, cores as f64, 1, &mut job);
    assert_eq!(stats.reused_tokens + 1, stats.prompt_tokens, "{stats:?}");
    assert_eq!(again, text);
}
