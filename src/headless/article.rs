//! `quill article "TITLE"`: a title (and a brief) in, a whole article out, written the way the
//! editor's `write article` writes it: an outline, then each section in order from the brief,
//! the outline, the summaries of the sections before it and the text just before it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{
    Failure, RunOptions, Settings, answer_round, headless_target, start_engine, stream_job,
    write_out,
};
use crate::article::{self, SectionInput, Spec, Summaries, context};
use crate::document::front_matter::{self, Brief};
use crate::engine::Client;
use crate::engine::protocol::{GenerateOptions, GenerationStats, JobId};
use crate::plan::{Layers, Plan};
use crate::prompt::PromptLibrary;
use crate::prompt::outline;
use crate::prompt::section as clean;
use crate::suggestion::{Suggestion, VariantState};

/// What `quill article` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ArticleArgs {
    pub title: String,
    /// A file whose front matter (or whole text, for a .toml or .yaml file) is the brief.
    pub brief: Option<PathBuf>,
    pub sections: Option<usize>,
    pub words: Option<usize>,
    /// Write the article here (after each section, so a stop keeps what was written).
    pub output: Option<PathBuf>,
}

/// An article as it was written.
#[derive(Debug, Default)]
pub struct Written {
    /// The whole article, in Markdown.
    pub text: String,
    pub outline: Vec<outline::Item>,
    /// Each section's body, in the outline's order.
    pub bodies: Vec<String>,
    pub sections: Vec<SectionStats>,
    pub total: ArticleStats,
}

/// One section as `--stats` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct SectionStats {
    pub section: usize,
    pub heading: String,
    pub words: usize,
    pub target: usize,
    pub ms: u128,
    pub summary_ms: u128,
    pub prompt_tokens: u32,
    pub reused_tokens: u32,
    pub generated_tokens: u32,
    pub tokens_per_s: f64,
}

/// The whole article's `--stats` line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArticleStats {
    pub total_ms: u128,
    pub outline_ms: u128,
    pub sections: usize,
    pub words: usize,
    pub target: usize,
    pub generated_tokens: u32,
    /// Generated tokens over the time spent generating them, every request together.
    pub tokens_per_s: f64,
}

/// The engine and what the article's requests share.
pub struct Writer<'a> {
    engine: Client,
    library: PromptLibrary,
    layers: Layers<'a>,
    job: JobId,
    /// Generated tokens and seconds spent generating, over every request.
    generated: u32,
    decode_s: f64,
}

pub fn run(args: &ArticleArgs, settings: &Settings, options: &RunOptions) -> Result<(), Failure> {
    let brief = match &args.brief {
        Some(path) => read_brief(path)?,
        None => Brief::default(),
    };
    if args.title.trim().is_empty() && brief.title.trim().is_empty() {
        return Err(Failure::bad_input(
            "the title is empty: give one, as in quill article \"Why we garden\"",
        ));
    }
    let style = settings.style_guide();
    let guidance = context::guidance(&brief, &style, context::BRIEF_TOKENS);
    let spec = Spec::new(
        &args.title,
        brief,
        guidance,
        (args.sections, args.words),
        settings.config.article,
    );
    let language = options
        .language
        .clone()
        .unwrap_or_else(|| settings.config.language.clone());
    let overrides = options.sampling.clone();
    let layers = Layers {
        settings: &settings.config.sampling,
        overrides: &overrides,
        default_variants: 1,
        raw: false,
        language: &language,
        n_ctx: Some(options.ctx_size.unwrap_or(settings.config.engine.n_ctx)),
    };
    let library = settings.prompt_library();
    let (engine, _) = start_engine(settings, options)?;
    let mut writer = Writer::new(engine, library, layers);
    let output = args.output.as_deref();
    let written = writer.write(&spec, &mut |piece, whole| emit(piece, whole, output))?;
    if options.stats {
        for line in &written.sections {
            eprintln!("{}", serde_json::to_string(line).unwrap_or_default());
        }
        eprintln!(
            "{}",
            serde_json::to_string(&written.total).unwrap_or_default()
        );
    }
    Ok(())
}

/// A new piece of the article: printed, or the whole so far written to `output` (after each
/// section, so a stop keeps what was written).
fn emit(piece: &str, whole: &str, output: Option<&Path>) -> Result<(), Failure> {
    match output {
        None => write_out(&mut std::io::stdout().lock(), piece),
        Some(path) => crate::document::file::save(path, whole, Default::default())
            .map(|_| ())
            .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", path.display()))),
    }
}

