//! The engine client against the real worker and model: cancelling, prefix reuse, and a worker
//! that dies mid-generation.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ENGLISH, Home, MODEL_THREADS, QUILL, model, stderr};
use quill::engine::protocol::{
    EngineSettings, Event, Fit, FlashAttention, GenerateOptions, LoadParams, ModelInfo, Part,
    Prompt, Request, SamplingParams, StopReason,
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
    assert_eq!(info.settings.chosen_by, "to be measured");

    // Left idle, the worker measures both settings and says what it chose.
    let chosen = settings_chosen(&mut engine);
    assert!(chosen.chosen_by.starts_with("measured here;"), "{chosen:?}");
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
    assert!(
        info.settings.chosen_by.starts_with("measured here before;"),
        "{:?}",
        info.settings
    );
}

#[test]
fn a_request_that_comes_while_the_worker_measures_is_answered_first() {
    let home = Home::new();
    let file = home.dir.path().join("state/engine-tuning.json");
    let (mut engine, _) = measuring_engine(&home, &file);
    // Past the idle pause: measuring has begun.
    std::thread::sleep(Duration::from_secs(4));
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
    assert!(chosen.chosen_by.starts_with("measured here;"), "{chosen:?}");
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
    assert!(chosen.chosen_by.contains("busy"), "{chosen:?}");
    assert!(!file.exists(), "nothing measured on a busy machine is kept");
    // It still answers.
    generate(&mut engine, 1, ENGLISH, 4, true);
    assert_eq!(finish(&mut engine, 1).0.generated_tokens, 4);
}

/// A worker generating without flash attention, long prompts read with it in a second context
/// (`on`) or not: what its cache holds after such a read must be what reading without it gives.
fn reading_engine(home: &Home, on: bool) -> Client {
    let env = vec![(
        quill::engine::worker::READ_WITH_FLASH_ENV.to_string(),
        if on { "1" } else { "0" }.to_string(),
    )];
    worker(home, env, 2048, FlashAttention::Off).0
}

fn greedy_text(engine: &mut Client, job: u64, text: &str, max_tokens: u32) -> (String, u32) {
    let (out, stats) = greedy_run(engine, job, text, max_tokens);
    (out, stats.reused_tokens)
}

fn greedy_run(
    engine: &mut Client,
    job: u64,
    text: &str,
    max_tokens: u32,
) -> (String, quill::engine::protocol::GenerationStats) {
    generate(engine, job, text, max_tokens, true);
    let mut out = String::new();
    let stats = finish_with(engine, job, &mut |piece| out.push_str(piece));
    (out, stats)
}

#[test]
fn a_long_prompt_read_with_flash_attention_is_continued_from_its_moved_cache() {
    // Counting leaves the model no doubt about the next tokens, so the small differences
    // between the two attention kernels cannot change them; a cache moved wrong (values not
    // transposed, cells out of place) would.
    let count: String = (1..=160).map(|n| format!("{n}, ")).collect();
    let (home, plain_home) = (Home::new(), Home::new());
    let mut reading = reading_engine(&home, true);
    let mut plain = reading_engine(&plain_home, false);
    let settings = |engine: &mut Client| {
        engine.send(&Request::Measure { again: false }).unwrap();
        settings_chosen(engine)
    };
    assert!(settings(&mut reading).reads_with_flash);
    assert!(!settings(&mut plain).reads_with_flash);

    let (text, _) = greedy_text(&mut reading, 1, &count, 12);
    let (want, _) = greedy_text(&mut plain, 1, &count, 12);
    assert!(text.trim_start().starts_with("161, 162"), "{text:?}");
    assert_eq!(text, want);
    let log = std::fs::read_to_string(home.worker_log()).unwrap_or_default();
    assert!(
        log.contains("with flash attention in") && log.contains("moved in"),
        "the long prompt was not read by the reader: {log}"
    );

    // The moved cache is the generating context's own from then on: one more number is a
    // short read after a reused prefix.
    let more = format!("{count}161, ");
    let (text, reused) = greedy_text(&mut reading, 2, &more, 8);
    let (want, _) = greedy_text(&mut plain, 2, &more, 8);
    assert!(reused as usize > count.len() / 4, "reused {reused}");
    assert!(text.trim_start().starts_with("162, 163"), "{text:?}");
    assert_eq!(text, want);

    // A long addition after that: read in the reader too, and only its cells moved, after the
    // prefix the generating context holds.
    let longer: String = (1..=260).map(|n| format!("{n}, ")).collect();
    let (text, reused) = greedy_text(&mut reading, 10, &longer, 8);
    let (want, _) = greedy_text(&mut plain, 10, &longer, 8);
    assert!(text.trim_start().starts_with("261, 262"), "{text:?}");
    assert_eq!(text, want);
    let log = std::fs::read_to_string(home.worker_log()).unwrap_or_default();
    let last = log.lines().rfind(|l| l.contains("moved in")).unwrap_or("");
    let moved: Vec<usize> = last.split(' ').filter_map(|w| w.parse().ok()).collect();
    // "read N tokens ... in T ms, cache of M of TOTAL moved in T ms"
    assert!(
        moved.len() >= 5 && moved[2] + reused as usize == moved[3],
        "{last} (reused {reused})"
    );

    // A request that may reuse nothing drops what the reader holds too (even one too short
    // for the reader): the long prompt is then read again, not taken from the reader's cache.
    let greedy = SamplingParams {
        temperature: 0.0,
        max_tokens: 2,
        ..SamplingParams::default()
    };
    send_completion(&mut reading, 3, "1, 2, 3, ", greedy, (false, true, 1));
    assert_eq!(finish_with(&mut reading, 3, &mut |_| {}).reused_tokens, 0);
    let (text, _) = greedy_text(&mut reading, 4, &count, 4);
    assert!(text.trim_start().starts_with("161"), "{text:?}");
    let log = std::fs::read_to_string(home.worker_log()).unwrap_or_default();
    let reads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("with flash attention in"))
        .collect();
    assert_eq!(reads.len(), 3, "{log}");
    assert_eq!(reads[0].split(" in ").next(), reads[2].split(" in ").next());
}

