//! `quill bench --assistant`: the assistant as the writer sees it, through `App` and a real
//! worker, drawn to ratatui's `TestBackend`. Time from the action key to the first token on
//! screen against the engine's own time to first token; frame times while tokens stream; and
//! how soon ghost text appears after one more word at the end of a 1,500-token draft.
//!
//! `Harness` is also what the behaviour tests drive.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use crate::app::{App, AssistantSetup, Effect, ModelState, Msg};
use crate::config::Config;
use crate::engine::WorkerCommand;
use crate::engine::protocol::GenerationStats;
use crate::keymap::{Key, KeyCode};
use crate::runtime::{Runtime, RuntimeSetup};
use crate::suggestion::VariantState;
use crate::ui::{self, theme::Theme};

const DRAFT: &str = include_str!("../../defaults/bench-draft.md");
const ROUNDS: usize = 5;

/// An `App` wired to a real worker through the runtime the editor uses, rendering into a test
/// terminal. Its files (journal, config, templates) go to a scratch folder of its own.
pub struct Harness {
    pub app: App,
    runtime: Runtime,
    rx: Receiver<Msg>,
    scratch: PathBuf,
    pub terminal: Terminal<TestBackend>,
    theme: Theme,
    /// How long each draw took.
    pub frames: Vec<Duration>,
}

impl Harness {
    /// Opens `text` and loads the model, waiting until it is ready.
    pub fn start(
        command: WorkerCommand,
        setup: AssistantSetup,
        text: &str,
    ) -> Result<Harness, String> {
        let (tx, rx) = mpsc::channel();
        let terminal = Terminal::new(TestBackend::new(120, 40)).map_err(|e| e.to_string())?;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let scratch =
            std::env::temp_dir().join(format!("quill-harness-{}-{n}", std::process::id()));
        let runtime = Runtime::new(
            RuntimeSetup {
                state_dir: scratch.join("state"),
                config_file: scratch.join("config.toml"),
                templates_dir: scratch.join("templates"),
                engine: Box::new(command),
            },
            tx,
        );
        let mut harness = Harness {
            app: App::with_text(None, text, 120, 40),
            runtime,
            rx,
            scratch,
            terminal,
            theme: Theme::dark(),
            frames: Vec::new(),
        };
        let effects = harness.app.start_assistant(setup);
        harness.run(effects);
        harness.pump_until(Duration::from_secs(120), |app| {
            !matches!(*app.assistant().state(), ModelState::Loading(_))
        });
        match harness.app.assistant().state() {
            ModelState::Ready => Ok(harness),
            other => Err(format!("the model did not load: {other:?}")),
        }
    }

    /// Runs effects as the editor's event loop does, each result handled before the next.
    pub fn run(&mut self, effects: Vec<Effect>) {
        let runtime = &mut self.runtime;
        crate::runtime::run_effects(&mut self.app, effects, |effect| runtime.run(effect));
    }

    pub fn update(&mut self, msg: Msg) {
        let runtime = &mut self.runtime;
        crate::runtime::handle(&mut self.app, msg, |effect| runtime.run(effect));
    }

    pub fn key(&mut self, key: Key) {
        self.update(Msg::Key(key));
        self.draw();
    }

    pub fn draw(&mut self) {
        let started = Instant::now();
        self.app.update(Msg::Frame);
        let (app, theme) = (&self.app, &self.theme);
        let _ = self.terminal.draw(|f| ui::render(app, theme, f));
        self.frames.push(started.elapsed());
    }

