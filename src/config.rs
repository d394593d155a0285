//! Config: the embedded defaults (`defaults/config.toml`) merged with the user's config.toml.
//! The user's file overrides only the keys it sets; a malformed file is reported with its path
//! and line, and Quill carries on with the defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::protocol::{LoadParams, RemoteParams, SamplingParams};
use crate::sampling::Sampling;
use toml::Table;

const DEFAULTS: &str = include_str!("../defaults/config.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Empty means the default model in the data directory.
    pub model: String,
    /// The answers' language: "auto" for the passage's own, or a language's name.
    pub language: String,
    pub editor: EditorConfig,
    pub engine: EngineConfig,
    /// The base layer of sampling settings (every knob set, by the defaults at least).
    pub sampling: Sampling,
    /// An article's size where neither the command nor the brief sets it.
    pub article: ArticleConfig,
    /// Keys over the defaults: key name -> action for the draft, or a table of a mode's keys.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, KeyEntry>,
}

/// A `[keys]` entry: an action for a key in the draft, or `[keys.<mode>]`, a mode's own keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyEntry {
    Action(String),
    Mode(std::collections::BTreeMap<String, String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditorConfig {
    pub ghost_text: bool,
    pub ghost_delay_ms: u64,
    /// A ghost request whose first word takes longer is dropped (remote engines).
    pub ghost_budget_ms: u64,
    pub journal_ms: u64,
    pub theme: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleConfig {
    /// Words in an article.
    pub words: u32,
    /// Sections in it; 0: from the length.
    pub sections: u32,
}

impl Default for ArticleConfig {
    /// The built-in defaults: what a measurement uses, whatever the writer's config says.
    fn default() -> Self {
        Config::default().article
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub n_ctx: u32,
    pub threads: u32,
    /// Layers offloaded to GPUs: -1 for all of them.
    #[serde(deserialize_with = "gpu_layers")]
    pub gpu_layers: i32,
    pub flash_attention: crate::engine::protocol::FlashAttention,
    /// Prompt-lookup drafting in the local engine.
    pub prompt_lookup: bool,
    /// Which engine generates: the local worker or an OpenAI-compatible server.
    pub kind: EngineKind,
    /// The server's base URL (`kind = "remote"`).
    pub url: String,
    /// The model the server is asked for; empty: the first it lists.
    pub remote_model: String,
    /// The environment variable that holds the server's API key; empty: none.
    pub api_key_env: String,
    /// Seconds a server may stay silent before a request fails.
    pub timeout_s: u64,
    /// The remote model's tokenizer.json, for exact token counts; empty: estimated.
    pub tokenizer: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    #[default]
    Local,
    Remote,
}

impl Config {
    /// The sampling settings, with a fresh seed when the config asks for one (-1).
    pub fn sampling(&self) -> SamplingParams {
        self.sampling.resolve()
    }

    /// The keymaps: the defaults with this config's `[keys]` over them, and any problems with
    /// those.
    pub fn keymaps(&self) -> (crate::keymap::Keymaps, Vec<String>) {
        use crate::keymap::Mode;
        let mut bindings = Vec::new();
        let mut warnings = Vec::new();
        for (name, entry) in &self.keys {
            match entry {
                KeyEntry::Action(action) => {
                    bindings.push((Mode::Edit, name.clone(), action.clone()))
                }
                KeyEntry::Mode(keys) => match Mode::from_name(name) {
                    Some(mode) => bindings.extend(
                        keys.iter()
                            .map(|(key, action)| (mode, key.clone(), action.clone())),
                    ),
                    None => warnings.push(format!(
                        "[keys.{name}]: no such mode; the modes are {}",
                        Mode::ALL.map(Mode::name).join(", ")
                    )),
                },
            }
        }
        let (keymaps, more) = crate::keymap::Keymaps::new(&bindings);
        warnings.extend(more);
        (keymaps, warnings)
    }

    /// How many variants the editor offers for an action that names no number.
    pub fn variants(&self) -> usize {
        self.sampling.variants.unwrap_or(1).max(1) as usize
    }

    pub fn load_params(&self, model: PathBuf) -> LoadParams {
        LoadParams {
            model,
            n_ctx: self.engine.n_ctx,
            n_threads: self.engine.threads,
            // All: llama.cpp takes any count past the model's layers as all of them.
            n_gpu_layers: u32::try_from(self.engine.gpu_layers).unwrap_or(u32::MAX),
            flash_attention: self.engine.flash_attention,
            prompt_lookup: self.engine.prompt_lookup,
            remote: (self.engine.kind == EngineKind::Remote).then(|| RemoteParams {
                url: self.engine.url.clone(),
                model: self.engine.remote_model.clone(),
                api_key_env: self.engine.api_key_env.clone(),
                timeout_s: self.engine.timeout_s,
                tokenizer: (!self.engine.tokenizer.is_empty())
                    .then(|| crate::paths::expand_home(&self.engine.tokenizer)),
            }),
        }
    }
}

/// `gpu_layers`: a count of layers, or -1 for all.
fn gpu_layers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let value = i64::deserialize(deserializer)?;
    match i32::try_from(value) {
        Ok(layers) if layers >= -1 => Ok(layers),
        _ => Err(serde::de::Error::custom(format!(
            "gpu_layers is {value}: give a number of layers, 0 for none, or -1 for all"
        ))),
    }
}

/// "file:line" for a TOML error whose span is known, else "file": how every malformed data
/// file (config, theme, template) is named to the writer.
pub fn toml_place(origin: &str, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = line_at(text, span.start);
            format!("{origin}:{line}")
        }
        None => origin.to_string(),
    }
}

