//! The article flow in the editor: `outline` offers an outline of the draft's title and brief
//! as a suggestion; `write section` writes the body of the section under the cursor; `write
//! article` writes every empty section in order, each streamed into the suggestions pane and
//! inserted as its own undo step, with "section 3 of 7" in the status bar. Before a section is
//! asked for, each earlier section without a summary is summarised (kept by its text's hash,
//! so a section is summarised once however often it is used). Esc stops after the section
//! being written; running it again goes on with the sections still empty.

use std::collections::HashSet;

use super::Assistant;
use crate::app::editor::Editor;
use crate::app::{Cx, Effect};
use crate::article::{self, Guidance, SectionInput, Spec, context};
use crate::document::front_matter::{self, Brief};
use crate::document::structure::{self, Section, Structure};
use crate::engine::protocol::{GenerationStats, JobId};
use crate::plan::{Layers, Plan};
use crate::prompt::finish::Finishing;
use crate::prompt::outline::Item;
use crate::prompt::section::sentence_keys;
use crate::sampling::Sampling;
use crate::suggestion::{Suggestion, Target};

/// Times a section that came out short is asked to go on.
const LENGTHENINGS: u32 = 2;

/// A run of `write section` or `write article`.
#[derive(Debug, Clone)]
pub struct ArticleRun {
    pub spec: Spec,
    /// Every empty section in order (`write article`), or the one under the cursor.
    pub whole: bool,
    /// The section being written: its index among the draft's sections and its heading (a
    /// draft changed under the run must still have it there).
    section: (usize, String),
    /// Sections written in this run, and how many it set out to write.
    pub done: usize,
    pub total: usize,
    /// Esc was pressed: the section being written is finished, then the run stops.
    pub stopping: bool,
    /// The summary being made of an earlier section.
    summary: Option<SummaryJob>,
    /// The request of the section being written, to go on from when it comes out short.
    asked: Option<Plan>,
    lengthened: u32,
}

#[derive(Debug, Clone)]
struct SummaryJob {
    job: JobId,
    /// The section's text, which the summary is kept under.
    text: String,
    answer: String,
    finishing: Finishing,
}

/// The draft read for the flow: its brief, its structure, and a problem with its front matter
/// to tell the writer.
pub struct Draft {
    pub brief: Brief,
    pub structure: Structure,
    pub chars: Vec<char>,
    pub warning: Option<String>,
}

/// The most of a draft's start its front matter is looked for in: a brief is a few lines.
const FRONT_MATTER_CHARS: usize = 64 * 1024;

/// A draft's front matter alone: its brief, where its body starts (a char index), and a
/// problem to tell the writer. Reads only the draft's start, however long it is.
pub struct Front {
    pub brief: Brief,
    pub body_start: usize,
    pub warning: Option<String>,
}

impl Front {
    pub fn read(rope: &ropey::Rope) -> Front {
        let head = rope
            .slice(..rope.len_chars().min(FRONT_MATTER_CHARS))
            .to_string();
        let block = front_matter::block_len(&head);
        let (brief, warning) = match front_matter::parse(&head) {
            Ok(brief) => (brief.unwrap_or_default(), None),
            Err(e) => (
                Brief::default(),
                Some(format!(
                    "brief left out: {e}; fix the front matter to use it"
                )),
            ),
        };
        Front {
            brief,
            body_start: head[..block].chars().count(),
            warning,
        }
    }
}

impl Draft {
    pub fn read(editor: &Editor) -> Draft {
        let text = editor.doc().text();
        let Front {
            brief,
            body_start,
            warning,
        } = Front::read(editor.doc().rope());
        Draft {
            structure: structure::parse(&text, body_start),
            chars: text.chars().collect(),
            brief,
            warning,
        }
    }

    /// The article's title: the brief's, else the draft's `# ` line.
    pub fn title(&self) -> Option<String> {
        Some(self.brief.title.trim().to_string())
            .filter(|t| !t.is_empty())
            .or_else(|| self.structure.title.clone())
    }

