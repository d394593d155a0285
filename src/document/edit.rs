//! Invertible edits. A `Change` replaces a range of characters; a `Transaction` is the changes
//! one command made, with the selection before and after, so undo restores both exactly.

use ropey::Rope;
use serde::{Deserialize, Serialize};

/// A cursor with an anchor: the selection is the chars between them (empty when equal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    pub anchor: usize,
    pub head: usize,
}

impl Selection {
    pub fn cursor(at: usize) -> Self {
        Selection {
            anchor: at,
            head: at,
        }
    }

    pub fn start(&self) -> usize {
        self.anchor.min(self.head)
    }

    pub fn end(&self) -> usize {
        self.anchor.max(self.head)
    }

    pub fn is_empty(&self) -> bool {
        self.anchor == self.head
    }
}

/// Replaces `removed` (which starts at char `start`) with `inserted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub start: usize,
    pub removed: String,
    pub inserted: String,
}

impl Change {
    pub fn apply(&self, rope: &mut Rope) {
        let removed_len = self.removed.chars().count();
        if removed_len > 0 {
            rope.remove(self.start..self.start + removed_len);
        }
        if !self.inserted.is_empty() {
            rope.insert(self.start, &self.inserted);
        }
    }

    pub fn invert(&self) -> Change {
        Change {
            start: self.start,
            removed: self.inserted.clone(),
            inserted: self.removed.clone(),
        }
    }

    /// The char index just past the inserted text.
    pub fn inserted_end(&self) -> usize {
        self.start + self.inserted.chars().count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub changes: Vec<Change>,
    pub before: Selection,
    pub after: Selection,
}

impl Transaction {
    pub fn apply(&self, rope: &mut Rope) {
        for change in &self.changes {
            change.apply(rope);
        }
    }

    pub fn invert(&self) -> Transaction {
        Transaction {
            changes: self.changes.iter().rev().map(Change::invert).collect(),
            before: self.after,
            after: self.before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_and_its_inverse_cancel_out() {
        let mut rope = Rope::from_str("你好, world");
        let original = rope.to_string();
        let tx = Transaction {
            changes: vec![
                Change {
                    start: 0,
                    removed: "你好".into(),
                    inserted: "Hello".into(),
                },
                Change {
                    start: 7,
                    removed: "world".into(),
                    inserted: "世界😀".into(),
                },
            ],
            before: Selection::cursor(0),
            after: Selection::cursor(10),
        };
        tx.apply(&mut rope);
        assert_eq!(rope.to_string(), "Hello, 世界😀");
        tx.invert().apply(&mut rope);
        assert_eq!(rope.to_string(), original);
    }
}
