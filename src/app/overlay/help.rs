//! The help overlay: every mode's keys as the keymaps in force bind them (only keys this
//! terminal delivers), each action with its doc, then the commands no key runs; laid out in
//! three columns for the overlay's width, each wrapping within its own column. Scrolling and
//! drawing use the same rows, so both agree on where it ends.

use unicode_width::UnicodeWidthStr;

use super::{Outcome, OverlayCx};
use crate::command::{COMMANDS, Command};
use crate::document::layout;
use crate::keymap::{Action, Mode};

/// One screen row of help: an entry's first row holds its name; later rows continue a column
/// that wrapped and leave the others blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub keys: String,
    pub name: String,
    pub doc: String,
    /// A mode's title, heading its keys.
    pub heading: Option<String>,
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

/// One entry of help: an action, its keys in a mode, and what it does.
struct Entry {
    keys: String,
    name: String,
    doc: String,
}

/// Every mode's bindings, action by action, and then the commands no key runs: what help
/// lists, in that order.
fn entries(cx: &OverlayCx) -> Vec<(Option<Mode>, Vec<Entry>)> {
    let mut sections = Vec::new();
    let mut bound = std::collections::HashSet::new();
    for mode in Mode::ALL {
        let mut seen = std::collections::BTreeSet::new();
        let mut entries = Vec::new();
        for (_, action) in cx.keys.bindings(mode) {
            if !seen.insert(action.name()) {
                continue;
            }
            if let Action::Command(c) = &action {
                bound.insert(*c);
            }
            entries.push(Entry {
                keys: cx.keys.keys_for(mode, &action).join(" "),
                name: action.name(),
                doc: describe(&action, cx),
            });
        }
        sections.push((Some(mode), entries));
    }
    let unbound = COMMANDS
        .iter()
        .filter(|(c, _)| !bound.contains(c))
        .map(|(_, info)| Entry {
            keys: String::new(),
            name: info.name.to_string(),
            doc: info.doc.to_string(),
        })
        .collect();
    sections.push((None, unbound));
    sections
}

/// A command's doc, or a prompt's name and description.
fn describe(action: &Action, cx: &OverlayCx) -> String {
    match action {
        Action::Command(c) => c.info().doc.to_string(),
        Action::Prompt(id) => match cx.prompts.get(id) {
            Ok(p) if p.description.is_empty() => p.name.clone(),
            Ok(p) => format!("{}: {}", p.name, p.description),
            Err(_) => format!("no prompt named {id}"),
        },
    }
}

/// The widths of the key and name columns for an inner width; the doc takes the rest.
fn columns(sections: &[(Option<Mode>, Vec<Entry>)], inner: usize) -> (usize, usize) {
    let all = || sections.iter().flat_map(|(_, e)| e);
    let widest_keys = all().map(|e| e.keys.width()).max().unwrap_or(0);
    let widest_name = all().map(|e| e.name.width()).max().unwrap_or(0);
    // Keys get up to a quarter (they wrap at spaces), names what they need, docs at least a
    // third; each column is followed by a gap of two.
    let keys = widest_keys.min(inner / 4).max(6);
    let name = widest_name.min(inner.saturating_sub(keys + 4) / 2).max(8);
    (keys, name)
}

/// Every mode's keys as rows for an overlay whose inside is `inner` columns wide, and the key
/// and name columns' widths.
pub fn rows(cx: &OverlayCx, inner: usize) -> (Vec<HelpRow>, (usize, usize)) {
    let sections = entries(cx);
    let (keys_w, name_w) = columns(&sections, inner);
    let doc_w = inner.saturating_sub(keys_w + name_w + 4).max(8);
    let mut out = Vec::new();
    for (mode, entries) in sections {
        let title = mode.map_or(
            "Commands with no key (run them from the palette)",
            Mode::title,
        );
        out.push(HelpRow {
            keys: String::new(),
            name: String::new(),
            doc: String::new(),
            heading: Some(title.to_string()),
        });
        for entry in entries {
            let keys = wrap(&entry.keys, keys_w);
            let names = wrap(&entry.name, name_w);
            let docs = wrap(&entry.doc, doc_w);
            let height = keys.len().max(names.len()).max(docs.len()).max(1);
            for i in 0..height {
                let cell = |lines: &[String]| lines.get(i).cloned().unwrap_or_default();
                out.push(HelpRow {
                    keys: cell(&keys),
                    name: cell(&names),
                    doc: cell(&docs),
                    heading: None,
                });
            }
        }
    }
    (out, (keys_w, name_w))
}

/// The furthest the help can scroll: its last row at the bottom of the overlay.
fn max_scroll(cx: &OverlayCx) -> usize {
    let inner = usize::from(popup(cx.screen.0, cx.screen.1).2.saturating_sub(2));
    rows(cx, inner)
        .0
        .len()
        .saturating_sub(visible_rows(cx.screen))
}

/// The help overlay: its scroll position, in rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Help {
    pub scroll: usize,
}

