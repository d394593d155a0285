//! The assistant inside the editor: starting and supervising the engine (one restart after a
//! crash, then a stop), turning a prompt of the library and the draft into a request (through
//! `plan`), streaming the answer into a `Suggestion` or the ghost, and accepting it into the
//! draft as one undo step. It reads and changes the draft only through the `Editor` it is given.

mod article;

pub use article::Front;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::editor::Editor;
use super::ghost::{Ghost, GhostAsk};
use super::library::Library;
use super::{Cx, Effect};
use crate::command::Command;
use crate::document::around;
use crate::engine::exit::WorkerExit;
use crate::engine::protocol::{Event, GenerationStats, JobId, LoadParams, ModelInfo};
use crate::keymap::Mode;
use crate::plan::{Layers, plan};
use crate::prompt::{Action, Output, PromptInput, Unselected};
use crate::sampling::Sampling;
use crate::suggestion::{Finished, Portion, Reading, Suggestion, Target, VariantState};

/// A crashed worker restarts after this pause.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// What the editor needs to run the engine, from the config.
#[derive(Debug, Clone)]
pub struct AssistantSetup {
    pub load: LoadParams,
    /// The config's layer of sampling settings (variants included).
    pub sampling: Sampling,
    /// The typing pause before ghost text is asked for; `None` turns ghost text off.
    pub ghost_delay: Option<Duration>,
    /// The answers' language: "auto" for the passage's own, or a language's name.
    pub language: String,
    /// A ghost request whose first word has not come within this many milliseconds is
    /// dropped (a remote engine's; the local one answers well within it).
    pub ghost_budget_ms: u64,
    /// The writer's style guide (`style.md` beside the config file), carried by every prompt
    /// with the draft's brief; empty when there is none.
    pub style: String,
    /// An article's size where the brief sets none.
    pub article: crate::config::ArticleConfig,
}

impl AssistantSetup {
    pub fn from_config(config: &crate::config::Config, model: std::path::PathBuf) -> Self {
        AssistantSetup {
            load: config.load_params(model),
            sampling: config.sampling.clone(),
            language: config.language.clone(),
            ghost_budget_ms: config.editor.ghost_budget_ms,
            ghost_delay: config
                .editor
                .ghost_text
                .then(|| Duration::from_millis(config.editor.ghost_delay_ms)),
            style: String::new(),
            article: config.article,
        }
    }

