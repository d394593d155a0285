//! Ghost text: after a pause in typing at the end of a line, a short greedy continuation is
//! asked for and drawn dimmed after the cursor. Tab takes it all, the word-accept key one word;
//! typing what it shows consumes it; anything else cancels it. Its own state machine; the
//! assistant drives it.

use std::time::{Duration, Instant};

use super::Effect;
use super::editor::Editor;
use crate::command::Command;
use crate::document::around::{text_after, text_before};
use crate::document::history::EditKind;
use crate::document::join::{self, Join};
use crate::engine::protocol::{JobId, SamplingParams};
use crate::prompt::{PromptInput, PromptTemplate};
use crate::sanitize::strip_controls;

/// Ghost suggestions are short: a phrase or the rest of a sentence.
const GHOST_TOKENS: u32 = 24;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ghost {
    #[default]
    Off,
    /// Typing paused: ask at `due` if the draft is still at `revision`.
    Pending { due: Instant, revision: u64 },
    /// Streaming (`job` is Some) or shown; `at` is the cursor it continues from.
    Shown {
        job: Option<JobId>,
        at: usize,
        text: String,
        /// The draft's last characters before `at`: the ghost's first words are spaced
        /// against them (see `document::join`).
        before: String,
        /// Whitespace streamed before the first word, held until the word comes.
        lead: String,
    },
}

/// When a ghost may be asked for: what `request_if_due` needs to know beside the draft.
pub struct GhostAsk<'a> {
    /// The engine is ready and no suggestion streams.
    pub free: bool,
    /// The prompt that continues the draft.
    pub prompt: Option<&'a PromptTemplate>,
    /// How much text around the cursor is sent.
    pub context_chars: usize,
    /// Milliseconds the first word may take before the request is dropped (0: no limit).
    pub budget_ms: u64,
}

impl Ghost {
    /// The text to draw after the cursor at `cursor`, if any.
    pub fn visible_at(&self, cursor: usize) -> Option<&str> {
        match self {
            Ghost::Shown { at, text, .. } if *at == cursor && !text.is_empty() => Some(text),
            _ => None,
        }
    }

    /// A ghost at `cursor` whose generation has ended: all of it is on offer.
    pub fn complete_at(&self, cursor: usize) -> bool {
        matches!(self, Ghost::Shown { job: None, .. }) && self.visible_at(cursor).is_some()
    }

    pub fn job(&self) -> Option<JobId> {
        match self {
            Ghost::Shown { job, .. } => *job,
            _ => None,
        }
    }

    /// When the event loop must wake up for the ghost.
    pub fn due(&self) -> Option<Instant> {
        match self {
            Ghost::Pending { due, .. } => Some(*due),
            _ => None,
        }
    }

    /// Hides the ghost, cancelling its job if it is still streaming.
    pub fn clear(&mut self) -> Vec<Effect> {
        let job = self.job();
        *self = Ghost::Off;
        job.map(|job| Effect::CancelJob { job })
            .into_iter()
            .collect()
    }

    /// Typing changed the draft: hide any ghost and ask again after `delay`, if ghosts are on.
    pub fn schedule(&mut self, delay: Option<Duration>, revision: u64) -> Vec<Effect> {
        let effects = self.clear();
        if let Some(delay) = delay {
            *self = Ghost::Pending {
                due: Instant::now() + delay,
                revision,
            };
        }
        effects
    }

    /// The pause is over: the request for a ghost under `job`, if nothing has changed and the
    /// moment is right (the cursor at the end of a line with text before it, nothing selected).
    pub fn request_if_due(
        &mut self,
        now: Instant,
        doc: &crate::document::Document,
        ask: GhostAsk,
        job: impl FnOnce() -> JobId,
    ) -> Option<Effect> {
        let Ghost::Pending { due, revision } = *self else {
            return None;
        };
        if now < due {
            return None;
        }
        *self = Ghost::Off;
        let rope = doc.rope();
        let cursor = doc.cursor();
        let at_line_end = cursor == rope.len_chars() || rope.char(cursor) == '\n';
        if revision != doc.revision()
            || doc.has_selection()
            || !at_line_end
            || !ask.free
            || rope.slice(..cursor).chars().all(char::is_whitespace)
        {
            return None;
        }
        let input = PromptInput {
            before: text_before(rope, cursor, ask.context_chars),
            after: text_after(rope, cursor, ask.context_chars),
            ..PromptInput::default()
        };
        let prompt = ask.prompt?.build(&input).ok()?;
        let job = job();
        *self = Ghost::Shown {
            job: Some(job),
            at: cursor,
            text: String::new(),
            before: rope.slice(cursor.saturating_sub(8)..cursor).to_string(),
            lead: String::new(),
        };
        Some(Effect::Generate {
            job,
            prompt,
            sampling: sampling(),
            variants: 1,
            deadline_ms: ask.budget_ms,
        })
    }