    /// The section whose heading or body holds char `at`.
    fn section_at(&self, at: usize) -> Option<usize> {
        self.structure
            .sections
            .iter()
            .position(|s| s.heading_line.start <= at && at <= s.body.end)
    }

    fn outline(&self) -> Vec<Item> {
        self.structure
            .sections
            .iter()
            .map(|s| Item {
                heading: s.heading.clone(),
                note: s.note.clone().unwrap_or_default(),
            })
            .collect()
    }

    fn slice(&self, range: std::ops::Range<usize>) -> String {
        self.chars[range.start.min(self.chars.len())..range.end.min(self.chars.len())]
            .iter()
            .collect()
    }
}

impl Assistant {
    /// The brief and style guide as prompts carry them, for `draft`; their cost is kept for
    /// the context meter.
    pub(super) fn guidance_for(&mut self, brief: &Brief) -> Guidance {
        let style = self.setup.as_ref().map_or("", |s| s.style.as_str());
        let guidance = context::guidance(brief, style, context::BRIEF_TOKENS);
        self.brief_tokens =
            (!guidance.text.is_empty()).then_some((guidance.tokens, guidance.wanted));
        guidance
    }

    /// The spec of the draft's article, or None (the writer told why) when it has no title.
    fn draft_spec(&mut self, draft: &Draft, editor: &Editor, cx: &mut Cx) -> Option<Spec> {
        if let Some(warning) = &draft.warning {
            cx.status.info(warning.clone());
        }
        let title = draft.title().or_else(|| {
            editor
                .path()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().replace(['-', '_'], " "))
        });
        let Some(title) = title.filter(|t| !t.trim().is_empty()) else {
            cx.status.error(
                "the article has no title: write it as a \"# \" line, or set it in the brief",
            );
            return None;
        };
        let guidance = self.guidance_for(&draft.brief);
        let sections = Some(draft.structure.sections.len()).filter(|&n| n > 0);
        Some(Spec::new(
            &title,
            draft.brief.clone(),
            guidance,
            (sections, None),
            self.article_config(),
        ))
    }

    fn article_layers<'a>(&self, settings: &'a Sampling, language: &'a str) -> Layers<'a> {
        Layers {
            settings,
            overrides: settings_none(),
            default_variants: settings.variants.unwrap_or(1) as usize,
            raw: false,
            language,
            n_ctx: self.info.as_ref().map(|i| i.n_ctx),
        }
    }

    fn article_config(&self) -> crate::config::ArticleConfig {
        self.setup.as_ref().map(|s| s.article).unwrap_or_default()
    }

    fn settings(&self) -> Option<(Sampling, String)> {
        self.setup
            .as_ref()
            .map(|s| (s.sampling.clone(), s.language.clone()))
    }

    /// `outline`: an outline of the draft's article, offered at the cursor.
    pub fn ask_outline(&mut self, editor: &mut Editor, cx: &mut Cx) -> Vec<Effect> {
        if !self.is_ready(cx) {
            return Vec::new();
        }
        let draft = Draft::read(editor);
        let Some(mut spec) = self.draft_spec(&draft, editor, cx) else {
            return Vec::new();
        };
        // The draft's own sections are what an outline would replace: its size is the brief's.
        spec = Spec::new(
            &spec.title,
            spec.brief.clone(),
            spec.guidance.clone(),
            (None, None),
            self.article_config(),
        );
        let Some((settings, language)) = self.settings() else {
            return Vec::new();
        };
        let plan = match article::outline_plan(
            &self.library.prompts,
            &spec,
            self.article_layers(&settings, &language),
        ) {
            Ok(plan) => plan,
            Err(e) => {
                cx.status.error(format!("{e:#}"));
                return Vec::new();
            }
        };
        let cursor = editor.doc().cursor();
        let target = super::insert_target(editor.doc().rope(), cursor);
        self.article = None;
        self.start_suggestion(Suggestion::from_plan(plan, target), editor)
    }

    /// `write section` (`whole` false) or `write article` (true).
    pub fn ask_article(&mut self, whole: bool, editor: &mut Editor, cx: &mut Cx) -> Vec<Effect> {
        if !self.is_ready(cx) {
            return Vec::new();
        }
        let draft = Draft::read(editor);
        let Some(spec) = self.draft_spec(&draft, editor, cx) else {
            return Vec::new();
        };
        let sections = &draft.structure.sections;
        let (section, total) = if whole {
            let empty: Vec<usize> = (0..sections.len())
                .filter(|&i| sections[i].is_empty(&draft.chars))
                .collect();
            match empty.first() {
                Some(&first) => (first, empty.len()),
                None => {
                    cx.status.info(if sections.is_empty() {
                        "no \"## \" sections to write: run outline first (or write the headings)"
                    } else {
                        "every section has text: add a \"## \" heading for more"
                    });
                    return Vec::new();
                }
            }
        } else {
            match draft.section_at(editor.doc().cursor()) {
                Some(i) => (i, 1),
                None => {
                    cx.status.info(
                        "put the cursor under a \"## \" heading to write its section (outline \
                         makes them)",
                    );
                    return Vec::new();
                }
            }
        };
        let mut effects = self.cancel_generation();
        effects.extend(self.ghost.clear());
        effects.extend(editor.journal_effect());
        self.suggestion = None;
        self.article = Some(ArticleRun {
            spec,
            whole,
            section: (section, sections[section].heading.clone()),
            done: 0,
            total,
            stopping: false,
            summary: None,
            asked: None,
            lengthened: 0,
        });
        effects.extend(self.article_step(editor, cx));
        effects
    }

    /// The run's next request: a summary an earlier section still lacks, else the section.
    fn article_step(&mut self, editor: &mut Editor, cx: &mut Cx) -> Vec<Effect> {
        let Some(run) = self.article.as_ref() else {
            return Vec::new();
        };
        let draft = Draft::read(editor);
        let (index, heading) = run.section.clone();
        let Some(section) = draft
            .structure
            .sections
            .get(index)
            .filter(|s| s.heading == heading)
        else {
            cx.status.error(format!(
                "the section \"{heading}\" moved or went: the run stopped"
            ));
            self.article = None;
            return Vec::new();
        };
        // Each section before the one just before it stands in the prompt as its summary.
        for earlier in &draft.structure.sections[..index.saturating_sub(1)] {
            let text = earlier.written(&draft.chars);
            if !text.is_empty() && self.summaries.get(&text).is_none() {
                return self.ask_summary(text, cx);
            }
        }
        let section = section.clone();
        self.ask_section(&draft, index, &section, editor, cx)
    }

    fn ask_summary(&mut self, text: String, cx: &mut Cx) -> Vec<Effect> {
        let Some((settings, language)) = self.settings() else {
            return Vec::new();
        };
        let layers = self.article_layers(&settings, &language);
        let plan = match article::summary_plan(&self.library.prompts, &text, layers) {
            Ok(plan) => plan,
            Err(e) => {
                cx.status.error(format!("{e:#}"));
                self.article = None;
                return Vec::new();
            }
        };
        self.next_job += 1;
        let job = self.next_job;
        if let Some(run) = &mut self.article {
            cx.status.info(format!(
                "summarising an earlier section for the one to write ({})",
                progress(run)
            ));
            run.summary = Some(SummaryJob {
                job,
                text,
                answer: String::new(),
                finishing: plan.finishing.clone(),
            });
        }
        vec![Effect::Generate {
            job,
            prompt: plan.prompt,
            sampling: plan.sampling,
            variants: 1,
            deadline_ms: 0,
        }]
    }

    fn ask_section(
        &mut self,
        draft: &Draft,
        index: usize,
        section: &Section,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        let Some(run) = self.article.as_ref() else {
            return Vec::new();
        };
        let spec = run.spec.clone();
        let input = section_input(draft, index, &spec, &self.summaries);
        let Some((settings, language)) = self.settings() else {
            return Vec::new();
        };
        let mut layers = self.article_layers(&settings, &language);
        if run.whole {
            // Straight into the draft: one answer.
            layers.default_variants = 1;
        }
        let mut plan = match article::section_plan(&self.library.prompts, &spec, &input, layers) {
            Ok(plan) => plan,
            Err(e) => {
                cx.status.error(format!("{e:#}"));
                self.article = None;
                return Vec::new();
            }
        };
        if run.whole {
            plan.variants = 1;
        }
        // The pane's title has its token count to show too: the heading is in the status bar.
        plan.title = format!("{} {}", plan.title, progress(run));
        let target = section_target(draft, section);
        cx.status.info(format!(
            "writing section {}: {}{}",
            progress(run),
            section.heading,
            if run.whole {
                " (Esc stops after it)"
            } else {
                ""
            }
        ));
        let whole = run.whole;
        if let Some(run) = &mut self.article {
            run.asked = Some(plan.clone());
            run.lengthened = 0;
        }
        let mut suggestion = Suggestion::from_plan(plan, target);
        suggestion.auto_accept = whole;
        if !whole {
            // One section, offered: the run is over once it is asked.
            self.article = None;
        }
        self.start_suggestion(suggestion, editor)
    }

    /// A token of the run's summary; false when `job` is not the run's.
    pub(super) fn on_article_text(&mut self, job: JobId, text: &str) -> bool {
        match self
            .article
            .as_mut()
            .and_then(|r| r.summary.as_mut())
            .filter(|s| s.job == job)
        {
            Some(summary) => {
                summary.answer.push_str(text);
                true
            }
            None => false,
        }
    }

    /// The run's summary finished: kept (or the section's first sentence, when the model's
    /// is refused), then the run goes on. None when `job` is not the run's.
    pub(super) fn on_article_finished(
        &mut self,
        job: JobId,
        stats: &GenerationStats,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Option<Vec<Effect>> {
        let run = self.article.as_mut()?;
        let summary = run.summary.take_if(|s| s.job == job)?;
        let text = article::summary_from(
            &summary.finishing,
            &summary.answer,
            stats.stop_reason,
            &summary.text,
        );
        self.summaries.insert(&summary.text, text);
        if run.stopping {
            self.end_article(cx, "stopped");
            return Some(Vec::new());
        }
        Some(self.article_step(editor, cx))
    }

    /// A section of `write article` went into the draft: go on with it if it came out short,
    /// else with the next empty section, or end.
    pub(super) fn after_article_section(
        &mut self,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        let Some(run) = self.article.as_mut() else {
            return Vec::new();
        };
        if !run.stopping && run.lengthened < LENGTHENINGS {
            let draft = Draft::read(editor);
            let (index, heading) = run.section.clone();
            if let (Some(section), Some(asked)) = (
                draft
                    .structure
                    .sections
                    .get(index)
                    .filter(|s| s.heading == heading),
                run.asked.as_ref(),
            ) {
                let body = section.written(&draft.chars);
                let words = run.spec.section_words();
                if let Some(more) = article::lengthen(asked, &run.spec, words, &body) {
                    run.lengthened += 1;
                    run.asked = Some(more.clone());
                    let at = written_end(&draft, section);
                    let target = super::insert_target(editor.doc().rope(), at);
                    let mut suggestion = Suggestion::from_plan(more, target);
                    suggestion.auto_accept = true;
                    // The section and its rest are one undo step.
                    suggestion.continues_last = true;
                    return self.start_suggestion(suggestion, editor);
                }
            }
        }
        run.done += 1;
        if run.stopping || run.done >= run.total {
            let why = if run.stopping { "stopped" } else { "done" };
            self.end_article(cx, why);
            return Vec::new();
        }
        let draft = Draft::read(editor);
        let next = draft
            .structure
            .sections
            .iter()
            .position(|s| s.is_empty(&draft.chars));
        match next {
            Some(i) => {
                run.section = (i, draft.structure.sections[i].heading.clone());
                self.article_step(editor, cx)
            }
            None => {
                self.end_article(cx, "done");
                Vec::new()
            }
        }
    }

    /// Esc during `write article`: the section being written is finished first. True when
    /// a run took the key.
    pub(super) fn stop_article(&mut self, cx: &mut Cx) -> bool {
        match self.article.as_mut() {
            Some(run) if !run.stopping => {
                run.stopping = true;
                cx.status.info(
                    "stopping after this section (Esc again stops now); write article goes \
                     on with the empty ones",
                );
                true
            }
            _ => false,
        }
    }

    fn end_article(&mut self, cx: &mut Cx, why: &str) {
        if let Some(run) = self.article.take() {
            let left = run.total.saturating_sub(run.done);
            cx.status.info(if left > 0 {
                format!(
                    "write article {why}: {} of {} sections written; run it again for the \
                     {left} left",
                    run.done, run.total
                )
            } else {
                format!("write article {why}: {} sections written", run.done)
            });
        }
    }

    /// Where the run stands: "section 3 of 7".
    pub fn article_progress(&self) -> Option<String> {
        self.article.as_ref().map(progress)
    }
}