    /// Handles messages (drawing after each) until `done` holds; false on timeout.
    pub fn pump_until(&mut self, limit: Duration, done: impl Fn(&App) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while !done(&self.app) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Ok(msg) = self.rx.recv_timeout(left) {
                self.update(msg);
                self.draw();
            }
        }
        true
    }

    /// The variant on show: its text and, once finished, its stats.
    pub fn current_variant(&self) -> Option<(String, Option<GenerationStats>)> {
        let variant = self.app.assistant().suggestion()?.current()?;
        let stats = match &variant.state {
            VariantState::Done(stats) => Some(stats.clone()),
            _ => None,
        };
        Some((variant.text.clone(), stats))
    }

    /// The draft as the screen shows it.
    pub fn screen(&self) -> String {
        let buffer = self.terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Types `text` at the cursor, a key at a time.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(Key::plain(KeyCode::Char(c)));
        }
    }

    /// Lets the typing pause pass and wakes the app as the event loop would.
    pub fn pause(&mut self) {
        if let Some(due) = self.app.ghost_due() {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        self.update(Msg::Idle);
        self.draw();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

#[derive(Debug, Serialize)]
pub struct AssistantReport {
    pub rounds: usize,
    pub action_to_screen_ms: f64,
    pub engine_ttft_ms: f64,
    pub screen_over_engine_ms: f64,
    pub frames_while_streaming: usize,
    pub frame_p50_ms: f64,
    pub frame_p99_ms: f64,
    pub draft_tokens: u32,
    pub ghost_request_to_screen_ms: f64,
    pub ghost_keystroke_to_screen_ms: f64,
    pub ghost_reused_tokens: u32,
}

pub fn run(
    config: &Config,
    model: PathBuf,
    command: WorkerCommand,
    json: bool,
) -> Result<(), String> {
    let mut setup = AssistantSetup::from_config(config, model);
    setup.sampling.variants = Some(1);
    setup.sampling.max_tokens = Some(32);
    setup.sampling.temperature = Some(0.0);
    let ghost_delay = Duration::from_millis(config.editor.ghost_delay_ms);
    setup.ghost_delay = Some(ghost_delay);
    let draft = (1..=3)
        .map(|k| format!("## Part {k}\n\n{DRAFT}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut h = Harness::start(command, setup, &draft)?;
    let end = h.app.editor().doc().len_chars();
    h.app.move_cursor(end);

    let (mut screen_ms, mut engine_ms, draft_tokens) = continue_rounds(&mut h)?;
    let mut frames: Vec<f64> = h.frames.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    frames.sort_by(f64::total_cmp);
    let (mut ghost_request, mut ghost_keystroke, reused) = ghost_rounds(&mut h);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let screen = median(&mut screen_ms);
    let engine = median(&mut engine_ms);
    let report = AssistantReport {
        rounds: ROUNDS,
        action_to_screen_ms: screen,
        engine_ttft_ms: engine,
        screen_over_engine_ms: screen - engine,
        frames_while_streaming: frames.len(),
        frame_p50_ms: frames.get(frames.len() / 2).copied().unwrap_or(0.0),
        frame_p99_ms: frames.get(frames.len() * 99 / 100).copied().unwrap_or(0.0),
        draft_tokens,
        ghost_request_to_screen_ms: median(&mut ghost_request),
        ghost_keystroke_to_screen_ms: median(&mut ghost_keystroke),
        ghost_reused_tokens: reused,
    };
    super::print_report(&report, json, print_table);
    Ok(())
}

/// Action key to first token on screen, against the engine's own time to first token: both
/// in ms, round by round, and the draft's tokens.
fn continue_rounds(h: &mut Harness) -> Result<(Vec<f64>, Vec<f64>, u32), String> {
    let mut screen_ms = Vec::new();
    let mut engine_ms = Vec::new();
    let mut draft_tokens = 0;
    let continue_key = Key::ctrl('e');
    for _ in 0..ROUNDS {
        h.frames.clear();
        let pressed = Instant::now();
        h.key(continue_key);
        let shown = h.pump_until(Duration::from_secs(120), |app| {
            app.assistant()
                .suggestion()
                .and_then(|s| s.current())
                .is_some_and(|v| !v.text.is_empty())
        });
        if !shown {
            return Err("no token reached the screen".into());
        }
        screen_ms.push(pressed.elapsed().as_secs_f64() * 1000.0);
        h.pump_until(Duration::from_secs(120), |app| {
            app.assistant()
                .suggestion()
                .is_some_and(|s| !s.is_streaming())
        });
        let (_, stats) = h.current_variant().ok_or("no suggestion")?;
        let stats = stats.ok_or("the generation did not finish")?;
        engine_ms.push(stats.ttft_ms);
        draft_tokens = stats.prompt_tokens;
        h.key(Key::plain(KeyCode::Esc));
    }
    Ok((screen_ms, engine_ms, draft_tokens))
}

/// Ghost text: warm the cache once, then one more word and the pause, round by round. The
/// times from the request and from the keystroke to the ghost on screen, in ms, and the
/// tokens the last request reused.
fn ghost_rounds(h: &mut Harness) -> (Vec<f64>, Vec<f64>, u32) {
    let mut ghost_request = Vec::new();
    let mut ghost_keystroke = Vec::new();
    let mut reused = 0;
    h.type_text(" The");
    h.pause();
    h.pump_until(Duration::from_secs(120), |app| {
        app.assistant().ghost().job().is_none()
    });
    for word in [" next", " part", " is", " about", " time"]
        .iter()
        .take(ROUNDS)
    {
        h.key(Key::plain(KeyCode::Esc));
        let typed = Instant::now();
        h.type_text(word);
        if let Some(due) = h.app.ghost_due() {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let requested = Instant::now();
        h.update(Msg::Idle);
        let cursor = h.app.editor().doc().cursor();
        let shown = h.pump_until(Duration::from_secs(60), |app| {
            app.assistant().ghost().visible_at(cursor).is_some()
                || (app.assistant().ghost().job().is_none())
        });
        if shown && h.app.assistant().ghost().visible_at(cursor).is_some() {
            ghost_request.push(requested.elapsed().as_secs_f64() * 1000.0);
            ghost_keystroke.push(typed.elapsed().as_secs_f64() * 1000.0);
        }
        h.pump_until(Duration::from_secs(60), |app| {
            app.assistant().ghost().job().is_none()
        });
        if let Some(stats) = h.app.assistant().last_stats() {
            reused = stats.reused_tokens;
        }
    }
    (ghost_request, ghost_keystroke, reused)
}

fn print_table(r: &AssistantReport) {
    println!(
        "assistant through App and the worker, {}-token draft, median of {} rounds",
        r.draft_tokens, r.rounds
    );
    println!("| test                                    |      value | target    |");
    println!("|-----------------------------------------|------------|-----------|");
    println!(
        "| action key to first token on screen     | {:>7.1} ms |           |",
        r.action_to_screen_ms
    );
    println!(
        "| engine's own time to first token        | {:>7.1} ms |           |",
        r.engine_ttft_ms
    );
    println!(
        "| screen minus engine                     | {:>7.1} ms | <= 50 ms  |",
        r.screen_over_engine_ms
    );
    println!(
        "| frame time while streaming, p50         | {:>7.3} ms |           |",
        r.frame_p50_ms
    );
    println!(
        "| frame time while streaming, p99         | {:>7.3} ms | < 16 ms   |",
        r.frame_p99_ms
    );
    println!(
        "| ghost: after the pause, to text shown   | {:>7.1} ms | < 400 ms  |",
        r.ghost_request_to_screen_ms
    );
    println!(
        "| ghost: last keystroke to text shown     | {:>7.1} ms | (+ pause) |",
        r.ghost_keystroke_to_screen_ms
    );
    println!(
        "| ghost: prompt tokens reused             | {:>10} |           |",
        r.ghost_reused_tokens
    );
}
