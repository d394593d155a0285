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

/// A position in visual rows: a logical line and a row within its wrapping. On a line laid out
/// in segments the row is `segment * SEGMENT_STRIDE + row within the segment`, which keeps the
/// order of positions and lets a row be found without wrapping the segments before it.
pub type RowPos = (usize, usize);

/// A line longer than this many chars is laid out in segments of about this many, each
/// wrapped on its own, so a row always ends where a segment does. Laying out what the screen
/// shows then costs a segment or two wherever the view is, even on a 100 MB line, instead of
/// the whole line for every query. Lines up to this length, nearly all of them, are one
/// segment and wrap exactly as before.
pub const SEGMENT_CHARS: usize = 4096;

/// The stride of segments in a `RowPos` row. Every row holds at least one char and a segment
/// fewer than 1.5 x `SEGMENT_CHARS`, so its rows fit.
pub const SEGMENT_STRIDE: usize = 2 * SEGMENT_CHARS;

/// A segment's index and its row within it, from a `RowPos` row.
pub fn split_row(row: usize) -> (usize, usize) {
    (row / SEGMENT_STRIDE, row % SEGMENT_STRIDE)
}

fn pack_row(segment: usize, row: usize) -> usize {
    segment * SEGMENT_STRIDE + row
}

/// One segment of a logical line, laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    /// Its first char, as an offset within the line.
    pub start: usize,
    pub text: String,
    /// Its rows, as char offsets within `text`.
    pub rows: Vec<Row>,
    /// It is the line's last segment: its last row ends the line.
    pub last: bool,
}

impl Segment {
    fn is_line_end(&self, row: usize) -> bool {
        self.last && row + 1 == self.rows.len()
    }
}

/// The chars of a logical line, without its line break.
fn line_len(doc: &Document, line: usize) -> usize {
    let rope = doc.rope();
    if line >= rope.len_lines() {
        return 0;
    }
    let slice = rope.line(line);
    let len = slice.len_chars();
    if len > 0 && slice.char(len - 1) == '\n' {
        len - 1
    } else {
        len
    }
}

/// How many segments a line is laid out in.
pub fn segment_count(doc: &Document, line: usize) -> usize {
    line_len(doc, line).div_ceil(SEGMENT_CHARS).max(1)
}

/// Where segment `k` of a line starts (a char offset within the line): the grapheme boundary at
/// or before `k * SEGMENT_CHARS`, unless a cluster is absurdly long (thousands of combining
/// marks), which is then cut.
fn segment_start(doc: &Document, line: usize, k: usize) -> usize {
    if k == 0 {
        return 0;
    }
    let line_start = doc.rope().line_to_char(line);
    let at = k * SEGMENT_CHARS;
    let boundary = crate::document::grapheme::prev_boundary(doc.rope(), line_start + at + 1);
    let boundary = boundary.saturating_sub(line_start);
    if boundary + SEGMENT_CHARS / 2 > at {
        boundary
    } else {
        at
    }
}

/// Segment `k` of `line`, wrapped to `width`.
pub fn segment(doc: &Document, line: usize, k: usize, width: usize) -> Segment {
    let count = segment_count(doc, line);
    let k = k.min(count - 1);
    let start = segment_start(doc, line, k);
    let end = if k + 1 < count {
        segment_start(doc, line, k + 1)
    } else {
        line_len(doc, line)
    };
    let text = if line < doc.rope().len_lines() {
        let line_start = doc.rope().line_to_char(line);
        doc.rope()
            .slice(line_start + start..line_start + end)
            .to_string()
    } else {
        String::new()
    };
    let rows = layout::wrap(&text, width);
    Segment {
        index: k,
        start,
        text,
        rows,
        last: k + 1 == count,
    }
}

/// The segment of `line` holding char `offset` of it (the line's end is in its last one).
fn segment_of(doc: &Document, line: usize, offset: usize) -> usize {
    let k = (offset / SEGMENT_CHARS).min(segment_count(doc, line) - 1);
    if k > 0 && offset < segment_start(doc, line, k) {
        k - 1
    } else {
        k
    }
}

/// What a click in the draft pane is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clicked {
    /// The text, at this char.
    At(usize),
    /// The folded front matter: the brief's form opens.
    Brief,
}

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
    /// The writer asked to see the front matter whole (`fold_brief`).
    unfolded: bool,
}

impl Default for View {
    fn default() -> Self {
        View {
            width: 80,
            height: 24,
            top: (0, 0),
            preferred_col: None,
            follow_pending: false,
            unfolded: false,
        }
    }
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

