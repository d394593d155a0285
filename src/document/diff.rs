//! A diff a person can read: the old text against the new, aligned on words (each character
//! of Chinese or Japanese on its own), with each changed stretch given as one run deleted and
//! then one run inserted, rather than every deleted word paired with an inserted one. Also
//! how much of the old text a rewrite changed (its drift).

use similar::{Algorithm, DiffOp, capture_diff_slices};
use unicode_segmentation::UnicodeSegmentation;

use super::grapheme::count_words;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Same(String),
    Deleted(String),
    Inserted(String),
}

/// Words, spaces and punctuation as separate tokens; UAX #29 already makes each ideograph a
/// token of its own.
fn tokens(text: &str) -> Vec<&str> {
    text.split_word_bounds().collect()
}

/// The pieces that turn `old` into `new`. Unchanged spaces between two changes belong to the
/// change, so "is often only" -> "can be as little" is one run each way.
pub fn diff(old: &str, new: &str) -> Vec<Piece> {
    let a = tokens(old);
    let b = tokens(new);
    let ops = capture_diff_slices(Algorithm::Patience, &a, &b);
    // Each op as (old range, new range, equal?).
    let mut spans: Vec<(std::ops::Range<usize>, std::ops::Range<usize>, bool)> = ops
        .iter()
        .map(|op| match *op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => (old_index..old_index + len, new_index..new_index + len, true),
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (old_index..old_index + old_len, new_index..new_index, false),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index..old_index, new_index..new_index + new_len, false),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (
                old_index..old_index + old_len,
                new_index..new_index + new_len,
                false,
            ),
        })
        .collect();
    // An unchanged stretch of spaces or punctuation alone, between changes, joins them.
    for i in 1..spans.len().saturating_sub(1) {
        let (old_range, _, equal) = &spans[i];
        if *equal
            && !spans[i - 1].2
            && !spans[i + 1].2
            && a[old_range.clone()]
                .iter()
                .all(|t| !t.chars().any(char::is_alphanumeric))
        {
            spans[i].2 = false;
        }
    }
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        if spans[i].2 {
            let (old_range, _, _) = &spans[i];
            pieces.push(Piece::Same(a[old_range.clone()].concat()));
            i += 1;
            continue;
        }
        let (mut deleted, mut inserted) = (String::new(), String::new());
        while i < spans.len() && !spans[i].2 {
            deleted.push_str(&a[spans[i].0.clone()].concat());
            inserted.push_str(&b[spans[i].1.clone()].concat());
            i += 1;
        }
        // Spaces both sides share at the ends stay outside the markers.
        let (lead, deleted, inserted) = split_common_ends(&deleted, &inserted);
        if !lead.0.is_empty() {
            pieces.push(Piece::Same(lead.0));
        }
        if !deleted.is_empty() {
            pieces.push(Piece::Deleted(deleted));
        }
        if !inserted.is_empty() {
            pieces.push(Piece::Inserted(inserted));
        }
        if !lead.1.is_empty() {
            pieces.push(Piece::Same(lead.1));
        }
    }
    pieces
}

/// Whitespace at the start and end that both runs share: (shared start, shared end), and the
/// runs without it.
fn split_common_ends(deleted: &str, inserted: &str) -> ((String, String), String, String) {
    let lead_len = |s: &str| s.len() - s.trim_start().len();
    let trail_len = |s: &str| s.len() - s.trim_end().len();
    let (d, i) = (deleted, inserted);
    let lead = if d.is_empty() || i.is_empty() {
        0
    } else {
        lead_len(d).min(lead_len(i))
    };
    let lead = if d[..lead] == i[..lead] { lead } else { 0 };
    let (d, i) = (&d[lead..], &i[lead..]);
    let trail = if d.is_empty() || i.is_empty() {
        0
    } else {
        trail_len(d).min(trail_len(i))
    };
    let trail = if d[d.len() - trail..] == i[i.len() - trail..] {
        trail
    } else {
        0
    };
    (
        (
            deleted[..lead].to_string(),
            d[d.len() - trail..].to_string(),
        ),
        d[..d.len() - trail].to_string(),
        i[..i.len() - trail].to_string(),
    )
}

