//! The runtime: performs the app's `Effect`s and returns what came of them as `Msg`s. Files
//! (drafts, the crash journal, config.toml, templates) and the engine live here, without a
//! terminal, so the TUI, the assistant benchmark and the tests all run effects the same way.
//! The two effects that need the terminal (the clipboard through OSC 52, a template opened in
//! `$EDITOR`) are the front end's; `run` leaves them alone.

mod dispatch;

pub use dispatch::{handle, run_effects};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use crate::app::{Effect, LoadedDraft, Msg, SaveFailure};
use crate::document::file::{self, LoadError};
use crate::document::journal::{self, Journal};
use crate::engine::protocol::{Event as EngineEvent, GenerateOptions, Request};
use crate::engine::{Connection, Engine};
use crate::prompt::PromptLibrary;
use crate::prompt::store::{SaveError, TemplateStore};

/// Where the runtime keeps things, and the engine it starts.
pub struct RuntimeSetup {
    /// The state folder: crash journals and the last values of template forms.
    pub state_dir: PathBuf,
    /// The user's config.toml, which settings are written to.
    pub config_file: PathBuf,
    /// The writer's templates folder.
    pub templates_dir: PathBuf,
    pub engine: Box<dyn Engine>,
}

pub struct Runtime {
    state_dir: PathBuf,
    /// The open journal and the draft path it belongs to.
    journal: Option<(Option<PathBuf>, Journal)>,
    /// Where engine events and timers send their messages.
    tx: Sender<Msg>,
    engine: Box<dyn Engine>,
    connection: Option<Box<dyn Connection>>,
    config_file: PathBuf,
    templates: TemplateStore,
    /// Where the last values of each template's form are kept.
    values_file: PathBuf,
}

/// The last values filled in each template's form, by template id.
pub type TemplateValues = BTreeMap<String, BTreeMap<String, String>>;

impl Runtime {
    /// A runtime whose engine events and timers arrive on `tx`.
    pub fn new(setup: RuntimeSetup, tx: Sender<Msg>) -> Runtime {
        Runtime {
            values_file: template_values_file(&setup.state_dir),
            state_dir: setup.state_dir,
            journal: None,
            tx,
            engine: setup.engine,
            connection: None,
            config_file: setup.config_file,
            templates: TemplateStore::new(setup.templates_dir),
        }
    }

    /// The templates folder and the last form values, for the app to start with.
    pub fn templates(&self) -> (PromptLibrary, Vec<String>, TemplateValues) {
        let (library, warnings) = PromptLibrary::load(Some(&self.templates.dir));
        (library, warnings, read_template_values(&self.values_file))
    }

    /// The writer's recent free-form instructions, oldest first.
    pub fn asks(&self) -> Vec<String> {
        std::fs::read_to_string(asks_file(&self.state_dir))
            .ok()
            .and_then(|text| toml::from_str::<Asks>(&text).ok())
            .map(|a| a.asks)
            .unwrap_or_default()
    }

    /// Performs `effect`; its results, if any come at once, are returned.
    pub fn run(&mut self, effect: Effect) -> Vec<Msg> {
        match effect {
            Effect::Save { .. }
            | Effect::Load(_)
            | Effect::Journal { .. }
            | Effect::RemoveJournal { .. }
            | Effect::SetJournalAside { .. } => self.run_file(effect),
            Effect::StartEngine { .. }
            | Effect::RestartEngineAfter { .. }
            | Effect::StopEngine { .. }
            | Effect::Generate { .. }
            | Effect::CancelJob { .. } => self.run_engine(effect),
            Effect::WriteSetting { key, value } => {
                match crate::config::write_setting(&self.config_file, &key, &value) {
                    Ok(()) => Vec::new(),
                    Err(e) => vec![Msg::Warning(e)],
                }
            }
            Effect::SaveTemplate { .. }
            | Effect::DeleteTemplate { .. }
            | Effect::RememberTemplateValues(_)
            | Effect::RememberAsks(_) => self.run_templates(effect),
            Effect::RememberPosition { path, cursor } => {
                match remember_position(&self.state_dir, &path, cursor) {
                    Ok(()) => Vec::new(),
                    Err(e) => vec![Msg::Warning(e)],
                }
            }
            // The terminal's: see the module's doc.
            Effect::EditTemplate { .. } | Effect::Clipboard(_) | Effect::Quit => Vec::new(),
        }
    }

