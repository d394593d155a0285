//! The suggestions pane: the streamed answer (for a rewrite, a word-level diff against the
//! original), which variant is on show, and the keys that act on it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use super::theme::Theme;
use crate::command::Command;
use crate::document::diff::{self, Piece};
use crate::keymap::{Keymaps, Mode};
use crate::suggestion::{Suggestion, Target, VariantState};

pub struct SuggestionsPane<'a> {
    pub suggestion: &'a Suggestion,
    pub theme: &'a Theme,
    pub focused: bool,
    /// Where the keys shown in the footer come from.
    pub keymap: &'a Keymaps,
}

impl Widget for SuggestionsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.suggestion;
        let theme = self.theme;
        // A long text summarised part by part: which part, and its summary as it streams.
        let parts = s.parts.as_ref().filter(|p| p.in_progress());
        let mode = if self.focused {
            Mode::Suggestions
        } else {
            Mode::Edit
        };
        let border = if self.focused {
            theme.border_focused
        } else {
            theme.border
        };
        let text = match parts {
            Some(p) => p.text.as_str(),
            None => s.current().map_or("", |v| v.text.as_str()),
        };
        let pieces = match &s.target {
            // A section written in place of its outline note is new text, not an edit of it.
            Target::Replace { .. } if s.finishing.article.is_some() => None,
            Target::Replace { original, .. } => Some(diff::diff(original.trim(), text.trim())),
            Target::Insert { .. } => None,
        };
        let title = self.title(border, text, pieces.as_deref());
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(Line::from(title))
            .title_bottom(Span::styled(footer(self.keymap, mode), theme.muted));
        let lines = self.body(text, pieces.as_deref());
        let lines = super::wrap::wrap_lines(lines, usize::from(area.width.saturating_sub(2)));
        Paragraph::new(lines)
            .block(block)
            .style(theme.text)
            .scroll((s.scroll.min(u16::MAX as usize) as u16, 0))
            .render(area, buf);
    }
}