    /// Segment `k` of `line`, wrapped to the pane. The folded front matter is one empty row.
    pub fn segment(&self, doc: &Document, line: usize, k: usize) -> Segment {
        if line == 0 && self.fold(doc).is_some() {
            return Segment {
                index: 0,
                start: 0,
                text: String::new(),
                rows: vec![Row { start: 0, end: 0 }],
                last: true,
            };
        }
        segment(doc, line, k, self.width)
    }

    /// The front matter shows whole, or folds to one line (the default).
    pub fn toggle_fold(&mut self) {
        self.unfolded = !self.unfolded;
        self.follow_pending = true;
    }

    /// Where the body starts when the front matter is folded: its first line and char. Line 0
    /// then stands for the whole block in one row, and the lines after it up to the body have
    /// none. It folds only while the cursor is in the body, so the cursor is never on a hidden
    /// line: a search or an undo that takes it into the block shows the block whole.
    pub fn fold(&self, doc: &Document) -> Option<(usize, usize)> {
        let span = doc.front_matter()?;
        let folds = !self.unfolded && span.folded.is_some() && doc.cursor() >= span.chars;
        folds.then_some((span.lines, span.chars))
    }

    /// The line shown after `line`.
    fn next_line(&self, doc: &Document, line: usize) -> usize {
        match self.fold(doc) {
            Some((body, _)) if line == 0 => body,
            _ => line + 1,
        }
    }

    /// The line shown before `line` (> 0).
    fn prev_line(&self, doc: &Document, line: usize) -> usize {
        match self.fold(doc) {
            Some((body, _)) if line == body => 0,
            _ => line - 1,
        }
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
        if let Some((body, _)) = self.fold(doc)
            && self.top.0 > 0
            && self.top.0 < body
        {
            return (0, 0);
        }
        let (k, row) = split_row(self.top.1);
        let segment = self.segment(doc, self.top.0, k);
        let row = row.min(segment.rows.len().saturating_sub(1));
        (self.top.0, pack_row(segment.index, row))
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
        let (line, row, _) = self.cursor_cell(doc);
        (line, row)
    }

    /// The cursor's segment, and its offset within that segment's text.
    fn cursor_segment(&self, doc: &Document) -> (usize, Segment, usize) {
        let rope = doc.rope();
        let head = doc.cursor();
        let line = rope.char_to_line(head);
        let offset = head - rope.line_to_char(line);
        let segment = self.segment(doc, line, segment_of(doc, line, offset));
        let within = offset - segment.start;
        (line, segment, within)
    }

    /// The cursor's logical line, its row within it and its display column in that row.
    fn cursor_cell(&self, doc: &Document) -> (usize, usize, usize) {
        let (line, segment, offset) = self.cursor_segment(doc);
        let row = layout::row_of(&segment.rows, offset);
        let col = layout::col_of(&segment.text, segment.rows[row], offset);
        (line, pack_row(segment.index, row), col)
    }

    /// The cursor's cell within the draft pane (column, row), if it is on screen.
    pub fn cursor_screen(&self, doc: &Document) -> Option<(usize, usize)> {
        let (line, row_index, col) = self.cursor_cell(doc);
        let y = self.rows_between(doc, self.top(doc), (line, row_index))?;
        (y < self.height).then_some((col.min(self.width - 1), y))
    }

    /// Visual rows from `from` down to `to`, if `to` is not above `from`. Each segment between
    /// is wrapped once, and only until the count is past the screen.
    fn rows_between(&self, doc: &Document, from: RowPos, to: RowPos) -> Option<usize> {
        if to < from {
            return None;
        }
        let ((from_k, from_row), (to_k, to_row)) = (split_row(from.1), split_row(to.1));
        if (from.0, from_k) == (to.0, to_k) {
            return Some(to_row - from_row);
        }
        let mut count = self
            .segment(doc, from.0, from_k)
            .rows
            .len()
            .saturating_sub(from_row);
        let (mut line, mut k) = (from.0, from_k);
        loop {
            (line, k) = if k + 1 < self.segments(doc, line) {
                (line, k + 1)
            } else {
                (self.next_line(doc, line), 0)
            };
            if (line, k) == (to.0, to_k) {
                return Some(count + to_row);
            }
            if count > self.height * 4 || line >= doc.rope().len_lines() {
                return Some(count);
            }
            count += self.segment(doc, line, k).rows.len();
        }
    }

    fn next_row(&self, doc: &Document, (line, row): RowPos) -> Option<RowPos> {
        let (k, r) = split_row(row);
        if r + 1 < self.segment(doc, line, k).rows.len() {
            Some((line, pack_row(k, r + 1)))
        } else if k + 1 < self.segments(doc, line) {
            Some((line, pack_row(k + 1, 0)))
        } else if self.next_line(doc, line) < doc.rope().len_lines() {
            Some((self.next_line(doc, line), 0))
        } else {
            None
        }
    }