    fn run_file(&mut self, effect: Effect) -> Vec<Msg> {
        match effect {
            Effect::Save {
                path,
                text,
                format,
                expect,
                force,
            } => {
                let result = save(&path, &text, format, expect.as_ref(), force);
                vec![Msg::SaveFinished { path, result }]
            }
            Effect::Load(path) => vec![self.load(path)],
            Effect::Journal {
                path,
                base,
                snapshot,
                changes,
            } => match self.append_journal(path.clone(), base, snapshot.as_deref(), &changes) {
                Ok(()) => Vec::new(),
                Err(e) => {
                    // A journal with a gap would replay into wrong text: set it aside; the app
                    // starts the next one from the whole text.
                    self.journal = None;
                    let _ = std::fs::remove_file(journal::journal_path(
                        &self.state_dir,
                        path.as_deref(),
                    ));
                    vec![Msg::JournalFailed(format!(
                        "cannot write the crash journal ({e}); save often"
                    ))]
                }
            },
            Effect::RemoveJournal { path } => {
                self.remove_journal(path);
                Vec::new()
            }
            Effect::SetJournalAside { path } => {
                if matches!(&self.journal, Some((open_for, _)) if *open_for == path) {
                    self.journal = None;
                }
                let file = journal::journal_path(&self.state_dir, path.as_deref());
                match journal::set_aside(&file) {
                    Ok(_) => Vec::new(),
                    Err(e) => vec![Msg::JournalFailed(format!(
                        "cannot set the unsaved edits aside ({e}); they stay in {}",
                        file.display()
                    ))],
                }
            }
            _ => Vec::new(),
        }
    }

    /// Reads another draft (or starts an untitled one) and its journal.
    fn load(&mut self, path: Option<PathBuf>) -> Msg {
        let result = match &path {
            None => Ok(empty_draft()),
            Some(p) => match file::load(p) {
                Err(LoadError::NotFound) => Err(format!("{} does not exist", p.display())),
                other => other
                    .map(|f| LoadedDraft {
                        cursor: remembered_position(&self.state_dir, p),
                        ..loaded(f)
                    })
                    .map_err(|e| e.to_string()),
            },
        };
        // Another draft is another journal: close this one (only if the other opens: on
        // failure the writer stays on this draft), and bring that one's back.
        if result.is_ok() {
            self.journal = None;
        }
        let journal_file = journal::journal_path(&self.state_dir, path.as_deref());
        // One the writer set aside earlier is asked about again.
        let _ = journal::restore_kept(&journal_file);
        let journal = journal::read(&journal_file).ok().flatten();
        Msg::Loaded {
            path,
            result,
            journal,
        }
    }

    fn remove_journal(&mut self, path: Option<PathBuf>) {
        match self.journal.take() {
            Some((open_for, journal)) if open_for == path => {
                let _ = journal.remove();
            }
            other => {
                self.journal = other;
                let _ =
                    std::fs::remove_file(journal::journal_path(&self.state_dir, path.as_deref()));
            }
        }
    }

    fn append_journal(
        &mut self,
        path: Option<PathBuf>,
        base: journal::Base,
        snapshot: Option<&str>,
        changes: &[crate::document::Change],
    ) -> std::io::Result<()> {
        let is_open = matches!(&self.journal, Some((open_for, _)) if *open_for == path);
        if !is_open || snapshot.is_some() {
            let file = journal::journal_path(&self.state_dir, path.as_deref());
            self.journal = None;
            self.journal = Some((path, Journal::create(&file, base, snapshot)?));
        }
        match &mut self.journal {
            Some((_, journal)) => journal.append(changes),
            None => Ok(()),
        }
    }

