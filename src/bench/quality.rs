//! `quill bench --quality`: how often each built-in action gives an answer a writer can use,
//! on a fixed set of English and Chinese passages (`defaults/bench-quality.toml`) and several
//! seeds, through the same plan, engine, finishing and retries as the editor and the headless
//! commands. Each answer is judged by the checks in `quality/checks.rs`; the report gives the
//! usable share per action and language, why the others failed, and the speed.

pub mod checks;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use checks::{Expect, verdict};

use crate::app::ghost;
use crate::engine::Client;
use crate::engine::protocol::{GenerateOptions, JobId};
use crate::headless::{Failure, Settings, answer_round, headless_target, stream_job};
use crate::plan::{Layers, plan};
use crate::prompt::{Action, PromptInput, PromptLibrary, PromptTemplate};
use crate::sampling::Sampling;
use crate::suggestion::Suggestion;

const DATA: &str = include_str!("../../defaults/bench-quality.toml");

/// The instruction "ask" is measured with: one a writer gives often, with a checkable answer.
const ASK_TITLE: [&str; 2] = [
    "Give this text a short title.",
    "给这段文字起一个简短的标题。",
];

/// The goals the issue sets, by action: the share of usable answers.
fn goal(action: &str) -> Option<f64> {
    match action {
        "continue" | "ghost" => Some(0.95),
        a if a.starts_with("rewrite-") || a.starts_with("summarise-") => Some(0.90),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct Data {
    passage: Vec<Passage>,
    brief: Vec<Brief>,
}

#[derive(Debug, Deserialize)]
struct Passage {
    id: String,
    language: String,
    text: String,
    flawed: String,
    errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Brief {
    id: String,
    language: String,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seeds per case for the actions that sample (greedy ones run once).
    pub seeds: u32,
    /// Only these actions (prompt ids, or "ghost"); all when empty.
    pub only: Vec<String>,
    /// At most this many passages (and briefs) of each language.
    pub limit: Option<usize>,
    /// The Markdown report to write (its section for this model replaced).
    pub out: Option<std::path::PathBuf>,
    pub json: bool,
    pub threads: u32,
    /// Every answer and its verdict on stderr, to see what a prompt does.
    pub answers: bool,
}

/// One answer asked for and judged.
struct Case {
    action: String,
    chinese: bool,
    input: PromptInput,
    values: BTreeMap<String, String>,
    /// What the answer is judged against (the passage, the sentence, the brief's subject).
    source: String,
    expect: Expect,
}

/// The tally of one action.
#[derive(Debug, Default, Serialize)]
pub struct ActionReport {
    pub action: String,
    pub cases: usize,
    pub usable: usize,
    pub english: (usize, usize),
    pub chinese: (usize, usize),
    /// Why answers were not usable, with how often.
    pub reasons: BTreeMap<String, usize>,
    pub generated_tokens: u64,
    pub generation_s: f64,
    /// Answers generated in all, those refused and asked again included.
    pub tries: usize,
    pub goal: Option<f64>,
    /// One unusable answer, for the reader of the report to see what failing looks like.
    pub example: Option<(String, String)>,
}

impl ActionReport {
    fn share(&self) -> f64 {
        self.usable as f64 / self.cases.max(1) as f64
    }
}

#[derive(Debug, Serialize)]
pub struct QualityReport {
    pub model: String,
    pub seeds: u32,
    pub actions: Vec<ActionReport>,
    pub minutes: f64,
}

pub fn run(settings: &Settings, options: &Options) -> Result<(), Failure> {
    let data: Data = toml::from_str(DATA)
        .map_err(|e| Failure::engine(format!("the benchmark's data set: {e}")))?;
    // The writer's own prompt files over the built-in ones, as every action uses them: a
    // prompt being improved is measured by putting it in the templates folder.
    let library = settings.prompt_library();
    let (mut engine, info) = super::start_with_threads(settings, options.threads)?;
    let started = Instant::now();
    let mut actions = Vec::new();
    for action in action_ids(&library, &options.only) {
        let cases = cases_for(&action, &library, &data, options.limit);
        let template = library.get(if action == "ghost" {
            "continue"
        } else {
            &action
        });
        let template = template.map_err(|e| Failure::engine(format!("{e:#}")))?;
        let seeds = if samples(template, &action) {
            options.seeds.max(1)
        } else {
            1
        };
        let mut report = ActionReport {
            action: action.clone(),
            goal: goal(&action),
            ..ActionReport::default()
        };
        for case in &cases {
            for seed in 0..seeds {
                let answer = answer(&mut engine, template, case, seed, info.n_ctx)?;
                let reason = tally(&mut report, case, answer, options.answers);
                if options.answers {
                    eprintln!("  -> {}\n", reason.as_deref().unwrap_or("usable"));
                }
            }
        }
        eprintln!(
            "quill bench --quality: {action}: {} of {} usable ({:.0} %)",
            report.usable,
            report.cases,
            report.share() * 100.0
        );
        actions.push(report);
    }
    let report = QualityReport {
        model: info.name.clone(),
        seeds: options.seeds,
        actions,
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    let markdown = render(&report);
    super::print_report(&report, options.json, |_| println!("{markdown}"));
    if let Some(out) = &options.out {
        write_section(out, &report.model, &markdown)
            .map_err(|e| Failure::engine(format!("writing {}: {e}", out.display())))?;
    }
    Ok(())
}

/// Whether `template` samples (a seed changes its answer): greedy actions run once.
fn samples(template: &PromptTemplate, action: &str) -> bool {
    action != "ghost" && template.sampling.temperature.is_none_or(|t| t > 0.0)
}

/// Every built-in action, then the templates, unless `only` names some.
fn action_ids(library: &PromptLibrary, only: &[String]) -> Vec<String> {
    let mut ids = vec![
        "continue".to_string(),
        "ghost".to_string(),
        "rewrite-grammar".to_string(),
        "rewrite-concise".to_string(),
        "rewrite-formal".to_string(),
        "rewrite-friendly".to_string(),
        "rewrite-persuasive".to_string(),
        "summarise-tldr".to_string(),
        "summarise-bullets".to_string(),
        "expand".to_string(),
        "ask".to_string(),
    ];
    let templates = library
        .iter()
        .filter(|t| t.action == Action::Generate && !ids.contains(&t.id))
        .map(|t| t.id.clone())
        .collect::<Vec<_>>();
    ids.extend(templates);
    if !only.is_empty() {
        ids.retain(|id| only.contains(id));
    }
    ids
}

/// The cases of `action`: each passage (or brief, for a template), at most `limit` of each
/// language.
fn cases_for(
    action: &str,
    library: &PromptLibrary,
    data: &Data,
    limit: Option<usize>,
) -> Vec<Case> {
    let limit = limit.unwrap_or(usize::MAX);
    let mut cases = Vec::new();
    for chinese in [false, true] {
        let language = if chinese { "Chinese" } else { "English" };
        if let Ok(template) = library.get(action)
            && template.action == Action::Generate
        {
            cases.extend(
                data.brief
                    .iter()
                    .filter(|b| b.language == language)
                    .take(limit)
                    .filter_map(|b| brief_case(template, b, chinese)),
            );
            continue;
        }
        cases.extend(
            data.passage
                .iter()
                .filter(|p| p.language == language)
                .take(limit)
                .map(|p| passage_case(action, p, chinese)),
        );
    }
    cases
}

fn passage_case(action: &str, passage: &Passage, chinese: bool) -> Case {
    let selection = |text: &str| PromptInput {
        selection: text.to_string(),
        before: text.to_string(),
        document: text.to_string(),
        ..PromptInput::default()
    };
    let text = passage.text.as_str();
    let (source, expect) = match action {
        "rewrite-grammar" => (
            passage.flawed.clone(),
            Expect::Fix {
                errors: passage.errors.clone(),
                max_drift: 0.3,
            },
        ),
        "summarise-tldr" => (text.to_string(), Expect::Gist),
        "summarise-bullets" => (text.to_string(), Expect::Bullets),
        "expand" => (first_sentence(text), Expect::Expand),
        "ask" => (text.to_string(), Expect::Title),
        "continue" => (text.to_string(), Expect::Continue),
        "ghost" => (text.to_string(), Expect::Ghost),
        _ => (text.to_string(), Expect::Rewrite),
    };
    let mut values = BTreeMap::new();
    if action == "ask" {
        values.insert(
            "instruction".to_string(),
            ASK_TITLE[usize::from(chinese)].to_string(),
        );
    }
    let input = match action {
        // Carried on from the end of the passage, as the writer's cursor would be.
        "continue" | "ghost" => PromptInput {
            before: format!("{text}{}", if chinese { "" } else { " " }),
            ..PromptInput::default()
        },
        _ => selection(&source),
    };
    Case {
        action: format!("{action}/{}", passage.id),
        chinese,
        input,
        values,
        source,
        expect,
    }
}

/// A template filled from a brief: the fields it has, and its subject for the check.
fn brief_case(template: &PromptTemplate, brief: &Brief, chinese: bool) -> Option<Case> {
    let values: BTreeMap<String, String> = template
        .fields
        .iter()
        .filter(|f| f.choices.is_none())
        .filter_map(|f| Some((f.name.clone(), brief.fields.get(&f.name)?.clone())))
        .collect();
    let subject = ["product", "topic", "company", "news", "keyword"]
        .iter()
        .filter_map(|k| values.get(*k))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    (!subject.is_empty()).then(|| Case {
        action: format!("{}/{}", template.id, brief.id),
        chinese,
        input: PromptInput::default(),
        values,
        source: String::new(),
        expect: Expect::Copy { subject },
    })
}

fn first_sentence(text: &str) -> String {
    let end = crate::prompt::finish::first_sentence_end(text).unwrap_or(text.len());
    text[..end].trim().to_string()
}

/// What the writer would get for `case`: the first answer kept, after finishing and the
/// retries; None when none was kept.
fn answer(
    engine: &mut Client,
    template: &PromptTemplate,
    case: &Case,
    seed: u32,
    n_ctx: u32,
) -> Result<Answer, Failure> {
    if case.action.starts_with("ghost/") {
        return ghost_answer(engine, template, case);
    }
    let overrides = Sampling {
        seed: Some(i64::from(seed) + 1),
        variants: Some(1),
        ..Sampling::default()
    };
    let layers = Layers {
        settings: &Sampling::default(),
        overrides: &overrides,
        default_variants: 1,
        raw: false,
        language: "auto",
        n_ctx: Some(n_ctx),
    };
    let plan = plan(template, &case.input, &case.values, layers)
        .map_err(|e| Failure::engine(format!("{}: {e:#}", case.action)))?;
    let mut suggestion = Suggestion::from_plan(plan, headless_target());
    let mut job: JobId = 0;
    let mut answer = Answer::default();
    while suggestion.wants_more() {
        for end in answer_round(engine, &mut suggestion, &mut job, &mut |_, _| Ok(()))? {
            answer.tokens += u64::from(end.run.stats.generated_tokens);
            answer.seconds += generation_seconds(&end.run.stats);
        }
    }
    answer.text = suggestion.variants.first().map(|v| v.text.clone());
    answer.tries = suggestion.variants.len() + suggestion.dropped;
    answer.refusals = suggestion.refusal_summary();
    Ok(answer)
}

/// A ghost as the editor asks for one: the continue prompt, greedy and short, cut at its
/// first sentence.
fn ghost_answer(
    engine: &mut Client,
    template: &PromptTemplate,
    case: &Case,
) -> Result<Answer, Failure> {
    let prompt = template
        .build(&case.input)
        .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let mut text = String::new();
    let run = stream_job(
        engine,
        1,
        &prompt,
        &ghost::sampling(),
        GenerateOptions::default(),
        &mut |piece| {
            text.push_str(piece);
            Ok(!ghost::cut_at_sentence(&mut text))
        },
    )?;
    ghost::cut_at_sentence(&mut text);
    Ok(Answer {
        text: Some(text.trim().to_string()),
        refusals: String::new(),
        tokens: u64::from(run.stats.generated_tokens),
        seconds: generation_seconds(&run.stats),
        tries: 1,
    })
}

fn generation_seconds(stats: &crate::engine::protocol::GenerationStats) -> f64 {
    if stats.tokens_per_s > 0.0 {
        f64::from(stats.generated_tokens) / stats.tokens_per_s
    } else {
        0.0
    }
}

#[derive(Debug, Default)]
struct Answer {
    text: Option<String>,
    refusals: String,
    tokens: u64,
    seconds: f64,
    tries: usize,
}

fn tally(report: &mut ActionReport, case: &Case, answer: Answer, show: bool) -> Option<String> {
    let reason = match &answer.text {
        Some(text) => verdict(&case.expect, &case.source, text, case.chinese),
        None => Some("no usable answer after the retries".to_string()),
    };
    if show {
        let text = answer.text.as_deref().unwrap_or("");
        eprintln!("{}:\n{text}", case.action);
    }
    report.cases += 1;
    report.generated_tokens += answer.tokens;
    report.generation_s += answer.seconds;
    report.tries += answer.tries;
    let by_language = if case.chinese {
        &mut report.chinese
    } else {
        &mut report.english
    };
    by_language.1 += 1;
    match &reason {
        None => {
            report.usable += 1;
            by_language.0 += 1;
        }
        Some(reason) => {
            *report.reasons.entry(reason.clone()).or_default() += 1;
            if report.example.is_none() {
                let shown = answer
                    .text
                    .unwrap_or_else(|| format!("({})", answer.refusals));
                report.example = Some((case.action.clone(), shown));
            }
        }
    }
    reason
}

/// The report as a Markdown section, headed with the model's name.
pub fn render(report: &QualityReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## {}\n", report.model);
    let _ = writeln!(
        md,
        "{} seeds for the actions that sample, one run for greedy ones; {:.1} minutes.\n",
        report.seeds, report.minutes
    );
    md.push_str(
        "| action | usable | goal | English | Chinese | tokens/s | tries | s/answer | why not usable |\n",
    );
    md.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for a in &report.actions {
        let goal = a.goal.map_or("-".into(), |g| format!("{:.0} %", g * 100.0));
        let met = match a.goal {
            Some(g) if a.share() >= g => " met",
            Some(_) => " missed",
            None => "",
        };
        let reasons = a
            .reasons
            .iter()
            .map(|(r, n)| format!("{r} ×{n}"))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            md,
            "| {} | {:.0} % ({}/{}){met} | {goal} | {}/{} | {}/{} | {:.0} | {:.2} | {:.1} | {} |",
            a.action,
            a.share() * 100.0,
            a.usable,
            a.cases,
            a.english.0,
            a.english.1,
            a.chinese.0,
            a.chinese.1,
            a.generated_tokens as f64 / a.generation_s.max(1e-9),
            a.tries as f64 / a.cases.max(1) as f64,
            a.generation_s / a.cases.max(1) as f64,
            if reasons.is_empty() { "-" } else { &reasons },
        );
    }
    md
}

/// Writes `section` into the report at `path`, replacing the section of the same model and
/// keeping the others (a report may hold several models).
fn write_section(path: &Path, model: &str, section: &str) -> std::io::Result<()> {
    const HEAD: &str = "# Answer quality\n\nWritten by `make bench-quality` (`quill bench \
        --quality`): every built-in action over the passages and briefs of \
        `defaults/bench-quality.toml`, each answer judged by the checks in \
        `src/bench/quality/checks.rs`.\n\n";
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut sections: Vec<String> = old
        .split("\n## ")
        .skip(1)
        .map(|s| format!("## {}", s.trim_end()))
        .filter(|s| !s.starts_with(&format!("## {model}\n")))
        .collect();
    sections.push(section.trim_end().to_string());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{HEAD}{}\n", sections.join("\n\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_set_has_enough_passages_and_briefs_in_both_languages() {
        let data: Data = toml::from_str(DATA).unwrap();
        let count = |lang: &str| data.passage.iter().filter(|p| p.language == lang).count();
        assert!(count("English") >= 20 && count("Chinese") >= 10);
        let briefs = |lang: &str| data.brief.iter().filter(|b| b.language == lang).count();
        assert!(briefs("English") >= 20 && briefs("Chinese") >= 10);
        for p in &data.passage {
            assert!(!p.errors.is_empty(), "{}", p.id);
            for e in &p.errors {
                assert!(p.flawed.contains(e.as_str()), "{}: {e}", p.id);
                assert!(!p.text.contains(e.as_str()), "{}: {e}", p.id);
            }
        }
    }

    #[test]
    fn every_action_and_template_gets_cases() {
        let data: Data = toml::from_str(DATA).unwrap();
        let library = PromptLibrary::built_in().unwrap();
        let ids = action_ids(&library, &[]);
        assert!(ids.len() >= 11 + 12, "{ids:?}");
        for id in ids {
            assert!(cases_for(&id, &library, &data, None).len() >= 30, "{id}");
        }
    }

    #[test]
    fn a_model_section_replaces_its_own_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs/QUALITY.md");
        write_section(&path, "a", "## a\n\nfirst").unwrap();
        write_section(&path, "b", "## b\n\nother").unwrap();
        write_section(&path, "a", "## a\n\nsecond").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("second") && text.contains("other") && !text.contains("first"));
    }
}
