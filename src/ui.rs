//! Rendering: `render(&App, &Theme, &mut Frame)`. Layout only; each part draws from `&App`.

pub mod form;
pub mod markdown;
pub mod suggestions;
pub mod theme;
pub mod wrap;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::overlay::settings::FIELDS;
use crate::app::overlay::{
    Confirm, Field, Overlay, OverlayCx, Palette, Purpose, SettingsPane, Then,
};
use crate::app::{App, view};
use crate::command::Command;
use crate::document::layout;
use crate::engine::protocol::FlashAttention;
use crate::keymap::Mode;
use crate::sanitize::strip_controls;
use markdown::Span;
use theme::Theme;

fn rect((x, y, width, height): (u16, u16, u16, u16)) -> Rect {
    Rect {
        x,
        y,
        width,
        height,
    }
}

pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    let [_, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let panes = app.panes();
    let draft = rect(panes.draft).intersection(area);
    frame.render_widget(DraftPane { app, theme }, draft);
    if let (Some(side), Some(suggestion)) = (panes.side, app.assistant().suggestion()) {
        let focused = app.assistant().is_focused();
        frame.render_widget(
            suggestions::SuggestionsPane {
                suggestion,
                theme,
                focused,
                keymap: app.keys(),
            },
            rect(side).intersection(area),
        );
    }
    let bar = StatusBar { app, theme };
    let message_line = bar.message_line(status.width as usize);
    frame.render_widget(bar, status);
    // A message too long for the bar beside the model's state and the position gets the row
    // above it, over the draft's last row, until the next message replaces it.
    // Over the draft pane only, so a side pane keeps its border.
    if let Some((text, style)) = message_line
        && status.y > area.y
        && draft.width > 0
    {
        let row = Rect {
            x: draft.x,
            y: status.y - 1,
            width: draft.width,
            height: 1,
        };
        let text = fit_width(&format!(" {text}"), row.width as usize);
        frame.render_widget(Clear, row);
        frame.render_widget(Paragraph::new(text).style(style), row);
    }
    render_overlay(app, theme, frame, draft, status);
}

/// The overlay on show, if any, or the cursor in the draft.
fn render_overlay(app: &App, theme: &Theme, frame: &mut Frame, draft: Rect, status: Rect) {
    let area = frame.area();
    let cx = app.overlay_cx();
    match app.overlay() {
        Some(Overlay::Help(help)) => frame.render_widget(
            Help {
                cx: &cx,
                theme,
                scroll: help.scroll,
            },
            area,
        ),
        Some(Overlay::Settings(pane)) => {
            if let Some(side) = app.panes().side {
                frame.render_widget(
                    SettingsView { app, theme, pane },
                    rect(side).intersection(area),
                );
            }
        }
        Some(Overlay::Palette(palette)) => {
            frame.render_widget(
                PaletteView {
                    cx: &cx,
                    theme,
                    palette,
                },
                area,
            );
        }
        Some(Overlay::Form(form)) => {
            let view = form::FormView {
                form,
                theme,
                keys: app.keys(),
            };
            let cursor = view.cursor(area);
            frame.render_widget(view, area);
            if let Some(cursor) = cursor {
                frame.set_cursor_position(cursor);
            }
        }
        Some(Overlay::MiniBuffer(mini)) => {
            let label = mini.question.label();
            let text = format!("{label}{}", strip_controls(&mini.input.text));
            // The whole row: what the status bar had there must not show past the text.
            frame.render_widget(Clear, status);
            frame.render_widget(Paragraph::new(text).style(theme.prompt), status);
            let before = label.width() + mini.input.cursor_col();
            let x = status.x + (before as u16).min(status.width.saturating_sub(1));
            frame.set_cursor_position((x, status.y));
        }
        Some(Overlay::Confirm(confirm)) => {
            let question = question(app, confirm);
            // A question mark is separator enough.
            let sep = if question.ends_with('?') { " " } else { ": " };
            let text = format!("{question}{sep}{}", answers(app, confirm));
            frame.render_widget(Clear, status);
            frame.render_widget(Paragraph::new(text).style(theme.prompt), status);
        }
        None => {
            let editor = app.editor();
            if let Some((x, y)) = editor.view().cursor_screen(editor.doc()) {
                frame.set_cursor_position((draft.x + x as u16, draft.y + y as u16));
            }
        }
    }
}

/// What a question asks.
fn question(app: &App, confirm: &Confirm) -> String {
    match confirm {
        Confirm::Unsaved(then) => {
            let what = match then {
                Then::Quit => "quitting",
                Then::Open(_) => "opening another file",
                Then::New => "starting a new draft",
            };
            format!("Unsaved changes before {what}")
        }
        Confirm::Overwrite(path) if app.editor().path() == Some(path) => {
            "The file changed on disk since it was opened".to_string()
        }
        Confirm::Overwrite(path) => format!(
            "{} already exists",
            strip_controls(&path.display().to_string())
        ),
        Confirm::OverwriteTemplate {
            name,
            is_built_in: true,
            ..
        } => format!(
            "{} is a built-in template: yours would take its place",
            strip_controls(name)
        ),
        Confirm::OverwriteTemplate { name, .. } => {
            format!("Template {} exists already", strip_controls(name))
        }
        Confirm::DeleteTemplate(name) => {
            format!("Delete your template {}?", strip_controls(name))
        }
        Confirm::Recover(r) => format!(
            "{} unsaved edits from an earlier session. Recover them?",
            r.changes.len() + usize::from(r.snapshot.is_some())
        ),
    }
}

/// A question's answers, each with its key as the keymap binds it ("s save · d discard").
fn answers(app: &App, confirm: &Confirm) -> String {
    let mut seen = Vec::new();
    let parts: Vec<(Command, &str)> = confirm
        .answers()
        .iter()
        .filter(|(_, _, label)| {
            let first = !seen.contains(label);
            seen.push(*label);
            first
        })
        .map(|(command, _, label)| (*command, *label))
        .collect();
    app.keys().hint_bar(Mode::Confirm, &parts)
}

struct DraftPane<'a> {
    app: &'a App,
    theme: &'a Theme,
}

