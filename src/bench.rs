//! `quill bench`: the engine measured as a writer feels it, like llama.cpp's llama-bench.
//! Prompt processing and generation speed, cold and warm time to first token on a long draft
//! (prefix reuse), the worker's peak memory, and generation through the worker against the same
//! generation run in-process straight on llama-cpp-2, interleaved round by round.

pub mod assistant;
pub mod busy;
pub mod editor;

use std::time::Instant;

use serde::Serialize;

use crate::engine::Client;
use crate::engine::protocol::{Fit, GenerateOptions, Part, Prompt, SamplingParams};
use crate::engine::worker::direct_generation_rounds;
use crate::headless::{
    Failure, JobRun, RunOptions, Settings, load_params, start_engine, stream_job,
};

const DRAFT: &str = include_str!("../defaults/bench-draft.md");
const ROUNDS: usize = 5;
const PP_TOKENS: u32 = 512;
const TG_TOKENS: u32 = 128;
const DRAFT_TOKENS: u32 = 1500;

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub n_ctx: u32,
    pub threads: u32,
    pub rounds: usize,
    pub pp_tokens: u32,
    pub pp_tokens_per_s: f64,
    pub tg_tokens: u32,
    pub tg_tokens_per_s: f64,
    pub tg_direct_tokens_per_s: f64,
    pub tg_ratio: f64,
    pub draft_tokens: u32,
    pub ttft_cold_ms: f64,
    pub ttft_warm_ms: f64,
    pub warm_reused_tokens: u32,
    pub warm_over_cold: f64,
    pub worker_peak_rss_mib: f64,
}

pub fn run(settings: &Settings, threads: u32, json: bool) -> Result<(), Failure> {
    let options = RunOptions {
        threads: Some(threads),
        ..RunOptions::default()
    };
    let (mut engine, info) = start_engine(settings, &options)?;
    eprintln!(
        "quill bench: {} ({} tokens of context)",
        info.name, info.n_ctx
    );

    let long_draft = long_draft();
    let pp_text = text_of_tokens(&mut engine, &long_draft, PP_TOKENS)?;
    let draft = text_of_tokens(&mut engine, &long_draft, DRAFT_TOKENS)?;
    let mut rounds = Rounds::default();
    let mut quill_round = |_round: usize| rounds.round(&mut engine, &pp_text, &draft);
    let params = load_params(settings, &options);
    let direct_rates =
        direct_generation_rounds(&params, &pp_text, TG_TOKENS, ROUNDS, &mut quill_round)
            .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let peak_rss = engine.pid().map_or(0.0, peak_rss_mib);

    let tg = median(&rounds.tg_rates);
    let direct = median(&direct_rates);
    let cold = median(&rounds.cold_ms);
    let warm = median(&rounds.warm_ms);
    let report = BenchReport {
        model: info.name,
        n_ctx: info.n_ctx,
        threads: params.n_threads,
        rounds: ROUNDS,
        pp_tokens: rounds.pp_tokens,
        pp_tokens_per_s: median(&rounds.pp_rates),
        tg_tokens: TG_TOKENS,
        tg_tokens_per_s: tg,
        tg_direct_tokens_per_s: direct,
        tg_ratio: tg / direct.max(1e-9),
        draft_tokens: rounds.draft_tokens,
        ttft_cold_ms: cold,
        ttft_warm_ms: warm,
        warm_reused_tokens: rounds.reused,
        warm_over_cold: warm / cold.max(1e-9),
        worker_peak_rss_mib: peak_rss,
    };
    print_report(&report, json, print_table);
    Ok(())
}