impl ArticleRun {
    /// The summary request in flight, if any.
    pub fn summary_job(&self) -> Option<JobId> {
        self.summary.as_ref().map(|s| s.job)
    }
}

fn progress(run: &ArticleRun) -> String {
    format!("{} of {}", run.done + 1, run.total.max(1))
}

fn settings_none() -> &'static Sampling {
    static NONE: std::sync::OnceLock<Sampling> = std::sync::OnceLock::new();
    NONE.get_or_init(Sampling::default)
}

/// What the prompt of section `index` is made from: the draft's outline, the summaries of the
/// sections before the one just before it, that one as the draft has it, and the sentences
/// every other section already holds (none may come again).
fn section_input(
    draft: &Draft,
    index: usize,
    spec: &Spec,
    summaries: &article::Summaries,
) -> SectionInput {
    let sections = &draft.structure.sections;
    let earlier = sections[..index.saturating_sub(1)]
        .iter()
        .filter_map(|s| {
            let text = s.written(&draft.chars);
            let summary = summaries.get(&text)?;
            Some((s.heading.clone(), summary.to_string()))
        })
        .collect();
    let before = index.checked_sub(1).map_or_else(String::new, |prev| {
        let s = &sections[prev];
        article::previous_section(&s.heading, &s.written(&draft.chars))
    });
    let mut seen = HashSet::new();
    for (i, s) in sections.iter().enumerate() {
        if i != index {
            seen.extend(sentence_keys(&s.written(&draft.chars)));
        }
    }
    SectionInput {
        outline: draft.outline(),
        index,
        earlier,
        before,
        words: spec.section_words(),
        seen,
    }
}

