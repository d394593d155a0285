//! What the app reacts to (`Msg`) and what it asks the outside world to do (`Effect`).

use std::path::PathBuf;
use std::time::Duration;

use crate::document::Change;
use crate::document::file::{Fingerprint, TextFormat};
use crate::document::journal::{Base, Recovered};
use crate::engine::protocol::{Event, JobId, LoadParams, Prompt, SamplingParams};
use crate::keymap::Key;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(Key),
    /// Bracketed paste: inserted as one undo step.
    Paste(String),
    Resize {
        width: u16,
        height: u16,
    },
    /// A click at a screen cell.
    Click {
        column: u16,
        row: u16,
    },
    Scroll {
        down: bool,
    },
    /// The terminal went away or Quill was asked to stop (SIGHUP, SIGTERM): journal what is
    /// left and quit without asking. The next start offers to recover it.
    Terminate,
    /// Typing paused: a moment to make the journal durable.
    Idle,
    /// A frame is about to be drawn: the view settles on the cursor, once for all the keys
    /// handled since the last frame.
    Frame,
    /// The result of an `Effect::Save`.
    SaveFinished {
        path: PathBuf,
        result: Result<Fingerprint, SaveFailure>,
    },
    /// An event from the engine worker started as `generation`.
    Engine {
        generation: u64,
        event: Event,
    },
    /// The back-off after a crash is over: time to start the worker again.
    RestartEngine {
        generation: u64,
    },
    /// Writing the journal failed: it was set aside, and the next write must hold the whole
    /// text.
    JournalFailed(String),
    /// Something went wrong outside the app (the journal, a config file): tell the writer.
    Warning(String),
    /// `Effect::SaveTemplate` found a template file of that name already there.
    TemplateExists {
        name: String,
        text: String,
    },
    /// The templates were read again (after a save, an edit or a delete).
    TemplatesLoaded {
        library: crate::prompt::PromptLibrary,
        warnings: Vec<String>,
        /// What was done, for the status bar.
        note: Option<String>,
    },
    /// The result of an `Effect::Load`, with the draft's crash journal if it has one.
    Loaded {
        path: Option<PathBuf>,
        result: Result<LoadedDraft, String>,
        journal: Option<Recovered>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveFailure {
    /// The file on disk is not what was opened or last saved: someone else changed it.
    ChangedOnDisk,
    Failed(String),
}

/// A file read for the editor, with its on-disk state.
#[derive(Debug, Clone)]
pub struct LoadedDraft {
    pub text: String,
    pub format: TextFormat,
    /// `None` for a path that does not exist yet (created on the first save).
    pub fingerprint: Option<Fingerprint>,
    /// Where the cursor was when the writer last left this file (a char index).
    pub cursor: Option<usize>,
}

impl LoadedDraft {
    /// `text` not (yet) on disk: a new draft, or one a test or benchmark starts from.
    pub fn of_text(text: &str) -> Self {
        LoadedDraft {
            text: text.to_string(),
            format: TextFormat::default(),
            fingerprint: None,
            cursor: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Save {
        path: PathBuf,
        text: String,
        format: TextFormat,
        /// Refuse if the file on disk no longer matches this (changed by someone else).
        expect: Option<Fingerprint>,
        force: bool,
    },
    /// Read a file (or, for `None`, start an untitled draft) and its crash journal.
    Load(Option<PathBuf>),
    /// Append changes to the draft's journal, starting it from `base` if there is none yet.
    Journal {
        path: Option<PathBuf>,
        base: Base,
        /// The whole text: start the journal over from it (after a write failed).
        snapshot: Option<String>,
        changes: Vec<Change>,
    },
    /// The draft was saved or discarded: its journal goes.
    RemoveJournal {
        path: Option<PathBuf>,
    },
    /// The writer put off recovering the draft's journal: it goes aside, offered again the
    /// next time the draft opens.
    SetJournalAside {
        path: Option<PathBuf>,
    },
    /// Start (or replace) the worker and load the model; its events come back tagged with
    /// `generation`.
    StartEngine {
        generation: u64,
        params: LoadParams,
    },
    RestartEngineAfter {
        generation: u64,
        delay: Duration,
    },
    /// The engine crashed once too often: let the worker go, and say why in its log.
    StopEngine {
        note: String,
    },
    /// `variants` side by side over one prompt: job ids `job`, `job + 1`, ... (see
    /// `GenerateOptions::variants`).
    Generate {
        job: JobId,
        prompt: Prompt,
        sampling: SamplingParams,
        variants: u32,
        /// Drop the request if its first token has not come within this (ghost text); 0:
        /// no limit.
        deadline_ms: u64,
    },
    CancelJob {
        job: JobId,
    },
    /// Set a value in the user's config.toml, keeping its comments and order.
    WriteSetting {
        key: Vec<String>,
        value: crate::app::overlay::Value,
    },
    /// Write a template to the writer's templates folder; without `overwrite`, an existing file
    /// is left alone and `Msg::TemplateExists` comes back.
    SaveTemplate {
        name: String,
        text: String,
        overwrite: bool,
    },
    DeleteTemplate {
        name: String,
    },
    /// Open the template's file in `$VISUAL`/`$EDITOR` (writing `seed` there first if it does
    /// not exist), then read the templates again.
    EditTemplate {
        name: String,
        seed: Option<String>,
    },
    /// Keep the last values filled in each template's form, for next time.
    RememberTemplateValues(
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    ),
    /// Keep where the cursor is in the file at `path`, for the next time it is opened.
    RememberPosition {
        path: PathBuf,
        cursor: usize,
    },
    /// Keep the writer's recent free-form instructions (Ctrl-K), newest last, for next time.
    RememberAsks(Vec<String>),
    /// Put text on the system clipboard (OSC 52).
    Clipboard(String),
    Quit,
}
