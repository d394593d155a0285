//! The assistant inside the editor: starting and supervising the engine (restart with back-off
//! after a crash), turning actions into prompts from the draft, streaming the answer into a
//! `Suggestion`, and accepting it as one undo step.

use std::time::Duration;

use std::collections::BTreeMap;

use super::{App, Effect};
use crate::document::around;
use crate::engine::exit::WorkerExit;
use crate::engine::model_file;
use crate::engine::protocol::{Event, GenerationStats, JobId, LoadParams, ModelInfo};
use crate::plan::{Layers, plan};
use crate::prompt::{Action, Output, PromptInput, PromptLibrary};
use crate::sampling::Sampling;
use crate::suggestion::{Finished, Suggestion, Target, VariantState};

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
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// No engine: no model configured yet, or not started.
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

pub struct Assistant {
    pub setup: Option<AssistantSetup>,
    pub prompts: PromptLibrary,
    pub state: ModelState,
    pub info: Option<ModelInfo>,
    /// Which worker's events count: bumped at every start, so a dead one's are ignored.
    pub generation: u64,
    /// Crashes since a worker last finished a job.
    crashes: u32,
    next_job: JobId,
    pub suggestion: Option<Suggestion>,
    pub last_stats: Option<GenerationStats>,
    /// The suggestions pane has the keyboard.
    pub focused: bool,
    /// The values last filled in each template's form, by template id.
    pub template_values: BTreeMap<String, BTreeMap<String, String>>,
}

impl Assistant {
    pub fn new() -> Self {
        Assistant {
            setup: None,
            prompts: PromptLibrary::built_in().unwrap_or_else(|_| PromptLibrary::empty()),
            state: ModelState::Off,
            info: None,
            generation: 0,
            crashes: 0,
            next_job: 1,
            suggestion: None,
            last_stats: None,
            focused: false,
            template_values: BTreeMap::new(),
        }
    }
}

impl AssistantSetup {
    pub fn from_config(config: &crate::config::Config, model: std::path::PathBuf) -> Self {
        AssistantSetup {
            load: config.load_params(model),
            sampling: config.sampling.clone(),
            ghost_delay: config
                .editor
                .ghost_text
                .then(|| Duration::from_millis(config.editor.ghost_delay_ms)),
        }
    }
}

impl Assistant {
    pub fn take_job_id(&mut self) -> JobId {
        let job = self.next_job;
        self.next_job += 1;
        job
    }
}

impl Default for Assistant {
    fn default() -> Self {
        Assistant::new()
    }
}

impl App {
    /// Starts the engine for `setup`; a model file that is missing or not GGUF leaves Quill a
    /// plain editor with the reason in the status bar.
    pub fn start_assistant(&mut self, setup: AssistantSetup) -> Vec<Effect> {
        self.assistant.setup = Some(setup);
        self.start_engine()
    }

    fn start_engine(&mut self) -> Vec<Effect> {
        let Some(setup) = &self.assistant.setup else {
            return Vec::new();
        };
        if let Err(e) = model_file::check(&setup.load.model) {
            let reason = format!("{e}; run `make model` or set model in config.toml");
            self.assistant.state = ModelState::Failed(reason);
            return Vec::new();
        }
        self.assistant.generation += 1;
        self.assistant.state = ModelState::Loading(0.0);
        vec![Effect::StartEngine {
            generation: self.assistant.generation,
            params: setup.load.clone(),
        }]
    }

