//! Document: the draft's text (a rope), its selection and its history. The only code that
//! mutates the text; every mutation is a `Transaction`, recorded for undo and queued for the
//! journal. Positions are char indices.

pub mod around;
pub mod diff;
pub mod edit;
pub mod file;
pub mod front_matter;
pub mod grapheme;
pub mod history;
pub mod join;
pub mod journal;
pub mod layout;
pub mod parts;
pub mod structure;

use std::time::Instant;

use ropey::Rope;

pub use edit::{Change, Selection, Transaction};
use history::{EditKind, History};

#[derive(Debug, Default)]
pub struct Document {
    rope: Rope,
    selection: Selection,
    history: History,
    /// Bumped by every change, undo and redo included.
    revision: u64,
    /// The history's id of the text the file holds (see `History::state`); `UNKNOWN` when
    /// saved at a revision no longer remembered.
    saved_state: u64,
    /// Recent revisions and the text id each left, to know what a save that finished after
    /// more typing wrote.
    recent_states: std::collections::VecDeque<(u64, u64)>,
    /// Changes not yet written to the journal, in order.
    unjournaled: Vec<Change>,
    /// Kept up to date change by change: recounting a long draft per keystroke is too slow.
    words: usize,
    /// Where the front matter is and how it reads folded, redone only by a change that can
    /// alter it: the view asks for it for every row it lays out.
    front_matter: Option<FrontMatterSpan>,
}

/// The draft's front matter as the editor folds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatterSpan {
    /// Lines it spans, its closing fence's included: the body starts on this line.
    pub lines: usize,
    /// Its length in chars, through the closing fence's line break.
    pub chars: usize,
    /// It folded to one line; `None` when it does not parse (shown whole, to be fixed).
    pub folded: Option<String>,
}

/// A front matter is looked for in the draft's first this many chars: a `---` first line (a
/// Markdown rule, say) that never closes must not be rescanned to the end per keystroke.
const FRONT_MATTER_WINDOW: usize = 64 * 1024;

fn front_matter_span(rope: &Rope) -> Option<FrontMatterSpan> {
    let first: String = rope.get_line(0)?.chars().take(3).collect();
    if first != "---" && first != "+++" {
        return None;
    }
    let text = rope
        .slice(..rope.len_chars().min(FRONT_MATTER_WINDOW))
        .to_string();
    let len = front_matter::block_len(&text);
    // A block closed on the last line, without a line break, has no body line to fold onto.
    if len == 0 || !text[..len].ends_with('\n') {
        return None;
    }
    let chars = text[..len].chars().count();
    let folded = front_matter::parse(&text[..len])
        .ok()
        .flatten()
        .map(|brief| front_matter::folded_line(&brief));
    Some(FrontMatterSpan {
        lines: rope.char_to_line(chars),
        chars,
        folded,
    })
}

impl Document {
    pub fn new() -> Self {
        Document::default()
    }

    pub fn from_text(text: &str) -> Self {
        let rope = Rope::from_str(text);
        Document {
            front_matter: front_matter_span(&rope),
            rope,
            words: grapheme::count_words(text),
            ..Document::default()
        }
    }

    /// Applies a change, adjusting the word count by the words that start where the text
    /// changed: the changed chars and the few after them whose start depends on what precedes
    /// them. Exact, and bounded by the change, not by the line: a keystroke on a 100 MB line
    /// must not rescan it.
    fn apply_change(&mut self, change: &Change) {
        let removed_end = change.start + change.removed.chars().count();
        let reach = grapheme::word_state_reach(&self.rope, removed_end);
        let before = grapheme::count_words_in(&self.rope, change.start, removed_end + reach);
        change.apply(&mut self.rope);
        let after =
            grapheme::count_words_in(&self.rope, change.start, change.inserted_end() + reach);
        self.words = (self.words + after).saturating_sub(before);
        // A change after the block leaves it as it is; with no block, one in the window can
        // make one (a first line typed as a fence, a closing fence typed below it).
        let reaches = match &self.front_matter {
            Some(span) => change.start < span.chars,
            None => change.start < FRONT_MATTER_WINDOW,
        };
        if reaches {
            self.front_matter = front_matter_span(&self.rope);
        }
    }

