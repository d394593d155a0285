//! `quill bench --lookup`: prompt-lookup decoding against plain decoding, side by side in one
//! run on the same engine, over the passages of `defaults/bench-lookup.toml` (the seed
//! article's paragraphs in Chinese and English, and a public-domain English novel's): fix
//! grammar, rewrite, summarise and continue, each request made with drafting off and on, in
//! alternating order, with the same seed. The answers must be the same text; the report gives
//! the tokens per second of each, their ratio (median over the passages and rounds), the
//! tokens a decode and the share of drafted tokens that held.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::Client;
use crate::engine::protocol::{GenerateOptions, GenerationStats, JobId};
use crate::headless::{Failure, Settings, stream_job};
use crate::plan::{Layers, plan};
use crate::prompt::{PromptInput, PromptLibrary};
use crate::sampling::Sampling;

const DATA: &str = include_str!("../../defaults/bench-lookup.toml");

/// The tasks measured: a label, the built-in prompt, whether it reads the flawed text, and the
/// speed-up the issue asks of it.
const TASKS: [(&str, &str, bool, f64); 4] = [
    ("fix grammar", "rewrite-grammar", true, 2.0),
    ("rewrite", "rewrite-concise", false, 1.3),
    ("summarise", "summarise-tldr", false, 1.2),
    ("continue", "continue", false, 0.97),
];

#[derive(Debug, Deserialize)]
struct Data {
    passage: Vec<Passage>,
}

#[derive(Debug, Deserialize)]
struct Passage {
    id: String,
    language: String,
    text: String,
    flawed: String,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Rounds over every passage and task; medians are reported.
    pub rounds: usize,
    /// Also write the report into this Markdown file.
    pub out: Option<PathBuf>,
    /// Also put the summary table into this README, between its lookup markers.
    pub readme: Option<PathBuf>,
    pub json: bool,
    pub threads: u32,
    /// Print every answer on stderr.
    pub answers: bool,
}

/// Generation as measured for one request (or the sentences of a per-sentence one).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Speed {
    /// Tokens after each request's first (the first comes with the prompt's decode).
    pub tokens: u32,
    pub seconds: f64,
    pub drafted: u32,
    pub accepted: u32,
    pub decodes: u32,
}

impl Speed {
    fn add(&mut self, stats: &GenerationStats) {
        let after_first = stats.generated_tokens.saturating_sub(1);
        self.tokens += after_first;
        if stats.tokens_per_s > 0.0 {
            self.seconds += f64::from(after_first) / stats.tokens_per_s;
        }
        self.drafted += stats.drafted;
        self.accepted += stats.accepted;
        self.decodes += stats.decodes;
    }

    pub fn tokens_per_s(&self) -> f64 {
        f64::from(self.tokens) / self.seconds.max(1e-9)
    }
}

/// One task on one passage in one round, both ways.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub task: String,
    pub passage: String,
    pub language: String,
    pub plain: Speed,
    pub lookup: Speed,
    /// The two answers are the same text.
    pub same: bool,
}

impl Sample {
    /// Drafting's speed over plain decoding's.
    fn ratio(&self) -> f64 {
        self.lookup.tokens_per_s() / self.plain.tokens_per_s().max(1e-9)
    }

    /// Its progress line: the speeds both ways, their ratio, and whether the answers differ.
    fn line(&self) -> String {
        format!(
            "{} {} - {:.0} -> {:.0} t/s ({:.2}x){}",
            self.task,
            self.passage,
            self.plain.tokens_per_s(),
            self.lookup.tokens_per_s(),
            self.ratio(),
            if self.same {
                ""
            } else {
                ", the answers differ"
            }
        )
    }
}

/// A task in a language, over its samples.
#[derive(Debug, Serialize)]
pub struct Row {
    pub task: String,
    pub language: String,
    pub plain_tokens_per_s: f64,
    pub lookup_tokens_per_s: f64,
    /// The median of the samples' ratios.
    pub ratio: f64,
    pub goal: f64,
    pub tokens_per_decode: f64,
    pub accepted_share: f64,
    pub same: usize,
    pub samples: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub model: String,
    pub threads: u32,
    pub rounds: usize,
    pub rows: Vec<Row>,
    pub samples: Vec<Sample>,
}

