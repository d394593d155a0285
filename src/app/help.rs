//! The help overlay's content and geometry: every command with the keys that run it (as the
//! keymap in force binds them, only keys this terminal delivers) and its doc, laid out in three
//! columns for the overlay's width, each wrapping within its own column. The app scrolls it by
//! these rows and the renderer draws them, so both agree on where it ends.

use unicode_width::UnicodeWidthStr;

use crate::command::COMMANDS;
use crate::document::layout;
use crate::keymap::Keymap;

/// One screen row of help: an entry's first row holds its name; later rows continue a column
/// that wrapped and leave the others blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub keys: String,
    pub name: String,
    pub doc: String,
}

/// The overlay on a screen of `width` x `height`: (x, y, width, height), borders included.
pub fn popup(width: u16, height: u16) -> (u16, u16, u16, u16) {
    let w = width.saturating_sub(4).min(100);
    let h = height.saturating_sub(2);
    ((width - w) / 2, 1.min(height), w, h)
}

/// The rows that fit inside the overlay's borders.
pub fn visible_rows(screen: (u16, u16)) -> usize {
    usize::from(popup(screen.0, screen.1).3.saturating_sub(2))
}

/// The widths of the key and name columns for an inner width; the doc takes the rest.
pub fn columns(keymap: &Keymap, inner: usize) -> (usize, usize) {
    let widest_keys = COMMANDS
        .iter()
        .map(|(c, _)| keymap.keys_for(*c).join(" ").width())
        .max()
        .unwrap_or(0);
    let widest_name = COMMANDS
        .iter()
        .map(|(_, info)| info.name.width())
        .max()
        .unwrap_or(0);
    // Keys get up to a quarter (they wrap at spaces), names what they need, docs at least a
    // third; each column is followed by a gap of two.
    let keys = widest_keys.min(inner / 4).max(6);
    let name = widest_name.min(inner.saturating_sub(keys + 4) / 2).max(8);
    (keys, name)
}

/// Every command as rows for an overlay whose inside is `inner` columns wide.
pub fn rows(keymap: &Keymap, inner: usize) -> Vec<HelpRow> {
    let (keys_w, name_w) = columns(keymap, inner);
    let doc_w = inner.saturating_sub(keys_w + name_w + 4).max(8);
    let mut out = Vec::new();
    for (command, info) in COMMANDS {
        let keys = wrap(&keymap.keys_for(*command).join(" "), keys_w);
        let names = wrap(info.name, name_w);
        let docs = wrap(info.doc, doc_w);
        let height = keys.len().max(names.len()).max(docs.len()).max(1);
        for i in 0..height {
            let cell = |lines: &[String]| lines.get(i).cloned().unwrap_or_default();
            out.push(HelpRow {
                keys: cell(&keys),
                name: cell(&names),
                doc: cell(&docs),
            });
        }
    }
    out
}

/// The furthest the help can scroll: its last row at the bottom of the overlay.
pub fn max_scroll(keymap: &Keymap, screen: (u16, u16)) -> usize {
    let inner = usize::from(popup(screen.0, screen.1).2.saturating_sub(2));
    rows(keymap, inner)
        .len()
        .saturating_sub(visible_rows(screen))
}

/// `text` in lines of at most `width` columns, broken at spaces where it can be (by grapheme
/// and display width, as the draft is), trailing spaces dropped.
fn wrap(text: &str, width: usize) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    layout::wrap(text, width)
        .iter()
        .map(|row| {
            layout::slice_chars(text, row.start, row.end)
                .trim_end()
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_wraps_within_itself() {
        let (keymap, _) = Keymap::new(&[]);
        for inner in [40, 60, 96] {
            let (keys_w, name_w) = columns(&keymap, inner);
            let doc_w = inner - keys_w - name_w - 4;
            let rows = rows(&keymap, inner);
            for row in &rows {
                assert!(row.keys.width() <= keys_w, "{inner}: {row:?}");
                assert!(row.name.width() <= name_w, "{inner}: {row:?}");
                assert!(row.doc.width() <= doc_w, "{inner}: {row:?}");
            }
            // Every command is there, under its whole name where there is room for names.
            if inner >= 60 {
                for (_, info) in COMMANDS {
                    assert!(rows.iter().any(|r| r.name == info.name), "{}", info.name);
                }
            }
        }
        // A command with several keys lists them all, none run into the name.
        let rows = rows(&keymap, 60);
        let at = rows
            .iter()
            .position(|r| r.name == "delete_word_backward")
            .unwrap();
        let keys: Vec<&str> = rows[at..]
            .iter()
            .take_while(|r| r.name.is_empty() || r.name == "delete_word_backward")
            .flat_map(|r| r.keys.split_whitespace())
            .collect();
        assert_eq!(keys, ["C-w", "A-Backspace"], "{:?}", &rows[at..at + 3]);
    }

    #[test]
    fn scrolling_stops_at_the_last_page() {
        let (keymap, _) = Keymap::new(&[]);
        let screen = (80, 24);
        let inner = usize::from(popup(80, 24).2 - 2);
        let total = rows(&keymap, inner).len();
        assert_eq!(max_scroll(&keymap, screen), total - visible_rows(screen));
        assert_eq!(max_scroll(&keymap, (80, 400)), 0);
    }
}