/// A worker generating without flash attention that answers prompts whose context stays under
/// `below` tokens in a second context with it on (`FLASH_GENERATES_BELOW_ENV`), reading long
/// prompts where it generates.
fn answering_engine(home: &Home, below: u32) -> Client {
    let env = vec![
        (
            quill::engine::worker::FLASH_GENERATES_BELOW_ENV.to_string(),
            below.to_string(),
        ),
        (
            quill::engine::worker::READ_WITH_FLASH_ENV.to_string(),
            "0".to_string(),
        ),
    ];
    worker(home, env, 2048, FlashAttention::Off).0
}

#[test]
fn short_prompts_are_answered_with_flash_attention_and_a_draft_that_grows_moves_over() {
    const BELOW: u32 = 300;
    let count = |to: u32| -> String { (1..=to).map(|n| format!("{n}, ")).collect() };
    let (short, long) = (count(60), count(160));
    let (home, plain_home) = (Home::new(), Home::new());
    let mut answering = answering_engine(&home, BELOW);
    let mut plain = answering_engine(&plain_home, 0);
    let settings = |engine: &mut Client| {
        engine.send(&Request::Measure { again: false }).unwrap();
        settings_chosen(engine)
    };
    let chosen = settings(&mut answering);
    assert_eq!(chosen.flash_generates_below, BELOW);
    assert!(!chosen.reads_with_flash);
    assert!(chosen.describe().contains("answers under 300 tokens"));
    assert_eq!(settings(&mut plain).flash_generates_below, 0);

    // A short prompt: answered with flash attention on, the same numbers as without it.
    let (text, stats) = greedy_run(&mut answering, 1, &short, 12);
    let (short_want, plain_stats) = greedy_run(&mut plain, 1, &short, 12);
    assert!(stats.prompt_tokens + 6 < BELOW, "{stats:?}");
    assert!(stats.with_flash && !plain_stats.with_flash);
    assert!(text.trim_start().starts_with("61, 62"), "{text:?}");
    assert_eq!(text, short_want);

    // Three sampled variants there: the cache then holds the first one's cells among freed
    // ones, which the move below must carry over in their order.
    let sampled = SamplingParams {
        temperature: 0.8,
        max_tokens: 8,
        seed: 3,
        ..SamplingParams::default()
    };
    send_completion(&mut answering, 2, &short, sampled, (true, true, 3));
    for job in 2..5 {
        let stats = finish_with(&mut answering, job, &mut |_| {});
        assert!(stats.with_flash, "{stats:?}");
        assert_eq!(stats.generated_tokens, 8);
    }

    // The draft grows past the depth: generated without flash attention, what the second
    // context holds of it moved over rather than read again, and continued as without it.
    let (text, stats) = greedy_run(&mut answering, 5, &long, 12);
    let (want, _) = greedy_run(&mut plain, 5, &long, 12);
    assert!(stats.prompt_tokens > BELOW, "{stats:?}");
    assert!(!stats.with_flash);
    assert!(text.trim_start().starts_with("161, 162"), "{text:?}");
    assert_eq!(text, want);
    let log = std::fs::read_to_string(home.worker_log()).unwrap_or_default();
    assert!(log.contains("moved in"), "the cache was not moved: {log}");

    // Back under it: answered with flash attention again, from the prefix it holds.
    let (text, stats) = greedy_run(&mut answering, 6, &short, 12);
    assert!(stats.with_flash && stats.reused_tokens > 0, "{stats:?}");
    assert_eq!(text, short_want);
}
