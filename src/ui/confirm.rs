//! The status row when it asks: a confirmation's question and its answers, and the
//! mini-buffer's prompt.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use crate::app::App;
use crate::app::overlay::{Confirm, MiniBuffer, Then};
use crate::command::Command;
use crate::keymap::Mode;
use crate::sanitize::strip_controls;

/// A question and its answers over the whole status row.
pub(super) fn render(app: &App, confirm: &Confirm, theme: &Theme, frame: &mut Frame, status: Rect) {
    let question = question(app, confirm);
    // A question mark is separator enough.
    let sep = if question.ends_with('?') { " " } else { ": " };
    let text = format!("{question}{sep}{}", answers(app, confirm));
    frame.render_widget(Clear, status);
    frame.render_widget(Paragraph::new(text).style(theme.prompt), status);
}

/// The mini-buffer's label and what is typed, with the cursor in it.
pub(super) fn render_mini_buffer(
    mini: &MiniBuffer,
    theme: &Theme,
    frame: &mut Frame,
    status: Rect,
) {
    let label = mini.question.label();
    let text = format!("{label}{}", strip_controls(&mini.input.text));
    // The whole row: what the status bar had there must not show past the text.
    frame.render_widget(Clear, status);
    frame.render_widget(Paragraph::new(text).style(theme.prompt), status);
    let before = label.width() + mini.input.cursor_col();
    let x = status.x + (before as u16).min(status.width.saturating_sub(1));
    frame.set_cursor_position((x, status.y));
}

/// What a question asks.
fn question(app: &App, confirm: &Confirm) -> String {
    match confirm {
        Confirm::Unsaved(then) => {
            let what = match then {
                Then::Quit => "quitting",
                Then::Open(_) => "opening another file",
                Then::New => "starting a new draft",
            };
            format!("Unsaved changes before {what}")
        }
        Confirm::Overwrite(path) if app.editor().path() == Some(path) => {
            "The file changed on disk since it was opened".to_string()
        }
        Confirm::Overwrite(path) => format!(
            "{} already exists",
            strip_controls(&path.display().to_string())
        ),
        Confirm::OverwriteTemplate {
            name,
            is_built_in: true,
            ..
        } => format!(
            "{} is a built-in template: yours would take its place",
            strip_controls(name)
        ),
        Confirm::OverwriteTemplate { name, .. } => {
            format!("Template {} exists already", strip_controls(name))
        }
        Confirm::DeleteTemplate(name) => {
            format!("Delete your template {}?", strip_controls(name))
        }
        Confirm::Recover(r) => format!(
            "{} unsaved edits from an earlier session. Recover them?",
            r.changes.len() + usize::from(r.snapshot.is_some())
        ),
    }
}

/// A question's answers, each with its key as the keymap binds it ("s save · d discard").
fn answers(app: &App, confirm: &Confirm) -> String {
    let mut seen = Vec::new();
    let parts: Vec<(Command, &str)> = confirm
        .answers()
        .iter()
        .filter(|(_, _, label)| {
            let first = !seen.contains(label);
            seen.push(*label);
            first
        })
        .map(|(command, _, label)| (*command, *label))
        .collect();
    app.keys().hint_bar(Mode::Confirm, &parts)
}
