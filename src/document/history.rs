//! Undo and redo. A run of typing is one step; so is a paste, an accepted suggestion or any
//! other single command.

use std::time::{Duration, Instant};

use super::edit::Transaction;

/// A pause longer than this ends a typing run.
const RUN_PAUSE: Duration = Duration::from_secs(2);

/// What kind of edit a transaction was, to decide whether it joins the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKind {
    /// One typed character: joins a run of typing at the same place.
    Typing,
    /// Anything else: always a step of its own.
    Other,
    /// More of what the step before it inserted (a section the model was asked to go on
    /// with): one step with it, so undo takes the whole back.
    Continued,
}

#[derive(Debug, Default)]
pub struct History {
    /// Each step with the id of the text it leaves: undoing back to a saved text gives back
    /// the saved text's id, so the modified mark can follow the text itself.
    undo: Vec<(Transaction, u64)>,
    redo: Vec<(Transaction, u64)>,
    last_id: u64,
    /// When the top of `undo` was last extended by typing; `None` closes the run.
    open_run: Option<Instant>,
}

impl History {
    pub fn record(&mut self, tx: Transaction, kind: EditKind, now: Instant) {
        self.redo.clear();
        if kind == EditKind::Typing
            && let Some(since) = self.open_run
            && now.duration_since(since) < RUN_PAUSE
            && let Some((top, id)) = self.undo.last_mut()
            && top.after == tx.before
        {
            top.changes.extend(tx.changes);
            top.after = tx.after;
            // Another text: another id.
            self.last_id += 1;
            *id = self.last_id;
            self.open_run = Some(now);
            return;
        }
        if kind == EditKind::Continued
            && let Some((top, id)) = self.undo.last_mut()
        {
            top.changes.extend(tx.changes);
            top.after = tx.after;
            self.last_id += 1;
            *id = self.last_id;
            self.open_run = None;
            return;
        }
        self.last_id += 1;
        self.undo.push((tx, self.last_id));
        self.open_run = (kind == EditKind::Typing).then_some(now);
    }

    /// Ends the current typing run, so the next keystroke starts a new undo step.
    pub fn close_run(&mut self) {
        self.open_run = None;
    }

    /// The transaction that undoes the last step (already moved to the redo stack).
    pub fn undo(&mut self) -> Option<Transaction> {
        self.open_run = None;
        let (tx, id) = self.undo.pop()?;
        let inverse = tx.invert();
        self.redo.push((tx, id));
        Some(inverse)
    }

    pub fn redo(&mut self) -> Option<Transaction> {
        self.open_run = None;
        let (tx, id) = self.redo.pop()?;
        self.undo.push((tx.clone(), id));
        Some(tx)
    }

    /// The id of the text as it stands: 0 for the text history started from.
    pub fn state(&self) -> u64 {
        self.undo.last().map_or(0, |(_, id)| *id)
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }
}
