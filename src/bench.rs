//! `quill bench`: the engine measured as a writer feels it, like llama.cpp's llama-bench.
//! Prompt processing and generation speed, cold and warm time to first token on a long draft
//! (prefix reuse), the worker's peak memory, and generation through the worker against the same
//! generation run in-process straight on llama-cpp-2, interleaved round by round.

pub mod article;
pub mod assistant;
pub mod busy;
pub mod editor;
pub mod lookup;
pub mod quality;

use std::time::Instant;

use serde::Serialize;

use crate::engine::Client;
use crate::engine::llama::sweep::{Baseline, DepthRate, Sweep};
use crate::engine::protocol::{
    EngineSettings, Event, Fit, GenerateOptions, Part, Prompt, Request, SamplingParams,
    describe_placement,
};
use crate::headless::{
    Failure, JobRun, RunOptions, Settings, load_params, start_engine, stream_job, stream_jobs,
};

const DRAFT: &str = include_str!("../defaults/bench-draft.md");
const PP_TOKENS: u32 = 512;
const TG_TOKENS: u32 = 128;
const DRAFT_TOKENS: u32 = 1500;
/// The depths writers work at: nothing yet, a short piece, a long one. The context's end (less
/// room for the prompt and the answer) is added to them.
const DEPTHS: [u32; 3] = [0, 512, 1500];
/// Variant counts timed side by side (the editor asks for 3), and the most time a request for
/// each may take against a request for one.
const VARIANTS: [(u32, f64); 3] = [(1, 1.0), (3, 1.6), (5, 2.2)];
const VARIANT_TOKENS: u32 = 128;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub n_ctx: u32,
    pub threads: u32,
    pub rounds: usize,
    /// What the worker decodes with, and how that was chosen.
    pub settings: EngineSettings,
    /// Where the model's layers went: "CPU: 31 layers", "CUDA0: 31 layers".
    pub backend: String,
    /// What the in-process baseline decodes with.
    pub baseline: String,
    pub depths: Vec<DepthReport>,
    pub draft_tokens: u32,
    pub ttft_cold_ms: f64,
    pub ttft_warm_ms: f64,
    pub warm_reused_tokens: u32,
    pub warm_over_cold: f64,
    /// Variants side by side: each count's time to all ends, against one.
    pub variants: Vec<VariantsReport>,
    pub worker_peak_rss_mib: f64,
}

/// `count` variants of `tokens` tokens each after one prompt of `prompt_tokens`, side by side.
#[derive(Debug, Serialize)]
pub struct VariantsReport {
    pub count: u32,
    pub tokens: u32,
    pub prompt_tokens: u32,
    /// The whole request, as a writer waits for it: the prompt read (nothing of it cached),
    /// then every variant to its end.
    pub ms: f64,
    pub over_one: f64,
    /// What the editor and `quill template run` must keep to, for the whole request.
    pub target: Option<f64>,
    /// The generation alone, the prompt read before: what batching the sequences buys
    /// without the shared prompt's help.
    pub generation_ms: f64,
    pub generation_over_one: f64,
    /// The samples the medians above come from, round by round.
    pub samples: Vec<f64>,
    pub generation_samples: Vec<f64>,
}

/// Prompt processing and generation after `depth` tokens of context: through the worker and
/// its protocol (Quill), and straight on llama-cpp-2 with llama.cpp's defaults (direct).
#[derive(Debug, Serialize)]
pub struct DepthReport {
    pub depth: u32,
    pub pp_tokens: u32,
    pub pp_tokens_per_s: f64,
    pub pp_direct_tokens_per_s: f64,
    pub pp_ratio: f64,
    pub tg_tokens: u32,
    pub tg_tokens_per_s: f64,
    pub tg_direct_tokens_per_s: f64,
    pub tg_ratio: f64,
    /// Quill generated at this depth with flash attention on (the last round; a worker that
    /// generates without it answers short prompts with it where that measured faster).
    pub tg_with_flash: bool,
    /// Round by round, in the order measured (the figures above are their medians): what a
    /// comparison with another tool's repetitions needs.
    pub pp_samples: Vec<f64>,
    pub pp_direct_samples: Vec<f64>,
    pub tg_samples: Vec<f64>,
    pub tg_direct_samples: Vec<f64>,
}

