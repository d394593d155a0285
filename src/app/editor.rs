//! The editor: the draft (document, file, crash journal), the view over it, the clipboard and
//! find. It handles the editing commands and the life of the file: saving (atomic, asking
//! before overwriting what someone else wrote), opening, starting anew, quitting, recovering a
//! journal. It changes only itself; it asks for a prompt line or a question through `Cx`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::overlay::{Answer, Confirm, MiniBuffer, Question, Then};
use super::view::{Clicked, View};
use super::{Cx, Effect, LoadedDraft, SaveFailure};
use crate::command::Command;
use crate::document::file::{Fingerprint, TextFormat};
use crate::document::history::EditKind;
use crate::document::journal::{Base, Recovered};
use crate::document::{Document, Selection, grapheme};
use crate::paths::expand_home;

/// A save on its way: the state of the document it writes, applied only once it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingSave {
    path: PathBuf,
    revision: u64,
    base: Base,
}

#[derive(Debug)]
pub struct Editor {
    doc: Document,
    path: Option<PathBuf>,
    format: TextFormat,
    /// The file on disk as last read or written; `None` if it does not exist yet.
    disk: Option<Fingerprint>,
    /// What the journal's edits start from: the text as last loaded or saved.
    journal_base: Base,
    view: View,
    clipboard: String,
    last_search: String,
    /// After a save that was asked for on the way to something else (quit, open).
    after_save: Option<Then>,
    /// The save in flight: where, and what the document was when it was asked for.
    saving: Option<PendingSave>,
    /// A journal write failed: the next one starts over with the whole text.
    journal_needs_snapshot: bool,
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            doc: Document::new(),
            path: None,
            format: TextFormat::default(),
            disk: None,
            journal_base: Base::of_text(None, ""),
            view: View::default(),
            clipboard: String::new(),
            last_search: String::new(),
            after_save: None,
            saving: None,
            journal_needs_snapshot: false,
        }
    }
}

impl Editor {
    pub fn doc(&self) -> &Document {
        &self.doc
    }

    /// The document for a change made elsewhere (an accepted suggestion, a ghost taken): the
    /// caller says so with `after_edit`.
    pub fn doc_mut(&mut self) -> &mut Document {
        &mut self.doc
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    pub fn path(&self) -> Option<&PathBuf> {
        self.path.as_ref()
    }

    /// Replaces the document with `draft`, read from `path`.
    pub fn open(&mut self, path: Option<PathBuf>, draft: LoadedDraft) {
        self.journal_base = Base::of_text(path.clone(), &draft.text);
        self.doc = Document::from_text(&draft.text);
        self.path = path;
        self.format = draft.format;
        self.disk = draft.fingerprint;
        self.view.reset();
        // Back where the writer left it (a file shorter since: its end), and in the body:
        // a front matter that reads is shown folded.
        let cursor = draft.cursor.unwrap_or(0).min(self.doc.len_chars());
        let body = self
            .doc
            .front_matter()
            .filter(|span| span.folded.is_some())
            .map_or(0, |span| span.chars);
        self.doc.move_to(cursor.max(body), false);
        self.view.cursor_moved(false);
    }

    /// Where the cursor is, to find it there next time; none for an untitled draft.
    pub fn position_effect(&self) -> Option<Effect> {
        self.path.clone().map(|path| Effect::RememberPosition {
            path,
            cursor: self.doc.cursor(),
        })
    }

    pub fn title(&self) -> String {
        self.path.as_ref().map_or_else(
            || "untitled".to_string(),
            |p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            },
        )
    }

    pub fn resize(&mut self, width: usize, height: usize) {
        self.view.resize(&self.doc, width, height);
    }

    /// A frame is due: the view settles on the cursor.
    pub fn settle(&mut self) {
        self.view.settle(&self.doc);
    }

    pub fn scroll(&mut self, down: bool) {
        self.view.scroll(&self.doc, down);
    }

    /// A click in the draft; true when it was on the folded brief (its form is to open).
    pub fn click(&mut self, column: usize, row: usize) -> bool {
        match self.view.click(&self.doc, column, row) {
            Some(Clicked::At(to)) => self.doc.move_to(to, false),
            Some(Clicked::Brief) => return true,
            None => {}
        }
        false
    }

