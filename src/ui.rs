//! Rendering: `render(&App, &Theme, &mut Frame)`. Layout only; each part draws from `&App`.

pub mod form;
pub mod markdown;
pub mod suggestions;
pub mod theme;
pub mod wrap;

mod confirm;
mod draft;
mod help;
mod palette;
mod settings;
mod status;
#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Clear, Paragraph, Widget};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::App;
use crate::app::overlay::Overlay;
use theme::Theme;

fn rect((x, y, width, height): (u16, u16, u16, u16)) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    let [_, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let panes = app.panes();
    let draft = rect(panes.draft).intersection(area);
    frame.render_widget(draft::DraftPane { app, theme }, draft);
    if let (Some(side), Some(suggestion)) = (panes.side, app.assistant().suggestion()) {
        let focused = app.assistant().is_focused();
        frame.render_widget(
            suggestions::SuggestionsPane {
                suggestion,
                theme,
                focused,
                keymap: app.keys(),
            },
            rect(side).intersection(area),
        );
    }
    let bar = status::StatusBar { app, theme };
    let message_line = bar.message_line(status.width as usize);
    frame.render_widget(bar, status);
    // A message too long for the bar beside the model's state and the position gets the row
    // above it, over the draft's last row, until the next message replaces it.
    // Over the draft pane only, so a side pane keeps its border.
    if let Some((text, style)) = message_line
        && status.y > area.y
        && draft.width > 0
    {
        let row = Rect {
            x: draft.x,
            y: status.y - 1,
            width: draft.width,
            height: 1,
        };
        let text = fit_width(&format!(" {text}"), row.width as usize);
        frame.render_widget(Clear, row);
        frame.render_widget(Paragraph::new(text).style(style), row);
    }
    render_overlay(app, theme, frame, draft, status);
}

/// The overlay on show, if any, or the cursor in the draft.
fn render_overlay(app: &App, theme: &Theme, frame: &mut Frame, draft: Rect, status: Rect) {
    let area = frame.area();
    let cx = app.overlay_cx();
    match app.overlay() {
        Some(Overlay::Help(help)) => frame.render_widget(
            help::Help {
                cx: &cx,
                theme,
                scroll: help.scroll,
            },
            area,
        ),
        Some(Overlay::Settings(pane)) => {
            if let Some(side) = app.panes().side {
                frame.render_widget(
                    settings::SettingsView { app, theme, pane },
                    rect(side).intersection(area),
                );
            }
        }
        Some(Overlay::Palette(palette)) => {
            frame.render_widget(
                palette::PaletteView {
                    cx: &cx,
                    theme,
                    palette,
                },
                area,
            );
        }
        Some(Overlay::Form(form)) => {
            let view = form::FormView {
                form,
                theme,
                keys: app.keys(),
            };
            let cursor = view.cursor(area);
            frame.render_widget(view, area);
            if let Some(cursor) = cursor {
                frame.set_cursor_position(cursor);
            }
        }
        Some(Overlay::MiniBuffer(mini)) => confirm::render_mini_buffer(mini, theme, frame, status),
        Some(Overlay::Confirm(question)) => confirm::render(app, question, theme, frame, status),
        None => {
            let editor = app.editor();
            if let Some((x, y)) = editor.view().cursor_screen(editor.doc()) {
                frame.set_cursor_position((draft.x + x as u16, draft.y + y as u16));
            }
        }
    }
}

/// The end of `text` in `width` columns, starting with an ellipsis when it was cut.
fn fit_width_from_end(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut kept = Vec::new();
    let mut used = 1;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    let mut out = String::from("…");
    out.extend(kept.into_iter().rev());
    out
}

/// `text` cut to `width` columns, ending in an ellipsis when it was cut.
fn fit_width(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Clears `area` for an overlay, with the half of a wide character that sticks into it from
/// the left: left alone, the terminal draws that character over the overlay's first column
/// (and ratatui skips the cell it covers), so the border goes missing and the row shifts.
pub(crate) fn clear_overlay(area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
    if area.x <= buf.area.x {
        return;
    }
    for y in area.top()..area.bottom() {
        let cell = &mut buf[(area.x - 1, y)];
        if cell.symbol().width() > 1 {
            cell.set_symbol(" ");
        }
    }
}