pub fn run(settings: &Settings, threads: u32, rounds: usize, json: bool) -> Result<(), Failure> {
    let options = RunOptions {
        threads: Some(threads),
        ..RunOptions::default()
    };
    let (mut engine, mut info) = start_engine(settings, &options)?;
    let params = load_params(settings, &options);
    info.settings = chosen_settings(&mut engine)?;
    eprintln!(
        "quill bench: {} ({} tokens of context), {}",
        info.name,
        info.n_ctx,
        info.settings.describe()
    );
    let baseline = Baseline::load(&params).map_err(|e| Failure::engine(format!("{e:#}")))?;
    let sweep = sweep_for(info.n_ctx);
    let text = long_draft(sweep.tokens_needed());
    let texts = SweepTexts::new(&baseline, &text, &sweep);

    let mut quill = Rounds::default();
    let mut quill_round = |_round: usize| quill.round(&mut engine, &texts);
    let direct = baseline
        .rounds(&text, &sweep, rounds.max(1), &mut quill_round)
        .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let peak_rss = engine.pid().map_or(0.0, peak_rss_mib);

    let cold = median(&quill.cold_ms);
    let warm = median(&quill.warm_ms);
    let report = BenchReport {
        model: info.name,
        n_ctx: info.n_ctx,
        threads: info.settings.threads,
        rounds: rounds.max(1),
        settings: info.settings,
        backend: describe_placement(&info.placement),
        baseline: "llama.cpp's defaults (flash attention auto, n_batch 2048, n_ubatch 512, \
                   f16 cache), same context and threads"
            .into(),
        depths: depth_reports(&sweep, (&quill.sweeps, &quill.with_flash), &direct),
        draft_tokens: quill.draft_tokens,
        ttft_cold_ms: cold,
        ttft_warm_ms: warm,
        warm_reused_tokens: quill.reused,
        warm_over_cold: warm / cold.max(1e-9),
        variants: variants_reports(&quill.variants_ms, quill.variant_prompt_tokens),
        worker_peak_rss_mib: peak_rss,
    };
    print_report(&report, json, print_table);
    Ok(())
}

/// The settings the worker decodes with once it has measured them (the editor's worker does it
/// when the writer pauses; the bench asks at once and waits, so its figures are the writer's).
fn chosen_settings(engine: &mut Client) -> Result<EngineSettings, Failure> {
    let failed = |e: anyhow::Error| Failure::engine(format!("{e:#}"));
    engine
        .send(&Request::Measure { again: false })
        .map_err(failed)?;
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match engine.recv_timeout(left) {
            Some(Event::SettingsChosen(settings)) => return Ok(settings),
            Some(Event::WorkerExited { exit }) => {
                return Err(Failure::engine(format!(
                    "the engine stopped while measuring its settings ({exit})"
                )));
            }
            Some(_) => {}
            None => break,
        }
    }
    Err(Failure::engine(
        "the engine did not finish measuring its settings in 10 minutes",
    ))
}

/// The writers' depths that fit this context, and its end.
fn sweep_for(n_ctx: u32) -> Sweep {
    let end = n_ctx.saturating_sub(PP_TOKENS + TG_TOKENS);
    let mut depths: Vec<u32> = DEPTHS.iter().copied().filter(|&d| d < end).collect();
    depths.push(end);
    Sweep {
        depths,
        pp_tokens: PP_TOKENS,
        tg_tokens: TG_TOKENS,
        chunk: 0,
    }
}

