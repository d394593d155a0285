//! `quill bench --editor`: the editor on a 10 MB Markdown draft. Time from reading the file to
//! the first frame; keystroke to frame (`App::update` plus a render through ratatui's
//! `TestBackend`) at the start, middle and end; peak memory against the file size.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use crate::app::{App, Msg};
use crate::keymap::{Key, KeyCode, Keymaps};
use crate::runtime::read_draft;
use crate::ui::{self, theme::Theme};

const FILE_BYTES: usize = 10 * 1024 * 1024;
const KEYSTROKES: usize = 600;
const WIDTH: u16 = 100;
const HEIGHT: u16 = 40;

#[derive(Debug, Serialize)]
pub struct EditorReport {
    pub file_bytes: u64,
    pub open_to_first_frame_ms: f64,
    pub keystrokes_per_position: usize,
    pub positions: Vec<PositionReport>,
    /// The process's peak resident set, and the part of it above what it held before opening.
    pub peak_rss_mib: f64,
    pub baseline_rss_mib: f64,
    pub draft_memory_over_file: f64,
}

#[derive(Debug, Serialize)]
pub struct PositionReport {
    pub position: &'static str,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn run(json: bool) -> Result<(), String> {
    let dir = tempfile_dir()?;
    let path = dir.join("bench-draft.md");
    write_draft(&path).map_err(|e| format!("cannot write the bench draft: {e}"))?;
    let report = measure(&path);
    let _ = std::fs::remove_dir_all(&dir);
    let report = report?;
    super::print_report(&report, json, print_table);
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("quill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// A long article: headings, prose with emphasis, lists, and Chinese paragraphs, streamed to
/// disk so the bench's own memory stays out of the measurement.
fn write_draft(path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0;
    let mut section = 0;
    while written < FILE_BYTES {
        section += 1;
        let block = format!(
            "## Section {section}\n\nThe *first* draft of anything is a conversation with \
             yourself. You write to find out what you **think**, and only later do you write to \
             tell someone else. That is why the blank page feels heavier than it is.\n\n- a list \
             item with `code`\n- another item, longer, to wrap across the width of the pane \
             when it is narrow\n1. numbered\n\n随着人工智能技术的快速发展，大模型已经成为推动\
             行业创新的关键力量。创业产品开发一直以来都是技术创新的孵化器。\n\n"
        );
        out.write_all(block.as_bytes())?;
        written += block.len();
    }
    out.flush()
}

fn measure(path: &Path) -> Result<EditorReport, String> {
    let file_bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let theme = Theme::dark();
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).map_err(|e| e.to_string())?;

    let baseline = rss_mib("VmRSS:");
    let started = Instant::now();
    let draft = read_draft(path)?;
    let (keymap, _) = Keymaps::new(&[]);
    let mut app = App::new(keymap, crate::config::Config::default(), WIDTH, HEIGHT);
    app.open(Some(path.to_path_buf()), draft, None);
    terminal
        .draw(|f| ui::render(&app, &theme, f))
        .map_err(|e| e.to_string())?;
    let open_ms = ms(started.elapsed());

    let mut positions = Vec::new();
    for (name, key) in [
        (
            "start",
            Key {
                code: KeyCode::Home,
                mods: ctrl(),
            },
        ),
        ("middle", Key::plain(KeyCode::Home)),
        (
            "end",
            Key {
                code: KeyCode::End,
                mods: ctrl(),
            },
        ),
    ] {
        if name == "middle" {
            let middle = app.editor().doc().len_chars() / 2;
            app.move_cursor(middle);
        }
        app.update(Msg::Key(key));
        let mut times = Vec::with_capacity(KEYSTROKES);
        for i in 0..KEYSTROKES {
            let key = keystroke(i);
            let t = Instant::now();
            app.update(Msg::Key(key));
            app.update(Msg::Frame);
            terminal
                .draw(|f| ui::render(&app, &theme, f))
                .map_err(|e| e.to_string())?;
            times.push(ms(t.elapsed()));
            // The journal takes the edits off the hot path, as the event loop does when idle.
            if i % 50 == 49 {
                app.journal_effect();
            }
        }
        times.sort_by(f64::total_cmp);
        positions.push(PositionReport {
            position: name,
            median_ms: times[times.len() / 2],
            p99_ms: times[times.len() * 99 / 100],
            max_ms: times[times.len() - 1],
        });
    }
    let peak = rss_mib("VmHWM:");
    Ok(EditorReport {
        file_bytes,
        open_to_first_frame_ms: open_ms,
        keystrokes_per_position: KEYSTROKES,
        positions,
        peak_rss_mib: peak,
        baseline_rss_mib: baseline,
        draft_memory_over_file: (peak - baseline) * 1024.0 * 1024.0 / file_bytes as f64,
    })
}

fn ctrl() -> crate::keymap::Mods {
    crate::keymap::Mods {
        ctrl: true,
        ..Default::default()
    }
}

/// A writer's mix: mostly typing (Latin and CJK), some spaces, backspaces and arrows.
fn keystroke(i: usize) -> Key {
    const TEXT: &[char] = &['t', 'h', 'e', ' ', '写', '作', ' ', 'w', 'o', 'r', 'd', '.'];
    match i % 20 {
        7 => Key::plain(KeyCode::Backspace),
        13 => Key::plain(KeyCode::Left),
        14 => Key::plain(KeyCode::Right),
        17 => Key::plain(KeyCode::Down),
        18 => Key::plain(KeyCode::Up),
        n => Key::plain(KeyCode::Char(TEXT[n % TEXT.len()])),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A memory figure of this process from /proc (VmRSS now, VmHWM the peak), in MiB.
fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn print_table(r: &EditorReport) {
    println!(
        "editor on a {:.1} MB Markdown draft, {}x{} terminal, {} keystrokes per position",
        r.file_bytes as f64 / 1e6,
        WIDTH,
        HEIGHT,
        r.keystrokes_per_position
    );
    println!("| test                          |      value | target   |");
    println!("|-------------------------------|------------|----------|");
    println!(
        "| open to first frame           | {:>7.1} ms | < 300 ms |",
        r.open_to_first_frame_ms
    );
    for p in &r.positions {
        println!(
            "| keystroke to frame, {:<6} p50 | {:>7.3} ms | < 2 ms   |",
            p.position, p.median_ms
        );
        println!(
            "| keystroke to frame, {:<6} p99 | {:>7.3} ms | < 8 ms   |",
            p.position, p.p99_ms
        );
    }
    println!(
        "| peak RSS                      | {:>6.1} MiB |          |",
        r.peak_rss_mib
    );
    println!(
        "| RSS before opening            | {:>6.1} MiB |          |",
        r.baseline_rss_mib
    );
    println!(
        "| draft memory / file size      | {:>9.2}x | < 3x     |",
        r.draft_memory_over_file
    );
}
