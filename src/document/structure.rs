//! An article as the draft holds it: a `# ` title line, then `## ` sections, each a heading, an
//! optional one-line note (in italics, as `outline` writes it) and a body. Read from the text
//! alone, so the writer's own headings count as much as an outline's.

use std::ops::Range;

/// One `## ` section of the draft. Ranges are char offsets into the text that was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: String,
    /// The heading's line, its line break included.
    pub heading_line: Range<usize>,
    /// What the outline said the section covers (its italic line under the heading).
    pub note: Option<String>,
    /// The note's line, its line break included; empty at the body's start when there is none.
    pub note_line: Range<usize>,
    /// From after the heading's line to the next heading (or the end).
    pub body: Range<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Structure {
    /// The `# ` line's text.
    pub title: Option<String>,
    pub sections: Vec<Section>,
}

impl Section {
    /// The section's own writing: its body without the note, trimmed.
    pub fn written(&self, text_chars: &[char]) -> String {
        let before: String = text_chars[self.body.start..self.note_line.start]
            .iter()
            .collect();
        let after: String = text_chars[self.note_line.end..self.body.end]
            .iter()
            .collect();
        format!("{before}{after}").trim().to_string()
    }

    /// Nothing written under the heading but, perhaps, the outline's note.
    pub fn is_empty(&self, text_chars: &[char]) -> bool {
        self.written(text_chars).is_empty()
    }
}

/// The title and sections of `text`, reading from char `from` (past any front matter). Lines
/// inside fenced code blocks are never headings.
pub fn parse(text: &str, from: usize) -> Structure {
    let mut structure = Structure::default();
    let mut in_fence = false;
    let mut at = 0; // char offset of the current line
    let mut open: Option<Section> = None;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        let start = at;
        at += len;
        if start < from {
            continue;
        }
        let content = line.trim_end_matches(['\n', '\r']);
        if content.trim_start().starts_with("```") || content.trim_start().starts_with("~~~") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        if let Some(title) = heading_text(content, 1) {
            if structure.title.is_none() && open.is_none() {
                structure.title = Some(title);
            }
            continue;
        }
        if let Some(heading) = heading_text(content, 2) {
            if let Some(mut done) = open.take() {
                done.body.end = start;
                structure.sections.push(done);
            }
            open = Some(Section {
                heading,
                heading_line: start..at,
                note: None,
                note_line: at..at,
                body: at..at,
            });
            continue;
        }
        if let Some(section) = open.as_mut()
            && section.note.is_none()
            && section.note_line.start == start
        {
            if content.trim().is_empty() && section.note_line.start == section.body.start {
                // Blank lines between the heading and its note.
                section.note_line = at..at;
            } else if let Some(note) = note_text(content) {
                section.note = Some(note);
                section.note_line = start..at;
            }
        }
    }
    if let Some(mut done) = open.take() {
        done.body.end = at;
        structure.sections.push(done);
    }
    // A blank line before a note that turned out not to be one is body, not gap.
    for section in &mut structure.sections {
        if section.note.is_none() {
            section.note_line = section.body.start..section.body.start;
        }
    }
    structure
}

/// The text of an ATX heading of exactly `level` (`## Why it matters` -> "Why it matters").
fn heading_text(line: &str, level: usize) -> Option<String> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None; // indented code
    }
    let hashes = trimmed.chars().take_while(|&c| c == '#').count();
    if hashes != level {
        return None;
    }
    let rest = &trimmed[hashes..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end();
    (!text.is_empty()).then(|| text.to_string())
}

/// An outline's note: a whole line in italics (`*...*` or `_..._`), not bold.
fn note_text(line: &str) -> Option<String> {
    let t = line.trim();
    for mark in ['*', '_'] {
        if let Some(inner) = t
            .strip_prefix(mark)
            .and_then(|r| r.strip_suffix(mark))
            .filter(|i| !i.starts_with(mark) && !i.trim().is_empty())
        {
            return Some(inner.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn title_sections_notes_and_bodies_are_found() {
        let text = "# Tea\n\n## Why tea\n*What it gives you.*\n\nIt calms.\n\n## 如何泡茶\n_水温与时间。_\n";
        let s = parse(text, 0);
        assert_eq!(s.title.as_deref(), Some("Tea"));
        assert_eq!(s.sections.len(), 2);
        let c = chars(text);
        assert_eq!(s.sections[0].heading, "Why tea");
        assert_eq!(s.sections[0].note.as_deref(), Some("What it gives you."));
        assert_eq!(s.sections[0].written(&c), "It calms.");
        assert!(!s.sections[0].is_empty(&c));
        assert_eq!(s.sections[1].heading, "如何泡茶");
        assert_eq!(s.sections[1].note.as_deref(), Some("水温与时间。"));
        assert!(s.sections[1].is_empty(&c));
        let heading: String = c[s.sections[1].heading_line.clone()].iter().collect();
        assert_eq!(heading, "## 如何泡茶\n");
    }

    #[test]
    fn a_section_without_a_note_keeps_its_first_line_as_body() {
        let text = "## One\nPlain first line.\n## Two\n\n**Bold is not a note**\n";
        let s = parse(text, 0);
        let c = chars(text);
        assert_eq!(s.sections[0].note, None);
        assert_eq!(s.sections[0].written(&c), "Plain first line.");
        assert_eq!(s.sections[1].note, None);
        assert_eq!(s.sections[1].written(&c), "**Bold is not a note**");
    }

    #[test]
    fn headings_in_code_blocks_front_matter_and_h3_do_not_count() {
        let text = "---\ntitle: x\n---\n# T\n## A\n```\n## not a heading\n```\n### Sub\ntext\n";
        let from = "---\ntitle: x\n---\n".chars().count();
        let s = parse(text, from);
        assert_eq!(s.title.as_deref(), Some("T"));
        assert_eq!(s.sections.len(), 1);
        assert!(s.sections[0].written(&chars(text)).contains("### Sub"));
    }

    #[test]
    fn heading_text_follows_commonmark() {
        assert_eq!(heading_text("## A b ##", 2).as_deref(), Some("A b"));
        assert_eq!(heading_text("##A", 2), None);
        assert_eq!(heading_text("    ## A", 2), None);
        assert_eq!(heading_text("### A", 2), None);
        assert_eq!(heading_text("##", 2), None);
    }
}
