//! The viewport over a `Document`: the draft pane's size and scroll position in visual rows
//! (soft-wrapped by grapheme and display width), where the cursor is on screen, and the
//! motions that depend on the layout (up and down by visual row, line start and end, a click).
//! It reads the document; the editor applies the char indices it returns.

use crate::document::Document;
use crate::document::layout::{self, Row};

/// Rows kept between the cursor and the top or bottom edge when scrolling.
const SCROLL_MARGIN: usize = 2;
/// Rows a mouse wheel step scrolls.
const WHEEL_ROWS: usize = 3;

/// A position in visual rows: a logical line and a row within its wrapping.
pub type RowPos = (usize, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub width: usize,
    pub height: usize,
    /// The first visible row as last settled.
    top: RowPos,
    /// The display column vertical motion aims for.
    preferred_col: Option<usize>,
    /// The cursor moved or the text changed since the view last followed the cursor. Edits
    /// only set this: the scroll is brought to the cursor once per frame (`settle`), not
    /// after each of a burst of keys, which on a long line would re-wrap it for every key.
    follow_pending: bool,
}

impl Default for View {
    fn default() -> Self {
        View {
            width: 80,
            height: 24,
            top: (0, 0),
            preferred_col: None,
            follow_pending: false,
        }
    }
}

