//! Keys and keymaps: key names as written in TOML ("C-s", "A-Right", "S-F3"), and for each
//! mode (the draft, the suggestions pane, each pop-up) a map from keys to actions: a named
//! command, or `prompt:<id>` for any prompt or template of the library. The defaults are
//! `defaults/keys.toml`; the user's `[keys]` in config.toml overrides them key by key (plain
//! entries for the draft, a `[keys.<mode>]` table for another mode). Help, the palette and
//! every hint bar are made from the keymaps in force. Terminal key events are translated into
//! `Key` by the terminal layer, so nothing here depends on it.

use std::collections::{BTreeMap, HashMap};

use crate::command::Command;

const DEFAULT_KEYS: &str = include_str!("../defaults/keys.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    Char(char),
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    PageUp,
    PageDown,
    Enter,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Esc,
    F(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mods {
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: Mods,
}

impl Key {
    pub fn plain(code: KeyCode) -> Key {
        Key {
            code,
            mods: Mods::default(),
        }
    }

    pub fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            mods: Mods {
                ctrl: true,
                ..Mods::default()
            },
        }
    }

    /// Parses "C-S-Left", "A-x", "F1", "Enter", "q". Letters are case-insensitive with C-/A-.
    pub fn parse(text: &str) -> Option<Key> {
        let mut mods = Mods::default();
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("C-") {
                mods.ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("A-") {
                mods.alt = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("S-") {
                mods.shift = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "Left" => KeyCode::Left,
            "Right" => KeyCode::Right,
            "Up" => KeyCode::Up,
            "Down" => KeyCode::Down,
            "Home" => KeyCode::Home,
            "End" => KeyCode::End,
            "PageUp" => KeyCode::PageUp,
            "PageDown" => KeyCode::PageDown,
            "Enter" => KeyCode::Enter,
            "Tab" => KeyCode::Tab,
            "BackTab" => KeyCode::BackTab,
            "Backspace" => KeyCode::Backspace,
            "Delete" => KeyCode::Delete,
            "Insert" => KeyCode::Insert,
            "Esc" => KeyCode::Esc,
            "Space" => KeyCode::Char(' '),
            f if f.starts_with('F') && f.len() > 1 => KeyCode::F(f[1..].parse().ok()?),
            c if c.chars().count() == 1 => {
                let c = c.chars().next()?;
                KeyCode::Char(if mods.ctrl || mods.alt {
                    c.to_ascii_lowercase()
                } else {
                    c
                })
            }
            _ => return None,
        };
        Some(Key { code, mods }.normalized())
    }

    /// One spelling per key: Shift on a character is part of the character, not a modifier,
    /// and BackTab is Shift-Tab already (terminals report it with Shift as well).
    pub fn normalized(mut self) -> Key {
        match self.code {
            KeyCode::Char(c) if self.mods.ctrl || self.mods.alt => {
                self.code = KeyCode::Char(c.to_ascii_lowercase());
            }
            KeyCode::Char(_) | KeyCode::BackTab => self.mods.shift = false,
            _ => {}
        }
        self
    }

    /// Whether only a terminal with the kitty keyboard protocol can tell this key apart. A
    /// legacy terminal sends Alt-[ as ESC [, the start of every escape sequence (it swallows
    /// the next key); Ctrl-Shift-S as Ctrl-S; Shift-F3 as a cursor position report; Ctrl-I and
    /// Ctrl-M as Tab and Enter; Ctrl-Backspace as Backspace, Ctrl-H or nothing (tmux).
    pub fn needs_kitty_protocol(&self) -> bool {
        let Mods { ctrl, alt, shift } = self.mods;
        match self.code {
            // ESC [ and ESC O start escape sequences: the next key is swallowed with them.
            KeyCode::Char('[') if alt => true,
            KeyCode::Char('o') if alt && shift => true,
            KeyCode::Char(c) if ctrl => {
                shift || !(c.is_ascii_lowercase() || c == ' ') || matches!(c, 'i' | 'm')
            }
            KeyCode::Backspace => ctrl,
            KeyCode::Enter | KeyCode::Tab => ctrl || shift,
            KeyCode::F(3) => ctrl || alt || shift,
            _ => false,
        }
    }

    /// Text typed by this key, if it types text.
    pub fn typed_char(&self) -> Option<char> {
        match self.code {
            KeyCode::Char(c) if !self.mods.ctrl && !self.mods.alt => Some(c),
            _ => None,
        }
    }

    pub fn name(&self) -> String {
        let mut name = String::new();
        if self.mods.ctrl {
            name.push_str("C-");
        }
        if self.mods.alt {
            name.push_str("A-");
        }
        if self.mods.shift {
            name.push_str("S-");
        }
        match self.code {
            KeyCode::Char(' ') => name.push_str("Space"),
            KeyCode::Char(c) => name.push(c),
            KeyCode::F(n) => name.push_str(&format!("F{n}")),
            other => name.push_str(&format!("{other:?}")),
        }
        name
    }
}

/// Where a key is pressed: each mode has its own keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// The draft.
    Edit,
    /// The suggestions pane, when it has the keyboard (F6).
    Suggestions,
    Help,
    Palette,
    Settings,
    /// A template's form.
    Form,
    /// The one-line prompt at the bottom (find, open, save as, a template's name).
    Prompt,
    /// A question to answer (unsaved changes, overwrite, recover, delete).
    Confirm,
}

impl Mode {
    pub const ALL: [Mode; 8] = [
        Mode::Edit,
        Mode::Suggestions,
        Mode::Help,
        Mode::Palette,
        Mode::Settings,
        Mode::Form,
        Mode::Prompt,
        Mode::Confirm,
    ];

    /// The name in config.toml: `[keys.<name>]`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Edit => "edit",
            Mode::Suggestions => "suggestions",
            Mode::Help => "help",
            Mode::Palette => "palette",
            Mode::Settings => "settings",
            Mode::Form => "form",
            Mode::Prompt => "prompt",
            Mode::Confirm => "confirm",
        }
    }

    /// How help heads the mode's keys.
    pub fn title(self) -> &'static str {
        match self {
            Mode::Edit => "The draft",
            Mode::Suggestions => "The suggestions pane (F6)",
            Mode::Help => "Help",
            Mode::Palette => "The palette and template picker",
            Mode::Settings => "Settings",
            Mode::Form => "A template's form",
            Mode::Prompt => "The prompt line (find, open, save as, names)",
            Mode::Confirm => "Questions",
        }
    }

    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Keys this mode does not bind fall through to the draft's (the suggestions pane lets the
    /// draft's commands work).
    fn falls_through(self) -> bool {
        self == Mode::Suggestions
    }
}

