//! App: the editor's whole state and `App::update`, the only place it changes. It routes each
//! message to the part that owns it: the `Editor` (the draft and its file), the `Assistant`
//! (the engine, suggestions, ghost text, the prompt library) or the `Overlay` on show; each
//! returns side effects as `Effect`s for the runtime, whose results come back as `Msg`s (The
//! Elm Architecture). Rendering reads `&App`.

pub mod assistant;
pub mod editor;
pub mod ghost;
pub mod library;
pub mod line_input;
pub mod msg;
pub mod overlay;
pub mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::command::Command;
use crate::config::Config;
use crate::document::journal::Recovered;
use crate::keymap::{Action, Key, Keymaps, Mode};
use crate::prompt::PromptLibrary;
use crate::suggestion::Portion;
pub use assistant::{Assistant, AssistantSetup, ModelState};
use editor::Editor;
use library::Opened;
pub use msg::{Effect, LoadedDraft, Msg, SaveFailure};
use overlay::{
    Confirm, Help, Intent, MiniBuffer, Outcome, Overlay, OverlayCx, Palette, Purpose, Question,
    SettingsPane,
};

/// A message for the writer in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub is_error: bool,
}

/// The status bar's message, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusLine(Option<Status>);

impl StatusLine {
    pub fn info(&mut self, text: impl Into<String>) {
        self.set(text.into(), false);
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.set(text.into(), true);
    }

    fn set(&mut self, text: String, is_error: bool) {
        self.0 = Some(Status { text, is_error });
    }

    pub fn clear(&mut self) {
        self.0 = None;
    }

    pub fn get(&self) -> Option<&Status> {
        self.0.as_ref()
    }
}

/// What the app's parts may change besides themselves: the status line, the overlay on show
/// (to open a question or a prompt line), whether to quit; and the keymaps, for hints.
pub struct Cx<'a> {
    pub status: &'a mut StatusLine,
    pub overlay: &'a mut Option<Overlay>,
    pub quit: &'a mut bool,
    pub keys: &'a Keymaps,
}

pub struct App {
    editor: Editor,
    assistant: Assistant,
    overlay: Option<Overlay>,
    status: StatusLine,
    keys: Keymaps,
    /// The settings in force (edited live in the settings pane).
    config: Config,
    /// The themes there are to choose from.
    themes: Vec<String>,
    /// The terminal's size, from which the panes are laid out.
    screen: (u16, u16),
    quit: bool,
}

/// Where the panes go, in cells: the draft, and the side pane when there is one (suggestions
/// or settings: to the right on a wide terminal, below on a narrow one). The bottom row is the
/// status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub draft: (u16, u16, u16, u16),
    pub side: Option<(u16, u16, u16, u16)>,
}

pub fn panes(width: u16, height: u16, has_side: bool) -> Panes {
    let body = height.saturating_sub(1).max(1);
    if !has_side {
        return Panes {
            draft: (0, 0, width, body),
            side: None,
        };
    }
    if width >= 70 {
        let draft_w = width * 3 / 5;
        Panes {
            draft: (0, 0, draft_w, body),
            side: Some((draft_w, 0, width - draft_w, body)),
        }
    } else {
        let draft_h = (body * 3 / 5).max(1);
        Panes {
            draft: (0, 0, width, draft_h),
            side: Some((0, draft_h, width, body - draft_h)),
        }
    }
}

impl App {
    pub fn new(keys: Keymaps, config: Config, width: u16, height: u16) -> App {
        let mut app = App {
            editor: Editor::default(),
            assistant: Assistant::default(),
            overlay: None,
            status: StatusLine::default(),
            keys,
            config,
            themes: vec!["default".into(), "mono".into()],
            screen: (width, height),
            quit: false,
        };
        app.relayout();
        app
    }

    /// An app on `text` with the default keys and settings, as tests and benchmarks set one up.
    pub fn with_text(path: Option<PathBuf>, text: &str, width: u16, height: u16) -> App {
        let (keys, _) = Keymaps::new(&[]);
        let mut app = App::new(keys, Config::default(), width, height);
        app.open(path, LoadedDraft::of_text(text), None);
        app
    }

    // --- What the renderer and the front ends read ------------------------------------------

    pub fn editor(&self) -> &Editor {
        &self.editor
    }

