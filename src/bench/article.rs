//! `quill bench --article`: whole articles written from the titles of
//! `defaults/bench-articles.toml` by the same flow as `quill article`, each checked for what a
//! writer needs of it (the outline's headings in order, no empty section, no heading repeated
//! in a body, no sentence repeated across sections, the title's language throughout, the length
//! within 35 % of its target), and timed beside a plain continuation (`quill continue`'s
//! prompt) on the same model and engine: the flow may not decode slower than continue.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::article::{Guidance, Spec, count_words};
use crate::document::front_matter::Brief;
use crate::document::join::is_unspaced;
use crate::document::structure;
use crate::headless::article::{Writer, Written};
use crate::headless::{Failure, Settings, answer_round, headless_target};
use crate::plan::{Layers, plan};
use crate::prompt::PromptInput;
use crate::sampling::Sampling;
use crate::suggestion::Suggestion;

const DATA: &str = include_str!("../../defaults/bench-articles.toml");

/// How far an article's length may stray from its target.
const LENGTH_TOLERANCE: f64 = 0.35;

#[derive(Debug, Deserialize)]
struct Data {
    title: Vec<Title>,
}

#[derive(Debug, Deserialize)]
struct Title {
    text: String,
    words: Option<usize>,
    sections: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// At most this many titles of each language.
    pub limit: Option<usize>,
    /// Also write the report into this Markdown file.
    pub out: Option<PathBuf>,
    pub json: bool,
    pub threads: u32,
    /// Print every article on stderr.
    pub answers: bool,
}

/// One article as measured.
#[derive(Debug, Serialize)]
pub struct ArticleReport {
    pub title: String,
    pub chinese: bool,
    pub sections: usize,
    pub words: usize,
    pub target: usize,
    /// The checks it failed (empty: a usable article).
    pub failed: Vec<String>,
    pub seconds: f64,
    pub tokens_per_s: f64,
    /// A plain continuation's tokens per second, asked right after it.
    pub continue_tokens_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub model: String,
    pub articles: Vec<ArticleReport>,
    pub minutes: f64,
}

pub fn run(settings: &Settings, options: &Options) -> Result<(), Failure> {
    let data: Data = toml::from_str(DATA)
        .map_err(|e| Failure::engine(format!("the benchmark's titles: {e}")))?;
    let library = settings.prompt_library();
    let (engine, info) = super::start_with_threads(settings, options.threads)?;
    let none = Sampling::default();
    let layers = Layers {
        settings: &settings.config.sampling,
        overrides: &none,
        default_variants: 1,
        raw: false,
        language: &settings.config.language,
        n_ctx: Some(info.n_ctx),
    };
    let continue_template = library
        .get("continue")
        .map_err(|e| Failure::engine(format!("{e:#}")))?
        .clone();
    let mut writer = Writer::new(engine, library, layers);
    let started = Instant::now();
    let mut articles = Vec::new();
    let mut per_language: HashMap<bool, usize> = HashMap::new();
    for title in &data.title {
        let chinese = crate::article::is_mostly_unspaced(&title.text);
        let n = per_language.entry(chinese).or_default();
        if options.limit.is_some_and(|limit| *n >= limit) {
            continue;
        }
        *n += 1;
        let spec = Spec::new(
            &title.text,
            Brief::default(),
            Guidance::default(),
            (title.sections, title.words),
            // The built-in sizes, whatever the writer's config says: a measurement that
            // others can repeat.
            crate::config::ArticleConfig::default(),
        );
        let baseline = Baseline {
            template: &continue_template,
            layers,
        };
        articles.push(measure(&mut writer, &spec, &baseline, options.answers)?);
    }
    let report = Report {
        model: info.name.clone(),
        articles,
        minutes: started.elapsed().as_secs_f64() / 60.0,
    };
    let markdown = render(&report);
    super::print_report(&report, options.json, |_| println!("{markdown}"));
    if let Some(out) = &options.out {
        std::fs::write(out, format!("{HEAD}{markdown}\n"))
            .map_err(|e| Failure::engine(format!("writing {}: {e}", out.display())))?;
    }
    Ok(())
}

/// The plain continuation an article's decoding is compared with.
struct Baseline<'a> {
    template: &'a crate::prompt::PromptTemplate,
    layers: Layers<'a>,
}

