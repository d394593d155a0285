//! The draft pane: the text with its Markdown styles, the selection, and ghost text.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use unicode_segmentation::UnicodeSegmentation;

use super::markdown::{self, Span};
use super::theme::Theme;
use crate::app::{App, view};
use crate::command::Command;
use crate::document::layout;

pub(super) struct DraftPane<'a> {
    pub(super) app: &'a App,
    pub(super) theme: &'a Theme,
}

impl Widget for DraftPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let editor = self.app.editor();
        let (doc, view) = (editor.doc(), editor.view());
        buf.set_style(area, self.theme.text);
        let cursor = view.cursor_screen(doc);
        if let Some((_, y)) = cursor {
            let row = Rect {
                y: area.y + y as u16,
                height: 1,
                ..area
            };
            buf.set_style(row.intersection(area), self.theme.cursor_line);
        }
        let (mut line, top_row) = view.top(doc);
        let (mut k, mut first_row) = view::split_row(top_row);
        let mut y = 0;
        let fold = view.fold(doc);
        while y < area.height as usize && line < doc.rope().len_lines() {
            if let Some((body, _)) = fold.filter(|_| line == 0) {
                self.draw_fold(doc, Rect { height: 1, ..area }, buf);
                (line, k, first_row, y) = (body, 0, 0, y + 1);
                continue;
            }
            let segment = view::segment(doc, line, k, area.width as usize);
            let kinds = markdown::spans(&segment.text, segment.index > 0);
            let start = doc.rope().line_to_char(line) + segment.start;
            for (i, row) in segment.rows.iter().enumerate().skip(first_row) {
                if y >= area.height as usize {
                    break;
                }
                let target = Rect {
                    y: area.y + y as u16,
                    height: 1,
                    ..area
                };
                let line_end = segment.last && i + 1 == segment.rows.len();
                self.draw_row(
                    doc,
                    start,
                    &segment.text,
                    &kinds,
                    *row,
                    line_end,
                    target,
                    buf,
                );
                y += 1;
            }
            first_row = 0;
            (line, k) = if segment.last {
                (line + 1, 0)
            } else {
                (line, k + 1)
            };
        }
        if let (Some(ghost), Some(at)) = (
            self.app.assistant().ghost().visible_at(doc.cursor()),
            cursor,
        ) {
            draw_ghost(ghost, at, area, self.theme, buf);
        }
    }
}

impl DraftPane<'_> {
    /// The folded front matter: its brief on one row, cut to the pane, and how to open it.
    fn draw_fold(&self, doc: &crate::document::Document, area: Rect, buf: &mut Buffer) {
        let Some(span) = doc.front_matter() else {
            return;
        };
        let brief = span.folded.as_deref().unwrap_or_default();
        let keys = self.app.keys().hint_bar(
            crate::keymap::Mode::Edit,
            &[(Command::brief, "edits"), (Command::fold_brief, "unfolds")],
        );
        let lines = span.lines;
        let line = if keys.is_empty() {
            format!("▸ {brief}  ({lines} lines)")
        } else {
            format!("▸ {brief}  ({lines} lines · {keys})")
        };
        buf.set_stringn(
            area.x,
            area.y,
            &line,
            area.width as usize,
            self.theme.marker,
        );
    }

    /// One visual row of `text` (a line, or a segment of a long one, starting at char
    /// `line_start` of the draft, with Markdown styles `kinds`) into `area`, a row high:
    /// Markdown styles, the selection, control characters shown as placeholders, tabs as
    /// spaces.
    #[allow(clippy::too_many_arguments)]
    fn draw_row(
        &self,
        doc: &crate::document::Document,
        line_start: usize,
        text: &str,
        kinds: &[Span],
        row: layout::Row,
        is_last: bool,
        area: Rect,
        buf: &mut Buffer,
    ) {
        let theme = self.theme;
        let selection = doc.selection();
        let mut x = 0;
        let mut offset = row.start;
        for g in layout::slice_chars(text, row.start, row.end).graphemes(true) {
            let width = layout::grapheme_width(g, x);
            if x + width > area.width as usize {
                break;
            }
            let at = line_start + offset;
            let mut style = match kinds.get(offset).copied().unwrap_or(Span::Text) {
                Span::Text => theme.text,
                Span::Heading => theme.heading,
                Span::Emphasis => theme.emphasis,
                Span::Strong => theme.strong,
                Span::Code => theme.code,
                Span::Marker => theme.marker,
            };
            let shown = layout::display_text(g);
            if shown != g {
                style = style.patch(theme.control);
            }
            if at >= selection.start() && at < selection.end() {
                style = style.patch(theme.selection);
            }
            let cx = area.x + x as u16;
            if g == "\t" {
                for i in 0..width {
                    buf[(cx + i as u16, area.y)]
                        .set_symbol(" ")
                        .set_style(style);
                }
            } else {
                buf.set_stringn(cx, area.y, &shown, width.max(1), style);
            }
            x += width;
            offset += g.chars().count();
        }
        // A selected line break shows as one selected cell after the text.
        let end = line_start + row.end;
        if is_last && end >= selection.start() && end < selection.end() && x < area.width as usize {
            buf[(area.x + x as u16, area.y)].set_style(theme.selection);
        }
    }
}