/// The `*.toml` files of a user folder (themes, templates), sorted by name: each file's stem,
/// path and text (or why it could not be read). A missing folder has none.
pub fn toml_files(dir: &Path) -> Vec<(String, PathBuf, std::io::Result<String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path);
            (stem, path, text)
        })
        .collect()
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A validated setting, ready for config.toml.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Sets `key` (a table path) to `value` in the config file at `path`, keeping the rest of the
/// file as the writer left it: comments, order, formatting. A file that does not parse is left
/// untouched and the error names its line.
pub fn write_setting(path: &Path, key: &[String], value: &SettingValue) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        format!(
            "{}: {}; fix it to change settings here (the file was left as it is)",
            toml_place(&path.display().to_string(), &text, e.span()),
            e.message()
        )
    })?;
    let Some((last, tables)) = key.split_last() else {
        return Ok(());
    };
    let mut table = doc.as_table_mut();
    for name in tables {
        let entry = table
            .entry(name)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("{}: {name} is not a table", path.display()))?;
    }
    let new = match value {
        SettingValue::Str(s) => toml_edit::Value::from(s.as_str()),
        SettingValue::Int(n) => toml_edit::Value::from(*n),
        SettingValue::Float(x) => toml_edit::Value::from(*x),
        SettingValue::Bool(b) => toml_edit::Value::from(*b),
    };
    match table.get_mut(last).and_then(|item| item.as_value_mut()) {
        Some(old) => {
            // Keep the comment after the value, and the spacing before it.
            let decor = old.decor().clone();
            *old = new;
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(last, toml_edit::value(new));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::document::file::save(path, &doc.to_string(), Default::default()).map(|_| ())
}

/// A problem with a config file; Quill runs on without it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigWarning(pub String);

impl Default for Config {
    fn default() -> Self {
        // The embedded defaults are part of the binary and covered by a test.
        parse(DEFAULTS, Path::new("<built-in defaults>")).unwrap_or_else(|w| panic!("{}", w.0))
    }
}

impl Config {
    /// Loads the user's file over the defaults. A missing file is not a problem; a malformed one
    /// yields the defaults and a warning naming the file and line.
    pub fn load(path: &Path) -> (Config, Option<ConfigWarning>) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Config::default(), None),
            Err(e) => {
                let warning = format!(
                    "{}: cannot read ({e}); using the default settings",
                    path.display()
                );
                return (Config::default(), Some(ConfigWarning(warning)));
            }
        };
        let user: Table = match text.parse() {
            Ok(user) => user,
            Err(e) => return (Config::default(), Some(warning_at(path, &text, &e))),
        };
        let mut merged = defaults_table();
        merge(&mut merged, user);
        match parse_table(merged, &text, path) {
            Ok(config) => (config, None),
            Err(warning) => (Config::default(), Some(warning)),
        }
    }

    /// The model to load: an explicit path wins, then the config, then the default location.
    pub fn model_path(&self, explicit: Option<&Path>, default: &Path) -> PathBuf {
        if let Some(path) = explicit {
            return path.to_path_buf();
        }
        if self.model.trim().is_empty() {
            return default.to_path_buf();
        }
        crate::paths::expand_home(self.model.trim())
    }
}