pub fn run(settings: &Settings, options: &Options) -> Result<(), Failure> {
    let data: Data = toml::from_str(DATA)
        .map_err(|e| Failure::engine(format!("the benchmark's passages: {e}")))?;
    let library = settings.prompt_library();
    let (mut engine, info) = super::start_with_threads(settings, options.threads)?;
    let none = Sampling::default();
    let layers = Layers {
        settings: &settings.config.sampling,
        overrides: &none,
        default_variants: 1,
        raw: false,
        language: "auto",
        n_ctx: Some(info.n_ctx),
    };
    let mut job: JobId = 1;
    let mut samples = Vec::new();
    for round in 0..options.rounds.max(1) {
        for passage in &data.passage {
            for (i, &(task, prompt, flawed, _)) in TASKS.iter().enumerate() {
                let text = if flawed {
                    &passage.flawed
                } else {
                    &passage.text
                };
                let requests = requests(&library, prompt, text, layers, round)?;
                // Which goes first alternates, so a drift of the machine's speed falls on both.
                let lookup_first = (round + i) % 2 == 1;
                let mut run = |lookup| measure(&mut engine, &mut job, &requests, lookup);
                let (plain, with) = if lookup_first {
                    let with = run(true)?;
                    (run(false)?, with)
                } else {
                    let plain = run(false)?;
                    (plain, run(true)?)
                };
                if options.answers {
                    eprintln!("{task} {}:\n{}\n", passage.id, with.1);
                }
                let sample = Sample {
                    task: task.to_string(),
                    passage: passage.id.clone(),
                    language: passage.language.clone(),
                    same: plain.1 == with.1,
                    plain: plain.0,
                    lookup: with.0,
                };
                eprintln!("quill bench --lookup: {}", sample.line());
                samples.push(sample);
            }
        }
    }
    let report = Report {
        model: info.name.clone(),
        threads: options.threads,
        rounds: options.rounds.max(1),
        rows: rows(&samples),
        samples,
    };
    let table = render_table(&report);
    super::print_report(&report, options.json, |_| println!("{table}"));
    if let Some(out) = &options.out {
        std::fs::write(out, format!("{HEAD}{}\n", render(&report)))
            .map_err(|e| Failure::engine(format!("writing {}: {e}", out.display())))?;
    }
    if let Some(readme) = &options.readme {
        put_in_readme(readme, &table)?;
    }
    Ok(())
}

/// The requests a task makes of `text`: one, or one per sentence (a per-sentence rewrite), each
/// with the round's seed.
fn requests(
    library: &PromptLibrary,
    prompt: &str,
    text: &str,
    layers: Layers,
    round: usize,
) -> Result<
    Vec<(
        crate::engine::protocol::Prompt,
        crate::engine::protocol::SamplingParams,
    )>,
    Failure,
> {
    let template = library
        .get(prompt)
        .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let input = if prompt == "continue" {
        PromptInput {
            before: text.to_string(),
            document: text.to_string(),
            ..PromptInput::default()
        }
    } else {
        PromptInput {
            selection: text.to_string(),
            document: text.to_string(),
            ..PromptInput::default()
        }
    };
    let p = plan(template, &input, &Default::default(), layers)
        .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let seed = 1000 + round as u32;
    let mut requests: Vec<_> = if p.pieces.is_empty() {
        vec![(p.prompt, p.sampling)]
    } else {
        p.pieces
            .into_iter()
            .map(|piece| (piece.prompt, piece.sampling))
            .collect()
    };
    for (_, sampling) in &mut requests {
        sampling.seed = seed;
    }
    Ok(requests)
}

/// Runs `requests` in turn with drafting on or off: their speed and their answers joined.
fn measure(
    engine: &mut Client,
    job: &mut JobId,
    requests: &[(
        crate::engine::protocol::Prompt,
        crate::engine::protocol::SamplingParams,
    )],
    lookup: bool,
) -> Result<(Speed, String), Failure> {
    let mut speed = Speed::default();
    let mut text = String::new();
    for (prompt, sampling) in requests {
        let options = GenerateOptions {
            lookup: Some(lookup),
            ..GenerateOptions::default()
        };
        *job += 1;
        let run = stream_job(engine, *job, prompt, sampling, options, &mut |_| Ok(true))?;
        speed.add(&run.stats);
        text.push_str(&run.text);
        text.push('\n');
    }
    Ok((speed, text))
}

fn rows(samples: &[Sample]) -> Vec<Row> {
    let mut groups: BTreeMap<(usize, String), Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        let order = TASKS.iter().position(|t| t.0 == sample.task).unwrap_or(0);
        groups
            .entry((order, sample.language.clone()))
            .or_default()
            .push(sample);
    }
    groups
        .into_iter()
        .map(|((order, language), group)| {
            let total = |f: fn(&Sample) -> &Speed| {
                group.iter().fold(Speed::default(), |mut sum, s| {
                    let speed = f(s);
                    sum.tokens += speed.tokens;
                    sum.seconds += speed.seconds;
                    sum.drafted += speed.drafted;
                    sum.accepted += speed.accepted;
                    sum.decodes += speed.decodes;
                    sum
                })
            };
            let (plain, lookup) = (total(|s| &s.plain), total(|s| &s.lookup));
            let ratios: Vec<f64> = group.iter().map(|s| s.ratio()).collect();
            Row {
                task: TASKS[order].0.to_string(),
                language,
                plain_tokens_per_s: plain.tokens_per_s(),
                lookup_tokens_per_s: lookup.tokens_per_s(),
                ratio: super::median(&ratios),
                goal: TASKS[order].3,
                // Every request's first token came with its prompt: the decodes after it.
                tokens_per_decode: f64::from(lookup.tokens) / f64::from(lookup.decodes.max(1)),
                accepted_share: f64::from(lookup.accepted) / f64::from(lookup.drafted.max(1)),
                same: group.iter().filter(|s| s.same).count(),
                samples: group.len(),
            }
        })
        .collect()
}

