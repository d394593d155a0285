//! The template form: a template's fields to fill before it runs, one line each, with the last
//! values used for that template filled in. Pure state and key handling; `App` runs the result.

use std::collections::BTreeMap;

use unicode_segmentation::UnicodeSegmentation;

use crate::keymap::{Key, KeyCode};
use crate::prompt::PromptTemplate;

/// One line only: a pasted or remembered break would end the field for the model, and a
/// control character would reach the terminal.
fn one_line(text: &str) -> String {
    crate::sanitize::strip_controls(&text.replace(['\n', '\r'], " ")).into_owned()
}

/// One line of editable text; the cursor is a byte offset on a grapheme boundary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineInput {
    pub text: String,
    pub cursor: usize,
}

impl LineInput {
    pub fn new(text: &str) -> Self {
        let text = one_line(text);
        LineInput {
            cursor: text.len(),
            text,
        }
    }

    pub fn insert(&mut self, s: &str) {
        let s = one_line(s);
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
    }

    fn prev(&self) -> usize {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next(&self) -> usize {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map_or(self.cursor, |g| self.cursor + g.len())
    }

    pub fn backspace(&mut self) {
        let prev = self.prev();
        self.text.replace_range(prev..self.cursor, "");
        self.cursor = prev;
    }

    pub fn delete(&mut self) {
        let next = self.next();
        self.text.replace_range(self.cursor..next, "");
    }

    pub fn left(&mut self) {
        self.cursor = self.prev();
    }

    pub fn right(&mut self) {
        self.cursor = self.next();
    }

    /// Display columns before the cursor (CJK counts two).
    pub fn cursor_col(&self) -> usize {
        unicode_width::UnicodeWidthStr::width(&self.text[..self.cursor])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    pub name: String,
    pub label: String,
    pub required: bool,
    pub choices: Option<Vec<String>>,
    pub input: LineInput,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateForm {
    /// The template's id and display name.
    pub template: String,
    pub title: String,
    pub description: String,
    pub max_chars: Option<usize>,
    pub fields: Vec<FormField>,
    pub focus: usize,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormOutcome {
    Editing,
    Cancel,
    /// Run the template with these values.
    Submit(BTreeMap<String, String>),
}

impl TemplateForm {
    /// A form for `template`, each field holding the writer's last value, else its default.
    pub fn new(template: &PromptTemplate, last: Option<&BTreeMap<String, String>>) -> Self {
        let fields = template
            .fields
            .iter()
            .map(|f| {
                let remembered = last.and_then(|l| l.get(&f.name)).filter(|v| {
                    // A remembered value the template no longer allows is not offered.
                    f.choices.as_ref().is_none_or(|c| c.contains(v))
                });
                let value = remembered
                    .or(f.default.as_ref())
                    .or_else(|| f.choices.as_ref().and_then(|c| c.first()))
                    .map_or("", String::as_str);
                FormField {
                    name: f.name.clone(),
                    label: f.label.clone().unwrap_or_else(|| f.name.clone()),
                    required: f.required,
                    choices: f.choices.clone(),
                    input: LineInput::new(value),
                }
            })
            .collect::<Vec<_>>();
        // Start on the first field that still needs a value.
        let focus = fields
            .iter()
            .position(|f| f.required && f.input.text.trim().is_empty())
            .unwrap_or(0);
        TemplateForm {
            template: template.id.clone(),
            title: template.name.clone(),
            description: template.description.clone(),
            max_chars: template.max_chars,
            fields,
            focus,
        }
    }

    pub fn values(&self) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .map(|f| (f.name.clone(), f.input.text.trim().to_string()))
            .collect()
    }

    /// The required fields still empty.
    pub fn missing(&self) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.required && f.input.text.trim().is_empty())
            .map(|f| f.label.as_str())
            .collect()
    }

    fn cycle_choice(&mut self, forward: bool) -> bool {
        let Some(field) = self.fields.get_mut(self.focus) else {
            return false;
        };
        let Some(choices) = &field.choices else {
            return false;
        };
        let n = choices.len();
        if n == 0 {
            return false;
        }
        let at = choices.iter().position(|c| *c == field.input.text);
        let next = match (at, forward) {
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
            (None, _) => 0,
        };
        field.input = LineInput::new(&choices[next]);
        true
    }

    /// Handles a key: Tab/Shift-Tab or Up/Down move between fields, Left/Right move the cursor
    /// (or pick among a field's choices), Enter runs once the required fields are filled, Esc
    /// cancels.
    pub fn on_key(&mut self, key: &Key) -> FormOutcome {
        let n = self.fields.len();
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancel,
            KeyCode::Enter => {
                let missing = self
                    .fields
                    .iter()
                    .position(|f| f.required && f.input.text.trim().is_empty());
                match missing {
                    Some(i) => self.focus = i,
                    None => return FormOutcome::Submit(self.values()),
                }
            }
            KeyCode::Tab | KeyCode::Down if n > 0 => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up if n > 0 => self.focus = (self.focus + n - 1) % n,
            KeyCode::Left | KeyCode::Right => {
                let forward = key.code == KeyCode::Right;
                if !self.cycle_choice(forward)
                    && let Some(f) = self.fields.get_mut(self.focus)
                {
                    if forward {
                        f.input.right();
                    } else {
                        f.input.left();
                    }
                }
            }
            KeyCode::Home => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.input.cursor = 0;
                }
            }
            KeyCode::End => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.input.cursor = f.input.text.len();
                }
            }
            KeyCode::Backspace => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.input.backspace();
                }
            }
            KeyCode::Delete => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.input.delete();
                }
            }
            _ => {
                if let Some(c) = key.typed_char()
                    && let Some(f) = self.fields.get_mut(self.focus)
                {
                    f.input.insert(c.encode_utf8(&mut [0; 4]));
                }
            }
        }
        FormOutcome::Editing
    }

    pub fn paste(&mut self, text: &str) {
        if let Some(f) = self.fields.get_mut(self.focus) {
            f.input.insert(text.trim_end_matches(['\n', '\r']));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::PromptLibrary;

    fn key(code: KeyCode) -> Key {
        Key::plain(code)
    }

    fn type_text(form: &mut TemplateForm, text: &str) {
        for c in text.chars() {
            form.on_key(&key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn the_form_starts_on_the_first_empty_required_field_and_submits_when_filled() {
        let library = PromptLibrary::built_in().unwrap();
        let mut form = TemplateForm::new(library.get("tagline").unwrap(), None);
        assert_eq!(form.fields[form.focus].name, "product");
        assert_eq!(form.fields[1].input.text, "small businesses");
        assert_eq!(form.on_key(&key(KeyCode::Enter)), FormOutcome::Editing);
        assert_eq!(form.missing(), ["Product"]);
        type_text(&mut form, "Quill");
        let FormOutcome::Submit(values) = form.on_key(&key(KeyCode::Enter)) else {
            panic!("a filled form submits");
        };
        assert_eq!(values["product"], "Quill");
        assert_eq!(values["audience"], "small businesses");
        assert_eq!(form.on_key(&key(KeyCode::Esc)), FormOutcome::Cancel);
    }

    #[test]
    fn the_last_values_come_back_and_choices_cycle() {
        let library = PromptLibrary::built_in().unwrap();
        let template = library.get("product-description").unwrap();
        let last = BTreeMap::from([
            ("product".to_string(), "墨水笔".to_string()),
            ("tone".to_string(), "grumpy".to_string()),
        ]);
        let mut form = TemplateForm::new(template, Some(&last));
        assert_eq!(form.fields[0].input.text, "墨水笔");
        let tone = form.fields.iter().position(|f| f.name == "tone").unwrap();
        // "grumpy" is not a choice: the default stands.
        let first = form.fields[tone].input.text.clone();
        assert!(
            template.fields[tone]
                .choices
                .as_ref()
                .unwrap()
                .contains(&first)
        );
        form.focus = tone;
        form.on_key(&key(KeyCode::Right));
        assert_ne!(form.fields[tone].input.text, first);
        form.on_key(&key(KeyCode::Left));
        assert_eq!(form.fields[tone].input.text, first);
    }

    #[test]
    fn editing_steps_over_whole_graphemes() {
        let mut input = LineInput::new("写作👍🏽x");
        assert_eq!(input.cursor_col(), 2 + 2 + 2 + 1);
        input.left();
        input.left();
        assert_eq!(&input.text[input.cursor..], "👍🏽x");
        input.backspace();
        assert_eq!(input.text, "写👍🏽x");
        input.delete();
        assert_eq!(input.text, "写x");
        input.insert("line\nbreak");
        assert_eq!(input.text, "写line breakx");
    }
}
