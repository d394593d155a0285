//! Overlays: what opens over the draft and takes the keyboard (help, the palette, settings, a
//! template's form, the prompt line, a question). Each is a component held in place in the
//! app, with its own keymap mode; it handles a key and says what should come of it as an
//! `Outcome`, which the app carries out. None of them changes anything else itself.

pub mod form;
pub mod help;
pub mod palette;
pub mod settings;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::line_input::LineInput;
use crate::command::Command;
use crate::config::Config;
use crate::document::journal::Recovered;
use crate::keymap::{Action, Key, Keymaps, Mode};
use crate::prompt::PromptLibrary;

/// The prompt a free-form instruction runs through (`prompts/ask.toml`, or the writer's own).
pub const ASK_PROMPT: &str = "ask";

pub use form::TemplateForm;
pub use help::Help;
pub use palette::{Palette, Purpose};
pub use settings::{Field, SettingsPane, Value};

/// What the overlays read to handle a key or to be drawn.
pub struct OverlayCx<'a> {
    pub keys: &'a Keymaps,
    pub config: &'a Config,
    pub prompts: &'a PromptLibrary,
    pub themes: &'a [String],
    pub screen: (u16, u16),
}

/// What an overlay's key came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing for the app to do; the overlay stays.
    Stay,
    /// The overlay is done.
    Close,
    /// The overlay stays, and the app does this.
    Keep(Intent),
    /// The overlay is done, and the app does this (which may open another).
    Then(Intent),
}

/// What an overlay asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Run a command or a prompt, as its key would.
    Run(Action),
    /// A template from the picker: its form, or straight away when it has no fields.
    OpenTemplate(String),
    EditTemplate(String),
    DeleteTemplate(String),
    SetTheme(String),
    /// A setting's new value, checked: apply it and write it to config.toml.
    Set(Field, Value),
    /// Tell the writer (a value that does not fit, a required field left empty).
    Error(String),
    /// A filled form: run the template with these values, and remember them.
    RunTemplate {
        id: String,
        values: BTreeMap<String, String>,
    },
    /// The brief's form, filled: write it into the draft's front matter.
    SetBrief(BTreeMap<String, String>),
    /// A filled form, to keep as a preset under a name still to be asked for.
    SavePreset {
        id: String,
        values: BTreeMap<String, String>,
    },
    /// The prompt line's answer.
    Answer(Question, String),
    /// The prompt line closed without one.
    Cancelled(Question),
    /// The answer to the question on show (the app holds the question).
    Choose(Answer),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help(Help),
    Palette(Palette),
    Settings(SettingsPane),
    Form(TemplateForm),
    MiniBuffer(MiniBuffer),
    Confirm(Confirm),
}

impl Overlay {
    /// The keymap mode it listens in.
    pub fn mode(&self) -> Mode {
        match self {
            Overlay::Help(_) => Mode::Help,
            Overlay::Palette(_) => Mode::Palette,
            Overlay::Settings(_) => Mode::Settings,
            Overlay::Form(_) => Mode::Form,
            Overlay::MiniBuffer(_) => Mode::Prompt,
            Overlay::Confirm(_) => Mode::Confirm,
        }
    }

    pub fn on_key(&mut self, key: &Key, cx: &OverlayCx) -> Outcome {
        let action = cx.keys.action(self.mode(), key);
        let command = match action {
            Some(Action::Command(c)) => Some(*c),
            _ => None,
        };
        match self {
            Overlay::Help(help) => help.on_key(command, cx),
            Overlay::Palette(palette) => palette.on_key(command, key, cx),
            Overlay::Settings(pane) => pane.on_key(command, key, cx),
            Overlay::Form(form) => form.on_key(command, key),
            Overlay::MiniBuffer(mini) => mini.on_key(command, key),
            Overlay::Confirm(confirm) => confirm.on_key(command),
        }
    }

    /// Pasted text goes to the line being typed, if there is one.
    pub fn on_paste(&mut self, text: &str) {
        let line = text.lines().next().unwrap_or("");
        match self {
            Overlay::Palette(palette) => palette.query.insert(line),
            Overlay::Form(form) => form.paste(text),
            Overlay::MiniBuffer(mini) => mini.input.insert(line),
            Overlay::Settings(pane) => {
                if let Some(editing) = &mut pane.editing {
                    editing.insert(line);
                }
            }
            Overlay::Help(_) | Overlay::Confirm(_) => {}
        }
    }
}

/// What the prompt line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    Find,
    SaveAs,
    Open,
    /// The name for a new template (see `Assistant::pending_template`).
    TemplateName,
    /// A free-form instruction for the selection or the whole draft.
    Ask,
}

impl Question {
    pub fn label(self) -> &'static str {
        match self {
            Question::SaveAs => "Save as: ",
            Question::Open => "Open: ",
            Question::Find => "Find: ",
            Question::TemplateName => "Template name (letters, digits, - and _): ",
            Question::Ask => "Ask: ",
        }
    }
}