    /// The front matter, if the draft starts with one that closes.
    pub fn front_matter(&self) -> Option<&FrontMatterSpan> {
        self.front_matter.as_ref()
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    pub fn len_chars(&self) -> usize {
        self.rope.len_chars()
    }

    pub fn selection(&self) -> Selection {
        self.selection
    }

    pub fn cursor(&self) -> usize {
        self.selection.head
    }

    pub fn has_selection(&self) -> bool {
        !self.selection.is_empty()
    }

    pub fn selected_text(&self) -> String {
        let s = self.selection;
        self.rope.slice(s.start()..s.end()).to_string()
    }

    /// Whether the text differs from the file's: undoing back to the saved text clears it.
    pub fn is_modified(&self) -> bool {
        self.saved_state != self.history.state()
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn mark_saved(&mut self) {
        self.mark_saved_at(self.revision);
    }

    /// The text as it was at `revision` is what the file now holds.
    pub fn mark_saved_at(&mut self, revision: u64) {
        // No text has this id: modified until the next save.
        const UNKNOWN: u64 = u64::MAX;
        self.saved_state = if revision == self.revision {
            self.history.state()
        } else {
            self.recent_states
                .iter()
                .find(|(r, _)| *r == revision)
                .map_or(UNKNOWN, |(_, s)| *s)
        };
        self.history.close_run();
    }

    /// Moves the cursor; with `extend` the anchor stays (Shift+motion selects).
    pub fn move_to(&mut self, head: usize, extend: bool) {
        let head = head.min(self.rope.len_chars());
        self.selection = if extend {
            Selection {
                anchor: self.selection.anchor,
                head,
            }
        } else {
            Selection::cursor(head)
        };
        self.history.close_run();
    }

    pub fn select(&mut self, selection: Selection) {
        let len = self.rope.len_chars();
        self.selection = Selection {
            anchor: selection.anchor.min(len),
            head: selection.head.min(len),
        };
        self.history.close_run();
    }

    /// Replaces the selection with `text` (typing, paste, an accepted suggestion).
    pub fn insert(&mut self, text: &str, kind: EditKind) {
        let s = self.selection;
        if text.is_empty() && s.is_empty() {
            return;
        }
        // A selection replaced by typing is a step of its own, not part of a run.
        let kind = if s.is_empty() { kind } else { EditKind::Other };
        let change = Change {
            start: s.start(),
            removed: self.rope.slice(s.start()..s.end()).to_string(),
            inserted: text.to_string(),
        };
        let after = Selection::cursor(change.inserted_end());
        self.commit(vec![change], after, kind);
    }

    /// Deletes the selection, or the grapheme before the cursor.
    pub fn delete_backward(&mut self) {
        let s = self.selection;
        let range = if s.is_empty() {
            (grapheme::prev_boundary(&self.rope, s.head), s.head)
        } else {
            (s.start(), s.end())
        };
        self.delete_range(range.0, range.1);
    }

    /// Deletes the selection, or the grapheme after the cursor.
    pub fn delete_forward(&mut self) {
        let s = self.selection;
        let range = if s.is_empty() {
            (s.head, grapheme::next_boundary(&self.rope, s.head))
        } else {
            (s.start(), s.end())
        };
        self.delete_range(range.0, range.1);
    }

    /// Deletes the selection, or back to the start of the word before the cursor.
    pub fn delete_word_backward(&mut self) {
        let s = self.selection;
        if s.is_empty() {
            let start = grapheme::prev_word(&self.rope, s.head);
            self.delete_range(start, s.head);
        } else {
            self.delete_range(s.start(), s.end());
        }
    }

    fn delete_range(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        let change = Change {
            start,
            removed: self.rope.slice(start..end).to_string(),
            inserted: String::new(),
        };
        self.commit(vec![change], Selection::cursor(start), EditKind::Other);
    }

    /// Replaces chars `start..end` with `text` as one undo step, selecting nothing.
    pub fn replace(&mut self, start: usize, end: usize, text: &str) {
        self.replace_as(start, end, text, EditKind::Other);
    }

    /// `replace`, as one undo step with the edit before it (see `EditKind::Continued`).
    pub fn replace_continued(&mut self, start: usize, end: usize, text: &str) {
        self.replace_as(start, end, text, EditKind::Continued);
    }

    fn replace_as(&mut self, start: usize, end: usize, text: &str, kind: EditKind) {
        let len = self.rope.len_chars();
        let (start, end) = (start.min(len), end.min(len));
        let change = Change {
            start,
            removed: self.rope.slice(start..end).to_string(),
            inserted: text.to_string(),
        };
        let after = Selection::cursor(change.inserted_end());
        self.commit(vec![change], after, kind);
    }

    fn commit(&mut self, changes: Vec<Change>, after: Selection, kind: EditKind) {
        let tx = Transaction {
            changes,
            before: self.selection,
            after,
        };
        for change in &tx.changes {
            self.apply_change(change);
        }
        self.unjournaled.extend(tx.changes.iter().cloned());
        self.selection = after;
        self.revision += 1;
        self.history.record(tx, kind, Instant::now());
        self.remember_state();
    }

    pub fn undo(&mut self) -> bool {
        match self.history.undo() {
            Some(tx) => {
                self.apply_history(tx);
                true
            }
            None => false,
        }
    }

    pub fn redo(&mut self) -> bool {
        match self.history.redo() {
            Some(tx) => {
                self.apply_history(tx);
                true
            }
            None => false,
        }
    }

    fn apply_history(&mut self, tx: Transaction) {
        for change in &tx.changes {
            self.apply_change(change);
        }
        self.unjournaled.extend(tx.changes.iter().cloned());
        self.selection = tx.after;
        self.revision += 1;
        self.remember_state();
    }

    fn remember_state(&mut self) {
        const KEPT: usize = 256;
        if self.recent_states.len() == KEPT {
            self.recent_states.pop_front();
        }
        self.recent_states
            .push_back((self.revision, self.history.state()));
    }

    /// The changes made since the last call, for the journal.
    pub fn take_unjournaled(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.unjournaled)
    }

    pub fn has_unjournaled(&self) -> bool {
        !self.unjournaled.is_empty()
    }

    /// Replays journaled changes (crash recovery) as one undoable step. Returns false, changing
    /// nothing, if they do not fit the text (the journal belongs to another version of it).
    pub fn replay(&mut self, changes: &[Change]) -> bool {
        let mut len = self.rope.len_chars();
        for change in changes {
            let removed = change.removed.chars().count();
            if change.start + removed > len {
                return false;
            }
            len = len - removed + change.inserted.chars().count();
        }
        if changes.is_empty() {
            return false;
        }
        let after = Selection::cursor(changes.last().map_or(0, Change::inserted_end));
        self.commit(changes.to_vec(), after, EditKind::Other);
        true
    }

    /// The next case-insensitive match of `query` from `from` (wrapping), as a char range.
    pub fn find(&self, query: &str, from: usize, forward: bool) -> Option<(usize, usize)> {
        if query.is_empty() {
            return None;
        }
        let needle: Vec<char> = query.chars().flat_map(char::to_lowercase).collect();
        let n = needle.len();
        let len = self.rope.len_chars();
        if n > len {
            return None;
        }
        let matches_at = |i: usize| {
            self.rope
                .chars_at(i)
                .flat_map(char::to_lowercase)
                .take(n)
                .eq(needle.iter().copied())
        };
        let last = len - n;
        let from = from.min(len);
        let order: Box<dyn Iterator<Item = usize>> = if forward {
            Box::new((from..=last).chain(0..from.min(last + 1)))
        } else {
            let start = from.min(last + 1);
            Box::new((0..start).rev().chain((start..=last).rev()))
        };
        order
            .into_iter()
            .find(|&i| matches_at(i))
            .map(|i| (i, i + query.chars().count()))
    }

    /// Words in the document (each CJK character counts as one).
    pub fn word_count(&self) -> usize {
        self.words
    }

    /// Line (0-based) and grapheme column (0-based) of the cursor.
    pub fn line_col(&self) -> (usize, usize) {
        let head = self.selection.head;
        let line = self.rope.char_to_line(head);
        let start = self.rope.line_to_char(line);
        // Counting graphemes scans the line up to the cursor, every frame: past this many chars
        // (a minified file, a 100 MB line) the column counts chars, which is what it nearly
        // always is anyway.
        const EXACT_UP_TO: usize = 1 << 16;
        if head - start > EXACT_UP_TO {
            return (line, head - start);
        }
        let text = self.rope.slice(start..head).to_string();
        let col = unicode_segmentation::UnicodeSegmentation::graphemes(text.as_str(), true).count();
        (line, col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_front_matter_span_follows_every_change_that_reaches_it() {
        let text = "---\ntitle: Tea\naudience: students\n---\n\n# Tea\n";
        let mut doc = Document::from_text(text);
        let span = doc.front_matter().expect("a front matter").clone();
        assert_eq!((span.lines, span.chars), (4, 38));
        assert_eq!(span.folded.as_deref(), Some("brief: Tea · for students"));
        // Typing in the body leaves it; typing in the block redoes it.
        doc.move_to(doc.len_chars(), false);
        doc.insert("Body.", EditKind::Typing);
        assert_eq!(doc.front_matter(), Some(&span));
        doc.move_to(14, false);
        doc.insert(" green", EditKind::Typing);
        let folded = doc.front_matter().and_then(|s| s.folded.clone());
        assert_eq!(folded.as_deref(), Some("brief: Tea green · for students"));
        // A block that no longer parses is still found, and not folded.
        doc.move_to(4, false);
        doc.insert("[", EditKind::Other);
        let broken = doc.front_matter().expect("still a block");
        assert_eq!((broken.lines, broken.folded.as_ref()), (4, None));
        // Without its closing fence it is body text; undo brings it back.
        doc.replace(41, 45, "");
        assert_eq!(doc.front_matter(), None, "{:?}", doc.text());
        doc.undo();
        doc.undo();
        assert!(doc.front_matter().is_some_and(|s| s.folded.is_some()));
        // A Markdown rule first, never closed, is not a front matter.
        assert_eq!(Document::from_text("---\ntext\n").front_matter(), None);
        assert_eq!(Document::from_text("+++\n+++").front_matter(), None);
    }

    #[test]
    fn typing_a_run_is_one_undo_step() {
        let mut doc = Document::new();
        for c in "你好 world".chars() {
            doc.insert(&c.to_string(), EditKind::Typing);
        }
        assert_eq!(doc.text(), "你好 world");
        assert!(doc.undo());
        assert_eq!(doc.text(), "");
        assert!(doc.redo());
        assert_eq!(doc.text(), "你好 world");
        assert_eq!(doc.cursor(), 8);
    }

    #[test]
    fn the_modified_mark_follows_the_text_not_the_edit_count() {
        // Recorded: "[+]" stayed after undoing back to the saved text.
        let mut doc = Document::from_text("Saved.");
        assert!(!doc.is_modified());
        doc.move_to(6, false);
        doc.insert(" More", EditKind::Other);
        assert!(doc.is_modified());
        doc.undo();
        assert!(!doc.is_modified(), "back to the file's text");
        doc.redo();
        assert!(doc.is_modified());
        doc.mark_saved();
        assert!(!doc.is_modified());
        doc.undo();
        assert!(doc.is_modified(), "the file now holds the longer text");
        doc.redo();
        assert!(!doc.is_modified());
        // Typing that joins the saved step's run still changes the text.
        let mut doc = Document::new();
        doc.insert("a", EditKind::Typing);
        doc.mark_saved();
        doc.insert("b", EditKind::Typing);
        assert!(doc.is_modified());
        // A save that finished after more typing marks what it wrote.
        let mut doc = Document::new();
        doc.insert("one", EditKind::Other);
        let written = doc.revision();
        doc.insert(" two", EditKind::Other);
        doc.mark_saved_at(written);
        assert!(doc.is_modified());
        doc.undo();
        assert!(!doc.is_modified());
    }

    #[test]
    fn moving_the_cursor_ends_a_typing_run() {
        let mut doc = Document::new();
        doc.insert("a", EditKind::Typing);
        doc.insert("b", EditKind::Typing);
        doc.move_to(0, false);
        doc.insert("c", EditKind::Typing);
        assert_eq!(doc.text(), "cab");
        doc.undo();
        assert_eq!(doc.text(), "ab");
        doc.undo();
        assert_eq!(doc.text(), "");
    }

    #[test]
    fn backspace_removes_a_whole_grapheme() {
        let mut doc = Document::from_text("ae\u{301}👨‍👩‍👧");
        doc.move_to(doc.len_chars(), false);
        doc.delete_backward();
        assert_eq!(doc.text(), "ae\u{301}");
        doc.delete_backward();
        assert_eq!(doc.text(), "a");
    }

    #[test]
    fn typing_over_a_selection_replaces_it_as_one_step() {
        let mut doc = Document::from_text("hello world");
        doc.select(Selection {
            anchor: 6,
            head: 11,
        });
        doc.insert("世界", EditKind::Typing);
        assert_eq!(doc.text(), "hello 世界");
        doc.undo();
        assert_eq!(doc.text(), "hello world");
        assert_eq!(
            doc.selection(),
            Selection {
                anchor: 6,
                head: 11
            }
        );
    }

    #[test]
    fn find_is_case_insensitive_and_wraps() {
        let doc = Document::from_text("One two ONE two");
        assert_eq!(doc.find("one", 1, true), Some((8, 11)));
        assert_eq!(doc.find("one", 9, true), Some((0, 3)));
        assert_eq!(doc.find("TWO", 15, false), Some((12, 15)));
        assert_eq!(doc.find("TWO", 12, false), Some((4, 7)));
        assert_eq!(doc.find("three", 0, true), None);
    }

    #[test]
    fn replay_applies_changes_in_sequence_and_refuses_misfits() {
        let mut doc = Document::from_text("ab");
        let changes = [
            Change {
                start: 2,
                removed: String::new(),
                inserted: "cd".into(),
            },
            Change {
                start: 4,
                removed: String::new(),
                inserted: "ef".into(),
            },
            Change {
                start: 0,
                removed: "a".into(),
                inserted: String::new(),
            },
        ];
        assert!(doc.replay(&changes));
        assert_eq!(doc.text(), "bcdef");
        let mut doc = Document::from_text("ab");
        assert!(!doc.replay(&changes[1..]));
        assert_eq!(doc.text(), "ab");
    }

    #[test]
    fn word_count_counts_cjk_characters() {
        let doc = Document::from_text("Hello world\n大模型");
        assert_eq!(doc.word_count(), 5);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Type(String),
        Select(usize, usize),
        Move(usize),
        Backspace,
        Delete,
        DeleteWord,
        Undo,
        Redo,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            "[a-z 中文😀\u{301}\n]{1,4}".prop_map(Op::Type),
            (0usize..40, 0usize..40).prop_map(|(a, h)| Op::Select(a, h)),
            (0usize..40).prop_map(Op::Move),
            Just(Op::Backspace),
            Just(Op::Delete),
            Just(Op::DeleteWord),
            Just(Op::Undo),
            Just(Op::Redo),
        ]
    }

    proptest! {
        #[test]
        fn any_edits_then_undo_all_restore_the_text(
            start in "[a-z 中\n]{0,20}",
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let mut doc = Document::from_text(&start);
            for op in ops {
                match op {
                    Op::Type(t) => doc.insert(&t, EditKind::Typing),
                    Op::Select(a, h) => doc.select(Selection { anchor: a, head: h }),
                    Op::Move(i) => doc.move_to(i, false),
                    Op::Backspace => doc.delete_backward(),
                    Op::Delete => doc.delete_forward(),
                    Op::DeleteWord => doc.delete_word_backward(),
                    Op::Undo => { doc.undo(); }
                    Op::Redo => { doc.redo(); }
                }
            }
            prop_assert_eq!(doc.word_count(), grapheme::count_words(&doc.text()));
            while doc.undo() {}
            prop_assert_eq!(doc.text(), start.clone());
            while doc.redo() {}
            while doc.undo() {}
            prop_assert_eq!(doc.text(), start);
        }
    }
}
