//! The terminal: lifecycle (raw mode, alternate screen, restored on exit and on panic), the
//! input thread, the event loop (drain every queued message, then draw once, at most ~60 frames
//! a second; block when idle so an idle Quill uses no CPU), and the runner of `Effect`s.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use base64::Engine as _;
use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event, KeyEventKind, KeyModifiers, KeyboardEnhancementFlags, MouseButton, MouseEventKind,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    self, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::app::{App, AssistantSetup, Effect, LoadedDraft, Msg, SaveFailure};
use crate::config::Config;
use crate::document::file::{self, LoadError};
use crate::document::journal::{self, Journal};
use crate::engine::protocol::{Event as EngineEvent, GenerateOptions, Request};
use crate::engine::{Worker, WorkerCommand};
use crate::keymap::{Key, KeyCode, Keymap, Mods};
use crate::ui::{self, theme::ThemeLibrary};

const FRAME: Duration = Duration::from_millis(16);

/// Reads a draft for the editor: a missing file is a new draft at that path; a binary or
/// invalid UTF-8 file is refused before the screen is touched.
pub fn read_draft(path: &Path) -> Result<LoadedDraft, String> {
    match file::load(path) {
        Ok(loaded) => Ok(LoadedDraft {
            text: loaded.text,
            format: loaded.format,
            fingerprint: Some(loaded.fingerprint),
        }),
        Err(LoadError::NotFound) => Ok(LoadedDraft {
            text: String::new(),
            format: file::TextFormat::default(),
            fingerprint: None,
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// What the editor starts with.
pub struct EditorSetup {
    pub path: Option<PathBuf>,
    pub keymap: Keymap,
    pub state_dir: PathBuf,
    /// Config problems to show once the screen is up.
    pub warnings: Vec<String>,
    pub assistant: AssistantSetup,
    pub worker: WorkerCommand,
    /// The settings in force, and the user's file they are saved to.
    pub config: Config,
    pub config_file: PathBuf,
}

/// Runs the editor on `path` (or a new untitled draft) until the writer quits.
pub fn run(setup: EditorSetup) -> Result<(), String> {
    let EditorSetup {
        path,
        keymap,
        state_dir,
        warnings,
        assistant,
        worker,
        config,
        config_file,
    } = setup;
    let draft = match &path {
        Some(p) => read_draft(p)?,
        None => LoadedDraft {
            text: String::new(),
            format: file::TextFormat::default(),
            fingerprint: None,
        },
    };
    let journal_file = journal::journal_path(&state_dir, path.as_deref());
    let recovered = journal::read(&journal_file).map_err(|e| {
        format!(
            "cannot read the crash journal {}: {e}",
            journal_file.display()
        )
    })?;

    let mut terminal = enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    install_panic_hook();
    let size = terminal.size().map_err(|e| e.to_string())?;
    let mut app = App::new(keymap, size.width, size.height);
    app.config = config;
    let themes = ThemeLibrary::load(config_file.parent().map(|d| d.join("themes")).as_deref());
    app.theme_names = themes.names();
    app.open(path, draft, recovered);
    if let Some(first) = warnings.iter().chain(&themes.warnings).next() {
        app.update(Msg::Warning(first.clone()));
    }
    let (tx, rx) = mpsc::channel();
    let mut runner = Runner {
        state_dir,
        journal: None,
        tx: tx.clone(),
        worker_command: worker,
        worker: None,
        config_file,
    };
    let mut startup = VecDeque::from(app.start_assistant(assistant));
    while let Some(effect) = startup.pop_front() {
        for msg in runner.run(effect) {
            startup.extend(app.update(msg));
        }
    }
    spawn_signal_watch(tx.clone());
    spawn_input(tx);
    let result = event_loop(&mut terminal, &mut app, &rx, &mut runner, &themes);
    leave();
    result.map_err(|e| format!("terminal error: {e}"))
}

type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// Whether the kitty keyboard flags were pushed and must be popped on the way out.
static ENHANCED_KEYS: AtomicBool = AtomicBool::new(false);

fn enter() -> io::Result<Term> {
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    execute!(
        stdout,
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableMouseCapture
    )?;
    // Terminals with the kitty keyboard protocol can report Ctrl-Shift-S and friends. Asked
    // before the input thread starts, so the terminal's answer is not taken for a key.
    if matches!(terminal::supports_keyboard_enhancement(), Ok(true)) {
        execute!(
            stdout,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
        ENHANCED_KEYS.store(true, Ordering::SeqCst);
    }
    Terminal::new(CrosstermBackend::new(stdout))
}

/// Puts the terminal back as it was; safe to call twice.
fn leave() {
    if ENHANCED_KEYS.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Restore first, so the message is readable and the shell usable. The journal already
        // holds every edit older than half a second.
        leave();
        previous(info);
    }));
}

/// SIGHUP (the terminal closed) and SIGTERM become a message, so the last edits reach the
/// journal before Quill goes.
fn spawn_signal_watch(tx: Sender<Msg>) {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(Msg::Terminate);
        }
    });
}

