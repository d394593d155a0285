//! The engine client against the real worker and model: cancelling, prefix reuse, and a worker
//! that dies mid-generation.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ENGLISH, Home, MODEL_THREADS, QUILL, model, stderr};
use quill::engine::protocol::{
    Choice, EngineSettings, Event, Fit, FlashAttention, GenerateOptions, LoadParams, ModelInfo,
    Part, Prompt, Request, SamplingParams, StopReason,
};
use quill::engine::{Client, WorkerCommand};

fn engine(home: &Home) -> Client {
    engine_with(home, Default::default())
}

/// A worker with the default model loaded, flash attention as `flash` says.
fn engine_with(home: &Home, flash: FlashAttention) -> Client {
    worker(home, Vec::new(), 2048, flash).0
}

/// A worker with `env`, the default model loaded in a context of `n_ctx` tokens.
fn worker(
    home: &Home,
    env: Vec<(String, String)>,
    n_ctx: u32,
    flash: FlashAttention,
) -> (Client, ModelInfo) {
    let command = WorkerCommand {
        program: PathBuf::from(QUILL),
        log_file: home.worker_log(),
        env,
    };
    let mut engine = Client::start(&command).expect("spawn the worker");
    let info = engine
        .load(
            LoadParams {
                model: model(),
                n_ctx,
                n_threads: MODEL_THREADS,
                n_gpu_layers: 0,
                flash_attention: flash,
                // Texts are compared between runs: plain decoding, as in tests/common's
                // config. Drafts are chosen by timing, and a batched check changes a score's
                // last bits on this build (tests/lookup.rs says why).
                prompt_lookup: false,
                remote: None,
            },
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("load the default model ({flash:?}): {e:#}"));
    (engine, info)
}

fn completion(text: &str) -> Prompt {
    Prompt::Completion {
        parts: vec![Part {
            text: text.into(),
            fit: Fit::KeepEnd,
        }],
    }
}

fn generate(engine: &mut Client, job: u64, text: &str, max_tokens: u32, ignore_eos: bool) {
    let sampling = SamplingParams {
        temperature: 0.0,
        max_tokens,
        ..SamplingParams::default()
    };
    send_completion(engine, job, text, sampling, (true, ignore_eos, 1));
}

/// Asks for `variants` completions of `text`, reusing the cached prefix or not.
fn send_completion(
    engine: &mut Client,
    job: u64,
    text: &str,
    sampling: SamplingParams,
    (reuse_prefix, ignore_eos, variants): (bool, bool, u32),
) {
    engine
        .send(&Request::Generate {
            job,
            prompt: completion(text),
            sampling,
            options: GenerateOptions {
                reuse_prefix,
                ignore_eos,
                variants,
                ..GenerateOptions::default()
            },
        })
        .unwrap();
}

/// Waits for the end of `job`, returning its stats and how many token events came.
fn finish(engine: &mut Client, job: u64) -> (quill::engine::protocol::GenerationStats, usize) {
    let mut tokens = 0;
    let stats = finish_with(engine, job, &mut |_| tokens += 1);
    (stats, tokens)
}

/// Waits for the end of `job`, handing each piece of its text to `piece`.
fn finish_with(
    engine: &mut Client,
    job: u64,
    piece: &mut dyn FnMut(&str),
) -> quill::engine::protocol::GenerationStats {
    loop {
        match engine.recv_timeout(Duration::from_secs(60)) {
            Some(Event::TokenGenerated { job: j, text }) if j == job => piece(&text),
            Some(Event::GenerationFinished { job: j, stats }) if j == job => return stats,
            Some(Event::GenerationFailed { reason, .. }) => panic!("generation failed: {reason}"),
            Some(Event::WorkerExited { exit }) => panic!("worker exited: {exit}"),
            Some(_) => {}
            None => panic!("no answer from the worker"),
        }
    }
}

