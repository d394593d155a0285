//! The command palette.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};
use unicode_width::UnicodeWidthStr;

use super::theme::Theme;
use super::{clear_overlay, fit_width};
use crate::app::overlay::{OverlayCx, Palette, Purpose};
use crate::command::Command;
use crate::keymap::Mode;
use crate::sanitize::strip_controls;

pub(super) struct PaletteView<'a> {
    pub(super) cx: &'a OverlayCx<'a>,
    pub(super) theme: &'a Theme,
    pub(super) palette: &'a Palette,
}

impl Widget for PaletteView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let width = area.width.saturating_sub(4).min(90);
        let height = area.height.saturating_sub(4).min(18);
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + 1,
            width,
            height,
        };
        clear_overlay(popup, buf);
        let matches = self.palette.matches(self.cx);
        let visible = height.saturating_sub(3) as usize;
        let first = self
            .palette
            .selected
            .saturating_sub(visible.saturating_sub(1));
        let mut lines = vec![Line::from(vec![
            TextSpan::styled("> ", self.theme.popup_title),
            TextSpan::styled(
                strip_controls(&self.palette.query.text).into_owned(),
                self.theme.popup,
            ),
        ])];
        let shown = &matches[first.min(matches.len())..];
        let shown = &shown[..visible.min(shown.len())];
        // The keys column is as wide as the widest keys on show, up to a third of the popup.
        let keys_width = shown
            .iter()
            .map(|item| item.keys.width())
            .max()
            .unwrap_or(0)
            .min(usize::from(width) / 3);
        for (i, item) in shown.iter().enumerate() {
            let style = if first + i == self.palette.selected {
                self.theme.popup.patch(self.theme.selection)
            } else {
                self.theme.popup
            };
            let keys = fit_width(&item.keys, keys_width);
            let pad = " ".repeat(keys_width.saturating_sub(keys.width()) + 2);
            lines.push(Line::from(vec![
                TextSpan::styled(format!("{keys}{pad}"), self.theme.popup_title),
                TextSpan::styled(strip_controls(&item.label).into_owned(), style),
            ]));
        }
        if matches.is_empty() {
            lines.push(Line::styled("no match", self.theme.muted));
        }
        Paragraph::new(lines)
            .style(self.theme.popup)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(self.title())
                    .title_style(self.theme.popup_title),
            )
            .render(popup, buf);
    }
}

impl PaletteView<'_> {
    /// What the palette is for, and its keys as the keymap binds them.
    fn title(&self) -> String {
        let keys = |parts: &[(Command, &str)]| self.cx.keys.hint_bar(Mode::Palette, parts);
        match self.palette.purpose {
            Purpose::Run => format!(
                " Commands, templates and prompts (type to filter; {}) ",
                keys(&[(Command::submit, "runs"), (Command::cancel, "closes")])
            ),
            Purpose::Templates => format!(
                " Templates (type to filter; {}) ",
                keys(&[
                    (Command::submit, "fills in and runs"),
                    (Command::cancel, "closes")
                ])
            ),
            Purpose::Edit => format!(
                " Edit which template? (opens $EDITOR; {}) ",
                keys(&[(Command::cancel, "closes")])
            ),
            Purpose::Delete => format!(
                " Delete which of your templates? ({}) ",
                keys(&[(Command::cancel, "closes")])
            ),
        }
    }
}