    pub(super) fn on_engine(&mut self, generation: u64, event: Event) -> Vec<Effect> {
        if generation != self.assistant.generation {
            return Vec::new(); // a worker that has since been replaced
        }
        match event {
            Event::ModelLoading { progress } => {
                self.assistant.state = ModelState::Loading(progress.clamp(0.0, 1.0));
                Vec::new()
            }
            Event::ModelLoaded(info) => {
                self.assistant.info = Some(info);
                self.assistant.state = ModelState::Ready;
                // A suggestion that was waiting on a restart asks again.
                self.continue_variants()
            }
            Event::ModelLoadFailed { reason } => {
                self.assistant.state = ModelState::Failed(reason);
                self.fail_streaming("the model failed to load".into());
                Vec::new()
            }
            Event::TokenGenerated { job, text } => {
                if let Some(effects) = self.on_ghost_text(job, &text) {
                    return effects;
                }
                if let Some(s) = &mut self.assistant.suggestion
                    && s.push_text(job, &text)
                    && s.should_stop()
                {
                    // Past the limit by more than a word: the rest would be cut anyway.
                    return vec![Effect::CancelJob { job }];
                }
                Vec::new()
            }
            Event::GenerationFinished { job, stats } => {
                // A worker that finishes a job has got past whatever killed the last one.
                self.assistant.crashes = 0;
                // Every job of this worker counts for the speed and context shown, a ghost
                // stopped at its sentence end included.
                self.assistant.last_stats = Some(stats.clone());
                if self.on_ghost_finished(job) {
                    return Vec::new();
                }
                let Some(s) = &mut self.assistant.suggestion else {
                    return Vec::new();
                };
                match s.finish(job, VariantState::Done(stats.clone())) {
                    Finished::Stale => Vec::new(),
                    Finished::Kept if s.auto_accept => self.accept_suggestion(),
                    _ => {
                        let effects = self.continue_variants();
                        self.report_dropped();
                        effects
                    }
                }
            }
            Event::GenerationFailed { job, reason } => {
                if self.ghost.job() == Some(job) {
                    self.ghost = super::ghost::Ghost::Off;
                    return Vec::new();
                }
                if let Some(s) = &mut self.assistant.suggestion {
                    s.finish(job, VariantState::Failed(reason.clone()));
                }
                self.error(format!("generation failed: {reason}"));
                Vec::new()
            }
            Event::Warned { message } => {
                self.info(message);
                Vec::new()
            }
            Event::WorkerExited { exit } => self.on_worker_exited(exit),
            // The editor never asks for it.
            Event::SystemDescribed { .. } => Vec::new(),
        }
    }