impl<'a> Writer<'a> {
    pub fn new(engine: Client, library: PromptLibrary, layers: Layers<'a>) -> Self {
        Writer {
            engine,
            library,
            layers,
            job: 0,
            generated: 0,
            decode_s: 0.0,
        }
    }

    /// The engine and the last job id, for a request of the caller's own between articles.
    pub fn engine_and_job(&mut self) -> (&mut Client, &mut JobId) {
        (&mut self.engine, &mut self.job)
    }

    /// Writes the article `spec` asks for: the outline, then each section in order, each
    /// new piece of text given to `on_piece` with the whole so far.
    pub fn write(
        &mut self,
        spec: &Spec,
        on_piece: &mut dyn FnMut(&str, &str) -> Result<(), Failure>,
    ) -> Result<Written, Failure> {
        let started = Instant::now();
        let (generated, decode_s) = (self.generated, self.decode_s);
        let outline = self.outline(spec)?;
        let outline_ms = started.elapsed().as_millis();
        // A section or two short of the ask: the sections there are share the length.
        let spec = &Spec {
            sections: outline.len(),
            ..spec.clone()
        };
        let mut text = format!("# {}\n", spec.title);
        on_piece(&text, &text)?;
        let mut summaries = Summaries::default();
        let mut earlier: Vec<(String, String)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut written = Written::default();
        for index in 0..outline.len() {
            let section_start = Instant::now();
            let section = SectionInput {
                outline: outline.clone(),
                index,
                earlier: earlier.clone(),
                before: previous(&outline, &written.bodies, index),
                words: spec.section_words(),
                seen: seen.clone(),
            };
            let (body, run) = self.section(spec, &section)?;
            let piece = format!("\n## {}\n\n{body}\n", outline[index].heading);
            text.push_str(&piece);
            on_piece(&piece, &text)?;
            seen.extend(clean::sentence_keys(&body));
            let summary_start = Instant::now();
            if index + 1 < outline.len() {
                let summary = self.summary(&mut summaries, &body)?;
                earlier.push((outline[index].heading.clone(), summary));
            }
            written.sections.push(SectionStats {
                section: index + 1,
                heading: outline[index].heading.clone(),
                words: spec.count(&body),
                target: spec.section_words(),
                ms: section_start.elapsed().as_millis(),
                summary_ms: summary_start.elapsed().as_millis(),
                prompt_tokens: run.prompt_tokens,
                reused_tokens: run.reused_tokens,
                generated_tokens: run.generated_tokens,
                tokens_per_s: run.tokens_per_s,
            });
            written.bodies.push(body);
        }
        let generated = self.generated - generated;
        written.total = ArticleStats {
            total_ms: started.elapsed().as_millis(),
            outline_ms,
            sections: outline.len(),
            words: written.sections.iter().map(|s| s.words).sum(),
            target: spec.words,
            generated_tokens: generated,
            tokens_per_s: f64::from(generated) / (self.decode_s - decode_s).max(1e-9),
        };
        written.outline = outline;
        written.text = text;
        Ok(written)
    }

    /// The outline's headings and notes; a model that gives none is an engine failure.
    fn outline(&mut self, spec: &Spec) -> Result<Vec<outline::Item>, Failure> {
        let plan = article::outline_plan(&self.library, spec, self.layers)
            .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
        let text = self.answer(plan)?.map(|(text, _)| text).unwrap_or_default();
        let items = outline::read(&text);
        if items.is_empty() {
            return Err(Failure::engine(
                "the model wrote no outline (no \"## \" headings); try again, or pick another \
                 model (quill model list)",
            ));
        }
        Ok(items)
    }

    /// One section's body, finished as the editor finishes it (see `section::clean`).
    fn section(
        &mut self,
        spec: &Spec,
        section: &SectionInput,
    ) -> Result<(String, GenerationStats), Failure> {
        let mut plan = article::section_plan(&self.library, spec, section, self.layers)
            .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
        // Twice the editor's tries: an article with a hole in it is worse than a slow one.
        for _ in 0..2 {
            if let Some((mut body, mut stats)) = self.answer(plan.clone())? {
                // A section that stopped short is asked to go on, twice at most.
                for _ in 0..2 {
                    let Some(more) = article::lengthen(&plan, spec, section.words, &body) else {
                        break;
                    };
                    let Some((rest, more_stats)) = self.answer(more)? else {
                        break;
                    };
                    if rest.trim().is_empty() {
                        break;
                    }
                    body = format!("{}\n\n{}", body.trim_end(), rest.trim());
                    stats.generated_tokens += more_stats.generated_tokens;
                }
                return Ok((body, stats));
            }
            plan.sampling.seed = plan.sampling.seed.wrapping_add(101);
        }
        eprintln!(
            "quill: section {} (\"{}\"): the model gave no usable text; it is left empty",
            section.index + 1,
            section.outline[section.index].heading
        );
        Ok((String::new(), GenerationStats::default()))
    }

