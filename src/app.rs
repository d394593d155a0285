//! App: the editor's whole state and `App::update`, the only place it changes. Rendering reads
//! `&App`; side effects (saving, the journal, the clipboard) are returned as `Effect`s for the
//! terminal layer to run, and their results come back as `Msg`s (The Elm Architecture).

pub mod assist;
pub mod form;
pub mod ghost;
pub mod help;
pub mod msg;
pub mod palette;
pub mod settings;
pub mod templates;

use std::path::PathBuf;

use crate::command::Command;
use crate::document::file::{Fingerprint, TextFormat};
use crate::document::history::EditKind;
use crate::document::journal::{Base, Recovered};
use crate::document::layout::{self, Row};
use crate::document::{Document, Selection, grapheme};
use crate::keymap::{Key, KeyCode, Keymap};
use crate::paths::expand_home;
pub use assist::{Assistant, AssistantSetup, ModelState};
pub use msg::{Effect, LoadedDraft, Msg, SaveFailure};

/// Rows kept between the cursor and the top or bottom edge when scrolling.
const SCROLL_MARGIN: usize = 2;
const WHEEL_ROWS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    SaveAs,
    Open,
    Find,
    /// The name for a new template (see `App::pending_template`).
    TemplateName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
}

/// A save on its way: the state of the document it writes, applied only once it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingSave {
    path: PathBuf,
    revision: u64,
    base: Base,
}

/// What to do once unsaved changes are dealt with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    Quit,
    Open(PathBuf),
    New,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Unsaved changes: save, discard or cancel, then `Then`.
    Unsaved(Then),
    /// The file at this path changed on disk since it was opened or saved, or (save as) is
    /// another file already.
    Overwrite(PathBuf),
    /// A journal holds edits that were never saved.
    Recover(Recovered),
    /// A template of this name exists (the writer's, or a built-in the new file would hide).
    OverwriteTemplate {
        name: String,
        text: String,
        is_built_in: bool,
    },
    /// Delete the writer's template of this name.
    DeleteTemplate(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Edit,
    Prompt(Prompt),
    Confirm(Confirm),
    Help {
        scroll: usize,
    },
    Palette(palette::Palette),
    Settings(settings::SettingsPane),
    /// A template's fields being filled.
    Form(form::TemplateForm),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub is_error: bool,
}

/// The draft pane's geometry and scroll position, in visual rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub width: usize,
    pub height: usize,
    /// The first visible row: logical line and row within it.
    pub top_line: usize,
    pub top_row: usize,
    /// The display column vertical motion aims for.
    preferred_col: Option<usize>,
    /// The cursor moved or the text changed since the view last followed the cursor. Edits
    /// only set this: the scroll is brought to the cursor once, when it is next needed (a
    /// frame, a click, a scroll), not after each of a burst of keys, which on a long line
    /// would re-wrap it for every key.
    follow_pending: bool,
}

pub struct App {
    pub doc: Document,
    pub path: Option<PathBuf>,
    pub format: TextFormat,
    /// The file on disk as last read or written; `None` if it does not exist yet.
    pub disk: Option<Fingerprint>,
    /// What the journal's edits start from: the text as last loaded or saved.
    journal_base: Base,
    pub keymap: Keymap,
    pub view: View,
    pub mode: Mode,
    pub status: Option<Status>,
    clipboard: String,
    last_search: String,
    /// After a save that was asked for on the way to something else (quit, open).
    after_save: Option<Then>,
    /// The save in flight: where, and what the document was when it was asked for.
    saving: Option<PendingSave>,
    /// A journal write failed: the next one starts over with the whole text.
    journal_needs_snapshot: bool,
    /// A template waiting for the writer to name it.
    pending_template: Option<templates::NewTemplate>,
    pub should_quit: bool,
    pub assistant: Assistant,
    pub ghost: ghost::Ghost,
    /// The settings in force (edited live in the settings pane).
    pub config: crate::config::Config,
    /// The themes there are to choose from.
    pub theme_names: Vec<String>,
    /// The terminal's size, from which the panes are laid out.
    pub screen: (u16, u16),
}

