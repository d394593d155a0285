//! The settings pane: the config's editable values, validated as they are entered, applied at
//! once, and written to the user's config.toml by the runner (toml_edit keeps comments and order).

use serde::Deserialize;

use super::{Intent, Outcome, OverlayCx};
use crate::app::line_input::LineInput;
use crate::command::Command;
use crate::config::Config;
use crate::keymap::Key;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Path,
    /// Free text; empty is allowed (a URL, a model's name).
    Text,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    Choice(&'static [&'static str]),
    /// One of the themes the library holds.
    Theme,
}

/// One editable setting: its label, where it lives in config.toml, and what it accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub label: &'static str,
    pub key: &'static [&'static str],
    pub kind: Kind,
}

pub const FIELDS: &[Field] = &[
    Field {
        label: "Model path",
        key: &["model"],
        kind: Kind::Path,
    },
    Field {
        label: "Context size",
        key: &["engine", "n_ctx"],
        kind: Kind::Int {
            min: 256,
            max: 131_072,
        },
    },
    Field {
        label: "Threads (0 = free cores)",
        key: &["engine", "threads"],
        kind: Kind::Int { min: 0, max: 256 },
    },
    Field {
        label: "GPU layers (-1 = all)",
        key: &["engine", "gpu_layers"],
        kind: Kind::Int { min: -1, max: 1000 },
    },
    Field {
        label: "Flash attention",
        key: &["engine", "flash_attention"],
        kind: Kind::Choice(&["auto", "on", "off"]),
    },
    Field {
        label: "Engine",
        key: &["engine", "kind"],
        kind: Kind::Choice(&["local", "remote"]),
    },
    Field {
        label: "Server URL",
        key: &["engine", "url"],
        kind: Kind::Text,
    },
    Field {
        label: "Server model",
        key: &["engine", "remote_model"],
        kind: Kind::Text,
    },
    Field {
        label: "API key variable",
        key: &["engine", "api_key_env"],
        kind: Kind::Text,
    },
    Field {
        label: "Server timeout (s)",
        key: &["engine", "timeout_s"],
        kind: Kind::Int { min: 1, max: 3600 },
    },
    Field {
        label: "Server tokenizer",
        key: &["engine", "tokenizer"],
        kind: Kind::Path,
    },
    Field {
        label: "Temperature",
        key: &["sampling", "temperature"],
        kind: Kind::Float { min: 0.0, max: 2.0 },
    },
    Field {
        label: "Top-k",
        key: &["sampling", "top_k"],
        kind: Kind::Int { min: 0, max: 1000 },
    },
    Field {
        label: "Top-p",
        key: &["sampling", "top_p"],
        kind: Kind::Float { min: 0.0, max: 1.0 },
    },
    Field {
        label: "Min-p",
        key: &["sampling", "min_p"],
        kind: Kind::Float { min: 0.0, max: 1.0 },
    },
    Field {
        label: "Repeat penalty",
        key: &["sampling", "repeat_penalty"],
        kind: Kind::Float { min: 0.5, max: 2.0 },
    },
    Field {
        label: "Max tokens",
        key: &["sampling", "max_tokens"],
        kind: Kind::Int { min: 1, max: 8192 },
    },
    Field {
        label: "Seed (-1 = random)",
        key: &["sampling", "seed"],
        kind: Kind::Int {
            min: -1,
            max: u32::MAX as i64,
        },
    },
    Field {
        label: "Variants",
        key: &["sampling", "variants"],
        kind: Kind::Int { min: 1, max: 9 },
    },
    Field {
        label: "Ghost text",
        key: &["editor", "ghost_text"],
        kind: Kind::Bool,
    },
    Field {
        label: "Ghost delay (ms)",
        key: &["editor", "ghost_delay_ms"],
        kind: Kind::Int { min: 50, max: 5000 },
    },
    Field {
        label: "Ghost budget (ms)",
        key: &["editor", "ghost_budget_ms"],
        kind: Kind::Int {
            min: 100,
            max: 60_000,
        },
    },
    Field {
        label: "Journal pause (ms)",
        key: &["editor", "journal_ms"],
        kind: Kind::Int {
            min: 100,
            max: 1000,
        },
    },
    Field {
        label: "Theme",
        key: &["editor", "theme"],
        kind: Kind::Theme,
    },
];

pub use crate::config::SettingValue as Value;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsPane {
    pub selected: usize,
    /// The text being typed for the selected field, while editing.
    pub editing: Option<LineInput>,
}