    /// Shows the front matter whole, or folds it to one line again.
    pub fn toggle_fold(&mut self, cx: &mut Cx) {
        if self.doc.front_matter().is_none() {
            cx.status
                .info("this draft has no front matter to fold (Alt-B writes a brief)");
            return;
        }
        self.view.toggle_fold();
    }

    /// The text changed: the view follows the cursor.
    pub fn after_edit(&mut self) {
        self.view.cursor_moved(false);
    }

    pub fn type_char(&mut self, c: char) {
        self.doc
            .insert(c.encode_utf8(&mut [0; 4]), EditKind::Typing);
        self.after_edit();
    }

    pub fn paste(&mut self, text: &str) {
        self.doc.insert(text, EditKind::Other);
        self.after_edit();
    }

    /// The pending edits for the journal, if any.
    pub fn journal_effect(&mut self) -> Option<Effect> {
        if !self.doc.has_unjournaled() {
            return None;
        }
        let changes = self.doc.take_unjournaled();
        if std::mem::take(&mut self.journal_needs_snapshot) {
            // The journal lost some edits: the whole text stands in for them all.
            return Some(Effect::Journal {
                path: self.path.clone(),
                base: self.journal_base.clone(),
                snapshot: Some(self.doc.text()),
                changes: Vec::new(),
            });
        }
        Some(Effect::Journal {
            path: self.path.clone(),
            base: self.journal_base.clone(),
            snapshot: None,
            changes,
        })
    }

    /// A journal write failed: the next starts over from the whole text.
    pub fn journal_failed(&mut self) {
        self.journal_needs_snapshot = true;
    }

    /// Runs one of the editing and file commands; false (and nothing done) for another.
    pub fn run(&mut self, command: Command, cx: &mut Cx, effects: &mut Vec<Effect>) -> bool {
        use Command as C;
        let vertical = matches!(
            command,
            C::move_up
                | C::move_down
                | C::page_up
                | C::page_down
                | C::select_up
                | C::select_down
                | C::select_page_up
                | C::select_page_down
        );
        let handled = self.motion(command)
            || self.edit(command, cx, effects)
            || self.file_command(command, cx, effects);
        if handled {
            self.view.cursor_moved(vertical);
        }
        handled
    }

    /// Cursor and selection motions.
    fn motion(&mut self, command: Command) -> bool {
        use Command as C;
        let extend = matches!(
            command,
            C::select_left
                | C::select_right
                | C::select_word_left
                | C::select_word_right
                | C::select_up
                | C::select_down
                | C::select_page_up
                | C::select_page_down
                | C::select_line_start
                | C::select_line_end
                | C::select_doc_start
                | C::select_doc_end
        );
        let s = self.doc.selection();
        let rope = self.doc.rope();
        let to = match command {
            // A plain motion from a selection lands on its near edge.
            C::move_left if !s.is_empty() => s.start(),
            C::move_right if !s.is_empty() => s.end(),
            C::move_left | C::select_left => grapheme::prev_boundary(rope, s.head),
            C::move_right | C::select_right => grapheme::next_boundary(rope, s.head),
            C::move_word_left | C::select_word_left => grapheme::prev_word(rope, s.head),
            C::move_word_right | C::select_word_right => grapheme::next_word(rope, s.head),
            C::move_up | C::select_up => self.view.rows_away(&self.doc, -1),
            C::move_down | C::select_down => self.view.rows_away(&self.doc, 1),
            C::page_up | C::select_page_up => {
                self.view.rows_away(&self.doc, -self.view.page_rows())
            }
            C::page_down | C::select_page_down => {
                self.view.rows_away(&self.doc, self.view.page_rows())
            }
            C::move_line_start | C::select_line_start => self.view.row_start(&self.doc),
            C::move_line_end | C::select_line_end => self.view.row_end(&self.doc),
            C::move_doc_start | C::select_doc_start => 0,
            C::move_doc_end | C::select_doc_end => self.doc.len_chars(),
            C::select_all => {
                let end = self.doc.len_chars();
                self.doc.select(Selection {
                    anchor: 0,
                    head: end,
                });
                return true;
            }
            _ => return false,
        };
        // A folded front matter is out of the cursor's way: the body's start is as far as
        // a motion goes.
        let to = match self.view.fold(&self.doc) {
            Some((_, body)) => to.max(body),
            None => to,
        };
        self.doc.move_to(to, extend);
        true
    }