/// Ghost text: dimmed after the cursor at `(cx, cy)`; what does not fit its row goes on in the
/// rows below while they are empty (typing at the end of a draft), and is cut otherwise.
fn draw_ghost(ghost: &str, (cx, cy): (usize, usize), area: Rect, theme: &Theme, buf: &mut Buffer) {
    if cy >= area.height as usize {
        return;
    }
    let shown: String = ghost.chars().take_while(|c| *c != '\n').collect();
    let width = area.width as usize;
    let (mut x, mut y) = (cx, cy);
    for piece in ghost_rows(&shown, width.saturating_sub(cx), width) {
        if y >= area.height as usize {
            break;
        }
        if y > cy {
            let blank =
                (0..area.width).all(|col| buf[(area.x + col, area.y + y as u16)].symbol() == " ");
            if !blank {
                break;
            }
        }
        buf.set_stringn(
            area.x + x as u16,
            area.y + y as u16,
            piece,
            width.saturating_sub(x),
            theme.ghost,
        );
        y += 1;
        x = 0;
    }
}

/// Ghost text as rows: the first in the `room` left after the cursor, the rest `width` wide,
/// broken between words (anywhere in a run of CJK) as the draft will break them once
/// accepted. Only a word too long for the cursor's row is cut there.
fn ghost_rows(text: &str, room: usize, width: usize) -> Vec<&str> {
    let fits = fitting_prefix(text, room);
    let first = if fits.len() < text.len() {
        // Break after the last space that fits, keeping a word whole for the next row.
        match fits.rfind(' ') {
            Some(i) => &text[..=i],
            None => fits,
        }
    } else {
        fits
    };
    let rest = &text[first.len()..];
    let mut rows = vec![first];
    if !rest.is_empty() {
        rows.extend(
            layout::wrap(rest, width)
                .iter()
                .map(|row| layout::slice_chars(rest, row.start, row.end)),
        );
    }
    rows
}

fn fitting_prefix(text: &str, columns: usize) -> &str {
    let mut used = 0;
    for (i, g) in text.grapheme_indices(true) {
        used += layout::grapheme_width(g, used);
        if used > columns {
            return &text[..i];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghost_text_wraps_between_words() {
        assert_eq!(ghost_rows("a novel idea", 5, 10), vec!["a ", "novel idea"]);
        assert_eq!(
            ghost_rows("a novel idea", 5, 8),
            vec!["a ", "novel ", "idea"]
        );
        assert_eq!(ghost_rows("novel", 3, 10), vec!["nov", "el"]);
        assert_eq!(ghost_rows("创业产品", 5, 4), vec!["创业", "产品"]);
        assert_eq!(ghost_rows("fits", 10, 10), vec!["fits"]);
    }

    #[test]
    fn a_ghost_at_the_row_end_goes_on_below() {
        assert_eq!(fitting_prefix("abc def", 3), "abc");
        assert_eq!(fitting_prefix("汉字", 3), "汉");
        assert_eq!(fitting_prefix("ab", 10), "ab");
    }
}
