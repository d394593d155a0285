//! The status bar: the draft's name, the message, the model's state and the position.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::Widget;
use unicode_width::UnicodeWidthStr;

use super::fit_width;
use super::theme::Theme;
use crate::app::App;
use crate::command::Command;
use crate::keymap::Mode;
use crate::sanitize::strip_controls;

pub(super) struct StatusBar<'a> {
    pub(super) app: &'a App,
    pub(super) theme: &'a Theme,
}

/// The status bar's parts: the draft's name, the message, and the right-hand side (the model's
/// state, the position) in the longest form that leaves the message its room.
struct BarLayout {
    head: Vec<TextSpan<'static>>,
    /// The message and its style, when it fits in the bar.
    message: Option<(String, ratatui::style::Style)>,
    right: String,
}

impl StatusBar<'_> {
    fn message(&self) -> Option<(String, ratatui::style::Style)> {
        self.app.status().map(|status| {
            let style = if status.is_error {
                self.theme.status_error
            } else {
                self.theme.status
            };
            (strip_controls(&status.text).into_owned(), style)
        })
    }

    /// The message when it does not fit in the bar, for the row above it.
    pub(super) fn message_line(&self, width: usize) -> Option<(String, ratatui::style::Style)> {
        let message = self.message()?;
        self.layout(width).message.is_none().then_some(message)
    }

    fn layout(&self, width: usize) -> BarLayout {
        let (app, theme) = (self.app, self.theme);
        let doc = app.editor().doc();
        let (line, col) = doc.line_col();
        let mut position = format!("{}:{}  {} words", line + 1, col + 1, doc.word_count());
        if doc.has_selection() {
            let s = doc.selection();
            position = format!("{} selected  {position}", s.end() - s.start());
        }
        let line_col = format!("{}:{}", line + 1, col + 1);
        let title = strip_controls(&app.editor().title()).into_owned();
        let mut head = vec![TextSpan::styled(format!(" {title}"), theme.status)];
        if doc.is_modified() {
            head.push(TextSpan::styled(" [+]", theme.status_modified));
        }
        let head_width: usize = head.iter().map(|s| s.width()).sum();
        let model = model_status(app, true);
        let state = model_status(app, false);
        let joined = |parts: &[&str]| {
            parts
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("  ")
                + " "
        };
        // A finished ghost says how to take it (the keys `Ghost::on_key` takes), in place of
        // the help key.
        let help = if app.assistant().ghost().complete_at(doc.cursor()) {
            app.keys().hint_bar(
                Mode::Edit,
                &[
                    (Command::insert_tab, "accept"),
                    (Command::move_word_right, "word"),
                ],
            )
        } else {
            "F1 help".to_string()
        };
        // Longest first; the model's state and the line:column are never dropped for a message.
        let candidates = [
            joined(&[&model, &position, &help]),
            joined(&[&model, &position]),
            joined(&[&model, &line_col]),
            joined(&[&state, &line_col]),
        ];
        let fits = |right: &str, extra: usize| head_width + extra + right.width() <= width;
        // The message in the bar, with the longest right-hand side that leaves it room; a
        // message too long for the bar goes on the row above.
        let with_message = self.message().and_then(|message| {
            let room = message.0.width() + 4;
            let right = candidates.iter().find(|r| fits(r, room))?;
            Some((right.clone(), message))
        });
        match with_message {
            Some((right, message)) => BarLayout {
                right,
                head,
                message: Some(message),
            },
            None => BarLayout {
                right: candidates
                    .iter()
                    .find(|r| fits(r, 1))
                    .cloned()
                    .unwrap_or_else(|| format!("{line_col} ")),
                head,
                message: None,
            },
        }
    }
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.theme.status);
        let width = area.width as usize;
        let BarLayout {
            mut head,
            message,
            right,
        } = self.layout(width);
        let right_width = right.width().min(width);
        if let Some((text, style)) = message {
            head.push(TextSpan::styled("  ", self.theme.status));
            head.push(TextSpan::styled(text, style));
        }
        let left_area = Rect {
            width: area.width.saturating_sub(right_width as u16),
            ..area
        };
        Line::from(head).render(left_area, buf);
        buf.set_string(
            area.x + (width - right_width) as u16,
            area.y,
            fit_width(&right, right_width),
            self.theme.status,
        );
    }
}

/// The model's state for the status bar, with its speed and context meter when `details`.
fn model_status(app: &App, details: bool) -> String {
    use crate::app::ModelState;
    let assistant = app.assistant();
    let streaming = assistant.is_streaming();
    let mut text = match assistant.state() {
        ModelState::Off => return String::new(),
        ModelState::Loading(progress) => format!("model loading {:.0}%", progress * 100.0),
        ModelState::Ready if streaming => "generating".to_string(),
        ModelState::Ready => "model ready".to_string(),
        ModelState::Crashed { exit, retry_in } => format!(
            "model crashed ({}) - restarting in {} s",
            exit.short(),
            retry_in.as_secs()
        ),
        ModelState::Stopped { exit } => format!("model stopped ({})", exit.short()),
        ModelState::Failed(_) => "no model".to_string(),
    };
    if details && let (Some(stats), Some(info)) = (assistant.last_stats(), assistant.info()) {
        // "~": a remote engine without the model's tokenizer estimated the count.
        text.push_str(&format!(
            "  {:.0} t/s  ctx {}{}/{}",
            stats.tokens_per_s,
            if stats.estimated { "~" } else { "" },
            stats.prompt_tokens,
            info.n_ctx
        ));
        if stats.dropped_tokens > 0 {
            text.push_str(&format!(" ({} left out)", stats.dropped_tokens));
        }
        // The brief's share of it; "of N" when the budget cut it.
        if let Some((carried, had)) = assistant.brief_tokens() {
            text.push_str(&format!(" brief ~{carried}"));
            if had > carried {
                text.push_str(&format!(" of {had}"));
            }
        }
    }
    text
}