/// Where a section's body goes: in place of its note, or after what it has (a paragraph of
/// its own), or under its heading.
fn section_target(draft: &Draft, section: &Section) -> Target {
    if section.note.is_some() && section.is_empty(&draft.chars) {
        let line = draft.slice(section.note_line.clone());
        let original = line.trim_end_matches(['\n', '\r']).to_string();
        let start = section.note_line.start;
        return Target::Replace {
            start,
            end: start + original.chars().count(),
            original,
        };
    }
    let at = written_end(draft, section);
    let before = draft.slice(at.saturating_sub(32)..at);
    let after = draft.slice(at..(at + 32).min(draft.chars.len()));
    Target::Insert {
        at,
        context: before,
        after,
    }
}

/// The end of what a section has written (its heading's end when it has nothing).
fn written_end(draft: &Draft, section: &Section) -> usize {
    let mut end = section.body.end.max(section.heading_line.end);
    while end > section.heading_line.end && draft.chars[end - 1].is_whitespace() {
        end -= 1;
    }
    if end == section.heading_line.end {
        // Under the heading: after its line break, where there is one.
        return section.heading_line.end;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(text: &str) -> Draft {
        let body_start = text[..front_matter::block_len(text)].chars().count();
        Draft {
            brief: front_matter::parse(text).unwrap().unwrap_or_default(),
            structure: structure::parse(text, body_start),
            chars: text.chars().collect(),
            warning: None,
        }
    }

    #[test]
    fn a_noted_empty_section_is_written_in_place_of_its_note() {
        let text = "# Tea\n\n## Kinds\n\n*Green and black.*\n\n## Brewing\n";
        let d = draft(text);
        let at = |s: &str| text[..text.find(s).unwrap()].chars().count();
        let t = section_target(&d, &d.structure.sections[0]);
        assert_eq!(
            t,
            Target::Replace {
                start: at("*Green"),
                end: at("*Green") + 18,
                original: "*Green and black.*".into()
            }
        );
        // A heading with nothing under it: just after it.
        let t = section_target(&d, &d.structure.sections[1]);
        assert!(
            matches!(t, Target::Insert { at, .. } if at == text.chars().count()),
            "{t:?}"
        );
    }

    #[test]
    fn a_section_with_text_is_written_after_its_text() {
        let d = draft("## Kinds\nGreen tea.\n\n## Brewing\n");
        let t = section_target(&d, &d.structure.sections[0]);
        assert!(matches!(t, Target::Insert { at: 19, .. }), "{t:?}");
    }

    #[test]
    fn the_prompt_input_has_summaries_before_the_last_section_and_every_other_sentence() {
        let text = "---\ntitle: Tea\n---\n# Tea\n\n## Kinds\n\nGreen tea is mild.\n\n## Water\n\nUse soft water always.\n\n## Time\n\n## Cups\n\nWarm the cups first.\n";
        let d = draft(text);
        assert_eq!(d.title().as_deref(), Some("Tea"));
        let mut summaries = article::Summaries::default();
        summaries.insert("Green tea is mild.", "Mild green.".into());
        let spec = Spec::new(
            "Tea",
            d.brief.clone(),
            Guidance::default(),
            (Some(4), None),
            Default::default(),
        );
        let input = section_input(&d, 2, &spec, &summaries);
        assert_eq!(
            input.earlier,
            vec![("Kinds".to_string(), "Mild green.".to_string())]
        );
        assert_eq!(input.before, "## Water\n\nUse soft water always.");
        assert_eq!(input.outline.len(), 4);
        assert!(input.seen.contains("warmthecupsfirst"));
        assert!(!input.seen.is_empty());
    }

    #[test]
    fn the_section_at_the_cursor_is_found_by_its_heading_or_body() {
        let d = draft("# T\n\n## A\n\ntext\n\n## B\n");
        assert_eq!(d.section_at(0), None);
        assert_eq!(d.section_at(6), Some(0));
        assert_eq!(d.section_at(13), Some(0));
        assert_eq!(d.section_at(d.chars.len()), Some(1));
    }
}

#[cfg(test)]
mod flow_tests {
    use crate::app::test_support::{job_of, ready_app, stats};
    use crate::app::{App, Effect};
    use crate::command::Command;
    use crate::engine::protocol::{Event, JobId, Prompt};

    fn answer(app: &mut App, job: JobId, text: &str) -> Vec<Effect> {
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: text.into(),
            },
        );
        app.on_engine(
            1,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        )
    }

    fn prompt_of(effects: &[Effect]) -> String {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Generate { prompt, .. } => Some(match prompt {
                    Prompt::Completion { parts } => parts.iter().map(|p| p.text.clone()).collect(),
                    Prompt::Chat { messages } => format!("{messages:?}"),
                }),
                _ => None,
            })
            .expect("a generate effect")
    }

    const LONG: &str = "Green tea is picked young and dried fast. It keeps a mild and grassy taste. \
        Black tea is rolled and left to oxidise. It comes out strong and dark. Oolong sits between \
        the two and is often rolled into balls. White tea is the least handled of all of them.";

    #[test]
    fn write_article_fills_each_empty_section_in_order_each_one_undo_step() {
        // 40 words an article: 20 a section, which the answers below fill.
        let mut app = ready_app(
            "---\nwords: 40\n---\n# Tea\n\n## Kinds\n\n*The main kinds.*\n\n## Brewing\n\n*Water and time.*\n",
        );
        let first = app.run(Command::write_article);
        let job = job_of(&first);
        // The brief and the outline go first; no section before the first to summarise.
        let prompt = prompt_of(&first);
        assert!(
            prompt.starts_with("---\nLength: about 40 words\nSections:\n1. Kinds\n2. Brewing\n---\n\n# Tea\n\n## Kinds\n"),
            "{prompt}"
        );
        assert!(
            app.status_text().contains("1 of 2"),
            "{}",
            app.status_text()
        );
        let next = answer(&mut app, job, LONG);
        let text = app.doc_mut().text();
        assert!(
            text.contains("## Kinds\n\nGreen tea is picked young"),
            "{text}"
        );
        assert!(!text.contains("*The main kinds.*"));
        // The second section: the first is in the prompt as the draft has it.
        let prompt = prompt_of(&next);
        assert!(prompt.contains("## Kinds\n\nGreen tea"), "{prompt}");
        assert!(prompt.ends_with("\n\n## Brewing\n"), "{prompt}");
        let done = answer(
            &mut app,
            next_job(&next),
            "Use water that is just off the boil. Steep the leaves for three minutes and no more. Then pour.",
        );
        assert!(
            !done.iter().any(|e| matches!(e, Effect::Generate { .. })),
            "{done:?}"
        );
        let text = app.doc_mut().text();
        assert!(
            text.ends_with("## Brewing\n\nUse water that is just off the boil. Steep the leaves for three minutes and no more. Then pour.\n"),
            "{text:?}"
        );
        assert!(app.status_text().contains("done"), "{}", app.status_text());
        // Each section is its own undo step.
        app.doc_mut().undo();
        assert!(app.doc_mut().text().contains("*Water and time.*"));
        assert!(!app.doc_mut().text().contains("*The main kinds.*"));
    }

    fn next_job(effects: &[Effect]) -> JobId {
        job_of(effects)
    }

    #[test]
    fn esc_stops_after_the_section_and_a_second_run_resumes_with_the_empty_ones() {
        let mut app =
            ready_app("---\nwords: 60\n---\n# Tea\n\n## Kinds\n\n## Brewing\n\n## Cups\n");
        let job = job_of(&app.run(Command::write_article));
        app.run(Command::cancel);
        assert!(app.status_text().contains("stopping after this section"));
        let after = answer(&mut app, job, LONG);
        assert!(
            !after.iter().any(|e| matches!(e, Effect::Generate { .. })),
            "{after:?}"
        );
        assert!(
            app.status_text().contains("1 of 3 sections"),
            "{}",
            app.status_text()
        );
        let again = app.run(Command::write_article);
        assert!(
            app.status_text().contains("1 of 2"),
            "{}",
            app.status_text()
        );
        let prompt = prompt_of(&again);
        assert!(
            prompt.contains("## Kinds\n\nGreen tea is picked young"),
            "{prompt}"
        );
        assert!(prompt.ends_with("\n\n## Brewing\n"), "{prompt}");
    }

    #[test]
    fn a_section_after_two_is_asked_with_the_first_summarised_once() {
        let mut app = ready_app(&format!(
            "# Tea\n\n## Kinds\n\n{LONG}\n\n## Water\n\nSoft water is best for tea.\n\n## Time\n"
        ));
        let end = app.doc_mut().len_chars();
        app.doc_mut().move_to(end, false);
        let summary = app.run(Command::write_section);
        // The first section is summarised (the one just before goes in as it is).
        assert!(prompt_of(&summary).contains("Green tea is picked young"));
        let section = answer(
            &mut app,
            job_of(&summary),
            "Green, black and oolong tea differ in how they are made.",
        );
        let prompt = prompt_of(&section);
        assert!(
            prompt.contains("## Kinds\n\nGreen, black and oolong tea differ"),
            "{prompt}"
        );
        assert!(
            prompt.contains("## Water\n\nSoft water is best for tea."),
            "{prompt}"
        );
        // Asked again, the summary is not made again.
        app.run(Command::cancel);
        app.run(Command::cancel);
        let again = app.run(Command::write_section);
        assert!(
            prompt_of(&again).contains("## Kinds\n\nGreen, black"),
            "{}",
            prompt_of(&again)
        );
    }

    #[test]
    fn outside_a_section_write_section_says_where_to_go() {
        let mut app = ready_app("# Notes\n\nJust a note, no headings.");
        assert!(app.run(Command::write_section).is_empty());
        assert!(app.status_text().contains("under a \"## \" heading"));
        assert!(app.run(Command::write_article).is_empty());
        assert!(app.status_text().contains("run outline first"));
    }

    #[test]
    fn the_outline_is_offered_at_the_cursor_and_accepted_as_one_step() {
        let mut app = ready_app("# Tea\n");
        let end = app.doc_mut().len_chars();
        app.doc_mut().move_to(end, false);
        let effects = app.run(Command::outline);
        let job = job_of(&effects);
        answer(
            &mut app,
            job,
            "## Kinds\nThe main kinds of tea.\n\n## Brewing\nWater and time.\n\n",
        );
        app.accept_suggestion();
        assert_eq!(
            app.doc_mut().text(),
            "# Tea\n\n## Kinds\n\n*The main kinds of tea.*\n\n## Brewing\n\n*Water and time.*"
        );
        app.doc_mut().undo();
        assert_eq!(app.doc_mut().text(), "# Tea\n");
    }

    #[test]
    fn the_outline_has_the_briefs_sections_else_the_configs() {
        let mut config = crate::config::Config::default();
        config.article.sections = 5;
        let asked = |config: &crate::config::Config, text: &str| {
            let mut app = crate::app::test_support::ready_app_with(config.clone(), text);
            let end = app.doc_mut().len_chars();
            app.doc_mut().move_to(end, false);
            prompt_of(&app.run(Command::outline))
        };
        assert!(asked(&config, "# Tea\n").contains("in 5 sections"));
        let briefed = asked(&config, "---\nsections: 2\n---\n# Tea\n");
        assert!(briefed.contains("in 2 sections"), "{briefed}");
        config.article = crate::config::ArticleConfig {
            words: 1200,
            sections: 0,
        };
        assert!(asked(&config, "# Tea\n").contains("in 8 sections"));
    }

    #[test]
    fn a_short_section_is_asked_to_go_on_and_stays_one_undo_step() {
        // 40 words in 2 sections: an answer of 13 words is short of the 20.
        let mut app = ready_app("---\nwords: 40\n---\n# Tea\n\n## Kinds\n\n## Brewing\n");
        let job = job_of(&app.run(Command::write_article));
        let more = answer(
            &mut app,
            job,
            "Green tea is mild. Black tea is strong and dark in the cup.",
        );
        let prompt = prompt_of(&more);
        assert!(
            prompt.ends_with(
                "## Kinds\nGreen tea is mild. Black tea is strong and dark in the cup.\n\n"
            ),
            "{prompt}"
        );
        let next = answer(
            &mut app,
            job_of(&more),
            "Oolong sits between the two of them in taste.",
        );
        let text = app.doc_mut().text();
        assert!(
            text.contains("dark in the cup.\n\nOolong sits between"),
            "{text}"
        );
        // Then the next section is asked for; the first, undone, goes whole.
        assert!(prompt_of(&next).contains("## Brewing"));
        app.run(Command::cancel);
        app.run(Command::cancel);
        app.doc_mut().undo();
        assert_eq!(
            app.doc_mut().text(),
            "---\nwords: 40\n---\n# Tea\n\n## Kinds\n\n## Brewing\n"
        );
    }
}
