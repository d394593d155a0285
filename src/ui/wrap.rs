//! Wrapping styled lines for a pane, by grapheme and display width, the way the draft wraps:
//! at spaces where it can, anywhere in a run of CJK. ratatui's own `Wrap` can let a wide
//! character that does not fit the last column run over the pane's border (its issue 2679).

use ratatui::text::{Line, Span};

use crate::document::layout;

/// `lines` as rows of at most `width` columns, each row keeping its spans' styles.
pub fn wrap_lines(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for line in lines {
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        if text.is_empty() {
            out.push(line);
            continue;
        }
        // Each span's char range in the line's text.
        let mut spans = Vec::new();
        let mut at = 0;
        for span in &line.spans {
            let len = span.content.chars().count();
            spans.push((at, at + len, span));
            at += len;
        }
        for row in layout::wrap(&text, width) {
            let mut pieces = Vec::new();
            for &(start, end, span) in &spans {
                let (from, to) = (start.max(row.start), end.min(row.end));
                if from < to {
                    let piece = layout::slice_chars(&span.content, from - start, to - start);
                    pieces.push(Span::styled(piece.to_string(), span.style));
                }
            }
            out.push(Line::from(pieces).style(line.style));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Modifier, Style};
    use unicode_width::UnicodeWidthStr;

    /// A row's width without the spaces it ends with (they may hang past the edge, unseen).
    fn width(line: &Line) -> usize {
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        text.trim_end().width()
    }

    #[test]
    fn no_row_is_wider_than_the_pane_and_styles_follow_their_text() {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let line = Line::from(vec![
            Span::raw("These include "),
            Span::styled("AI 和 ML", bold),
            Span::raw(", which 大模型驱动的创业产品创新趋势 and the more words 和 ML"),
        ]);
        for w in 3..60 {
            let rows = wrap_lines(vec![line.clone()], w);
            for row in &rows {
                assert!(width(row) <= w, "{w}: {row:?}");
            }
            let text: String = rows
                .iter()
                .flat_map(|r| r.spans.iter().map(|s| s.content.to_string()))
                .collect();
            assert_eq!(text, line.to_string(), "{w}: nothing lost or doubled");
            let bolded: String = rows
                .iter()
                .flat_map(|r| r.spans.iter())
                .filter(|s| s.style == bold)
                .map(|s| s.content.to_string())
                .collect();
            assert_eq!(bolded, "AI 和 ML", "{w}");
        }
    }
}