fn parse(text: &str, path: &Path) -> Result<Config, ConfigWarning> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| warning_at(path, text, &e))?;
    parse_table(table, text, path)
}

fn defaults_table() -> Table {
    // The embedded defaults are part of the binary and covered by a test.
    DEFAULTS.parse().unwrap_or_default()
}

fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn parse_table(table: Table, source: &str, path: &Path) -> Result<Config, ConfigWarning> {
    Config::deserialize(table).map_err(|e| {
        // Merged tables have no spans; find the offending key in the user's text for a line.
        let message = e.message().to_string();
        let line = offending_key(&message)
            .and_then(|key| line_of_key(source, &key))
            .or_else(|| line_of_bad_value(source));
        warning(path, line, &message)
    })
}

/// The line of the first value in the user's file that the settings cannot take. A type error
/// in the merged tables names neither key nor place, so each value is tried alone over the
/// defaults (only on this error path, and configs are small).
fn line_of_bad_value(source: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(source).ok()?;
    let user: Table = source.parse().ok()?;
    let mut leaves = Vec::new();
    collect_leaves(doc.as_table(), &mut Vec::new(), &mut leaves);
    leaves.into_iter().find_map(|(path, start)| {
        let value = path
            .iter()
            .try_fold(None::<&toml::Value>, |at, key| match at {
                None => user.get(key).map(Some),
                Some(toml::Value::Table(t)) => t.get(key).map(Some),
                Some(_) => None,
            })
            .flatten()?;
        let mut merged = defaults_table();
        let (last, tables) = path.split_last()?;
        let mut table = &mut merged;
        for key in tables {
            let entry = table
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(Table::new()));
            table = entry.as_table_mut()?;
        }
        table.insert(last.clone(), value.clone());
        Config::deserialize(merged)
            .is_err()
            .then(|| line_at(source, start))
    })
}

/// Every value of `table` with its key path and where its key starts in the text.
fn collect_leaves(
    table: &toml_edit::Table,
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    for (key, item) in table.iter() {
        path.push(key.to_string());
        match item {
            toml_edit::Item::Table(inner) => collect_leaves(inner, path, out),
            _ => {
                let start = table
                    .key(key)
                    .and_then(|k| k.span())
                    .or_else(|| item.span())
                    .map_or(0, |span| span.start);
                out.push((path.clone(), start));
            }
        }
        path.pop();
    }
}

fn warning_at(path: &Path, text: &str, e: &toml::de::Error) -> ConfigWarning {
    let line = e.span().map(|span| line_at(text, span.start));
    // Unlike toml_place, the file name leads and the full path follows (see `warning`).
    warning(path, line, e.message())
}

fn warning(path: &Path, line: Option<usize>, message: &str) -> ConfigWarning {
    // The file name and line first: they are what a narrow status bar must still show.
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let place = match line {
        Some(line) => format!("{name}:{line}"),
        None => name,
    };
    ConfigWarning(format!(
        "{place}: {message}; defaults in use (file: {})",
        path.display()
    ))
}

/// serde names the key in backticks: "unknown field `tempurature`, expected ...".
fn offending_key(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_string())
}

