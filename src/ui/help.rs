//! The keys overlay (F1).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};
use unicode_width::UnicodeWidthStr;

use super::clear_overlay;
use super::theme::Theme;
use crate::app::overlay::OverlayCx;
use crate::command::Command;
use crate::keymap::Mode;

pub(super) struct Help<'a> {
    pub(super) cx: &'a OverlayCx<'a>,
    pub(super) theme: &'a Theme,
    pub(super) scroll: usize,
}

impl Widget for Help<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        use crate::app::overlay::help;
        let (x, y, width, height) = help::popup(area.width, area.height);
        let popup = Rect {
            x: area.x + x,
            y: area.y + y,
            width,
            height,
        }
        .intersection(area);
        clear_overlay(popup, buf);
        let inner = usize::from(width.saturating_sub(2));
        let (rows, (keys_w, name_w)) = help::rows(self.cx, inner);
        let last = rows
            .len()
            .saturating_sub(usize::from(height.saturating_sub(2)));
        let lines: Vec<Line> = rows
            .into_iter()
            .skip(self.scroll.min(last))
            .map(|row| {
                if let Some(title) = row.heading {
                    return Line::styled(title, self.theme.popup_title);
                }
                let pad = |text: String, w: usize| {
                    let fill = w.saturating_sub(text.width());
                    format!("{text}{}  ", " ".repeat(fill))
                };
                Line::from(vec![
                    TextSpan::styled(pad(row.keys, keys_w), self.theme.popup_title),
                    TextSpan::styled(pad(row.name, name_w), self.theme.popup),
                    TextSpan::styled(row.doc, self.theme.popup),
                ])
            })
            .collect();
        let keys = |command| self.cx.keys.hint(Mode::Help, command).unwrap_or_default();
        let title = format!(
            " Keys in every mode ({} {} {} {} scroll; any other key closes) ",
            keys(Command::scroll_up),
            keys(Command::scroll_down),
            keys(Command::page_up),
            keys(Command::page_down)
        );
        Paragraph::new(lines)
            .style(self.theme.popup)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title)
                    .title_style(self.theme.popup_title),
            )
            .render(popup, buf);
    }
}