    /// Changes to the text, the clipboard and find.
    fn edit(&mut self, command: Command, cx: &mut Cx, effects: &mut Vec<Effect>) -> bool {
        use Command as C;
        match command {
            C::insert_newline => self.doc.insert("\n", EditKind::Other),
            C::insert_tab => self.doc.insert("\t", EditKind::Typing),
            C::delete_backward => self.doc.delete_backward(),
            C::delete_forward => self.doc.delete_forward(),
            C::delete_word_backward => self.doc.delete_word_backward(),
            C::copy | C::cut => self.copy(command == C::cut, cx, effects),
            C::paste => {
                let text = self.clipboard.clone();
                self.doc.insert(&text, EditKind::Other);
            }
            C::undo => {
                if !self.doc.undo() {
                    cx.status.info("nothing to undo");
                }
            }
            C::redo => {
                if !self.doc.redo() {
                    cx.status.info("nothing to redo");
                }
            }
            C::find => self.ask(Question::Find, self.last_search.clone(), cx),
            C::find_next | C::find_previous => self.find(command == C::find_next, cx),
            _ => return false,
        }
        true
    }

    fn copy(&mut self, cut: bool, cx: &mut Cx, effects: &mut Vec<Effect>) {
        if !self.doc.has_selection() {
            cx.status.info("nothing selected");
            return;
        }
        self.clipboard = self.doc.selected_text();
        let chars = self.clipboard.chars().count();
        effects.push(Effect::Clipboard(self.clipboard.clone()));
        if cut {
            self.doc.delete_backward();
            cx.status.info(format!("cut {chars} characters"));
        } else {
            cx.status.info(format!("copied {chars} characters"));
        }
    }

    /// Saving, opening, starting anew, quitting.
    fn file_command(&mut self, command: Command, cx: &mut Cx, effects: &mut Vec<Effect>) -> bool {
        use Command as C;
        match command {
            C::save => effects.extend(self.save(false, cx)),
            C::save_as => {
                let offered = self.path.as_ref().map(|p| p.display().to_string());
                self.ask(Question::SaveAs, offered.unwrap_or_default(), cx);
            }
            C::open => self.ask(Question::Open, String::new(), cx),
            C::new => effects.extend(self.leave(Then::New, cx)),
            C::quit => effects.extend(self.leave(Then::Quit, cx)),
            _ => return false,
        }
        true
    }

    /// Opens the prompt line for `question`, holding `text`.
    fn ask(&self, question: Question, text: String, cx: &mut Cx) {
        cx.status.clear();
        *cx.overlay = Some(MiniBuffer::new(question, &text).into());
    }

    /// Puts the selection away (Esc with nothing else to stop).
    /// The brief's form submitted: its values become the draft's front matter (made when
    /// there is none), one undo step; the body is left byte for byte. A front matter that
    /// does not parse is left as it is, and the writer told where it is wrong.
    pub fn set_brief(&mut self, values: &BTreeMap<String, String>, cx: &mut Cx) {
        use crate::document::front_matter;
        let brief = match super::overlay::TemplateForm::brief_of(values) {
            Ok(brief) => brief,
            Err(e) => {
                cx.status.error(e);
                return;
            }
        };
        let text = self.doc.text();
        let new = match front_matter::with_brief(&text, &brief) {
            Ok(new) => new,
            Err(e) => {
                cx.status.error(format!(
                    "{e}: the front matter is left as it is; fix it, then edit the brief"
                ));
                return;
            }
        };
        if new == text {
            cx.status.info("the brief is as it was");
            return;
        }
        let (old_block, new_block) = (
            front_matter::block_len(&text),
            front_matter::block_len(&new),
        );
        let old_chars = text[..old_block].chars().count();
        let new_chars = new[..new_block].chars().count();
        // The cursor stays on the text it was on; from inside the old block, the body's start.
        let cursor = self.doc.cursor();
        self.doc.replace(0, old_chars, &new[..new_block]);
        let cursor = if cursor >= old_chars {
            cursor - old_chars + new_chars
        } else {
            new_chars
        };
        self.doc.move_to(cursor, false);
        self.after_edit();
        cx.status
            .info("the brief is in the draft's front matter (save to keep it)");
    }

