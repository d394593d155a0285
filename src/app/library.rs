//! The writer's prompts and templates in the editor: the library (built in, and the writer's
//! own over them), the form that fills a template's fields before it runs (remembering the last
//! values), saving a filled form as a preset or the writer's text as a new template (asking
//! before anything is replaced), editing a template in `$EDITOR` and deleting the writer's own.
//! File work is the runtime's, through `Effect`s.

use std::collections::BTreeMap;

use super::overlay::{Answer, Confirm, MiniBuffer, Question, TemplateForm};
use super::{Cx, Effect};
use crate::prompt::{Origin, PromptLibrary, PromptTemplate, check_name};

/// A template waiting for its name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NewTemplate {
    /// A template's filled form, to keep as a preset.
    Preset {
        template: String,
        values: BTreeMap<String, String>,
    },
    /// The writer's text (selection or draft), whose `{{ name }}`s become fields.
    FromText(String),
}

/// What opening a template came to.
pub enum Opened {
    /// Its form is open: it runs once filled.
    Form,
    /// It has no fields: run it now.
    Run,
    /// There is no such template (the writer has been told).
    Missing,
}

#[derive(Debug, Clone)]
pub struct Library {
    pub prompts: PromptLibrary,
    /// The values last filled in each template's form, by template id.
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// The writer's recent free-form instructions, oldest first.
    pub asks: Vec<String>,
    pending: Option<NewTemplate>,
}

impl Default for Library {
    fn default() -> Self {
        Library {
            prompts: PromptLibrary::built_in().unwrap_or_else(|_| PromptLibrary::empty()),
            values: BTreeMap::new(),
            asks: Vec::new(),
            pending: None,
        }
    }
}

impl Library {
    /// Opens `id`'s form, holding the values used last time.
    pub fn open(&self, id: &str, cx: &mut Cx) -> Opened {
        let Ok(template) = self.prompts.get(id) else {
            cx.status.error(format!("no template named {id}"));
            return Opened::Missing;
        };
        if template.fields.is_empty() {
            return Opened::Run;
        }
        cx.status.clear();
        *cx.overlay = Some(super::overlay::Overlay::Form(TemplateForm::new(
            template,
            self.values.get(id),
        )));
        Opened::Form
    }

    /// Keeps a form's values for next time.
    /// Keeps `instruction` as the newest ask (once, the oldest going past `ASKS_KEPT`).
    pub fn remember_ask(&mut self, instruction: &str) -> Effect {
        const ASKS_KEPT: usize = 50;
        self.asks.retain(|a| a != instruction);
        self.asks.push(instruction.to_string());
        if self.asks.len() > ASKS_KEPT {
            self.asks.remove(0);
        }
        Effect::RememberAsks(self.asks.clone())
    }

    pub fn remember(&mut self, id: &str, values: &BTreeMap<String, String>) -> Effect {
        self.values.insert(id.to_string(), values.clone());
        Effect::RememberTemplateValues(self.values.clone())
    }

    /// Asks for a name to keep the filled form under. A preset must run as it is: its
    /// template's checks apply now, not when it is used.
    pub fn save_preset(&mut self, id: &str, values: BTreeMap<String, String>, cx: &mut Cx) {
        if let Ok(template) = self.prompts.get(id)
            && let Err(e) = template.field_values(&values)
        {
            cx.status.error(format!("{e:#}"));
            return;
        }
        self.pending = Some(NewTemplate::Preset {
            template: id.to_string(),
            values,
        });
        ask_name("", cx);
    }

    /// Asks for a name to keep `text` (the selection, or the draft) as a template under.
    pub fn new_from_text(&mut self, text: String, cx: &mut Cx) {
        if text.trim().is_empty() {
            cx.status
                .info("write the prompt first, with {{ name }} where a field goes");
            return;
        }
        // Caught now, before the writer picks a name.
        if let Err(e) = PromptTemplate::from_text("check", &text) {
            cx.status.error(format!("{e:#}"));
            return;
        }
        self.pending = Some(NewTemplate::FromText(text));
        cx.status.clear();
        ask_name("", cx);
    }

