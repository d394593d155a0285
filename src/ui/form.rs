//! The template form: a popup with one line per field, the focused one editable with its
//! cursor; choices show as a cycle, required fields are marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use crate::app::overlay::TemplateForm;
use crate::command::Command;
use crate::keymap::{Keymaps, Mode};
use crate::sanitize::strip_controls;

pub struct FormView<'a> {
    pub form: &'a TemplateForm,
    pub theme: &'a Theme,
    /// Where the keys in the hint come from.
    pub keys: &'a Keymaps,
}

/// The widest label, in columns, capped so a long one cannot squeeze out the values.
fn label_width(form: &TemplateForm) -> usize {
    form.fields
        .iter()
        .map(|f| strip_controls(&f.label).width() + 2)
        .max()
        .unwrap_or(0)
        .min(24)
}

impl FormView<'_> {
    /// Where the popup goes in `area`.
    pub fn popup(&self, area: Rect) -> Rect {
        let width = area.width.saturating_sub(4).min(80);
        // The fields, a blank line and the keys, inside the border.
        let height = (self.form.fields.len() as u16 + 4).min(area.height.saturating_sub(2));
        Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + 2.min(area.height.saturating_sub(height)),
            width,
            height,
        }
    }

    /// The screen cell of the focused field's cursor.
    pub fn cursor(&self, area: Rect) -> Option<(u16, u16)> {
        let popup = self.popup(area);
        let field = self.form.fields.get(self.form.focus)?;
        let row = popup.y + 1 + self.form.focus as u16;
        if row + 1 >= popup.y + popup.height {
            return None;
        }
        let col = popup.x + 1 + (label_width(self.form) + 2 + field.input.cursor_col()) as u16;
        Some((col.min(popup.x + popup.width.saturating_sub(2)), row))
    }
}

impl Widget for FormView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let popup = self.popup(area);
        super::clear_overlay(popup, buf);
        let theme = self.theme;
        let labels = label_width(self.form);
        let mut lines: Vec<Line> = self
            .form
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let focused = i == self.form.focus;
                let marker = if focused { "▸ " } else { "  " };
                let mut label = strip_controls(&f.label).into_owned();
                if f.required {
                    label.push('*');
                }
                let pad = labels.saturating_sub(label.width());
                // A filled-in value shows selected: typing replaces it.
                let value_style = if focused && f.input.selected {
                    theme.popup.patch(theme.selection)
                } else if focused {
                    theme
                        .popup
                        .add_modifier(ratatui::style::Modifier::UNDERLINED)
                } else {
                    theme.popup
                };
                let mut spans = vec![
                    Span::styled(marker, theme.popup_title),
                    Span::styled(format!("{label}{}", " ".repeat(pad)), theme.popup_title),
                    Span::styled(strip_controls(&f.input.text).into_owned(), value_style),
                ];
                if let Some(choices) = &f.choices {
                    spans.push(Span::styled(
                        format!("  ◂ ▸ {}", choices.join(" · ")),
                        theme.muted,
                    ));
                } else if f.required && f.input.text.trim().is_empty() {
                    spans.push(Span::styled("  (required)", theme.muted));
                }
                Line::from(spans)
            })
            .collect();
        lines.push(Line::default());
        lines.push(Line::styled(
            self.keys.hint_bar(
                Mode::Form,
                &[
                    (Command::submit, "run"),
                    (Command::select_next, "next field"),
                    (Command::save_template_preset, "save as preset"),
                    (Command::cancel, "cancel"),
                ],
            ),
            theme.muted,
        ));
        let limit = self
            .form
            .max_chars
            .map_or_else(String::new, |m| format!(" (at most {m} characters)"));
        let title = format!(" {}{limit} — {} ", self.form.title, self.form.description);
        Paragraph::new(lines)
            .style(theme.popup)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(strip_controls(&title).into_owned())
                    .title_style(theme.popup_title),
            )
            .render(popup, buf);
    }
}