fn spawn_input(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let Ok(event) = event::read() else { return };
            if let Some(msg) = translate(event)
                && tx.send(msg).is_err()
            {
                return;
            }
        }
    });
}

/// Terminal events as the app's messages.
fn translate(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            let mods = Mods {
                ctrl: key.modifiers.contains(KeyModifiers::CONTROL),
                alt: key.modifiers.contains(KeyModifiers::ALT),
                shift: key.modifiers.contains(KeyModifiers::SHIFT),
            };
            use crossterm::event::KeyCode as K;
            let code = match key.code {
                K::Char(c) => KeyCode::Char(c),
                K::Left => KeyCode::Left,
                K::Right => KeyCode::Right,
                K::Up => KeyCode::Up,
                K::Down => KeyCode::Down,
                K::Home => KeyCode::Home,
                K::End => KeyCode::End,
                K::PageUp => KeyCode::PageUp,
                K::PageDown => KeyCode::PageDown,
                K::Enter => KeyCode::Enter,
                K::Tab => KeyCode::Tab,
                K::BackTab => KeyCode::BackTab,
                K::Backspace => KeyCode::Backspace,
                K::Delete => KeyCode::Delete,
                K::Insert => KeyCode::Insert,
                K::Esc => KeyCode::Esc,
                K::F(n) => KeyCode::F(n),
                _ => return None,
            };
            Some(Msg::Key(Key { code, mods }.normalized()))
        }
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        Event::Mouse(mouse) => match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Msg::Click {
                column: mouse.column,
                row: mouse.row,
            }),
            MouseEventKind::ScrollDown => Some(Msg::Scroll { down: true }),
            MouseEventKind::ScrollUp => Some(Msg::Scroll { down: false }),
            _ => None,
        },
        _ => None,
    }
}

fn event_loop(
    terminal: &mut Term,
    app: &mut App,
    rx: &Receiver<Msg>,
    runner: &mut Runner,
    themes: &ThemeLibrary,
) -> io::Result<()> {
    // Resolved again only when the name changes (the settings pane switches it live).
    let mut theme_name = app.config.editor.theme.clone();
    let mut theme = themes.get(&theme_name);
    terminal.draw(|f| ui::render(app, &theme, f))?;
    let mut last_draw = Instant::now();
    while let Some(first) = next_message(rx, app) {
        let mut queue = VecDeque::from([first]);
        // Drain what else is waiting, up to the next frame, so a burst of keys draws once.
        let deadline = last_draw + FRAME;
        loop {
            match rx.try_recv() {
                Ok(msg) => queue.push_back(msg),
                Err(_) if Instant::now() >= deadline => break,
                Err(_) => match rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    Ok(msg) => queue.push_back(msg),
                    Err(_) => break,
                },
            }
        }
        while let Some(msg) = queue.pop_front() {
            // An effect's result (a save, a load) is handled before the keys queued after the
            // key that asked for it: they must apply to the state the result describes.
            let mut results = Vec::new();
            for effect in app.update(msg) {
                results.extend(runner.run(effect));
            }
            for result in results.into_iter().rev() {
                queue.push_front(result);
            }
        }
        if app.should_quit {
            // Whatever was typed is in the journal or saved; flush the rest and go.
            if let Some(effect) = app.journal_effect() {
                runner.run(effect);
            }
            break;
        }
        if app.config.editor.theme != theme_name {
            theme_name = app.config.editor.theme.clone();
            theme = themes.get(&theme_name);
        }
        terminal.draw(|f| ui::render(app, &theme, f))?;
        last_draw = Instant::now();
    }
    Ok(())
}