    /// The kept answer to `plan`, asked again (other seeds) while the model's are refused;
    /// None when none is usable.
    fn answer(&mut self, plan: Plan) -> Result<Option<(String, GenerationStats)>, Failure> {
        let mut suggestion = Suggestion::from_plan(plan, headless_target());
        let mut last: Option<GenerationStats> = None;
        let mut generated = 0;
        while suggestion.wants_more() {
            for end in answer_round(
                &mut self.engine,
                &mut suggestion,
                &mut self.job,
                &mut |_, _| Ok(()),
            )? {
                self.count(&end.run.stats);
                generated += end.run.stats.generated_tokens;
                last = Some(end.run.stats);
            }
        }
        match (suggestion.current(), last) {
            (Some(variant), Some(mut stats)) if matches!(variant.state, VariantState::Done(_)) => {
                // Every try's tokens, refused ones too: what the request cost.
                stats.generated_tokens = generated;
                Ok(Some((variant.text.clone(), stats)))
            }
            _ => Ok(None),
        }
    }

    /// A section's summary for the prompts after it: from the cache when its text was
    /// summarised before; its first sentence when the model gives no usable summary.
    fn summary(&mut self, summaries: &mut Summaries, body: &str) -> Result<String, Failure> {
        if let Some(known) = summaries.get(body) {
            return Ok(known.to_string());
        }
        let plan = article::summary_plan(&self.library, body, self.layers)
            .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
        self.job += 1;
        let run = stream_job(
            &mut self.engine,
            self.job,
            &plan.prompt,
            &plan.sampling,
            GenerateOptions::default(),
            &mut |_| Ok(true),
        )?;
        self.count(&run.stats);
        let summary =
            article::summary_from(&plan.finishing, &run.text, run.stats.stop_reason, body);
        summaries.insert(body, summary.clone());
        Ok(summary)
    }

    fn count(&mut self, stats: &GenerationStats) {
        self.generated += stats.generated_tokens;
        if stats.tokens_per_s > 0.0 && stats.generated_tokens > 1 {
            self.decode_s += f64::from(stats.generated_tokens - 1) / stats.tokens_per_s;
        }
    }
}

/// The section before `index` as the prompt of the section at `index` shows it; empty for
/// the first.
fn previous(outline: &[outline::Item], bodies: &[String], index: usize) -> String {
    index.checked_sub(1).map_or_else(String::new, |prev| {
        article::previous_section(
            &outline[prev].heading,
            bodies.get(prev).map_or("", String::as_str),
        )
    })
}

/// The brief in `path`: a draft's front matter, or a whole .toml / .yaml / .yml file.
fn read_brief(path: &Path) -> Result<Brief, Failure> {
    let text = super::read_input(Some(path))?;
    let bare = front_matter::syntax(&text).is_none();
    let (wrapped, shift) = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") if bare => (format!("+++\n{text}\n+++\n"), 1),
        Some("yaml" | "yml") if bare => (format!("---\n{text}\n---\n"), 1),
        _ => (text, 0),
    };
    match front_matter::parse(&wrapped).map_err(|mut e| {
        // The line in the writer's file, not in the fences put around it.
        e.line = e.line.saturating_sub(shift).max(1);
        e
    }) {
        Ok(Some(brief)) => Ok(brief),
        Ok(None) => Err(Failure::bad_input(format!(
            "{} has no brief: start it with front matter (--- YAML --- or +++ TOML +++) \
             holding title, audience, goal, tone, key_points, avoid, words or sections",
            path.display()
        ))),
        Err(e) => Err(Failure::bad_input(format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_before_a_section_starts_at_a_line() {
        let items = outline::read("## A\nx.\n## B\ny.");
        // The last 1,200 characters start 9 before a line break: the line after it.
        let body = format!("{}\n{}", "x".repeat(50), "y".repeat(1_190));
        let before = previous(&items, &[body], 1);
        assert_eq!(before, format!("## A\n\n{}", "y".repeat(1_190)));
        assert_eq!(previous(&items, &[], 0), "");
    }
}