    /// The name prompt was closed: the template waiting for it is off.
    pub fn cancel_naming(&mut self) {
        self.pending = None;
    }

    /// The name was given: build the template and save it, asking first if the name is taken.
    pub fn name_template(&mut self, name: &str, cx: &mut Cx) -> Vec<Effect> {
        if let Err(e) = check_name(name) {
            // Asked again, with what was typed, so the writer can fix it.
            cx.status.error(e);
            ask_name(name, cx);
            return Vec::new();
        }
        let Some(pending) = self.pending.take() else {
            return Vec::new();
        };
        let built = match &pending {
            NewTemplate::Preset { template, values } => self
                .prompts
                .get(template)
                .and_then(|t| t.preset(name, values)),
            NewTemplate::FromText(text) => PromptTemplate::from_text(name, text),
        };
        let text = match built.and_then(|t| t.to_toml()) {
            Ok(text) => text,
            Err(e) => {
                cx.status.error(format!("{e:#}"));
                return Vec::new();
            }
        };
        if let Ok(existing) = self.prompts.get(name) {
            *cx.overlay = Some(
                Confirm::OverwriteTemplate {
                    name: name.to_string(),
                    text,
                    is_built_in: existing.origin == Origin::BuiltIn,
                }
                .into(),
            );
            return Vec::new();
        }
        vec![Effect::SaveTemplate {
            name: name.to_string(),
            text,
            overwrite: false,
        }]
    }

    /// A template file of that name appeared meanwhile: ask before replacing it.
    pub fn on_exists(&self, name: String, text: String, cx: &mut Cx) {
        *cx.overlay = Some(
            Confirm::OverwriteTemplate {
                name,
                text,
                is_built_in: false,
            }
            .into(),
        );
    }

    /// The templates were read again.
    pub fn on_loaded(
        &mut self,
        prompts: PromptLibrary,
        warnings: Vec<String>,
        note: Option<String>,
        cx: &mut Cx,
    ) {
        self.prompts = prompts;
        match warnings.into_iter().next() {
            Some(warning) => cx.status.error(warning),
            None => {
                if let Some(note) = note {
                    cx.status.info(note);
                }
            }
        }
    }