#[test]
fn cancel_stops_a_long_generation_within_a_step() {
    let home = Home::new();
    let mut engine = engine(&home);
    generate(&mut engine, 1, ENGLISH, 1500, true);
    let mut seen = 0;
    while seen < 3 {
        match engine.recv_timeout(Duration::from_secs(60)) {
            Some(Event::TokenGenerated { .. }) => seen += 1,
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("no tokens"),
        }
    }
    engine.send(&Request::Cancel { job: 1 }).unwrap();
    let (stats, tokens) = finish(&mut engine, 1);
    assert_eq!(stats.stop_reason, StopReason::Cancelled);
    // Tokens already in the pipe when the cancel arrived still come; not many more.
    assert!(stats.generated_tokens < 100, "{stats:?}");
    assert!(tokens + seen <= stats.generated_tokens as usize + 1);

    // The worker is still good for the next job.
    generate(&mut engine, 2, ENGLISH, 4, false);
    let (stats, _) = finish(&mut engine, 2);
    assert_ne!(stats.stop_reason, StopReason::Cancelled);
}

#[test]
fn a_new_request_supersedes_the_running_one() {
    let home = Home::new();
    let mut engine = engine(&home);
    generate(&mut engine, 1, ENGLISH, 1500, true);
    generate(&mut engine, 2, ENGLISH, 3, false);
    let (first, _) = finish(&mut engine, 1);
    assert_eq!(first.stop_reason, StopReason::Cancelled);
    let (second, _) = finish(&mut engine, 2);
    // The newer request runs to its own end: its 3 tokens, or fewer at the end of the text.
    match second.stop_reason {
        StopReason::MaxTokens => assert_eq!(second.generated_tokens, 3, "{second:?}"),
        StopReason::EndOfText => assert!(second.generated_tokens < 3, "{second:?}"),
        other => panic!("the newer request did not run to its end: {other:?} {second:?}"),
    }
}

#[test]
fn a_shared_prefix_is_reused_and_only_the_suffix_decoded() {
    let home = Home::new();
    let mut engine = engine(&home);
    let draft = format!("{ENGLISH} {ENGLISH}");
    generate(&mut engine, 1, &draft, 1, false);
    let (cold, _) = finish(&mut engine, 1);
    assert_eq!(cold.reused_tokens, 0);

    generate(&mut engine, 2, &format!("{draft} Indeed"), 1, false);
    let (warm, _) = finish(&mut engine, 2);
    assert!(warm.prompt_tokens > cold.prompt_tokens);
    // Everything but the last token or two of the old prompt is reused.
    assert!(
        warm.reused_tokens + 2 >= cold.prompt_tokens,
        "cold {cold:?}, warm {warm:?}"
    );

    // The same prompt again reuses all but the last token, which must be decoded for logits.
    generate(&mut engine, 3, &format!("{draft} Indeed"), 1, false);
    let (same, _) = finish(&mut engine, 3);
    assert_eq!(same.reused_tokens + 1, same.prompt_tokens);
}

#[test]
fn a_killed_worker_is_reported_and_a_new_one_can_start() {
    let home = Home::new();
    let mut engine = engine(&home);
    generate(&mut engine, 1, ENGLISH, 1500, true);
    assert!(matches!(
        engine.recv_timeout(Duration::from_secs(60)),
        Some(Event::TokenGenerated { .. })
    ));
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(engine.pid().expect("a local worker") as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        assert!(Instant::now() < deadline, "no exit event");
        if let Some(Event::WorkerExited { exit }) = engine.recv_timeout(Duration::from_secs(5)) {
            break exit;
        }
    };
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit}");
    assert_eq!(exit.short(), "SIGKILL");
    assert!(engine.send(&Request::Cancel { job: 1 }).is_err() || engine.has_exited());

    let mut fresh = self::engine(&home);
    generate(&mut fresh, 2, ENGLISH, 2, false);
    finish(&mut fresh, 2);
}

/// Starts `quill continue` on a long generation and waits for its first output, so what the
/// test does next lands mid-generation. Returns the process, its stdout and its worker's pid.
fn long_continuation(
    home: &Home,
    seed: &str,
) -> (std::process::Child, std::process::ChildStdout, u32) {
    use std::io::{Read, Write};
    let mut child = home
        .command()
        .args([
            "continue",
            "--max-tokens",
            "3000",
            "--temperature",
            "1.5",
            "--seed",
            seed,
        ])
        .arg("--model")
        .arg(model())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ENGLISH.as_bytes())
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    stdout
        .read_exact(&mut byte)
        .expect("the continuation started");
    let worker = worker_of(child.id()).expect("the worker process");
    (child, stdout, worker)
}

