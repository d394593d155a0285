//! The writer's templates in the editor: the form that fills a template's fields before it
//! runs (remembering the last values), saving a filled form as a preset or the selection as a
//! new template (asking before anything is replaced), editing a template in `$EDITOR` and
//! deleting the writer's own. File work is done by the terminal layer through `Effect`s.

use std::collections::BTreeMap;

use super::form::{FormOutcome, TemplateForm};
use super::palette::{Palette, Purpose};
use super::{App, Confirm, Effect, Mode, Prompt, PromptKind};
use crate::keymap::Key;
use crate::prompt::{Origin, PromptLibrary, PromptTemplate, check_name};

/// A template waiting for its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewTemplate {
    /// A template's filled form, to keep as a preset.
    Preset {
        template: String,
        values: BTreeMap<String, String>,
    },
    /// The writer's text (selection or draft), whose `{{ name }}`s become fields.
    FromText(String),
}

impl App {
    /// Opens `id`'s form, or runs it at once if it has no fields to fill.
    pub(super) fn open_template(&mut self, id: &str) -> Vec<Effect> {
        let Ok(template) = self.assistant.prompts.get(id) else {
            self.error(format!("no template named {id}"));
            return Vec::new();
        };
        if template.fields.is_empty() {
            return self.ask(id);
        }
        let form = TemplateForm::new(template, self.assistant.template_values.get(id));
        self.status = None;
        self.mode = Mode::Form(form);
        Vec::new()
    }

    pub(super) fn on_form_key(&mut self, mut form: TemplateForm, key: Key) -> Vec<Effect> {
        use crate::command::Command;
        if matches!(
            self.keymap.command(&key),
            Some(Command::save | Command::save_template_preset)
        ) {
            // The save key in a form keeps the form as a preset.
            self.mode = Mode::Form(form.clone());
            return self.save_preset(&form);
        }
        match form.on_key(&key) {
            FormOutcome::Cancel => {
                self.mode = Mode::Edit;
                Vec::new()
            }
            FormOutcome::Submit(values) => {
                self.mode = Mode::Edit;
                self.assistant
                    .template_values
                    .insert(form.template.clone(), values.clone());
                let mut effects = vec![Effect::RememberTemplateValues(
                    self.assistant.template_values.clone(),
                )];
                effects.extend(self.ask_with(&form.template, &values));
                effects
            }
            FormOutcome::Editing => {
                if key.code == crate::keymap::KeyCode::Enter {
                    // Enter only stays in the form while a required field is empty.
                    self.error(format!("fill in {} first", form.missing().join(", ")));
                }
                self.mode = Mode::Form(form);
                Vec::new()
            }
        }
    }

    pub(super) fn on_form_paste(&mut self, text: &str) {
        if let Mode::Form(form) = &mut self.mode {
            form.paste(text);
        }
    }

    /// Asks for a name to keep the filled form under.
    fn save_preset(&mut self, form: &TemplateForm) -> Vec<Effect> {
        let values = form.values();
        // A preset must run as it is: its template's checks apply now, not when it is used.
        if let Ok(template) = self.assistant.prompts.get(&form.template)
            && let Err(e) = template.field_values(&values)
        {
            self.error(format!("{e:#}"));
            return Vec::new();
        }
        self.pending_template = Some(NewTemplate::Preset {
            template: form.template.clone(),
            values,
        });
        self.mode = Mode::Prompt(Prompt {
            kind: PromptKind::TemplateName,
            input: String::new(),
        });
        Vec::new()
    }

    /// Asks for a name to keep the selection (or the whole draft) as a template under.
    pub(super) fn new_template_from_text(&mut self) -> Vec<Effect> {
        let text = if self.doc.has_selection() {
            self.doc.selected_text()
        } else {
            self.doc.text()
        };
        if text.trim().is_empty() {
            self.info("write the prompt first, with {{ name }} where a field goes");
            return Vec::new();
        }
        // Caught now, before the writer picks a name.
        if let Err(e) = PromptTemplate::from_text("check", &text) {
            self.error(format!("{e:#}"));
            return Vec::new();
        }
        self.pending_template = Some(NewTemplate::FromText(text));
        self.status = None;
        self.mode = Mode::Prompt(Prompt {
            kind: PromptKind::TemplateName,
            input: String::new(),
        });
        Vec::new()
    }