impl SuggestionsPane<'_> {
    /// What the variant on show is doing: streaming, reading its prompt, done, failed.
    fn state(&self) -> String {
        let s = self.suggestion;
        let parts = s.parts.as_ref().filter(|p| p.in_progress());
        let reading = s.reading.map(|r| format!(" · {r}")).unwrap_or_default();
        match s.current().map(|v| &v.state) {
            _ if parts.is_some() => {
                let p = parts.map_or((0, 0), |p| (p.current(), p.total));
                format!("summarising part {} of {}{reading}…", p.0, p.1)
            }
            Some(VariantState::Streaming) if s.reading.is_some() => {
                format!("{}…", reading.trim_start_matches(" · "))
            }
            Some(VariantState::Streaming) => "streaming…".to_string(),
            Some(VariantState::Done(stats)) => format!("{} tokens", stats.generated_tokens),
            // The reason is in the pane's body, where it has the room to be read whole.
            Some(VariantState::Failed(_)) => "failed".to_string(),
            None => "waiting for the model…".to_string(),
        }
    }

    /// The pane's title: the characters against a limit, the variant, its state, a rewrite's
    /// drift, and what was dropped.
    fn title(
        &self,
        border: ratatui::style::Style,
        text: &str,
        pieces: Option<&[Piece]>,
    ) -> Vec<Span<'static>> {
        let (s, theme) = (self.suggestion, self.theme);
        let count = s.variants.len().max(1);
        let mut title = vec![Span::styled(" ", border)];
        if let Some(max) = s.finishing.max_chars {
            // Live, as it streams, and first: a narrow pane cuts the title's end, never this.
            let chars = s.current().map_or(0, |v| v.text.trim().chars().count());
            let style = if chars > max {
                theme.status_error
            } else {
                border
            };
            title.push(Span::styled(format!("{chars}/{max} chars"), style));
            title.push(Span::styled(" · ", border));
        }
        title.push(Span::styled(
            format!(
                "{} · {}/{} · ",
                s.title,
                (s.current + 1).min(count),
                s.wanted.max(count)
            ),
            border,
        ));
        title.push(Span::styled(format!("{} ", self.state()), border));
        if let Some(pieces) = pieces.filter(|_| !text.trim().is_empty()) {
            // How far the rewrite strays from its passage, and a warning past what the prompt
            // allows (a grammar fix should change few words).
            let drift = diff::drift(pieces);
            let over = s.finishing.max_drift.is_some_and(|max| drift > max);
            let (label, style) = if over {
                (
                    format!(
                        "· drift {:.0}%: more than a fix should change ",
                        drift * 100.0
                    ),
                    theme.status_error,
                )
            } else {
                (format!("· drift {:.0}% ", drift * 100.0), theme.muted)
            };
            title.push(Span::styled(label, style));
        }
        if s.dropped > 0 {
            title.push(Span::styled(
                format!("· {} dropped: {} ", s.dropped, s.refusal_summary()),
                theme.muted,
            ));
        }
        title
    }

    /// The pane's body: the answer (a rewrite as a diff), its notes, or why there is none.
    fn body(&self, text: &str, pieces: Option<&[Piece]>) -> Vec<Line<'static>> {
        let (s, theme) = (self.suggestion, self.theme);
        let parts = s.parts.as_ref().filter(|p| p.in_progress());
        let mut lines = match pieces {
            _ if s.list && parts.is_none() && s.variants.len() > 1 => list_lines(s, theme),
            Some(pieces) => diff_lines(pieces, theme),
            None => text
                .split('\n')
                .map(|l| Line::styled(l.to_string(), theme.text))
                .collect(),
        };
        if let Some(variant) = s.current() {
            if variant.cut
                && let Some(last) = lines.last_mut()
            {
                // Cut to fit: marked here, never in the draft.
                last.spans.push(Span::styled("… (cut)", theme.muted));
            }
            if !variant.notes.is_empty() {
                lines.push(Line::default());
                for note in &variant.notes {
                    lines.push(Line::styled(
                        format!("· {}", crate::sanitize::strip_controls(note)),
                        theme.muted,
                    ));
                }
            }
        }
        let gave_up = !s.is_streaming() && !s.wants_more();
        if s.variants.is_empty() && s.dropped > 0 && gave_up && parts.is_none() {
            // Every try refused: said in the pane itself, never an empty box.
            lines = vec![Line::styled(
                format!(
                    "No usable answer: the model's {} answers were all refused ({}). Try \
                     again, select less text, or pick another model.",
                    s.dropped,
                    s.refusal_summary()
                ),
                theme.status_error,
            )];
        }
        if let Some(VariantState::Failed(reason)) = s.current().map(|v| &v.state) {
            if text.is_empty() {
                lines.clear();
            } else {
                lines.push(Line::default());
            }
            lines.push(Line::styled(
                crate::sanitize::strip_controls(reason).into_owned(),
                theme.status_error,
            ));
        }
        lines
    }
}