#[test]
fn killing_the_worker_mid_generation_exits_3_not_a_hang() {
    let home = Home::new();
    let (mut child, mut stdout, worker) = long_continuation(&home, "1");
    // SAFETY: killing the worker our child started.
    unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    let drain = std::thread::spawn(move || {
        use std::io::Read;
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "quill hung after its worker died"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drain.join().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("SIGKILL"), "{}", stderr(&output));
}

#[test]
fn the_worker_exits_when_its_client_goes_away() {
    let home = Home::new();
    let mut engine = engine(&home);
    let pid = engine.pid().expect("a local worker");
    generate(&mut engine, 1, ENGLISH, 1500, true);
    // Dropping the client closes the worker's stdin and kills it; no orphan remains.
    drop(engine);
    common::wait_exited(
        pid as i32,
        Duration::from_secs(10),
        "the dropped client's worker",
    );
}

#[test]
fn the_worker_dies_with_its_parent() {
    let home = Home::new();
    let (mut child, _stdout, worker) = long_continuation(&home, "2");
    child.kill().unwrap();
    child.wait().unwrap();
    common::wait_exited(
        worker as i32,
        Duration::from_secs(10),
        "the worker outlived its parent",
    );
}

/// The worker is the quill process's child.
fn worker_of(pid: u32) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        if let Some(child) = children.split_whitespace().next() {
            return child.parse().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_draft_longer_than_the_context_keeps_its_cut_so_the_cache_stays_useful() {
    let home = Home::new();
    let (mut engine, _) = worker(&home, Vec::new(), 512, Default::default());
    let mut draft: String = (1..=12)
        .map(|k| format!("Paragraph {k}. {ENGLISH}\n\n"))
        .collect();
    generate(&mut engine, 1, &draft, 1, false);
    let (first, _) = finish(&mut engine, 1);
    assert!(first.dropped_tokens > 0, "{first:?}");
    // The writer goes on typing at the end: a sentence, then a whole new paragraph, more
    // than a fresh cut would allow without moving.
    let paragraph = format!("Paragraph 13. {ENGLISH}\n\n");
    let additions = [" And then some more words.".to_string(), paragraph];
    let mut previous = first;
    for (job, more) in [2, 3].into_iter().zip(additions) {
        draft.push_str(&more);
        generate(&mut engine, job, &draft, 1, false);
        let (stats, _) = finish(&mut engine, job);
        assert!(stats.dropped_tokens > 0, "{stats:?}");
        // Everything the previous prompt held is reused; only the new text is read.
        assert!(
            stats.reused_tokens + 2 >= previous.prompt_tokens,
            "the cut moved and the context was read again: {previous:?} then {stats:?}"
        );
        previous = stats;
    }
}

/// A long prompt reports how far it has been read before the first token, in order, ending
/// short of the whole (the last batch is followed by the answer itself).
#[test]
fn a_long_prompt_reports_its_reading_before_the_first_token() {
    let home = Home::new();
    let mut engine = engine(&home);
    let draft = [ENGLISH; 30].join("\n\n");
    generate(&mut engine, 1, &draft, 2, false);
    let mut reads = Vec::new();
    let mut tokens = 0;
    let stats = loop {
        match engine.recv_timeout(Duration::from_secs(60)) {
            Some(Event::PromptRead {
                job: 1,
                read,
                total,
                tokens_per_s,
            }) => {
                assert_eq!(tokens, 0, "reading reported after the answer began");
                assert!(tokens_per_s > 0.0);
                reads.push((read, total));
            }
            Some(Event::TokenGenerated { .. }) => tokens += 1,
            Some(Event::GenerationFinished { stats, .. }) => break stats,
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("no answer from the worker"),
        }
    };
    assert!(stats.prompt_tokens > 1_024, "{stats:?}");
    assert!(
        reads.len() >= 2,
        "{reads:?} for {} tokens",
        stats.prompt_tokens
    );
    assert!(reads.windows(2).all(|w| w[0].0 < w[1].0), "{reads:?}");
    assert!(
        reads
            .iter()
            .all(|(read, total)| read < total && *total == stats.prompt_tokens),
        "{reads:?}"
    );
}

/// Flash attention forced on or off, or left to llama.cpp, loads and answers.
#[test]
fn flash_attention_on_or_off_loads_and_answers() {
    let home = Home::new();
    let mut first_words = Vec::new();
    for flash in [
        FlashAttention::Auto,
        FlashAttention::On,
        FlashAttention::Off,
    ] {
        let mut engine = engine_with(&home, flash);
        generate(&mut engine, 1, ENGLISH, 4, false);
        let mut text = String::new();
        loop {
            match engine.recv_timeout(Duration::from_secs(60)) {
                Some(Event::TokenGenerated { text: piece, .. }) => text.push_str(&piece),
                Some(Event::GenerationFinished { .. }) => break,
                Some(Event::GenerationFailed { reason, .. }) => panic!("{flash:?}: {reason}"),
                Some(_) => {}
                None => panic!("{flash:?}: no answer"),
            }
        }
        first_words.push(text.split_whitespace().next().unwrap_or("").to_string());
    }
    // Each setting answers (the numbers differ a little with the kernel, so the words may too).
    assert!(first_words.iter().all(|w| !w.is_empty()), "{first_words:?}");
}

/// A worker that remembers its measurements in `file`, its model loaded with flash attention
/// left to Quill.
/// Other programs' load is read from a file: the tests beside this one would make any real
/// reading busy (see `cpuload::Span`).
fn measuring_engine(home: &Home, file: &std::path::Path) -> (Client, ModelInfo) {
    measuring_engine_beside(home, file, 0.0)
}

fn measuring_engine_beside(
    home: &Home,
    file: &std::path::Path,
    others: f64,
) -> (Client, ModelInfo) {
    let load = home.dir.path().join("others-load");
    std::fs::write(&load, others.to_string()).unwrap();
    let env = vec![
        (
            quill::engine::tune::TUNING_FILE_ENV.to_string(),
            file.display().to_string(),
        ),
        (
            quill::engine::cpuload::LOAD_FILE_ENV.to_string(),
            load.display().to_string(),
        ),
    ];
    worker(home, env, 2048, FlashAttention::Auto)
}

/// Waits for the worker to say what it decodes with after measuring.
fn settings_chosen(engine: &mut Client) -> EngineSettings {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        match engine.recv_timeout(Duration::from_secs(600)) {
            Some(Event::SettingsChosen(settings)) => return settings,
            Some(Event::WorkerExited { exit }) => panic!("worker exited: {exit}"),
            Some(_) => {}
            None => break,
        }
    }
    panic!("the worker never said what it chose");
}

#[test]
fn an_idle_worker_measures_flash_attention_once_and_remembers_it() {
    let home = Home::new();
    let file = home.dir.path().join("state/engine-tuning.json");
    let (mut engine, info) = measuring_engine(&home, &file);
    // Not measured on this "machine" yet: off meanwhile, and said so.
    assert_eq!(info.settings.flash_attention, FlashAttention::Off);
    assert_eq!(info.settings.choice, Choice::ToMeasure);

    // Left idle, the worker measures both settings and says what it chose.
    let chosen = settings_chosen(&mut engine);
    assert_eq!(chosen.choice, Choice::Measured, "{chosen:?}");
    assert_ne!(chosen.flash_attention, FlashAttention::Auto);
    let text = std::fs::read_to_string(&file).expect("the measurement is kept");
    let kept: serde_json::Value = serde_json::from_str(&text).unwrap();
    let measured = &kept["measurements"][0];
    // Each depth a writer's 2,048-token context reaches.
    let depths = quill::engine::tune::sweep(2048).depths;
    assert_eq!(
        measured["key"]["depths"],
        serde_json::json!(depths),
        "{text}"
    );
    for setting in ["on", "off"] {
        let rates = measured[setting].as_array().unwrap();
        let timed: Vec<u64> = rates.iter().map(|r| r["depth"].as_u64().unwrap()).collect();
        assert_eq!(
            timed,
            depths.iter().map(|&d| u64::from(d)).collect::<Vec<_>>(),
            "{text}"
        );
        for rate in rates {
            assert!(rate["pp_tokens_per_s"].as_f64().unwrap() > 0.0, "{text}");
            assert!(rate["tg_tokens_per_s"].as_f64().unwrap() > 0.0, "{text}");
        }
    }
    let choice = if chosen.flash_attention == FlashAttention::On {
        "on"
    } else {
        "off"
    };
    assert_eq!(measured["choice"], choice, "{text}");

    // It answers with the setting chosen, and asking again finds nothing left to measure.
    generate(&mut engine, 1, ENGLISH, 8, true);
    let (stats, _) = finish(&mut engine, 1);
    assert_eq!(stats.generated_tokens, 8);
    engine.send(&Request::Measure { again: false }).unwrap();
    assert_eq!(settings_chosen(&mut engine), chosen);
    drop(engine);

    // Another worker on the same machine, model and build remembers, and measures nothing.
    let (_engine, info) = measuring_engine(&home, &file);
    assert_eq!(info.settings.flash_attention, chosen.flash_attention);
    assert_eq!(
        info.settings.choice,
        Choice::Remembered,
        "{:?}",
        info.settings
    );
}

#[test]
fn a_request_that_comes_while_the_worker_measures_is_answered_first() {
    let home = Home::new();
    let file = home.dir.path().join("state/engine-tuning.json");
    let (mut engine, _) = measuring_engine(&home, &file);
    // Measuring has begun: the worker says so.
    loop {
        match engine.recv_timeout(Duration::from_secs(60)) {
            Some(Event::Measuring) => break,
            Some(Event::SettingsChosen(s)) => panic!("chosen before a request could come: {s:?}"),
            Some(Event::WorkerExited { exit }) => panic!("worker exited: {exit}"),
            Some(_) => {}
            None => panic!("the worker never began measuring"),
        }
    }
    generate(&mut engine, 1, ENGLISH, 8, true);
    let mut events = Vec::new();
    loop {
        match engine.recv_timeout(Duration::from_secs(300)) {
            Some(Event::GenerationFinished { job: 1, stats }) => {
                assert_eq!(stats.generated_tokens, 8);
                break;
            }
            Some(Event::SettingsChosen(_)) => events.push("chosen"),
            Some(Event::GenerationFailed { reason, .. }) => panic!("{reason}"),
            Some(Event::WorkerExited { exit }) => panic!("worker exited: {exit}"),
            Some(_) => {}
            None => panic!("no answer"),
        }
    }
    // The job was not kept waiting for the whole measurement...
    assert!(
        events.is_empty(),
        "the measurement finished first: {events:?}"
    );
    assert!(!file.exists(), "nothing is measured yet");
    // ...which goes on when the worker is idle again.
    let chosen = settings_chosen(&mut engine);
    assert_eq!(chosen.choice, Choice::Measured, "{chosen:?}");
    assert!(file.exists());
}

/// Sends a `Generate` for `variants` side by side and collects each one's text and stats.
fn generate_variants(
    engine: &mut Client,
    job: u64,
    variants: u32,
    sampling: SamplingParams,
    mut cancel_after_first: Option<u64>,
) -> Vec<(String, quill::engine::protocol::GenerationStats)> {
    send_completion(engine, job, ENGLISH, sampling, (true, true, variants));
    let mut texts = vec![String::new(); variants as usize];
    let mut ended = vec![None; variants as usize];
    while ended.iter().any(Option::is_none) {
        match engine.recv_timeout(Duration::from_secs(120)) {
            Some(Event::TokenGenerated { job: j, text }) => {
                texts[(j - job) as usize].push_str(&text);
                if cancel_after_first == Some(j) {
                    engine.send(&Request::Cancel { job: j }).unwrap();
                    cancel_after_first = None;
                }
            }
            Some(Event::GenerationFinished { job: j, stats }) => {
                let k = (j - job) as usize;
                assert!(ended[k].is_none(), "variant {k} ended twice");
                ended[k] = Some(stats);
            }
            Some(Event::GenerationFailed { reason, .. }) => panic!("generation failed: {reason}"),
            Some(Event::WorkerExited { exit }) => panic!("worker exited: {exit}"),
            Some(_) => {}
            None => panic!("no answer: {texts:?}"),
        }
    }
    texts.into_iter().zip(ended.into_iter().flatten()).collect()
}

#[test]
fn variants_side_by_side_each_stream_under_their_own_job_and_seed() {
    let home = Home::new();
    let mut engine = engine(&home);
    let sampled = SamplingParams {
        temperature: 1.0,
        max_tokens: 24,
        seed: 11,
        ..SamplingParams::default()
    };
    let runs = generate_variants(&mut engine, 10, 3, sampled.clone(), None);
    for (text, stats) in &runs {
        assert_eq!(stats.generated_tokens, 24, "{text:?}");
        assert_eq!(stats.stop_reason, StopReason::MaxTokens);
        assert!(!text.trim().is_empty());
    }
    let texts: Vec<&str> = runs.iter().map(|(t, _)| t.as_str()).collect();
    // (Greedy variants are not the same token for token: each sequence's cells sit
    // elsewhere in the cache, so sums run in another order and near-ties can tip.)
    assert!(
        texts[0] != texts[1] && texts[1] != texts[2] && texts[0] != texts[2],
        "each its own seed: {texts:?}"
    );
    // The prompt was read once: the next request reuses it from the first variant's sequence.
    generate(&mut engine, 20, ENGLISH, 4, true);
    let (stats, _) = finish(&mut engine, 20);
    assert!(
        stats.reused_tokens + 1 >= stats.prompt_tokens,
        "the prompt stayed in the cache: {stats:?}"
    );
}

#[test]
fn a_variant_cancelled_alone_stops_while_the_others_go_on() {
    let home = Home::new();
    let mut engine = engine(&home);
    let sampling = SamplingParams {
        temperature: 0.8,
        max_tokens: 40,
        seed: 3,
        ..SamplingParams::default()
    };
    let runs = generate_variants(&mut engine, 40, 3, sampling, Some(41));
    assert_eq!(runs[1].1.stop_reason, StopReason::Cancelled);
    assert!(runs[1].1.generated_tokens < 40, "{:?}", runs[1].1);
    for k in [0, 2] {
        assert_eq!(runs[k].1.generated_tokens, 40, "{:?}", runs[k].1);
    }
}

#[test]
fn more_variants_than_the_cache_holds_side_by_side_come_in_waves() {
    let home = Home::new();
    // Room beside the prompt for two answers of 200 tokens at a time.
    let (mut engine, _) = worker(&home, Vec::new(), 512, FlashAttention::Off);
    let sampling = SamplingParams {
        temperature: 0.8,
        max_tokens: 200,
        seed: 5,
        ..SamplingParams::default()
    };
    let runs = generate_variants(&mut engine, 50, 5, sampling, None);
    for (text, stats) in &runs {
        assert_eq!(stats.generated_tokens, 200, "{text:?}");
        assert_eq!(stats.stop_reason, StopReason::MaxTokens);
    }
}

#[test]
fn a_machine_busy_with_other_programs_is_not_measured() {
    let home = Home::new();
    let file = home.dir.path().join("state/engine-tuning.json");
    // Other programs keep one and a half cores busy.
    let (mut engine, _) = measuring_engine_beside(&home, &file, 1.5);
    let chosen = settings_chosen(&mut engine);
    assert_eq!(chosen.flash_attention, FlashAttention::Off);
    assert_eq!(chosen.choice, Choice::NotMeasured, "{chosen:?}");
    assert!(!file.exists(), "nothing measured on a busy machine is kept");
    // It still answers.
    generate(&mut engine, 1, ENGLISH, 4, true);
    assert_eq!(finish(&mut engine, 1).0.generated_tokens, 4);
}
