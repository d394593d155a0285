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

use crate::app::{App, AssistantSetup, Effect, Msg};
use crate::config::Config;
use crate::document::journal;
use crate::engine::WorkerCommand;
use crate::keymap::{Key, KeyCode, Keymaps, Mode, Mods};
use crate::runtime::{self, Runtime, RuntimeSetup};
use crate::sanitize::strip_controls;
use crate::ui::{self, theme::ThemeLibrary};

const FRAME: Duration = Duration::from_millis(16);

/// What the editor starts with.
pub struct EditorSetup {
    pub path: Option<PathBuf>,
    pub keymap: Keymaps,
    pub state_dir: PathBuf,
    /// Config problems to show once the screen is up.
    pub warnings: Vec<String>,
    pub assistant: AssistantSetup,
    pub worker: WorkerCommand,
    /// The settings in force, and the user's file they are saved to.
    pub config: Config,
    pub config_file: PathBuf,
    /// The writer's templates folder.
    pub templates_dir: PathBuf,
}

/// Runs the editor on `path` (or a new untitled draft) until the writer quits.
pub fn run(setup: EditorSetup) -> Result<(), String> {
    // Read before the screen is touched: a file that cannot be opened is said on the shell.
    let draft = match &setup.path {
        Some(p) => crate::app::LoadedDraft {
            cursor: runtime::remembered_position(&setup.state_dir, p),
            ..runtime::read_draft(p)?
        },
        None => runtime::empty_draft(),
    };
    let journal_file = journal::journal_path(&setup.state_dir, setup.path.as_deref());
    // Edits the writer put off recovering are asked about again.
    let _ = journal::restore_kept(&journal_file);
    let recovered = journal::read(&journal_file).map_err(|e| {
        format!(
            "cannot read the crash journal {}: {e}",
            journal_file.display()
        )
    })?;
    let mut terminal = enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    install_panic_hook();
    let size = terminal.size().map_err(|e| e.to_string())?;
    let themes = ThemeLibrary::load(
        setup
            .config_file
            .parent()
            .map(|d| d.join("themes"))
            .as_deref(),
    );
    let (tx, rx) = mpsc::channel();
    let mut runtime = Runtime::new(
        RuntimeSetup {
            state_dir: setup.state_dir,
            config_file: setup.config_file,
            templates_dir: setup.templates_dir,
            engine: Box::new(crate::engine::Engines::new(setup.worker)),
        },
        tx.clone(),
    );
    let mut keys = setup.keymap;
    keys.set_kitty_protocol(ENHANCED_KEYS.load(Ordering::SeqCst));
    let mut app = App::new(keys, setup.config, size.width, size.height);
    app.set_themes(themes.names());
    app.open(setup.path, draft, recovered);
    let (library, template_warnings, values) = runtime.templates();
    app.set_library(library, values);
    app.set_asks(runtime.asks());
    // The first problem found, on screen once it is up.
    let warnings = setup.warnings.iter().chain(&themes.warnings);
    if let Some(first) = warnings.chain(&template_warnings).next() {
        app.update(Msg::Warning(first.clone()));
    }
    let effects = app.start_assistant(setup.assistant);
    runtime::run_effects(&mut app, effects, |effect| runtime.run(effect));
    spawn_signal_watch(tx.clone());
    spawn_input(tx);
    let result = event_loop(&mut terminal, &mut app, &rx, &mut runtime, &themes);
    leave();
    result.map_err(|e| format!("terminal error: {e}"))
}

/// `quill keys`: prints the name of each key as Quill receives it from this terminal, and the
/// command it runs, until Ctrl-D. For remapping keys, and for finding out which keys a
/// terminal cannot deliver.
pub fn show_keys(keymap: Keymaps) -> Result<(), String> {
    enable_raw_mode().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    install_panic_hook();
    let mut out = io::stdout();
    let kitty = matches!(terminal::supports_keyboard_enhancement(), Ok(true));
    if kitty {
        let _ = execute!(
            out,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        );
        ENHANCED_KEYS.store(true, Ordering::SeqCst);
    }
    let _ = execute!(out, EnableBracketedPaste);
    let mut keymap = keymap;
    keymap.set_kitty_protocol(kitty);
    let protocol = if kitty {
        "this terminal reports keys with the kitty protocol: every key can be told apart"
    } else {
        "no kitty keyboard protocol here: some keys (Alt-[, Ctrl-Shift-letters, Shift-F3) \
         arrive as other keys"
    };
    let mut say = |line: &str| {
        let _ = write!(out, "{}\r\n", strip_controls(line));
        let _ = out.flush();
    };
    say(&format!(
        "Press keys to see how Quill receives them; Ctrl-D ends. ({protocol})"
    ));
    let result = loop {
        let event = match event::read() {
            Ok(event) => event,
            Err(e) => break Err(format!("cannot read the terminal: {e}")),
        };
        match translate(event) {
            Some(Msg::Key(key)) => {
                let action = keymap
                    .action(Mode::Edit, &key)
                    .map_or_else(|| "(not bound)".to_string(), |a| a.name());
                say(&format!("key {}  {action}", key.name()));
                if key == Key::ctrl('d') {
                    break Ok(());
                }
            }
            Some(Msg::Paste(text)) => {
                say(&format!("paste of {} characters", text.chars().count()));
            }
            _ => {}
        }
    };
    // Not `leave`: this mode never entered the alternate screen, and leaving one that was
    // never entered can move the cursor home over what the terminal showed.
    if ENHANCED_KEYS.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), PopKeyboardEnhancementFlags);
    }
    let _ = execute!(io::stdout(), DisableBracketedPaste);
    let _ = disable_raw_mode();
    result
}