    fn prev_row(&self, doc: &Document, (line, row): RowPos) -> Option<RowPos> {
        let (k, r) = split_row(row);
        let last_of = |line: usize, k: usize| {
            let segment = self.segment(doc, line, k);
            pack_row(segment.index, segment.rows.len() - 1)
        };
        if r > 0 {
            Some((line, pack_row(k, r - 1)))
        } else if k > 0 {
            Some((line, last_of(line, k - 1)))
        } else if line > 0 {
            let line = self.prev_line(doc, line);
            Some((line, last_of(line, self.segments(doc, line) - 1)))
        } else {
            None
        }
    }

    /// How many segments a line is laid out in, the folded front matter's one included.
    fn segments(&self, doc: &Document, line: usize) -> usize {
        if line == 0 && self.fold(doc).is_some() {
            1
        } else {
            segment_count(doc, line)
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
        if let Some((_, body)) = self.fold(doc).filter(|_| pos.0 == 0) {
            // The cursor stays out of a folded block: the nearest it gets is the body's start.
            return body;
        }
        let (k, r) = split_row(pos.1);
        let segment = self.segment(doc, pos.0, k);
        let index = r.min(segment.rows.len() - 1);
        let offset = layout::offset_at_col(
            &segment.text,
            segment.rows[index],
            col,
            segment.is_line_end(index),
        );
        doc.rope().line_to_char(pos.0) + segment.start + offset
    }

    /// The start of the cursor's visual row.
    pub fn row_start(&self, doc: &Document) -> usize {
        let (line, segment, offset) = self.cursor_segment(doc);
        let row = layout::row_of(&segment.rows, offset);
        doc.rope().line_to_char(line) + segment.start + segment.rows[row].start
    }

    /// The end of the cursor's visual row: on a wrapped row, just before the next row starts.
    pub fn row_end(&self, doc: &Document) -> usize {
        let (line, segment, offset) = self.cursor_segment(doc);
        let row = layout::row_of(&segment.rows, offset);
        let end = if segment.is_line_end(row) {
            segment.rows[row].end
        } else {
            layout::offset_at_col(&segment.text, segment.rows[row], usize::MAX, false)
        };
        doc.rope().line_to_char(line) + segment.start + end
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

    /// What a click at (`column`, `row`) of the pane is on, mapped from the view the screen
    /// shows (a wheel scroll may have taken it off the cursor).
    pub fn click(&mut self, doc: &Document, column: usize, row: usize) -> Option<Clicked> {
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
        if pos.0 == 0 && self.fold(doc).is_some() {
            return Some(Clicked::Brief);
        }
        Some(Clicked::At(self.offset_in_row(doc, pos, column)))
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

#[cfg(test)]
mod tests_support {
    use super::*;

    /// Every visual row from the first down, as the char range of the draft it shows.
    pub(super) fn walk_down(view: &View, doc: &Document) -> Vec<(RowPos, usize, usize)> {
        let mut pos = Some((0, 0));
        let mut rows = Vec::new();
        while let Some(p) = pos {
            let (k, r) = split_row(p.1);
            let segment = view.segment(doc, p.0, k);
            let start = doc.rope().line_to_char(p.0) + segment.start;
            rows.push((
                p,
                start + segment.rows[r].start,
                start + segment.rows[r].end,
            ));
            pos = view.next_row(doc, p);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;

    fn view(width: usize, height: usize) -> View {
        View {
            width,
            height,
            ..View::default()
        }
    }

    #[test]
    fn a_short_line_is_one_segment_wrapped_as_a_whole() {
        let text = "the quick brown fox jumps over the lazy dog";
        let doc = Document::from_text(text);
        let v = view(10, 5);
        assert_eq!(segment_count(&doc, 0), 1);
        let segment = v.segment(&doc, 0, 0);
        assert_eq!(segment.rows, layout::wrap(text, 10));
        assert!(segment.last && segment.start == 0);
    }

    #[test]
    fn a_long_line_is_laid_out_in_segments_that_cover_it_once_in_order() {
        // Words, CJK and a combining mark right at a segment boundary.
        let mut line = "word 写作 ".repeat(SEGMENT_CHARS / 8);
        line.truncate(line.char_indices().nth(SEGMENT_CHARS - 1).unwrap().0);
        line.push_str("e\u{301}");
        line.push_str(&"longer words here ".repeat(SEGMENT_CHARS / 6));
        let text = format!("before\n{line}\nafter");
        let doc = Document::from_text(&text);
        let v = view(37, 10);
        assert_eq!(
            segment_count(&doc, 1),
            line.chars().count().div_ceil(SEGMENT_CHARS)
        );
        assert!(segment_count(&doc, 1) >= 3);
        // The boundary moved back to keep "e" and its accent together.
        assert_eq!(segment_start(&doc, 1, 1), SEGMENT_CHARS - 1);

        let rows = walk_down(&v, &doc);
        // Contiguous: each row starts where the one before ended (or after a line break).
        let mut expected = 0;
        for &(_, start, end) in &rows {
            if start != expected {
                assert_eq!(doc.rope().char(expected), '\n', "a gap before {start}");
                assert_eq!(start, expected + 1);
            }
            assert!(
                end > start || doc.rope().line(doc.rope().char_to_line(start)).len_chars() <= 1
            );
            expected = end;
        }
        assert_eq!(expected, doc.len_chars());
        // Positions grow down the page, and walking up gives the same rows back.
        let positions: Vec<RowPos> = rows.iter().map(|r| r.0).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
        let mut up = vec![*positions.last().unwrap()];
        while let Some(p) = v.prev_row(&doc, *up.last().unwrap()) {
            up.push(p);
        }
        up.reverse();
        assert_eq!(up, positions);
        // Counting rows across segments agrees with walking them.
        let tall = view(37, 10_000);
        for (i, &from) in positions.iter().enumerate().step_by(97) {
            for (j, &to) in positions.iter().enumerate().skip(i).step_by(89).take(3) {
                assert_eq!(
                    tall.rows_between(&doc, from, to),
                    Some(j - i),
                    "{from:?} {to:?}"
                );
            }
        }
    }

    #[test]
    fn the_cursor_is_found_in_its_segment_everywhere_on_a_long_line() {
        let line = "abc ".repeat(3 * SEGMENT_CHARS);
        let doc_text = format!("{line}\nend");
        let mut doc = Document::from_text(&doc_text);
        let mut v = view(50, 8);
        let rows = walk_down(&v, &doc);
        for at in [
            0,
            1,
            SEGMENT_CHARS - 1,
            SEGMENT_CHARS,
            SEGMENT_CHARS + 1,
            5 * SEGMENT_CHARS,
            line.len(),
        ] {
            doc.move_to(at, false);
            let (pos, start, end) = *rows.iter().rfind(|(_, start, _)| *start <= at).unwrap();
            assert_eq!(v.cursor_row(&doc), pos, "at {at}");
            assert_eq!(v.row_start(&doc), start);
            assert!(v.row_end(&doc) <= end);
            v.cursor_moved(false);
            v.settle(&doc);
            let (_, y) = v.cursor_screen(&doc).expect("on screen");
            assert!(y < v.height);
        }
        // Down from the last row of the long line is the next line; up comes back.
        doc.move_to(line.len(), false);
        let next = v.rows_away(&doc, 1);
        assert_eq!(doc.rope().char_to_line(next), 1);
        doc.move_to(next, false);
        let back = v.rows_away(&doc, -1);
        assert_eq!(doc.rope().char_to_line(back), 0);
    }
}

#[cfg(test)]
mod fold_tests {
    use super::tests_support::*;
    use super::*;
    use crate::document::history::EditKind;

    #[test]
    fn a_folded_front_matter_is_one_row_walked_alike_both_ways() {
        let body = "word ".repeat(40);
        let text = format!("---\ntitle: T\ntone: calm\n---\n{body}\n\n## Two\n{body}");
        let mut doc = Document::from_text(&text);
        let v = View {
            width: 23,
            height: 1000,
            ..View::default()
        };
        // The cursor in the block: every line shows.
        assert_eq!(v.fold(&doc), None);
        let whole = walk_down(&v, &doc);
        assert_eq!(whole[1].0, (1, 0));
        doc.move_to(doc.len_chars(), false);
        assert_eq!(v.fold(&doc), Some((4, 28)));
        let rows = walk_down(&v, &doc);
        assert_eq!(rows.len(), whole.len() - 3, "four lines in one row");
        assert_eq!((rows[0].0, rows[1].0), ((0, 0), (4, 0)));
        let positions: Vec<RowPos> = rows.iter().map(|r| r.0).collect();
        let mut up = vec![*positions.last().unwrap()];
        while let Some(p) = v.prev_row(&doc, *up.last().unwrap()) {
            up.push(p);
        }
        up.reverse();
        assert_eq!(up, positions);
        for (i, &to) in positions.iter().enumerate() {
            assert_eq!(v.rows_between(&doc, (0, 0), to), Some(i), "{to:?}");
        }
        // A top left on a hidden line (the block was shown whole) comes back to the fold.
        let mut v = v;
        v.set_top((2, 0));
        assert_eq!(v.top(&doc), (0, 0));
        // Typing a fence away unfolds: the block is body text.
        doc.move_to(3, false);
        doc.delete_backward();
        doc.move_to(doc.len_chars(), false);
        doc.insert(".", EditKind::Typing);
        assert_eq!(v.fold(&doc), None);
        assert_eq!(walk_down(&v, &doc).len(), whole.len());
    }
}