impl Widget for DraftPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let editor = self.app.editor();
        let (doc, view) = (editor.doc(), editor.view());
        buf.set_style(area, self.theme.text);
        let cursor = view.cursor_screen(doc);
        if let Some((_, y)) = cursor {
            let row = Rect {
                y: area.y + y as u16,
                height: 1,
                ..area
            };
            buf.set_style(row.intersection(area), self.theme.cursor_line);
        }
        let (mut line, top_row) = view.top(doc);
        let (mut k, mut first_row) = view::split_row(top_row);
        let mut y = 0;
        while y < area.height as usize && line < doc.rope().len_lines() {
            let segment = view::segment(doc, line, k, area.width as usize);
            let kinds = markdown::spans(&segment.text, segment.index > 0);
            let start = doc.rope().line_to_char(line) + segment.start;
            for (i, row) in segment.rows.iter().enumerate().skip(first_row) {
                if y >= area.height as usize {
                    break;
                }
                let target = Rect {
                    y: area.y + y as u16,
                    height: 1,
                    ..area
                };
                let line_end = segment.last && i + 1 == segment.rows.len();
                self.draw_row(
                    doc,
                    start,
                    &segment.text,
                    &kinds,
                    *row,
                    line_end,
                    target,
                    buf,
                );
                y += 1;
            }
            first_row = 0;
            (line, k) = if segment.last {
                (line + 1, 0)
            } else {
                (line, k + 1)
            };
        }
        if let (Some(ghost), Some(at)) = (
            self.app.assistant().ghost().visible_at(doc.cursor()),
            cursor,
        ) {
            draw_ghost(ghost, at, area, self.theme, buf);
        }
    }
}

impl DraftPane<'_> {
    /// One visual row of `text` (a line, or a segment of a long one, starting at char
    /// `line_start` of the draft, with Markdown styles `kinds`) into `area`, a row high:
    /// Markdown styles, the selection, control characters shown as placeholders, tabs as
    /// spaces.
    #[allow(clippy::too_many_arguments)]
    fn draw_row(
        &self,
        doc: &crate::document::Document,
        line_start: usize,
        text: &str,
        kinds: &[Span],
        row: layout::Row,
        is_last: bool,
        area: Rect,
        buf: &mut Buffer,
    ) {
        let theme = self.theme;
        let selection = doc.selection();
        let mut x = 0;
        let mut offset = row.start;
        for g in layout::slice_chars(text, row.start, row.end).graphemes(true) {
            let width = layout::grapheme_width(g, x);
            if x + width > area.width as usize {
                break;
            }
            let at = line_start + offset;
            let mut style = match kinds.get(offset).copied().unwrap_or(Span::Text) {
                Span::Text => theme.text,
                Span::Heading => theme.heading,
                Span::Emphasis => theme.emphasis,
                Span::Strong => theme.strong,
                Span::Code => theme.code,
                Span::Marker => theme.marker,
            };
            let shown = layout::display_text(g);
            if shown != g {
                style = style.patch(theme.control);
            }
            if at >= selection.start() && at < selection.end() {
                style = style.patch(theme.selection);
            }
            let cx = area.x + x as u16;
            if g == "\t" {
                for i in 0..width {
                    buf[(cx + i as u16, area.y)]
                        .set_symbol(" ")
                        .set_style(style);
                }
            } else {
                buf.set_stringn(cx, area.y, &shown, width.max(1), style);
            }
            x += width;
            offset += g.chars().count();
        }
        // A selected line break shows as one selected cell after the text.
        let end = line_start + row.end;
        if is_last && end >= selection.start() && end < selection.end() && x < area.width as usize {
            buf[(area.x + x as u16, area.y)].set_style(theme.selection);
        }
    }
}

/// Ghost text: dimmed after the cursor at `(cx, cy)`; what does not fit its row goes on in the
/// rows below while they are empty (typing at the end of a draft), and is cut otherwise.
fn draw_ghost(ghost: &str, (cx, cy): (usize, usize), area: Rect, theme: &Theme, buf: &mut Buffer) {
    if cy >= area.height as usize {
        return;
    }
    let shown: String = ghost.chars().take_while(|c| *c != '\n').collect();
    let width = area.width as usize;
    let (mut x, mut y) = (cx, cy);
    for piece in ghost_rows(&shown, width.saturating_sub(cx), width) {
        if y >= area.height as usize {
            break;
        }
        if y > cy {
            let blank =
                (0..area.width).all(|col| buf[(area.x + col, area.y + y as u16)].symbol() == " ");
            if !blank {
                break;
            }
        }
        buf.set_stringn(
            area.x + x as u16,
            area.y + y as u16,
            piece,
            width.saturating_sub(x),
            theme.ghost,
        );
        y += 1;
        x = 0;
    }
}

/// Ghost text as rows: the first in the `room` left after the cursor, the rest `width` wide,
/// broken between words (anywhere in a run of CJK) as the draft will break them once
/// accepted. Only a word too long for the cursor's row is cut there.
fn ghost_rows(text: &str, room: usize, width: usize) -> Vec<&str> {
    let fits = fitting_prefix(text, room);
    let first = if fits.len() < text.len() {
        // Break after the last space that fits, keeping a word whole for the next row.
        match fits.rfind(' ') {
            Some(i) => &text[..=i],
            None => fits,
        }
    } else {
        fits
    };
    let rest = &text[first.len()..];
    let mut rows = vec![first];
    if !rest.is_empty() {
        rows.extend(
            layout::wrap(rest, width)
                .iter()
                .map(|row| layout::slice_chars(rest, row.start, row.end)),
        );
    }
    rows
}

fn fitting_prefix(text: &str, columns: usize) -> &str {
    let mut used = 0;
    for (i, g) in text.grapheme_indices(true) {
        used += layout::grapheme_width(g, used);
        if used > columns {
            return &text[..i];
        }
    }
    text
}

struct StatusBar<'a> {
    app: &'a App,
    theme: &'a Theme,
}

/// The status bar's parts: the draft's name, the message, and the right-hand side (the model's
/// state, the position) in the longest form that leaves the message its room.
struct BarLayout {
    head: Vec<TextSpan<'static>>,
    /// The message and its style, when it fits in the bar.
    message: Option<(String, ratatui::style::Style)>,
    right: String,
}

