//! The command palette: every named command and every prompt, fuzzy-matched as the writer
//! types (nucleo, the matcher helix uses), each shown with its keys.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

use super::{App, Effect, Mode};
use crate::command::{COMMANDS, Command};
use crate::keymap::{Key, KeyCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaletteAction {
    Command(Command),
    /// A prompt of the library, by id.
    Prompt(String),
    /// Switch to a theme, by name.
    Theme(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaletteItem {
    /// What is matched and shown: the name and its one-line doc.
    pub label: String,
    pub keys: String,
    pub action: PaletteAction,
}

impl AsRef<str> for PaletteItem {
    fn as_ref(&self) -> &str {
        &self.label
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Palette {
    pub query: String,
    pub selected: usize,
}

impl App {
    /// Everything the palette offers, commands first, then prompts.
    pub fn palette_items(&self) -> Vec<PaletteItem> {
        let commands = COMMANDS
            .iter()
            .filter(|(c, _)| *c != Command::command_palette)
            .map(|(command, info)| PaletteItem {
                label: format!("{} — {}", info.name.replace('_', " "), info.doc),
                keys: self.keymap.keys_for(*command).join(" "),
                action: PaletteAction::Command(*command),
            });
        let prompts = self.assistant.prompts.iter().map(|p| PaletteItem {
            label: format!("prompt: {} — {}", p.name, p.description),
            keys: String::new(),
            action: PaletteAction::Prompt(p.id.clone()),
        });
        let themes = self.theme_names.iter().map(|name| PaletteItem {
            label: format!("theme: {name}"),
            keys: String::new(),
            action: PaletteAction::Theme(name.clone()),
        });
        commands.chain(prompts).chain(themes).collect()
    }

    /// The items matching `query`, best first (all of them, in order, for an empty query).
    pub fn palette_matches(&self, query: &str) -> Vec<PaletteItem> {
        let items = self.palette_items();
        if query.trim().is_empty() {
            return items;
        }
        let pattern = Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart);
        let mut matcher = Matcher::new(Config::DEFAULT);
        pattern
            .match_list(items, &mut matcher)
            .into_iter()
            .map(|(item, _)| item)
            .collect()
    }

    pub(super) fn on_palette_key(&mut self, mut palette: Palette, key: Key) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Edit;
                return Vec::new();
            }
            KeyCode::Enter => {
                self.mode = Mode::Edit;
                let chosen = self
                    .palette_matches(&palette.query)
                    .into_iter()
                    .nth(palette.selected);
                return match chosen.map(|item| item.action) {
                    Some(PaletteAction::Command(command)) => self.run(command),
                    Some(PaletteAction::Prompt(id)) => self.ask(&id),
                    Some(PaletteAction::Theme(name)) => self.set_theme(name),
                    None => Vec::new(),
                };
            }
            KeyCode::Up => palette.selected = palette.selected.saturating_sub(1),
            KeyCode::Down => {
                let n = self.palette_matches(&palette.query).len();
                palette.selected = (palette.selected + 1).min(n.saturating_sub(1));
            }
            KeyCode::Backspace => {
                palette.query.pop();
                palette.selected = 0;
            }
            _ => {
                if let Some(c) = key.typed_char() {
                    palette.query.push(c);
                    palette.selected = 0;
                }
            }
        }
        self.mode = Mode::Palette(palette);
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Msg;

    #[test]
    fn the_palette_finds_commands_and_prompts_fuzzily() {
        let app = App::with_text(None, "", 80, 20);
        let matches = app.palette_matches("rewrite formal");
        assert!(
            matches.iter().take(3).any(|m| m.action
                == PaletteAction::Command(Command::rewrite_formal)
                || m.action == PaletteAction::Prompt("rewrite-formal".into())),
            "{matches:?}"
        );
        let saves = app.palette_matches("sav as");
        assert_eq!(saves[0].action, PaletteAction::Command(Command::save_as));
        assert!(saves[0].keys.contains("F12"), "{:?}", saves[0].keys);
        assert!(app.palette_matches("zzzzqqq").is_empty());
    }

    #[test]
    fn enter_runs_the_selected_item() {
        let mut app = App::with_text(None, "hello", 80, 20);
        app.update(Msg::Key(Key::ctrl('p')));
        assert!(matches!(app.mode, Mode::Palette(_)));
        for c in "select all".chars() {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
        app.update(Msg::Key(Key::plain(KeyCode::Enter)));
        assert_eq!(app.mode, Mode::Edit);
        assert_eq!(app.doc.selected_text(), "hello");
    }
}