    /// Opens `id`'s file in the writer's editor; a built-in is copied to the templates folder
    /// first, where it takes the built-in's place.
    pub fn edit(&self, id: &str, cx: &mut Cx) -> Vec<Effect> {
        let Ok(template) = self.prompts.get(id) else {
            return Vec::new();
        };
        let seed = match &template.origin {
            Origin::User(_) => None,
            Origin::BuiltIn => match PromptLibrary::built_in_source(id) {
                Some(text) => Some(text.to_string()),
                None => match template.to_toml() {
                    Ok(text) => Some(text),
                    Err(e) => {
                        cx.status.error(format!("{e:#}"));
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
    pub fn confirm_delete(&self, id: &str, cx: &mut Cx) {
        match self.prompts.get(id).map(|t| t.origin.clone()) {
            Ok(Origin::User(_)) => {
                *cx.overlay = Some(Confirm::DeleteTemplate(id.to_string()).into());
            }
            Ok(Origin::BuiltIn) => cx.status.error(format!(
                "{id} is built in: only your own templates can be deleted"
            )),
            Err(_) => cx.status.error(format!("no template named {id}")),
        }
    }

    /// A question about a template was answered.
    pub fn answer(&mut self, question: Confirm, answer: Answer, cx: &mut Cx) -> Vec<Effect> {
        match (question, answer) {
            (Confirm::OverwriteTemplate { name, text, .. }, Answer::Overwrite) => {
                vec![Effect::SaveTemplate {
                    name,
                    text,
                    overwrite: true,
                }]
            }
            (Confirm::OverwriteTemplate { name, .. }, _) => {
                cx.status
                    .info(format!("not saved: {name} was left as it is"));
                Vec::new()
            }
            (Confirm::DeleteTemplate(name), Answer::Yes) => vec![Effect::DeleteTemplate { name }],
            (Confirm::DeleteTemplate(name), _) => {
                cx.status.info(format!("{name} was kept"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

fn ask_name(text: &str, cx: &mut Cx) {
    *cx.overlay = Some(MiniBuffer::new(Question::TemplateName, text).into());
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::overlay::{Overlay, Purpose};
    use crate::app::test_support::{job_of, ready_app, stats};
    use crate::app::{App, Msg};
    use crate::document::Selection;
    use crate::engine::protocol::{Event, JobId};
    use crate::keymap::{Key, KeyCode};

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

    fn token(app: &mut App, job: JobId, text: &str) -> Vec<Effect> {
        engine(
            app,
            Event::TokenGenerated {
                job,
                text: text.into(),
            },
        )
    }

    fn finish(app: &mut App, job: JobId) -> Vec<Effect> {
        engine(
            app,
            Event::GenerationFinished {
                job,
                stats: stats(),
            },
        )
    }

    /// The picker, then the tagline's form, filled and run.
    fn run_tagline(app: &mut App, product: &str) -> Vec<Effect> {
        app.update(Msg::Key(Key::plain(KeyCode::F(7))));
        assert!(
            matches!(app.overlay(), Some(Overlay::Palette(p)) if p.purpose == Purpose::Templates)
        );
        let listed = app.palette_items();
        assert!(listed.len() >= 12, "{listed:?}");
        assert!(
            listed.iter().all(|i| !i.label.contains("Rewrite")),
            "the picker shows templates only"
        );
        type_text(app, "tagline");
        app.update(key(KeyCode::Enter));
        let Some(Overlay::Form(form)) = app.overlay() else {
            panic!("the tagline has a form: {:?}", app.overlay());
        };
        assert_eq!(form.template, "tagline");
        type_text(app, product);
        app.update(key(KeyCode::Enter))
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a test: one user story, told in order
    fn a_filled_form_streams_copy_within_its_limit_and_is_remembered() {
        let mut app = ready_app("Draft: ");
        app.doc_mut().move_to(7, false);
        let effects = run_tagline(&mut app, "Quill 写作");
        assert!(app.overlay().is_none());
        let remembered = effects.iter().find_map(|e| match e {
            Effect::RememberTemplateValues(v) => Some(v.clone()),
            _ => None,
        });
        assert_eq!(remembered.unwrap()["tagline"]["product"], "Quill 写作");
        let job = job_of(&effects);
        let Some(Effect::Generate {
            sampling, variants, ..
        }) = effects
            .iter()
            .find(|e| matches!(e, Effect::Generate { .. }))
        else {
            unreachable!()
        };
        assert!(
            sampling.stop.contains(&"\n".to_string()),
            "a tagline is one line"
        );
        let s = app.suggestion().unwrap();
        assert_eq!((s.finishing.max_chars, s.wanted), (Some(60), 5));
        assert_eq!(*variants, 5, "the five are asked for at once, side by side");

        token(
            &mut app,
            job,
            "\"Write faster, think clearer: the terminal ",
        );
        let stop = token(
            &mut app,
            job,
            "writing assistant that never loses a single word you type\"",
        );
        assert_eq!(
            stop,
            vec![Effect::CancelJob { job }],
            "past the limit: stopped"
        );
        let next = finish(&mut app, job);
        let s = app.suggestion().unwrap();
        let kept = s.variants[0].text.clone();
        assert!(
            kept.chars().count() <= 60 && kept.ends_with("assistant"),
            "{kept:?}"
        );
        assert!(!kept.starts_with('"'));
        assert!(next.is_empty(), "the others stream already: {next:?}");
        // A duplicate of the first is dropped, and made up for once the others have ended.
        let job2 = job + 1;
        token(&mut app, job2, &kept.to_uppercase());
        assert!(finish(&mut app, job2).is_empty());
        assert_eq!(app.suggestion().unwrap().dropped, 1);
        let mut retry = Vec::new();
        for k in 2..5 {
            token(&mut app, job + k, &format!("Tagline number {k}"));
            retry = finish(&mut app, job + k);
        }
        let s = app.suggestion().unwrap();
        let done = s
            .variants
            .iter()
            .filter(|v| matches!(v.state, crate::suggestion::VariantState::Done(_)));
        assert_eq!(done.count(), 4, "{:?}", s.variants);
        let job3 = job_of(&retry);
        assert!(job3 > job + 4, "a job of its own");

        // Accepting puts the copy into the draft as one undo step.
        app.update(Msg::Key(Key {
            code: KeyCode::Enter,
            mods: crate::keymap::Mods {
                alt: true,
                ..Default::default()
            },
        }));
        assert_eq!(app.doc_mut().text(), format!("Draft: {kept}"));

        // The form remembers the product next time.
        app.update(Msg::Key(Key::plain(KeyCode::F(7))));
        type_text(&mut app, "tagline");
        app.update(key(KeyCode::Enter));
        let Some(Overlay::Form(form)) = app.overlay() else {
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
        for k in 0..5 {
            let job = job + k;
            assert!(effects.contains(&Effect::CancelJob { job }), "{effects:?}");
        }
        let again = job_of(&effects);
        assert!(again > job + 4, "new jobs: {again}");
        let s = app.suggestion().unwrap();
        assert_eq!(s.variants.len(), 1, "the half-done variants made way");
        assert!(s.variants[0].text.is_empty());
    }

    #[test]
    fn a_filled_form_is_saved_as_a_preset_asking_before_hiding_a_built_in() {
        let mut app = ready_app("");
        app.open_template("tagline");
        type_text(&mut app, "Quill");
        app.update(Msg::Key(Key::ctrl('s')));
        assert!(
            matches!(app.overlay(), Some(Overlay::MiniBuffer(p)) if p.question == Question::TemplateName)
        );
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
            app.overlay(),
            Some(Overlay::Confirm(Confirm::OverwriteTemplate {
                is_built_in: true,
                ..
            }))
        ));
        assert!(app.update(key(KeyCode::Char('n'))).is_empty());
        assert!(app.overlay().is_none());

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
        assert!(app.status().unwrap().is_error);
        assert!(
            matches!(app.overlay(), Some(Overlay::MiniBuffer(p)) if p.input.text == "../evil"),
            "asked again: {:?}",
            app.overlay()
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
        app.doc_mut().select(Selection {
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
        assert!(app.overlay().is_none());
        assert!(app.status().unwrap().text.contains("line 1"));
    }

    /// Gives `app` the built-ins plus one template of the writer's, `name.toml`; the folder
    /// lives as long as the returned guard.
    fn with_user_template(app: &mut App, name: &str, toml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{name}.toml")), toml).unwrap();
        app.assistant.library.prompts = PromptLibrary::load(Some(dir.path())).0;
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
        assert!(matches!(app.overlay(), Some(Overlay::Palette(p)) if p.purpose == Purpose::Delete));
        let items = app.palette_items();
        assert_eq!(items.len(), 1, "{items:?}");
        app.update(key(KeyCode::Enter));
        assert_eq!(
            app.overlay(),
            Some(&Overlay::Confirm(Confirm::DeleteTemplate("mine".into())))
        );
        let effects = app.update(key(KeyCode::Char('y')));
        assert_eq!(
            effects,
            vec![Effect::DeleteTemplate {
                name: "mine".into()
            }]
        );
        let (_, assistant, mut cx) = app.parts();
        assistant.library.confirm_delete("tagline", &mut cx);
        assert!(app.status().unwrap().text.contains("built in"));

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
        let (_, assistant, mut cx) = app.parts();
        assert_eq!(
            assistant.library.edit("mine", &mut cx),
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
        app.doc_mut().select(Selection {
            anchor: 7,
            head: 10,
        });
        let effects = app.open_template("price");
        let job = job_of(&effects);
        assert_eq!(app.suggestion().unwrap().wanted, 1);
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
        assert_eq!(app.doc_mut().text(), "Price: $9.");
        assert!(app.suggestion().is_none());
        app.update(Msg::Key(Key::ctrl('z')));
        assert_eq!(app.doc_mut().text(), "Price: TBD.", "one undo step");
    }
}