/// What a key does: a named command, or a prompt of the library run on the draft.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    Command(Command),
    /// `prompt:<id>`: any prompt or template, built in or the writer's.
    Prompt(String),
}

impl Action {
    /// "save", "prompt:rewrite-formal"; `None` for an unknown command.
    pub fn parse(text: &str) -> Option<Action> {
        match text.strip_prefix("prompt:") {
            Some(id) if !id.trim().is_empty() => Some(Action::Prompt(id.trim().to_string())),
            Some(_) => None,
            None => Command::from_name(text).map(Action::Command),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Action::Command(c) => c.info().name.to_string(),
            Action::Prompt(id) => format!("prompt:{id}"),
        }
    }
}

/// Every mode's keymap.
#[derive(Debug, Clone)]
pub struct Keymaps {
    maps: BTreeMap<Mode, HashMap<Key, Action>>,
    /// The terminal reports keys with the kitty protocol: every key can be told apart.
    kitty: bool,
}

/// One binding as written in a config file: mode, key name, action name ("none" unbinds).
pub type Binding = (Mode, String, String);

impl Keymaps {
    /// The defaults with `overrides` laid over them. Bad entries come back as warnings and are
    /// skipped.
    pub fn new(overrides: &[Binding]) -> (Keymaps, Vec<String>) {
        let mut warnings = Vec::new();
        let mut maps: BTreeMap<Mode, HashMap<Key, Action>> =
            Mode::ALL.into_iter().map(|m| (m, HashMap::new())).collect();
        for (mode, key_name, action_name) in default_bindings().iter().chain(overrides) {
            let Some(key) = Key::parse(key_name) else {
                warnings.push(format!(
                    "unknown key {key_name:?} in [keys.{}]",
                    mode.name()
                ));
                continue;
            };
            let map = maps.entry(*mode).or_default();
            if action_name == "none" {
                map.remove(&key);
                continue;
            }
            match Action::parse(action_name) {
                Some(action) => {
                    map.insert(key, action);
                }
                None => warnings.push(format!(
                    "unknown command {action_name:?} for key {key_name} in [keys.{}]",
                    mode.name()
                )),
            }
        }
        (Keymaps { maps, kitty: false }, warnings)
    }