/// Where the panes go, in cells: the draft, and the suggestions pane when there is one (to the
/// right on a wide terminal, below on a narrow one). The bottom row is the status bar.
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
    pub fn new(keymap: Keymap, width: u16, height: u16) -> App {
        let mut app = App {
            doc: Document::new(),
            path: None,
            format: TextFormat::default(),
            disk: None,
            journal_base: Base::of_text(None, ""),
            keymap,
            view: View {
                width: 80,
                height: 24,
                top_line: 0,
                top_row: 0,
                follow_pending: false,
                preferred_col: None,
            },
            mode: Mode::Edit,
            status: None,
            clipboard: String::new(),
            last_search: String::new(),
            after_save: None,
            saving: None,
            journal_needs_snapshot: false,
            pending_template: None,
            should_quit: false,
            assistant: Assistant::new(),
            ghost: ghost::Ghost::Off,
            config: crate::config::Config::default(),
            theme_names: vec!["default".into(), "mono".into()],
            screen: (width, height),
        };
        app.resize(width, height);
        app
    }

    /// Opens `draft` (already read) at `path`, offering to recover `journal` if it holds edits.
    pub fn open(&mut self, path: Option<PathBuf>, draft: LoadedDraft, journal: Option<Recovered>) {
        self.replace_document(path, draft);
        if let Some(recovered) = journal.filter(|r| !r.changes.is_empty() || r.snapshot.is_some()) {
            self.mode = Mode::Confirm(Confirm::Recover(recovered));
        }
    }

    fn replace_document(&mut self, path: Option<PathBuf>, draft: LoadedDraft) {
        // A suggestion or ghost belongs to the text it was asked about.
        self.assistant.suggestion = None;
        self.assistant.focused = false;
        self.ghost = ghost::Ghost::Off;
        self.journal_base = Base::of_text(path.clone(), &draft.text);
        self.doc = Document::from_text(&draft.text);
        self.path = path;
        self.format = draft.format;
        self.disk = draft.fingerprint;
        self.view.top_line = 0;
        self.view.top_row = 0;
        self.view.preferred_col = None;
    }

    pub fn title(&self) -> String {
        self.path.as_ref().map_or_else(
            || "untitled".to_string(),
            |p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            },
        )
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            is_error: false,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            is_error: true,
        });
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Paste(text) => self.on_paste(&text),
            Msg::Resize { width, height } => {
                self.resize(width, height);
                Vec::new()
            }
            Msg::Click { column, row } => {
                self.click(column.into(), row.into());
                Vec::new()
            }
            Msg::Scroll { down } => {
                self.scroll(down);
                Vec::new()
            }
            Msg::Frame => {
                if self.view.follow_pending {
                    self.ensure_cursor_visible();
                }
                Vec::new()
            }
            Msg::Idle => {
                let mut effects: Vec<Effect> = self.journal_effect().into_iter().collect();
                effects.extend(self.request_ghost_if_due(std::time::Instant::now()));
                effects
            }
            Msg::Engine { generation, event } => self.on_engine(generation, event),
            Msg::Terminate => {
                self.should_quit = true;
                let mut effects: Vec<Effect> = self.journal_effect().into_iter().collect();
                effects.push(Effect::Quit);
                effects
            }
            Msg::RestartEngine { generation } => self.on_restart_due(generation),
            Msg::Warning(text) => {
                self.error(text);
                Vec::new()
            }
            Msg::JournalFailed(text) => {
                self.journal_needs_snapshot = true;
                self.error(text);
                Vec::new()
            }
            Msg::SaveFinished { path, result } => self.on_saved(path, result),
            Msg::TemplateExists { name, text } => {
                self.on_template_exists(name, text);
                Vec::new()
            }
            Msg::TemplatesLoaded {
                library,
                warnings,
                note,
            } => {
                self.on_templates_loaded(library, warnings, note);
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
                        self.info(name);
                    }
                    Err(e) => self.error(e),
                }
                Vec::new()
            }
        }
    }

    /// The pending edits for the journal, if any.
    pub fn journal_effect(&mut self) -> Option<Effect> {
        if !self.doc.has_unjournaled() {
            return None;
        }
        let changes = self.doc.take_unjournaled();
        if std::mem::take(&mut self.journal_needs_snapshot) {
            // The journal lost some edits: the whole text stands in for them all.
            return Some(Effect::Journal {
                path: self.path.clone(),
                base: self.journal_base.clone(),
                snapshot: Some(self.doc.text()),
                changes: Vec::new(),
            });
        }
        Some(Effect::Journal {
            path: self.path.clone(),
            base: self.journal_base.clone(),
            snapshot: None,
            changes,
        })
    }

    fn resize(&mut self, width: u16, height: u16) {
        self.screen = (width, height);
        self.relayout();
    }

    pub fn panes(&self) -> Panes {
        let side = self.assistant.suggestion.is_some() || matches!(self.mode, Mode::Settings(_));
        panes(self.screen.0, self.screen.1, side)
    }

    /// Sizes the draft view to its pane (which shrinks while a suggestion is shown).
    fn relayout(&mut self) {
        let (_, _, w, h) = self.panes().draft;
        self.view.width = usize::from(w).max(4);
        self.view.height = usize::from(h).max(1);
        self.ensure_cursor_visible();
    }

    fn on_key(&mut self, key: Key) -> Vec<Effect> {
        match self.mode.clone() {
            Mode::Edit => self.on_edit_key(key),
            Mode::Prompt(prompt) => self.on_prompt_key(prompt, key),
            Mode::Confirm(confirm) => self.on_confirm_key(confirm, key),
            Mode::Palette(palette) => self.on_palette_key(palette, key),
            Mode::Settings(pane) => self.on_settings_key(pane, key),
            Mode::Form(form) => self.on_form_key(form, key),
            Mode::Help { scroll } => {
                let last = help::max_scroll(&self.keymap, self.screen);
                let page = help::visible_rows(self.screen).saturating_sub(1).max(1);
                let scroll = scroll.min(last);
                self.mode = match key.code {
                    KeyCode::Down => Mode::Help {
                        scroll: (scroll + 1).min(last),
                    },
                    KeyCode::Up => Mode::Help {
                        scroll: scroll.saturating_sub(1),
                    },
                    KeyCode::PageDown => Mode::Help {
                        scroll: (scroll + page).min(last),
                    },
                    KeyCode::PageUp => Mode::Help {
                        scroll: scroll.saturating_sub(page),
                    },
                    KeyCode::Home => Mode::Help { scroll: 0 },
                    KeyCode::End => Mode::Help { scroll: last },
                    _ => Mode::Edit,
                };
                Vec::new()
            }
        }
    }

    fn on_edit_key(&mut self, key: Key) -> Vec<Effect> {
        if self.assistant.focused && self.assistant.suggestion.is_some() {
            return self.on_suggestions_key(key);
        }
        let command = self.keymap.command(&key);
        if let Some(effects) = self.on_ghost_key(command, key.typed_char()) {
            return effects;
        }
        // Any other key puts the ghost away (and stops its job), then acts as usual.
        let mut effects = self.clear_ghost();
        if key.code == KeyCode::Esc && !effects.is_empty() {
            return effects;
        }
        if let Some(command) = command {
            effects.extend(self.run(command));
            return effects;
        }
        if key.code == KeyCode::Esc && self.assistant.suggestion.is_some() {
            // Esc stops a stream first; a second Esc dismisses the suggestion.
            let streaming = self
                .assistant
                .suggestion
                .as_ref()
                .is_some_and(|s| s.is_streaming());
            return if streaming {
                self.cancel_generation()
            } else {
                self.reject_suggestion()
            };
        }
        if key.code == KeyCode::Esc {
            let head = self.doc.cursor();
            self.doc.move_to(head, false);
            self.status = None;
            return Vec::new();
        }
        if let Some(c) = key.typed_char() {
            self.doc
                .insert(c.encode_utf8(&mut [0; 4]), EditKind::Typing);
            self.after_edit();
            effects.extend(self.schedule_ghost());
        }
        effects
    }

    /// Keys while the suggestions pane has focus: Enter accepts, Esc cancels or rejects,
    /// `r` regenerates, Left/Right cycle variants, Up/Down scroll; named commands still work.
    fn on_suggestions_key(&mut self, key: Key) -> Vec<Effect> {
        use Command as C;
        let command = match key.code {
            KeyCode::Enter => Some(C::accept_suggestion),
            KeyCode::Esc => Some(C::reject_suggestion),
            KeyCode::Left => Some(C::previous_variant),
            KeyCode::Right => Some(C::next_variant),
            KeyCode::Char('r') if key.typed_char().is_some() => Some(C::regenerate),
            KeyCode::Up | KeyCode::Down => {
                if let Some(s) = &mut self.assistant.suggestion {
                    s.scroll = if key.code == KeyCode::Up {
                        s.scroll.saturating_sub(1)
                    } else {
                        s.scroll + 1
                    };
                }
                return Vec::new();
            }
            _ => self.keymap.command(&key),
        };
        match command {
            Some(C::reject_suggestion)
                if self
                    .assistant
                    .suggestion
                    .as_ref()
                    .is_some_and(|s| s.is_streaming()) =>
            {
                self.cancel_generation()
            }
            Some(command) => self.run(command),
            None => Vec::new(),
        }
    }

    fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        match &mut self.mode {
            Mode::Prompt(prompt) => prompt.input.push_str(text.lines().next().unwrap_or("")),
            Mode::Form(_) => self.on_form_paste(&text),
            Mode::Edit => {
                self.doc.insert(&text, EditKind::Other);
                self.after_edit();
            }
            _ => {}
        }
        Vec::new()
    }

    /// Runs a named command.
    pub fn run(&mut self, command: Command) -> Vec<Effect> {
        use Command as C;
        let keep_col = matches!(
            command,
            C::move_up
                | C::move_down
                | C::page_up
                | C::page_down
                | C::select_up
                | C::select_down
                | C::select_page_up
                | C::select_page_down
        );
        let effects = match command {
            C::move_left | C::select_left => {
                let s = self.doc.selection();
                let extend = command == C::select_left;
                let to = if !extend && !s.is_empty() {
                    s.start()
                } else {
                    grapheme::prev_boundary(self.doc.rope(), s.head)
                };
                self.doc.move_to(to, extend);
                Vec::new()
            }
            C::move_right | C::select_right => {
                let s = self.doc.selection();
                let extend = command == C::select_right;
                let to = if !extend && !s.is_empty() {
                    s.end()
                } else {
                    grapheme::next_boundary(self.doc.rope(), s.head)
                };
                self.doc.move_to(to, extend);
                Vec::new()
            }
            C::move_word_left | C::select_word_left => {
                let to = grapheme::prev_word(self.doc.rope(), self.doc.cursor());
                self.doc.move_to(to, command == C::select_word_left);
                Vec::new()
            }
            C::move_word_right | C::select_word_right => {
                let to = grapheme::next_word(self.doc.rope(), self.doc.cursor());
                self.doc.move_to(to, command == C::select_word_right);
                Vec::new()
            }
            C::move_up | C::select_up => self.move_rows(-1, command == C::select_up),
            C::move_down | C::select_down => self.move_rows(1, command == C::select_down),
            C::page_up | C::select_page_up => {
                let rows = self.page_rows();
                self.move_rows(-rows, command == C::select_page_up)
            }
            C::page_down | C::select_page_down => {
                let rows = self.page_rows();
                self.move_rows(rows, command == C::select_page_down)
            }
            C::move_line_start | C::select_line_start => {
                let (line, row) = self.cursor_row();
                let start = self.doc.rope().line_to_char(line) + row.start;
                self.doc.move_to(start, command == C::select_line_start);
                Vec::new()
            }
            C::move_line_end | C::select_line_end => {
                let (line, row) = self.cursor_row();
                let rows = self.rows(line);
                let is_last = rows.last() == Some(&row);
                let line_start = self.doc.rope().line_to_char(line);
                // On a wrapped row, the end is just before the next row's first character.
                let end = if is_last {
                    row.end
                } else {
                    let text = self.line_text(line);
                    layout::offset_at_col(&text, row, usize::MAX, false)
                };
                self.doc
                    .move_to(line_start + end, command == C::select_line_end);
                Vec::new()
            }
            C::move_doc_start | C::select_doc_start => {
                self.doc.move_to(0, command == C::select_doc_start);
                Vec::new()
            }
            C::move_doc_end | C::select_doc_end => {
                let end = self.doc.len_chars();
                self.doc.move_to(end, command == C::select_doc_end);
                Vec::new()
            }
            C::select_all => {
                let end = self.doc.len_chars();
                self.doc.select(Selection {
                    anchor: 0,
                    head: end,
                });
                Vec::new()
            }
            C::insert_newline => self.edit(|doc| doc.insert("\n", EditKind::Other)),
            C::insert_tab => self.edit(|doc| doc.insert("\t", EditKind::Typing)),
            C::delete_backward => self.edit(Document::delete_backward),
            C::delete_forward => self.edit(Document::delete_forward),
            C::delete_word_backward => self.edit(Document::delete_word_backward),
            C::copy | C::cut => {
                if !self.doc.has_selection() {
                    self.info("nothing selected");
                    return Vec::new();
                }
                self.clipboard = self.doc.selected_text();
                let chars = self.clipboard.chars().count();
                let effects = vec![Effect::Clipboard(self.clipboard.clone())];
                if command == C::cut {
                    self.doc.delete_backward();
                    self.after_edit();
                    self.info(format!("cut {chars} characters"));
                } else {
                    self.info(format!("copied {chars} characters"));
                }
                effects
            }
            C::paste => {
                let text = self.clipboard.clone();
                self.edit(|doc| doc.insert(&text, EditKind::Other))
            }
            C::undo => {
                if !self.doc.undo() {
                    self.info("nothing to undo");
                }
                self.after_edit();
                Vec::new()
            }
            C::redo => {
                if !self.doc.redo() {
                    self.info("nothing to redo");
                }
                self.after_edit();
                Vec::new()
            }
            C::find => {
                self.mode = Mode::Prompt(Prompt {
                    kind: PromptKind::Find,
                    input: self.last_search.clone(),
                });
                Vec::new()
            }
            C::find_next => {
                self.find(true);
                Vec::new()
            }
            C::find_previous => {
                self.find(false);
                Vec::new()
            }
            C::save => self.save(false),
            C::save_as => {
                self.prompt(PromptKind::SaveAs);
                Vec::new()
            }
            C::open => {
                self.prompt(PromptKind::Open);
                Vec::new()
            }
            C::new => self.leave(Then::New),
            C::help => {
                self.mode = Mode::Help { scroll: 0 };
                Vec::new()
            }
            C::quit => self.leave(Then::Quit),
            C::continue_writing => self.ask("continue"),
            C::rewrite_concise => self.ask("rewrite-concise"),
            C::rewrite_formal => self.ask("rewrite-formal"),
            C::rewrite_friendly => self.ask("rewrite-friendly"),
            C::rewrite_persuasive => self.ask("rewrite-persuasive"),
            C::rewrite_grammar => self.ask("rewrite-grammar"),
            C::summarise_tldr => self.ask("summarise-tldr"),
            C::summarise_bullets => self.ask("summarise-bullets"),
            C::accept_suggestion => self.accept_suggestion(),
            C::reject_suggestion => self.reject_suggestion(),
            C::cancel_generation => self.cancel_generation(),
            C::regenerate => self.regenerate(),
            C::next_variant | C::previous_variant => {
                if let Some(s) = &mut self.assistant.suggestion {
                    s.cycle(command == C::next_variant);
                }
                Vec::new()
            }
            C::settings => {
                self.open_settings();
                Vec::new()
            }
            C::restart_model => self.restart_model(),
            C::command_palette => {
                self.mode = Mode::Palette(palette::Palette::default());
                Vec::new()
            }
            C::templates => {
                self.pick_template(palette::Purpose::Templates);
                Vec::new()
            }
            C::new_template => self.new_template_from_text(),
            C::save_template_preset => {
                self.info("open a template's form first (F7), then save it as a preset");
                Vec::new()
            }
            C::edit_template => {
                self.pick_template(palette::Purpose::Edit);
                Vec::new()
            }
            C::delete_template => {
                self.pick_template(palette::Purpose::Delete);
                Vec::new()
            }
            C::focus_next_pane => {
                self.assistant.focused =
                    !self.assistant.focused && self.assistant.suggestion.is_some();
                Vec::new()
            }
        };
        if !keep_col {
            self.view.preferred_col = None;
        }
        self.view.follow_pending = true;
        effects
    }

    fn edit(&mut self, f: impl FnOnce(&mut Document)) -> Vec<Effect> {
        f(&mut self.doc);
        self.after_edit();
        Vec::new()
    }

    pub(crate) fn after_edit(&mut self) {
        self.view.preferred_col = None;
        self.view.follow_pending = true;
    }

    fn prompt(&mut self, kind: PromptKind) {
        let input = match (kind, &self.path) {
            (PromptKind::SaveAs, Some(path)) => path.display().to_string(),
            _ => String::new(),
        };
        self.status = None;
        self.mode = Mode::Prompt(Prompt { kind, input });
    }

    fn on_prompt_key(&mut self, mut prompt: Prompt, key: Key) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Edit;
                // A save asked for on the way to quitting or opening is off, and so is that.
                self.after_save = None;
                self.pending_template = None;
                return Vec::new();
            }
            KeyCode::Enter => {
                self.mode = Mode::Edit;
                return self.submit_prompt(prompt);
            }
            KeyCode::Backspace => {
                prompt.input.pop();
            }
            _ if self.keymap.command(&key) == Some(Command::find_next)
                && prompt.kind == PromptKind::Find =>
            {
                self.mode = Mode::Edit;
                return self.submit_prompt(prompt);
            }
            _ => {
                if let Some(c) = key.typed_char() {
                    prompt.input.push(c);
                }
            }
        }
        self.mode = Mode::Prompt(prompt);
        Vec::new()
    }

    fn submit_prompt(&mut self, prompt: Prompt) -> Vec<Effect> {
        let input = prompt.input.trim().to_string();
        if input.is_empty() {
            return Vec::new();
        }
        match prompt.kind {
            PromptKind::Find => {
                self.last_search = input;
                self.find(true);
                Vec::new()
            }
            PromptKind::SaveAs => {
                let path = expand_home(&input);
                if self.path.as_ref() == Some(&path) {
                    return self.save(false);
                }
                // Another file: ask before replacing one that exists. Nothing about the draft
                // (its name, its journal) changes until the save has succeeded.
                if path.exists() {
                    self.mode = Mode::Confirm(Confirm::Overwrite(path));
                    return Vec::new();
                }
                self.save_to(path, false)
            }
            PromptKind::Open => self.leave(Then::Open(expand_home(&input))),
            PromptKind::TemplateName => self.name_template(&input),
        }
    }

    fn on_confirm_key(&mut self, confirm: Confirm, key: Key) -> Vec<Effect> {
        let answer = key.typed_char().map(|c| c.to_ascii_lowercase());
        let cancel = key.code == KeyCode::Esc || answer == Some('c');
        match confirm {
            Confirm::OverwriteTemplate { .. } | Confirm::DeleteTemplate(_) => {
                self.on_template_confirm(confirm, answer, cancel)
            }
            Confirm::Unsaved(then) => {
                if cancel {
                    self.mode = Mode::Edit;
                    return Vec::new();
                }
                match answer {
                    Some('s' | 'y') => {
                        self.mode = Mode::Edit;
                        self.after_save = Some(then);
                        self.save(false)
                    }
                    Some('d' | 'n') => {
                        self.mode = Mode::Edit;
                        let mut effects = vec![Effect::RemoveJournal {
                            path: self.path.clone(),
                        }];
                        self.doc.take_unjournaled();
                        effects.extend(self.proceed(then));
                        effects
                    }
                    _ => Vec::new(),
                }
            }
            Confirm::Overwrite(path) => match answer {
                Some('o' | 'y') => {
                    self.mode = Mode::Edit;
                    self.save_to(path, true)
                }
                _ if cancel || answer == Some('n') => {
                    self.mode = Mode::Edit;
                    self.after_save = None;
                    self.info("not saved: the file on disk was left as it is");
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Confirm::Recover(recovered) => match answer {
                Some('y' | 'r') => {
                    self.mode = Mode::Edit;
                    let fits = match &recovered.snapshot {
                        // A snapshot is the whole text: it holds whatever the base was.
                        Some(text) => {
                            let len = self.doc.len_chars();
                            self.doc.replace(0, len, text);
                            true
                        }
                        None => recovered.base.matches(&self.doc.text()),
                    };
                    if fits && (recovered.changes.is_empty() || self.doc.replay(&recovered.changes))
                    {
                        let n = recovered.changes.len();
                        self.info(format!("recovered {n} unsaved edits; save to keep them"));
                        self.ensure_cursor_visible();
                        self.journal_effect().into_iter().collect()
                    } else {
                        self.error(
                            "the journal does not match the file (it changed since); nothing \
                             was applied",
                        );
                        Vec::new()
                    }
                }
                Some('n' | 'd') => {
                    self.mode = Mode::Edit;
                    self.info("discarded the unsaved edits");
                    vec![Effect::RemoveJournal {
                        path: self.path.clone(),
                    }]
                }
                _ => Vec::new(),
            },
        }
    }

    /// Quit, open or start anew, asking first about unsaved changes.
    fn leave(&mut self, then: Then) -> Vec<Effect> {
        if self.doc.is_modified() {
            self.mode = Mode::Confirm(Confirm::Unsaved(then));
            return Vec::new();
        }
        self.proceed(then)
    }

    fn proceed(&mut self, then: Then) -> Vec<Effect> {
        match then {
            Then::Quit => {
                self.should_quit = true;
                vec![Effect::Quit]
            }
            Then::Open(path) => vec![Effect::Load(Some(path))],
            Then::New => vec![Effect::Load(None)],
        }
    }

    fn save(&mut self, force: bool) -> Vec<Effect> {
        let Some(path) = self.path.clone() else {
            self.prompt(PromptKind::SaveAs);
            return Vec::new();
        };
        self.save_to(path, force)
    }

    fn save_to(&mut self, path: PathBuf, force: bool) -> Vec<Effect> {
        // The journal first: whatever happens to the save, the edits are durable.
        let mut effects: Vec<Effect> = self.journal_effect().into_iter().collect();
        let text = self.doc.text();
        let is_this_file = self.path.as_ref() == Some(&path);
        self.saving = Some(PendingSave {
            path: path.clone(),
            revision: self.doc.revision(),
            base: Base::of_text(Some(path.clone()), &text),
        });
        effects.push(Effect::Save {
            path,
            text,
            format: self.format,
            // A file that is not this draft's must not appear meanwhile either.
            expect: if is_this_file {
                self.disk.clone()
            } else {
                None
            },
            force,
        });
        effects
    }

    fn on_saved(&mut self, path: PathBuf, result: Result<Fingerprint, SaveFailure>) -> Vec<Effect> {
        match result {
            Ok(fingerprint) => {
                let bytes = fingerprint.len;
                self.disk = Some(fingerprint);
                let pending = self.saving.take().filter(|p| p.path == path);
                match pending {
                    Some(p) => {
                        self.doc.mark_saved_at(p.revision);
                        self.journal_base = p.base;
                    }
                    None => {
                        self.doc.mark_saved();
                        self.journal_base = Base::of_text(Some(path.clone()), &self.doc.text());
                    }
                }
                self.info(format!("saved ({bytes} bytes)"));
                let mut effects = Vec::new();
                // Saved under a new name: the draft is that file now, and the old journal goes.
                if self.path.as_ref() != Some(&path) {
                    let old = self.path.replace(path.clone());
                    effects.push(Effect::RemoveJournal { path: old });
                }
                effects.push(Effect::RemoveJournal { path: Some(path) });
                if let Some(then) = self.after_save.take() {
                    effects.extend(self.proceed(then));
                }
                effects
            }
            Err(SaveFailure::ChangedOnDisk) => {
                self.saving = None;
                self.mode = Mode::Confirm(Confirm::Overwrite(path));
                Vec::new()
            }
            Err(SaveFailure::Failed(message)) => {
                self.saving = None;
                self.after_save = None;
                self.error(message);
                Vec::new()
            }
        }
    }

    fn find(&mut self, forward: bool) {
        if self.last_search.is_empty() {
            self.prompt(PromptKind::Find);
            return;
        }
        let s = self.doc.selection();
        let from = if forward { s.end() } else { s.start() };
        match self.doc.find(&self.last_search, from, forward) {
            Some((start, end)) => {
                self.doc.select(Selection {
                    anchor: start,
                    head: end,
                });
                self.status = None;
            }
            None => self.error(format!("not found: {}", self.last_search)),
        }
        self.ensure_cursor_visible();
    }

    // --- Layout: the draft as visual rows ------------------------------------------------

    /// A logical line's text without its line break.
    pub fn line_text(&self, line: usize) -> String {
        let rope = self.doc.rope();
        if line >= rope.len_lines() {
            return String::new();
        }
        let mut text = rope.line(line).to_string();
        if text.ends_with('\n') {
            text.pop();
        }
        text
    }

    pub fn rows(&self, line: usize) -> Vec<Row> {
        layout::wrap(&self.line_text(line), self.view.width)
    }

    /// The cursor's logical line and the row it is on.
    fn cursor_row(&self) -> (usize, Row) {
        let rope = self.doc.rope();
        let head = self.doc.cursor();
        let line = rope.char_to_line(head);
        let offset = head - rope.line_to_char(line);
        let rows = self.rows(line);
        let row = rows[layout::row_of(&rows, offset)];
        (line, row)
    }

    /// Cursor position on screen within the draft pane (column, row), if visible.
    pub fn cursor_screen(&self) -> Option<(usize, usize)> {
        let rope = self.doc.rope();
        let head = self.doc.cursor();
        let line = rope.char_to_line(head);
        let offset = head - rope.line_to_char(line);
        let text = self.line_text(line);
        let rows = layout::wrap(&text, self.view.width);
        let row_index = layout::row_of(&rows, offset);
        let col = layout::col_of(&text, rows[row_index], offset);
        let y = self.rows_between(self.view_top(), (line, row_index))?;
        (y < self.view.height).then_some((col.min(self.view.width - 1), y))
    }

    /// Visual rows from `from` down to `to`, if `to` is not above `from` and within reach.
    fn rows_between(&self, from: (usize, usize), to: (usize, usize)) -> Option<usize> {
        if to < from {
            return None;
        }
        if from.0 == to.0 {
            return Some(to.1 - from.1);
        }
        // Each line between is wrapped once, and only until the count is past the screen.
        let mut count = self.rows(from.0).len().saturating_sub(from.1);
        for line in from.0 + 1..to.0 {
            if count > self.view.height * 4 {
                return Some(count);
            }
            count += self.rows(line).len();
        }
        Some(count + to.1)
    }

    fn next_row(&self, (line, row): (usize, usize)) -> Option<(usize, usize)> {
        if row + 1 < self.rows(line).len() {
            Some((line, row + 1))
        } else if line + 1 < self.doc.rope().len_lines() {
            Some((line + 1, 0))
        } else {
            None
        }
    }

    fn prev_row(&self, (line, row): (usize, usize)) -> Option<(usize, usize)> {
        if row > 0 {
            Some((line, row - 1))
        } else if line > 0 {
            Some((line - 1, self.rows(line - 1).len() - 1))
        } else {
            None
        }
    }

    fn page_rows(&self) -> isize {
        self.view.height.saturating_sub(2).max(1) as isize
    }

    /// Moves the cursor `delta` visual rows, aiming at the preferred display column.
    fn move_rows(&mut self, delta: isize, extend: bool) -> Vec<Effect> {
        let rope = self.doc.rope();
        let head = self.doc.cursor();
        let line = rope.char_to_line(head);
        let offset = head - rope.line_to_char(line);
        let text = self.line_text(line);
        let rows = layout::wrap(&text, self.view.width);
        let row_index = layout::row_of(&rows, offset);
        let col = *self
            .view
            .preferred_col
            .get_or_insert_with(|| layout::col_of(&text, rows[row_index], offset));
        let mut pos = (line, row_index);
        for _ in 0..delta.unsigned_abs() {
            let next = if delta > 0 {
                self.next_row(pos)
            } else {
                self.prev_row(pos)
            };
            match next {
                Some(p) => pos = p,
                None => {
                    // Past the first or last row: go to the very start or end.
                    let to = if delta > 0 { self.doc.len_chars() } else { 0 };
                    self.doc.move_to(to, extend);
                    return Vec::new();
                }
            }
        }
        let text = self.line_text(pos.0);
        let rows = layout::wrap(&text, self.view.width);
        let is_last = pos.1 + 1 == rows.len();
        let offset = layout::offset_at_col(&text, rows[pos.1], col, is_last);
        let to = self.doc.rope().line_to_char(pos.0) + offset;
        self.doc.move_to(to, extend);
        Vec::new()
    }

    /// Keeps the first visible row inside the text: edits and a wider pane (fewer rows per
    /// line) can leave it pointing past a line's last row.
    /// Scrolls so the cursor is visible with a margin above and below.
    pub fn ensure_cursor_visible(&mut self) {
        (self.view.top_line, self.view.top_row) = self.followed_top();
        self.view.follow_pending = false;
    }

    /// The first visible row as the screen shows it: brought to the cursor if an edit or a
    /// motion is still to be followed.
    pub fn view_top(&self) -> (usize, usize) {
        if self.view.follow_pending {
            self.followed_top()
        } else {
            self.clamped_top()
        }
    }

    /// The stored top row, within the text as it is now.
    fn clamped_top(&self) -> (usize, usize) {
        let lines = self.doc.rope().len_lines();
        if self.view.top_line >= lines {
            return (lines.saturating_sub(1), 0);
        }
        let rows = self.rows(self.view.top_line).len();
        (
            self.view.top_line,
            self.view.top_row.min(rows.saturating_sub(1)),
        )
    }

    /// The top row that shows the cursor with a margin above and below, moving as little as
    /// it can from the stored one.
    fn followed_top(&self) -> (usize, usize) {
        let current = self.clamped_top();
        let (line, row) = self.cursor_row();
        let rows = self.rows(line);
        let cursor = (line, layout::row_of(&rows, row.start));
        let margin = SCROLL_MARGIN.min(self.view.height.saturating_sub(1) / 2);
        // Too high: put the cursor `margin` rows below the top.
        let mut top = cursor;
        for _ in 0..margin {
            match self.prev_row(top) {
                Some(p) => top = p,
                None => break,
            }
        }
        if current > top {
            return top;
        }
        // Too low: the cursor must sit at most `height - 1 - margin` rows below the top.
        let limit = self.view.height.saturating_sub(1 + margin);
        match self.rows_between(current, cursor) {
            Some(n) if n <= limit => current,
            _ => {
                let mut top = cursor;
                for _ in 0..limit {
                    match self.prev_row(top) {
                        Some(p) => top = p,
                        None => break,
                    }
                }
                top
            }
        }
    }

    fn scroll(&mut self, down: bool) {
        let mut top = self.view_top();
        self.view.follow_pending = false;
        for _ in 0..WHEEL_ROWS {
            let next = if down {
                self.next_row(top)
            } else {
                self.prev_row(top)
            };
            match next {
                Some(p) => top = p,
                None => break,
            }
        }
        (self.view.top_line, self.view.top_row) = top;
    }

    fn click(&mut self, column: usize, row: usize) {
        if self.mode != Mode::Edit || row >= self.view.height {
            return;
        }
        // From the view the screen shows, which a wheel scroll may have taken off the cursor.
        let mut pos = self.view_top();
        (self.view.top_line, self.view.top_row) = pos;
        self.view.follow_pending = false;
        for _ in 0..row {
            match self.next_row(pos) {
                Some(p) => pos = p,
                None => break,
            }
        }
        let text = self.line_text(pos.0);
        let rows = layout::wrap(&text, self.view.width);
        let index = pos.1.min(rows.len() - 1);
        let is_last = index + 1 == rows.len();
        let offset = layout::offset_at_col(&text, rows[index], column, is_last);
        let to = self.doc.rope().line_to_char(pos.0) + offset;
        self.doc.move_to(to, false);
        self.view.preferred_col = None;
    }
}

impl App {
    /// An app on `text` with the default keys, as tests and benchmarks set one up.
    pub fn with_text(path: Option<PathBuf>, text: &str, width: u16, height: u16) -> App {
        let (keymap, _) = Keymap::new(&[]);
        let mut app = App::new(keymap, width, height);
        app.open(
            path,
            LoadedDraft {
                text: text.into(),
                format: TextFormat::default(),
                fingerprint: None,
            },
            None,
        );
        app
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::Mods;

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

    #[test]
    fn typing_chinese_then_moving_inside_it() {
        let mut app = app("", 40, 10);
        type_text(&mut app, "我们写文章");
        app.update(key(KeyCode::Left));
        app.update(key(KeyCode::Left));
        type_text(&mut app, "一篇");
        assert_eq!(app.doc.text(), "我们写一篇文章");
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
        assert_eq!(app.doc.cursor(), 13);
        app.update(key(KeyCode::Down));
        assert_eq!(app.doc.cursor(), 22, "clamped to the end of 'xy'");
        app.update(key(KeyCode::Down));
        assert_eq!(app.doc.cursor(), 26, "back to column 3 on the next line");
    }

    #[test]
    fn the_cursor_stays_visible_when_typing_past_the_bottom() {
        let mut app = app("", 20, 6);
        for i in 0..30 {
            type_text(&mut app, &format!("line {i}"));
            app.update(key(KeyCode::Enter));
        }
        let (_, y) = app.cursor_screen().expect("cursor visible");
        assert!(y < app.view.height);
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
            app.mode,
            Mode::Confirm(Confirm::Unsaved(Then::Quit))
        ));
        app.update(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Edit);
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
            app.mode,
            Mode::Prompt(Prompt {
                kind: PromptKind::SaveAs,
                ..
            })
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
        assert!(!app.doc.is_modified());
        assert!(effects.contains(&Effect::RemoveJournal { path: Some(path) }));
    }

    #[test]
    fn save_as_changes_nothing_until_the_save_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("a.md");
        let other = dir.path().join("b.md");
        std::fs::write(&other, "someone's file").unwrap();
        let mut app = app("text", 40, 10);
        app.path = Some(original.clone());
        type_text(&mut app, "x");
        app.update(key(KeyCode::F(12)));
        // Clear the offered name and type the other one.
        for _ in 0..200 {
            app.update(key(KeyCode::Backspace));
        }
        type_text(&mut app, &other.display().to_string());
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            effects.is_empty(),
            "nothing happens before the answer: {effects:?}"
        );
        assert!(matches!(&app.mode, Mode::Confirm(Confirm::Overwrite(p)) if *p == other));
        app.update(key(KeyCode::Char('c')));
        assert_eq!(
            app.path.as_ref(),
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
        app.path = Some(path.clone());
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
        assert!(app.doc.is_modified(), "' later' was never written");
    }

    #[test]
    fn a_burst_of_keys_is_followed_by_the_view_once_and_the_cursor_stays_on_screen() {
        let mut app = app("start\n", 20, 6);
        app.update(key(KeyCode::Down));
        for c in "写作 words ".chars().cycle().take(3000) {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
        assert_eq!(app.doc.len_chars(), 6 + 3000);
        // The screen follows the cursor, wherever the keys left it.
        let (x, y) = app.cursor_screen().expect("the cursor is on screen");
        assert!(y < app.view.height && x <= app.view.width, "({x}, {y})");
        let top = app.view_top();
        app.update(Msg::Frame);
        assert_eq!((app.view.top_line, app.view.top_row), top);
        // A wheel scroll starts from what the screen showed, then typing brings it back.
        app.update(Msg::Scroll { down: false });
        assert!(app.view_top() < top);
        app.update(Msg::Key(Key::plain(KeyCode::Char('!'))));
        assert_eq!(app.view_top(), top);
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
        assert_eq!(app.doc.line_col().0, scrolled.0, "the click's line");
        assert_eq!(app.view_top(), scrolled);
    }

    #[test]
    fn a_wider_pane_never_leaves_the_view_past_a_line() {
        let long = "word ".repeat(60);
        let text = format!("{long}\n{}", "line\n".repeat(30));
        let mut app = app(&text, 30, 8);
        // Scroll to a late row of the long first line, then widen the pane a lot.
        app.view.top_line = 0;
        app.view.top_row = 9;
        app.update(Msg::Resize {
            width: 200,
            height: 8,
        });
        assert!(app.view.top_row < app.rows(app.view.top_line).len());
        app.update(Msg::Click { column: 3, row: 0 });
        app.update(Msg::Scroll { down: true });
    }

    #[test]
    fn a_failed_save_keeps_the_text_and_says_why() {
        let mut app = app("", 20, 6);
        app.path = Some(PathBuf::from("/x/draft.md"));
        type_text(&mut app, "precious");
        app.update(Msg::SaveFinished {
            path: PathBuf::from("/x/draft.md"),
            result: Err(SaveFailure::Failed(
                "could not save: the disk is full".into(),
            )),
        });
        assert_eq!(app.doc.text(), "precious");
        assert!(app.doc.is_modified());
        assert!(
            app.status
                .as_ref()
                .is_some_and(|s| s.is_error && s.text.contains("full"))
        );
    }

    #[test]
    fn recovery_replays_the_journal_when_its_base_matches() {
        let (keymap, _) = Keymap::new(&[]);
        let mut app = App::new(keymap, 20, 6);
        let recovered = Recovered {
            base: Base::of_text(None, "base"),
            snapshot: None,
            changes: vec![crate::document::Change {
                start: 4,
                removed: String::new(),
                inserted: " 恢复".into(),
            }],
        };
        app.open(
            None,
            LoadedDraft {
                text: "base".into(),
                format: TextFormat::default(),
                fingerprint: None,
            },
            Some(recovered),
        );
        assert!(matches!(app.mode, Mode::Confirm(Confirm::Recover(_))));
        let effects = app.update(key(KeyCode::Char('y')));
        assert_eq!(app.doc.text(), "base 恢复");
        assert!(app.doc.is_modified());
        assert!(matches!(effects.as_slice(), [Effect::Journal { .. }]));
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
        let (keymap, _) = Keymap::new(&[]);
        let mut app = App::new(keymap, 20, 6);
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
            LoadedDraft {
                text: "file changed meanwhile".into(),
                format: TextFormat::default(),
                fingerprint: None,
            },
            Some(recovered),
        );
        app.update(key(KeyCode::Char('y')));
        assert_eq!(app.doc.text(), "whole text!");
    }

    #[test]
    fn idle_flushes_pending_edits_to_the_journal_once() {
        let mut app = app("", 20, 6);
        type_text(&mut app, "ab");
        let effects = app.update(Msg::Idle);
        assert!(matches!(&effects[..], [Effect::Journal { changes, .. }] if changes.len() == 2));
        assert!(app.update(Msg::Idle).is_empty());
    }

    #[test]
    fn paste_is_one_undo_step_with_line_endings_normalised() {
        let mut app = app("", 20, 6);
        app.update(Msg::Paste("one\r\ntwo".into()));
        assert_eq!(app.doc.text(), "one\ntwo");
        app.update(Msg::Key(Key::ctrl('z')));
        assert_eq!(app.doc.text(), "");
    }
}
