//! Themes: a palette plus named UI scopes, from `themes/*.toml` (built in) and the user's
//! `themes/` folder in the config directory (a file with the same name replaces a built-in).
//! A theme may `inherits` another and change a few colours. A malformed theme is reported with
//! its file and line and skipped; `NO_COLOR` gives the monochrome theme whatever is chosen.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The built-in themes, by name.
const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("gruvbox", include_str!("../../themes/gruvbox.toml")),
    ("solarized", include_str!("../../themes/solarized.toml")),
];

/// The theme without colours, also what `NO_COLOR` asks for.
pub const MONO: &str = "mono";

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub text: Style,
    pub heading: Style,
    pub emphasis: Style,
    pub strong: Style,
    pub code: Style,
    pub marker: Style,
    pub selection: Style,
    pub cursor_line: Style,
    pub control: Style,
    pub status: Style,
    pub status_modified: Style,
    pub status_error: Style,
    pub prompt: Style,
    pub popup: Style,
    pub popup_title: Style,
    pub border: Style,
    pub border_focused: Style,
    pub diff_insert: Style,
    pub diff_delete: Style,
    pub muted: Style,
    pub ghost: Style,
}

/// Picks the field of a theme that a scope styles.
type ScopeField = fn(&mut Theme) -> &mut Style;