/// One article written from `spec`, checked, and its start continued plainly for the speed
/// beside it.
fn measure(
    writer: &mut Writer,
    spec: &Spec,
    baseline: &Baseline,
    answers: bool,
) -> Result<ArticleReport, Failure> {
    let begun = Instant::now();
    let written = writer.write(spec, &mut |_, _| Ok(()))?;
    let seconds = begun.elapsed().as_secs_f64();
    if answers {
        eprintln!("{}\n", written.text);
    }
    // The baseline: the continue prompt going on from the article as it stood before its
    // last section (a context as long as the sections had), for as long as a section.
    let last = written.text.rfind("\n## ").unwrap_or(written.text.len());
    let start = format!("{}\n\n", written.text[..last].trim_end());
    let plain = continue_speed(writer, baseline, &start, spec)?;
    let failed = check(spec, &written);
    eprintln!(
        "quill bench --article: {} - {} ({seconds:.1} s, {:.0} t/s; continue {plain:.0} t/s)",
        spec.title,
        if failed.is_empty() {
            "usable".to_string()
        } else {
            failed.join("; ")
        },
        written.total.tokens_per_s
    );
    Ok(ArticleReport {
        title: spec.title.clone(),
        chinese: spec.unspaced,
        sections: written.outline.len(),
        words: written.total.words,
        target: spec.words,
        failed,
        seconds,
        tokens_per_s: written.total.tokens_per_s,
        continue_tokens_per_s: plain,
    })
}

/// Tokens per second of the continue prompt going on from `start`, as long as a section.
fn continue_speed(
    writer: &mut Writer,
    baseline: &Baseline,
    start: &str,
    spec: &Spec,
) -> Result<f64, Failure> {
    let input = PromptInput {
        before: start.to_string(),
        document: start.to_string(),
        ..PromptInput::default()
    };
    let mut p = plan(
        baseline.template,
        &input,
        &Default::default(),
        baseline.layers,
    )
    .map_err(|e| Failure::engine(format!("{e:#}")))?;
    p.sampling.max_tokens = spec.max_tokens(spec.section_words());
    let mut suggestion = Suggestion::from_plan(p, headless_target());
    let (engine, job) = writer.engine_and_job();
    let ends = answer_round(engine, &mut suggestion, job, &mut |_, _| Ok(()))?;
    Ok(ends.first().map_or(0.0, |e| e.run.stats.tokens_per_s))
}

/// The checks `written` fails, in words; empty for a usable article.
pub fn check(spec: &Spec, written: &Written) -> Vec<String> {
    let mut failed = Vec::new();
    let parsed = structure::parse(&written.text, 0);
    let chars: Vec<char> = written.text.chars().collect();
    let headings: Vec<&str> = parsed.sections.iter().map(|s| s.heading.as_str()).collect();
    let outline: Vec<&str> = written.outline.iter().map(|i| i.heading.as_str()).collect();
    if headings != outline {
        failed.push("headings not the outline's, in order".to_string());
    }
    let bodies: Vec<String> = parsed.sections.iter().map(|s| s.written(&chars)).collect();
    if bodies.iter().any(|b| b.trim().is_empty()) {
        failed.push("an empty section".to_string());
    }
    let heading_keys: Vec<String> = headings.iter().map(|h| letters(h)).collect();
    if bodies.iter().any(|b| {
        b.lines()
            .any(|l| heading_keys.contains(&letters(l.trim_start_matches('#'))))
    }) {
        failed.push("a heading repeated in a body".to_string());
    }
    if let Some(repeat) = repeated_sentence(&bodies) {
        failed.push(format!("a sentence repeated across sections: \"{repeat}\""));
    }
    if let Some(section) = bodies.iter().position(|b| !in_language(b, spec.unspaced)) {
        failed.push(format!(
            "section {} not in the title's language",
            section + 1
        ));
    }
    let words: usize = bodies.iter().map(|b| count_words(b, spec.unspaced)).sum();
    let off = (words as f64 - spec.words as f64).abs() / spec.words.max(1) as f64;
    if off > LENGTH_TOLERANCE {
        failed.push(format!(
            "{words} words for {} (off by {:.0} %)",
            spec.words,
            off * 100.0
        ));
    }
    failed
}