/// The 1-based line where `key = ...` is set in `source`, if it is.
pub fn line_of_key(source: &str, key: &str) -> Option<usize> {
    source
        .lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) && l[key.len()..].trim_start().starts_with('=')
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_defaults_parse() {
        let config = Config::default();
        assert_eq!(config.engine.n_ctx, 4096);
        assert_eq!(config.sampling.seed, Some(-1));
    }

    #[test]
    fn a_user_file_overrides_only_what_it_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "# mine\n[sampling]\ntemperature = 0.2\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(warning, None);
        assert_eq!(config.sampling.temperature, Some(0.2));
        assert_eq!(config.sampling.top_k, Config::default().sampling.top_k);
    }

    #[test]
    fn flash_attention_is_llama_cpps_choice_unless_the_writer_forces_it() {
        use crate::engine::protocol::FlashAttention;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(
            Config::default()
                .load_params("m.gguf".into())
                .flash_attention,
            FlashAttention::Auto
        );
        std::fs::write(&path, "[engine]\nflash_attention = \"off\"\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(warning, None);
        assert_eq!(
            config.load_params("m.gguf".into()).flash_attention,
            FlashAttention::Off
        );
        // A value that is not one of the three is named with its line.
        std::fs::write(&path, "[engine]\nflash_attention = \"fast\"\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(config, Config::default());
        let warning = warning.unwrap().0;
        assert!(warning.starts_with("config.toml:2:"), "{warning}");
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[sampling]\ntemperature = 0.2\nseed = = 3\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(config, Config::default());
        let warning = warning.unwrap().0;
        assert!(warning.starts_with("config.toml:3:"), "{warning}");
        assert!(warning.contains(&path.display().to_string()), "{warning}");
    }

    #[test]
    fn an_unknown_key_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[sampling]\n\ntempurature = 0.2\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(config, Config::default());
        let warning = warning.unwrap().0;
        assert!(warning.contains(":3:"), "{warning}");
        assert!(warning.contains("tempurature"), "{warning}");
    }

    #[test]
    fn gpu_layers_takes_a_count_or_minus_one_for_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let model = PathBuf::from("m.gguf");
        std::fs::write(&path, "[engine]\ngpu_layers = 20\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(warning, None);
        assert_eq!(config.load_params(model.clone()).n_gpu_layers, 20);
        std::fs::write(&path, "[engine]\ngpu_layers = -1\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(warning, None);
        assert_eq!(config.load_params(model.clone()).n_gpu_layers, u32::MAX);
        std::fs::write(&path, "[engine]\n\ngpu_layers = -2\n").unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(config, Config::default());
        let warning = warning.unwrap().0;
        assert!(warning.starts_with("config.toml:3:"), "{warning}");
        assert!(warning.contains("-1 for all"), "{warning}");
    }

    #[test]
    fn a_wrong_type_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "# mine\n[engine]\nthreads = 1\n\nn_ctx = \"big\"\n[keys]\n\"C-k\" = \"undo\"\n",
        )
        .unwrap();
        let (config, warning) = Config::load(&path);
        assert_eq!(config, Config::default());
        let warning = warning.unwrap().0;
        assert!(warning.starts_with("config.toml:5:"), "{warning}");
        assert!(warning.contains(&path.display().to_string()), "{warning}");
        // In a nested table too, and for a top-level value.
        std::fs::write(&path, "model = 3\n").unwrap();
        let warning = Config::load(&path).1.unwrap().0;
        assert!(warning.starts_with("config.toml:1:"), "{warning}");
        std::fs::write(&path, "[sampling]\ntop_k = 40\nseed = 1.5\n").unwrap();
        let warning = Config::load(&path).1.unwrap().0;
        assert!(warning.starts_with("config.toml:3:"), "{warning}");
    }

    #[test]
    fn writing_a_setting_keeps_the_users_comments_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mine = "# my settings\nmodel = \"~/m.gguf\"  # the big one\n\n[sampling]\n# be creative\ntemperature = 0.9 # warm\nseed = 7\n";
        std::fs::write(&path, mine).unwrap();
        write_setting(
            &path,
            &["sampling".into(), "temperature".into()],
            &SettingValue::Float(0.3),
        )
        .unwrap();
        write_setting(
            &path,
            &["editor".into(), "ghost_text".into()],
            &SettingValue::Bool(false),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my settings\nmodel = \"~/m.gguf\"  # the big one\n"),
            "{text}"
        );
        assert!(
            text.contains("# be creative\ntemperature = 0.3 # warm\nseed = 7\n"),
            "{text}"
        );
        assert!(text.contains("[editor]\nghost_text = false"), "{text}");
        let (config, warning) = Config::load(&path);
        assert_eq!(warning, None);
        assert_eq!(config.sampling.temperature, Some(0.3));
        assert!(!config.editor.ghost_text);
    }

    #[test]
    fn a_malformed_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[sampling\ntemperature = 1\n").unwrap();
        let err = write_setting(
            &path,
            &["sampling".into(), "seed".into()],
            &SettingValue::Int(1),
        )
        .unwrap_err();
        assert!(err.contains(":1:"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[sampling\ntemperature = 1\n"
        );
    }

    #[test]
    fn model_path_prefers_the_flag_then_the_config() {
        let mut config = Config::default();
        let default = Path::new("/data/default.gguf");
        assert_eq!(config.model_path(None, default), default);
        config.model = "/models/other.gguf".into();
        assert_eq!(
            config.model_path(None, default),
            Path::new("/models/other.gguf")
        );
        assert_eq!(
            config.model_path(Some(Path::new("x.gguf")), default),
            Path::new("x.gguf")
        );
    }
}