impl Field {
    /// The field's current value in `config`, as text. Read through the config's TOML form,
    /// so the key path in `FIELDS` is the only place a setting is named.
    pub fn show(&self, config: &Config) -> String {
        let table = toml::Table::try_from(config).unwrap_or_default();
        let mut item = None;
        let mut current = &table;
        for (i, part) in self.key.iter().enumerate() {
            match current.get(*part) {
                Some(toml::Value::Table(t)) if i + 1 < self.key.len() => current = t,
                Some(value) if i + 1 == self.key.len() => item = Some(value),
                _ => return String::new(),
            }
        }
        match item {
            Some(toml::Value::String(s)) => s.clone(),
            Some(toml::Value::Boolean(b)) => if *b { "on" } else { "off" }.to_string(),
            // Config floats are f32: shown as such, 0.7 rather than 0.699999988.
            Some(toml::Value::Float(x)) => (*x as f32).to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }

    /// Checks typed text against the field's kind.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let text = text.trim();
        match self.kind {
            Kind::Path | Kind::Text => Ok(Value::Str(text.to_string())),
            Kind::Int { min, max } => match text.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Value::Int(n)),
                _ => Err(format!(
                    "{}: a whole number from {min} to {max}",
                    self.label
                )),
            },
            Kind::Float { min, max } => match text.parse::<f64>() {
                Ok(x) if x.is_finite() && (min..=max).contains(&x) => Ok(Value::Float(x)),
                _ => Err(format!("{}: a number from {min} to {max}", self.label)),
            },
            Kind::Bool => match text {
                "on" | "true" | "yes" => Ok(Value::Bool(true)),
                "off" | "false" | "no" => Ok(Value::Bool(false)),
                _ => Err(format!("{}: on or off", self.label)),
            },
            // Checked against the theme library by the pane, which knows it.
            Kind::Theme => Ok(Value::Str(text.to_string())),
            Kind::Choice(choices) => {
                if choices.contains(&text) {
                    Ok(Value::Str(text.to_string()))
                } else {
                    Err(format!("{}: one of {}", self.label, choices.join(", ")))
                }
            }
        }
    }

    /// Puts a validated value into `config` (through its TOML form, like `show`).
    pub fn apply(&self, config: &mut Config, value: &Value) {
        let Ok(mut table) = toml::Table::try_from(&*config) else {
            return;
        };
        let Some((last, parents)) = self.key.split_last() else {
            return;
        };
        let mut current = &mut table;
        for part in parents {
            match current.get_mut(*part) {
                Some(toml::Value::Table(t)) => current = t,
                _ => return,
            }
        }
        let new = match value {
            Value::Str(s) => toml::Value::String(s.clone()),
            Value::Int(n) => toml::Value::Integer(*n),
            Value::Float(x) => toml::Value::Float(*x),
            Value::Bool(b) => toml::Value::Boolean(*b),
        };
        current.insert((*last).to_string(), new);
        if let Ok(updated) = Config::deserialize(table) {
            *config = updated;
        }
    }

    /// Whether a change needs the model reloaded.
    pub fn reloads_model(&self) -> bool {
        matches!(self.key, ["model"] | ["engine", _])
    }
}

impl SettingsPane {
    pub fn field(&self) -> Field {
        FIELDS[self.selected.min(FIELDS.len() - 1)]
    }

    /// Up and Down choose a field; Enter edits it (or turns a switch over), Left and Right
    /// step through a field's choices, Esc closes. While a value is typed, Enter checks and
    /// applies it and Esc drops it.
    pub fn on_key(&mut self, command: Option<Command>, key: &Key, cx: &OverlayCx) -> Outcome {
        use Command as C;
        let field = self.field();
        if let Some(editing) = &mut self.editing {
            return match command {
                Some(C::cancel) => {
                    self.editing = None;
                    Outcome::Stay
                }
                Some(C::submit) => match field.parse(&editing.text) {
                    Ok(Value::Str(name))
                        if field.kind == Kind::Theme && !cx.themes.contains(&name) =>
                    {
                        Outcome::Keep(Intent::Error(format!(
                            "no theme named {name}; there are {}",
                            cx.themes.join(", ")
                        )))
                    }
                    Ok(value) => {
                        self.editing = None;
                        Outcome::Keep(Intent::Set(field, value))
                    }
                    Err(e) => Outcome::Keep(Intent::Error(e)),
                },
                // Space types a space here, whatever it does in the list.
                Some(C::toggle) => {
                    editing.insert(" ");
                    Outcome::Stay
                }
                _ => {
                    editing.edit(command, key);
                    Outcome::Stay
                }
            };
        }
        match command {
            Some(C::cancel) => Outcome::Close,
            Some(C::select_previous) => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Stay
            }
            Some(C::select_next) => {
                self.selected = (self.selected + 1).min(FIELDS.len() - 1);
                Outcome::Stay
            }
            Some(C::submit | C::toggle) if field.kind == Kind::Bool => {
                let on = field.show(cx.config) == "on";
                Outcome::Keep(Intent::Set(field, Value::Bool(!on)))
            }
            Some(C::move_left | C::move_right)
                if matches!(field.kind, Kind::Choice(_) | Kind::Theme) =>
            {
                let themes: Vec<&str> = cx.themes.iter().map(String::as_str).collect();
                let choices: &[&str] = match field.kind {
                    Kind::Choice(choices) => choices,
                    _ => &themes,
                };
                if choices.is_empty() {
                    return Outcome::Stay;
                }
                let current = field.show(cx.config);
                let i = choices.iter().position(|c| *c == current).unwrap_or(0);
                let next = if command == Some(C::move_right) {
                    (i + 1) % choices.len()
                } else {
                    (i + choices.len() - 1) % choices.len()
                };
                Outcome::Keep(Intent::Set(field, Value::Str(choices[next].to_string())))
            }
            Some(C::submit) => {
                self.editing = Some(LineInput::new(&field.show(cx.config)));
                Outcome::Stay
            }
            _ => Outcome::Stay,
        }
    }
}

/// The settings field for the theme (the palette switches themes through it).
pub fn theme_field() -> Field {
    FIELDS
        .iter()
        .find(|f| f.kind == Kind::Theme)
        .copied()
        .unwrap_or(FIELDS[FIELDS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_shows_and_parses_its_own_value() {
        let config = Config::default();
        for field in FIELDS {
            let shown = field.show(&config);
            if field.kind != Kind::Path {
                let value = field.parse(&shown).unwrap_or_else(|e| panic!("{e}"));
                let mut copy = config.clone();
                field.apply(&mut copy, &value);
                assert_eq!(copy, config, "{} does not round-trip", field.label);
            }
        }
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_range() {
        let temperature = FIELDS.iter().find(|f| f.label == "Temperature").unwrap();
        assert!(temperature.parse("0.3").is_ok());
        let err = temperature.parse("7").unwrap_err();
        assert!(err.contains("0 to 2"), "{err}");
        assert!(temperature.parse("warm").is_err());
    }
}