    /// Streamed ghost text; None when `job` is not the ghost's.
    pub fn on_text(&mut self, job: JobId, piece: &str) -> Option<Vec<Effect>> {
        let Ghost::Shown {
            job: Some(ghost_job),
            text,
            before,
            lead,
            ..
        } = self
        else {
            return None;
        };
        if *ghost_job != job {
            return None;
        }
        let piece = strip_controls(piece);
        if text.is_empty() {
            // Nothing shown yet: hold line breaks and spaces until the first word, then space
            // it against the draft (a ghost is drawn on the cursor's line).
            lead.push_str(&piece);
            let start = lead.trim_start_matches(['\n', '\r']);
            if start.trim().is_empty() {
                return Some(Vec::new());
            }
            *text = join::fit(before, start, "", Join::Continuation);
        } else {
            text.push_str(&piece);
        }
        if cut_at_sentence(text) {
            // Enough for a ghost: stop the model rather than let it run on.
            return Some(self.stop_job());
        }
        Some(Vec::new())
    }

    fn stop_job(&mut self) -> Vec<Effect> {
        match self {
            Ghost::Shown { job, .. } => job
                .take()
                .map(|job| Effect::CancelJob { job })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The ghost's job ended; false when `job` is not the ghost's.
    pub fn on_finished(&mut self, job: JobId) -> bool {
        match self {
            Ghost::Shown { job: j, text, .. } if *j == Some(job) => {
                *j = None;
                let trimmed = text.trim_end().len();
                text.truncate(trimmed);
                true
            }
            _ => false,
        }
    }

    /// The ghost's job failed: no ghost; false when `job` is not the ghost's.
    pub fn on_failed(&mut self, job: JobId) -> bool {
        let is_mine = self.job() == Some(job);
        if is_mine {
            *self = Ghost::Off;
        }
        is_mine
    }

    /// A key while a ghost shows: Tab takes it all, the word-accept command one word, typing
    /// what it shows consumes it. None lets the key act as usual. `delay` is the typing pause
    /// before the next ghost.
    pub fn on_key(
        &mut self,
        command: Option<Command>,
        typed: Option<char>,
        editor: &mut Editor,
        delay: Option<Duration>,
    ) -> Option<Vec<Effect>> {
        let cursor = editor.doc().cursor();
        let text = self.visible_at(cursor)?.to_string();
        match (command, typed) {
            (Some(Command::insert_tab), _) => {
                let mut effects = self.stop_job();
                *self = Ghost::Off;
                editor.doc_mut().insert(&text, EditKind::Other);
                editor.after_edit();
                effects.extend(self.schedule(delay, editor.doc().revision()));
                Some(effects)
            }
            (Some(Command::move_word_right), _) => {
                let word = next_word(&text);
                let rest = text[word.len()..].to_string();
                editor.doc_mut().insert(word, EditKind::Other);
                editor.after_edit();
                Some(self.taken(rest, editor, delay))
            }
            (None, Some(c)) if text.starts_with(c) => {
                // Typing what the ghost shows consumes it: no new request.
                editor.type_char(c);
                Some(self.taken(text[c.len_utf8()..].to_string(), editor, delay))
            }
            _ => None,
        }
    }

    /// Part of the ghost went into the draft: `rest` still shows after the cursor; all of it
    /// taken and nothing more coming, the next comes after the next pause.
    fn taken(&mut self, rest: String, editor: &Editor, delay: Option<Duration>) -> Vec<Effect> {
        let at = editor.doc().cursor();
        if let Ghost::Shown {
            at: a, text, job, ..
        } = self
        {
            if rest.trim().is_empty() && job.is_none() {
                return self.schedule(delay, editor.doc().revision());
            }
            *a = at;
            *text = rest;
        }
        Vec::new()
    }
}

/// How a ghost is sampled. Greedy and short: the most likely few words, the same each time.
/// No stop at a line break: after a sentence's end or on a new paragraph's line the model's
/// first token is often one, and the ghost would end before it began; `cut_at_sentence` stops
/// it at a line break that follows words.
pub fn sampling() -> SamplingParams {
    SamplingParams::greedy(GHOST_TOKENS)
}

/// Keeps a ghost to its first sentence (or line); returns whether it was cut.
pub fn cut_at_sentence(text: &mut String) -> bool {
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        if c == '\n' && seen_word {
            text.truncate(i);
            return true;
        }
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？') && seen_word {
            text.truncate(i + c.len_utf8());
            return true;
        }
        seen_word |= c.is_alphanumeric();
    }
    false
}