type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// Whether the kitty keyboard flags were pushed and must be popped on the way out.
static ENHANCED_KEYS: AtomicBool = AtomicBool::new(false);

fn enter() -> io::Result<Term> {
    set_up_terminal()?;
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Raw mode, the alternate screen, pastes, the mouse and the fuller keyboard protocol.
fn set_up_terminal() -> io::Result<()> {
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
    Ok(())
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

/// Set while another program (the writer's `$EDITOR`) has the terminal: the input thread must
/// not read its keys.
static INPUT_PAUSED: AtomicBool = AtomicBool::new(false);
/// The input thread's answer: it is not reading the terminal now.
static INPUT_PARKED: AtomicBool = AtomicBool::new(false);
/// How long the input thread waits for input before looking at `INPUT_PAUSED` again.
const INPUT_POLL: Duration = Duration::from_millis(250);

fn spawn_input(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        loop {
            if INPUT_PAUSED.load(Ordering::SeqCst) {
                INPUT_PARKED.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            INPUT_PARKED.store(false, Ordering::SeqCst);
            match event::poll(INPUT_POLL) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            let Ok(event) = event::read() else { return };
            if let Some(msg) = translate(event)
                && tx.send(msg).is_err()
            {
                return;
            }
        }
    });
}

/// Runs the writer's editor on `path` with the terminal handed over to it, then takes the
/// terminal back and redraws from scratch.
fn run_editor(terminal: &mut Term, path: &Path) -> Result<(), String> {
    INPUT_PARKED.store(false, Ordering::SeqCst);
    INPUT_PAUSED.store(true, Ordering::SeqCst);
    let parked_by = Instant::now() + INPUT_POLL * 4;
    while !INPUT_PARKED.load(Ordering::SeqCst) && Instant::now() < parked_by {
        std::thread::sleep(Duration::from_millis(5));
    }
    leave();
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_string());
    // Through the shell, as git does: $EDITOR may carry arguments ("code --wait").
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status();
    let restored = set_up_terminal().and_then(|()| terminal.clear());
    INPUT_PAUSED.store(false, Ordering::SeqCst);
    restored.map_err(|e| format!("cannot take the terminal back: {e}"))?;
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "{editor} exited with {s}; the template was read again anyway"
        )),
        Err(e) => Err(format!("cannot run {editor} (set $EDITOR): {e}")),
    }
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
    runtime: &mut Runtime,
    themes: &ThemeLibrary,
) -> io::Result<()> {
    // Resolved again only when the name changes (the settings pane switches it live).
    let mut theme_name = app.config().editor.theme.clone();
    let mut theme = themes.get(&theme_name);
    app.update(Msg::Frame);
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
            runtime::handle(app, msg, |effect| match effect {
                // The editor needs the terminal, which only the loop holds.
                Effect::EditTemplate { name, seed } => {
                    let mut results = edit_template(terminal, runtime, &name, seed.as_deref());
                    // Keys typed while the editor was starting were meant for it, not the
                    // draft; everything else (engine events) still counts.
                    results.extend(
                        rx.try_iter()
                            .filter(|m| !matches!(m, Msg::Key(_) | Msg::Paste(_))),
                    );
                    results
                }
                Effect::Clipboard(text) => {
                    copy_to_clipboard(&text);
                    Vec::new()
                }
                effect => runtime.run(effect),
            });
        }
        if app.should_quit() {
            // Whatever was typed is in the journal or saved; flush the rest and go.
            if let Some(effect) = app.journal_effect() {
                runtime.run(effect);
            }
            break;
        }
        if app.config().editor.theme != theme_name {
            theme_name = app.config().editor.theme.clone();
            theme = themes.get(&theme_name);
        }
        app.update(Msg::Frame);
        terminal.draw(|f| ui::render(app, &theme, f))?;
        last_draw = Instant::now();
    }
    Ok(())
}

/// Blocks for the next message. While edits wait for the journal or a ghost suggestion waits
/// for its pause, wakes up after the pause instead (`Msg::Idle`); otherwise sleeps until input.
fn next_message(rx: &Receiver<Msg>, app: &App) -> Option<Msg> {
    let journal = app
        .editor()
        .doc()
        .has_unjournaled()
        .then(|| Duration::from_millis(app.config().editor.journal_ms));
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

/// Opens a template in the writer's editor, with the terminal handed over, then reads the
/// templates again.
fn edit_template(
    terminal: &mut Term,
    runtime: &Runtime,
    name: &str,
    seed: Option<&str>,
) -> Vec<Msg> {
    let path = match runtime.template_file_to_edit(name, seed) {
        Ok(path) => path,
        Err(e) => return vec![Msg::Warning(e)],
    };
    let edited = run_editor(terminal, &path);
    let mut msgs = vec![runtime.reload_templates(format!("read {} again", path.display()))];
    if let Err(e) = edited {
        msgs.push(Msg::Warning(e));
    }
    msgs
}

/// OSC 52: the terminal puts the text on the system clipboard, even over ssh.
fn copy_to_clipboard(text: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}