    pub fn assistant(&self) -> &Assistant {
        &self.assistant
    }

    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_ref()
    }

    pub fn status(&self) -> Option<&Status> {
        self.status.get()
    }

    pub fn keys(&self) -> &Keymaps {
        &self.keys
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// The keymap mode the keyboard is in.
    pub fn mode(&self) -> Mode {
        match &self.overlay {
            Some(overlay) => overlay.mode(),
            None if self.assistant.is_focused() => Mode::Suggestions,
            None => Mode::Edit,
        }
    }

    /// What the overlays read, for drawing them.
    pub fn overlay_cx(&self) -> OverlayCx<'_> {
        OverlayCx {
            keys: &self.keys,
            config: &self.config,
            prompts: &self.assistant.library.prompts,
            themes: &self.themes,
            screen: self.screen,
        }
    }

    pub fn panes(&self) -> Panes {
        let side = self.assistant.suggestion().is_some()
            || matches!(self.overlay, Some(Overlay::Settings(_)));
        panes(self.screen.0, self.screen.1, side)
    }

    /// When the event loop must wake up for the ghost.
    pub fn ghost_due(&self) -> Option<Instant> {
        self.assistant.ghost_due()
    }

    // --- Setting up ------------------------------------------------------------------------

    /// Opens `draft` (already read) at `path`, offering to recover `journal` if it holds edits.
    pub fn open(&mut self, path: Option<PathBuf>, draft: LoadedDraft, journal: Option<Recovered>) {
        // A suggestion or ghost belongs to the text it was asked about.
        self.assistant.forget_draft();
        self.editor.open(path, draft);
        if let Some(recovered) = journal.filter(|r| !r.changes.is_empty() || r.snapshot.is_some()) {
            self.overlay = Some(Confirm::Recover(recovered).into());
        }
        self.relayout();
    }

    pub fn set_library(
        &mut self,
        prompts: PromptLibrary,
        values: BTreeMap<String, BTreeMap<String, String>>,
    ) {
        self.assistant.library.prompts = prompts;
        self.assistant.library.values = values;
    }

    /// The writer's recent free-form instructions, oldest first (Up in the Ask line).
    pub fn set_asks(&mut self, asks: Vec<String>) {
        self.assistant.library.asks = asks;
    }

    pub fn set_themes(&mut self, names: Vec<String>) {
        self.themes = names;
    }

    /// Starts the engine for `setup`.
    pub fn start_assistant(&mut self, setup: AssistantSetup) -> Vec<Effect> {
        self.assistant.start(setup)
    }

    /// The pending edits for the journal, if any.
    pub fn journal_effect(&mut self) -> Option<Effect> {
        self.editor.journal_effect()
    }

    /// The parts, each borrowed on its own, and what they may change besides.
    fn parts(&mut self) -> (&mut Editor, &mut Assistant, Cx<'_>) {
        let App {
            editor,
            assistant,
            overlay,
            status,
            keys,
            quit,
            ..
        } = self;
        let cx = Cx {
            status,
            overlay,
            quit,
            keys,
        };
        (editor, assistant, cx)
    }

    // --- Update ----------------------------------------------------------------------------

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let effects = self.route(msg);
        self.relayout();
        effects
    }

    fn route(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Paste(text) => {
                let text = text.replace("\r\n", "\n").replace('\r', "\n");
                match &mut self.overlay {
                    Some(overlay) => overlay.on_paste(&text),
                    None => self.editor.paste(&text),
                }
                Vec::new()
            }
            Msg::Resize { width, height } => {
                self.screen = (width, height);
                Vec::new()
            }
            Msg::Click { column, row } => {
                if self.overlay.is_none() && self.editor.click(column.into(), row.into()) {
                    return self.run(Command::brief);
                }
                Vec::new()
            }
            Msg::Scroll { down } => {
                self.editor.scroll(down);
                Vec::new()
            }
            Msg::Frame => {
                self.editor.settle();
                Vec::new()
            }
            Msg::Idle => self.idle_at(Instant::now()),
            Msg::Terminate => {
                self.quit = true;
                let mut effects: Vec<Effect> = self.editor.journal_effect().into_iter().collect();
                effects.extend(self.editor.position_effect());
                effects.push(Effect::Quit);
                effects
            }
            other => self.on_result(other),
        }
    }

    /// The results of effects: the engine's events, saves, loads, template files.
    fn on_result(&mut self, msg: Msg) -> Vec<Effect> {
        let (editor, assistant, mut cx) = self.parts();
        match msg {
            Msg::Engine { generation, event } => {
                assistant.on_event(generation, event, editor, &mut cx)
            }
            Msg::RestartEngine { generation } => assistant.on_restart_due(generation),
            Msg::Warning(text) => {
                cx.status.error(text);
                Vec::new()
            }
            Msg::JournalFailed(text) => {
                editor.journal_failed();
                cx.status.error(text);
                Vec::new()
            }
            Msg::SaveFinished { path, result } => editor.on_saved(path, result, &mut cx),
            Msg::TemplateExists { name, text } => {
                assistant.library.on_exists(name, text, &mut cx);
                Vec::new()
            }
            Msg::TemplatesLoaded {
                library,
                warnings,
                note,
            } => {
                assistant
                    .library
                    .on_loaded(library, warnings, note, &mut cx);
                Vec::new()
            }
            Msg::Loaded {
                path,
                result,
                journal,
            } => {
                match result {
                    Ok(draft) => {
                        let name = path.as_ref().map_or_else(
                            || "new draft".into(),
                            |p| format!("opened {}", p.display()),
                        );
                        // A journal left by a crash is offered back, never overwritten.
                        self.open(path, draft, journal);
                        self.status.info(name);
                    }
                    Err(e) => self.status.error(e),
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Sizes the draft view to its pane (which shrinks while a side pane is shown).
    fn relayout(&mut self) {
        let (_, _, w, h) = self.panes().draft;
        let (w, h) = (usize::from(w).max(4), usize::from(h).max(1));
        let view = self.editor.view();
        if (view.width, view.height) != (w, h) {
            self.editor.resize(w, h);
        }
    }

    fn on_key(&mut self, key: Key) -> Vec<Effect> {
        let Some(mut overlay) = self.overlay.take() else {
            return self.on_edit_key(key);
        };
        let outcome = overlay.on_key(&key, &self.overlay_cx());
        match outcome {
            Outcome::Stay => {
                self.overlay = Some(overlay);
                Vec::new()
            }
            Outcome::Close => Vec::new(),
            Outcome::Keep(intent) => {
                self.overlay = Some(overlay);
                self.perform(intent, None)
            }
            Outcome::Then(intent) => self.perform(intent, Some(overlay)),
        }
    }

    /// A key in the draft (or the suggestions pane): a ghost on show has it first; then its
    /// action, or a typed character.
    fn on_edit_key(&mut self, key: Key) -> Vec<Effect> {
        let revision = self.editor.doc().revision();
        let shown = self.status.get().cloned();
        let effects = self.edit_key(key);
        // A message is about what was just done: the next edit makes it stale ("accepted"
        // after the undo, "saved" beside the modified mark), unless the edit said something.
        if self.editor.doc().revision() != revision && self.status.get() == shown.as_ref() {
            self.status.clear();
        }
        effects
    }

    fn edit_key(&mut self, key: Key) -> Vec<Effect> {
        let mode = self.mode();
        let action = self.keys.action(mode, &key).cloned();
        let command = match &action {
            Some(Action::Command(c)) => Some(*c),
            _ => None,
        };
        if mode == Mode::Edit {
            let (editor, assistant, _) = self.parts();
            if let Some(effects) = assistant.ghost_key(command, key.typed_char(), editor) {
                return effects;
            }
        }
        // Any other key puts the ghost away (and stops its job), then acts as usual; Esc with a
        // ghost on show only puts it away.
        let mut effects = self.assistant.clear_ghost();
        if command == Some(Command::cancel) && !effects.is_empty() {
            return effects;
        }
        // A new line is where a writer pauses to think: a ghost may start it.
        let new_line =
            mode == Mode::Edit && action == Some(Action::Command(Command::insert_newline));
        match action {
            Some(action) => {
                effects.extend(self.run_action(action));
                if new_line {
                    effects.extend(self.assistant.schedule_ghost(&self.editor));
                }
            }
            None => {
                if let (Some(c), Mode::Edit) = (key.typed_char(), mode) {
                    self.editor.type_char(c);
                    effects.extend(self.assistant.schedule_ghost(&self.editor));
                }
            }
        }
        effects
    }

    /// What a key bound to `action` does: a prompt runs on the draft (or opens its form).
    pub fn run_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Command(command) => self.run(command),
            Action::Prompt(id) => self.open_prompt(&id),
        }
    }

    fn open_prompt(&mut self, id: &str) -> Vec<Effect> {
        let (editor, assistant, mut cx) = self.parts();
        match assistant.library.open(id, &mut cx) {
            Opened::Run => assistant.ask(id, &BTreeMap::new(), editor, &mut cx),
            Opened::Form | Opened::Missing => Vec::new(),
        }
    }

    /// Runs a named command.
    pub fn run(&mut self, command: Command) -> Vec<Effect> {
        use Command as C;
        if let Some(overlay) = self.opens(command) {
            self.status.clear();
            self.overlay = Some(overlay);
            return Vec::new();
        }
        let (editor, assistant, mut cx) = self.parts();
        let mut effects = Vec::new();
        match command {
            C::new_template => {
                let doc = editor.doc();
                let text = if doc.has_selection() {
                    doc.selected_text()
                } else {
                    doc.text()
                };
                assistant.library.new_from_text(text, &mut cx);
            }
            C::save_template_preset => cx
                .status
                .info("open a template's form first (F7), then save it as a preset"),
            C::restart_model => effects = assistant.restart_model(&mut cx),
            C::fold_brief => editor.toggle_fold(&mut cx),
            C::outline => effects = assistant.ask_outline(editor, &mut cx),
            C::write_section => effects = assistant.ask_article(false, editor, &mut cx),
            C::write_article => effects = assistant.ask_article(true, editor, &mut cx),
            C::accept_suggestion => effects = assistant.accept(editor, &mut cx),
            C::accept_word => effects = assistant.accept_part(Portion::Word, editor, &mut cx),
            C::accept_sentence => {
                effects = assistant.accept_part(Portion::Sentence, editor, &mut cx)
            }
            C::accept_line => effects = assistant.accept_part(Portion::Line, editor, &mut cx),
            C::toggle_variant_list => assistant.toggle_list(),
            C::reject_suggestion => effects = assistant.reject(),
            C::cancel_generation => effects = assistant.cancel_generation(),
            C::regenerate => effects = assistant.regenerate(&mut cx),
            C::next_variant | C::previous_variant => assistant.cycle(command == C::next_variant),
            C::focus_next_pane => assistant.toggle_focus(),
            C::scroll_up | C::scroll_down => assistant.scroll(command == C::scroll_down),
            C::cancel => {
                if !assistant.cancel(&mut effects, &mut cx) {
                    editor.collapse_selection();
                    cx.status.clear();
                }
            }
            _ => {
                editor.run(command, &mut cx, &mut effects);
            }
        }
        effects
    }

    /// The overlay a command opens, if it opens one.
    fn opens(&self, command: Command) -> Option<Overlay> {
        use Command as C;
        Some(match command {
            C::help => Overlay::Help(Help::default()),
            C::command_palette => Overlay::Palette(Palette::new(Purpose::Run)),
            C::templates => Overlay::Palette(Palette::new(Purpose::Templates)),
            C::edit_template => Overlay::Palette(Palette::new(Purpose::Edit)),
            C::delete_template => Overlay::Palette(Palette::new(Purpose::Delete)),
            C::settings => Overlay::Settings(SettingsPane::default()),
            C::brief => Overlay::Form(overlay::TemplateForm::brief(
                &crate::app::assistant::Front::read(self.editor.doc().rope()).brief,
            )),
            C::ask => Overlay::MiniBuffer(MiniBuffer::with_history(
                Question::Ask,
                self.assistant.library.asks.clone(),
            )),
            _ => return None,
        })
    }

    /// Carries out what an overlay asked for; `closed` is the overlay, if it closed.
    fn perform(&mut self, intent: Intent, closed: Option<Overlay>) -> Vec<Effect> {
        match intent {
            Intent::Run(action) => self.run_action(action),
            Intent::OpenTemplate(id) => self.open_prompt(&id),
            Intent::SetTheme(name) => {
                self.set(overlay::settings::theme_field(), overlay::Value::Str(name))
            }
            Intent::Set(field, value) => self.set(field, value),
            Intent::Answer(question, text) => self.answer_prompt(question, &text),
            Intent::Choose(answer) => match closed {
                Some(Overlay::Confirm(question)) => self.answer(question, answer),
                _ => Vec::new(),
            },
            other => self.perform_template(other),
        }
    }

    /// The template side of what overlays ask for.
    fn perform_template(&mut self, intent: Intent) -> Vec<Effect> {
        let (editor, assistant, mut cx) = self.parts();
        match intent {
            Intent::EditTemplate(id) => assistant.library.edit(&id, &mut cx),
            Intent::DeleteTemplate(id) => {
                assistant.library.confirm_delete(&id, &mut cx);
                Vec::new()
            }
            Intent::Error(text) => {
                cx.status.error(text);
                Vec::new()
            }
            Intent::SetBrief(values) => {
                editor.set_brief(&values, &mut cx);
                editor.journal_effect().into_iter().collect()
            }
            Intent::RunTemplate { id, values } => {
                let mut effects = vec![assistant.library.remember(&id, &values)];
                effects.extend(assistant.ask(&id, &values, editor, &mut cx));
                effects
            }
            Intent::SavePreset { id, values } => {
                assistant.library.save_preset(&id, values, &mut cx);
                Vec::new()
            }
            Intent::Cancelled(_) => {
                editor.prompt_cancelled();
                assistant.library.cancel_naming();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn answer_prompt(&mut self, question: Question, text: &str) -> Vec<Effect> {
        let (editor, assistant, mut cx) = self.parts();
        match question {
            Question::TemplateName => assistant.library.name_template(text.trim(), &mut cx),
            Question::Ask => {
                let instruction = text.trim();
                if instruction.is_empty() {
                    return Vec::new();
                }
                let values = [("instruction".to_string(), instruction.to_string())].into();
                let mut effects = vec![assistant.library.remember_ask(instruction)];
                effects.extend(assistant.ask(overlay::ASK_PROMPT, &values, editor, &mut cx));
                effects
            }
            _ => editor.answer_prompt(question, text, &mut cx),
        }
    }

    fn answer(&mut self, question: Confirm, answer: overlay::Answer) -> Vec<Effect> {
        let (editor, assistant, mut cx) = self.parts();
        match question {
            Confirm::OverwriteTemplate { .. } | Confirm::DeleteTemplate(_) => {
                assistant.library.answer(question, answer, &mut cx)
            }
            _ => editor.answer(question, answer, &mut cx),
        }
    }

    /// Applies a setting now and has it written to config.toml; an engine setting reloads the
    /// model.
    fn set(&mut self, field: overlay::Field, value: overlay::Value) -> Vec<Effect> {
        field.apply(&mut self.config, &value);
        self.status
            .info(format!("{} = {}", field.label, field.show(&self.config)));
        let mut effects = vec![Effect::WriteSetting {
            key: field.key.iter().map(|k| k.to_string()).collect(),
            value,
        }];
        if let Some(model) = self.assistant.model().map(std::path::Path::to_path_buf) {
            let model = if field.key == ["model"] {
                self.config.model_path(None, &model)
            } else {
                model
            };
            let setup = AssistantSetup::from_config(&self.config, model);
            if field.reloads_model() {
                effects.extend(self.assistant.start(setup));
            } else {
                self.assistant.set_setup(setup);
            }
        }
        effects
    }

    /// Puts the cursor at char `at` (benchmarks and tests).
    pub fn move_cursor(&mut self, at: usize) {
        self.editor.doc_mut().move_to(at, false);
        self.editor.after_edit();
    }

    /// As the event loop's idle wake-up does, at `now` (tests and benchmarks).
    pub fn idle_at(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects: Vec<Effect> = self.editor.journal_effect().into_iter().collect();
        let (editor, assistant, _) = self.parts();
        effects.extend(assistant.request_ghost_if_due(now, editor));
        effects
    }
}

/// What the app's tests share: an app whose engine has "loaded" a model, the job a `Generate`
/// asked for, finished-job stats, and short ways to reach into the parts.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Duration;

    use super::*;
    use crate::document::Document;
    use crate::engine::protocol::{
        Event, GenerationStats, JobId, LoadParams, ModelInfo, StopReason,
    };
    use crate::sampling::Sampling;
    use crate::suggestion::Suggestion;

    /// An app on `text` whose engine (there is none) has loaded a model, two variants a
    /// request, ghost text after 400 ms.
    pub(crate) fn ready_app(text: &str) -> App {
        ready(App::with_text(None, text, 100, 30))
    }

    /// `ready_app` with the keys and settings of `config`, as the TUI sets them up.
    pub(crate) fn ready_app_with(config: Config, text: &str) -> App {
        let (keys, warnings) = config.keymaps();
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut app = App::new(keys, config, 100, 30);
        app.open(None, LoadedDraft::of_text(text), None);
        ready(app)
    }

    fn ready(mut app: App) -> App {
        let article = app.config.article;
        let effects = app.start_assistant(AssistantSetup {
            load: LoadParams {
                model: "/models/test.gguf".into(),
                n_ctx: 2048,
                n_threads: 0,
                n_gpu_layers: 0,
                flash_attention: Default::default(),
                prompt_lookup: true,
                remote: None,
            },
            sampling: Sampling {
                variants: Some(2),
                ..Sampling::default()
            },
            ghost_delay: Some(Duration::from_millis(400)),
            language: "auto".into(),
            ghost_budget_ms: 1000,
            style: String::new(),
            article,
        });
        assert!(matches!(
            effects.as_slice(),
            [Effect::StartEngine { generation: 1, .. }]
        ));
        app.on_engine(1, Event::ModelLoaded(model_info()));
        app
    }

    /// What a worker says of the model it loaded.
    pub(crate) fn model_info() -> ModelInfo {
        ModelInfo {
            name: "test".into(),
            n_ctx: 2048,
            n_ctx_train: 8192,
            n_params: 1,
            size_bytes: 1,
            has_chat_template: true,
            load_ms: 1,
            architecture: "llama".into(),
            quantisation: "Q4_1".into(),
            settings: Default::default(),
            placement: Vec::new(),
        }
    }

    pub(crate) fn stats() -> GenerationStats {
        GenerationStats {
            threads: 1,
            estimated: false,
            with_flash: false,
            drafted: 0,
            accepted: 0,
            decodes: 0,
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

    /// The first job id and the variant count of the `Generate` among `effects`.
    fn generate_of(effects: &[Effect]) -> (JobId, u32) {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Generate { job, variants, .. } => Some((*job, *variants)),
                _ => None,
            })
            .expect("a generate effect")
    }

    /// How many variants the `Generate` among `effects` asks for side by side.
    pub(crate) fn variants_of(effects: &[Effect]) -> u32 {
        generate_of(effects).1
    }

    pub(crate) fn job_of(effects: &[Effect]) -> JobId {
        generate_of(effects).0
    }

    impl App {
        pub(crate) fn doc_mut(&mut self) -> &mut Document {
            self.editor.doc_mut()
        }

        pub(crate) fn assistant_mut(&mut self) -> &mut super::assistant::Assistant {
            &mut self.assistant
        }

        pub(crate) fn status_text(&self) -> String {
            self.status().map(|s| s.text.clone()).unwrap_or_default()
        }

        pub(crate) fn suggestion(&self) -> Option<&Suggestion> {
            self.assistant.suggestion()
        }

        pub(crate) fn ask(&mut self, id: &str) -> Vec<Effect> {
            self.ask_with(id, &BTreeMap::new())
        }

        pub(crate) fn ask_with(
            &mut self,
            id: &str,
            values: &BTreeMap<String, String>,
        ) -> Vec<Effect> {
            let (editor, assistant, mut cx) = self.parts();
            assistant.ask(id, values, editor, &mut cx)
        }

        pub(crate) fn on_engine(&mut self, generation: u64, event: Event) -> Vec<Effect> {
            self.update(Msg::Engine { generation, event })
        }

        pub(crate) fn on_restart_due(&mut self, generation: u64) -> Vec<Effect> {
            self.update(Msg::RestartEngine { generation })
        }

        pub(crate) fn accept_suggestion(&mut self) -> Vec<Effect> {
            self.run(Command::accept_suggestion)
        }

        pub(crate) fn cancel_generation(&mut self) -> Vec<Effect> {
            self.run(Command::cancel_generation)
        }

        pub(crate) fn cursor_screen(&self) -> Option<(usize, usize)> {
            self.editor.view().cursor_screen(self.editor.doc())
        }

        pub(crate) fn view_top(&self) -> view::RowPos {
            self.editor.view().top(self.editor.doc())
        }

        pub(crate) fn view_size(&self) -> (usize, usize) {
            (self.editor.view().width, self.editor.view().height)
        }

        pub(crate) fn set_path(&mut self, path: Option<PathBuf>) {
            self.editor.set_path(path);
        }

        pub(crate) fn open_template(&mut self, id: &str) -> Vec<Effect> {
            self.open_prompt(id)
        }

        /// What the palette on show lists for what is typed in it.
        pub(crate) fn palette_items(&self) -> Vec<overlay::palette::PaletteItem> {
            match &self.overlay {
                Some(Overlay::Palette(p)) => p.matches(&self.overlay_cx()),
                _ => Vec::new(),
            }
        }

        /// The ghost text on show at the cursor.
        pub(crate) fn ghost_text(&self) -> Option<&str> {
            self.assistant
                .ghost()
                .visible_at(self.editor.doc().cursor())
        }

        pub(crate) fn set_model_state(&mut self, state: ModelState) {
            self.assistant.set_state(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::journal::Base;
    use crate::keymap::{KeyCode, Mods};
    use overlay::Then;

    fn app(text: &str, width: u16, height: u16) -> App {
        App::with_text(None, text, width, height)
    }

    fn key(code: KeyCode) -> Msg {
        Msg::Key(Key::plain(code))
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            app.update(key(KeyCode::Char(c)));
        }
    }

    /// The settings pane switches engines live: the model reloads with the server named,
    /// and back, and each choice is written to config.toml.
    #[test]
    fn switching_to_a_remote_engine_in_settings_reloads_with_the_server() {
        let mut app = test_support::ready_app("Draft.");
        let field = |key: &str| {
            *overlay::settings::FIELDS
                .iter()
                .find(|f| f.key == ["engine", key])
                .unwrap()
        };
        let set = |app: &mut App, key: &str, text: &str| {
            let field = field(key);
            let value = field.parse(text).unwrap();
            app.set(field, value)
        };
        set(&mut app, "url", "http://gpu-box:8080");
        let effects = set(&mut app, "kind", "remote");
        let params = effects
            .iter()
            .find_map(|e| match e {
                Effect::StartEngine { params, .. } => Some(params.clone()),
                _ => None,
            })
            .expect("the engine restarts");
        let remote = params.remote.expect("with the server");
        assert_eq!(remote.url, "http://gpu-box:8080");
        assert!(effects.iter().any(|e| matches!(e,
            Effect::WriteSetting { key, .. } if key == &["engine", "kind"])));
        let effects = set(&mut app, "kind", "local");
        assert!(effects.iter().any(|e| matches!(e,
            Effect::StartEngine { params, .. } if params.remote.is_none())));
    }

    #[test]
    fn typing_chinese_then_moving_inside_it() {
        let mut app = app("", 40, 10);
        type_text(&mut app, "我们写文章");
        app.update(key(KeyCode::Left));
        app.update(key(KeyCode::Left));
        type_text(&mut app, "一篇");
        assert_eq!(app.doc_mut().text(), "我们写一篇文章");
        // Each CJK character is two columns: the cursor sits after 5 of them.
        assert_eq!(app.cursor_screen(), Some((10, 0)));
    }

    #[test]
    fn down_follows_wrapped_rows_and_keeps_the_column() {
        // Width 10: "aaaa bbbb " / "cccc dddd" then a short line.
        let mut app = app("aaaa bbbb cccc dddd\nxy\nlonger line", 10, 10);
        app.update(key(KeyCode::Right));
        app.update(key(KeyCode::Right));
        app.update(key(KeyCode::Right));
        app.update(key(KeyCode::Down));
        assert_eq!(app.doc_mut().cursor(), 13);
        app.update(key(KeyCode::Down));
        assert_eq!(app.doc_mut().cursor(), 22, "clamped to the end of 'xy'");
        app.update(key(KeyCode::Down));
        assert_eq!(
            app.doc_mut().cursor(),
            26,
            "back to column 3 on the next line"
        );
    }

    #[test]
    fn the_cursor_stays_visible_when_typing_past_the_bottom() {
        let mut app = app("", 20, 6);
        for i in 0..30 {
            type_text(&mut app, &format!("line {i}"));
            app.update(key(KeyCode::Enter));
        }
        let (_, y) = app.cursor_screen().expect("cursor visible");
        assert!(y < app.view_size().1);
        app.update(Msg::Key(Key {
            code: KeyCode::Home,
            mods: Mods {
                ctrl: true,
                ..Mods::default()
            },
        }));
        assert_eq!(app.cursor_screen(), Some((0, 0)));
    }

    #[test]
    fn quitting_with_unsaved_changes_asks_first() {
        let mut app = app("", 20, 6);
        type_text(&mut app, "draft");
        assert!(app.update(Msg::Key(Key::ctrl('q'))).is_empty());
        assert!(matches!(
            app.overlay(),
            Some(Overlay::Confirm(Confirm::Unsaved(Then::Quit)))
        ));
        app.update(key(KeyCode::Esc));
        assert!(app.overlay().is_none());
        app.update(Msg::Key(Key::ctrl('q')));
        let effects = app.update(key(KeyCode::Char('d')));
        assert!(effects.contains(&Effect::Quit));
    }

    #[test]
    fn saving_an_untitled_draft_asks_for_a_path_then_saves_and_clears_the_journal() {
        let mut app = app("", 20, 6);
        type_text(&mut app, "hi");
        assert!(app.update(Msg::Key(Key::ctrl('s'))).is_empty());
        assert!(matches!(
            app.overlay(),
            Some(Overlay::MiniBuffer(m)) if m.question == Question::SaveAs
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.md");
        for c in path.display().to_string().chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Save { text, .. } if text == "hi"))
        );
        let fingerprint = crate::document::file::Fingerprint::of_bytes(b"hi", None);
        let effects = app.update(Msg::SaveFinished {
            path: path.clone(),
            result: Ok(fingerprint),
        });
        assert!(!app.doc_mut().is_modified());
        assert!(effects.contains(&Effect::RemoveJournal { path: Some(path) }));
    }

    #[test]
    fn save_as_changes_nothing_until_the_save_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("a.md");
        let other = dir.path().join("b.md");
        std::fs::write(&other, "someone's file").unwrap();
        let mut app = app("text", 40, 10);
        app.set_path(Some(original.clone()));
        type_text(&mut app, "x");
        app.update(key(KeyCode::F(12)));
        // Clear the offered name and type the other one.
        for _ in 0..200 {
            app.update(key(KeyCode::Backspace));
        }
        type_text(&mut app, &other.display().to_string());
        // The runtime finds the other file there (it checks as it saves, so one that appears
        // meanwhile is caught too) and the writer is asked.
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            effects.iter().any(|e| matches!(e,
                Effect::Save { path, expect: None, force: false, .. } if *path == other)),
            "{effects:?}"
        );
        app.update(Msg::SaveFinished {
            path: other.clone(),
            result: Err(SaveFailure::ChangedOnDisk),
        });
        assert!(
            matches!(app.overlay(), Some(Overlay::Confirm(Confirm::Overwrite(p))) if *p == other)
        );
        app.update(key(KeyCode::Char('c')));
        assert_eq!(
            app.editor().path(),
            Some(&original),
            "declining keeps the draft's name"
        );
        // A plain save still goes to the draft's own file.
        let effects = app.update(Msg::Key(Key::ctrl('s')));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Save { path, .. } if *path == original))
        );
    }

    #[test]
    fn keys_typed_after_a_save_was_asked_for_stay_unsaved() {
        let mut app = app("", 40, 10);
        let path = PathBuf::from("/tmp/quill-test-draft.md");
        app.set_path(Some(path.clone()));
        type_text(&mut app, "saved");
        let effects = app.update(Msg::Key(Key::ctrl('s')));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Save { text, .. } if text == "saved"))
        );
        type_text(&mut app, " later");
        app.update(Msg::SaveFinished {
            path,
            result: Ok(crate::document::file::Fingerprint::of_bytes(b"saved", None)),
        });
        assert!(app.doc_mut().is_modified(), "' later' was never written");
    }

    #[test]
    fn a_burst_of_keys_is_followed_by_the_view_once_and_the_cursor_stays_on_screen() {
        let mut app = app("start\n", 20, 6);
        app.update(key(KeyCode::Down));
        for c in "写作 words ".chars().cycle().take(3000) {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
        assert_eq!(app.doc_mut().len_chars(), 6 + 3000);
        // The screen follows the cursor, wherever the keys left it.
        let (x, y) = app.cursor_screen().expect("the cursor is on screen");
        let (width, height) = app.view_size();
        assert!(y < height && x <= width, "({x}, {y})");
        let top = app.view_top();
        app.update(Msg::Frame);
        assert_eq!(app.view_top(), top);
        // A wheel scroll starts from what the screen showed, then typing brings it back.
        app.update(Msg::Scroll { down: false });
        assert!(app.view_top() < top);
        app.update(Msg::Key(Key::plain(KeyCode::Char('!'))));
        assert_eq!(app.view_top(), top);
    }

    #[test]
    fn a_front_matter_folds_to_one_row_that_motions_step_over() {
        let text = "---\ntitle: Tea\naudience: students\n---\n# Tea\n\nBody one.\n";
        let body = 38;
        let mut app = app(text, 40, 20);
        // A draft opens in its body, the brief folded above it on one row.
        assert_eq!(app.doc_mut().cursor(), body);
        assert_eq!(app.cursor_screen(), Some((0, 1)));
        app.update(key(KeyCode::Down));
        app.update(key(KeyCode::Down));
        assert_eq!(app.cursor_screen(), Some((0, 3)));
        for _ in 0..3 {
            app.update(key(KeyCode::Up));
        }
        assert_eq!(app.doc_mut().cursor(), body, "Up stops at the body");
        app.update(key(KeyCode::Left));
        app.run(Command::move_word_left);
        app.run(Command::move_doc_start);
        assert_eq!(app.doc_mut().cursor(), body, "so do Left and Ctrl-Home");
        // A click on the folded row opens the brief's form.
        app.update(Msg::Click { column: 5, row: 0 });
        assert!(matches!(app.overlay(), Some(Overlay::Form(_))));
        app.update(key(KeyCode::Esc));
        assert!(app.overlay().is_none());
        // The cursor taken into the block (a search, an undo) shows it whole...
        app.doc_mut().move_to(6, false);
        app.update(Msg::Frame);
        assert_eq!(app.cursor_screen(), Some((2, 1)));
        // ...and leaving it folds it again.
        app.doc_mut().move_to(body + 2, false);
        app.update(Msg::Frame);
        assert_eq!(app.cursor_screen(), Some((2, 1)));
        // Shown whole on request, Up goes into it.
        app.run(Command::fold_brief);
        app.update(Msg::Frame);
        assert_eq!(app.cursor_screen(), Some((2, 4)));
        app.update(key(KeyCode::Up));
        assert_eq!(app.doc_mut().line_col().0, 3, "the closing fence");
        app.run(Command::fold_brief);
        app.update(Msg::Frame);
        assert_eq!(
            app.cursor_screen(),
            Some((2, 3)),
            "in the block: shown whole"
        );
    }

    #[test]
    fn the_view_moves_as_little_as_it_can_from_the_last_frame() {
        let text = (0..100)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut app = app(&text, 40, 20);
        for _ in 0..50 {
            app.update(key(KeyCode::Down));
            app.update(Msg::Frame);
        }
        let top = app.view_top();
        assert!(top.0 > 0, "the view scrolled down with the cursor");
        // Going back up inside the screen moves the cursor, not the page.
        app.update(key(KeyCode::Up));
        app.update(Msg::Frame);
        assert_eq!(app.view_top(), top);
        // A click after a wheel scroll lands where the screen showed it.
        app.update(Msg::Scroll { down: true });
        let scrolled = app.view_top();
        app.update(Msg::Click { column: 0, row: 0 });
        assert_eq!(app.doc_mut().line_col().0, scrolled.0, "the click's line");
        assert_eq!(app.view_top(), scrolled);
    }

    #[test]
    fn a_wider_pane_never_leaves_the_view_past_a_line() {
        let long = "word ".repeat(60);
        let text = format!("{long}\n{}", "line\n".repeat(30));
        let mut app = app(&text, 30, 8);
        // Scroll to a late row of the long first line, then widen the pane a lot.
        app.editor.view_mut().set_top((0, 9));
        app.update(Msg::Resize {
            width: 200,
            height: 8,
        });
        let (line, row) = app.view_top();
        let (k, row) = view::split_row(row);
        let segment = app.editor().view().segment(app.editor().doc(), line, k);
        assert!(row < segment.rows.len());
        app.update(Msg::Click { column: 3, row: 0 });
        app.update(Msg::Scroll { down: true });
    }

    #[test]
    fn a_failed_save_keeps_the_text_and_says_why() {
        let mut app = app("", 20, 6);
        app.set_path(Some(PathBuf::from("/x/draft.md")));
        type_text(&mut app, "precious");
        app.update(Msg::SaveFinished {
            path: PathBuf::from("/x/draft.md"),
            result: Err(SaveFailure::Failed(
                "could not save: the disk is full".into(),
            )),
        });
        assert_eq!(app.doc_mut().text(), "precious");
        assert!(app.doc_mut().is_modified());
        assert!(
            app.status()
                .as_ref()
                .is_some_and(|s| s.is_error && s.text.contains("full"))
        );
    }

    #[test]
    fn recovery_replays_the_journal_when_its_base_matches() {
        let (keys, _) = Keymaps::new(&[]);
        let mut app = App::new(keys, Config::default(), 20, 6);
        let recovered = Recovered {
            base: Base::of_text(None, "base"),
            snapshot: None,
            changes: vec![crate::document::Change {
                start: 4,
                removed: String::new(),
                inserted: " 恢复".into(),
            }],
        };
        app.open(None, LoadedDraft::of_text("base"), Some(recovered));
        assert!(matches!(
            app.overlay(),
            Some(Overlay::Confirm(Confirm::Recover(_)))
        ));
        let effects = app.update(key(KeyCode::Char('y')));
        assert_eq!(app.doc_mut().text(), "base 恢复");
        assert!(app.doc_mut().is_modified());
        assert!(matches!(effects.as_slice(), [Effect::Journal { .. }]));
    }

    /// Text typed after a save that added the final line break is recovered after a crash:
    /// the file read back is the journal's base plus that line break.
    #[test]
    fn edits_after_a_save_that_added_the_final_line_break_are_recovered() {
        let (keys, _) = Keymaps::new(&[]);
        let mut app = App::new(keys, Config::default(), 20, 6);
        let recovered = Recovered {
            base: Base::of_text(None, "saved"),
            snapshot: None,
            changes: vec![crate::document::Change {
                start: 5,
                removed: String::new(),
                inserted: " and more".into(),
            }],
        };
        app.open(None, LoadedDraft::of_text("saved\n"), Some(recovered));
        app.update(key(KeyCode::Char('y')));
        assert_eq!(app.doc_mut().text(), "saved and more\n");
    }

    #[test]
    fn recovering_put_off_keeps_the_journal_and_only_discard_removes_it() {
        let recovered = || Recovered {
            base: Base::of_text(None, "base"),
            snapshot: None,
            changes: vec![crate::document::Change {
                start: 4,
                removed: String::new(),
                inserted: " more".into(),
            }],
        };
        for (answer, expected) in [
            (KeyCode::Char('n'), Effect::SetJournalAside { path: None }),
            (KeyCode::Esc, Effect::SetJournalAside { path: None }),
            (KeyCode::Char('d'), Effect::RemoveJournal { path: None }),
        ] {
            let (keys, _) = Keymaps::new(&[]);
            let mut app = App::new(keys, Config::default(), 20, 6);
            app.open(None, LoadedDraft::of_text("base"), Some(recovered()));
            let effects = app.update(key(answer));
            assert_eq!(effects, vec![expected], "{answer:?}");
            assert_eq!(app.doc_mut().text(), "base");
        }
    }

    #[test]
    fn after_a_failed_journal_write_the_next_one_holds_the_whole_text() {
        let mut app = app("", 20, 6);
        type_text(&mut app, "ab");
        app.update(Msg::Idle);
        app.update(Msg::JournalFailed(
            "cannot write the crash journal (disk full)".into(),
        ));
        type_text(&mut app, "c");
        let effects = app.update(Msg::Idle);
        assert!(
            matches!(&effects[..], [Effect::Journal { snapshot: Some(text), changes, .. }]
                if text == "abc" && changes.is_empty()),
            "{effects:?}"
        );
        type_text(&mut app, "d");
        let effects = app.update(Msg::Idle);
        assert!(matches!(
            &effects[..],
            [Effect::Journal { snapshot: None, .. }]
        ));
    }

    #[test]
    fn recovery_from_a_snapshot_does_not_need_the_base() {
        let (keys, _) = Keymaps::new(&[]);
        let mut app = App::new(keys, Config::default(), 20, 6);
        let recovered = Recovered {
            base: Base::of_text(None, "old file"),
            snapshot: Some("whole text".into()),
            changes: vec![crate::document::Change {
                start: 10,
                removed: String::new(),
                inserted: "!".into(),
            }],
        };
        app.open(
            None,
            LoadedDraft::of_text("file changed meanwhile"),
            Some(recovered),
        );
        app.update(key(KeyCode::Char('y')));
        assert_eq!(app.doc_mut().text(), "whole text!");
    }

    #[test]
    fn idle_flushes_pending_edits_to_the_journal_once() {
        let mut app = app("", 20, 6);
        type_text(&mut app, "ab");
        let effects = app.update(Msg::Idle);
        assert!(matches!(&effects[..], [Effect::Journal { changes, .. }] if changes.len() == 2));
        assert!(app.update(Msg::Idle).is_empty());
    }

    fn type_in(app: &mut App, text: &str) {
        for c in text.chars() {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
    }

    #[test]
    fn the_palette_runs_a_command_and_a_prompt_by_name() {
        let mut app = test_support::ready_app("One sentence to grow.");
        app.update(Msg::Key(Key::ctrl('p')));
        type_in(&mut app, "select all");
        assert!(
            app.palette_items()[0]
                .label
                .to_lowercase()
                .contains("select all")
        );
        app.update(key(KeyCode::Enter));
        assert!(app.overlay().is_none());
        let doc = app.editor().doc();
        assert_eq!(doc.selected_text(), "One sentence to grow.");
        // A prompt file is an action like any command: found by its name, run on the draft.
        app.update(Msg::Key(Key::ctrl('p')));
        type_in(&mut app, "expand");
        let effects = app.update(key(KeyCode::Enter));
        test_support::job_of(&effects);
        let title = &app.suggestion().expect("a suggestion").title;
        assert!(title.contains("Expand"), "{title}");
    }

    #[test]
    fn ctrl_k_asks_anything_of_the_whole_draft_and_remembers_the_instruction() {
        let mut app = test_support::ready_app("An old poem about the sea.\n\nA second stanza.");
        app.update(Msg::Key(Key::ctrl('k')));
        type_in(&mut app, "make this a haiku");
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            effects.contains(&Effect::RememberAsks(vec!["make this a haiku".into()])),
            "{effects:?}"
        );
        let prompt = effects
            .iter()
            .find_map(|e| match e {
                Effect::Generate { prompt, .. } => Some(format!("{prompt:?}")),
                _ => None,
            })
            .expect("a request");
        // Nothing selected: the whole draft, with the instruction.
        assert!(prompt.contains("make this a haiku"), "{prompt}");
        assert!(prompt.contains("A second stanza."), "{prompt}");
        let s = app.suggestion().expect("a suggestion");
        assert!(
            matches!(&s.target, crate::suggestion::Target::Replace { start: 0, original, .. }
                if original.ends_with("A second stanza.")),
            "{:?}",
            s.target
        );
        // Next time, Up brings it back; Down gives back what was typed.
        app.run(Command::cancel);
        app.run(Command::cancel);
        app.update(Msg::Key(Key::ctrl('k')));
        type_in(&mut app, "sho");
        app.update(key(KeyCode::Up));
        let text = |app: &App| match app.overlay() {
            Some(Overlay::MiniBuffer(m)) => m.input.text.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(&app), "make this a haiku");
        app.update(key(KeyCode::Down));
        assert_eq!(text(&app), "sho");
        // Ctrl-S keeps the instruction as a template of the writer's: it asks for a name.
        app.update(key(KeyCode::Up));
        app.update(Msg::Key(Key::ctrl('s')));
        assert!(
            matches!(app.overlay(), Some(Overlay::MiniBuffer(m)) if m.question == Question::TemplateName),
            "{:?}",
            app.overlay()
        );
    }

    #[test]
    fn esc_is_a_command_that_closes_what_is_open_before_the_draft_sees_it() {
        let mut app = test_support::ready_app("text");
        app.doc_mut()
            .select(crate::document::Selection { anchor: 0, head: 4 });
        app.update(Msg::Key(Key::ctrl('f')));
        app.update(key(KeyCode::Esc));
        assert!(app.overlay().is_none());
        assert!(
            app.editor().doc().has_selection(),
            "the first Esc only closed the prompt"
        );
        app.update(key(KeyCode::Esc));
        assert!(!app.editor().doc().has_selection());
    }

    #[test]
    fn paste_is_one_undo_step_with_line_endings_normalised() {
        let mut app = app("", 20, 6);
        app.update(Msg::Paste("one\r\ntwo".into()));
        assert_eq!(app.doc_mut().text(), "one\ntwo");
        app.update(Msg::Key(Key::ctrl('z')));
        assert_eq!(app.doc_mut().text(), "");
    }
}