    /// The name was given: build the template and save it, asking first if the name is taken.
    pub(super) fn name_template(&mut self, name: &str) -> Vec<Effect> {
        if let Err(e) = check_name(name) {
            // Asked again, with what was typed, so the writer can fix it.
            self.error(e);
            self.mode = Mode::Prompt(Prompt {
                kind: PromptKind::TemplateName,
                input: name.to_string(),
            });
            return Vec::new();
        }
        let Some(pending) = self.pending_template.take() else {
            return Vec::new();
        };
        let built = match &pending {
            NewTemplate::Preset { template, values } => self
                .assistant
                .prompts
                .get(template)
                .and_then(|t| t.preset(name, values)),
            NewTemplate::FromText(text) => PromptTemplate::from_text(name, text),
        };
        let text = match built.and_then(|t| t.to_toml()) {
            Ok(text) => text,
            Err(e) => {
                self.error(format!("{e:#}"));
                return Vec::new();
            }
        };
        if let Ok(existing) = self.assistant.prompts.get(name) {
            let is_built_in = existing.origin == Origin::BuiltIn;
            self.mode = Mode::Confirm(Confirm::OverwriteTemplate {
                name: name.to_string(),
                text,
                is_built_in,
            });
            return Vec::new();
        }
        vec![Effect::SaveTemplate {
            name: name.to_string(),
            text,
            overwrite: false,
        }]
    }

    /// A template file of that name appeared meanwhile: ask before replacing it.
    pub(super) fn on_template_exists(&mut self, name: String, text: String) {
        self.mode = Mode::Confirm(Confirm::OverwriteTemplate {
            name,
            text,
            is_built_in: false,
        });
    }

    pub(super) fn on_templates_loaded(
        &mut self,
        library: PromptLibrary,
        warnings: Vec<String>,
        note: Option<String>,
    ) {
        self.assistant.prompts = library;
        match warnings.into_iter().next() {
            Some(warning) => self.error(warning),
            None => {
                if let Some(note) = note {
                    self.info(note);
                }
            }
        }
    }

    /// Opens the template picker: the palette showing templates, for `purpose`.
    pub(super) fn pick_template(&mut self, purpose: Purpose) {
        self.status = None;
        self.mode = Mode::Palette(Palette {
            purpose,
            ..Palette::default()
        });
    }

    /// Opens `id`'s file in the writer's editor; a built-in is copied to the templates folder
    /// first, where it takes the built-in's place.
    pub(super) fn edit_template(&mut self, id: &str) -> Vec<Effect> {
        let Ok(template) = self.assistant.prompts.get(id) else {
            return Vec::new();
        };
        let seed = match &template.origin {
            Origin::User(_) => None,
            Origin::BuiltIn => match PromptLibrary::built_in_source(id) {
                Some(text) => Some(text.to_string()),
                None => match template.to_toml() {
                    Ok(text) => Some(text),
                    Err(e) => {
                        self.error(format!("{e:#}"));
                        return Vec::new();
                    }
                },
            },
        };
        vec![Effect::EditTemplate {
            name: id.to_string(),
            seed,
        }]
    }

    /// Asks to delete the writer's template `id` (built-ins cannot be).
    pub(super) fn confirm_delete_template(&mut self, id: &str) {
        match self.assistant.prompts.get(id).map(|t| t.origin.clone()) {
            Ok(Origin::User(_)) => {
                self.mode = Mode::Confirm(Confirm::DeleteTemplate(id.to_string()));
            }
            Ok(Origin::BuiltIn) => self.error(format!(
                "{id} is built in: only your own templates can be deleted"
            )),
            Err(_) => self.error(format!("no template named {id}")),
        }
    }