/// A logical line's text without its line break.
pub fn line_text(doc: &Document, line: usize) -> String {
    let rope = doc.rope();
    if line >= rope.len_lines() {
        return String::new();
    }
    let mut text = rope.line(line).to_string();
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

impl View {
    /// Back to the top of a new document.
    pub fn reset(&mut self) {
        self.top = (0, 0);
        self.preferred_col = None;
        self.follow_pending = false;
    }

    pub fn resize(&mut self, doc: &Document, width: usize, height: usize) {
        self.width = width.max(4);
        self.height = height.max(1);
        self.settle(doc);
    }

    /// The cursor moved or the text changed: follow it at the next frame; `keep_col` keeps the
    /// column vertical motion aims for (it was vertical motion).
    pub fn cursor_moved(&mut self, keep_col: bool) {
        if !keep_col {
            self.preferred_col = None;
        }
        self.follow_pending = true;
    }

    /// Brings the scroll to the cursor if a motion or an edit is still to be followed.
    pub fn settle(&mut self, doc: &Document) {
        self.top = self.top(doc);
        self.follow_pending = false;
    }

    pub fn rows(&self, doc: &Document, line: usize) -> Vec<Row> {
        layout::wrap(&line_text(doc, line), self.width)
    }

    /// The first visible row as the screen shows it.
    pub fn top(&self, doc: &Document) -> RowPos {
        if self.follow_pending {
            self.followed_top(doc)
        } else {
            self.clamped_top(doc)
        }
    }

    /// The settled top row, within the text as it is now (an edit or a wider pane can leave it
    /// past a line's last row).
    fn clamped_top(&self, doc: &Document) -> RowPos {
        let lines = doc.rope().len_lines();
        if self.top.0 >= lines {
            return (lines.saturating_sub(1), 0);
        }
        let rows = self.rows(doc, self.top.0).len();
        (self.top.0, self.top.1.min(rows.saturating_sub(1)))
    }

    /// The top row that shows the cursor with a margin above and below, moving as little as
    /// it can from the settled one.
    fn followed_top(&self, doc: &Document) -> RowPos {
        let current = self.clamped_top(doc);
        let cursor = self.cursor_row(doc);
        let margin = SCROLL_MARGIN.min(self.height.saturating_sub(1) / 2);
        let top = self.rows_up(doc, cursor, margin);
        if current > top {
            return top;
        }
        // Too low: the cursor must sit at most `height - 1 - margin` rows below the top.
        let limit = self.height.saturating_sub(1 + margin);
        match self.rows_between(doc, current, cursor) {
            Some(n) if n <= limit => current,
            _ => self.rows_up(doc, cursor, limit),
        }
    }

    /// `n` visual rows above `from`, or the first row.
    fn rows_up(&self, doc: &Document, from: RowPos, n: usize) -> RowPos {
        let mut pos = from;
        for _ in 0..n {
            match self.prev_row(doc, pos) {
                Some(p) => pos = p,
                None => break,
            }
        }
        pos
    }

    /// The cursor's logical line and its row within it.
    fn cursor_row(&self, doc: &Document) -> RowPos {
        let rope = doc.rope();
        let head = doc.cursor();
        let line = rope.char_to_line(head);
        let offset = head - rope.line_to_char(line);
        let rows = self.rows(doc, line);
        (line, layout::row_of(&rows, offset))
    }

    /// The cursor's logical line, its row within it and its display column in that row.
    fn cursor_cell(&self, doc: &Document) -> (usize, usize, usize) {
        let rope = doc.rope();
        let head = doc.cursor();
        let line = rope.char_to_line(head);
        let offset = head - rope.line_to_char(line);
        let text = line_text(doc, line);
        let rows = layout::wrap(&text, self.width);
        let row = layout::row_of(&rows, offset);
        (line, row, layout::col_of(&text, rows[row], offset))
    }

    /// The cursor's cell within the draft pane (column, row), if it is on screen.
    pub fn cursor_screen(&self, doc: &Document) -> Option<(usize, usize)> {
        let (line, row_index, col) = self.cursor_cell(doc);
        let y = self.rows_between(doc, self.top(doc), (line, row_index))?;
        (y < self.height).then_some((col.min(self.width - 1), y))
    }

    /// Visual rows from `from` down to `to`, if `to` is not above `from`. Each line between is
    /// wrapped once, and only until the count is past the screen.
    fn rows_between(&self, doc: &Document, from: RowPos, to: RowPos) -> Option<usize> {
        if to < from {
            return None;
        }
        if from.0 == to.0 {
            return Some(to.1 - from.1);
        }
        let mut count = self.rows(doc, from.0).len().saturating_sub(from.1);
        for line in from.0 + 1..to.0 {
            if count > self.height * 4 {
                return Some(count);
            }
            count += self.rows(doc, line).len();
        }
        Some(count + to.1)
    }

    fn next_row(&self, doc: &Document, (line, row): RowPos) -> Option<RowPos> {
        if row + 1 < self.rows(doc, line).len() {
            Some((line, row + 1))
        } else if line + 1 < doc.rope().len_lines() {
            Some((line + 1, 0))
        } else {
            None
        }
    }

    fn prev_row(&self, doc: &Document, (line, row): RowPos) -> Option<RowPos> {
        if row > 0 {
            Some((line, row - 1))
        } else if line > 0 {
            Some((line - 1, self.rows(doc, line - 1).len() - 1))
        } else {
            None
        }
    }

    /// Rows a page motion moves.
    pub fn page_rows(&self) -> isize {
        self.height.saturating_sub(2).max(1) as isize
    }

    /// Where the cursor goes `delta` visual rows away, aiming at the preferred column; past the
    /// first or last row, the very start or end.
    pub fn rows_away(&mut self, doc: &Document, delta: isize) -> usize {
        let (line, row_index, col) = self.cursor_cell(doc);
        let col = *self.preferred_col.get_or_insert(col);
        let mut pos = (line, row_index);
        for _ in 0..delta.unsigned_abs() {
            let next = if delta > 0 {
                self.next_row(doc, pos)
            } else {
                self.prev_row(doc, pos)
            };
            match next {
                Some(p) => pos = p,
                None => return if delta > 0 { doc.len_chars() } else { 0 },
            }
        }
        self.offset_in_row(doc, pos, col)
    }

    /// The char index at display column `col` of visual row `pos`.
    fn offset_in_row(&self, doc: &Document, pos: RowPos, col: usize) -> usize {
        let text = line_text(doc, pos.0);
        let rows = layout::wrap(&text, self.width);
        let index = pos.1.min(rows.len() - 1);
        let is_last = index + 1 == rows.len();
        doc.rope().line_to_char(pos.0) + layout::offset_at_col(&text, rows[index], col, is_last)
    }

    /// The start of the cursor's visual row.
    pub fn row_start(&self, doc: &Document) -> usize {
        let (line, row) = self.cursor_row(doc);
        let rows = self.rows(doc, line);
        doc.rope().line_to_char(line) + rows[row].start
    }

    /// The end of the cursor's visual row: on a wrapped row, just before the next row starts.
    pub fn row_end(&self, doc: &Document) -> usize {
        let (line, row) = self.cursor_row(doc);
        let rows = self.rows(doc, line);
        if row + 1 == rows.len() {
            return doc.rope().line_to_char(line) + rows[row].end;
        }
        let text = line_text(doc, line);
        doc.rope().line_to_char(line) + layout::offset_at_col(&text, rows[row], usize::MAX, false)
    }

    /// A wheel step, from the view the screen shows.
    pub fn scroll(&mut self, doc: &Document, down: bool) {
        let mut top = self.top(doc);
        for _ in 0..WHEEL_ROWS {
            let next = if down {
                self.next_row(doc, top)
            } else {
                self.prev_row(doc, top)
            };
            match next {
                Some(p) => top = p,
                None => break,
            }
        }
        self.top = top;
        self.follow_pending = false;
    }

    /// The char index under a click at (`column`, `row`) of the pane, mapped from the view
    /// the screen shows (a wheel scroll may have taken it off the cursor).
    pub fn click(&mut self, doc: &Document, column: usize, row: usize) -> Option<usize> {
        if row >= self.height {
            return None;
        }
        self.top = self.top(doc);
        self.follow_pending = false;
        self.preferred_col = None;
        let mut pos = self.top;
        for _ in 0..row {
            match self.next_row(doc, pos) {
                Some(p) => pos = p,
                None => break,
            }
        }
        Some(self.offset_in_row(doc, pos, column))
    }
}

#[cfg(test)]
impl View {
    /// Puts the settled top row anywhere, even where no scroll would leave it.
    pub(crate) fn set_top(&mut self, top: RowPos) {
        self.top = top;
        self.follow_pending = false;
    }
}