    /// Says whether the terminal reports keys with the kitty protocol, which decides which
    /// keys are shown to the writer.
    pub fn set_kitty_protocol(&mut self, on: bool) {
        self.kitty = on;
    }

    /// Whether this terminal can deliver `key` as itself.
    pub fn can_deliver(&self, key: &Key) -> bool {
        self.kitty || !key.needs_kitty_protocol()
    }

    /// What `key` does in `mode`.
    pub fn action(&self, mode: Mode, key: &Key) -> Option<&Action> {
        self.maps.get(&mode).and_then(|m| m.get(key)).or_else(|| {
            mode.falls_through()
                .then(|| self.maps.get(&Mode::Edit).and_then(|m| m.get(key)))
                .flatten()
        })
    }

    /// The command `key` runs in `mode`, if it runs one.
    pub fn command(&self, mode: Mode, key: &Key) -> Option<Command> {
        match self.action(mode, key) {
            Some(Action::Command(c)) => Some(*c),
            _ => None,
        }
    }

    /// The keys bound to `action` in `mode` that this terminal can deliver, shortest first:
    /// what help, the palette and hints show. A key the terminal would garble is never
    /// advertised.
    pub fn keys_for(&self, mode: Mode, action: &Action) -> Vec<String> {
        let mut keys: Vec<String> = self
            .maps
            .get(&mode)
            .into_iter()
            .flatten()
            .filter(|(k, a)| *a == action && self.can_deliver(k))
            .map(|(k, _)| k.name())
            .collect();
        keys.sort_by_key(|k| (k.len(), k.clone()));
        keys
    }

    /// The key to show for `command` in `mode`'s hints, if it has one this terminal delivers.
    pub fn hint(&self, mode: Mode, command: Command) -> Option<String> {
        self.keys_for(mode, &Action::Command(command))
            .into_iter()
            .next()
            .or_else(|| {
                mode.falls_through()
                    .then(|| self.hint(Mode::Edit, command))
                    .flatten()
            })
    }