/// Each depth's rates, the median over rounds, beside the baseline's.
fn depth_reports(
    sweep: &Sweep,
    (quill, with_flash): (&[Vec<DepthRate>], &[bool]),
    direct: &[Vec<DepthRate>],
) -> Vec<DepthReport> {
    let samples = |rounds: &[Vec<DepthRate>], i: usize, rate: fn(&DepthRate) -> f64| -> Vec<f64> {
        rounds.iter().filter_map(|r| r.get(i)).map(rate).collect()
    };
    sweep
        .depths
        .iter()
        .enumerate()
        .map(|(i, &depth)| {
            let pp_samples = samples(quill, i, |r| r.pp_tokens_per_s);
            let pp_direct_samples = samples(direct, i, |r| r.pp_tokens_per_s);
            let tg_samples = samples(quill, i, |r| r.tg_tokens_per_s);
            let tg_direct_samples = samples(direct, i, |r| r.tg_tokens_per_s);
            let (pp, pp_direct) = (median(&pp_samples), median(&pp_direct_samples));
            let (tg, tg_direct) = (median(&tg_samples), median(&tg_direct_samples));
            DepthReport {
                depth,
                pp_tokens: sweep.pp_tokens,
                pp_tokens_per_s: pp,
                pp_direct_tokens_per_s: pp_direct,
                pp_ratio: pp / pp_direct.max(1e-9),
                tg_tokens: sweep.tg_tokens,
                tg_tokens_per_s: tg,
                tg_direct_tokens_per_s: tg_direct,
                tg_ratio: tg / tg_direct.max(1e-9),
                tg_with_flash: with_flash.get(i).copied().unwrap_or(false),
                pp_samples,
                pp_direct_samples,
                tg_samples,
                tg_direct_samples,
            }
        })
        .collect()
}

fn variants_reports(times: &[Vec<(f64, f64)>], prompt_tokens: u32) -> Vec<VariantsReport> {
    let samples = |i: usize, pick: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        times.iter().filter_map(|r| r.get(i).map(pick)).collect()
    };
    let whole = |i| samples(i, |t| t.0);
    let generation = |i| samples(i, |t| t.1);
    let one = median(&whole(0)).max(1e-9);
    let one_generation = median(&generation(0)).max(1e-9);
    VARIANTS
        .iter()
        .enumerate()
        .map(|(i, &(count, target))| {
            let ms = median(&whole(i));
            let generation_ms = median(&generation(i));
            VariantsReport {
                count,
                tokens: VARIANT_TOKENS,
                prompt_tokens,
                ms,
                over_one: ms / one,
                target: (count > 1).then_some(target),
                generation_ms,
                generation_over_one: generation_ms / one_generation,
                samples: whole(i),
                generation_samples: generation(i),
            }
        })
        .collect()
}

/// The texts a round sends: for each depth, the text that fills the context to it and the one
/// that reads a prompt after it; and the long draft for the time to a first token.
struct SweepTexts {
    depths: Vec<(u32, String, String)>,
    draft: String,
}

impl SweepTexts {
    fn new(baseline: &Baseline, text: &str, sweep: &Sweep) -> Self {
        // Depth 0 still needs one token for the worker to continue.
        let counts: Vec<u32> = sweep
            .depths
            .iter()
            .flat_map(|&d| [d.max(1), d + sweep.pp_tokens])
            .chain([DRAFT_TOKENS])
            .collect();
        let mut prefixes = baseline.prefixes(text, &counts).into_iter();
        let depths = sweep
            .depths
            .iter()
            .map(|&d| {
                let at = prefixes.next().unwrap_or_default();
                let after = prefixes.next().unwrap_or_default();
                (d, at, after)
            })
            .collect();
        SweepTexts {
            depths,
            draft: prefixes.next().unwrap_or_default(),
        }
    }
}

/// What the rounds through the worker measured, round by round.
#[derive(Default)]
struct Rounds {
    sweeps: Vec<Vec<DepthRate>>,
    /// Per depth, whether the last round generated there with flash attention on.
    with_flash: Vec<bool>,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    /// Per round, per count in `VARIANTS`: ms to the last variant's end, the prompt read in
    /// the request and read before it.
    variants_ms: Vec<Vec<(f64, f64)>>,
    variant_prompt_tokens: u32,
    reused: u32,
    draft_tokens: u32,
    job: u64,
}

impl Rounds {
    /// One job of greedy completion of `text`, at most `max_tokens`, to its end.
    fn job(
        &mut self,
        engine: &mut Client,
        text: &str,
        max_tokens: u32,
        reuse_prefix: bool,
    ) -> anyhow::Result<JobRun> {
        self.job += 1;
        let greedy = SamplingParams::greedy(max_tokens);
        let options = GenerateOptions {
            reuse_prefix,
            ignore_eos: true,
            variants: 1,
            ..GenerateOptions::default()
        };
        stream_job(
            engine,
            100 + self.job,
            &completion(text),
            &greedy,
            options,
            &mut |_| Ok(true),
        )
        .map_err(|f| anyhow::anyhow!(f.message))
    }