    pub fn collapse_selection(&mut self) {
        let head = self.doc.cursor();
        self.doc.move_to(head, false);
    }

    /// The prompt line was answered.
    pub fn answer_prompt(&mut self, question: Question, text: &str, cx: &mut Cx) -> Vec<Effect> {
        let input = text.trim().to_string();
        if input.is_empty() {
            return Vec::new();
        }
        match question {
            Question::Find => {
                self.last_search = input;
                self.find(true, cx);
                Vec::new()
            }
            // Another file that exists is asked about when the save finds it there; nothing
            // about the draft (its name, its journal) changes until the save has succeeded.
            Question::SaveAs => self.save_to(expand_home(&input), false),
            Question::Open => self.leave(Then::Open(expand_home(&input)), cx),
            // The assistant's questions, answered there.
            Question::TemplateName | Question::Ask => Vec::new(),
        }
    }

    /// The prompt line was closed without an answer: what it was on the way to is off too.
    pub fn prompt_cancelled(&mut self) {
        self.after_save = None;
    }

    fn find(&mut self, forward: bool, cx: &mut Cx) {
        if self.last_search.is_empty() {
            self.ask(Question::Find, String::new(), cx);
            return;
        }
        let s = self.doc.selection();
        let from = if forward { s.end() } else { s.start() };
        match self.doc.find(&self.last_search, from, forward) {
            Some((start, end)) => {
                self.doc.select(Selection {
                    anchor: start,
                    head: end,
                });
                cx.status.clear();
            }
            None => cx.status.error(format!("not found: {}", self.last_search)),
        }
        self.view.cursor_moved(false);
    }

    /// Quit, open or start anew, asking first about unsaved changes.
    fn leave(&mut self, then: Then, cx: &mut Cx) -> Vec<Effect> {
        if self.doc.is_modified() {
            *cx.overlay = Some(Confirm::Unsaved(then).into());
            return Vec::new();
        }
        self.proceed(then, cx)
    }

    fn proceed(&mut self, then: Then, cx: &mut Cx) -> Vec<Effect> {
        let mut effects: Vec<Effect> = self.position_effect().into_iter().collect();
        match then {
            Then::Quit => {
                *cx.quit = true;
                effects.push(Effect::Quit);
            }
            Then::Open(path) => effects.push(Effect::Load(Some(path))),
            Then::New => effects.push(Effect::Load(None)),
        }
        effects
    }

    fn save(&mut self, force: bool, cx: &mut Cx) -> Vec<Effect> {
        let Some(path) = self.path.clone() else {
            self.ask(Question::SaveAs, String::new(), cx);
            return Vec::new();
        };
        self.save_to(path, force)
    }

    fn save_to(&mut self, path: PathBuf, force: bool) -> Vec<Effect> {
        // The journal first: whatever happens to the save, the edits are durable.
        let mut effects: Vec<Effect> = self.journal_effect().into_iter().collect();
        let text = self.doc.text();
        let is_this_file = self.path.as_ref() == Some(&path);
        self.saving = Some(PendingSave {
            path: path.clone(),
            revision: self.doc.revision(),
            base: Base::of_text(Some(path.clone()), &text),
        });
        effects.push(Effect::Save {
            path,
            text,
            format: self.format.clone(),
            // A file that is not this draft's must not appear meanwhile either.
            expect: if is_this_file {
                self.disk.clone()
            } else {
                None
            },
            force,
        });
        effects
    }

    pub fn on_saved(
        &mut self,
        path: PathBuf,
        result: Result<Fingerprint, SaveFailure>,
        cx: &mut Cx,
    ) -> Vec<Effect> {
        match result {
            Ok(fingerprint) => self.saved(path, fingerprint, cx),
            Err(SaveFailure::ChangedOnDisk) => {
                self.saving = None;
                *cx.overlay = Some(Confirm::Overwrite(path).into());
                Vec::new()
            }
            Err(SaveFailure::Failed(message)) => {
                self.saving = None;
                self.after_save = None;
                cx.status.error(message);
                Vec::new()
            }
        }
    }