    /// This setup with the writer's style guide.
    pub fn with_style(self, style: String) -> Self {
        AssistantSetup { style, ..self }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum ModelState {
    /// No engine: no model configured yet, or not started.
    #[default]
    Off,
    /// Loading, with the fraction done.
    Loading(f32),
    Ready,
    /// The worker died; it restarts after a pause.
    Crashed {
        exit: WorkerExit,
        retry_in: Duration,
    },
    /// The worker died again before its restart finished any job: a restart would meet the
    /// same crash, so none is made until the writer asks (`restart_model`).
    Stopped {
        exit: WorkerExit,
    },
    /// The model cannot be used (bad file): Quill stays a plain editor.
    Failed(String),
}

#[derive(Debug, Default)]
pub struct Assistant {
    setup: Option<AssistantSetup>,
    /// The prompts and templates.
    pub library: Library,
    state: ModelState,
    info: Option<ModelInfo>,
    /// Which worker's events count: bumped at every start, so a dead one's are ignored.
    generation: u64,
    /// Crashes since a worker last finished a job.
    crashes: u32,
    next_job: JobId,
    suggestion: Option<Suggestion>,
    last_stats: Option<GenerationStats>,
    /// The suggestions pane has the keyboard.
    focused: bool,
    ghost: Ghost,
    /// A `write section` or `write article` under way.
    article: Option<article::ArticleRun>,
    /// Summaries of the draft's sections, by their text's hash (see `article`).
    summaries: crate::article::Summaries,
    /// The brief and style guide the last request carried, in estimated tokens, and what
    /// they would have taken uncut: for the context meter.
    brief_tokens: Option<(usize, usize)>,
}

impl Assistant {
    pub fn state(&self) -> &ModelState {
        &self.state
    }

    pub fn info(&self) -> Option<&ModelInfo> {
        self.info.as_ref()
    }

    pub fn suggestion(&self) -> Option<&Suggestion> {
        self.suggestion.as_ref()
    }

    /// The brief's share of the last request (tokens carried, tokens it had): the meter's.
    pub fn brief_tokens(&self) -> Option<(usize, usize)> {
        self.brief_tokens
    }

    pub fn last_stats(&self) -> Option<&GenerationStats> {
        self.last_stats.as_ref()
    }

    /// The suggestions pane has the keyboard.
    pub fn is_focused(&self) -> bool {
        self.focused && self.suggestion.is_some()
    }

    pub fn ghost(&self) -> &Ghost {
        &self.ghost
    }

    pub fn is_streaming(&self) -> bool {
        self.suggestion
            .as_ref()
            .is_some_and(Suggestion::is_streaming)
    }

    /// The model in use, for the settings pane.
    pub fn model(&self) -> Option<&std::path::Path> {
        self.setup.as_ref().map(|s| s.load.model.as_path())
    }

    pub fn setup(&self) -> Option<&AssistantSetup> {
        self.setup.as_ref()
    }

    /// New settings that need no restart (sampling, ghost text).
    pub fn set_setup(&mut self, setup: AssistantSetup) {
        self.setup = Some(setup);
    }

    /// A new draft: no suggestion or ghost belongs to it.
    pub fn forget_draft(&mut self) -> Vec<Effect> {
        let mut effects = self.cancel_generation();
        effects.extend(self.ghost.clear());
        self.suggestion = None;
        self.focused = false;
        effects
    }

    // --- The engine ------------------------------------------------------------------------

    /// Starts the engine for `setup`.
    pub fn start(&mut self, setup: AssistantSetup) -> Vec<Effect> {
        self.setup = Some(setup);
        self.start_engine()
    }

    fn start_engine(&mut self) -> Vec<Effect> {
        let Some(setup) = &self.setup else {
            return Vec::new();
        };
        self.generation += 1;
        self.state = ModelState::Loading(0.0);
        vec![Effect::StartEngine {
            generation: self.generation,
            params: setup.load.clone(),
        }]
    }

    /// Starts the model again, whatever state it is in: after it stopped, or a model file that
    /// has since been fixed.
    pub fn restart_model(&mut self, cx: &mut Cx) -> Vec<Effect> {
        self.crashes = 0;
        // The old worker's events will be dropped as stale: nothing may wait on them.
        self.fail_streaming("the model was restarted".into());
        let mut effects = self.ghost.clear();
        effects.extend(self.start_engine());
        cx.status.info("starting the model again");
        effects
    }

    pub fn on_restart_due(&mut self, generation: u64) -> Vec<Effect> {
        if generation != self.generation || !matches!(self.state, ModelState::Crashed { .. }) {
            return Vec::new();
        }
        self.start_engine()
    }

    /// An event from the engine started as `generation` (older ones are ignored).
    pub fn on_event(
        &mut self,
        generation: u64,
        event: Event,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        if generation != self.generation {
            return Vec::new(); // a worker that has since been replaced
        }
        match event {
            Event::ModelLoading { progress } => {
                self.state = ModelState::Loading(progress.clamp(0.0, 1.0));
                Vec::new()
            }
            Event::ModelLoaded(info) => {
                self.info = Some(info);
                self.state = ModelState::Ready;
                // A suggestion that was waiting on a restart asks again.
                self.continue_variants()
            }
            Event::ModelLoadFailed { reason } | Event::NoBackend { reason } => {
                self.state = ModelState::Failed(reason);
                self.fail_streaming("the model failed to load".into());
                Vec::new()
            }
            Event::TokenGenerated { job, text } => self.on_token(job, &text),
            Event::PromptRead {
                job,
                read,
                total,
                tokens_per_s,
            } => {
                // Ghost text shows nothing until it has words; a suggestion shows the reading.
                if let Some(s) = &mut self.suggestion {
                    s.on_read(
                        job,
                        Reading {
                            read,
                            total,
                            tokens_per_s,
                        },
                    );
                }
                Vec::new()
            }
            Event::GenerationFinished { job, stats } => self.on_finished(job, stats, editor, cx),
            Event::GenerationFailed { job, reason } => {
                if self.article.is_some() {
                    // A run cannot go on past a failed request: what it wrote stays.
                    self.article = None;
                }
                if !self.ghost.on_failed(job) {
                    if let Some(s) = &mut self.suggestion {
                        s.finish(job, VariantState::Failed(reason.clone()));
                    }
                    cx.status.error(format!("generation failed: {reason}"));
                }
                Vec::new()
            }
            Event::Warned { message } => {
                cx.status.info(message);
                Vec::new()
            }
            Event::WorkerExited { exit } => self.on_worker_exited(exit, cx),
            Event::SettingsChosen(settings) => {
                if let Some(info) = &mut self.info {
                    info.settings = settings;
                }
                Vec::new()
            }
            // The editor never asks for it; and measuring shows only in what it chose.
            Event::SystemDescribed { .. } | Event::Measuring => Vec::new(),
        }
    }

    fn on_token(&mut self, job: JobId, text: &str) -> Vec<Effect> {
        if let Some(effects) = self.ghost.on_text(job, text) {
            return effects;
        }
        if self.on_article_text(job, text) {
            return Vec::new();
        }
        if let Some(s) = &mut self.suggestion
            && s.push_text(job, text)
            && s.should_stop(job)
        {
            // Past the limit by more than a word: the rest would be cut anyway.
            return vec![Effect::CancelJob { job }];
        }
        Vec::new()
    }

    fn on_finished(
        &mut self,
        job: JobId,
        stats: GenerationStats,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        // A worker that finishes a job has got past whatever killed the last one.
        self.crashes = 0;
        // Every job of this worker counts for the speed and context shown, a ghost stopped at
        // its sentence end included.
        self.last_stats = Some(stats.clone());
        if self.ghost.on_finished(job) {
            return Vec::new();
        }
        if let Some(effects) = self.on_article_finished(job, &stats, editor, cx) {
            return effects;
        }
        let Some(s) = &mut self.suggestion else {
            return Vec::new();
        };
        let finished = s.finish(job, VariantState::Done(stats));
        if finished == Finished::Kept
            && let Some(parts) = &s.parts
        {
            // How much of a long text was read goes in the status bar too.
            cx.status.info(parts_read(parts));
        }
        match finished {
            Finished::Stale => Vec::new(),
            Finished::Kept if s.auto_accept && self.article.is_some() => {
                let mut effects = self.accept(editor, cx);
                effects.extend(self.after_article_section(editor, cx));
                effects
            }
            Finished::Kept if s.auto_accept => self.accept(editor, cx),
            _ => {
                let effects = self.continue_variants();
                self.report_dropped(cx);
                effects
            }
        }
    }

    /// One restart after a crash; a second crash before the restarted worker finishes a job
    /// stops the engine, since restarting again would meet the same crash (an instruction this
    /// CPU refuses, a model that aborts llama.cpp, a prompt that does).
    fn on_worker_exited(&mut self, exit: WorkerExit, cx: &mut Cx) -> Vec<Effect> {
        self.crashes += 1;
        let mut advice = exit.advice().map(|a| format!("; {a}")).unwrap_or_default();
        if advice.is_empty()
            && exit.logged.is_some()
            && matches!(self.state, ModelState::Loading(_))
        {
            // llama.cpp itself gave up on the file: a restart or a new prompt cannot help.
            advice = "; llama.cpp could not read this model file (damaged, or made for a newer \
                      llama.cpp): choose another with `settings` (Ctrl-P) or `quill model use`"
                .into();
        }
        if self.crashes < 2 {
            self.fail_streaming(format!("the model crashed ({exit}){advice}"));
            self.state = ModelState::Crashed {
                exit,
                retry_in: RESTART_PAUSE,
            };
            return vec![Effect::RestartEngineAfter {
                generation: self.generation,
                delay: RESTART_PAUSE,
            }];
        }
        let what = format!(
            "the model crashed again after a restart ({exit}) and was stopped{}",
            if advice.is_empty() {
                "; the worker log says more. Fix the cause, then run `restart model` (Ctrl-P)"
                    .to_string()
            } else {
                advice
            }
        );
        self.fail_streaming(what.clone());
        cx.status.error(what.clone());
        self.state = ModelState::Stopped { exit };
        vec![Effect::StopEngine { note: what }]
    }

    fn fail_streaming(&mut self, reason: String) {
        if let Some(s) = &mut self.suggestion {
            for job in s.running_jobs() {
                s.finish(job, VariantState::Failed(reason.clone()));
            }
        }
    }

    /// Once a suggestion is complete, says how many variants were dropped and why.
    fn report_dropped(&self, cx: &mut Cx) {
        let Some(s) = &self.suggestion else {
            return;
        };
        if s.is_streaming() || s.dropped == 0 {
            return;
        }
        let again = cx.keys.hint(Mode::Edit, Command::regenerate).map_or_else(
            || "ask again".to_string(),
            |k| format!("press {k} to try again"),
        );
        let why = s.refusal_summary();
        let text = if s.variants.is_empty() {
            format!("no usable variant ({why}); {again}")
        } else {
            format!(
                "{} of {} variants kept; {} dropped ({why})",
                s.variants.len(),
                s.wanted,
                s.dropped
            )
        };
        // How much of a long text was read stays in view beside it.
        match &s.parts {
            Some(parts) => cx.status.info(format!("{}; {text}", parts_read(parts))),
            None => cx.status.info(text),
        }
    }

    /// Asks for the variants still wanted if the suggestion wants more and the engine is ready.
    fn continue_variants(&mut self) -> Vec<Effect> {
        if self.state != ModelState::Ready
            || !self.suggestion.as_ref().is_some_and(|s| s.wants_more())
        {
            return Vec::new();
        }
        let job = self.next_job + 1;
        let Some(s) = &mut self.suggestion else {
            return Vec::new();
        };
        let (prompt, sampling, variants) = s.start(job);
        // The variants take the ids after the first.
        self.next_job += u64::from(variants);
        vec![Effect::Generate {
            job,
            prompt,
            sampling,
            variants,
            deadline_ms: 0,
        }]
    }

    // --- Suggestions -----------------------------------------------------------------------

    /// Whether the model can take a request now; if not, the writer is told why.
    fn is_ready(&self, cx: &mut Cx) -> bool {
        match &self.state {
            ModelState::Ready => return true,
            ModelState::Failed(reason) => cx.status.error(format!("no model: {reason}")),
            ModelState::Stopped { exit } => {
                let advice = exit.advice().map(|a| format!("; {a}")).unwrap_or_default();
                cx.status.error(format!(
                    "the model stopped after crashing twice ({exit}){advice}; `restart model` \
                     (Ctrl-P) starts it again"
                ));
            }
            _ => cx.status.info("the model is not ready yet"),
        }
        false
    }

    /// Runs prompt `id` of the library on the draft, its fields filled from `values` (and
    /// their defaults): its action decides what text it reads and where the answer goes.
    pub fn ask(
        &mut self,
        id: &str,
        values: &BTreeMap<String, String>,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        if !self.is_ready(cx) {
            return Vec::new();
        }
        let Some((settings, language)) = self
            .setup
            .as_ref()
            .map(|s| (s.sampling.clone(), s.language.clone()))
        else {
            return Vec::new();
        };
        let front = article::Front::read(editor.doc().rope());
        let brief = self.guidance_for(&front.brief).text;
        let Ok(template) = self.library.prompts.get(id) else {
            cx.status.error(format!("no prompt named {id}"));
            return Vec::new();
        };
        if let Some(warning) = &front.warning {
            cx.status.info(warning.clone());
        }
        // The article flow's prompts read the draft's outline and sections, not a passage.
        match template.action {
            Action::Outline => return self.ask_outline(editor, cx),
            Action::Section => return self.ask_article(false, editor, cx),
            _ => {}
        }
        let reading = DraftReading {
            context_chars: self.context_chars(),
            body_start: front.body_start,
        };
        let Some((target, mut input)) = read_draft(template, editor, reading, cx) else {
            return Vec::new();
        };
        input.brief = brief;
        let layers = Layers {
            settings: &settings,
            overrides: &Sampling::default(),
            default_variants: settings.variants.unwrap_or(1) as usize,
            raw: false,
            language: &language,
            n_ctx: self.info.as_ref().map(|i| i.n_ctx),
        };
        let plan = match plan(template, &input, values, layers) {
            Ok(plan) => plan,
            Err(e) => {
                cx.status.error(format!("{e:#}"));
                return Vec::new();
            }
        };
        self.article = None;
        self.start_suggestion(Suggestion::from_plan(plan, target), editor)
    }

    /// Puts `suggestion` on offer in place of any other, and asks for its first variants.
    fn start_suggestion(&mut self, suggestion: Suggestion, editor: &mut Editor) -> Vec<Effect> {
        let mut effects = self.cancel_generation();
        effects.extend(self.ghost.clear());
        // The journal first: a model request is when a crash is most likely.
        effects.extend(editor.journal_effect());
        self.suggestion = Some(suggestion);
        effects.extend(self.continue_variants());
        effects
    }

    /// More characters than the context can hold in tokens, with room to spare: what is sent
    /// around the cursor, so a long draft is not copied whole into every request.
    fn context_chars(&self) -> usize {
        let n_ctx = self.setup.as_ref().map_or(4096, |s| s.load.n_ctx) as usize;
        n_ctx.saturating_mul(16)
    }

    /// Stops the streaming job, if any, keeping what it produced.
    pub fn cancel_generation(&mut self) -> Vec<Effect> {
        let Some(s) = &mut self.suggestion else {
            return Vec::new();
        };
        let jobs = s.running_jobs();
        if jobs.is_empty() {
            return Vec::new();
        }
        // Stop asking for more variants too.
        s.wanted = s.variants.len();
        jobs.into_iter()
            .map(|job| {
                s.finish(job, VariantState::Failed("cancelled".into()));
                Effect::CancelJob { job }
            })
            .collect()
    }

    pub fn reject(&mut self) -> Vec<Effect> {
        let effects = self.cancel_generation();
        self.suggestion = None;
        self.focused = false;
        effects
    }

    pub fn regenerate(&mut self, cx: &mut Cx) -> Vec<Effect> {
        if self.suggestion.is_none() {
            // Said, not silently ignored: the key did reach Quill.
            let first = cx
                .keys
                .hint(Mode::Edit, Command::command_palette)
                .map_or_else(String::new, |k| format!(" ({k} lists them)"));
            cx.status.info(format!(
                "nothing to ask again yet: run an action first{first}"
            ));
            return Vec::new();
        }
        let mut effects = self.cancel_generation();
        if let Some(s) = &mut self.suggestion {
            // Another variant after those kept, with a fresh seed.
            s.want_more(1);
            s.sampling.seed = s.sampling.seed.wrapping_add(1000);
            s.current = s.variants.len();
        }
        effects.extend(self.continue_variants());
        effects
    }

    pub fn cycle(&mut self, forward: bool) {
        if let Some(s) = &mut self.suggestion {
            s.cycle(forward);
        }
    }

    pub fn scroll(&mut self, down: bool) {
        if let Some(s) = &mut self.suggestion {
            s.scroll = if down {
                s.scroll + 1
            } else {
                s.scroll.saturating_sub(1)
            };
        }
    }

    /// Gives the suggestions pane the keyboard, or gives it back.
    /// Every variant at once, or one at a time.
    pub fn toggle_list(&mut self) {
        if let Some(s) = &mut self.suggestion {
            s.list = !s.list;
        }
    }

    pub fn toggle_focus(&mut self) {
        self.focused = !self.focused && self.suggestion.is_some();
    }

    /// Esc: during `write article`, stop after the section being written; else stop the
    /// stream; else dismiss the suggestion. False if there is none of these.
    pub fn cancel(&mut self, effects: &mut Vec<Effect>, cx: &mut Cx) -> bool {
        if self.stop_article(cx) {
            return true;
        }
        // A second Esc: the run ends now, keeping what it wrote.
        if let Some(run) = self.article.take() {
            if let Some(job) = run.summary_job() {
                effects.push(Effect::CancelJob { job });
            }
            cx.status
                .info("write article stopped; run it again for the empty sections");
        }
        if self.is_streaming() {
            effects.extend(self.cancel_generation());
        } else if self.suggestion.is_some() {
            effects.extend(self.reject());
        } else {
            return false;
        }
        true
    }

    /// Inserts or replaces with the variant on show, as one undo step.
    pub fn accept(&mut self, editor: &mut Editor, cx: &mut Cx) -> Vec<Effect> {
        let Some(s) = &self.suggestion else {
            return Vec::new();
        };
        let Some(text) = s.accepted_text() else {
            cx.status.info("nothing to accept yet");
            return Vec::new();
        };
        let doc = editor.doc_mut();
        let len = doc.len_chars();
        match s.target.clone() {
            Target::Insert { at, context, .. } => {
                let start = at.saturating_sub(context.chars().count());
                if at > len || doc.rope().slice(start..at) != context.as_str() {
                    cx.status
                        .error("the text changed where this was asked for; ask again");
                    return Vec::new();
                }
                if s.continues_last {
                    doc.replace_continued(at, at, &text);
                } else {
                    doc.replace(at, at, &text);
                }
            }
            Target::Replace {
                start,
                end,
                original,
            } => {
                if end > len || doc.rope().slice(start..end) != original.as_str() {
                    cx.status
                        .error("the text changed since it was sent; select it and ask again");
                    return Vec::new();
                }
                doc.replace(start, end, &text);
            }
        }
        let mut effects = self.reject();
        let undo = cx
            .keys
            .hint(Mode::Edit, Command::undo)
            .map_or_else(String::new, |k| format!(" ({k} undoes it)"));
        cx.status.info(format!("accepted{undo}"));
        editor.after_edit();
        effects.extend(editor.journal_effect());
        effects
    }

    /// Inserts part of the variant on show (a word, a sentence, a line) as one undo step; the
    /// rest stays on offer after it. A stream still running is stopped first, keeping its text.
    pub fn accept_part(
        &mut self,
        portion: Portion,
        editor: &mut Editor,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.is_streaming() {
            effects.extend(self.cancel_generation());
        }
        let Some(s) = &mut self.suggestion else {
            return effects;
        };
        if matches!(s.target, Target::Replace { .. }) {
            let key = cx
                .keys
                .hint(Mode::Edit, Command::accept_suggestion)
                .unwrap_or_else(|| "accept".into());
            cx.status.info(format!("a rewrite is taken whole ({key})"));
            return effects;
        }
        if let Target::Insert { at, context, .. } = &s.target {
            let doc = editor.doc();
            let start = at.saturating_sub(context.chars().count());
            if *at > doc.len_chars() || doc.rope().slice(start..*at) != context.as_str() {
                cx.status
                    .error("the text changed where this was asked for; ask again");
                return effects;
            }
        }
        let Some((at, text)) = s.take(portion) else {
            cx.status.info("nothing to accept yet");
            return effects;
        };
        let doc = editor.doc_mut();
        doc.replace(at, at, &text);
        editor.after_edit();
        effects.extend(editor.journal_effect());
        if s.accepted_text().is_none() {
            effects.extend(self.reject());
        }
        effects
    }

    // --- Ghost text --------------------------------------------------------------------------

    fn ghost_delay(&self) -> Option<Duration> {
        self.setup.as_ref().and_then(|s| s.ghost_delay)
    }

    /// When the event loop must wake up for the ghost.
    pub fn ghost_due(&self) -> Option<Instant> {
        self.ghost.due()
    }

    /// A key while a ghost shows, before it acts as usual: see `Ghost::on_key`.
    pub fn ghost_key(
        &mut self,
        command: Option<Command>,
        typed: Option<char>,
        editor: &mut Editor,
    ) -> Option<Vec<Effect>> {
        let delay = self.ghost_delay();
        self.ghost.on_key(command, typed, editor, delay)
    }

    pub fn clear_ghost(&mut self) -> Vec<Effect> {
        self.ghost.clear()
    }

    /// Typing changed the draft: the ghost goes, and is asked for after the pause.
    pub fn schedule_ghost(&mut self, editor: &Editor) -> Vec<Effect> {
        let delay = self.ghost_delay();
        self.ghost.schedule(delay, editor.doc().revision())
    }

    /// The pause is over: ask for a ghost if nothing has changed and the moment is right.
    pub fn request_ghost_if_due(&mut self, now: Instant, editor: &mut Editor) -> Vec<Effect> {
        let free = self.state == ModelState::Ready && !self.is_streaming();
        let context_chars = self.context_chars();
        let mut next_job = self.next_job;
        let request = self.ghost.request_if_due(
            now,
            editor.doc(),
            GhostAsk {
                free,
                prompt: self.library.prompts.get("continue").ok(),
                context_chars,
                budget_ms: self.setup.as_ref().map_or(0, |s| s.ghost_budget_ms),
            },
            || {
                next_job += 1;
                next_job
            },
        );
        self.next_job = next_job;
        let Some(request) = request else {
            return Vec::new();
        };
        let mut effects: Vec<Effect> = editor.journal_effect().into_iter().collect();
        effects.push(request);
        effects
    }
}

/// What a prompt reads of the draft and where its answer goes: a rewrite takes the selection
/// or the paragraph under the cursor and replaces it; a summary takes the selection or the
/// whole draft and goes after it; the rest go in at the cursor. None (and the writer told)
/// when there is nothing to work on.
/// How much of the draft a request reads: the characters around the cursor, and where the
/// text starts after its front matter (read once per request, with the brief).
struct DraftReading {
    context_chars: usize,
    body_start: usize,
}

fn read_draft(
    template: &crate::prompt::PromptTemplate,
    editor: &Editor,
    DraftReading {
        context_chars,
        body_start: body,
    }: DraftReading,
    cx: &mut Cx,
) -> Option<(Target, PromptInput)> {
    let doc = editor.doc();
    let rope = doc.rope();
    let selection = doc.selection();
    let cursor = doc.cursor();
    // The front matter is the draft's metadata: its brief goes with the prompt (see
    // `guidance_for`), its text never does.
    let body_start = body.min(cursor);
    let (start, end) = match template.action {
        Action::Rewrite if selection.is_empty() => match template.unselected {
            Unselected::Paragraph => around::paragraph_at(rope, cursor),
            Unselected::Draft => (body, rope.len_chars()),
        },
        _ => (selection.start(), selection.end()),
    };
    let region = rope.slice(start..end).to_string();
    let document = rope.slice(body_start..).to_string();
    let replaces = template.action == Action::Rewrite
        || (template.action == Action::Generate && template.output == Output::Replace);
    let (target, selected) = if replaces {
        if region.trim().is_empty() {
            cx.status.info(if template.action == Action::Rewrite {
                "nothing to rewrite here: select some text".to_string()
            } else {
                format!("{} replaces the selection: select some text", template.name)
            });
            return None;
        }
        let target = Target::Replace {
            start,
            end,
            original: region.clone(),
        };
        (target, region)
    } else if template.action == Action::Summarise {
        // The selection, or else the whole draft; the summary goes after it.
        let text = if selection.is_empty() {
            document.clone()
        } else {
            region
        };
        if text.trim().is_empty() {
            cx.status.info("nothing to summarise yet");
            return None;
        }
        (insert_target(rope, selection.end().max(cursor)), text)
    } else {
        (insert_target(rope, cursor), region)
    };
    let input = PromptInput {
        selection: selected,
        before: around::text_before(rope, cursor, context_chars.min(cursor - body_start)),
        after: around::text_after(rope, cursor, context_chars),
        document,
        title: editor.title(),
        brief: String::new(),
    };
    Some((target, input))
}

/// Where an insertion goes, with the few characters before it that must still be there.
fn insert_target(rope: &ropey::Rope, at: usize) -> Target {
    let start = at.saturating_sub(32);
    let end = (at + 32).min(rope.len_chars());
    Target::Insert {
        at,
        context: rope.slice(start..at).to_string(),
        after: rope.slice(at..end).to_string(),
    }
}
/// How much of a long text its summary read, for the status bar.
fn parts_read(parts: &crate::suggestion::Parts) -> String {
    if parts.dropped_tokens == 0 {
        format!(
            "summarised in {} parts: all of the text was read",
            parts.total
        )
    } else {
        format!(
            "summarised in {} parts: {} tokens did not fit and were not read",
            parts.total, parts.dropped_tokens
        )
    }
}

#[cfg(test)]
impl Assistant {
    pub(crate) fn set_state(&mut self, state: ModelState) {
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::app::test_support::{job_of, ready_app, stats, variants_of};
    use crate::app::{App, Effect};
    use crate::engine::protocol::{Event, LoadParams};

    #[test]
    fn a_rewrite_streams_then_replaces_the_paragraph_as_one_undo_step() {
        let mut app = ready_app("Intro.\n\nThis are bad grammar.\n\nEnd.");
        app.doc_mut().move_to(10, false);
        let effects = app.ask("rewrite-grammar");
        let job = job_of(&effects);
        assert!(
            variants_of(&effects) > 1,
            "the variants are asked for at once"
        );
        app.on_engine(
            1,
            // The answer begun with the passage's first word ("This"): the model goes on.
            Event::TokenGenerated {
                job,
                text: " is ".into(),
            },
        );
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: "good grammar.\u{1b}[31m".into(),
            },
        );
        let effects = app.on_engine(
            1,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        // The second streams already: nothing more is asked for.
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Generate { .. })),
            "{effects:?}"
        );
        app.accept_suggestion();
        assert_eq!(
            app.doc_mut().text(),
            "Intro.\n\nThis is good grammar.\n\nEnd."
        );
        assert!(app.suggestion().is_none());
        app.doc_mut().undo();
        assert_eq!(
            app.doc_mut().text(),
            "Intro.\n\nThis are bad grammar.\n\nEnd."
        );
    }

    #[test]
    fn an_insert_is_refused_when_the_text_before_it_changed() {
        let mut app = ready_app("Once upon a time");
        let end = app.doc_mut().len_chars();
        app.doc_mut().move_to(end, false);
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: " there was".into(),
            },
        );
        app.on_engine(
            1,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        // The writer rewrites the end meanwhile.
        app.doc_mut().replace(10, 16, "night");
        app.accept_suggestion();
        assert_eq!(app.doc_mut().text(), "Once upon night");
        assert!(app.status().is_some_and(|s| s.is_error));
    }

    #[test]
    fn events_of_a_replaced_worker_or_an_old_job_are_ignored() {
        let mut app = ready_app("text");
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            0,
            Event::TokenGenerated {
                job,
                text: "old worker".into(),
            },
        );
        app.on_engine(
            1,
            Event::TokenGenerated {
                job: job + 100,
                text: "old job".into(),
            },
        );
        let s = app.suggestion().unwrap();
        assert_eq!(s.variants[0].text, "");
    }

    /// Crashes the worker of `generation` with `signal`; returns the effects.
    fn crash(app: &mut App, generation: u64, signal: i32) -> Vec<Effect> {
        app.on_engine(
            generation,
            Event::WorkerExited {
                exit: WorkerExit::killed_by(signal),
            },
        )
    }

    fn load(app: &mut App, generation: u64) {
        app.on_engine(
            generation,
            Event::ModelLoaded(crate::app::test_support::model_info()),
        );
    }

    #[test]
    fn a_crash_fails_the_stream_and_restarts_once() {
        let mut app = ready_app("text");
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: " partial".into(),
            },
        );
        let effects = crash(&mut app, 1, libc::SIGKILL);
        assert!(matches!(
            effects.as_slice(),
            [Effect::RestartEngineAfter { generation: 1, delay }] if *delay == RESTART_PAUSE
        ));
        assert!(matches!(
            *app.assistant().state(),
            ModelState::Crashed { .. }
        ));
        assert_eq!(app.doc_mut().text(), "text", "the draft is untouched");
        let effects = app.on_restart_due(1);
        assert!(matches!(
            effects.as_slice(),
            [Effect::StartEngine { generation: 2, .. }]
        ));
        // The restarted worker finishes a job: the next crash is a new one, restarted too.
        load(&mut app, 2);
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            2,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        let effects = crash(&mut app, 2, libc::SIGSEGV);
        assert!(matches!(
            effects.as_slice(),
            [Effect::RestartEngineAfter { generation: 2, .. }]
        ));
    }

    #[test]
    fn an_illegal_instruction_is_retried_once_then_stops_with_the_rebuild_command() {
        let mut app = ready_app("text");
        let job = job_of(&app.ask("continue"));
        let effects = crash(&mut app, 1, libc::SIGILL);
        assert!(matches!(
            effects.as_slice(),
            [Effect::RestartEngineAfter { .. }]
        ));
        let failed = match &app.suggestion().unwrap().variants[0].state {
            VariantState::Failed(reason) => reason.clone(),
            other => panic!("the variant is {other:?}"),
        };
        assert!(failed.contains("SIGILL"), "{failed}");
        assert!(
            failed.contains("RUSTFLAGS=\"\" cargo build --release"),
            "{failed}"
        );
        let _ = job;

        // The restart loads, asks again, and dies the same way: no third start.
        app.on_restart_due(1);
        load(&mut app, 2);
        let effects = crash(&mut app, 2, libc::SIGILL);
        let [Effect::StopEngine { note }] = effects.as_slice() else {
            panic!("expected the engine to stop, got {effects:?}");
        };
        assert!(
            note.contains("RUSTFLAGS=\"\" cargo build --release"),
            "{note}"
        );
        assert!(matches!(
            *app.assistant().state(),
            ModelState::Stopped { .. }
        ));
        let status = app.status().unwrap();
        assert!(
            status.is_error && status.text.contains("SIGILL"),
            "{}",
            status.text
        );
        assert!(app.on_restart_due(2).is_empty(), "no restart is pending");
        assert_eq!(app.doc_mut().text(), "text", "the draft is untouched");

        // Actions say the model is stopped rather than waiting on it.
        assert!(app.ask("continue").is_empty());
        // The writer can ask for a start once the cause is fixed.
        let effects = app.run(crate::command::Command::restart_model);
        assert!(matches!(
            effects.as_slice(),
            [Effect::StartEngine { generation: 3, .. }]
        ));
    }

    #[test]
    fn restarting_the_model_mid_stream_leaves_nothing_waiting_on_the_old_worker() {
        let mut app = ready_app("text");
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: " partial".into(),
            },
        );
        let effects = app.run(crate::command::Command::restart_model);
        assert!(matches!(
            effects.as_slice(),
            [Effect::StartEngine { generation: 2, .. }]
        ));
        let s = app.suggestion().unwrap();
        assert!(!s.is_streaming(), "the old job's end will never come");
        assert!(matches!(s.variants[0].state, VariantState::Failed(_)));
    }

    #[test]
    fn any_crash_right_after_a_restart_stops_the_engine() {
        let mut app = ready_app("text");
        crash(&mut app, 1, libc::SIGABRT);
        app.on_restart_due(1);
        // Dies while loading, before finishing anything.
        let effects = crash(&mut app, 2, libc::SIGABRT);
        let [Effect::StopEngine { note }] = effects.as_slice() else {
            panic!("expected the engine to stop, got {effects:?}");
        };
        assert!(note.contains("restart model"), "{note}");
    }

    #[test]
    fn the_accepted_message_goes_with_the_next_edit_and_undo_restores_the_text() {
        let mut app = ready_app("Draft.");
        app.move_cursor(6);
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: "It grows.".into(),
            },
        );
        app.on_engine(
            1,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        app.update(crate::app::Msg::Key(crate::keymap::Key {
            code: crate::keymap::KeyCode::Enter,
            mods: crate::keymap::Mods {
                alt: true,
                ..Default::default()
            },
        }));
        assert_eq!(app.doc_mut().text(), "Draft. It grows.");
        assert!(
            app.status()
                .is_some_and(|s| s.text.starts_with("accepted (C-z undoes it)")),
            "{:?}",
            app.status()
        );
        app.update(crate::app::Msg::Key(crate::keymap::Key::ctrl('z')));
        assert_eq!(app.doc_mut().text(), "Draft.");
        assert_eq!(app.status(), None, "a stale \"accepted\" is gone");
        assert!(
            !app.doc_mut().is_modified(),
            "back to the text it opened with"
        );
    }

    #[test]
    fn a_continuation_keeps_the_space_that_starts_its_first_word() {
        // "It was" + " a dark night." must not become "It wasa dark night.".
        let mut app = ready_app("It was");
        app.move_cursor(6);
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: " a dark night.".into(),
            },
        );
        app.on_engine(
            1,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        app.accept_suggestion();
        assert_eq!(app.doc_mut().text(), "It was a dark night.");
    }

    #[test]
    fn asking_again_with_nothing_to_redo_says_so() {
        let mut app = ready_app("text");
        let effects = app.run(crate::command::Command::regenerate);
        assert!(effects.is_empty());
        assert!(
            app.status()
                .is_some_and(|s| s.text.contains("nothing to ask again")),
            "{:?}",
            app.status()
        );
    }

    #[test]
    fn each_ask_with_seed_minus_one_gets_its_own_seed() {
        // Recorded: Ctrl-E twice gave the same continuation although the seed was -1.
        let mut app = ready_app("Once");
        app.move_cursor(4);
        let mut setup = app.assistant().setup().unwrap().clone();
        setup.sampling.seed = Some(-1);
        app.assistant_mut().set_setup(setup);
        let seed = |effects: &[Effect]| {
            effects
                .iter()
                .find_map(|e| match e {
                    Effect::Generate { sampling, .. } => Some(sampling.seed),
                    _ => None,
                })
                .expect("a request")
        };
        let first = seed(&app.ask("continue"));
        app.run(crate::command::Command::cancel);
        app.run(crate::command::Command::cancel);
        let second = seed(&app.ask("continue"));
        assert_ne!(first, second);
    }

    #[test]
    fn cancel_keeps_the_partial_text_and_stops_further_variants() {
        let mut app = ready_app("text");
        let asked = app.ask("continue");
        let job = job_of(&asked);
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: " and more".into(),
            },
        );
        let effects = app.cancel_generation();
        let all: Vec<Effect> = (0..variants_of(&asked))
            .map(|k| Effect::CancelJob {
                job: job + u64::from(k),
            })
            .collect();
        assert_eq!(effects, all, "every variant side by side is stopped");
        let s = app.suggestion().unwrap();
        assert!(!s.wants_more());
        app.accept_suggestion();
        // Put in before "text": spaced from it.
        assert_eq!(app.doc_mut().text(), "and more text");
    }

    #[test]
    fn a_model_that_failed_to_load_leaves_a_plain_editor_with_the_reason() {
        let mut app = App::with_text(None, "text", 80, 20);
        let effects = app.start_assistant(AssistantSetup {
            load: LoadParams {
                model: "/nowhere/model.gguf".into(),
                n_ctx: 2048,
                n_threads: 0,
                n_gpu_layers: 0,
                flash_attention: Default::default(),
                prompt_lookup: true,
                remote: None,
            },
            sampling: Sampling {
                variants: Some(1),
                ..Sampling::default()
            },
            ghost_delay: None,
            language: "auto".into(),
            ghost_budget_ms: 1000,
            style: String::new(),
            article: Default::default(),
        });
        let [Effect::StartEngine { generation, .. }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        // What the runtime answers for a missing file (see runtime's tests).
        app.on_engine(
            *generation,
            Event::ModelLoadFailed {
                reason: "no model file at /nowhere/model.gguf; run `make model`".into(),
            },
        );
        assert!(
            matches!(app.assistant().state(), ModelState::Failed(r) if r.contains("make model"))
        );
        assert!(app.ask("continue").is_empty());
        assert!(
            app.status()
                .is_some_and(|s| s.is_error && s.text.contains("make model"))
        );
        // The draft is still a plain editor.
        app.update(crate::app::Msg::Key(crate::keymap::Key::plain(
            crate::keymap::KeyCode::Char('!'),
        )));
        assert_eq!(app.doc_mut().text(), "!text");
    }
}
