//! Where a model began repeating itself. Small models fall into loops ("Thank you for your
//! support. Thank you for your support.", "谢谢！谢谢！") when nothing penalises a repeat, as in
//! a rewrite, which must be free to copy the passage's words: the repeat is cut off instead.

use super::overlap::same_key;

/// Marks that end a sentence or a clause: a loop repeats one or the other.
const BOUNDARIES: &[char] = &[
    '.', '!', '?', ',', ';', '\n', '。', '！', '？', '，', '；', '…',
];

/// The shortest stretch (letters and digits) whose second appearance counts as a loop: a
/// short phrase ("for example,", "然后，") may fairly come twice.
const MIN_KEY_CHARS: usize = 8;

/// The byte offset where the first sentence or clause that repeats an earlier one starts (a
/// repeat of at least `MIN_KEY_CHARS` letters, or the third of a shorter one); None when
/// nothing repeats. Only finished stretches count: the last one, still open, may yet differ.
pub fn repeat_start(text: &str) -> Option<usize> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if !BOUNDARIES.contains(&c) {
            continue;
        }
        let end = at + c.len_utf8();
        let key = same_key(&text[start..end]);
        let segment_start = start + (text[start..end].len() - text[start..end].trim_start().len());
        start = end;
        if key.is_empty() {
            continue;
        }
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, count)) => {
                *count += 1;
                if key.chars().count() >= MIN_KEY_CHARS || *count >= 3 {
                    return Some(segment_start);
                }
            }
            None => seen.push((key, 1)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_sentence_is_where_the_loop_starts() {
        let text = "Thank you all. Thank you for your support. Thank you for your support. Than";
        assert_eq!(
            &text[..repeat_start(text).unwrap()],
            "Thank you all. Thank you for your support. "
        );
    }

    #[test]
    fn a_repeated_chinese_clause_is_a_loop_and_a_short_one_only_the_third_time() {
        let text = "从美国人的看到地上，可以看到，从美国人的看到地上，从美";
        assert_eq!(
            &text[..repeat_start(text).unwrap()],
            "从美国人的看到地上，可以看到，"
        );
        let thanks = "谢谢！好的。谢谢！谢谢！谢谢！";
        assert_eq!(
            &thanks[..repeat_start(thanks).unwrap()],
            "谢谢！好的。谢谢！"
        );
    }

    #[test]
    fn text_that_does_not_repeat_itself_is_whole() {
        assert_eq!(
            repeat_start("Yes, yes. We went home, and then, we slept."),
            None
        );
        assert_eq!(
            repeat_start("It rained. It rained"),
            None,
            "the last is open"
        );
    }
}
