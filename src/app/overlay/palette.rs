//! The command palette: every command and every prompt, fuzzy-matched as the writer types
//! (nucleo, the matcher helix uses), each shown with its keys; also the template picker, and
//! the lists to edit or delete a template from.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};

use super::{Intent, Outcome, OverlayCx};
use crate::app::line_input::LineInput;
use crate::command::{COMMANDS, Command};
use crate::keymap::{Action, Key, Mode};
use crate::prompt::{Action as PromptAction, Origin, PromptTemplate};

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
    pub query: LineInput,
    pub selected: usize,
    pub purpose: Purpose,
}

/// A template is a prompt the writer fills in or that makes new copy; the rest act on the draft.
fn is_template(p: &PromptTemplate) -> bool {
    p.action == PromptAction::Generate || !p.fields.is_empty()
}

impl Palette {
    pub fn new(purpose: Purpose) -> Self {
        Palette {
            purpose,
            ..Palette::default()
        }
    }

    /// Everything on offer for the palette's purpose: commands first, then prompts and
    /// templates, then themes.
    pub fn items(&self, cx: &OverlayCx) -> Vec<PaletteItem> {
        if self.purpose != Purpose::Run {
            return cx
                .prompts
                .iter()
                .filter(|p| match self.purpose {
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
        let keys = |action: &Action| cx.keys.keys_for(Mode::Edit, action).join(" ");
        let commands = COMMANDS
            .iter()
            .filter(|(c, _)| *c != Command::command_palette)
            .map(|(command, info)| PaletteItem {
                label: format!("{} — {}", info.name.replace('_', " "), info.doc),
                keys: keys(&Action::Command(*command)),
                action: PaletteAction::Command(*command),
            });
        let prompts = cx.prompts.iter().map(|p| {
            let kind = if is_template(p) { "template" } else { "prompt" };
            PaletteItem {
                label: format!("{kind}: {} ({}) — {}", p.name, p.id, p.description),
                keys: keys(&Action::Prompt(p.id.clone())),
                action: PaletteAction::Prompt(p.id.clone()),
            }
        });
        let themes = cx.themes.iter().map(|name| PaletteItem {
            label: format!("theme: {name}"),
            keys: String::new(),
            action: PaletteAction::Theme(name.clone()),
        });
        commands.chain(prompts).chain(themes).collect()
    }

    /// The items matching the query, best first (all of them, in order, for an empty query).
    pub fn matches(&self, cx: &OverlayCx) -> Vec<PaletteItem> {
        let items = self.items(cx);
        let query = &self.query.text;
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

    pub fn on_key(&mut self, command: Option<Command>, key: &Key, cx: &OverlayCx) -> Outcome {
        use Command as C;
        match command {
            Some(C::cancel) => Outcome::Close,
            Some(C::submit) => {
                let chosen = self.matches(cx).into_iter().nth(self.selected);
                match chosen.map(|item| item.action) {
                    Some(action) => Outcome::Then(self.intent(action)),
                    None => Outcome::Close,
                }
            }
            Some(C::select_previous) => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Stay
            }
            Some(C::select_next) => {
                let n = self.matches(cx).len();
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
                Outcome::Stay
            }
            _ => {
                let before = self.query.text.clone();
                self.query.edit(command, key);
                if self.query.text != before {
                    self.selected = 0;
                }
                Outcome::Stay
            }
        }
    }

    fn intent(&self, action: PaletteAction) -> Intent {
        match action {
            PaletteAction::Command(command) => Intent::Run(Action::Command(command)),
            PaletteAction::Prompt(id) => match self.purpose {
                Purpose::Run | Purpose::Templates => Intent::OpenTemplate(id),
                Purpose::Edit => Intent::EditTemplate(id),
                Purpose::Delete => Intent::DeleteTemplate(id),
            },
            PaletteAction::Theme(name) => Intent::SetTheme(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::{KeyCode, Keymaps};

    #[test]
    fn the_palette_finds_commands_and_prompts_fuzzily() {
        let (keys, _) = Keymaps::new(&[]);
        let prompts = crate::prompt::PromptLibrary::built_in().unwrap();
        let config = crate::config::Config::default();
        let cx = OverlayCx {
            keys: &keys,
            config: &config,
            prompts: &prompts,
            themes: &[],
            screen: (80, 20),
        };
        let matches_for = |query: &str| {
            let mut palette = Palette::default();
            palette.query.insert(query);
            palette.matches(&cx)
        };
        let matches = matches_for("rewrite formal");
        assert!(
            matches
                .iter()
                .take(3)
                .any(|m| m.action == PaletteAction::Prompt("rewrite-formal".into())),
            "{matches:?}"
        );
        let formal = matches
            .iter()
            .find(|m| m.action == PaletteAction::Prompt("rewrite-formal".into()))
            .unwrap();
        assert_eq!(formal.keys, "A-f", "a prompt shows its key");
        let saves = matches_for("sav as");
        assert_eq!(saves[0].action, PaletteAction::Command(Command::save_as));
        assert!(saves[0].keys.contains("F12"), "{:?}", saves[0].keys);
        assert!(matches_for("zzzzqqq").is_empty());
        for (query, command) in [
            ("new template", Command::new_template),
            ("edit template", Command::edit_template),
            ("delete template", Command::delete_template),
        ] {
            let first = matches_for(query).remove(0);
            assert_eq!(first.action, PaletteAction::Command(command), "{query}");
        }
        // Typing, then Enter, asks for the item on top.
        let mut palette = Palette::default();
        for c in "select all".chars() {
            palette.on_key(None, &Key::plain(KeyCode::Char(c)), &cx);
        }
        assert_eq!(
            palette.on_key(Some(Command::submit), &Key::plain(KeyCode::Enter), &cx),
            Outcome::Then(Intent::Run(Action::Command(Command::select_all)))
        );
    }
}