/// Every scope a theme file may set, and the field it styles.
const SCOPES: &[(&str, ScopeField)] = &[
    ("draft.text", |t| &mut t.text),
    ("draft.heading", |t| &mut t.heading),
    ("draft.emphasis", |t| &mut t.emphasis),
    ("draft.strong", |t| &mut t.strong),
    ("draft.code", |t| &mut t.code),
    ("draft.marker", |t| &mut t.marker),
    ("draft.selection", |t| &mut t.selection),
    ("draft.cursor_line", |t| &mut t.cursor_line),
    ("draft.control", |t| &mut t.control),
    ("draft.ghost", |t| &mut t.ghost),
    ("diff.insert", |t| &mut t.diff_insert),
    ("diff.delete", |t| &mut t.diff_delete),
    ("status", |t| &mut t.status),
    ("status.modified", |t| &mut t.status_modified),
    ("status.error", |t| &mut t.status_error),
    ("prompt", |t| &mut t.prompt),
    ("popup", |t| &mut t.popup),
    ("popup.title", |t| &mut t.popup_title),
    ("border", |t| &mut t.border),
    ("border.focused", |t| &mut t.border_focused),
    ("muted", |t| &mut t.muted),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    inherits: Option<String>,
    #[serde(default)]
    palette: BTreeMap<String, String>,
    #[serde(default)]
    scopes: BTreeMap<String, ScopeDef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeDef {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

/// All the themes Quill knows, parsed; resolved into styles on demand.
#[derive(Debug, Clone)]
pub struct ThemeLibrary {
    files: BTreeMap<String, ThemeFile>,
    /// Problems found while loading: each names its file (and line where there is one).
    pub warnings: Vec<String>,
}

impl ThemeLibrary {
    /// The built-in themes, then the user's `*.toml` files in `user_dir`.
    pub fn load(user_dir: Option<&Path>) -> ThemeLibrary {
        let mut library = ThemeLibrary {
            files: BTreeMap::new(),
            warnings: Vec::new(),
        };
        for (name, text) in BUILT_IN {
            library.add(name, text, &format!("themes/{name}.toml"));
        }
        for (name, path, text) in user_dir.map(crate::config::toml_files).unwrap_or_default() {
            match text {
                Ok(text) => library.add(&name, &text, &path.display().to_string()),
                Err(e) => library.warnings.push(format!(
                    "{}: cannot read ({e}); theme skipped",
                    path.display()
                )),
            }
        }
        // Check every theme once, so a bad colour is reported at start, not as a plain screen.
        let names: Vec<String> = library.files.keys().cloned().collect();
        for name in names {
            if let Err(e) = library.resolve(&name) {
                library.warnings.push(e);
                library.files.remove(&name);
            }
        }
        library
    }

    fn add(&mut self, name: &str, text: &str, origin: &str) {
        match toml::from_str::<ThemeFile>(text) {
            Ok(mut file) => {
                file.name = Some(origin.to_string());
                self.files.insert(name.to_string(), file);
            }
            Err(e) => {
                let place = crate::config::toml_place(origin, text, e.span());
                self.warnings.push(format!(
                    "{place}: {}; theme skipped, the default is used instead",
                    e.message()
                ));
            }
        }
    }

    /// Theme names, for the settings pane and the palette.
    pub fn names(&self) -> Vec<String> {
        self.files
            .keys()
            .cloned()
            .chain([MONO.to_string()])
            .collect()
    }

    /// The theme called `name`, the default for an unknown one, monochrome under `NO_COLOR`.
    pub fn get(&self, name: &str) -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        self.get_colored(name, !no_color)
    }

    /// The theme called `name`, the default for an unknown one; monochrome unless `colors`.
    pub fn get_colored(&self, name: &str, colors: bool) -> Theme {
        if !colors || name == MONO {
            return Theme::monochrome();
        }
        self.resolve(name)
            .or_else(|_| self.resolve("default"))
            .unwrap_or_else(|_| Theme::monochrome())
    }

    /// Builds a theme: its parents first, then its own palette and scopes over them.
    fn resolve(&self, name: &str) -> Result<Theme, String> {
        let mut chain = Vec::new();
        let mut current = Some(name.to_string());
        while let Some(n) = current {
            if chain.iter().any(|(c, _): &(String, &ThemeFile)| *c == n) {
                return Err(format!("theme {name}: inherits in a circle through {n}"));
            }
            let file = self
                .files
                .get(&n)
                .ok_or_else(|| format!("theme {name}: no theme named {n} to inherit from"))?;
            current = file.inherits.clone();
            chain.push((n, file));
        }
        let mut palette = BTreeMap::new();
        let mut scopes = BTreeMap::new();
        for (_, file) in chain.iter().rev() {
            palette.extend(file.palette.clone());
            scopes.extend(file.scopes.clone());
        }
        let origin = chain
            .first()
            .and_then(|(_, f)| f.name.clone())
            .unwrap_or_else(|| name.to_string());
        let mut theme = Theme::monochrome();
        for (scope, def) in &scopes {
            let field = SCOPES
                .iter()
                .find(|(s, _)| s == scope)
                .map(|(_, f)| f)
                .ok_or_else(|| format!("{origin}: unknown scope {scope:?}"))?;
            *field(&mut theme) =
                style(def, &palette).map_err(|e| format!("{origin}: {scope}: {e}"))?;
        }
        Ok(theme)
    }
}

fn style(def: &ScopeDef, palette: &BTreeMap<String, String>) -> Result<Style, String> {
    let mut style = Style::new();
    if let Some(fg) = &def.fg {
        style = style.fg(color(fg, palette)?);
    }
    if let Some(bg) = &def.bg {
        style = style.bg(color(bg, palette)?);
    }
    for m in &def.modifiers {
        style = style.add_modifier(match m.as_str() {
            "bold" => Modifier::BOLD,
            "italic" => Modifier::ITALIC,
            "underlined" => Modifier::UNDERLINED,
            "dim" => Modifier::DIM,
            "reversed" => Modifier::REVERSED,
            "crossed_out" => Modifier::CROSSED_OUT,
            other => return Err(format!("unknown modifier {other:?}")),
        });
    }
    Ok(style)
}

/// A palette name, "#rrggbb", or a terminal colour name ("red", "white", "reset").
fn color(text: &str, palette: &BTreeMap<String, String>) -> Result<Color, String> {
    let resolved = palette.get(text).map_or(text, String::as_str);
    resolved
        .parse::<Color>()
        .map_err(|_| format!("{text:?} is not a palette colour, #rrggbb or a colour name"))
}

impl Theme {
    /// Modifiers only: for `NO_COLOR` and the `mono` theme.
    pub fn monochrome() -> Theme {
        let plain = Style::new();
        Theme {
            text: plain,
            heading: plain.add_modifier(Modifier::BOLD),
            emphasis: plain.add_modifier(Modifier::ITALIC),
            strong: plain.add_modifier(Modifier::BOLD),
            code: plain,
            marker: plain,
            selection: plain.add_modifier(Modifier::REVERSED),
            cursor_line: plain,
            control: plain.add_modifier(Modifier::REVERSED),
            status: plain.add_modifier(Modifier::REVERSED),
            status_modified: plain.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            status_error: plain.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            prompt: plain.add_modifier(Modifier::REVERSED),
            popup: plain,
            popup_title: plain.add_modifier(Modifier::BOLD),
            border: plain,
            border_focused: plain.add_modifier(Modifier::BOLD),
            diff_insert: plain.add_modifier(Modifier::UNDERLINED),
            diff_delete: plain.add_modifier(Modifier::CROSSED_OUT),
            muted: plain.add_modifier(Modifier::DIM),
            ghost: plain.add_modifier(Modifier::DIM),
        }
    }

    /// The built-in default theme.
    pub fn dark() -> Theme {
        ThemeLibrary::load(None)
            .resolve("default")
            .unwrap_or_else(|_| Theme::monochrome())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_gives_the_monochrome_theme_whatever_is_chosen() {
        let library = ThemeLibrary::load(None);
        assert_eq!(library.get_colored("gruvbox", false), Theme::monochrome());
        assert_eq!(library.get_colored("mono", true), Theme::monochrome());
        assert_ne!(library.get_colored("gruvbox", true), Theme::monochrome());
    }

    #[test]
    fn every_built_in_theme_loads_without_a_warning() {
        let library = ThemeLibrary::load(None);
        assert!(library.warnings.is_empty(), "{:?}", library.warnings);
        assert_eq!(library.names().len(), BUILT_IN.len() + 1);
        for (name, _) in BUILT_IN {
            let theme = library.resolve(name).unwrap();
            assert!(theme.text.fg.is_some(), "{name} has no text colour");
        }
        assert_ne!(
            library.get_colored("light", true).text,
            library.get_colored("default", true).text
        );
    }

    #[test]
    fn a_user_theme_inherits_and_changes_a_few_colours() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "inherits = \"solarized\"\n[palette]\nyellow = \"#ff00ff\"\n",
        )
        .unwrap();
        let library = ThemeLibrary::load(Some(dir.path()));
        assert!(library.warnings.is_empty(), "{:?}", library.warnings);
        let mine = library.get_colored("mine", true);
        let solarized = library.get_colored("solarized", true);
        assert_eq!(mine.text, solarized.text);
        assert_eq!(mine.status_modified.fg, Some(Color::Rgb(0xff, 0, 0xff)));
    }

    #[test]
    fn a_malformed_theme_is_named_with_its_line_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("broken.toml"),
            "[palette]\nfg = \"#fff\"\nbg = = 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("badcolour.toml"),
            "[scopes]\n\"draft.text\" = { fg = \"not-a-colour\" }\n",
        )
        .unwrap();
        let library = ThemeLibrary::load(Some(dir.path()));
        let warnings = library.warnings.join("\n");
        assert!(warnings.contains("broken.toml:3:"), "{warnings}");
        assert!(warnings.contains("badcolour.toml"), "{warnings}");
        assert!(!library.names().contains(&"broken".to_string()));
        assert_eq!(
            library.get_colored("broken", true),
            library.get_colored("default", true)
        );
    }

    #[test]
    fn inheritance_in_a_circle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "inherits = \"b\"\n").unwrap();
        std::fs::write(dir.path().join("b.toml"), "inherits = \"a\"\n").unwrap();
        let library = ThemeLibrary::load(Some(dir.path()));
        assert!(
            library.warnings.iter().any(|w| w.contains("circle")),
            "{:?}",
            library.warnings
        );
    }
}
