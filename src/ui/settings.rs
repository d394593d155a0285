//! The settings pane beside the draft.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use super::{clear_overlay, fit_width, fit_width_from_end};
use crate::app::App;
use crate::app::overlay::settings::FIELDS;
use crate::app::overlay::{Field, SettingsPane};
use crate::command::Command;
use crate::engine::protocol::FlashAttention;
use crate::keymap::Mode;
use crate::sanitize::strip_controls;

pub(super) struct SettingsView<'a> {
    pub(super) app: &'a App,
    pub(super) theme: &'a Theme,
    pub(super) pane: &'a SettingsPane,
}

impl Widget for SettingsView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        clear_overlay(area, buf);
        // Labels as wide as the widest, then a gap: a value never runs into its label.
        let label_width = FIELDS.iter().map(|f| f.label.width()).max().unwrap_or(0) + 2;
        let room = usize::from(area.width.saturating_sub(2)).saturating_sub(label_width);
        let lines: Vec<Line> = FIELDS
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let pad = label_width.saturating_sub(field.label.width());
                Line::from(vec![
                    TextSpan::styled(
                        format!("{}{}", field.label, " ".repeat(pad)),
                        self.theme.popup_title,
                    ),
                    self.value(field, i == self.pane.selected, room),
                ])
            })
            .collect();
        let keys = self.app.keys();
        let hints = format!(
            " {} · {} {} choose ",
            keys.hint_bar(
                Mode::Settings,
                &[
                    (Command::submit, "edit/save"),
                    (Command::toggle, "toggle"),
                    (Command::cancel, "close"),
                ]
            ),
            keys.hint(Mode::Settings, Command::move_left)
                .unwrap_or_default(),
            keys.hint(Mode::Settings, Command::move_right)
                .unwrap_or_default(),
        );
        Paragraph::new(lines)
            .style(self.theme.text)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(self.theme.border_focused)
                    .title(" Settings ")
                    .title_bottom(TextSpan::styled(hints, self.theme.muted)),
            )
            .render(area, buf);
    }
}

impl SettingsView<'_> {
    /// A field's value: being typed, or as the config holds it; an empty model path names the
    /// model in use, dimmed.
    fn value(&self, field: &Field, selected: bool, room: usize) -> TextSpan<'static> {
        let style = if selected {
            self.theme.text.patch(self.theme.selection)
        } else {
            self.theme.text
        };
        let shown = field.show(self.app.config());
        match (&self.pane.editing, selected) {
            (Some(input), true) => {
                TextSpan::styled(format!("{}▏", strip_controls(&input.text)), style)
            }
            _ if field.key == ["model"] && shown.is_empty() => {
                let text = match self.app.assistant().model() {
                    Some(path) => model_in_use(path, room),
                    None => "(default)".to_string(),
                };
                TextSpan::styled(text, style.patch(self.theme.muted))
            }
            _ if field.key == ["engine", "flash_attention"] => {
                // What the engine decodes with now, and what chose it (a measurement).
                let mut text = strip_controls(&shown).into_owned();
                if let Some(info) = self.app.assistant().info()
                    && !info.settings.chosen_by.is_empty()
                {
                    let now = match info.settings.flash_attention {
                        FlashAttention::On => "on",
                        FlashAttention::Off => "off",
                        FlashAttention::Auto => "llama.cpp's choice",
                    };
                    let why = strip_controls(&info.settings.chosen_by).into_owned();
                    text.push_str(&format!(": {now} ({why})"));
                }
                TextSpan::styled(fit_width(&text, room), style)
            }
            _ => TextSpan::styled(strip_controls(&shown).into_owned(), style),
        }
    }
}

/// The model in use in `room` columns, keeping the end of a long path (its file name) in view,
/// and where it came from when there is room.
fn model_in_use(path: &std::path::Path, room: usize) -> String {
    let whence = if path
        .file_name()
        .is_some_and(|n| n == crate::paths::DEFAULT_MODEL_FILE)
    {
        " (default)"
    } else {
        " (--model)"
    };
    let path = strip_controls(&path.display().to_string()).into_owned();
    // The file name matters more than where it came from.
    if room >= whence.width() + 12 {
        let keep = room - whence.width();
        format!("{}{whence}", fit_width_from_end(&path, keep))
    } else {
        fit_width_from_end(&path, room)
    }
}
