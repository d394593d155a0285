//! Soft wrap: one logical line laid out in rows of at most `width` columns. Positions are char
//! offsets within the line; widths are display columns (CJK and most emoji take two). Lines wrap
//! after spaces; CJK text wraps between any two characters; a word longer than the row is cut.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use super::grapheme::is_wide_script;
use crate::sanitize::is_unsafe_char;

pub const TAB_WIDTH: usize = 4;

/// One visual row: chars `start..end` of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub start: usize,
    pub end: usize,
}

/// A grapheme as laid out: its char offset, char count, column and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub offset: usize,
    pub chars: usize,
    pub col: usize,
    pub width: usize,
}

/// What a grapheme shows as: control characters become visible placeholders.
pub fn display_text(grapheme: &str) -> std::borrow::Cow<'_, str> {
    let first = grapheme.chars().next().unwrap_or(' ');
    if is_unsafe_char(first) {
        let shown = match first as u32 {
            c @ 0..=0x1f => char::from_u32(0x2400 + c).unwrap_or('?'),
            0x7f => '\u{2421}',
            _ => '\u{FFFD}',
        };
        return shown.to_string().into();
    }
    grapheme.into()
}

/// Columns a grapheme takes at column `col`.
pub fn grapheme_width(grapheme: &str, col: usize) -> usize {
    match grapheme {
        "\t" => TAB_WIDTH - col % TAB_WIDTH,
        g if g.chars().next().is_some_and(is_unsafe_char) => 1,
        g => g.width(),
    }
}

/// Lays out the graphemes of `line` (no trailing newline) from column 0, without wrapping.
pub fn cells(line: &str) -> Vec<Cell> {
    let mut cells = Vec::with_capacity(line.len());
    let mut offset = 0;
    let mut col = 0;
    for g in line.graphemes(true) {
        let width = grapheme_width(g, col);
        let chars = g.chars().count();
        cells.push(Cell {
            offset,
            chars,
            col,
            width,
        });
        offset += chars;
        col += width;
    }
    cells
}

/// Splits a line into rows of at most `width` columns (at least one row, even when empty).
pub fn wrap(line: &str, width: usize) -> Vec<Row> {
    let width = width.max(2);
    let graphemes: Vec<&str> = line.graphemes(true).collect();
    let mut rows = Vec::new();
    let mut row_start_g = 0; // grapheme index where the row starts
    let mut row_start = 0; // char offset where the row starts
    let mut col = 0;
    let mut offset = 0;
    // Last place the row may break: (grapheme index, char offset) of the first grapheme after it.
    let mut last_break: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < graphemes.len() {
        let g = graphemes[i];
        let w = grapheme_width(g, col);
        let is_space = g == " " || g == "\t";
        if col + w > width && !is_space && i > row_start_g {
            // Break at the last opportunity in this row, or right here if there is none.
            let (gi, off) = match last_break {
                Some((gi, off)) if gi > row_start_g => (gi, off),
                _ => (i, offset),
            };
            rows.push(Row {
                start: row_start,
                end: off,
            });
            row_start_g = gi;
            row_start = off;
            last_break = None;
            // Re-lay the carried-over graphemes from column 0.
            i = gi;
            offset = off;
            col = 0;
            continue;
        }
        let chars = g.chars().count();
        col += w;
        offset += chars;
        i += 1;
        let c = g.chars().next().unwrap_or(' ');
        let next_wide = graphemes
            .get(i)
            .and_then(|n| n.chars().next())
            .is_some_and(is_wide_script);
        if is_space || is_wide_script(c) || next_wide || c == '-' {
            last_break = Some((i, offset));
        }
    }
    rows.push(Row {
        start: row_start,
        end: offset,
    });
    rows
}

/// The row (index) holding char `offset`; an offset at a row boundary belongs to the later row.
pub fn row_of(rows: &[Row], offset: usize) -> usize {
    rows.iter().rposition(|r| r.start <= offset).unwrap_or(0)
}

/// Display column of char `offset` within its row.
pub fn col_of(line: &str, row: Row, offset: usize) -> usize {
    cells(slice_chars(line, row.start, row.end))
        .iter()
        .take_while(|c| row.start + c.offset < offset)
        .map(|c| c.width)
        .sum()
}

/// The char offset in `row` nearest display column `col` (never past the row's end; at most
/// the last grapheme's start for a row that wraps on).
pub fn offset_at_col(line: &str, row: Row, col: usize, is_last_row: bool) -> usize {
    let text = slice_chars(line, row.start, row.end);
    let cells = cells(text);
    for cell in &cells {
        if cell.col + cell.width > col {
            return row.start + cell.offset;
        }
    }
    match cells.last() {
        // A wrapped row's end is the next row's start: stay on this row.
        Some(last) if !is_last_row => row.start + last.offset,
        _ => row.end,
    }
}

pub fn slice_chars(text: &str, start: usize, end: usize) -> &str {
    let mut indices = text.char_indices().map(|(b, _)| b).chain([text.len()]);
    let from = indices.nth(start).unwrap_or(text.len());
    let to = if end > start {
        indices.nth(end - start - 1).unwrap_or(text.len())
    } else {
        from
    };
    &text[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(line: &'a str, rows: &[Row]) -> Vec<&'a str> {
        rows.iter()
            .map(|r| slice_chars(line, r.start, r.end))
            .collect()
    }

    #[test]
    fn words_wrap_after_spaces() {
        let line = "the quick brown fox jumps";
        assert_eq!(
            texts(line, &wrap(line, 10)),
            vec!["the quick ", "brown fox ", "jumps"]
        );
    }

    #[test]
    fn cjk_wraps_between_characters_at_two_columns_each() {
        let line = "大模型驱动的创业产品";
        let rows = wrap(line, 7);
        assert_eq!(texts(line, &rows), vec!["大模型", "驱动的", "创业产", "品"]);
        for row in &rows {
            assert!(col_of(line, *row, row.end) <= 7);
        }
    }

    #[test]
    fn a_word_longer_than_the_row_is_cut() {
        let line = "supercalifragilistic";
        assert_eq!(
            texts(line, &wrap(line, 8)),
            vec!["supercal", "ifragili", "stic"]
        );
    }

    #[test]
    fn emoji_and_combining_marks_are_never_split() {
        let line = "ae\u{301}👨‍👩‍👧x";
        let rows = wrap(line, 3);
        assert_eq!(texts(line, &rows), vec!["ae\u{301}", "👨‍👩‍👧x"]);
    }

    #[test]
    fn columns_count_display_width() {
        let line = "中a😀b";
        let row = Row { start: 0, end: 4 };
        assert_eq!(col_of(line, row, 1), 2);
        assert_eq!(col_of(line, row, 2), 3);
        assert_eq!(col_of(line, row, 3), 5);
        assert_eq!(offset_at_col(line, row, 1, true), 0);
        assert_eq!(offset_at_col(line, row, 4, true), 2);
        assert_eq!(offset_at_col(line, row, 50, true), 4);
    }

    #[test]
    fn control_characters_show_as_placeholders_one_column_wide() {
        assert_eq!(display_text("\u{1b}"), "\u{241b}");
        assert_eq!(grapheme_width("\u{1b}", 0), 1);
        assert_eq!(display_text("\u{202e}"), "\u{FFFD}");
        assert_eq!(display_text("字"), "字");
    }

    #[test]
    fn the_empty_line_has_one_row() {
        assert_eq!(wrap("", 10), vec![Row { start: 0, end: 0 }]);
    }
}