impl StatusBar<'_> {
    fn message(&self) -> Option<(String, ratatui::style::Style)> {
        self.app.status().map(|status| {
            let style = if status.is_error {
                self.theme.status_error
            } else {
                self.theme.status
            };
            (strip_controls(&status.text).into_owned(), style)
        })
    }

    /// The message when it does not fit in the bar, for the row above it.
    fn message_line(&self, width: usize) -> Option<(String, ratatui::style::Style)> {
        let message = self.message()?;
        self.layout(width).message.is_none().then_some(message)
    }

    fn layout(&self, width: usize) -> BarLayout {
        let (app, theme) = (self.app, self.theme);
        let doc = app.editor().doc();
        let (line, col) = doc.line_col();
        let mut position = format!("{}:{}  {} words", line + 1, col + 1, doc.word_count());
        if doc.has_selection() {
            let s = doc.selection();
            position = format!("{} selected  {position}", s.end() - s.start());
        }
        let line_col = format!("{}:{}", line + 1, col + 1);
        let title = strip_controls(&app.editor().title()).into_owned();
        let mut head = vec![TextSpan::styled(format!(" {title}"), theme.status)];
        if doc.is_modified() {
            head.push(TextSpan::styled(" [+]", theme.status_modified));
        }
        let head_width: usize = head.iter().map(|s| s.width()).sum();
        let model = model_status(app, true);
        let state = model_status(app, false);
        let joined = |parts: &[&str]| {
            parts
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("  ")
                + " "
        };
        // A finished ghost says how to take it (the keys `Ghost::on_key` takes), in place of
        // the help key.
        let help = if app.assistant().ghost().complete_at(doc.cursor()) {
            app.keys().hint_bar(
                Mode::Edit,
                &[
                    (Command::insert_tab, "accept"),
                    (Command::move_word_right, "word"),
                ],
            )
        } else {
            "F1 help".to_string()
        };
        // Longest first; the model's state and the line:column are never dropped for a message.
        let candidates = [
            joined(&[&model, &position, &help]),
            joined(&[&model, &position]),
            joined(&[&model, &line_col]),
            joined(&[&state, &line_col]),
        ];
        let fits = |right: &str, extra: usize| head_width + extra + right.width() <= width;
        let message = self.message();
        match &message {
            None => BarLayout {
                right: candidates
                    .iter()
                    .find(|r| fits(r, 1))
                    .cloned()
                    .unwrap_or_else(|| format!("{line_col} ")),
                head,
                message: None,
            },
            Some((text, _)) => {
                let room = text.width() + 4;
                match candidates.iter().find(|r| fits(r, room)) {
                    Some(right) => BarLayout {
                        right: right.clone(),
                        head,
                        message,
                    },
                    // Too long for the bar: the message goes on the row above.
                    None => BarLayout {
                        right: candidates
                            .iter()
                            .find(|r| fits(r, 1))
                            .cloned()
                            .unwrap_or_else(|| format!("{line_col} ")),
                        head,
                        message: None,
                    },
                }
            }
        }
    }
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.theme.status);
        let width = area.width as usize;
        let BarLayout {
            mut head,
            message,
            right,
        } = self.layout(width);
        let right_width = right.width().min(width);
        if let Some((text, style)) = message {
            head.push(TextSpan::styled("  ", self.theme.status));
            head.push(TextSpan::styled(text, style));
        }
        let left_area = Rect {
            width: area.width.saturating_sub(right_width as u16),
            ..area
        };
        Line::from(head).render(left_area, buf);
        buf.set_string(
            area.x + (width - right_width) as u16,
            area.y,
            fit_width(&right, right_width),
            self.theme.status,
        );
    }
}

/// The model's state for the status bar, with its speed and context meter when `details`.
fn model_status(app: &App, details: bool) -> String {
    use crate::app::ModelState;
    let assistant = app.assistant();
    let streaming = assistant.is_streaming();
    let mut text = match assistant.state() {
        ModelState::Off => return String::new(),
        ModelState::Loading(progress) => format!("model loading {:.0}%", progress * 100.0),
        ModelState::Ready if streaming => "generating".to_string(),
        ModelState::Ready => "model ready".to_string(),
        ModelState::Crashed { exit, retry_in } => format!(
            "model crashed ({}) - restarting in {} s",
            exit.short(),
            retry_in.as_secs()
        ),
        ModelState::Stopped { exit } => format!("model stopped ({})", exit.short()),
        ModelState::Failed(_) => "no model".to_string(),
    };
    if details && let (Some(stats), Some(info)) = (assistant.last_stats(), assistant.info()) {
        // "~": a remote engine without the model's tokenizer estimated the count.
        text.push_str(&format!(
            "  {:.0} t/s  ctx {}{}/{}",
            stats.tokens_per_s,
            if stats.estimated { "~" } else { "" },
            stats.prompt_tokens,
            info.n_ctx
        ));
        if stats.dropped_tokens > 0 {
            text.push_str(&format!(" ({} left out)", stats.dropped_tokens));
        }
    }
    text
}

/// The end of `text` in `width` columns, starting with an ellipsis when it was cut.
fn fit_width_from_end(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut kept = Vec::new();
    let mut used = 1;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    let mut out = String::from("…");
    out.extend(kept.into_iter().rev());
    out
}

/// `text` cut to `width` columns, ending in an ellipsis when it was cut.
fn fit_width(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

struct SettingsView<'a> {
    app: &'a App,
    theme: &'a Theme,
    pane: &'a SettingsPane,
}

impl Widget for SettingsView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        clear_overlay(area, buf);
        // Labels as wide as the widest, then a gap: a value never runs into its label.
        let label_width = FIELDS.iter().map(|f| f.label.width()).max().unwrap_or(0) + 2;
        let room = usize::from(area.width.saturating_sub(2)).saturating_sub(label_width);
        let lines: Vec<Line> = FIELDS
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let pad = label_width.saturating_sub(field.label.width());
                Line::from(vec![
                    TextSpan::styled(
                        format!("{}{}", field.label, " ".repeat(pad)),
                        self.theme.popup_title,
                    ),
                    self.value(field, i == self.pane.selected, room),
                ])
            })
            .collect();
        let keys = self.app.keys();
        let hints = format!(
            " {} · {} {} choose ",
            keys.hint_bar(
                Mode::Settings,
                &[
                    (Command::submit, "edit/save"),
                    (Command::toggle, "toggle"),
                    (Command::cancel, "close"),
                ]
            ),
            keys.hint(Mode::Settings, Command::move_left)
                .unwrap_or_default(),
            keys.hint(Mode::Settings, Command::move_right)
                .unwrap_or_default(),
        );
        Paragraph::new(lines)
            .style(self.theme.text)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(self.theme.border_focused)
                    .title(" Settings ")
                    .title_bottom(TextSpan::styled(hints, self.theme.muted)),
            )
            .render(area, buf);
    }
}