/// Leading spaces and the next word (with its trailing punctuation).
fn next_word(text: &str) -> &str {
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    &text[..start + end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::test_support::ready_app;
    use crate::app::{App, Msg};
    use crate::engine::protocol::{Event, GenerationStats, StopReason};
    use crate::keymap::{Key, KeyCode, Mods};

    fn key(code: KeyCode) -> Msg {
        Msg::Key(Key::plain(code))
    }

    fn done() -> GenerationStats {
        GenerationStats {
            threads: 1,
            estimated: false,
            with_flash: false,
            drafted: 0,
            accepted: 0,
            decodes: 0,
            prompt_tokens: 5,
            reused_tokens: 4,
            dropped_tokens: 0,
            generated_tokens: 4,
            ttft_ms: 1.0,
            prompt_tokens_per_s: 1.0,
            tokens_per_s: 1.0,
            stop_reason: StopReason::StopString,
        }
    }

    /// An app with `typed` typed into an empty draft, key by key (a line break as Enter).
    fn typed_app(typed: &str) -> App {
        let mut app = ready_app("");
        for c in typed.chars() {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            app.update(key(code));
        }
        app
    }

    /// Types `typed`, lets the pause pass, and streams `ghost` as the answer.
    fn with_ghost(typed: &str, ghost: &str) -> (App, JobId) {
        let mut app = typed_app(typed);
        let later = Instant::now() + Duration::from_secs(1);
        let effects = app.idle_at(later);
        let job = effects
            .iter()
            .find_map(|e| match e {
                Effect::Generate {
                    job,
                    sampling,
                    deadline_ms,
                    ..
                } => {
                    assert_eq!(sampling.temperature, 0.0, "ghost text is greedy");
                    // A late ghost is dropped, never queued behind the next (remote engines).
                    assert_eq!(*deadline_ms, 1000, "the ghost keeps its latency budget");
                    Some(*job)
                }
                _ => None,
            })
            .expect("a ghost request after the pause");
        assert!(
            matches!(effects.first(), Some(Effect::Journal { .. })),
            "the journal is flushed before the model is asked"
        );
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: ghost.into(),
            },
        });
        app.update(Msg::Engine {
            generation: 1,
            event: Event::GenerationFinished { job, stats: done() },
        });
        (app, job)
    }

    #[test]
    fn no_ghost_is_asked_for_before_the_pause_or_after_a_change() {
        let mut app = ready_app("");
        app.update(key(KeyCode::Char('a')));
        let effects = app.idle_at(Instant::now());
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::Generate { .. })),
            "{effects:?}"
        );
        app.update(key(KeyCode::Char('b')));
        assert!(app.ghost_due().is_some());
    }

    #[test]
    fn tab_accepts_the_whole_ghost_as_one_undo_step() {
        let (mut app, _) = with_ghost("It was", " a dark night.");
        assert_eq!(app.ghost_text(), Some(" a dark night."));
        app.update(key(KeyCode::Tab));
        assert_eq!(app.doc_mut().text(), "It was a dark night.");
        app.update(Msg::Key(Key::ctrl('z')));
        assert_eq!(app.doc_mut().text(), "It was");
    }

    #[test]
    fn ctrl_right_accepts_one_word_at_a_time() {
        let (mut app, _) = with_ghost("It was", " a dark night.");
        let ctrl_right = Msg::Key(Key {
            code: KeyCode::Right,
            mods: Mods {
                ctrl: true,
                ..Mods::default()
            },
        });
        app.update(ctrl_right.clone());
        assert_eq!(app.doc_mut().text(), "It was a");
        app.update(ctrl_right);
        assert_eq!(app.doc_mut().text(), "It was a dark");
        assert_eq!(app.ghost_text(), Some(" night."));
    }

    #[test]
    fn typing_what_the_ghost_shows_consumes_it_without_a_new_request() {
        let (mut app, _) = with_ghost("It was", " a dark night.");
        let effects = app.update(key(KeyCode::Char(' ')));
        assert!(effects.is_empty(), "{effects:?}");
        app.update(key(KeyCode::Char('a')));
        assert_eq!(app.doc_mut().text(), "It was a");
        assert_eq!(app.ghost_text(), Some(" dark night."));
        assert_eq!(app.ghost_due(), None);
    }

    #[test]
    fn any_other_key_cancels_a_streaming_ghost_and_hides_it() {
        let mut app = ready_app("");
        for c in "Hello".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let effects = app.idle_at(Instant::now() + Duration::from_secs(1));
        let Some(Effect::Generate { job, .. }) = effects.last().cloned() else {
            panic!("no ghost request");
        };
        app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: " world".into(),
            },
        });
        let effects = app.update(key(KeyCode::Char('!')));
        assert!(effects.contains(&Effect::CancelJob { job }), "{effects:?}");
        assert_eq!(app.doc_mut().text(), "Hello!");
        assert_eq!(app.ghost_text(), None);
    }

    #[test]
    fn a_ghost_is_cut_at_the_sentence_end_and_its_job_stopped() {
        let mut app = ready_app("");
        for c in "Rain".chars() {
            app.update(key(KeyCode::Char(c)));
        }
        let effects = app.idle_at(Instant::now() + Duration::from_secs(1));
        let Some(Effect::Generate { job, .. }) = effects.last().cloned() else {
            panic!("no ghost request");
        };
        let effects = app.update(Msg::Engine {
            generation: 1,
            event: Event::TokenGenerated {
                job,
                text: " fell all day. Then".into(),
            },
        });
        assert_eq!(effects, vec![Effect::CancelJob { job }]);
        assert_eq!(app.ghost_text(), Some(" fell all day."));
    }

    #[test]
    fn a_ghost_appears_after_a_sentence_end_spaced_as_writing() {
        // Recorded: after "faster." the model's first token is a line break; the ghost used
        // to stop on it and show nothing.
        let (_, request) = ghost_request("It goes faster.");
        assert!(
            !request.stop.iter().any(|s| s == "\n"),
            "a leading line break must not end the ghost: {:?}",
            request.stop
        );
        let (app, _) = with_ghost("It goes faster.", "\n\nThe next step is");
        assert_eq!(app.ghost_text(), Some(" The next step is"));
        // The writer's own space: no second one.
        let (app, _) = with_ghost("They survive. ", " Then they");
        assert_eq!(app.ghost_text(), Some("Then they"));
        // Glued by the model: spaced.
        let (mut app, _) = with_ghost("pages.", "The first draft");
        assert_eq!(app.ghost_text(), Some(" The first draft"));
        app.update(key(KeyCode::Tab));
        assert_eq!(app.doc_mut().text(), "pages. The first draft");
        // Chinese: no space.
        let (app, _) = with_ghost("下雨了。", " 然后");
        assert_eq!(app.ghost_text(), Some("然后"));
    }

    #[test]
    fn a_ghost_is_asked_for_at_the_start_of_a_new_paragraph() {
        let (app, _) = with_ghost("First paragraph.\n\n", "\nSecond");
        assert_eq!(app.ghost_text(), Some("Second"));
    }

    /// The ghost request made after typing `typed` and the pause.
    fn ghost_request(typed: &str) -> (App, SamplingParams) {
        let mut app = typed_app(typed);
        let effects = app.idle_at(Instant::now() + Duration::from_secs(1));
        let sampling = effects
            .iter()
            .find_map(|e| match e {
                Effect::Generate { sampling, .. } => Some(sampling.clone()),
                _ => None,
            })
            .expect("a ghost request after the pause");
        (app, sampling)
    }

    #[test]
    fn a_ghost_stops_at_the_end_of_its_first_sentence() {
        let mut text = " and then it rained. The next day".to_string();
        assert!(cut_at_sentence(&mut text));
        assert_eq!(text, " and then it rained.");
        let mut text = "。开始".to_string();
        assert!(
            !cut_at_sentence(&mut text),
            "a stop before any word is not a sentence"
        );
        let mut text = "下雨了。然后".to_string();
        assert!(cut_at_sentence(&mut text));
        assert_eq!(text, "下雨了。");
    }

    #[test]
    fn word_accept_takes_spaces_and_one_word() {
        assert_eq!(next_word(" quick brown"), " quick");
        assert_eq!(next_word("fox."), "fox.");
    }
}