    /// One round, all through the worker and the protocol, timed on this side: at each depth
    /// the prompt read after it and the generation after it (the cache kept between, as a
    /// writer's session keeps it); then the time to a first token on the long draft, cold and
    /// warm after one more word.
    fn round(&mut self, engine: &mut Client, texts: &SweepTexts) -> anyhow::Result<()> {
        let mut rates = Vec::with_capacity(texts.depths.len());
        self.with_flash.clear();
        for (depth, at, after) in &texts.depths {
            // From nothing: what an earlier test left in a cache (the worker's, or its
            // reader's) must not make this read shorter than its 512 tokens.
            self.job(engine, at, 1, false)?;
            let read = self.job(engine, after, 1, true)?;
            let run = self.job(engine, at, TG_TOKENS, true)?;
            self.with_flash.push(run.stats.with_flash);
            let first = run.first_token.unwrap_or(run.sent);
            let secs = run.finished.duration_since(first).as_secs_f64();
            rates.push(DepthRate {
                depth: *depth,
                pp_tokens_per_s: read.stats.prompt_tokens_per_s,
                tg_tokens_per_s: f64::from(run.stats.generated_tokens.saturating_sub(1))
                    / secs.max(1e-9),
            });
        }
        self.sweeps.push(rates);
        let run = self.job(engine, &texts.draft, 1, false)?;
        self.cold_ms
            .push(ttft_ms(run.sent, run.first_token, run.finished));
        self.draft_tokens = run.stats.prompt_tokens;
        let run = self.job(engine, &format!("{} word", texts.draft), 1, true)?;
        self.warm_ms
            .push(ttft_ms(run.sent, run.first_token, run.finished));
        self.reused = run.stats.reused_tokens;
        let prompt = &texts.depths.get(1).map_or(&texts.draft, |(_, at, _)| at);
        let mut times = Vec::with_capacity(VARIANTS.len());
        for (count, _) in VARIANTS {
            let whole = self.variants(engine, prompt, count, false)?;
            let generation = self.variants(engine, prompt, count, true)?;
            times.push((whole, generation));
        }
        self.variants_ms.push(times);
        Ok(())
    }

    /// `count` sampled variants of `VARIANT_TOKENS` each after `text`: ms from the request to
    /// the last one's end. With `cached` the prompt is read before (only the generation is
    /// timed); without, the request reads it from nothing, as after a new draft is opened.
    fn variants(
        &mut self,
        engine: &mut Client,
        text: &str,
        count: u32,
        cached: bool,
    ) -> anyhow::Result<f64> {
        if cached {
            self.job(engine, text, 1, true)?;
        }
        let first = 100 + self.job + 1;
        self.job += u64::from(count);
        let sampling = SamplingParams {
            temperature: 0.8,
            max_tokens: VARIANT_TOKENS,
            seed: 7,
            ..SamplingParams::default()
        };
        let options = GenerateOptions {
            reuse_prefix: cached,
            ignore_eos: true,
            variants: count,
            ..GenerateOptions::default()
        };
        let runs = stream_jobs(
            engine,
            first,
            &completion(text),
            &sampling,
            options,
            &mut |_, _| Ok(true),
        )
        .map_err(|f| anyhow::anyhow!(f.message))?;
        if let Some(run) = runs.first() {
            self.variant_prompt_tokens = run.stats.prompt_tokens;
        }
        let sent = runs.first().map(|r| r.sent);
        let last = runs.iter().map(|r| r.finished).max();
        Ok(match (sent, last) {
            (Some(sent), Some(last)) => last.duration_since(sent).as_secs_f64() * 1000.0,
            _ => 0.0,
        })
    }
}

/// A report as pretty JSON, or as the table `table` prints.
pub fn print_report<T: Serialize>(report: &T, json: bool, table: impl FnOnce(&T)) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        table(report);
    }
}