    fn saved(&mut self, path: PathBuf, fingerprint: Fingerprint, cx: &mut Cx) -> Vec<Effect> {
        let bytes = fingerprint.len;
        self.disk = Some(fingerprint);
        match self.saving.take().filter(|p| p.path == path) {
            Some(p) => {
                self.doc.mark_saved_at(p.revision);
                self.journal_base = p.base;
            }
            None => {
                self.doc.mark_saved();
                self.journal_base = Base::of_text(Some(path.clone()), &self.doc.text());
            }
        }
        cx.status.info(format!("saved ({bytes} bytes)"));
        let mut effects: Vec<Effect> = self.position_effect().into_iter().collect();
        // Saved under a new name: the draft is that file now, and the old journal goes.
        if self.path.as_ref() != Some(&path) {
            let old = self.path.replace(path.clone());
            effects.push(Effect::RemoveJournal { path: old });
        }
        effects.push(Effect::RemoveJournal { path: Some(path) });
        if let Some(then) = self.after_save.take() {
            effects.extend(self.proceed(then, cx));
        }
        effects
    }

    /// A question about the draft was answered (templates' questions are the assistant's).
    pub fn answer(&mut self, question: Confirm, answer: Answer, cx: &mut Cx) -> Vec<Effect> {
        match (question, answer) {
            (Confirm::Unsaved(then), Answer::Save | Answer::Yes) => {
                self.after_save = Some(then);
                self.save(false, cx)
            }
            (Confirm::Unsaved(then), Answer::Discard | Answer::No) => {
                let mut effects = vec![Effect::RemoveJournal {
                    path: self.path.clone(),
                }];
                self.doc.take_unjournaled();
                effects.extend(self.proceed(then, cx));
                effects
            }
            (Confirm::Overwrite(path), Answer::Overwrite | Answer::Yes) => self.save_to(path, true),
            (Confirm::Overwrite(_), _) => {
                self.after_save = None;
                cx.status
                    .info("not saved: the file on disk was left as it is");
                Vec::new()
            }
            (Confirm::Recover(recovered), Answer::Yes) => self.recover(recovered, cx),
            (Confirm::Recover(_), Answer::Discard) => {
                cx.status.info("discarded the unsaved edits");
                vec![Effect::RemoveJournal {
                    path: self.path.clone(),
                }]
            }
            // Not now: nothing is lost; they are asked about again next time.
            (Confirm::Recover(_), Answer::No | Answer::Cancel) => {
                cx.status.info(
                    "the unsaved edits are kept aside; they are offered again the next time \
                     this draft opens",
                );
                vec![Effect::SetJournalAside {
                    path: self.path.clone(),
                }]
            }
            _ => Vec::new(),
        }
    }

    fn recover(&mut self, recovered: Recovered, cx: &mut Cx) -> Vec<Effect> {
        let fits = match &recovered.snapshot {
            // A snapshot is the whole text: it holds whatever the base was.
            Some(text) => {
                let len = self.doc.len_chars();
                self.doc.replace(0, len, text);
                true
            }
            // A save adds a final line break the text in the editor did not have: the file
            // read back holds the journal's base and that line break, and every journaled edit
            // lies before it.
            None => {
                let text = self.doc.text();
                recovered.base.matches(&text)
                    || text
                        .strip_suffix('\n')
                        .is_some_and(|base| recovered.base.matches(base))
            }
        };
        if fits && (recovered.changes.is_empty() || self.doc.replay(&recovered.changes)) {
            let n = recovered.changes.len();
            cx.status
                .info(format!("recovered {n} unsaved edits; save to keep them"));
            self.after_edit();
            return self.journal_effect().into_iter().collect();
        }
        cx.status
            .error("the journal does not match the file (it changed since); nothing was applied");
        Vec::new()
    }
}

#[cfg(test)]
impl Editor {
    pub(crate) fn set_path(&mut self, path: Option<PathBuf>) {
        self.path = path;
    }

    pub(crate) fn view_mut(&mut self) -> &mut View {
        &mut self.view
    }
}
