//! The template form: a template's fields to fill before it runs, one line each, with the last
//! values used for that template filled in. It runs (through the app) once the required
//! fields are filled; the save key keeps it as a preset.

use std::collections::BTreeMap;

use super::{Intent, Outcome};
use crate::app::line_input::LineInput;
use crate::command::Command;
use crate::document::front_matter::Brief;
use crate::keymap::Key;
use crate::prompt::PromptTemplate;

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
    /// The article's brief, not a template: submitted, it is written into the draft's front
    /// matter.
    pub brief: bool,
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
                    // Selected, as a default is: typing replaces it rather than adding to it.
                    input: LineInput::prefilled(value),
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
            brief: false,
        }
    }

    /// The brief's form, holding `brief`'s values (lists joined with "; ").
    pub fn brief(brief: &Brief) -> Self {
        let number = |n: Option<u32>| n.map_or_else(String::new, |n| n.to_string());
        let fields = [
            ("title", "Title", brief.title.clone()),
            ("audience", "Audience", brief.audience.clone()),
            ("goal", "Goal", brief.goal.clone()),
            ("tone", "Tone", brief.tone.clone()),
            (
                "key_points",
                "Key points (; between)",
                brief.key_points.join("; "),
            ),
            (
                "avoid",
                "Words to avoid (; between)",
                brief.avoid.join("; "),
            ),
            ("words", "Length in words", number(brief.words)),
            ("sections", "Sections", number(brief.sections)),
        ]
        .into_iter()
        .map(|(name, label, value)| FormField {
            name: name.to_string(),
            label: label.to_string(),
            required: false,
            choices: None,
            input: LineInput::new(&value),
        })
        .collect();
        TemplateForm {
            template: String::new(),
            title: "Brief".to_string(),
            description: "Kept in the draft's front matter; every action's prompt carries it."
                .to_string(),
            max_chars: None,
            fields,
            focus: 0,
            brief: true,
        }
    }

    /// The brief the form's values make, or what is wrong with them.
    pub fn brief_of(values: &BTreeMap<String, String>) -> Result<Brief, String> {
        let text = |name: &str| values.get(name).map_or("", |v| v.trim()).to_string();
        let list = |name: &str| -> Vec<String> {
            text(name)
                .split([';', '；'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        let number = |name: &str, label: &str| -> Result<Option<u32>, String> {
            let value = text(name);
            if value.is_empty() {
                return Ok(None);
            }
            value
                .parse::<u32>()
                .map(Some)
                .map_err(|_| format!("{label}: write a whole number, as 800, or leave it empty"))
        };
        Ok(Brief {
            title: text("title"),
            audience: text("audience"),
            goal: text("goal"),
            tone: text("tone"),
            key_points: list("key_points"),
            avoid: list("avoid"),
            words: number("words", "Length in words")?,
            sections: number("sections", "Sections")?,
        })
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

    /// Tab or Down, Shift-Tab or Up move between fields; Left and Right move the cursor, or
    /// pick among a field's choices; Enter runs once the required fields are filled; the save
    /// key keeps the form as a preset; Esc cancels.
    pub fn on_key(&mut self, command: Option<Command>, key: &Key) -> Outcome {
        use Command as C;
        let n = self.fields.len();
        match command {
            Some(C::cancel) => return Outcome::Close,
            Some(C::submit) => {
                let missing = self
                    .fields
                    .iter()
                    .position(|f| f.required && f.input.text.trim().is_empty());
                return match missing {
                    Some(i) => {
                        self.focus = i;
                        Outcome::Keep(Intent::Error(format!(
                            "fill in {} first",
                            self.missing().join(", ")
                        )))
                    }
                    None if self.brief => Outcome::Then(Intent::SetBrief(self.values())),
                    None => Outcome::Then(Intent::RunTemplate {
                        id: self.template.clone(),
                        values: self.values(),
                    }),
                };
            }
            Some(C::save_template_preset | C::save) if self.brief => {
                return Outcome::Then(Intent::SetBrief(self.values()));
            }
            Some(C::save_template_preset | C::save) => {
                return Outcome::Keep(Intent::SavePreset {
                    id: self.template.clone(),
                    values: self.values(),
                });
            }
            Some(C::select_next) if n > 0 => self.focus = (self.focus + 1) % n,
            Some(C::select_previous) if n > 0 => self.focus = (self.focus + n - 1) % n,
            Some(C::move_left | C::move_right)
                if self.cycle_choice(command == Some(C::move_right)) => {}
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.input.edit(command, key);
                }
            }
        }
        Outcome::Stay
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
    use crate::keymap::KeyCode;
    use crate::prompt::PromptLibrary;

    fn key(code: KeyCode) -> Key {
        Key::plain(code)
    }

    fn type_text(form: &mut TemplateForm, text: &str) {
        for c in text.chars() {
            form.on_key(None, &key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn the_form_starts_on_the_first_empty_required_field_and_submits_when_filled() {
        let library = PromptLibrary::built_in().unwrap();
        let mut form = TemplateForm::new(library.get("tagline").unwrap(), None);
        assert_eq!(form.fields[form.focus].name, "product");
        assert_eq!(form.fields[1].input.text, "small businesses");
        let enter = key(KeyCode::Enter);
        assert!(matches!(
            form.on_key(Some(Command::submit), &enter),
            Outcome::Keep(Intent::Error(_))
        ));
        assert_eq!(form.missing(), ["Product"]);
        type_text(&mut form, "Quill");
        let Outcome::Then(Intent::RunTemplate { values, .. }) =
            form.on_key(Some(Command::submit), &enter)
        else {
            panic!("a filled form submits");
        };
        assert_eq!(values["product"], "Quill");
        assert_eq!(values["audience"], "small businesses");
        assert_eq!(
            form.on_key(Some(Command::cancel), &key(KeyCode::Esc)),
            Outcome::Close
        );
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
        form.on_key(Some(Command::move_right), &key(KeyCode::Right));
        assert_ne!(form.fields[tone].input.text, first);
        form.on_key(Some(Command::move_left), &key(KeyCode::Left));
        assert_eq!(form.fields[tone].input.text, first);
    }

    #[test]
    fn typing_into_a_field_with_a_default_replaces_it() {
        // Recorded: typing "X" into the audience field gave "small businessesX".
        let library = PromptLibrary::built_in().unwrap();
        let mut form = TemplateForm::new(library.get("tagline").unwrap(), None);
        let audience = form
            .fields
            .iter()
            .position(|f| f.name == "audience")
            .unwrap();
        form.focus = audience;
        type_text(&mut form, "writers");
        assert_eq!(form.fields[audience].input.text, "writers");
        // Once the writer has typed, the field is theirs: more typing adds to it.
        type_text(&mut form, " too");
        assert_eq!(form.fields[audience].input.text, "writers too");
        // A motion first keeps the default to edit it.
        let mut form = TemplateForm::new(library.get("tagline").unwrap(), None);
        form.focus = audience;
        form.on_key(Some(Command::move_line_end), &key(KeyCode::End));
        type_text(&mut form, "!");
        assert_eq!(form.fields[audience].input.text, "small businesses!");
        // Backspace on the selected default clears it.
        let mut form = TemplateForm::new(library.get("tagline").unwrap(), None);
        form.focus = audience;
        form.on_key(Some(Command::delete_backward), &key(KeyCode::Backspace));
        assert_eq!(form.fields[audience].input.text, "");
    }
}