fn print_table(r: &BenchReport) {
    println!(
        "model {}  n_ctx {}  threads {}  median of {} rounds",
        r.model, r.n_ctx, r.threads, r.rounds
    );
    println!("quill:  {}; {}", r.settings.describe(), r.backend);
    println!("direct: {}", r.baseline);
    println!("| test            |  quill t/s | direct t/s | quill/direct |");
    println!("|-----------------|------------|------------|--------------|");
    for d in &r.depths {
        let row = |name: String, quill: f64, direct: f64, ratio: f64| {
            println!("| {name:<15} | {quill:>10.1} | {direct:>10.1} | {ratio:>12.3} |")
        };
        row(
            format!("pp{} @ d{}", d.pp_tokens, d.depth),
            d.pp_tokens_per_s,
            d.pp_direct_tokens_per_s,
            d.pp_ratio,
        );
        let flash = if d.tg_with_flash { " fa" } else { "" };
        row(
            format!("tg{} @ d{}{flash}", d.tg_tokens, d.depth),
            d.tg_tokens_per_s,
            d.tg_direct_tokens_per_s,
            d.tg_ratio,
        );
    }
    println!();
    print_figures(r);
}

/// The second table: first tokens, variants and memory, each against its target.
fn print_figures(r: &BenchReport) {
    println!("| test                                   |        value | target   |");
    println!("|----------------------------------------|--------------|----------|");
    let row = |name: &str, value: String, target: &str| {
        println!("| {name:<38} | {value:>12} | {target:<8} |")
    };
    row(
        &format!("TTFT cold ({}-token draft)", r.draft_tokens),
        format!("{:.1} ms", r.ttft_cold_ms),
        "",
    );
    row(
        &format!("TTFT warm (+1 word, {} reused)", r.warm_reused_tokens),
        format!("{:.1} ms", r.ttft_warm_ms),
        "",
    );
    row(
        "warm / cold",
        format!("{:.1} %", r.warm_over_cold * 100.0),
        "<= 10 %",
    );
    for v in &r.variants {
        row(
            &format!(
                "{}-token prompt + {} x {} tokens",
                v.prompt_tokens, v.count, v.tokens
            ),
            format!("{:.0} ms", v.ms),
            "",
        );
        if let Some(target) = v.target {
            row(
                &format!("  {} variants / one, whole request", v.count),
                format!("{:.2}x", v.over_one),
                &format!("<= {target}x"),
            );
        }
    }
    for v in &r.variants {
        row(
            &format!("{} x {} tokens, prompt cached", v.count, v.tokens),
            format!("{:.0} ms", v.generation_ms),
            "",
        );
        if v.count > 1 {
            row(
                &format!("  {} variants / one, generation", v.count),
                format!("{:.2}x", v.generation_over_one),
                "",
            );
        }
    }
    row(
        "worker peak RSS",
        format!("{:.1} MiB", r.worker_peak_rss_mib),
        "",
    );
}

fn completion(text: &str) -> Prompt {
    Prompt::Completion {
        parts: vec![Part {
            text: text.to_string(),
            fit: Fit::Fixed,
        }],
    }
}

/// The bench draft repeated into an article of at least `tokens` tokens (at four characters a
/// token, with room to spare).
fn long_draft(tokens: usize) -> String {
    let parts = (tokens * 5).div_ceil(DRAFT.len()).max(1);
    (1..=parts)
        .map(|k| format!("## Part {k}\n\n{DRAFT}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ttft_ms(sent: Instant, first: Option<Instant>, finished: Instant) -> f64 {
    // One token was asked for; if its text was empty no token event came, and the end is it.
    first.unwrap_or(finished).duration_since(sent).as_secs_f64() * 1000.0
}

/// The engine of the benchmarks that run prompts through the headless path, with `threads`
/// (0: the free cores).
fn start_with_threads(
    settings: &crate::headless::Settings,
    threads: u32,
) -> Result<(crate::engine::Client, crate::engine::protocol::ModelInfo), crate::headless::Failure> {
    let options = crate::headless::RunOptions {
        threads: Some(threads),
        ..crate::headless::RunOptions::default()
    };
    crate::headless::start_engine(settings, &options)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// VmHWM: the worker's peak resident set, from /proc.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn the_long_draft_is_long_enough_for_the_ttft_test() {
        // About 4 characters a token in English prose: 1,500 tokens need ~6,000 characters.
        assert!(long_draft(1500).len() > 6_000);
        assert!(long_draft(4096).len() > 4 * 4096);
    }
}
