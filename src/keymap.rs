//! Keys and the keymap: key names as written in TOML ("C-s", "A-Right", "S-F3") and the map
//! from keys to command names. The defaults are `defaults/keys.toml`; the user's `[keys]` table
//! in config.toml overrides them key by key. Terminal key events are translated into `Key` by
//! the terminal layer, so nothing here depends on it.

use std::collections::HashMap;

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

    /// One spelling per key: Shift on a character is part of the character, not a modifier.
    pub fn normalized(mut self) -> Key {
        if let KeyCode::Char(c) = self.code {
            if self.mods.ctrl || self.mods.alt {
                self.code = KeyCode::Char(c.to_ascii_lowercase());
            } else {
                self.mods.shift = false;
            }
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

/// Key -> command, for the editor.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: HashMap<Key, Command>,
    /// The terminal reports keys with the kitty protocol: every key can be told apart.
    kitty: bool,
}

impl Keymap {
    /// The defaults with `overrides` (key name -> command name) laid over them. Bad entries are
    /// returned as warnings and skipped.
    pub fn new(overrides: &[(String, String)]) -> (Keymap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut bindings = HashMap::new();
        let defaults: toml::Table = DEFAULT_KEYS.parse().unwrap_or_default();
        let default_pairs = defaults
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())));
        for (key_name, command_name) in default_pairs.chain(overrides.iter().cloned()) {
            let Some(key) = Key::parse(&key_name) else {
                warnings.push(format!("unknown key {key_name:?} in [keys]"));
                continue;
            };
            if command_name == "none" {
                bindings.remove(&key);
                continue;
            }
            let Some(command) = Command::from_name(&command_name) else {
                warnings.push(format!(
                    "unknown command {command_name:?} for key {key_name}"
                ));
                continue;
            };
            bindings.insert(key, command);
        }
        (
            Keymap {
                bindings,
                kitty: false,
            },
            warnings,
        )
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

    pub fn command(&self, key: &Key) -> Option<Command> {
        self.bindings.get(key).copied()
    }

    /// The keys bound to a command that this terminal can deliver, shortest first: what help,
    /// the palette and key hints show. A key the terminal would garble is never advertised.
    pub fn keys_for(&self, command: Command) -> Vec<String> {
        let mut keys: Vec<String> = self
            .bindings
            .iter()
            .filter(|(k, c)| **c == command && self.can_deliver(k))
            .map(|(k, _)| k.name())
            .collect();
        keys.sort_by_key(|k| (k.len(), k.clone()));
        keys
    }

    /// The key to show for a command in a hint, if it has one this terminal can deliver.
    pub fn hint(&self, command: Command) -> Option<String> {
        self.keys_for(command).into_iter().next()
    }

    /// Every binding, sorted by key name.
    pub fn bindings(&self) -> Vec<(Key, Command)> {
        let mut all: Vec<(Key, Command)> = self.bindings.iter().map(|(k, c)| (*k, *c)).collect();
        all.sort_by_key(|(k, _)| k.name());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_default_binding_is_valid() {
        let (keymap, warnings) = Keymap::new(&[]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(keymap.command(&Key::ctrl('s')), Some(Command::save));
        assert_eq!(
            keymap.command(&Key::plain(KeyCode::Left)),
            Some(Command::move_left)
        );
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
    fn every_command_with_a_default_key_has_one_every_terminal_delivers() {
        let (keymap, _) = Keymap::new(&[]);
        for (_, command) in keymap.bindings() {
            assert!(
                keymap.hint(command).is_some(),
                "{} has only keys that need the kitty protocol",
                command.info().name
            );
        }
        // Hints and help never offer a key the terminal would garble...
        let shown = keymap.keys_for(Command::previous_variant);
        assert_eq!(shown, vec!["A-,".to_string()]);
        assert_eq!(keymap.hint(Command::save_as).as_deref(), Some("F12"));
        // ...unless it reports keys with the kitty protocol.
        let mut kitty = keymap.clone();
        kitty.set_kitty_protocol(true);
        assert_eq!(
            kitty.keys_for(Command::previous_variant),
            vec!["A-,", "A-["]
        );
    }

    #[test]
    fn user_bindings_override_and_unbind() {
        let (keymap, warnings) = Keymap::new(&[
            ("C-s".into(), "save_as".into()),
            ("C-q".into(), "none".into()),
            ("C-k".into(), "no_such".into()),
        ]);
        assert_eq!(keymap.command(&Key::ctrl('s')), Some(Command::save_as));
        assert_eq!(keymap.command(&Key::ctrl('q')), None);
        assert_eq!(warnings.len(), 1);
    }
}