impl SettingsView<'_> {
    /// A field's value: being typed, or as the config holds it; an empty model path names the
    /// model in use, dimmed.
    fn value(&self, field: &Field, selected: bool, room: usize) -> TextSpan<'static> {
        let style = if selected {
            self.theme.text.patch(self.theme.selection)
        } else {
            self.theme.text
        };
        let shown = field.show(self.app.config());
        match (&self.pane.editing, selected) {
            (Some(input), true) => {
                TextSpan::styled(format!("{}▏", strip_controls(&input.text)), style)
            }
            _ if field.key == ["model"] && shown.is_empty() => {
                let text = match self.app.assistant().model() {
                    Some(path) => model_in_use(path, room),
                    None => "(default)".to_string(),
                };
                TextSpan::styled(text, style.patch(self.theme.muted))
            }
            _ if field.key == ["engine", "flash_attention"] => {
                // What the engine decodes with now, and what chose it (a measurement).
                let mut text = strip_controls(&shown).into_owned();
                if let Some(info) = self.app.assistant().info()
                    && !info.settings.chosen_by.is_empty()
                {
                    let now = match info.settings.flash_attention {
                        FlashAttention::On => "on",
                        FlashAttention::Off => "off",
                        FlashAttention::Auto => "llama.cpp's choice",
                    };
                    let why = strip_controls(&info.settings.chosen_by).into_owned();
                    text.push_str(&format!(": {now} ({why})"));
                }
                TextSpan::styled(fit_width(&text, room), style)
            }
            _ => TextSpan::styled(strip_controls(&shown).into_owned(), style),
        }
    }
}

/// The model in use in `room` columns, keeping the end of a long path (its file name) in view,
/// and where it came from when there is room.
fn model_in_use(path: &std::path::Path, room: usize) -> String {
    let whence = if path
        .file_name()
        .is_some_and(|n| n == crate::paths::DEFAULT_MODEL_FILE)
    {
        " (default)"
    } else {
        " (--model)"
    };
    let path = strip_controls(&path.display().to_string()).into_owned();
    // The file name matters more than where it came from.
    if room >= whence.width() + 12 {
        let keep = room - whence.width();
        format!("{}{whence}", fit_width_from_end(&path, keep))
    } else {
        fit_width_from_end(&path, room)
    }
}

struct PaletteView<'a> {
    cx: &'a OverlayCx<'a>,
    theme: &'a Theme,
    palette: &'a Palette,
}

impl Widget for PaletteView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let width = area.width.saturating_sub(4).min(90);
        let height = area.height.saturating_sub(4).min(18);
        let popup = Rect {
            x: area.x + (area.width - width) / 2,
            y: area.y + 1,
            width,
            height,
        };
        clear_overlay(popup, buf);
        let matches = self.palette.matches(self.cx);
        let visible = height.saturating_sub(3) as usize;
        let first = self
            .palette
            .selected
            .saturating_sub(visible.saturating_sub(1));
        let mut lines = vec![Line::from(vec![
            TextSpan::styled("> ", self.theme.popup_title),
            TextSpan::styled(
                strip_controls(&self.palette.query.text).into_owned(),
                self.theme.popup,
            ),
        ])];
        let shown = &matches[first.min(matches.len())..];
        let shown = &shown[..visible.min(shown.len())];
        // The keys column is as wide as the widest keys on show, up to a third of the popup.
        let keys_width = shown
            .iter()
            .map(|item| item.keys.width())
            .max()
            .unwrap_or(0)
            .min(usize::from(width) / 3);
        for (i, item) in shown.iter().enumerate() {
            let style = if first + i == self.palette.selected {
                self.theme.popup.patch(self.theme.selection)
            } else {
                self.theme.popup
            };
            let keys = fit_width(&item.keys, keys_width);
            let pad = " ".repeat(keys_width.saturating_sub(keys.width()) + 2);
            lines.push(Line::from(vec![
                TextSpan::styled(format!("{keys}{pad}"), self.theme.popup_title),
                TextSpan::styled(strip_controls(&item.label).into_owned(), style),
            ]));
        }
        if matches.is_empty() {
            lines.push(Line::styled("no match", self.theme.muted));
        }
        Paragraph::new(lines)
            .style(self.theme.popup)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(self.title())
                    .title_style(self.theme.popup_title),
            )
            .render(popup, buf);
    }
}

impl PaletteView<'_> {
    /// What the palette is for, and its keys as the keymap binds them.
    fn title(&self) -> String {
        let keys = |parts: &[(Command, &str)]| self.cx.keys.hint_bar(Mode::Palette, parts);
        match self.palette.purpose {
            Purpose::Run => format!(
                " Commands, templates and prompts (type to filter; {}) ",
                keys(&[(Command::submit, "runs"), (Command::cancel, "closes")])
            ),
            Purpose::Templates => format!(
                " Templates (type to filter; {}) ",
                keys(&[
                    (Command::submit, "fills in and runs"),
                    (Command::cancel, "closes")
                ])
            ),
            Purpose::Edit => format!(
                " Edit which template? (opens $EDITOR; {}) ",
                keys(&[(Command::cancel, "closes")])
            ),
            Purpose::Delete => format!(
                " Delete which of your templates? ({}) ",
                keys(&[(Command::cancel, "closes")])
            ),
        }
    }
}

struct Help<'a> {
    cx: &'a OverlayCx<'a>,
    theme: &'a Theme,
    scroll: usize,
}

impl Widget for Help<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        use crate::app::overlay::help;
        let (x, y, width, height) = help::popup(area.width, area.height);
        let popup = Rect {
            x: area.x + x,
            y: area.y + y,
            width,
            height,
        }
        .intersection(area);
        clear_overlay(popup, buf);
        let inner = usize::from(width.saturating_sub(2));
        let (rows, (keys_w, name_w)) = help::rows(self.cx, inner);
        let last = rows
            .len()
            .saturating_sub(usize::from(height.saturating_sub(2)));
        let lines: Vec<Line> = rows
            .into_iter()
            .skip(self.scroll.min(last))
            .map(|row| {
                if let Some(title) = row.heading {
                    return Line::styled(title, self.theme.popup_title);
                }
                let pad = |text: String, w: usize| {
                    let fill = w.saturating_sub(text.width());
                    format!("{text}{}  ", " ".repeat(fill))
                };
                Line::from(vec![
                    TextSpan::styled(pad(row.keys, keys_w), self.theme.popup_title),
                    TextSpan::styled(pad(row.name, name_w), self.theme.popup),
                    TextSpan::styled(row.doc, self.theme.popup),
                ])
            })
            .collect();
        let keys = |command| self.cx.keys.hint(Mode::Help, command).unwrap_or_default();
        let title = format!(
            " Keys in every mode ({} {} {} {} scroll; any other key closes) ",
            keys(Command::scroll_up),
            keys(Command::scroll_down),
            keys(Command::page_up),
            keys(Command::page_down)
        );
        Paragraph::new(lines)
            .style(self.theme.popup)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title)
                    .title_style(self.theme.popup_title),
            )
            .render(popup, buf);
    }
}