const HEAD: &str = "# Prompt-lookup decoding\n\nWritten by `make bench-lookup` (`quill bench \
    --lookup --out docs/LOOKUP.md --readme README.md`): each task on each passage of \
    `defaults/bench-lookup.toml` (the seed article's paragraphs in Chinese and in English, and \
    Pride and Prejudice), with drafting off and on, side by side in one run on the same \
    engine and seed, in alternating order. Tokens per second count the tokens after each \
    request's first (which comes with the prompt). The ratio is the median over passages and \
    rounds; \"same\" counts the samples whose two answers are the same text.\n\n";

/// The README's table: a row per task and language.
fn render_table(report: &Report) -> String {
    let mut out = String::from(
        "| task | language | plain t/s | lookup t/s | ratio | goal | tokens / decode | drafts held | same text |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.2}x | {}{:.2}x | {:.2} | {:.0} % | {} of {} |",
            r.task,
            r.language,
            r.plain_tokens_per_s,
            r.lookup_tokens_per_s,
            r.ratio,
            if r.ratio >= r.goal {
                "met: "
            } else {
                "missed: "
            },
            r.goal,
            r.tokens_per_decode,
            r.accepted_share * 100.0,
            r.same,
            r.samples
        );
    }
    let threads = if report.threads == 0 {
        "the free cores".to_string()
    } else {
        format!("{} thread(s)", report.threads)
    };
    let _ = write!(
        out,
        "\n{}, {threads}, {} round(s).",
        report.model, report.rounds
    );
    out
}

fn render(report: &Report) -> String {
    let mut out = render_table(report);
    out.push_str("\n\n| task | passage | plain t/s | lookup t/s | ratio | same text |\n| --- | --- | --- | --- | --- | --- |\n");
    for s in &report.samples {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.2}x | {} |",
            s.task,
            s.passage,
            s.plain.tokens_per_s(),
            s.lookup.tokens_per_s(),
            s.ratio(),
            if s.same { "yes" } else { "no" }
        );
    }
    out
}

const BEGIN: &str = "<!-- lookup table: written by make bench-lookup -->";
const END: &str = "<!-- end of lookup table -->";

/// The README with `table` between its markers.
fn put_in_readme(path: &std::path::Path, table: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::engine(format!("reading {}: {e}", path.display())))?;
    let replaced = replace_between(&text, table).ok_or_else(|| {
        Failure::engine(format!(
            "{} has no lookup table markers ({BEGIN} ... {END})",
            path.display()
        ))
    })?;
    std::fs::write(path, replaced)
        .map_err(|e| Failure::engine(format!("writing {}: {e}", path.display())))
}

fn replace_between(text: &str, table: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find(END)?;
    Some(format!("{}\n{table}\n{}", &text[..start], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passages_parse_and_cover_both_languages() {
        let data: Data = toml::from_str(DATA).unwrap();
        let chinese = data
            .passage
            .iter()
            .filter(|p| p.language == "Chinese")
            .count();
        assert!(chinese >= 2 && data.passage.len() - chinese >= 4);
        for p in &data.passage {
            assert_ne!(p.text, p.flawed, "{}: the flawed text has errors", p.id);
        }
    }

    #[test]
    fn the_table_goes_between_the_markers_and_nothing_else_changes() {
        let readme = format!("intro\n{BEGIN}\nold table\n{END}\nrest\n");
        let new = replace_between(&readme, "| new |").unwrap();
        assert_eq!(new, format!("intro\n{BEGIN}\n| new |\n{END}\nrest\n"));
        assert_eq!(replace_between(&new, "| new |").unwrap(), new);
        assert_eq!(replace_between("no markers", "x"), None);
    }

    #[test]
    fn speeds_count_the_tokens_after_the_first() {
        let mut speed = Speed::default();
        speed.add(&GenerationStats {
            generated_tokens: 11,
            tokens_per_s: 50.0,
            drafted: 8,
            accepted: 6,
            decodes: 4,
            ..GenerationStats::default()
        });
        assert_eq!(speed.tokens, 10);
        assert!((speed.tokens_per_s() - 50.0).abs() < 1e-9);
        assert_eq!((speed.drafted, speed.accepted, speed.decodes), (8, 6, 4));
    }
}
