//! An outline: the model's answer read as `## ` headings with a note under each, and the
//! Markdown the draft gets.

use std::collections::HashSet;

use crate::document::join::is_unspaced;

/// One section of an outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub heading: String,
    pub note: String,
}

/// The headings and notes in `answer`, in order. A heading the outline already has, or one
/// that is only punctuation, is dropped (with its note).
pub fn read(answer: &str) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut seen = HashSet::new();
    let mut current: Option<Item> = None;
    for line in answer.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("##") {
            let heading = shortened(&clean(rest.trim_start_matches('#')));
            if let Some(done) = current.take() {
                items.push(done);
            }
            if heading.chars().any(char::is_alphanumeric) && seen.insert(heading.to_lowercase()) {
                current = Some(Item {
                    heading,
                    note: String::new(),
                });
            }
        } else if let Some(item) = current.as_mut().filter(|i| i.note.is_empty()) {
            item.note = clean(line);
        }
    }
    items.extend(current);
    items
}

/// `read`, without a heading that only repeats the article's title (a small model often
/// opens its outline with it).
pub fn read_for(answer: &str, title: &str) -> Vec<Item> {
    let title = super::overlap::same_key(title);
    read(answer)
        .into_iter()
        .filter(|i| super::overlap::same_key(&i.heading) != title)
        .collect()
}

/// A heading or note as the draft shows it: no list marks or numbers, emphasis, quotes or
/// trailing colon.
fn clean(text: &str) -> String {
    let t = text.trim().trim_start_matches(['-', '*', '_', '>', ' ']);
    let t = strip_number(t);
    let t = t.trim_end_matches(['*', '_', ' ']);
    let t = t.trim_end_matches([':', '：']);
    t.trim_matches(['"', '“', '”', '「', '」'])
        .trim()
        .to_string()
}

/// A heading that runs on into a sentence ("呆滞的三个手机，小伙让我…") cut at its first
/// clause mark, where what comes before it can stand as a heading.
fn shortened(heading: &str) -> String {
    const LONGEST: usize = 16;
    if heading.chars().filter(|c| is_unspaced(*c)).count() <= LONGEST {
        return heading.to_string();
    }
    match heading.find(['，', '。', '；', '：', '！', '？']) {
        Some(at) if heading[..at].chars().count() >= 2 => heading[..at].to_string(),
        _ => heading.chars().take(LONGEST).collect(),
    }
}

/// The fewest sections an outline asked for `wanted` may have: a small model often stops a
/// section or two short, which the article takes (its sections are then longer).
pub fn fewest(wanted: usize) -> usize {
    wanted.div_ceil(2).max(2).min(wanted)
}

/// `text` without a leading "1." / "2)" / "第一，" style number.
pub fn strip_number(text: &str) -> &str {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return text;
    }
    let rest = &text[digits..];
    match rest.strip_prefix(['.', ')', '、', '．']) {
        Some(rest) => rest.trim_start(),
        None => text,
    }
}

/// The outline as the draft holds it: a heading line and an italic note line per section,
/// blank lines between them.
pub fn markdown(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("## {}\n", item.heading));
        if !item.note.is_empty() {
            // Its own paragraph: the section's body takes its place as one.
            out.push_str(&format!("\n*{}*\n", item.note));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_and_notes_are_read_in_order() {
        let answer = "Here is an outline:\n## 1. Why: \nThe reasons.\n\n## **How**\n- The steps.\n## How\nagain\n## 背景\n说明背景。\n";
        let items = read(answer);
        let headings: Vec<&str> = items.iter().map(|i| i.heading.as_str()).collect();
        assert_eq!(headings, ["Why", "How", "背景"]);
        assert_eq!(strip_number("12) Twelve"), "Twelve");
        assert_eq!(read_for("## Tea!\nx.\n## Kinds\ny.", "tea").len(), 1);
        assert_eq!(
            read("## 呆滞的三个手机和配送给家里，小伙让我厌持从心理着急。\n说明。")[0].heading,
            "呆滞的三个手机和配送给家里"
        );
        assert_eq!(strip_number("2024 was"), "2024 was");
        assert_eq!(items[0].note, "The reasons.");
        assert_eq!(items[1].note, "The steps.");
        assert_eq!(items[2].note, "说明背景。");
    }

    #[test]
    fn markdown_reads_back_the_same() {
        let items = vec![
            Item {
                heading: "Start".into(),
                note: "Where it begins.".into(),
            },
            Item {
                heading: "结尾".into(),
                note: String::new(),
            },
        ];
        let md = markdown(&items);
        assert_eq!(md, "## Start\n\n*Where it begins.*\n\n## 结尾\n");
        let s = crate::document::structure::parse(&md, 0);
        assert_eq!(s.sections.len(), 2);
        assert_eq!(s.sections[0].note.as_deref(), Some("Where it begins."));
    }
}