impl Help {
    /// Scrolls, stopping at the last full page; any key but a scroll closes it.
    pub fn on_key(&mut self, command: Option<Command>, cx: &OverlayCx) -> Outcome {
        use Command as C;
        let last = max_scroll(cx);
        let page = visible_rows(cx.screen).saturating_sub(1).max(1);
        let scroll = self.scroll.min(last);
        self.scroll = match command {
            Some(C::scroll_down | C::move_down) => (scroll + 1).min(last),
            Some(C::scroll_up | C::move_up) => scroll.saturating_sub(1),
            Some(C::page_down) => (scroll + page).min(last),
            Some(C::page_up) => scroll.saturating_sub(page),
            Some(C::move_doc_start) => 0,
            Some(C::move_doc_end) => last,
            _ => return Outcome::Close,
        };
        Outcome::Stay
    }
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
    use crate::keymap::Keymaps;

    fn cx<'a>(
        keys: &'a Keymaps,
        prompts: &'a crate::prompt::PromptLibrary,
        config: &'a crate::config::Config,
        screen: (u16, u16),
    ) -> OverlayCx<'a> {
        OverlayCx {
            keys,
            config,
            prompts,
            themes: &[],
            screen,
        }
    }

    #[test]
    fn every_column_wraps_within_itself_and_every_mode_is_listed() {
        let (keys, _) = Keymaps::new(&[]);
        let prompts = crate::prompt::PromptLibrary::built_in().unwrap();
        let config = crate::config::Config::default();
        let cx = cx(&keys, &prompts, &config, (80, 24));
        for inner in [40, 60, 96] {
            let (rows, (keys_w, name_w)) = rows(&cx, inner);
            let doc_w = inner - keys_w - name_w - 4;
            for row in rows.iter().filter(|r| r.heading.is_none()) {
                assert!(row.keys.width() <= keys_w, "{inner}: {row:?}");
                assert!(row.name.width() <= name_w, "{inner}: {row:?}");
                assert!(row.doc.width() <= doc_w, "{inner}: {row:?}");
            }
            if inner >= 60 {
                for (_, info) in COMMANDS {
                    assert!(rows.iter().any(|r| r.name == info.name), "{}", info.name);
                }
                for mode in Mode::ALL {
                    assert!(
                        rows.iter()
                            .any(|r| r.heading.as_deref() == Some(mode.title())),
                        "{}",
                        mode.name()
                    );
                }
                // Prompts bound to keys are listed with the commands (the name column may
                // wrap a long id).
                let name = if inner >= 96 {
                    "prompt:rewrite-formal"
                } else {
                    "prompt:rewrite-"
                };
                assert!(rows.iter().any(|r| r.name == name), "{inner}");
            }
        }
        // A command with several keys lists them all, none run into the name.
        let (rows, _) = rows(&cx, 60);
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

    /// The keys help lists under each mode's heading.
    fn listed(rows: &[HelpRow]) -> Vec<(String, String)> {
        let mut heading = String::new();
        let mut out = Vec::new();
        for row in rows {
            match &row.heading {
                Some(h) => heading = h.clone(),
                None => out.extend(
                    row.keys
                        .split_whitespace()
                        .map(|k| (heading.clone(), k.to_string())),
                ),
            }
        }
        out
    }

    #[test]
    fn every_key_of_every_mode_is_listed_and_a_remap_shows_at_once() {
        let prompts = crate::prompt::PromptLibrary::built_in().unwrap();
        let config = crate::config::Config::default();
        let (keys, _) = Keymaps::new(&[]);
        let listed = listed(&rows(&cx(&keys, &prompts, &config, (200, 60)), 196).0);
        let mut count = 0;
        for mode in Mode::ALL {
            for (key, _) in keys.bindings(mode) {
                if keys.can_deliver(&key) {
                    let entry = (mode.title().to_string(), key.name());
                    assert!(listed.contains(&entry), "{entry:?}");
                    count += 1;
                }
            }
        }
        assert!(count > 120, "only {count} keys");
        let (remapped, warnings) = Keymaps::new(&[
            (Mode::Confirm, "Esc".into(), "none".into()),
            (Mode::Confirm, "x".into(), "cancel".into()),
            (Mode::Edit, "A-s".into(), "prompt:summarise-bullets".into()),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let rows = rows(&cx(&remapped, &prompts, &config, (200, 60)), 196).0;
        let listed = super::tests::listed(&rows);
        let confirm = Mode::Confirm.title().to_string();
        assert!(listed.contains(&(confirm.clone(), "x".into())));
        assert!(!listed.contains(&(confirm, "Esc".into())));
        let bullets = rows
            .iter()
            .find(|r| r.name == "prompt:summarise-bullets")
            .unwrap();
        assert_eq!(bullets.keys, "A-s A-t");
    }

    #[test]
    fn scrolling_stops_at_the_last_page() {
        let (keys, _) = Keymaps::new(&[]);
        let prompts = crate::prompt::PromptLibrary::built_in().unwrap();
        let config = crate::config::Config::default();
        let cx = cx(&keys, &prompts, &config, (80, 24));
        let inner = usize::from(popup(80, 24).2 - 2);
        let total = rows(&cx, inner).0.len();
        assert_eq!(max_scroll(&cx), total - visible_rows((80, 24)));
        let mut help = Help::default();
        for _ in 0..500 {
            assert_eq!(help.on_key(Some(Command::scroll_down), &cx), Outcome::Stay);
        }
        assert_eq!(help.scroll, max_scroll(&cx));
        help.on_key(Some(Command::scroll_up), &cx);
        assert_eq!(help.scroll, max_scroll(&cx) - 1, "one up moves at once");
        assert_eq!(help.on_key(None, &cx), Outcome::Close);
    }
}