/// The prompt line: one line to type, for a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniBuffer {
    pub question: Question,
    pub input: LineInput,
    /// Earlier answers, oldest first, to step through with Up and Down.
    history: Vec<String>,
    /// The earlier answer on show (an index into `history`), and what was typed before.
    browsing: Option<(usize, String)>,
}

impl MiniBuffer {
    pub fn new(question: Question, text: &str) -> Self {
        MiniBuffer {
            question,
            input: LineInput::new(text),
            history: Vec::new(),
            browsing: None,
        }
    }

    /// An empty line with `history` (oldest first) behind it.
    pub fn with_history(question: Question, history: Vec<String>) -> Self {
        MiniBuffer {
            history,
            ..MiniBuffer::new(question, "")
        }
    }

    /// Up (`older`) or Down through the earlier answers; Down past the newest gives back what
    /// was typed.
    fn browse(&mut self, older: bool) {
        let next = match (&self.browsing, older) {
            (None, true) => self.history.len().checked_sub(1),
            (None, false) => return,
            (Some((i, _)), true) => Some(i.saturating_sub(1)),
            (Some((i, _)), false) => Some(i + 1).filter(|n| *n < self.history.len()),
        };
        match next {
            Some(i) => {
                let typed = match self.browsing.take() {
                    Some((_, typed)) => typed,
                    None => self.input.text.clone(),
                };
                self.input = LineInput::new(&self.history[i]);
                self.browsing = Some((i, typed));
            }
            None => {
                if let Some((_, typed)) = self.browsing.take() {
                    self.input = LineInput::new(&typed);
                }
            }
        }
    }

    fn on_key(&mut self, command: Option<Command>, key: &Key) -> Outcome {
        match command {
            Some(Command::select_previous | Command::select_next) if !self.history.is_empty() => {
                self.browse(command == Some(Command::select_previous));
                Outcome::Stay
            }
            Some(Command::save_template_preset) if self.question == Question::Ask => {
                let instruction = self.input.text.trim().to_string();
                if instruction.is_empty() {
                    return Outcome::Stay;
                }
                Outcome::Then(Intent::SavePreset {
                    id: ASK_PROMPT.to_string(),
                    values: [("instruction".to_string(), instruction)].into(),
                })
            }
            Some(Command::submit) => Outcome::Then(Intent::Answer(
                self.question,
                std::mem::take(&mut self.input.text),
            )),
            Some(Command::cancel) => Outcome::Then(Intent::Cancelled(self.question)),
            _ => {
                self.input.edit(command, key);
                Outcome::Stay
            }
        }
    }
}

impl From<MiniBuffer> for Overlay {
    fn from(mini: MiniBuffer) -> Overlay {
        Overlay::MiniBuffer(mini)
    }
}

/// How a confirmed question was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Save,
    Discard,
    Overwrite,
    Cancel,
}

/// What to do once unsaved changes are dealt with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    Quit,
    Open(PathBuf),
    New,
}

/// A question for the writer.
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

impl Confirm {
    /// The answers this question takes, each with its command and what the hint calls it.
    pub fn answers(&self) -> &'static [(Command, Answer, &'static str)] {
        use Command as C;
        match self {
            Confirm::Unsaved(_) => &[
                (C::choose_save, Answer::Save, "save"),
                (C::choose_discard, Answer::Discard, "discard"),
                (C::choose_yes, Answer::Save, "save"),
                (C::choose_no, Answer::Discard, "discard"),
                (C::cancel, Answer::Cancel, "cancel"),
            ],
            Confirm::Overwrite(_) | Confirm::OverwriteTemplate { .. } => &[
                (C::choose_overwrite, Answer::Overwrite, "overwrite"),
                (C::choose_no, Answer::No, "keep it"),
                (C::cancel, Answer::Cancel, "cancel"),
            ],
            // Put off, they are kept aside and asked about again; only discard removes them.
            Confirm::Recover(_) => &[
                (C::choose_yes, Answer::Yes, "recover"),
                (C::choose_no, Answer::No, "not now"),
                (C::choose_discard, Answer::Discard, "discard them"),
                (C::cancel, Answer::No, "not now"),
            ],
            Confirm::DeleteTemplate(_) => &[
                (C::choose_yes, Answer::Yes, "delete"),
                (C::choose_no, Answer::No, "keep it"),
                (C::cancel, Answer::Cancel, "cancel"),
            ],
        }
    }

    fn on_key(&self, command: Option<Command>) -> Outcome {
        let answer = self
            .answers()
            .iter()
            .find(|(c, _, _)| Some(*c) == command)
            .map(|(_, a, _)| *a);
        match answer {
            Some(answer) => Outcome::Then(Intent::Choose(answer)),
            None => Outcome::Stay,
        }
    }
}

impl From<Confirm> for Overlay {
    fn from(confirm: Confirm) -> Overlay {
        Overlay::Confirm(confirm)
    }
}