/// What the rounds through the worker measured, round by round.
#[derive(Default)]
struct Rounds {
    pp_rates: Vec<f64>,
    tg_rates: Vec<f64>,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    reused: u32,
    pp_tokens: u32,
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
        let greedy = SamplingParams {
            temperature: 0.0,
            repeat_penalty: 1.0,
            max_tokens,
            ..SamplingParams::default()
        };
        let options = GenerateOptions {
            reuse_prefix,
            ignore_eos: true,
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

    /// One round: prompt processing, generation, then the time to a first token cold and
    /// warm, all through the worker and the protocol, timed on this side.
    fn round(&mut self, engine: &mut Client, pp_text: &str, draft: &str) -> anyhow::Result<()> {
        // Prompt processing: a cold 512-token prompt, one token out.
        let run = self.job(engine, pp_text, 1, false)?;
        self.pp_rates.push(run.stats.prompt_tokens_per_s);
        self.pp_tokens = run.stats.prompt_tokens;
        let run = self.job(engine, pp_text, TG_TOKENS, false)?;
        let first = run.first_token.unwrap_or(run.sent);
        let secs = run.finished.duration_since(first).as_secs_f64();
        let rate = f64::from(run.stats.generated_tokens.saturating_sub(1)) / secs.max(1e-9);
        self.tg_rates.push(rate);
        // Cold, then warm after one more word.
        let run = self.job(engine, draft, 1, false)?;
        self.cold_ms
            .push(ttft_ms(run.sent, run.first_token, run.finished));
        self.draft_tokens = run.stats.prompt_tokens;
        let run = self.job(engine, &format!("{draft} word"), 1, true)?;
        self.warm_ms
            .push(ttft_ms(run.sent, run.first_token, run.finished));
        self.reused = run.stats.reused_tokens;
        Ok(())
    }
}

/// A report as pretty JSON, or as the table `table` prints.
pub fn print_report<T: Serialize>(report: &T, json: bool, table: fn(&T)) {
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
    let threads = if r.threads == 0 {
        "all cores".to_string()
    } else {
        r.threads.to_string()
    };
    println!(
        "model {}  n_ctx {}  threads {threads}  median of {} rounds",
        r.model, r.n_ctx, r.rounds
    );
    println!("| test                                   |        value | target   |");
    println!("|----------------------------------------|--------------|----------|");
    let row = |name: &str, value: String, target: &str| {
        println!("| {name:<38} | {value:>12} | {target:<8} |")
    };
    row(
        &format!("prompt processing ({} tokens)", r.pp_tokens),
        format!("{:.1} t/s", r.pp_tokens_per_s),
        "",
    );
    row(
        &format!("generation ({} tokens), quill", r.tg_tokens),
        format!("{:.1} t/s", r.tg_tokens_per_s),
        "",
    );
    row(
        &format!("generation ({} tokens), direct", r.tg_tokens),
        format!("{:.1} t/s", r.tg_direct_tokens_per_s),
        "",
    );
    row(
        "generation ratio quill/direct",
        format!("{:.3}", r.tg_ratio),
        ">= 0.97",
    );
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

/// The bench draft repeated into a long article.
fn long_draft() -> String {
    (1..=8)
        .map(|k| format!("## Part {k}\n\n{DRAFT}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A prefix of `text`, cut at a word, that the model reads as about `target` tokens: measured,
/// not guessed, by asking the worker how long a candidate is.
fn text_of_tokens(engine: &mut Client, text: &str, target: u32) -> Result<String, Failure> {
    let mut chars_per_token = 4.0;
    let mut candidate = String::new();
    for attempt in 0..4 {
        let want = (f64::from(target) * chars_per_token) as usize;
        candidate = cut_at_word(text, want).to_string();
        let tokens = prompt_tokens(engine, &candidate, 900 + attempt)?;
        if tokens.abs_diff(target) <= 2 {
            break;
        }
        chars_per_token = candidate.len() as f64 / f64::from(tokens.max(1));
    }
    Ok(candidate)
}

fn cut_at_word(text: &str, max_bytes: usize) -> &str {
    if max_bytes >= text.len() {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind(char::is_whitespace) {
        Some(space) => &text[..space],
        None => &text[..end],
    }
}

fn prompt_tokens(engine: &mut Client, text: &str, job: u64) -> Result<u32, Failure> {
    let run = stream_job(
        engine,
        job,
        &completion(text),
        &SamplingParams {
            temperature: 0.0,
            max_tokens: 1,
            ..SamplingParams::default()
        },
        GenerateOptions::default(),
        &mut |_| Ok(true),
    )?;
    Ok(run.stats.prompt_tokens)
}

fn ttft_ms(sent: Instant, first: Option<Instant>, finished: Instant) -> f64 {
    // One token was asked for; if its text was empty no token event came, and the end is it.
    first.unwrap_or(finished).duration_since(sent).as_secs_f64() * 1000.0
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
    fn cutting_at_a_word_never_splits_a_character() {
        assert_eq!(cut_at_word("alpha beta gamma", 12), "alpha beta");
        assert_eq!(cut_at_word("汉字汉字", 4), "汉");
        assert_eq!(cut_at_word("short", 100), "short");
    }

    #[test]
    fn the_long_draft_is_long_enough_for_the_ttft_test() {
        // About 4 characters a token in English prose: 1,500 tokens need ~6,000 characters.
        assert!(long_draft().len() > 2 * 6_000);
    }
}