/// Lower-case letters and digits only: how a heading is recognised in a line.
fn letters(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A sentence (Unicode's bounds, of at least 12 letters) that two sections both hold.
fn repeated_sentence(bodies: &[String]) -> Option<String> {
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (i, body) in bodies.iter().enumerate() {
        for sentence in body.unicode_sentences() {
            let key = letters(sentence);
            if key.chars().count() < 12 {
                continue;
            }
            match first_seen.get(&key) {
                Some(&j) if j != i => return Some(sentence.trim().to_string()),
                _ => {
                    first_seen.insert(key, i);
                }
            }
        }
    }
    None
}

/// In the title's language: a Chinese article's letters are at least 90 % Chinese; an
/// English one has no Chinese and reads as English where the language can be told. Digits
/// belong to no language: "2019年" and a numbered list are Chinese.
fn in_language(text: &str, chinese: bool) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let unspaced = letters.iter().filter(|&&c| is_unspaced(c)).count();
    if chinese {
        unspaced * 10 >= letters.len() * 9
    } else {
        unspaced == 0 && crate::prompt::language::detect(text).is_none_or(|lang| lang == "English")
    }
}

const HEAD: &str = "# Articles from a title\n\nWritten by `make bench-article` (`quill bench \
    --article --out docs/ARTICLES.md`): an article from each title of \
    `defaults/bench-articles.toml` through the same flow as `quill article` (outline, then each \
    section from the brief, the outline, the earlier sections' summaries and the text before \
    it), checked by `src/bench/article.rs`, and timed beside the continue prompt on the same \
    model and engine.\n\n";

fn render(report: &Report) -> String {
    let mut out = String::new();
    let usable = report
        .articles
        .iter()
        .filter(|a| a.failed.is_empty())
        .count();
    let _ = writeln!(out, "## {}\n", report.model);
    let _ = writeln!(
        out,
        "{usable} of {} articles usable; {:.1} minutes in all.\n",
        report.articles.len(),
        report.minutes
    );
    let _ = writeln!(
        out,
        "| title | sections | words / target | seconds | t/s | continue t/s | checks |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    for a in &report.articles {
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {:.1} | {:.0} | {:.0} | {} |",
            a.title,
            a.sections,
            a.words,
            a.target,
            a.seconds,
            a.tokens_per_s,
            a.continue_tokens_per_s,
            if a.failed.is_empty() {
                "all pass".to_string()
            } else {
                a.failed.join("; ").replace('|', "\\|")
            }
        );
    }
    let median = |f: fn(&ArticleReport) -> f64| {
        let mut v: Vec<f64> = report.articles.iter().map(f).filter(|x| *x > 0.0).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (flow, plain) = (
        median(|a| a.tokens_per_s),
        median(|a| a.continue_tokens_per_s),
    );
    let _ = writeln!(
        out,
        "\nDecoding, median over the articles: the article flow {flow:.0} t/s, continue \
         {plain:.0} t/s ({:.2}x).",
        flow / plain.max(1e-9)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::outline::Item;

    fn written(text: &str, headings: &[&str]) -> Written {
        Written {
            text: text.to_string(),
            outline: headings
                .iter()
                .map(|h| Item {
                    heading: h.to_string(),
                    note: String::new(),
                })
                .collect(),
            ..Written::default()
        }
    }

    fn spec(title: &str, words: usize) -> Spec {
        let mut spec = Spec::new(
            title,
            Brief::default(),
            Guidance::default(),
            (Some(2), None),
            Default::default(),
        );
        spec.words = words;
        spec
    }

    #[test]
    fn the_data_set_has_ten_english_and_five_chinese_titles() {
        let data: Data = toml::from_str(DATA).unwrap();
        let chinese = data
            .title
            .iter()
            .filter(|t| crate::article::is_mostly_unspaced(&t.text))
            .count();
        assert!(chinese >= 5 && data.title.len() - chinese >= 10);
    }

    #[test]
    fn a_good_article_passes_every_check() {
        let w = written(
            "# Tea\n\n## Kinds\n\nGreen tea is mild and fresh. Black tea is strong.\n\n## Brewing\n\nUse water that is hot but not boiling. Steep it for three minutes.\n",
            &["Kinds", "Brewing"],
        );
        assert_eq!(check(&spec("Tea", 24), &w), Vec::<String>::new());
    }

    #[test]
    fn each_failure_is_caught() {
        let s = spec("Tea", 24);
        let w = written(
            "# Tea\n\n## Brewing\n\nGreen tea is mild and fresh.\nKinds\n\n## Kinds\n\nGreen tea is mild and fresh! 绿茶。\n",
            &["Kinds", "Brewing"],
        );
        let failed = check(&s, &w).join("\n");
        assert!(failed.contains("headings not the outline's"), "{failed}");
        assert!(failed.contains("a heading repeated in a body"), "{failed}");
        assert!(
            failed.contains("a sentence repeated across sections"),
            "{failed}"
        );
        assert!(
            failed.contains("section 2 not in the title's language"),
            "{failed}"
        );
        assert!(failed.contains("off by"), "{failed}");
        let empty = written(
            "# Tea\n\n## Kinds\n\n## Brewing\n\nHot water.\n",
            &["Kinds", "Brewing"],
        );
        assert!(check(&s, &empty).join("\n").contains("an empty section"));
    }

    #[test]
    fn a_chinese_article_must_stay_chinese() {
        assert!(in_language("绿茶很清淡。红茶很浓。", true));
        assert!(!in_language(
            "绿茶很清淡。Black tea is strong and dark.",
            true
        ));
        assert!(!in_language("Tea is good. 绿茶。", false));
        // Years and list numbers are no language's.
        assert!(in_language(
            "2017年到2024年，远程办公：1. 省时 2. 自由",
            true
        ));
        assert!(!in_language("远程办公 remote", true));
    }
}