    /// One restart after a crash; a second crash before the restarted worker finishes a job
    /// stops the engine, since restarting again would meet the same crash (an instruction this
    /// CPU refuses, a model that aborts llama.cpp, a prompt that does).
    fn on_worker_exited(&mut self, exit: WorkerExit) -> Vec<Effect> {
        self.assistant.crashes += 1;
        let advice = exit.advice().map(|a| format!("; {a}")).unwrap_or_default();
        if self.assistant.crashes < 2 {
            self.fail_streaming(format!("the model crashed ({exit}){advice}"));
            self.assistant.state = ModelState::Crashed {
                exit,
                retry_in: RESTART_PAUSE,
            };
            return vec![Effect::RestartEngineAfter {
                generation: self.assistant.generation,
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
        self.error(what.clone());
        self.assistant.state = ModelState::Stopped { exit };
        vec![Effect::StopEngine { note: what }]
    }

    /// Starts the model again, whatever state it is in: after it stopped, or a model file that
    /// has since been fixed.
    pub(super) fn restart_model(&mut self) -> Vec<Effect> {
        self.assistant.crashes = 0;
        // The old worker's events will be dropped as stale: nothing may wait on them.
        self.fail_streaming("the model was restarted".into());
        self.ghost = super::ghost::Ghost::Off;
        let effects = self.start_engine();
        if effects.is_empty()
            && let ModelState::Failed(reason) = &self.assistant.state
        {
            let reason = reason.clone();
            self.error(format!("no model: {reason}"));
        } else {
            self.info("starting the model again");
        }
        effects
    }

    pub(super) fn on_restart_due(&mut self, generation: u64) -> Vec<Effect> {
        if generation != self.assistant.generation
            || !matches!(self.assistant.state, ModelState::Crashed { .. })
        {
            return Vec::new();
        }
        self.start_engine()
    }

    fn fail_streaming(&mut self, reason: String) {
        if let Some(s) = &mut self.assistant.suggestion
            && let Some((job, _)) = s.job
        {
            s.finish(job, VariantState::Failed(reason));
        }
    }

    /// Once a suggestion is complete, says how many variants were dropped and why.
    fn report_dropped(&mut self) {
        let Some(s) = &self.assistant.suggestion else {
            return;
        };
        if s.is_streaming() || s.dropped == 0 {
            return;
        }
        let again = self
            .keymap
            .hint(crate::command::Command::regenerate)
            .map_or_else(
                || "ask again".to_string(),
                |k| format!("press {k} to try again"),
            );
        let text = if s.variants.is_empty() {
            format!(
                "no usable variant: {} were empty, over {} characters or duplicates; {again}",
                s.dropped,
                s.max_chars
                    .map_or_else(|| "the limit".into(), |m| m.to_string())
            )
        } else {
            format!(
                "{} of {} variants kept; {} dropped (empty, over the limit or duplicates)",
                s.variants.len(),
                s.wanted,
                s.dropped
            )
        };
        self.info(text);
    }

    /// Asks for the next variant if the suggestion wants more and the engine is ready.
    fn continue_variants(&mut self) -> Vec<Effect> {
        if self.assistant.state != ModelState::Ready {
            return Vec::new();
        }
        if !self
            .assistant
            .suggestion
            .as_ref()
            .is_some_and(|s| s.wants_more())
        {
            return Vec::new();
        }
        let job = self.assistant.take_job_id();
        let Some(s) = &mut self.assistant.suggestion else {
            return Vec::new();
        };
        let sampling = s.start_variant(job);
        vec![Effect::Generate {
            job,
            prompt: s.prompt.clone(),
            sampling,
        }]
    }

    /// Runs a prompt from the library on the draft: its action decides what text it reads and
    /// where the answer goes.
    pub(super) fn ask(&mut self, prompt_id: &str) -> Vec<Effect> {
        self.ask_with(prompt_id, &BTreeMap::new())
    }

    /// Runs a prompt with its fields filled from `values` (and their defaults).
    pub(super) fn ask_with(
        &mut self,
        prompt_id: &str,
        values: &BTreeMap<String, String>,
    ) -> Vec<Effect> {
        match &self.assistant.state {
            ModelState::Ready => {}
            ModelState::Failed(reason) => {
                let reason = reason.clone();
                self.error(format!("no model: {reason}"));
                return Vec::new();
            }
            ModelState::Stopped { exit } => {
                let advice = exit.advice().map(|a| format!("; {a}")).unwrap_or_default();
                self.error(format!(
                    "the model stopped after crashing twice ({exit}){advice}; `restart model` \
                     (Ctrl-P) starts it again"
                ));
                return Vec::new();
            }
            _ => {
                self.info("the model is not ready yet");
                return Vec::new();
            }
        }
        let Some(setup) = &self.assistant.setup else {
            return Vec::new();
        };
        let settings = setup.sampling.clone();
        let Ok(template) = self.assistant.prompts.get(prompt_id) else {
            self.error(format!("no prompt named {prompt_id}"));
            return Vec::new();
        };
        let template = template.clone();

        let rope = self.doc.rope();
        let selection = self.doc.selection();
        let cursor = self.doc.cursor();
        let (start, end) = match template.action {
            Action::Rewrite if selection.is_empty() => {
                crate::document::around::paragraph_at(rope, cursor)
            }
            _ => (selection.start(), selection.end()),
        };
        let region = rope.slice(start..end).to_string();
        let document = rope.to_string();
        let replaces = template.action == Action::Rewrite
            || (template.action == Action::Generate && template.output == Output::Replace);
        let (target, selected) = match template.action {
            _ if replaces => {
                if region.trim().is_empty() {
                    self.info(if template.action == Action::Rewrite {
                        "nothing to rewrite here: select some text".to_string()
                    } else {
                        format!("{} replaces the selection: select some text", template.name)
                    });
                    return Vec::new();
                }
                (
                    Target::Replace {
                        start,
                        end,
                        original: region.clone(),
                    },
                    region,
                )
            }
            Action::Summarise => {
                // The selection, or else the whole draft; the summary goes after it.
                let text = if selection.is_empty() {
                    document.clone()
                } else {
                    region
                };
                if text.trim().is_empty() {
                    self.info("nothing to summarise yet");
                    return Vec::new();
                }
                (insert_target(rope, selection.end().max(cursor)), text)
            }
            // (A rewrite always replaces: it was taken above.)
            Action::Rewrite | Action::Continue | Action::Generate => {
                (insert_target(rope, cursor), region)
            }
        };
        let input = PromptInput {
            selection: selected,
            before: around::text_before(rope, cursor, self.context_chars()),
            after: around::text_after(rope, cursor, self.context_chars()),
            document,
            title: self.title(),
        };
        let layers = Layers {
            settings: &settings,
            overrides: &Sampling::default(),
            default_variants: settings.variants.unwrap_or(1) as usize,
        };
        let plan = match plan(&template, &input, values, layers) {
            Ok(plan) => plan,
            Err(e) => {
                self.error(format!("{e:#}"));
                return Vec::new();
            }
        };
        let mut effects = self.cancel_generation();
        effects.extend(self.clear_ghost());
        // The journal first: a model request is when a crash is most likely.
        effects.extend(self.journal_effect());
        self.assistant.suggestion = Some(Suggestion::from_plan(plan, target));
        self.relayout();
        effects.extend(self.continue_variants());
        effects
    }

    /// Stops the streaming job, if any, keeping what it produced.
    pub(super) fn cancel_generation(&mut self) -> Vec<Effect> {
        let Some(s) = &mut self.assistant.suggestion else {
            return Vec::new();
        };
        let Some((job, _)) = s.job else {
            return Vec::new();
        };
        // Stop asking for more variants too.
        s.wanted = s.variants.len();
        s.finish(job, VariantState::Failed("cancelled".into()));
        vec![Effect::CancelJob { job }]
    }

    pub(super) fn reject_suggestion(&mut self) -> Vec<Effect> {
        let effects = self.cancel_generation();
        self.assistant.suggestion = None;
        self.assistant.focused = false;
        self.relayout();
        effects
    }

    pub(super) fn regenerate(&mut self) -> Vec<Effect> {
        let mut effects = self.cancel_generation();
        if let Some(s) = &mut self.assistant.suggestion {
            // Another variant after those kept, with a fresh seed.
            s.want_more(1);
            s.sampling.seed = s.sampling.seed.wrapping_add(1000);
            s.current = s.variants.len();
        }
        effects.extend(self.continue_variants());
        effects
    }

    /// Inserts or replaces with the variant on show, as one undo step.
    pub(super) fn accept_suggestion(&mut self) -> Vec<Effect> {
        let Some(s) = &self.assistant.suggestion else {
            return Vec::new();
        };
        let Some(text) = s.accepted_text() else {
            self.info("nothing to accept yet");
            return Vec::new();
        };
        let len = self.doc.len_chars();
        match s.target.clone() {
            Target::Insert { at, context } => {
                let start = at.saturating_sub(context.chars().count());
                let still_there = at <= len && self.doc.rope().slice(start..at) == context.as_str();
                if !still_there {
                    self.error("the text changed where this was asked for; ask again");
                    return Vec::new();
                }
                self.doc.replace(at, at, &text);
            }
            Target::Replace {
                start,
                end,
                original,
            } => {
                let still_there =
                    end <= len && self.doc.rope().slice(start..end) == original.as_str();
                if !still_there {
                    self.error("the text changed since it was sent; select it and ask again");
                    return Vec::new();
                }
                self.doc.replace(start, end, &text);
            }
        }
        let mut effects = self.reject_suggestion();
        self.info("accepted (Ctrl-Z undoes it)");
        self.after_edit();
        effects.extend(self.journal_effect());
        effects
    }
}

impl App {
    /// More characters than the context can hold in tokens, with room to spare: what is sent
    /// around the cursor, so a long draft is not copied whole into every request.
    pub(super) fn context_chars(&self) -> usize {
        let n_ctx = self.assistant.setup.as_ref().map_or(4096, |s| s.load.n_ctx) as usize;
        n_ctx.saturating_mul(16)
    }
}

/// Where an insertion goes, with the few characters before it that must still be there.
fn insert_target(rope: &ropey::Rope, at: usize) -> Target {
    let start = at.saturating_sub(32);
    Target::Insert {
        at,
        context: rope.slice(start..at).to_string(),
    }
}

/// An app whose engine has "loaded" a model, for tests that feed it engine events.
#[cfg(test)]
pub(crate) fn ready_app(text: &str) -> App {
    let mut app = App::with_text(None, text, 100, 30);
    // One file per call: tests run in parallel and must not see each other's half-written file.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("quill-assist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join(format!("fake-{n}.gguf"));
    std::fs::write(&model, b"GGUF\x03\0\0\0").unwrap();
    let effects = app.start_assistant(AssistantSetup {
        load: LoadParams {
            model,
            n_ctx: 2048,
            n_threads: 0,
            n_gpu_layers: 0,
        },
        sampling: Sampling {
            variants: Some(2),
            ..Sampling::default()
        },
        ghost_delay: Some(Duration::from_millis(400)),
    });
    assert!(matches!(
        effects.as_slice(),
        [Effect::StartEngine { generation: 1, .. }]
    ));
    app.on_engine(
        1,
        Event::ModelLoaded(ModelInfo {
            name: "test".into(),
            n_ctx: 2048,
            n_ctx_train: 8192,
            n_params: 1,
            size_bytes: 1,
            has_chat_template: true,
            load_ms: 1,
            architecture: "llama".into(),
            quantisation: "Q4_1".into(),
        }),
    );
    app
}

/// What tests that drive the assistant by hand need: finished-job stats and the job a
/// `Generate` asked for.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::engine::protocol::StopReason;

    pub(crate) fn stats() -> GenerationStats {
        GenerationStats {
            threads: 1,
            prompt_tokens: 10,
            reused_tokens: 0,
            dropped_tokens: 0,
            generated_tokens: 3,
            ttft_ms: 5.0,
            prompt_tokens_per_s: 100.0,
            tokens_per_s: 50.0,
            stop_reason: StopReason::EndOfText,
        }
    }

    pub(crate) fn job_of(effects: &[Effect]) -> JobId {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Generate { job, .. } => Some(*job),
                _ => None,
            })
            .expect("a generate effect")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_support::{job_of, stats};

    #[test]
    fn a_rewrite_streams_then_replaces_the_paragraph_as_one_undo_step() {
        let mut app = ready_app("Intro.\n\nThis are bad grammar.\n\nEnd.");
        app.doc.move_to(10, false);
        let effects = app.ask("rewrite-grammar");
        let job = job_of(&effects);
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: "This is ".into(),
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
        // The second variant is asked for at once.
        let second = job_of(&effects);
        assert_ne!(second, job);
        app.accept_suggestion();
        assert_eq!(
            app.doc.text(),
            "Intro.\n\nThis is good grammar.[31m\n\nEnd."
        );
        assert!(app.assistant.suggestion.is_none());
        app.doc.undo();
        assert_eq!(app.doc.text(), "Intro.\n\nThis are bad grammar.\n\nEnd.");
    }

    #[test]
    fn an_insert_is_refused_when_the_text_before_it_changed() {
        let mut app = ready_app("Once upon a time");
        let end = app.doc.len_chars();
        app.doc.move_to(end, false);
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
        app.doc.replace(10, 16, "night");
        app.accept_suggestion();
        assert_eq!(app.doc.text(), "Once upon night");
        assert!(app.status.as_ref().is_some_and(|s| s.is_error));
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
        let s = app.assistant.suggestion.as_ref().unwrap();
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
            Event::ModelLoaded(ModelInfo {
                name: "m".into(),
                n_ctx: 2048,
                n_ctx_train: 2048,
                n_params: 1,
                size_bytes: 1,
                has_chat_template: true,
                load_ms: 1,
                architecture: "llama".into(),
                quantisation: "Q4_1".into(),
            }),
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
        assert!(matches!(app.assistant.state, ModelState::Crashed { .. }));
        assert_eq!(app.doc.text(), "text", "the draft is untouched");
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
        let failed = match &app.assistant.suggestion.as_ref().unwrap().variants[0].state {
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
        assert!(matches!(app.assistant.state, ModelState::Stopped { .. }));
        let status = app.status.as_ref().unwrap();
        assert!(
            status.is_error && status.text.contains("SIGILL"),
            "{}",
            status.text
        );
        assert!(app.on_restart_due(2).is_empty(), "no restart is pending");
        assert_eq!(app.doc.text(), "text", "the draft is untouched");

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
        let s = app.assistant.suggestion.as_ref().unwrap();
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
    fn cancel_keeps_the_partial_text_and_stops_further_variants() {
        let mut app = ready_app("text");
        let job = job_of(&app.ask("continue"));
        app.on_engine(
            1,
            Event::TokenGenerated {
                job,
                text: " and more".into(),
            },
        );
        let effects = app.cancel_generation();
        assert_eq!(effects, vec![Effect::CancelJob { job }]);
        let s = app.assistant.suggestion.as_ref().unwrap();
        assert!(!s.wants_more());
        app.accept_suggestion();
        assert_eq!(app.doc.text(), " and moretext");
    }

    #[test]
    fn a_missing_model_leaves_a_plain_editor_with_the_reason() {
        let mut app = App::with_text(None, "text", 80, 20);
        let effects = app.start_assistant(AssistantSetup {
            load: LoadParams {
                model: "/nowhere/model.gguf".into(),
                n_ctx: 2048,
                n_threads: 0,
                n_gpu_layers: 0,
            },
            sampling: Sampling {
                variants: Some(1),
                ..Sampling::default()
            },
            ghost_delay: None,
        });
        assert!(effects.is_empty());
        assert!(matches!(&app.assistant.state, ModelState::Failed(r) if r.contains("make model")));
        assert!(app.ask("continue").is_empty());
        assert!(app.status.as_ref().is_some_and(|s| s.is_error));
    }
}
