//! `threads = 0` follows the free cores: busy loops beside the worker make it decode with one
//! thread, and it goes back to one per core once they stop, carrying its cache across each
//! change. In a file of its own: cargo runs test binaries one at a time, so no other test's
//! worker counts as load here.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{ENGLISH, Home, QUILL, model};
use quill::bench::busy::BusyLoops;
use quill::engine::protocol::{
    Event, Fit, GenerateOptions, GenerationStats, LoadParams, Part, Prompt, Request, SamplingParams,
};
use quill::engine::{Engine, WorkerCommand};

/// A greedy continuation of the same draft: its text and stats.
fn continuation(engine: &mut Engine, job: u64) -> (String, GenerationStats) {
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

#[test]
fn automatic_threads_follow_the_free_cores_and_keep_the_cache() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let home = Home::new();
    let mut engine = Engine::spawn(&WorkerCommand {
        program: PathBuf::from(QUILL),
        log_file: home.worker_log(),
    })
    .unwrap();
    // Every core busy before the model loads: the first context already takes one thread.
    let busy = BusyLoops::start(cores);
    std::thread::sleep(Duration::from_millis(1500));
    engine
        .load(
            LoadParams {
                model: model(),
                n_ctx: 1024,
                n_threads: 0,
                n_gpu_layers: 0,
            },
            Duration::from_secs(120),
        )
        .expect("load the default model");
    let (text, first) = continuation(&mut engine, 1);
    assert_eq!(first.threads, 1, "{first:?}");
    assert!(!text.trim().is_empty());
    busy.stop();
    if cores < 2 {
        return; // one core: one thread is all there is
    }

    // The cores free again: a thread per core, with the cache carried over (all but the last
    // prompt token reused) and the same greedy text, so the carried cache is the right one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut job = 2;
    let stats = loop {
        std::thread::sleep(Duration::from_millis(1200));
        let (again, stats) = continuation(&mut engine, job);
        job += 1;
        if stats.threads > 1 {
            assert_eq!(again, text, "the carried-over cache gave another text");
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "still one thread 30 s after the busy loops stopped: {stats:?}\n{}",
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
        );
    };
    assert_eq!(stats.threads as usize, cores);
    assert_eq!(stats.reused_tokens + 1, stats.prompt_tokens, "{stats:?}");

    // And down again when they come back.
    let busy = BusyLoops::start(cores);
    std::thread::sleep(Duration::from_millis(1500));
    let (again, stats) = continuation(&mut engine, job);
    busy.stop();
    assert_eq!(stats.threads, 1, "{stats:?}");
    assert_eq!(stats.reused_tokens + 1, stats.prompt_tokens, "{stats:?}");
    assert_eq!(again, text);
    let log = std::fs::read_to_string(home.worker_log()).unwrap_or_default();
    assert!(log.contains(&format!("threads {cores} -> 1")), "{log}");
}