/// Blocks for the next message. While edits wait for the journal or a ghost suggestion waits
/// for its pause, wakes up after the pause instead (`Msg::Idle`); otherwise sleeps until input.
fn next_message(rx: &Receiver<Msg>, app: &App) -> Option<Msg> {
    let journal = app
        .doc
        .has_unjournaled()
        .then(|| Duration::from_millis(app.config.editor.journal_ms));
    let ghost = app
        .ghost_due()
        .map(|due| due.saturating_duration_since(Instant::now()));
    let wait = match (journal, ghost) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match wait {
        Some(wait) => match rx.recv_timeout(wait) {
            Ok(msg) => Some(msg),
            Err(RecvTimeoutError::Timeout) => Some(Msg::Idle),
            Err(RecvTimeoutError::Disconnected) => None,
        },
        None => rx.recv().ok(),
    }
}

/// Runs effects: file and journal I/O, the engine worker, the clipboard.
struct Runner {
    state_dir: PathBuf,
    /// The open journal and the draft path it belongs to.
    journal: Option<(Option<PathBuf>, Journal)>,
    /// Where engine events and timers send their messages.
    tx: Sender<Msg>,
    worker_command: WorkerCommand,
    worker: Option<Worker>,
    config_file: PathBuf,
}

impl Runner {
    fn run(&mut self, effect: Effect) -> Vec<Msg> {
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
            Effect::Load(path) => {
                let result = match &path {
                    None => Ok(LoadedDraft {
                        text: String::new(),
                        format: file::TextFormat::default(),
                        fingerprint: None,
                    }),
                    Some(p) => match file::load(p) {
                        Err(LoadError::NotFound) => Err(format!("{} does not exist", p.display())),
                        other => other
                            .map(|l| LoadedDraft {
                                text: l.text,
                                format: l.format,
                                fingerprint: Some(l.fingerprint),
                            })
                            .map_err(|e| e.to_string()),
                    },
                };
                // Another draft is another journal: close this one (only if the other opens:
                // on failure the writer stays on this draft), and bring that one's back.
                if result.is_ok() {
                    self.journal = None;
                }
                let journal_file = journal::journal_path(&self.state_dir, path.as_deref());
                let journal = journal::read(&journal_file).ok().flatten();
                vec![Msg::Loaded {
                    path,
                    result,
                    journal,
                }]
            }
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
                match self.journal.take() {
                    Some((open_for, journal)) if open_for == path => {
                        let _ = journal.remove();
                    }
                    other => {
                        self.journal = other;
                        let _ = std::fs::remove_file(journal::journal_path(
                            &self.state_dir,
                            path.as_deref(),
                        ));
                    }
                }
                Vec::new()
            }
            Effect::Clipboard(text) => {
                // OSC 52: the terminal puts the text on the system clipboard, even over ssh.
                let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
                let mut out = io::stdout();
                let _ = write!(out, "\x1b]52;c;{encoded}\x07");
                let _ = out.flush();
                Vec::new()
            }
            Effect::StartEngine { generation, params } => {
                // The old worker (if any) is killed; its late events carry an old generation.
                self.worker = None;
                let tx = self.tx.clone();
                let sink = move |event| tx.send(Msg::Engine { generation, event }).is_ok();
                match Worker::spawn(&self.worker_command, sink) {
                    Ok(mut worker) => {
                        let _ = worker.send(&Request::Load(params));
                        self.worker = Some(worker);
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
            Effect::Generate {
                job,
                prompt,
                sampling,
            } => {
                let request = Request::Generate {
                    job,
                    prompt,
                    sampling,
                    options: GenerateOptions::default(),
                };
                // A dead worker's exit event is already on its way; nothing to add here.
                if let Some(worker) = &mut self.worker {
                    let _ = worker.send(&request);
                }
                Vec::new()
            }
            Effect::CancelJob { job } => {
                if let Some(worker) = &mut self.worker {
                    let _ = worker.send(&Request::Cancel { job });
                }
                Vec::new()
            }
            Effect::WriteSetting { key, value } => {
                match crate::config::write_setting(&self.config_file, &key, &value) {
                    Ok(()) => Vec::new(),
                    Err(e) => vec![Msg::Warning(e)],
                }
            }
            Effect::Quit => Vec::new(),
        }
    }

    fn append_journal(
        &mut self,
        path: Option<PathBuf>,
        base: journal::Base,
        snapshot: Option<&str>,
        changes: &[crate::document::Change],
    ) -> io::Result<()> {
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
}

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