    fn run_engine(&mut self, effect: Effect) -> Vec<Msg> {
        match effect {
            Effect::StartEngine { generation, params } => {
                // The old engine (if any) goes; its late events carry an old generation.
                self.connection = None;
                if let Err(reason) = self.engine.check(&params) {
                    return vec![Msg::Engine {
                        generation,
                        event: EngineEvent::ModelLoadFailed { reason },
                    }];
                }
                let tx = self.tx.clone();
                let sink =
                    Box::new(move |event| tx.send(Msg::Engine { generation, event }).is_ok());
                match self.engine.connect(sink) {
                    Ok(mut connection) => {
                        let _ = connection.send(&Request::Load(params));
                        self.connection = Some(connection);
                        Vec::new()
                    }
                    Err(e) => vec![Msg::Engine {
                        generation,
                        event: EngineEvent::ModelLoadFailed {
                            reason: format!("{e:#}"),
                        },
                    }],
                }
            }
            Effect::RestartEngineAfter { generation, delay } => {
                let tx = self.tx.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let _ = tx.send(Msg::RestartEngine { generation });
                });
                Vec::new()
            }
            Effect::StopEngine { note } => {
                self.connection = None;
                self.engine
                    .note(&format!("quill: not restarting the worker: {note}"));
                Vec::new()
            }
            Effect::Generate {
                job,
                prompt,
                sampling,
                variants,
                deadline_ms,
            } => {
                self.send(&Request::Generate {
                    job,
                    prompt,
                    sampling,
                    options: GenerateOptions {
                        variants,
                        deadline_ms,
                        ..GenerateOptions::default()
                    },
                });
                Vec::new()
            }
            Effect::CancelJob { job } => {
                self.send(&Request::Cancel { job });
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn send(&mut self, request: &Request) {
        // A dead engine's exit event is already on its way; nothing to add here.
        if let Some(connection) = &mut self.connection {
            let _ = connection.send(request);
        }
    }

    fn run_templates(&mut self, effect: Effect) -> Vec<Msg> {
        match effect {
            Effect::SaveTemplate {
                name,
                text,
                overwrite,
            } => match self.templates.save(&name, &text, overwrite) {
                Ok(path) => vec![
                    self.reload_templates(format!("saved template {name} to {}", path.display())),
                ],
                Err(SaveError::Exists(_)) => vec![Msg::TemplateExists { name, text }],
                Err(SaveError::Failed(reason)) => {
                    vec![Msg::Warning(format!("template {name} not saved: {reason}"))]
                }
            },
            Effect::DeleteTemplate { name } => match self.templates.delete(&name) {
                Ok(path) => vec![self.reload_templates(format!("deleted {}", path.display()))],
                Err(reason) => vec![Msg::Warning(reason)],
            },
            Effect::RememberTemplateValues(values) => {
                match write_template_values(&self.values_file, &values) {
                    Ok(()) => Vec::new(),
                    Err(e) => vec![Msg::Warning(e)],
                }
            }
            Effect::RememberAsks(asks) => {
                let file = asks_file(&self.state_dir);
                match write_state(&file, &Asks { asks }, "the recent asks") {
                    Ok(()) => Vec::new(),
                    Err(e) => vec![Msg::Warning(e)],
                }
            }
            _ => Vec::new(),
        }
    }

    /// Reads the templates again, with `note` saying what changed.
    pub fn reload_templates(&self, note: String) -> Msg {
        let (library, warnings) = PromptLibrary::load(Some(&self.templates.dir));
        Msg::TemplatesLoaded {
            library,
            warnings,
            note: Some(note),
        }
    }

    /// The file of template `name` to open in an editor, written from `seed` first when it
    /// does not exist yet (a built-in, copied to the writer's folder to be changed there).
    pub fn template_file_to_edit(&self, name: &str, seed: Option<&str>) -> Result<PathBuf, String> {
        let path = self.templates.path_of(name)?;
        if let Some(seed) = seed
            && !path.exists()
            && let Err(e) = self.templates.save(name, seed, false)
        {
            return Err(format!("cannot copy {name} to edit it: {e}"));
        }
        Ok(path)
    }
}

/// Reads a draft for the editor: a missing file is a new draft at that path; a binary or
/// invalid UTF-8 file is refused.
pub fn read_draft(path: &Path) -> Result<LoadedDraft, String> {
    match file::load(path) {
        Ok(loaded_file) => Ok(loaded(loaded_file)),
        Err(LoadError::NotFound) => Ok(empty_draft()),
        Err(e) => Err(e.to_string()),
    }
}

fn loaded(file: file::LoadedFile) -> LoadedDraft {
    LoadedDraft {
        text: file.text,
        format: file.format,
        fingerprint: Some(file.fingerprint),
        cursor: None,
    }
}

/// The file of where the cursor was in each file, in the state folder.
fn positions_file(state_dir: &Path) -> PathBuf {
    state_dir.join("positions.toml")
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Positions {
    /// A file's absolute path -> the cursor's char index when the writer left it.
    positions: BTreeMap<String, usize>,
}

/// How many files' positions are kept.
const POSITIONS_KEPT: usize = 500;

fn read_positions(state_dir: &Path) -> Positions {
    std::fs::read_to_string(positions_file(state_dir))
        .ok()
        .and_then(|text| toml::from_str(&text).ok())
        .unwrap_or_default()
}

fn position_key(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Where the cursor was when the writer last left `path`.
pub fn remembered_position(state_dir: &Path, path: &Path) -> Option<usize> {
    read_positions(state_dir)
        .positions
        .get(&position_key(path))
        .copied()
}

fn remember_position(state_dir: &Path, path: &Path, cursor: usize) -> Result<(), String> {
    let mut all = read_positions(state_dir);
    all.positions.insert(position_key(path), cursor);
    while all.positions.len() > POSITIONS_KEPT {
        let Some(first) = all.positions.keys().next().cloned() else {
            break;
        };
        all.positions.remove(&first);
    }
    write_state(&positions_file(state_dir), &all, "the cursor positions")
}

pub fn empty_draft() -> LoadedDraft {
    LoadedDraft::of_text("")
}

/// The file of each template's last form values, in the state folder.
fn template_values_file(state_dir: &Path) -> PathBuf {
    state_dir.join("template-values.toml")
}

/// Last values are a convenience: a missing or unreadable file is an empty one.
fn read_template_values(path: &Path) -> TemplateValues {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_template_values(path: &Path, values: &TemplateValues) -> Result<(), String> {
    write_state(path, values, "the form values")
}

/// The recent asks' file, in the state folder.
fn asks_file(state_dir: &Path) -> PathBuf {
    state_dir.join("asks.toml")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Asks {
    asks: Vec<String>,
}

/// Writes a convenience file of the state folder whole (a temporary file renamed over it).
fn write_state(path: &Path, value: &impl serde::Serialize, what: &str) -> Result<(), String> {
    let text = toml::to_string(value).map_err(|e| format!("cannot keep {what}: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot keep {what} in {}: {e}", dir.display()))?;
    }
    let temp = path.with_extension("toml.tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| format!("cannot keep {what} in {}: {e}", path.display()))
}

/// Saves unless the file on disk changed since `expect` (someone else wrote it) and `force`
/// is off.
fn save(
    path: &Path,
    text: &str,
    format: file::TextFormat,
    expect: Option<&file::Fingerprint>,
    force: bool,
) -> Result<file::Fingerprint, SaveFailure> {
    if !force {
        let now = file::fingerprint(path).map_err(|e| {
            SaveFailure::Failed(format!(
                "cannot check {} before saving: {e}",
                path.display()
            ))
        })?;
        let changed = match (expect, &now) {
            (Some(expected), Some(now)) => !expected.same_content(now),
            (Some(_), None) => false, // deleted meanwhile: saving recreates it
            (None, Some(_)) => true,  // created by someone else meanwhile
            (None, None) => false,
        };
        if changed {
            return Err(SaveFailure::ChangedOnDisk);
        }
    }
    file::save(path, text, format).map_err(SaveFailure::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(dir: &Path, engine: Box<dyn Engine>) -> (Runtime, std::sync::mpsc::Receiver<Msg>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let setup = RuntimeSetup {
            state_dir: dir.join("state"),
            config_file: dir.join("config.toml"),
            templates_dir: dir.join("templates"),
            engine,
        };
        (Runtime::new(setup, tx), rx)
    }

    #[test]
    fn a_missing_model_is_reported_with_what_to_do_and_no_worker_is_started() {
        let dir = tempfile::tempdir().unwrap();
        // A worker program that is not there: starting one would fail with another message.
        let engine = crate::engine::WorkerCommand {
            program: dir.path().join("no-such-quill"),
            log_file: dir.path().join("worker.log"),
            env: Vec::new(),
        };
        let (mut runtime, _rx) = runtime(dir.path(), Box::new(engine));
        let msgs = runtime.run(Effect::StartEngine {
            generation: 3,
            params: crate::engine::protocol::LoadParams {
                model: dir.path().join("missing.gguf"),
                n_ctx: 512,
                n_threads: 1,
                n_gpu_layers: 0,
                flash_attention: Default::default(),
                prompt_lookup: true,
                remote: None,
            },
        });
        let [
            Msg::Engine {
                generation: 3,
                event: EngineEvent::ModelLoadFailed { reason },
            },
        ] = msgs.as_slice()
        else {
            panic!("{msgs:?}");
        };
        assert!(
            reason.contains("no model file") && reason.contains("make model"),
            "{reason}"
        );
    }

    #[test]
    fn saving_over_a_file_that_is_not_the_drafts_is_refused_until_forced() {
        let dir = tempfile::tempdir().unwrap();
        let (mut runtime, _rx) = runtime(dir.path(), Box::new(NoEngine));
        let other = dir.path().join("other.md");
        std::fs::write(&other, "someone's words").unwrap();
        let save = |force| Effect::Save {
            path: other.clone(),
            text: "mine".into(),
            format: file::TextFormat::default(),
            expect: None,
            force,
        };
        let msgs = runtime.run(save(false));
        assert!(
            matches!(
                msgs.as_slice(),
                [Msg::SaveFinished {
                    result: Err(SaveFailure::ChangedOnDisk),
                    ..
                }]
            ),
            "{msgs:?}"
        );
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "someone's words");
        let msgs = runtime.run(save(true));
        assert!(
            matches!(msgs.as_slice(), [Msg::SaveFinished { result: Ok(_), .. }]),
            "{msgs:?}"
        );
        // A new text ends with a line break on disk.
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "mine\n");
    }

    /// An engine that is never started.
    struct NoEngine;

    impl Engine for NoEngine {
        fn connect(&self, _sink: crate::engine::EventSink) -> anyhow::Result<Box<dyn Connection>> {
            anyhow::bail!("no engine in this test")
        }

        fn note(&self, _line: &str) {}
    }

    #[test]
    fn the_cursor_position_is_kept_per_file_and_comes_back_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let (mut runtime, _rx) = runtime(dir.path(), Box::new(NoEngine));
        let a = dir.path().join("a.md");
        let b = dir.path().join("b.md");
        std::fs::write(&a, "0123456789").unwrap();
        std::fs::write(&b, "short").unwrap();
        assert_eq!(remembered_position(&state, &a), None);
        runtime.run(Effect::RememberPosition {
            path: a.clone(),
            cursor: 7,
        });
        runtime.run(Effect::RememberPosition {
            path: b.clone(),
            cursor: 3,
        });
        assert_eq!(remembered_position(&state, &a), Some(7));
        let Msg::Loaded {
            result: Ok(draft), ..
        } = runtime.load(Some(a.clone()))
        else {
            panic!("a.md loads");
        };
        assert_eq!(draft.cursor, Some(7));
        // The editor puts the cursor there, or at the end of a file that got shorter.
        let mut app = crate::app::App::with_text(None, "", 80, 20);
        app.open(Some(a.clone()), draft, None);
        assert_eq!(app.editor().doc().cursor(), 7);
        let short = LoadedDraft {
            cursor: Some(99),
            ..read_draft(&b).unwrap()
        };
        app.open(Some(b.clone()), short, None);
        assert_eq!(app.editor().doc().cursor(), 5);
        // Leaving says where the cursor was.
        let effects = app.update(Msg::Key(crate::keymap::Key::ctrl('q')));
        assert!(
            effects.contains(&Effect::RememberPosition {
                path: b.clone(),
                cursor: 5
            }),
            "{effects:?}"
        );
    }

    #[test]
    fn form_values_are_kept_between_runs_and_a_bad_file_is_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = template_values_file(&dir.path().join("state"));
        assert!(read_template_values(&file).is_empty(), "none yet");
        let values = TemplateValues::from([(
            "tagline".to_string(),
            BTreeMap::from([("product".to_string(), "Quill \"写作\"\n".to_string())]),
        )]);
        write_template_values(&file, &values).unwrap();
        assert_eq!(read_template_values(&file), values);
        std::fs::write(&file, "[tagline\nproduct = ").unwrap();
        assert!(read_template_values(&file).is_empty());
    }
}