    pub(super) fn on_template_confirm(
        &mut self,
        confirm: Confirm,
        answer: Option<char>,
        cancel: bool,
    ) -> Vec<Effect> {
        // Only the key the question shows says yes: 'o' to overwrite, 'y' to delete.
        let yes = match confirm {
            Confirm::DeleteTemplate(_) => answer == Some('y'),
            _ => answer == Some('o'),
        };
        if !yes && !cancel && answer != Some('n') {
            return Vec::new();
        }
        self.mode = Mode::Edit;
        match confirm {
            Confirm::OverwriteTemplate { name, text, .. } if yes => vec![Effect::SaveTemplate {
                name,
                text,
                overwrite: true,
            }],
            Confirm::OverwriteTemplate { name, .. } => {
                self.info(format!("not saved: {name} was left as it is"));
                Vec::new()
            }
            Confirm::DeleteTemplate(name) if yes => vec![Effect::DeleteTemplate { name }],
            Confirm::DeleteTemplate(name) => {
                self.info(format!("{name} was kept"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Msg;
    use crate::app::assist::ready_app;
    use crate::app::assist::test_support::{job_of, stats};
    use crate::document::Selection;
    use crate::engine::protocol::Event;
    use crate::keymap::KeyCode;

    fn key(code: KeyCode) -> Msg {
        Msg::Key(Key::plain(code))
    }

    fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
        text.chars()
            .flat_map(|c| app.update(key(KeyCode::Char(c))))
            .collect()
    }

    fn engine(app: &mut App, event: Event) -> Vec<Effect> {
        app.update(Msg::Engine {
            generation: 1,
            event,
        })
    }

    /// The picker, then the tagline's form, filled and run.
    fn run_tagline(app: &mut App, product: &str) -> Vec<Effect> {
        app.update(Msg::Key(Key::plain(KeyCode::F(7))));
        assert!(matches!(&app.mode, Mode::Palette(p) if p.purpose == Purpose::Templates));
        let Mode::Palette(p) = &app.mode else {
            unreachable!()
        };
        let listed = app.palette_matches_for("", p.purpose);
        assert!(listed.len() >= 12, "{listed:?}");
        assert!(
            listed.iter().all(|i| !i.label.contains("Rewrite")),
            "the picker shows templates only"
        );
        type_text(app, "tagline");
        app.update(key(KeyCode::Enter));
        let Mode::Form(form) = &app.mode else {
            panic!("the tagline has a form: {:?}", app.mode);
        };
        assert_eq!(form.template, "tagline");
        type_text(app, product);
        app.update(key(KeyCode::Enter))
    }

    #[test]
    fn a_filled_form_streams_copy_within_its_limit_and_is_remembered() {
        let mut app = ready_app("Draft: ");
        app.doc.move_to(7, false);
        let effects = run_tagline(&mut app, "Quill 写作");
        assert_eq!(app.mode, Mode::Edit);
        let remembered = effects.iter().find_map(|e| match e {
            Effect::RememberTemplateValues(v) => Some(v.clone()),
            _ => None,
        });
        assert_eq!(remembered.unwrap()["tagline"]["product"], "Quill 写作");
        let job = job_of(&effects);
        let Some(Effect::Generate { sampling, .. }) = effects
            .iter()
            .find(|e| matches!(e, Effect::Generate { .. }))
        else {
            unreachable!()
        };
        assert!(
            sampling.stop.contains(&"\n".to_string()),
            "a tagline is one line"
        );
        let s = app.assistant.suggestion.as_ref().unwrap();
        assert_eq!((s.max_chars, s.wanted), (Some(60), 5));

        engine(
            &mut app,
            Event::TokenGenerated {
                job,
                text: "\"Write faster, think clearer: the terminal ".into(),
            },
        );
        let stop = engine(
            &mut app,
            Event::TokenGenerated {
                job,
                text: "writing assistant that never loses a single word you type\"".into(),
            },
        );
        assert_eq!(
            stop,
            vec![Effect::CancelJob { job }],
            "past the limit: stopped"
        );
        let next = engine(
            &mut app,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        let s = app.assistant.suggestion.as_ref().unwrap();
        let kept = s.variants[0].text.clone();
        assert!(
            kept.chars().count() <= 60 && kept.ends_with("assistant"),
            "{kept:?}"
        );
        assert!(!kept.starts_with('"'));
        // The next variant is asked for; a duplicate of the first is dropped and made up for.
        let job2 = job_of(&next);
        engine(
            &mut app,
            Event::TokenGenerated {
                job: job2,
                text: kept.to_uppercase(),
            },
        );
        let retry = engine(
            &mut app,
            Event::GenerationFinished {
                job: job2,
                stats: stats(),
            },
        );
        assert_eq!(app.assistant.suggestion.as_ref().unwrap().dropped, 1);
        let job3 = job_of(&retry);
        assert_ne!(job3, job2);

        // Accepting puts the copy into the draft as one undo step.
        app.update(Msg::Key(Key {
            code: KeyCode::Enter,
            mods: crate::keymap::Mods {
                alt: true,
                ..Default::default()
            },
        }));
        assert_eq!(app.doc.text(), format!("Draft: {kept}"));

        // The form remembers the product next time.
        app.update(Msg::Key(Key::plain(KeyCode::F(7))));
        type_text(&mut app, "tagline");
        app.update(key(KeyCode::Enter));
        let Mode::Form(form) = &app.mode else {
            panic!()
        };
        assert_eq!(form.fields[0].input.text, "Quill 写作");
    }

    #[test]
    fn asking_again_while_a_variant_streams_replaces_it_with_a_new_one() {
        let mut app = ready_app("");
        let effects = run_tagline(&mut app, "Quill");
        let job = job_of(&effects);
        engine(
            &mut app,
            Event::TokenGenerated {
                job,
                text: "Half a tag".into(),
            },
        );
        let effects = app.update(Msg::Key(Key::ctrl('g')));
        assert!(effects.contains(&Effect::CancelJob { job }), "{effects:?}");
        let again = job_of(&effects);
        assert_ne!(again, job);
        let s = app.assistant.suggestion.as_ref().unwrap();
        assert_eq!(s.variants.len(), 1, "the half-done variant made way");
        assert!(s.variants[0].text.is_empty());
    }

    #[test]
    fn a_filled_form_is_saved_as_a_preset_asking_before_hiding_a_built_in() {
        let mut app = ready_app("");
        app.open_template("tagline");
        type_text(&mut app, "Quill");
        app.update(Msg::Key(Key::ctrl('s')));
        assert!(matches!(&app.mode, Mode::Prompt(p) if p.kind == PromptKind::TemplateName));
        type_text(&mut app, "quill-tagline");
        let effects = app.update(key(KeyCode::Enter));
        let [
            Effect::SaveTemplate {
                name,
                text,
                overwrite: false,
            },
        ] = effects.as_slice()
        else {
            panic!("{effects:?}");
        };
        assert_eq!(name, "quill-tagline");
        let preset = PromptTemplate::parse(name, text).unwrap();
        assert_eq!(preset.fields[0].default.as_deref(), Some("Quill"));
        assert_eq!(preset.max_chars, Some(60));

        // Over a built-in: asked first, and only 'o' replaces.
        app.open_template("tagline");
        type_text(&mut app, "Quill");
        app.update(Msg::Key(Key::ctrl('s')));
        type_text(&mut app, "tagline");
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert!(matches!(
            &app.mode,
            Mode::Confirm(Confirm::OverwriteTemplate {
                is_built_in: true,
                ..
            })
        ));
        assert!(app.update(key(KeyCode::Char('n'))).is_empty());
        assert_eq!(app.mode, Mode::Edit);

        // A file that appeared meanwhile is not replaced either.
        app.update(Msg::TemplateExists {
            name: "mine".into(),
            text: "x".into(),
        });
        let effects = app.update(key(KeyCode::Char('o')));
        assert!(matches!(
            effects.as_slice(),
            [Effect::SaveTemplate {
                overwrite: true,
                ..
            }]
        ));

        // Bad names are refused before anything is written.
        app.open_template("tagline");
        type_text(&mut app, "Quill");
        app.update(Msg::Key(Key::ctrl('s')));
        type_text(&mut app, "../evil");
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert!(app.status.as_ref().unwrap().is_error);
        assert!(
            matches!(&app.mode, Mode::Prompt(p) if p.input == "../evil"),
            "asked again: {:?}",
            app.mode
        );
        for _ in 0.."../evil".len() {
            app.update(key(KeyCode::Backspace));
        }
        type_text(&mut app, "evil");
        let effects = app.update(key(KeyCode::Enter));
        assert!(
            matches!(effects.as_slice(), [Effect::SaveTemplate { name, .. }] if name == "evil"),
            "the preset was kept while the name was fixed: {effects:?}"
        );
    }

    #[test]
    fn the_selection_becomes_a_template_with_its_placeholders_as_fields() {
        let line = "Announce {{ product }} to {{ audience }} in one line.";
        let mut app = ready_app(&format!("Intro\n{line}\n"));
        app.doc.select(Selection {
            anchor: 6,
            head: 6 + line.chars().count(),
        });
        app.run(crate::command::Command::new_template);
        type_text(&mut app, "announce");
        let effects = app.update(key(KeyCode::Enter));
        let [Effect::SaveTemplate { name, text, .. }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        let t = PromptTemplate::parse(name, text).unwrap();
        assert_eq!(
            t.template,
            "Announce {{ product }} to {{ audience }} in one line."
        );
        let fields: Vec<&str> = t.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(fields, ["product", "audience"]);

        // Broken template syntax is caught before a name is asked for.
        let mut app = ready_app("Oops {{ product");
        app.run(crate::command::Command::new_template);
        assert_eq!(app.mode, Mode::Edit);
        assert!(app.status.as_ref().unwrap().text.contains("line 1"));
    }

    /// Gives `app` the built-ins plus one template of the writer's, `name.toml`; the folder
    /// lives as long as the returned guard.
    fn with_user_template(app: &mut App, name: &str, toml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{name}.toml")), toml).unwrap();
        app.assistant.prompts = PromptLibrary::load(Some(dir.path())).0;
        dir
    }

    #[test]
    fn only_the_writers_templates_can_be_deleted_and_built_ins_are_copied_to_edit() {
        let mut app = ready_app("");
        let _dir = with_user_template(
            &mut app,
            "mine",
            "name = \"Mine\"\naction = \"generate\"\ntemplate = \"Hi\"\n",
        );
        app.run(crate::command::Command::delete_template);
        let Mode::Palette(p) = &app.mode else {
            panic!()
        };
        let items = app.palette_matches_for(&p.query, p.purpose);
        assert_eq!(items.len(), 1, "{items:?}");
        app.update(key(KeyCode::Enter));
        assert_eq!(
            app.mode,
            Mode::Confirm(Confirm::DeleteTemplate("mine".into()))
        );
        let effects = app.update(key(KeyCode::Char('y')));
        assert_eq!(
            effects,
            vec![Effect::DeleteTemplate {
                name: "mine".into()
            }]
        );
        app.confirm_delete_template("tagline");
        assert!(app.status.as_ref().unwrap().text.contains("built in"));

        app.run(crate::command::Command::edit_template);
        type_text(&mut app, "ad-headline");
        let effects = app.update(key(KeyCode::Enter));
        let [
            Effect::EditTemplate {
                name,
                seed: Some(seed),
            },
        ] = effects.as_slice()
        else {
            panic!("{effects:?}");
        };
        assert_eq!(name, "ad-headline");
        assert!(
            seed.contains("max_chars = 30"),
            "the built-in's own file, comments and all"
        );
        assert_eq!(
            app.edit_template("mine"),
            vec![Effect::EditTemplate {
                name: "mine".into(),
                seed: None
            }]
        );
    }

    #[test]
    fn a_template_whose_output_goes_into_the_draft_is_applied_when_done() {
        let mut app = ready_app("Price: TBD.");
        let _dir = with_user_template(
            &mut app,
            "price",
            "name = \"Price\"\naction = \"generate\"\noutput = \"replace\"\nvariants = 3\ntemplate = \"A price for {{ selection }}\"\n",
        );
        // Nothing selected: nothing to replace.
        assert!(app.open_template("price").is_empty());
        app.doc.select(Selection {
            anchor: 7,
            head: 10,
        });
        let effects = app.open_template("price");
        let job = job_of(&effects);
        assert_eq!(app.assistant.suggestion.as_ref().unwrap().wanted, 1);
        engine(
            &mut app,
            Event::TokenGenerated {
                job,
                text: "$9".into(),
            },
        );
        engine(
            &mut app,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        );
        assert_eq!(app.doc.text(), "Price: $9.");
        assert!(app.assistant.suggestion.is_none());
        app.update(Msg::Key(Key::ctrl('z')));
        assert_eq!(app.doc.text(), "Price: TBD.", "one undo step");
    }
}