/// Clears `area` for an overlay, with the half of a wide character that sticks into it from
/// the left: left alone, the terminal draws that character over the overlay's first column
/// (and ratatui skips the cell it covers), so the border goes missing and the row shifts.
pub(crate) fn clear_overlay(area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
    if area.x <= buf.area.x {
        return;
    }
    for y in area.top()..area.bottom() {
        let cell = &mut buf[(area.x - 1, y)];
        if cell.symbol().width() > 1 {
            cell.set_symbol(" ");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Msg;
    use crate::document::Selection;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn app(text: &str, width: u16, height: u16) -> App {
        App::with_text(Some("draft.md".into()), text, width, height)
    }

    fn draw(app: &App, theme: &Theme, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| render(app, theme, f)).unwrap();
        terminal
    }

    /// A screen row as text; the cell a wide character covers is skipped, as a terminal does.
    fn row(terminal: &Terminal<TestBackend>, y: u16) -> String {
        let buffer = terminal.backend().buffer();
        let mut text = String::new();
        let mut x = 0;
        while x < buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            text.push_str(symbol);
            x += unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
        }
        text
    }

    #[test]
    fn cjk_takes_two_cells_and_wraps_between_characters() {
        let app = app("大模型驱动的创业产品", 9, 4);
        let terminal = draw(&app, &Theme::monochrome(), 9, 4);
        // Wide characters fill a cell and leave the next one empty: 4 characters fit in 8.
        assert_eq!(row(&terminal, 0).trim_end(), "大模型驱");
        assert_eq!(row(&terminal, 1).trim_end(), "动的创业");
        assert_eq!(row(&terminal, 2).trim_end(), "产品");
    }

    #[test]
    fn a_long_message_moves_above_the_bar_which_keeps_the_model_state_and_position() {
        let mut app = app("Hello 世界\nsecond\nthird", 60, 5);
        app.set_model_state(crate::app::ModelState::Stopped {
            exit: crate::engine::exit::WorkerExit::killed_by(libc::SIGILL),
        });
        app.update(Msg::Warning(
            "the model crashed again after a restart and was stopped; rebuild it portable with \
             a long command that cannot fit"
                .into(),
        ));
        let terminal = draw(&app, &Theme::monochrome(), 60, 5);
        let status = row(&terminal, 4);
        assert!(status.contains("model stopped (SIGILL)"), "{status}");
        assert!(status.contains("1:1"), "{status}");
        assert!(!status.contains("crashed"), "{status}");
        let message = row(&terminal, 3);
        assert!(
            message.starts_with(" the model crashed again after a restart"),
            "{message}"
        );
        assert!(
            message.trim_end().ends_with('…'),
            "the cut is marked: {message}"
        );
        // A short message stays in the bar, with everything else.
        let mut short = super::tests::app("Hello\nsecond\nthird\nfourth", 100, 5);
        short.update(Msg::Warning("saved".into()));
        let terminal = draw(&short, &Theme::monochrome(), 100, 5);
        let status = row(&terminal, 4);
        assert!(
            status.contains("saved") && status.contains("F1 help"),
            "{status}"
        );
        assert_eq!(row(&terminal, 3).trim(), "fourth");
    }

    #[test]
    fn the_message_row_is_cleared_and_leaves_a_side_pane_whole() {
        use crate::engine::protocol::Event;
        let draft = "draft text runs on ".repeat(200);
        // No side pane: a message a little too long for the bar hides the row under it.
        let mut app = crate::app::test_support::ready_app(&draft);
        app.update(Msg::Resize {
            width: 100,
            height: 12,
        });
        app.update(Msg::Warning(format!("short head {}", "x".repeat(64))));
        let terminal = draw(&app, &Theme::monochrome(), 100, 12);
        let message = row(&terminal, 10);
        assert!(message.starts_with(" short head xxx"), "{message}");
        assert!(
            !message.contains("draft"),
            "old text shows through: {message}"
        );
        // With a suggestion beside the draft, the row stays out of its pane.
        let effects = app.update(Msg::Key(crate::keymap::Key::ctrl('e')));
        let job = crate::app::test_support::job_of(&effects);
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: " more".into(),
            },
        });
        app.update(Msg::Warning(format!("short head {}", "x".repeat(90))));
        let terminal = draw(&app, &Theme::monochrome(), 100, 12);
        assert!(row(&terminal, 10).starts_with(" short head xxx"));
        assert_boxes_whole(&terminal, "the suggestions pane under a message row");
    }

    #[test]
    fn at_60_columns_a_message_never_pushes_the_position_or_model_state_out() {
        // Recorded: "saved (361 bytes)" with the name at 60 columns hid the position.
        let mut app = crate::app::test_support::ready_app("Hello world.\nMore text here.");
        app.update(Msg::Resize {
            width: 60,
            height: 8,
        });
        for message in [
            "saved (361 bytes)".to_string(),
            "accepted (C-z undoes it)".to_string(),
            format!("a long warning {}", "y".repeat(70)),
        ] {
            app.update(Msg::Warning(message.clone()));
            let terminal = draw(&app, &Theme::monochrome(), 60, 8);
            let bar = row(&terminal, 7);
            assert!(bar.contains("1:1"), "position gone with {message:?}: {bar}");
            assert!(bar.contains("ready"), "model state gone: {bar}");
            let screen = screen(&terminal);
            assert!(
                screen.contains(&message[..16]),
                "the message is shown somewhere: {screen}"
            );
        }
    }

    #[test]
    fn the_status_bar_shows_name_position_and_words() {
        let mut app = app("Hello 世界\nsecond", 60, 4);
        app.update(Msg::Key(crate::keymap::Key::plain(
            crate::keymap::KeyCode::Char('!'),
        )));
        let terminal = draw(&app, &Theme::monochrome(), 60, 4);
        let status = row(&terminal, 3);
        assert!(status.contains("draft.md [+]"), "{status}");
        assert!(status.contains("1:2"), "{status}");
        assert!(status.contains("4 words"), "{status}");
    }

    #[test]
    fn control_characters_are_drawn_as_placeholders() {
        let app = app("a\u{1b}[31mb\u{7}", 20, 3);
        let terminal = draw(&app, &Theme::monochrome(), 20, 3);
        let first = row(&terminal, 0);
        assert!(first.starts_with("a\u{241b}[31mb\u{2407}"), "{first}");
        assert!(!first.contains('\u{1b}'));
    }

    #[test]
    fn the_selection_and_headings_are_styled() {
        let mut app = app("# Title\nbody text", 20, 4);
        app.doc_mut().select(Selection {
            anchor: 8,
            head: 12,
        });
        let theme = Theme::monochrome();
        let terminal = draw(&app, &theme, 20, 4);
        let buffer = terminal.backend().buffer();
        assert_eq!(buffer[(0, 0)].modifier, theme.heading.add_modifier);
        assert!(
            buffer[(0, 1)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED)
        );
        assert!(
            !buffer[(5, 1)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED)
        );
    }

    #[test]
    fn help_lists_every_command_with_its_keys() {
        use crate::keymap::{Key, KeyCode};
        let mut app = app("", 100, 60);
        app.update(Msg::Key(Key::plain(KeyCode::F(1))));
        // Page through all of it.
        let mut seen = String::new();
        for _ in 0..10 {
            seen.push_str(&screen(&draw(&app, &Theme::monochrome(), 100, 60)));
            app.update(Msg::Key(Key::plain(KeyCode::PageDown)));
        }
        assert!(seen.contains("C-s              save "), "{seen}");
        assert!(seen.contains("save_as"));
        assert!(seen.contains("Undo the last change"));
        // Every mode has its heading, and a prompt bound to a key is listed like a command.
        for mode in crate::keymap::Mode::ALL {
            assert!(seen.contains(mode.title()), "{}", mode.title());
        }
        assert!(seen.contains("prompt:expand"));
    }

    fn screen(terminal: &Terminal<TestBackend>) -> String {
        let height = terminal.backend().buffer().area.height;
        (0..height)
            .map(|y| row(terminal, y))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A screen row as a terminal shows it: one entry per column, "" where a wide character
    /// to its left covers it.
    fn columns(terminal: &Terminal<TestBackend>, y: u16) -> Vec<String> {
        let buffer = terminal.backend().buffer();
        let mut out = Vec::new();
        let mut x = 0;
        while x < buffer.area.width {
            let symbol = buffer[(x, y)].symbol().to_string();
            let w = unicode_width::UnicodeWidthStr::width(symbol.as_str()).max(1);
            out.push(symbol);
            for _ in 1..w {
                out.push(String::new());
            }
            x += w as u16;
        }
        out
    }

    /// Every box drawn on the screen has its left and right border on each of its rows.
    #[test]
    fn keys_remapped_in_config_act_and_the_hint_bars_follow_them() {
        use crate::app::test_support::{job_of, ready_app_with};
        use crate::engine::protocol::Event;
        use crate::keymap::{Key, KeyCode, Mods};
        let alt = |c| Key {
            code: KeyCode::Char(c),
            mods: Mods {
                alt: true,
                ..Mods::default()
            },
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "[keys]\n\"Esc\" = \"none\"\n\"C-d\" = \"cancel\"\n\"A-Enter\" = \"none\"\n\
             \"C-j\" = \"accept_suggestion\"\n\"A-s\" = \"prompt:summarise-bullets\"\n\
             [keys.suggestions]\n\"Esc\" = \"none\"\n\"x\" = \"cancel\"\n",
        )
        .unwrap();
        let (config, warning) = crate::config::Config::load(&file);
        assert!(warning.is_none(), "{warning:?}");
        let mut app = ready_app_with(config, "Quill keeps every word. It streams fast.");
        // The writer's own key runs a prompt.
        app.update(Msg::Key(Key::parse("C-End").unwrap()));
        let effects = app.update(Msg::Key(alt('s')));
        let job = job_of(&effects);
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: "- every word kept".into(),
            },
        });
        let text = screen(&draw(&app, &Theme::monochrome(), 100, 30));
        assert!(text.contains("bullets"), "{text}");
        assert!(
            text.contains("C-j accept") && text.contains("C-d reject"),
            "{text}"
        );
        assert!(
            !text.contains("A-Enter") && !text.contains("Esc reject"),
            "{text}"
        );
        // Esc does nothing now; the new key stops the stream.
        let effects = app.update(Msg::Key(Key::plain(KeyCode::Esc)));
        assert!(!effects.contains(&crate::app::Effect::CancelJob { job }));
        let effects = app.update(Msg::Key(Key::ctrl('d')));
        assert!(effects.contains(&crate::app::Effect::CancelJob { job }));
        // The pane's own keys, with the keyboard in it.
        app.update(Msg::Key(Key::plain(KeyCode::F(6))));
        let text = screen(&draw(&app, &Theme::monochrome(), 100, 30));
        assert!(
            text.contains("x reject") && text.contains("Enter accept"),
            "{text}"
        );
        app.update(Msg::Key(Key::plain(KeyCode::F(6))));
        app.update(Msg::Key(Key::ctrl('j')));
        assert_eq!(
            app.editor().doc().text(),
            "Quill keeps every word. It streams fast.\n\n- every word kept"
        );
    }

    fn assert_boxes_whole(terminal: &Terminal<TestBackend>, what: &str) {
        let height = terminal.backend().buffer().area.height;
        let rows: Vec<Vec<String>> = (0..height).map(|y| columns(terminal, y)).collect();
        let mut boxes = 0;
        for (top, cells) in rows.iter().enumerate() {
            // A right corner with no left corner before it: the left one was drawn over.
            let lefts = cells.iter().filter(|c| *c == "┌").count();
            let rights = cells.iter().filter(|c| *c == "┐").count();
            assert_eq!(
                lefts,
                rights,
                "{what}: row {top} has a box corner missing:\n{}",
                cells.concat()
            );
            for (left, cell) in cells.iter().enumerate() {
                if cell != "┌" {
                    continue;
                }
                let right = (left..cells.len())
                    .find(|&x| cells[x] == "┐")
                    .unwrap_or_else(|| panic!("{what}: a box at row {top} has no right corner"));
                boxes += 1;
                for (y, row) in rows.iter().enumerate().skip(top + 1) {
                    let (l, r) = (&row[left], &row[right]);
                    if l == "└" {
                        assert_eq!(r, "┘", "{what}: row {y}");
                        break;
                    }
                    assert!(
                        l == "│" && r == "│",
                        "{what}: row {y} of the box at ({left}, {top}) shows {l:?} .. {r:?}:\n{}",
                        row.concat()
                    );
                }
            }
        }
        assert!(boxes > 0, "{what}: no box on screen");
    }

    /// Lines of Chinese after 0 to 3 ASCII characters, so that on some row a wide character
    /// straddles any column.
    fn chinese_draft() -> String {
        (0..30)
            .map(|i| {
                format!(
                    "{}> 关键词：AI 大模型、创业产品、创新趋势、技术驱动、人工智能应用与创业产品的未来",
                    "x".repeat(i % 4)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_overlay_keeps_its_border_over_chinese_text() {
        use crate::keymap::{Key, KeyCode};
        let press = |app: &mut App, key: Key| {
            app.update(Msg::Key(key));
        };
        for (what, keys) in [
            ("help", vec![Key::plain(KeyCode::F(1))]),
            ("palette", vec![Key::ctrl('p')]),
            ("settings", vec![Key::plain(KeyCode::F(2))]),
            ("templates", vec![Key::plain(KeyCode::F(7))]),
            (
                "template form",
                vec![Key::plain(KeyCode::F(7)), Key::plain(KeyCode::Enter)],
            ),
        ] {
            for width in [100, 117, 120, 121] {
                let mut app = crate::app::test_support::ready_app(&chinese_draft());
                app.update(Msg::Resize { width, height: 35 });
                for key in &keys {
                    press(&mut app, *key);
                }
                let terminal = draw(&app, &Theme::monochrome(), width, 35);
                assert_boxes_whole(&terminal, &format!("{what} at {width} columns"));
            }
        }
    }

    #[test]
    fn a_prompt_or_question_takes_the_whole_status_row() {
        use crate::keymap::{Key, KeyCode};
        let mut app = app(&chinese_draft(), 80, 10);
        app.update(Msg::Key(Key::plain(KeyCode::Char('t'))));
        app.update(Msg::Key(Key::ctrl('f')));
        app.update(Msg::Key(Key::plain(KeyCode::Char('t'))));
        let terminal = draw(&app, &Theme::monochrome(), 80, 10);
        assert_eq!(row(&terminal, 9).trim_end(), "Find: t");
        app.update(Msg::Key(Key::plain(KeyCode::Esc)));
        app.update(Msg::Key(Key::ctrl('q')));
        let terminal = draw(&app, &Theme::monochrome(), 80, 10);
        assert_eq!(
            row(&terminal, 9).trim_end(),
            "Unsaved changes before quitting: s save · d discard · c cancel"
        );
    }

    #[test]
    fn help_columns_wrap_under_themselves_and_scrolling_stops_at_the_end() {
        use crate::keymap::{Key, KeyCode};
        let mut app = app("", 60, 20);
        app.update(Msg::Key(Key::plain(KeyCode::F(1))));
        let terminal = draw(&app, &Theme::monochrome(), 60, 20);
        let text = screen(&terminal);
        // Several keys never run into the command's name.
        let delete = (0..20)
            .map(|y| row(&terminal, y))
            .find(|r| r.contains("delete_word_backward"));
        if let Some(line) = delete {
            assert!(!line.contains("A-Backspacedelete"), "{line}");
        }
        // A wrapped description goes on under its own column, not at the box's edge.
        let rows: Vec<Vec<char>> = (2..18)
            .map(|y| row(&terminal, y).chars().collect())
            .collect();
        let first: String = (2..18)
            .map(|y| row(&terminal, y))
            .find(|r| r.contains("accept_suggestion"))
            .expect(&text);
        let doc_col = first[..first.find("Insert the").expect(&text)]
            .chars()
            .count();
        let mut continued = 0;
        for r in &rows {
            let left = r.iter().position(|c| *c == '│').unwrap();
            if r[left + 1..doc_col].iter().all(|c| *c == ' ') && r[doc_col] != '│' {
                // A row that only continues a description starts right at its column.
                continued += 1;
                assert_ne!(r[doc_col], ' ', "{}", r.iter().collect::<String>());
            }
        }
        assert!(continued > 0, "no description wrapped at this width");
        assert_boxes_whole(&terminal, "help");
        assert!(
            text.contains("The draft") && text.contains("cancel"),
            "{text}"
        );
        // Scrolling past the end stops at the last full page.
        for _ in 0..500 {
            app.update(Msg::Key(Key::plain(KeyCode::Down)));
        }
        let at_end = screen(&draw(&app, &Theme::monochrome(), 60, 20));
        assert!(at_end.contains("restart_model"), "{at_end}");
        let last_row = row(&draw(&app, &Theme::monochrome(), 60, 20), 18);
        assert!(
            !last_row.trim_matches(|c| c == '│' || c == ' ').is_empty(),
            "the last page is full: {at_end}"
        );
        app.update(Msg::Key(Key::plain(KeyCode::Up)));
        let one_up = screen(&draw(&app, &Theme::monochrome(), 60, 20));
        assert_ne!(
            one_up, at_end,
            "one Up moves at once after scrolling past the end"
        );
    }

    #[test]
    fn settings_labels_never_run_into_values_and_the_default_model_is_named() {
        use crate::keymap::{Key, KeyCode};
        let mut app = crate::app::test_support::ready_app("text");
        app.update(Msg::Key(Key::plain(KeyCode::F(2))));
        let text = screen(&draw(&app, &Theme::monochrome(), 140, 30));
        assert!(text.contains("Threads (0 = free cores)  0"), "{text}");
        // ready_app's model is a fake path: its end, the file name, is what shows.
        assert!(text.contains(".gguf"), "{text}");
        app.update(Msg::Resize {
            width: 240,
            height: 30,
        });
        let wide = screen(&draw(&app, &Theme::monochrome(), 240, 30));
        assert!(wide.contains(".gguf (--model)"), "{wide}");
    }

    #[test]
    fn ghost_text_wraps_between_words() {
        assert_eq!(ghost_rows("a novel idea", 5, 10), vec!["a ", "novel idea"]);
        assert_eq!(
            ghost_rows("a novel idea", 5, 8),
            vec!["a ", "novel ", "idea"]
        );
        assert_eq!(ghost_rows("novel", 3, 10), vec!["nov", "el"]);
        assert_eq!(ghost_rows("创业产品", 5, 4), vec!["创业", "产品"]);
        assert_eq!(ghost_rows("fits", 10, 10), vec!["fits"]);
    }

    #[test]
    fn a_suggestion_mixing_chinese_and_latin_keeps_the_pane_border() {
        use crate::engine::protocol::Event;
        for width in 90..130u16 {
            let mut app = crate::app::test_support::ready_app("draft");
            let effects = app.update(Msg::Key(crate::keymap::Key::ctrl('e')));
            let job = crate::app::test_support::job_of(&effects);
            app.update(Msg::Engine {
                generation: 1,
                event: Event::TokenGenerated {
                    job,
                    text: " These include **AI 和 ML**, which 大模型驱动的创业产品创新趋势 and \
                           more words 和 ML 大模型驱动的创业产品创新趋势 again"
                        .into(),
                },
            });
            app.update(Msg::Resize { width, height: 20 });
            let terminal = draw(&app, &Theme::monochrome(), width, 20);
            assert_boxes_whole(&terminal, &format!("suggestions at {width} columns"));
        }
    }

    #[test]
    fn the_suggestions_pane_shows_the_stream_beside_the_draft() {
        use crate::engine::protocol::Event;
        let mut app = crate::app::test_support::ready_app("Some draft text to continue");
        let end = app.editor().doc().len_chars();
        app.doc_mut().move_to(end, false);
        let effects = app.update(Msg::Key(crate::keymap::Key::ctrl('e')));
        let job = crate::app::test_support::job_of(&effects);
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: " and so it goes".into(),
            },
        });
        let terminal = draw(&app, &Theme::monochrome(), 100, 30);
        let text = screen(&terminal);
        assert!(text.contains("Continue · 1/2 · streaming"), "{text}");
        assert!(text.contains("and so it goes"), "{text}");
        assert!(text.contains("A-Enter accept"), "{text}");
        // The draft keeps the left 60 columns.
        assert!(row(&terminal, 0).starts_with("Some draft text to continue"));
        assert!(text.contains("generating"), "{text}");
    }

    #[test]
    fn a_finished_ghost_says_how_to_take_it_in_the_status_bar() {
        use crate::engine::protocol::Event;
        use crate::keymap::{Key, KeyCode};
        let mut app = crate::app::test_support::ready_app("");
        for c in "The best way to".chars() {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
        let effects = app.idle_at(std::time::Instant::now() + std::time::Duration::from_secs(1));
        let job = crate::app::test_support::job_of(&effects);
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: " learn is".into(),
            },
        });
        // Still streaming: the help key as always.
        let status = row(&draw(&app, &Theme::monochrome(), 100, 10), 9);
        assert!(status.contains("F1 help"), "{status}");
        app.update(Msg::Engine {
            generation: 1,
            event: Event::GenerationFinished {
                job,
                stats: crate::app::test_support::stats(),
            },
        });
        let terminal = draw(&app, &Theme::monochrome(), 100, 10);
        assert!(row(&terminal, 0).starts_with("The best way to learn is"));
        let status = row(&terminal, 9);
        assert!(status.contains("Tab accept · C-Right word"), "{status}");
        assert!(!status.contains("F1 help"), "{status}");
    }

    #[test]
    fn the_template_form_and_its_copy_show_fields_cursor_and_a_live_count() {
        use crate::engine::protocol::Event;
        use crate::keymap::{Key, KeyCode};
        let mut app = crate::app::test_support::ready_app("");
        app.update(Msg::Key(Key::plain(KeyCode::F(7))));
        for c in "tagline".chars() {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
        app.update(Msg::Key(Key::plain(KeyCode::Enter)));
        for c in "写作 app".chars() {
            app.update(Msg::Key(Key::plain(KeyCode::Char(c))));
        }
        let terminal = draw(&app, &Theme::monochrome(), 100, 30);
        let text = screen(&terminal);
        assert!(text.contains("Tagline (at most 60 characters)"), "{text}");
        assert!(text.contains("Product*  写作 app"), "{text}");
        assert!(text.contains("Audience  small businesses"), "{text}");
        assert!(text.contains("C-s save as preset"), "{text}");
        // The cursor sits after the value, CJK counted as two columns.
        let line = (0..30)
            .find(|&y| row(&terminal, y).contains("Product*"))
            .unwrap();
        let cursor = terminal.backend().cursor_position();
        let before: String = row(&terminal, line)
            .chars()
            .take_while(|c| *c != '写')
            .collect();
        assert_eq!(
            (cursor.x as usize, cursor.y),
            (
                unicode_width::UnicodeWidthStr::width(before.as_str()) + 8,
                line
            )
        );

        let effects = app.update(Msg::Key(Key::plain(KeyCode::Enter)));
        let job = crate::app::test_support::job_of(&effects);
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: "Write in 写作 app, every day".into(),
            },
        });
        let text = screen(&draw(&app, &Theme::monochrome(), 100, 30));
        assert!(
            text.contains("26/60 chars · Tagline · 1/5 · stream"),
            "{text}"
        );
    }

    #[test]
    fn the_settings_pane_lists_values_and_the_palette_filters() {
        let mut app = app("", 100, 30);
        app.update(Msg::Key(crate::keymap::Key::plain(
            crate::keymap::KeyCode::F(2),
        )));
        let text = screen(&draw(&app, &Theme::monochrome(), 100, 30));
        assert!(text.contains("Temperature"), "{text}");
        assert!(text.contains("0.7"), "{text}");
        assert!(text.contains("Ghost text"), "{text}");
        app.update(Msg::Key(crate::keymap::Key::plain(
            crate::keymap::KeyCode::Esc,
        )));
        app.update(Msg::Key(crate::keymap::Key::ctrl('p')));
        for c in "undo".chars() {
            app.update(Msg::Key(crate::keymap::Key::plain(
                crate::keymap::KeyCode::Char(c),
            )));
        }
        let text = screen(&draw(&app, &Theme::monochrome(), 100, 30));
        assert!(text.contains("undo — Undo the last change"), "{text}");
        assert!(text.contains("C-z"), "{text}");
    }

    #[test]
    fn a_ghost_at_the_row_end_goes_on_below() {
        assert_eq!(fitting_prefix("abc def", 3), "abc");
        assert_eq!(fitting_prefix("汉字", 3), "汉");
        assert_eq!(fitting_prefix("ab", 10), "ab");
    }

    #[test]
    fn every_built_in_theme_renders_its_scopes() {
        let library = theme::ThemeLibrary::load(None);
        let mut app = app("# Heading\nplain *em* text\n", 60, 6);
        app.doc_mut().select(Selection {
            anchor: 10,
            head: 15,
        });
        // Whatever NO_COLOR says in this environment: the colours themselves are under test.
        for name in library.names() {
            let theme = library.get_colored(&name, true);
            let terminal = draw(&app, &theme, 60, 6);
            let buffer = terminal.backend().buffer();
            let heading = &buffer[(0, 0)];
            assert!(
                heading.modifier.contains(theme.heading.add_modifier),
                "{name}: heading"
            );
            let (selected, status) = (&buffer[(1, 1)], &buffer[(1, 5)]);
            if name == "mono" {
                // No colours at all: the selection shows by a modifier.
                assert_eq!(theme.selection.bg, None, "{name}");
                assert!(!selected.modifier.is_empty(), "{name}: selection");
            } else {
                let colour = |c: Option<ratatui::style::Color>, what: &str| {
                    c.unwrap_or_else(|| panic!("{name} has no colour for {what}"))
                };
                assert_eq!(heading.fg, colour(theme.heading.fg, "headings"), "{name}");
                assert_eq!(
                    selected.bg,
                    colour(theme.selection.bg, "selections"),
                    "{name}"
                );
                assert_eq!(
                    status.bg,
                    colour(theme.status.bg, "the status bar"),
                    "{name}"
                );
            }
            assert_eq!(row(&terminal, 0).trim_end(), "# Heading", "{name}");
        }
    }
}