/// The keys that act on a suggestion in `mode` (the draft, or the pane when it has the
/// keyboard), as the keymap in force binds them: a remapped key shows its new binding, and a
/// key this terminal cannot deliver is not offered.
fn footer(keymap: &Keymaps, mode: Mode) -> String {
    let key = |command| keymap.hint(mode, command);
    let variants = match (key(Command::previous_variant), key(Command::next_variant)) {
        (Some(p), Some(n)) => Some(format!("{p} {n} variants")),
        (p, n) => p.or(n).map(|k| format!("{k} variants")),
    };
    let part: Vec<String> = [
        Command::accept_word,
        Command::accept_sentence,
        Command::accept_line,
    ]
    .into_iter()
    .filter_map(key)
    .collect();
    // The pane's own keys when it has the keyboard; the draft's footer stays short enough to
    // read in a narrow pane.
    let in_pane = mode == Mode::Suggestions;
    let part = (in_pane && !part.is_empty()).then(|| format!("{} part", part.join(" ")));
    let parts: Vec<String> = [
        key(Command::accept_suggestion).map(|k| format!("{k} accept")),
        part,
        key(Command::cancel).map(|k| format!("{k} reject")),
        key(Command::regenerate).map(|k| format!("{k} again")),
        variants,
        key(Command::toggle_variant_list)
            .filter(|_| in_pane)
            .map(|k| format!("{k} list")),
        key(Command::focus_next_pane).map(|k| format!("{k} focus")),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!(" {} ", parts.join(" · "))
}

/// Every variant, numbered, the one on show marked: short copy is picked side by side.
fn list_lines(s: &Suggestion, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (i, variant) in s.variants.iter().enumerate() {
        let on_show = i == s.current;
        let (mark, style) = if on_show {
            ("▸", theme.text.patch(theme.selection))
        } else {
            (" ", theme.text)
        };
        let cut = if variant.cut { " …" } else { "" };
        for (j, line) in variant.text.trim().split('\n').enumerate() {
            let head = if j == 0 {
                format!("{mark}{}. ", i + 1)
            } else {
                "    ".to_string()
            };
            lines.push(Line::from(vec![
                Span::styled(head, theme.muted),
                Span::styled(line.to_string(), style),
            ]));
        }
        if !cut.is_empty()
            && let Some(last) = lines.last_mut()
        {
            last.spans.push(Span::styled(cut, theme.muted));
        }
    }
    lines
}

/// The original against the suggestion (see `document::diff`): deletions struck through,
/// insertions highlighted, line breaks kept. A theme without colours for them (mono,
/// `NO_COLOR`) also marks them in the text, `[-old-]{+new+}`, so the diff reads without colour.
fn diff_lines(pieces: &[Piece], theme: &Theme) -> Vec<Line<'static>> {
    let marks = theme.diff_delete.fg.is_none() && theme.diff_delete.bg.is_none();
    let mut lines = vec![Line::default()];
    for piece in pieces {
        let (text, style, open, close) = match piece {
            Piece::Same(t) => (t, theme.text, "", ""),
            Piece::Deleted(t) => (t, theme.diff_delete, "[-", "-]"),
            Piece::Inserted(t) => (t, theme.diff_insert, "{+", "+}"),
        };
        let (open, close) = if marks { (open, close) } else { ("", "") };
        let text = format!("{open}{text}{close}");
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                lines.push(Line::default());
            }
            if !part.is_empty()
                && let Some(line) = lines.last_mut()
            {
                line.spans.push(Span::styled(part.to_string(), style));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_shows_keys_the_terminal_delivers_and_follows_remaps() {
        let (keymap, _) = Keymaps::new(&[]);
        let text = footer(&keymap, Mode::Edit);
        assert_eq!(
            text,
            " A-Enter accept · Esc reject · C-g again · A-, A-. variants · F6 focus "
        );
        let (remapped, _) = Keymaps::new(&[
            (Mode::Edit, "C-g".into(), "none".into()),
            (Mode::Edit, "A-r".into(), "regenerate".into()),
            (Mode::Edit, "Esc".into(), "none".into()),
            (Mode::Edit, "C-d".into(), "cancel".into()),
            (Mode::Edit, "A-Enter".into(), "none".into()),
            (Mode::Edit, "C-j".into(), "accept_suggestion".into()),
        ]);
        let text = footer(&remapped, Mode::Edit);
        assert!(text.contains("A-r again"), "{text}");
        assert!(text.contains("C-d reject"), "{text}");
        assert!(text.contains("C-j accept"), "{text}");
        assert!(!text.contains("Esc") && !text.contains("A-Enter"), "{text}");
        let mut kitty = keymap.clone();
        kitty.set_kitty_protocol(true);
        // With the kitty protocol both pairs work; the shorter names still lead.
        assert!(footer(&kitty, Mode::Edit).contains("A-, A-. variants"));
        // With the keyboard, the pane's own keys.
        assert_eq!(
            footer(&keymap, Mode::Suggestions),
            " Enter accept · w s l part · Esc reject · r again · Left Right variants · v list · F6 focus "
        );
    }

    #[test]
    fn a_rewrite_diff_groups_runs_and_reads_without_colour() {
        let pieces = diff::diff("This are bad.", "This is good.");
        let spans = |theme: &Theme| -> Vec<(String, bool, bool)> {
            diff_lines(&pieces, theme)[0]
                .spans
                .iter()
                .map(|s| {
                    (
                        s.content.to_string(),
                        s.style == theme.diff_delete,
                        s.style == theme.diff_insert,
                    )
                })
                .collect()
        };
        // Without colours the markers carry the diff.
        let mono = spans(&Theme::monochrome());
        assert_eq!(
            mono,
            vec![
                ("This ".into(), false, false),
                ("[-are bad-]".into(), true, false),
                ("{+is good+}".into(), false, true),
                (".".into(), false, false),
            ]
        );
        // With colours, the styles alone.
        let colour = crate::ui::theme::ThemeLibrary::load(None).get_colored("default", true);
        let coloured = spans(&colour);
        assert!(
            coloured.contains(&("are bad".into(), true, false)),
            "{coloured:?}"
        );
    }

    /// The pane's text, rendered `width` cells wide.
    fn render_text(s: &Suggestion, width: u16) -> String {
        let (keymap, _) = Keymaps::new(&[]);
        let theme = Theme::monochrome();
        let area = Rect::new(0, 0, width, 12);
        let mut buf = Buffer::empty(area);
        SuggestionsPane {
            suggestion: s,
            theme: &theme,
            focused: false,
            keymap: &keymap,
        }
        .render(area, &mut buf);
        (0..area.height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn rewrite(original: &str, answer: &str, max_drift: Option<f64>) -> Suggestion {
        use crate::engine::protocol::{GenerationStats, Prompt, SamplingParams, StopReason};
        let mut s = Suggestion::new(
            "Rewrite: fix grammar".into(),
            Prompt::Completion { parts: vec![] },
            SamplingParams::default(),
            Target::Replace {
                start: 0,
                end: original.chars().count(),
                original: original.into(),
            },
            1,
        );
        s.finishing.max_drift = max_drift;
        s.start_variant(1);
        s.push_text(1, answer);
        s.finish(
            1,
            VariantState::Done(GenerationStats {
                threads: 1,
                estimated: false,
                with_flash: false,
                drafted: 0,
                accepted: 0,
                decodes: 0,
                prompt_tokens: 1,
                reused_tokens: 0,
                dropped_tokens: 0,
                generated_tokens: 5,
                ttft_ms: 1.0,
                prompt_tokens_per_s: 1.0,
                tokens_per_s: 1.0,
                stop_reason: StopReason::EndOfText,
            }),
        );
        s
    }

    #[test]
    fn the_title_gives_the_drift_and_warns_when_a_fix_changes_too_much() {
        // Recorded: "fix grammar" replaced almost every word, without a word of warning.
        let fixed = rewrite(
            "This are a good sentence to fix.",
            "This is a good sentence to fix.",
            Some(0.3),
        );
        let text = render_text(&fixed, 90);
        assert!(text.contains("drift 14%"), "{text}");
        assert!(!text.contains("more than a fix"), "{text}");
        let rewritten = rewrite(
            "This are good.",
            "Such writing was deemed excellent.",
            Some(0.3),
        );
        let text = render_text(&rewritten, 120);
        assert!(
            text.contains("drift 100%: more than a fix should change"),
            "{text}"
        );
        // Cut copy is marked in the pane, never in its text.
        let mut copy = rewritten.clone();
        copy.variants[0].cut = true;
        assert!(render_text(&copy, 120).contains("… (cut)"));
        assert!(!copy.variants[0].text.contains('…'));
    }
}