    /// "Enter run · Esc cancel": a hint bar from (command, what it does here) pairs, each
    /// shown with its key in `mode`, those with no key left out.
    pub fn hint_bar(&self, mode: Mode, parts: &[(Command, &str)]) -> String {
        parts
            .iter()
            .filter_map(|(command, label)| {
                self.hint(mode, *command).map(|k| format!("{k} {label}"))
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// Every binding of `mode`, sorted by action then key.
    pub fn bindings(&self, mode: Mode) -> Vec<(Key, Action)> {
        let mut all: Vec<(Key, Action)> = self
            .maps
            .get(&mode)
            .into_iter()
            .flatten()
            .map(|(k, a)| (*k, a.clone()))
            .collect();
        all.sort_by_key(|(k, a)| (a.name(), k.name()));
        all
    }
}

/// `defaults/keys.toml`: a table per mode.
fn default_bindings() -> Vec<Binding> {
    let table: toml::Table = DEFAULT_KEYS.parse().unwrap_or_default();
    let mut bindings = Vec::new();
    for (mode_name, entries) in &table {
        let (Some(mode), Some(entries)) = (Mode::from_name(mode_name), entries.as_table()) else {
            continue;
        };
        for (key, action) in entries {
            if let Some(action) = action.as_str() {
                bindings.push((mode, key.clone(), action.to_string()));
            }
        }
    }
    bindings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_tab_is_back_tab_however_the_terminal_reports_it() {
        let reported = Key {
            code: KeyCode::BackTab,
            mods: Mods {
                shift: true,
                ..Mods::default()
            },
        };
        assert_eq!(reported.normalized(), Key::parse("BackTab").unwrap());
    }

    #[test]
    fn key_names_parse_and_print_back() {
        for name in [
            "C-s",
            "C-S-Left",
            "A-Backspace",
            "F1",
            "S-F3",
            "Enter",
            "q",
            "C-Home",
        ] {
            assert_eq!(Key::parse(name).unwrap().name(), name);
        }
        assert_eq!(Key::parse("C-S"), Key::parse("C-s"));
        assert_eq!(Key::parse("Nope"), None);
    }

    #[test]
    fn every_default_binding_is_valid_in_every_mode() {
        let (keymaps, warnings) = Keymaps::new(&[]);
        assert!(warnings.is_empty(), "{warnings:?}");
        for mode in Mode::ALL {
            assert!(
                !keymaps.bindings(mode).is_empty(),
                "{} has no keys",
                mode.name()
            );
        }
        assert_eq!(
            keymaps.command(Mode::Edit, &Key::ctrl('s')),
            Some(Command::save)
        );
        assert_eq!(
            keymaps.action(Mode::Edit, &Key::ctrl('r')),
            Some(&Action::Prompt("rewrite-concise".into()))
        );
        assert_eq!(
            keymaps.command(Mode::Palette, &Key::plain(KeyCode::Esc)),
            Some(Command::cancel)
        );
        // The suggestions pane lets the draft's keys through.
        assert_eq!(
            keymaps.command(Mode::Suggestions, &Key::ctrl('s')),
            Some(Command::save)
        );
    }

    #[test]
    fn user_bindings_override_and_unbind_per_mode() {
        let (keymaps, warnings) = Keymaps::new(&[
            (Mode::Edit, "C-s".into(), "save_as".into()),
            (Mode::Edit, "C-q".into(), "none".into()),
            (Mode::Edit, "C-k".into(), "no_such".into()),
            (Mode::Edit, "A-s".into(), "prompt:summarise-bullets".into()),
            (Mode::Palette, "C-g".into(), "cancel".into()),
        ]);
        assert_eq!(
            keymaps.command(Mode::Edit, &Key::ctrl('s')),
            Some(Command::save_as)
        );
        assert_eq!(keymaps.command(Mode::Edit, &Key::ctrl('q')), None);
        assert_eq!(
            keymaps.action(Mode::Edit, &Key::parse("A-s").unwrap()),
            Some(&Action::Prompt("summarise-bullets".into()))
        );
        assert_eq!(
            keymaps.command(Mode::Palette, &Key::ctrl('g')),
            Some(Command::cancel)
        );
        // A mode's own keys stay its own.
        assert_eq!(
            keymaps.command(Mode::Edit, &Key::ctrl('g')),
            Some(Command::regenerate)
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn keys_a_legacy_terminal_garbles_are_known() {
        for name in [
            "A-[",
            "C-S-s",
            "S-F3",
            "C-F3",
            "C-i",
            "C-m",
            "C-Backspace",
            "C-Enter",
            "S-Enter",
            "C-1",
        ] {
            let key = Key::parse(name).unwrap();
            assert!(key.needs_kitty_protocol(), "{name}");
        }
        for name in [
            "A-]",
            "A-,",
            "A-.",
            "C-s",
            "F3",
            "A-Enter",
            "A-Backspace",
            "C-w",
            "C-Left",
            "S-Home",
            "C-Space",
            "BackTab",
            "F12",
            "A-t",
            "C-S-Left",
        ] {
            let key = Key::parse(name).unwrap();
            assert!(!key.needs_kitty_protocol(), "{name}");
        }
    }

    #[test]
    fn every_action_with_a_default_key_has_one_every_terminal_delivers() {
        let (keymaps, _) = Keymaps::new(&[]);
        for mode in Mode::ALL {
            for (_, action) in keymaps.bindings(mode) {
                assert!(
                    !keymaps.keys_for(mode, &action).is_empty(),
                    "{} in {} has only keys that need the kitty protocol",
                    action.name(),
                    mode.name()
                );
            }
        }
        // Hints and help never offer a key the terminal would garble...
        let previous = Action::Command(Command::previous_variant);
        assert_eq!(keymaps.keys_for(Mode::Edit, &previous), vec!["A-,"]);
        assert_eq!(
            keymaps.hint(Mode::Edit, Command::save_as).as_deref(),
            Some("F12")
        );
        // ...unless it reports keys with the kitty protocol.
        let mut kitty = keymaps.clone();
        kitty.set_kitty_protocol(true);
        assert_eq!(kitty.keys_for(Mode::Edit, &previous), vec!["A-,", "A-["]);
    }
}