/// `new` taken as edits to `old`, keeping only the small ones: a changed stretch of at most
/// `max_words` words each way, with at least two unchanged words on each side (or the text's
/// start or end), is taken; a larger one, or one whose neighbours are not anchored, keeps
/// `old`'s words. The context rule keeps out the little "changes" a diff finds between
/// stray common words of two texts that are not one another's edit. Returns the merged text,
/// the stretches taken and those left as they were.
pub fn keep_small_edits(old: &str, new: &str, max_words: usize) -> (String, usize, usize) {
    let pieces = diff(old, new);
    // The unchanged run next to a change (spaces may be pieces of their own) holds two
    // words, or reaches the text's edge.
    let anchored = |run: &mut dyn Iterator<Item = &Piece>| {
        let mut words = 0;
        for piece in run {
            match piece {
                Piece::Same(t) => words += count_words(t),
                _ => return words >= 2,
            }
        }
        true
    };
    let (mut text, mut taken, mut left) = (String::new(), 0, 0);
    let mut i = 0;
    while i < pieces.len() {
        if let Piece::Same(t) = &pieces[i] {
            text.push_str(t);
            i += 1;
            continue;
        }
        let start = i;
        let (mut deleted, mut inserted) = (String::new(), String::new());
        while let Some(piece) = pieces.get(i) {
            match piece {
                Piece::Deleted(t) => deleted.push_str(t),
                Piece::Inserted(t) => inserted.push_str(t),
                Piece::Same(_) => break,
            }
            i += 1;
        }
        let small = count_words(&deleted) <= max_words && count_words(&inserted) <= max_words;
        if small && anchored(&mut pieces[..start].iter().rev()) && anchored(&mut pieces[i..].iter())
        {
            text.push_str(&inserted);
            taken += 1;
        } else {
            text.push_str(&deleted);
            left += 1;
        }
    }
    (text, taken, left)
}

/// The diff as plain text, readable without colour: `[-old-]{+new+}`.
pub fn marked(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Same(t) => t.clone(),
            Piece::Deleted(t) => format!("[-{t}-]"),
            Piece::Inserted(t) => format!("{{+{t}+}}"),
        })
        .collect()
}

/// The share of `old`'s words that a rewrite deleted or replaced (0.0 to 1.0).
pub fn drift(pieces: &[Piece]) -> f64 {
    let (mut old_words, mut changed) = (0, 0);
    for piece in pieces {
        match piece {
            Piece::Same(t) => old_words += count_words(t),
            Piece::Deleted(t) => {
                let n = count_words(t);
                old_words += n;
                changed += n;
            }
            Piece::Inserted(_) => {}
        }
    }
    if old_words == 0 {
        return if pieces.iter().any(|p| matches!(p, Piece::Inserted(_))) {
            1.0
        } else {
            0.0
        };
    }
    changed as f64 / old_words as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_edits_are_kept_and_rewritten_stretches_left_as_they_were() {
        let old = "Hi Sarah, the figures looks correct to me. Let me know if you need any help.";
        // One fix, one sentence rewritten, and a ramble added at the end.
        let new = "Hi Sarah, the figures look correct to me. I am here to assist you with any \
                   questions you may have today. I'm sorry for any inconvenience.";
        let (text, taken, left) = keep_small_edits(old, new, 3);
        assert_eq!(
            text,
            "Hi Sarah, the figures look correct to me. Let me know if you need any help."
        );
        // The diff matches stray "you" and "any" inside the rewrite: three stretches left.
        assert_eq!((taken, left), (1, 3));
    }

    #[test]
    fn small_edits_in_chinese_are_single_characters() {
        let old = "舱内的绿萝竞然开出了一朵小花。我以经读完了两本小说。";
        let new = "舱内的绿萝竟然开出了一朵小花。我已经读完了两本小说。";
        assert_eq!(keep_small_edits(old, new, 3), (new.to_string(), 2, 0));
    }

    #[test]
    fn a_change_between_stray_common_words_is_not_an_edit() {
        // Nothing anchors "big dog" -> "red car": a single shared word either side.
        let old = "One big dog the sat there.";
        let new = "Two red car the ran away.";
        let (text, taken, _) = keep_small_edits(old, new, 3);
        assert_eq!(text, old);
        assert_eq!(taken, 0);
    }

    #[test]
    fn a_changed_stretch_is_one_run_deleted_then_one_inserted() {
        // Recorded: the old diff read "~~is~~can be ~~often~~as ~~only~~little".
        let pieces = diff(
            "Writing is often only a habit.",
            "Writing can be as little as a habit.",
        );
        assert_eq!(
            marked(&pieces),
            "Writing [-is often only-]{+can be as little as+} a habit."
        );
    }

    #[test]
    fn chinese_is_compared_character_by_character() {
        let pieces = diff("大模型改变了产品。", "大模型重塑了产品。");
        assert_eq!(marked(&pieces), "大模型[-改变-]{+重塑+}了产品。");
    }

    #[test]
    fn drift_is_the_share_of_words_changed() {
        let same = diff("One two three four.", "One two three four.");
        assert_eq!(drift(&same), 0.0);
        let one = diff("One two three four.", "One two three five.");
        assert!((drift(&one) - 0.25).abs() < 1e-9, "{}", drift(&one));
        let all = diff("The cat sat.", "A dog ran away.");
        assert!(drift(&all) > 0.9);
        // A pure addition changes none of the old words but still counts where there were
        // none.
        assert_eq!(drift(&diff("", "New text")), 1.0);
    }

    #[test]
    fn line_breaks_survive_in_the_pieces() {
        let pieces = diff("One.\nTwo.", "One.\nThree.");
        assert_eq!(marked(&pieces), "One.\n[-Two-]{+Three+}.");
    }
}
