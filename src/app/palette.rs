//! The command palette: every named command and every prompt, fuzzy-matched as the writer
//! types (nucleo, the matcher helix uses), each shown with its keys.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

use super::{App, Effect, Mode};
use crate::command::{COMMANDS, Command};
use crate::keymap::{Key, KeyCode};
use crate::prompt::{Action, Origin, PromptTemplate};

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

/// What choosing an item does: the palette doubles as the template picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// Everything: commands, prompts and templates (a template opens its form), themes.
    #[default]
    Run,
    /// The template picker: templates only, each opening its form.
    Templates,
    /// Templates only, to open in `$EDITOR`.
    Edit,
    /// The writer's own templates only, to delete.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Palette {
    pub query: String,
    pub selected: usize,
    pub purpose: Purpose,
}

/// A template is a prompt the writer fills in or that makes new copy; the rest act on the draft.
fn is_template(p: &PromptTemplate) -> bool {
    p.action == Action::Generate || !p.fields.is_empty()
}

impl App {
    /// Everything the palette offers for `purpose`: commands first, then prompts and templates,
    /// then themes.
    pub fn palette_items(&self, purpose: Purpose) -> Vec<PaletteItem> {
        if purpose != Purpose::Run {
            return self
                .assistant
                .prompts
                .iter()
                .filter(|p| match purpose {
                    Purpose::Templates => is_template(p),
                    Purpose::Delete => matches!(p.origin, Origin::User(_)),
                    Purpose::Run | Purpose::Edit => true,
                })
                .map(|p| PaletteItem {
                    label: format!("{} ({}) — {}", p.name, p.id, p.description),
                    keys: match p.origin {
                        Origin::User(_) => "yours".into(),
                        Origin::BuiltIn => "built in".into(),
                    },
                    action: PaletteAction::Prompt(p.id.clone()),
                })
                .collect();
        }
        let commands = COMMANDS
            .iter()
            .filter(|(c, _)| *c != Command::command_palette)
            .map(|(command, info)| PaletteItem {
                label: format!("{} — {}", info.name.replace('_', " "), info.doc),
                keys: self.keymap.keys_for(*command).join(" "),
                action: PaletteAction::Command(*command),
            });
        let prompts = self.assistant.prompts.iter().map(|p| {
            let kind = if is_template(p) { "template" } else { "prompt" };
            PaletteItem {
                label: format!("{kind}: {} ({}) — {}", p.name, p.id, p.description),
                keys: String::new(),
                action: PaletteAction::Prompt(p.id.clone()),
            }
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
        self.palette_matches_for(query, Purpose::Run)
    }

    pub fn palette_matches_for(&self, query: &str, purpose: Purpose) -> Vec<PaletteItem> {
        let items = self.palette_items(purpose);
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
                    .palette_matches_for(&palette.query, palette.purpose)
                    .into_iter()
                    .nth(palette.selected);
                return match chosen.map(|item| item.action) {
                    Some(PaletteAction::Command(command)) => self.run(command),
                    Some(PaletteAction::Prompt(id)) => match palette.purpose {
                        Purpose::Run | Purpose::Templates => self.open_template(&id),
                        Purpose::Edit => self.edit_template(&id),
                        Purpose::Delete => {
                            self.confirm_delete_template(&id);
                            Vec::new()
                        }
                    },
                    Some(PaletteAction::Theme(name)) => self.set_theme(name),
                    None => Vec::new(),
                };
            }
            KeyCode::Up => palette.selected = palette.selected.saturating_sub(1),
            KeyCode::Down => {
                let n = self
                    .palette_matches_for(&palette.query, palette.purpose)
                    .len();
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
        for (query, command) in [
            ("new template", Command::new_template),
            ("edit template", Command::edit_template),
            ("delete template", Command::delete_template),
        ] {
            let first = app.palette_matches(query).remove(0);
            assert_eq!(first.action, PaletteAction::Command(command), "{query}");
        }
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
