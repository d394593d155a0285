//! A streamed suggestion: what was asked, where the answer goes, and its variants (each kept
//! once generated, to cycle through), with the policy for them: how many, finished how, what is
//! dropped and made up for. Pure state, driven by the editor and by the headless commands
//! alike.

use crate::document::join::{self, Join};
use crate::engine::protocol::{GenerationStats, JobId, Prompt, SamplingParams, StopReason};
use crate::plan::Plan;
use crate::prompt::Output;
use crate::prompt::copy;
use crate::prompt::finish::{Finishing, Refused, Shape};
use crate::sanitize::strip_controls;

mod pieces;

pub use pieces::Pieces;

/// Where an accepted suggestion goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Inserted at a char index (continue, summarise), where the text just before it was
    /// `context` when asked: accepting checks it is still there. `after` is the text that
    /// followed, for the spacing on that side.
    Insert {
        at: usize,
        context: String,
        after: String,
    },
    /// Replaces `original`, found at `start..end` when asked (rewrite).
    Replace {
        start: usize,
        end: usize,
        original: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum VariantState {
    Streaming,
    Done(GenerationStats),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Sanitised as it streams: no terminal control characters ever reach the screen or draft.
    /// Once done, finished (see `prompt::finish`).
    pub text: String,
    pub state: VariantState,
    /// Cut to fit a character limit: the pane marks it.
    pub cut: bool,
    /// What finishing did to it, for the pane and stderr.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The prompt's display name ("Rewrite: formal").
    pub title: String,
    pub prompt: Prompt,
    pub sampling: SamplingParams,
    pub target: Target,
    /// How many variants to generate in all.
    pub wanted: usize,
    pub variants: Vec<Variant>,
    /// The variant on show.
    pub current: usize,
    /// The jobs streaming now, side by side, and which variant each fills.
    pub jobs: Vec<Stream>,
    /// Lines scrolled in the pane.
    pub scroll: usize,
    /// How each variant is finished, and which are refused (see `prompt::finish`).
    pub finishing: Finishing,
    /// Accept the first variant kept without asking (templates whose output goes straight
    /// into the draft).
    pub auto_accept: bool,
    /// Accepted, it is one undo step with the edit before it: more of a section the model was
    /// asked to go on with.
    pub continues_last: bool,
    /// Variants generated and then dropped.
    pub dropped: usize,
    /// Why each dropped variant was refused, in order.
    pub refusals: Vec<String>,
    /// How far the streaming variant's prompt has been read, until its first token.
    pub reading: Option<Reading>,
    /// A text too long for one prompt: its parts, summarised before the variants are asked for.
    pub parts: Option<Parts>,
    /// A rewrite made a sentence at a time: each variant is filled piece by piece.
    pub pieces: Option<Pieces>,
    /// The pane lists every variant at once (short copy starts so), to pick from.
    pub list: bool,
    /// Variants started in all: each gets its own seed, dropped ones included.
    started: u32,
    /// Tries left to make up for dropped variants.
    tries_left: usize,
    /// What the next variant asked again is sampled at, set by why the last was refused.
    retry_temperature: Option<f32>,
    /// Of the answers refused for wandering from their passage, the one that wandered least
    /// (its share of content words in per cent): offered when no try does better.
    best_wandered: Option<(u32, Variant)>,
}

/// The tries for `wanted` variants: each may be refused once, and one more besides, so a
/// single variant gets two more chances (one cooler, one cooler still, when it wandered).
fn tries_for(wanted: usize) -> usize {
    wanted.max(1) * 2 + 1
}

/// A variant being streamed under a job of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub job: JobId,
    /// Its place in `variants`.
    pub index: usize,
    /// It went past `max_chars` and was asked to stop; what still comes is ignored.
    pub stopping: bool,
}

/// At most this many variants are asked for side by side (the worker decodes as many at once).
pub const SIDE_BY_SIDE: usize = 8;

/// The least temperature a variant asked for again is sampled at: below it, a new seed
/// changes nothing.
const RETRY_TEMPERATURE: f32 = 0.7;

/// Below this, a cooler try would give the same answer as the refused one.
const LEAST_COOLER: f32 = 0.1;

/// A summary of a text too long for the context, made part by part (see `plan::Plan::parts`):
/// each part is summarised in turn, then the summaries are summarised by the variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// Prompts of the parts not started yet.
    pending: std::collections::VecDeque<Prompt>,
    pub total: usize,
    /// The summary of each part done.
    pub summaries: Vec<String>,
    /// The part streaming now, and its text so far.
    job: Option<JobId>,
    pub text: String,
    /// Tokens of the text read in all, and those that did not fit.
    pub read_tokens: u64,
    pub dropped_tokens: u64,
}

impl Parts {
    /// Parts still to summarise, or one being summarised.
    pub fn in_progress(&self) -> bool {
        self.job.is_some() || !self.pending.is_empty()
    }

    /// The part being summarised now (1-based), for "part 3 of 9".
    pub fn current(&self) -> usize {
        (self.summaries.len() + 1).min(self.total)
    }
}

/// How much of a suggestion to take (the rest stays on offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Portion {
    Word,
    Sentence,
    Line,
}

/// The bytes of `text` that `portion` takes from its start: the spaces before and one word
/// (one character of Chinese or Japanese), through the first sentence's end, or through the
/// first line break; the whole text when it has no such end.
pub fn portion_len(text: &str, portion: Portion) -> usize {
    match portion {
        Portion::Word => {
            let start = text.len() - text.trim_start().len();
            let rest = &text[start..];
            let mut chars = rest.char_indices();
            let end = match chars.next() {
                None => 0,
                Some((_, c)) if join::is_unspaced(c) => c.len_utf8(),
                Some(_) => rest
                    .char_indices()
                    .find(|(_, c)| c.is_whitespace() || join::is_unspaced(*c))
                    .map_or(rest.len(), |(i, _)| i),
            };
            start + end
        }
        Portion::Sentence => crate::prompt::finish::first_sentence_end(text)
            .filter(|end| *end > 0 && !text[..*end].trim().is_empty())
            .unwrap_or(text.len()),
        Portion::Line => text.find('\n').map_or(text.len(), |i| i + 1),
    }
}

/// A long prompt being read: tokens in the context of all, and the rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub read: u32,
    pub total: u32,
    pub tokens_per_s: f64,
}

impl std::fmt::Display for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reading the prompt: {} of {} tokens, {:.0} t/s",
            self.read, self.total, self.tokens_per_s
        )
    }
}

/// What finishing a variant came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Not this suggestion's job (a stale event).
    Stale,
    Kept,
    /// Empty, over the limit with no word boundary to cut at, or a duplicate.
    Dropped,
    /// One part of a long text summarised; more follow.
    Part,
    Failed,
}

impl Suggestion {
    /// The suggestion a plan asks for, its answers going to `target`.
    pub fn from_plan(plan: Plan, target: Target) -> Self {
        let mut suggestion = Suggestion::new(
            plan.title,
            plan.prompt,
            plan.sampling,
            target,
            plan.variants,
        );
        suggestion.finishing = plan.finishing;
        // Short copy is read side by side.
        suggestion.list = suggestion.finishing.shape == Shape::Copy
            && suggestion
                .finishing
                .max_chars
                .is_some_and(|max| max <= copy::ONE_LINE_MAX_CHARS);
        if !plan.parts.is_empty() {
            suggestion.parts = Some(Parts {
                total: plan.parts.len(),
                pending: plan.parts.into(),
                summaries: Vec::new(),
                job: None,
                text: String::new(),
                read_tokens: 0,
                dropped_tokens: 0,
            });
        }
        if !plan.pieces.is_empty() {
            suggestion.pieces = Some(Pieces::new(plan.pieces, plan.after_pieces));
        }
        suggestion.auto_accept = plan.output != Output::Suggestions;
        suggestion
    }

    pub fn new(
        title: String,
        prompt: Prompt,
        sampling: SamplingParams,
        target: Target,
        wanted: usize,
    ) -> Self {
        Suggestion {
            title,
            prompt,
            sampling,
            target,
            wanted: wanted.max(1),
            variants: Vec::new(),
            current: 0,
            jobs: Vec::new(),
            scroll: 0,
            finishing: Finishing::default(),
            auto_accept: false,
            continues_last: false,
            dropped: 0,
            refusals: Vec::new(),
            reading: None,
            parts: None,
            pieces: None,
            list: false,
            started: 0,
            tries_left: tries_for(wanted),
            retry_temperature: None,
            best_wandered: None,
        }
    }

    /// Asks for `more` variants after those there are (regenerate), with a fresh budget of
    /// tries. Last variants that were cancelled or failed half-way are replaced, not kept.
    pub fn want_more(&mut self, more: usize) {
        // Variants side by side cancelled together all make way.
        while self.jobs.is_empty()
            && self
                .variants
                .last()
                .is_some_and(|v| matches!(v.state, VariantState::Failed(_)))
        {
            self.variants.pop();
            self.current = self.current.min(self.variants.len().saturating_sub(1));
        }
        self.wanted = self.variants.len() + more;
        self.tries_left = tries_for(more);
        self.retry_temperature = None;
        self.best_wandered = None;
    }

    /// Whether the variant `job` streams has run far enough past `max_chars` to be stopped
    /// (once).
    pub fn should_stop(&mut self, job: JobId) -> bool {
        let Some(stream) = self.jobs.iter_mut().find(|s| s.job == job) else {
            return false;
        };
        let chars = self
            .variants
            .get(stream.index)
            .map_or(0, |v| v.text.chars().count());
        if !stream.stopping && copy::is_past_limit(chars, self.finishing.max_chars) {
            stream.stopping = true;
            return true;
        }
        false
    }

    /// Starts what comes next under `job`: the next part of a long text, else the variants
    /// still wanted, side by side under `job`, `job + 1`, ...; returns their prompt, the
    /// sampling of the first (the others' seeds follow it) and how many.
    pub fn start(&mut self, job: JobId) -> (Prompt, SamplingParams, u32) {
        if let Some(parts) = &mut self.parts
            && parts.job.is_none()
            && let Some(prompt) = parts.pending.pop_front()
        {
            parts.job = Some(job);
            parts.text.clear();
            self.reading = None;
            let mut sampling = self.sampling.clone();
            // A part's summary is read by the model, not the writer: no line stop, since
            // the one-paragraph shaping was for the whole answer.
            sampling.stop.retain(|s| s != "\n");
            return (prompt, sampling, 1);
        }
        if let Some(started) = self.start_piece(job) {
            return started;
        }
        // Side by side while none was refused; one at a time when asking again, each at a
        // temperature of its own.
        let count = if self.dropped == 0 {
            self.wanted
                .saturating_sub(self.variants.len())
                .min(self.tries_left)
                .clamp(1, SIDE_BY_SIDE)
        } else {
            1
        };
        let sampling = self.start_variants(job, count);
        (self.prompt.clone(), sampling, count as u32)
    }

    /// The jobs streaming now: a part's, a piece's, or the variants'.
    pub fn running_jobs(&self) -> Vec<JobId> {
        let single = self.parts.as_ref().and_then(|p| p.job);
        match single.or_else(|| self.pieces.as_ref().and_then(Pieces::job)) {
            Some(job) => vec![job],
            None => self.jobs.iter().map(|s| s.job).collect(),
        }
    }

    /// The variant `job` fills, while it streams.
    pub fn variant_of(&self, job: JobId) -> Option<usize> {
        match self.jobs.iter().find(|s| s.job == job) {
            Some(stream) => Some(stream.index),
            None => self
                .pieces
                .as_ref()
                .filter(|p| p.job() == Some(job))
                .map(|p| p.index),
        }
    }

    /// Starts the next sentence of a rewrite made a sentence at a time (a new variant's
    /// first, when none is under way); None for any other suggestion.
    fn start_piece(&mut self, job: JobId) -> Option<(Prompt, SamplingParams, u32)> {
        let fresh = !self.pieces.as_ref()?.in_progress();
        // A new variant as any other (its seed, a retry's temperature, a try spent), filled
        // sentence by sentence rather than streamed.
        let variant = fresh.then(|| {
            let sampling = self.add_variants(1, String::new());
            (self.variants.len() - 1, sampling)
        });
        let (prompt, sampling) = self.pieces.as_mut()?.start(job, variant);
        self.reading = None;
        Some((prompt, sampling, 1))
    }

    /// A sentence's job ended: its answer (or the sentence as written) grows the variant.
    /// `Err` says what came of it while sentences remain; `Ok` hands on the variant's state
    /// to be finished as a whole (the last sentence done, or the pieces stopped). Any other
    /// job's state is handed on as it is.
    fn finish_piece(&mut self, job: JobId, state: VariantState) -> Result<VariantState, Finished> {
        let Some(pieces) = self.pieces.as_mut().filter(|p| p.job() == Some(job)) else {
            return Ok(state);
        };
        let index = pieces.index;
        let (grown, whole) = match &state {
            VariantState::Done(stats) => pieces.done(job, stats).unwrap_or_default(),
            _ => (pieces.stopped(job).unwrap_or_default(), None),
        };
        let note = pieces.note();
        let Some(variant) = self.variants.get_mut(index) else {
            return Err(Finished::Stale);
        };
        variant.text.push_str(&grown);
        let state = match (state, whole) {
            (VariantState::Done(_), None) => return Err(Finished::Part),
            (VariantState::Done(_), Some(stats)) => VariantState::Done(stats),
            (other, _) => other,
        };
        variant.notes.push(note);
        // Finished as any variant, against the whole passage.
        self.jobs.push(Stream {
            job,
            index,
            stopping: false,
        });
        Ok(state)
    }

    /// A part's job ended: its summary is kept (finished as prose) and, after the last part,
    /// the variants' prompt gets the summaries. None when `job` is not a part's.
    fn finish_part(&mut self, job: JobId, state: &VariantState) -> Option<Finished> {
        let parts = self.parts.as_mut().filter(|p| p.job == Some(job))?;
        parts.job = None;
        match state {
            VariantState::Done(stats) => {
                let summary = Finishing::default().finish(&parts.text, stats.stop_reason);
                if !summary.text.trim().is_empty() {
                    parts.summaries.push(summary.text);
                }
                parts.read_tokens += u64::from(stats.prompt_tokens);
                parts.dropped_tokens += u64::from(stats.dropped_tokens);
                if !parts.in_progress() {
                    let joined = parts.summaries.join("\n\n");
                    self.prompt = self.prompt.replaced(crate::plan::PARTS_GO_HERE, &joined);
                    // The answer summarises these: its words may come from them.
                    self.finishing.also_from = joined;
                }
                Some(Finished::Part)
            }
            VariantState::Failed(reason) => {
                let what = format!("part {} of {}: {reason}", parts.current(), parts.total);
                parts.pending.clear();
                self.variants.push(Variant {
                    text: String::new(),
                    state: VariantState::Failed(what),
                    cut: false,
                    notes: Vec::new(),
                });
                Some(Finished::Failed)
            }
            VariantState::Streaming => Some(Finished::Stale),
        }
    }

    /// Starts the next variant under `job`, with its own seed; returns its sampling.
    pub fn start_variant(&mut self, job: JobId) -> SamplingParams {
        self.start_variants(job, 1)
    }

    /// Starts `count` variants under `job`, `job + 1`, ..., each with its own seed (the
    /// first's, plus its place); returns the first's sampling.
    pub fn start_variants(&mut self, job: JobId, count: usize) -> SamplingParams {
        let count = count.max(1);
        for k in 0..count {
            self.jobs.push(Stream {
                job: job + k as JobId,
                index: self.variants.len() + k,
                stopping: false,
            });
        }
        let begun = strip_controls(&self.finishing.prefill).into_owned();
        self.add_variants(count, begun)
    }

    /// Adds `count` variants begun with `text`, each with its own seed (the first's, plus its
    /// place); returns the first's sampling.
    fn add_variants(&mut self, count: usize, text: String) -> SamplingParams {
        for _ in 0..count {
            self.variants.push(Variant {
                text: text.clone(),
                state: VariantState::Streaming,
                cut: false,
                notes: Vec::new(),
            });
        }
        self.reading = None;
        self.tries_left = self.tries_left.saturating_sub(count);
        let mut sampling = self.sampling.clone();
        sampling.seed = sampling.seed.wrapping_add(self.started);
        if let Some(t) = self
            .retry_temperature
            .filter(|t| *t != sampling.temperature)
        {
            sampling.temperature = t;
            let why = if t < self.sampling.temperature {
                "an answer before it lost the passage's meaning"
            } else {
                "an answer before it was refused"
            };
            for variant in self.variants.iter_mut().rev().take(count) {
                variant
                    .notes
                    .push(format!("asked again at temperature {t:.2}: {why}"));
            }
        }
        self.started += count as u32;
        sampling
    }

    fn streaming(&mut self, job: JobId) -> Option<&mut Variant> {
        let index = self.jobs.iter().find(|s| s.job == job)?.index;
        self.variants.get_mut(index)
    }

    /// The prompt of `job` is being read; ignored when it is not this suggestion's job.
    pub fn on_read(&mut self, job: JobId, reading: Reading) {
        if self.running_jobs().contains(&job) {
            self.reading = Some(reading);
        }
    }

    /// Appends streamed text; false if the job is not this suggestion's (a stale event).
    pub fn push_text(&mut self, job: JobId, text: &str) -> bool {
        if self.pieces.as_mut().is_some_and(|p| p.push_text(job, text)) {
            self.reading = None;
            return true;
        }
        if let Some(parts) = self.parts.as_mut().filter(|p| p.job == Some(job)) {
            self.reading = None;
            parts.text.push_str(&strip_controls(text));
            return true;
        }
        if self.streaming(job).is_some() {
            self.reading = None;
        }
        let stopping = self.jobs.iter().any(|s| s.job == job && s.stopping);
        match self.streaming(job) {
            Some(variant) => {
                if !stopping {
                    variant.text.push_str(&strip_controls(text));
                }
                true
            }
            None => false,
        }
    }

    pub fn finish(&mut self, job: JobId, state: VariantState) -> Finished {
        if let Some(finished) = self.finish_part(job, &state) {
            return finished;
        }
        let state = match self.finish_piece(job, state) {
            Ok(state) => state,
            Err(finished) => return finished,
        };
        let Some(at) = self.jobs.iter().position(|s| s.job == job) else {
            return Finished::Stale;
        };
        let index = self.jobs.remove(at).index;
        let stop = match &state {
            VariantState::Done(stats) => stats.stop_reason,
            _ => {
                if let Some(variant) = self.variants.get_mut(index) {
                    variant.state = state;
                }
                return Finished::Failed;
            }
        };
        let Some(variant) = self.variants.get(index) else {
            return Finished::Stale;
        };
        let finished = self.finishing.finish(&variant.text, stop);
        // Compared with the variants already finished, side by side ones included.
        let kept: Vec<&str> = self
            .variants
            .iter()
            .enumerate()
            .filter(|&(i, v)| i != index && matches!(v.state, VariantState::Done(_)))
            .map(|(_, v)| v.text.as_str())
            .collect();
        let mut notes = variant.notes.clone();
        notes.extend(finished.notes);
        self.add_reading_notes(&state, &mut notes);
        let verdict = match self.finishing.check(&finished.text, &kept) {
            // A rewrite the writer's token limit cut short covers a part of the passage: the
            // share of the whole it keeps says nothing of its meaning.
            Err(Refused::LostMeaning(_))
                if stop == StopReason::MaxTokens && self.finishing.writers_limit =>
            {
                Ok(())
            }
            verdict => verdict,
        };
        if let Err(refused) = verdict {
            if let Some(share) = refused.share() {
                let variant = Variant {
                    text: finished.text.clone(),
                    state: state.clone(),
                    cut: finished.cut,
                    notes: notes.clone(),
                };
                self.consider_fallback(share, &refused, variant);
            }
            self.variants.remove(index);
            for stream in &mut self.jobs {
                if stream.index > index {
                    stream.index -= 1;
                }
            }
            self.dropped += 1;
            self.retry_temperature = Some(self.next_temperature(&refused));
            self.refusals.push(refused.to_string());
            self.current = self.current.min(self.variants.len().saturating_sub(1));
            return self.fall_back(index);
        }
        let variant = &mut self.variants[index];
        variant.text = finished.text;
        variant.cut = finished.cut;
        variant.notes = notes;
        variant.state = state;
        Finished::Kept
    }

    /// What the writer is told of how much of the text was read: a prompt cut to fit the
    /// context, or a long text summarised part by part.
    fn add_reading_notes(&self, state: &VariantState, notes: &mut Vec<String>) {
        if let VariantState::Done(stats) = state
            && stats.dropped_tokens > 0
            && !self.finishing.source.is_empty()
        {
            // Never a summary of part of the text without a word.
            let all = stats.prompt_tokens + stats.dropped_tokens;
            notes.push(format!(
                "read only {} of {all} tokens ({}%): the rest did not fit the model's context; \
                 select a part, or raise n_ctx",
                stats.prompt_tokens,
                u64::from(stats.prompt_tokens) * 100 / u64::from(all.max(1))
            ));
        }
        if let Some(parts) = &self.parts {
            notes.push(if parts.dropped_tokens == 0 {
                format!(
                    "summarised in {} parts, then their summaries: all of the text was read \
                     ({} prompt tokens)",
                    parts.total, parts.read_tokens
                )
            } else {
                format!(
                    "summarised in {} parts: {} of {} tokens did not fit and were not read",
                    parts.total,
                    parts.dropped_tokens,
                    parts.read_tokens + parts.dropped_tokens
                )
            });
        }
    }

    /// Keeps a refused `variant` that kept `share` per cent of its passage, if no refused one
    /// kept more, to offer when no try does better (see `fall_back`).
    fn consider_fallback(&mut self, share: u32, refused: &Refused, mut variant: Variant) {
        if self
            .best_wandered
            .as_ref()
            .is_some_and(|(b, _)| share <= *b)
        {
            return;
        }
        variant
            .notes
            .push(format!("{refused}: none of the tries did better; check it"));
        self.best_wandered = Some((share, variant));
    }

    /// After a refusal: when the tries are spent and nothing was kept, the answer that
    /// wandered least from its passage is offered, marked, rather than nothing (a rewrite of
    /// a short passage may change most of its words and still say what it said).
    fn fall_back(&mut self, index: usize) -> Finished {
        let kept_any = self
            .variants
            .iter()
            .any(|v| matches!(v.state, VariantState::Done(_)));
        if self.tries_left > 0 || !self.jobs.is_empty() || kept_any {
            return Finished::Dropped;
        }
        let Some((_, variant)) = self.best_wandered.take() else {
            return Finished::Dropped;
        };
        let at = index.min(self.variants.len());
        self.variants.insert(at, variant);
        for stream in &mut self.jobs {
            if stream.index >= at {
                stream.index += 1;
            }
        }
        self.current = at;
        Finished::Kept
    }

    /// What to sample the try after `refused` at. An answer that wandered from its passage
    /// is asked again cooler (a cooler sample stays nearer the passage); one refused for
    /// anything else, warm enough that a new seed gives a new answer, since at (near) zero
    /// every try gives the same answer whatever the seed.
    fn next_temperature(&self, refused: &Refused) -> f32 {
        let now = self.retry_temperature.unwrap_or(self.sampling.temperature);
        if refused.wandered() && now >= 2.0 * LEAST_COOLER {
            now / 2.0
        } else {
            now.max(RETRY_TEMPERATURE)
        }
    }

    /// Whether another part or variant should be asked for.
    pub fn wants_more(&self) -> bool {
        if let Some(pieces) = self.pieces.as_ref().filter(|p| p.in_progress()) {
            return pieces.job().is_none();
        }
        if let Some(parts) = self.parts.as_ref().filter(|p| p.in_progress()) {
            return parts.job.is_none()
                && self
                    .variants
                    .last()
                    .is_none_or(|v| !matches!(v.state, VariantState::Failed(_)));
        }
        self.jobs.is_empty()
            && self.variants.len() < self.wanted
            && self.tries_left > 0
            && self
                .variants
                .last()
                .is_none_or(|v| matches!(v.state, VariantState::Done(_)))
    }

    pub fn is_streaming(&self) -> bool {
        !self.running_jobs().is_empty()
    }

    pub fn current(&self) -> Option<&Variant> {
        self.variants.get(self.current)
    }

    /// The text accepting would insert: a rewrite loses the blank lines a model wraps it in.
    /// Copy taken before it finished is finished now (cut to its limit), so the draft never
    /// gets more than `max_chars`.
    pub fn accepted_text(&self) -> Option<String> {
        let variant = self.current()?;
        let finished;
        let variant_text = if matches!(variant.state, VariantState::Done(_)) {
            &variant.text
        } else {
            // Taken before it finished: finished now as an answer the writer stopped; one made
            // a sentence at a time has the sentences not done yet as they were written.
            let rest = self
                .pieces
                .as_ref()
                .filter(|p| p.in_progress() && p.index == self.current)
                .map(Pieces::rest)
                .unwrap_or_default();
            let text = format!("{}{rest}", variant.text);
            finished = self.finishing.finish(&text, StopReason::Cancelled).text;
            &finished
        };
        let text = match &self.target {
            // The passage keeps the spacing around it (a selection often ends with its line
            // break); the model's own padding goes.
            Target::Replace { original, .. } => {
                let lead = &original[..original.len() - original.trim_start().len()];
                let trail = &original[original.trim_end().len()..];
                format!("{lead}{}{trail}", variant_text.trim())
            }
            Target::Insert { context, after, .. } => {
                join::fit(context, variant_text.trim_end(), after, self.join())
            }
        };
        (!text.trim().is_empty()).then_some(text)
    }

    /// Takes `portion` of the variant on show for the draft: returns where it goes and the
    /// text, and keeps the rest on offer as the only variant, now going in after it. None when
    /// there is nothing to take, or the suggestion replaces a passage (taken whole).
    pub fn take(&mut self, portion: Portion) -> Option<(usize, String)> {
        let Target::Insert { at, context, after } = self.target.clone() else {
            return None;
        };
        let text = self.accepted_text()?;
        let taken = portion_len(&text, portion);
        let (head, rest) = text.split_at(taken);
        if head.is_empty() {
            return None;
        }
        let mut variant = self.current()?.clone();
        variant.text = rest.to_string();
        self.variants = vec![variant];
        self.current = 0;
        self.wanted = 1;
        let context: String = format!("{context}{head}");
        let keep = context.chars().count().saturating_sub(32);
        self.target = Target::Insert {
            at: at + head.chars().count(),
            context: context.chars().skip(keep).collect(),
            after,
        };
        Some((at, head.to_string()))
    }

    /// How an inserted answer meets the text around it: a continuation carries on the
    /// writer's sentence; anything made from a passage or a template stands on its own.
    pub fn join(&self) -> Join {
        // An outline or a section is a block of paragraphs of its own, whatever its shape.
        if self.finishing.shape == Shape::Prose
            && self.finishing.source.is_empty()
            && self.finishing.article.is_none()
        {
            Join::Continuation
        } else {
            Join::Block
        }
    }

    /// Why variants were dropped, each reason once with how often: "a copy of the passage ×2,
    /// empty".
    pub fn refusal_summary(&self) -> String {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for r in &self.refusals {
            match seen.iter_mut().find(|(s, _)| *s == r.as_str()) {
                Some((_, n)) => *n += 1,
                None => seen.push((r, 1)),
            }
        }
        seen.iter()
            .map(|(r, n)| {
                if *n > 1 {
                    format!("{r} ×{n}")
                } else {
                    r.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn cycle(&mut self, forward: bool) {
        let n = self.variants.len();
        if n == 0 {
            return;
        }
        self.current = if forward {
            (self.current + 1) % n
        } else {
            (self.current + n - 1) % n
        };
        self.scroll = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::protocol::{Part, StopReason};
    use crate::plan::Plan;

    fn stats() -> GenerationStats {
        GenerationStats {
            threads: 1,
            estimated: false,
            with_flash: false,
            drafted: 0,
            accepted: 0,
            decodes: 0,
            prompt_tokens: 1,
            reused_tokens: 0,
            dropped_tokens: 0,
            generated_tokens: 1,
            ttft_ms: 1.0,
            prompt_tokens_per_s: 1.0,
            tokens_per_s: 1.0,
            stop_reason: StopReason::EndOfText,
        }
    }

    fn suggestion(wanted: usize) -> Suggestion {
        Suggestion::new(
            "Rewrite".into(),
            Prompt::Completion {
                parts: vec![Part::fixed("x")],
            },
            SamplingParams::default(),
            Target::Replace {
                start: 0,
                end: 3,
                original: "x\n\n".into(),
            },
            wanted,
        )
    }

    #[test]
    fn variants_stream_in_turn_with_their_own_seeds() {
        let mut s = suggestion(2);
        assert!(s.wants_more());
        let first = s.start_variant(1);
        assert!(s.push_text(1, "\n Better\u{1b}[2J text\n"));
        assert!(
            !s.push_text(9, "stale"),
            "an event of another job is dropped"
        );
        assert!(!s.wants_more(), "one at a time");
        s.finish(1, VariantState::Done(stats()));
        assert_eq!(s.accepted_text().as_deref(), Some("Better text\n\n"));
        assert!(s.wants_more());
        let second = s.start_variant(2);
        assert_ne!(first.seed, second.seed);
        s.push_text(2, "Other");
        s.finish(2, VariantState::Done(stats()));
        assert!(!s.wants_more());
        s.cycle(true);
        assert_eq!(s.accepted_text().as_deref(), Some("Other\n\n"));
        s.cycle(true);
        assert_eq!(s.current, 0);
    }

    #[test]
    fn a_failed_variant_stops_the_series() {
        let mut s = suggestion(3);
        s.start_variant(1);
        s.finish(1, VariantState::Failed("crashed".into()));
        assert!(!s.wants_more());
        assert_eq!(s.accepted_text(), None);
    }

    #[test]
    fn copy_variants_are_cut_to_the_limit_and_duplicates_dropped_and_retried() {
        let mut s = suggestion(2);
        s.finishing.shape = Shape::Copy;
        s.finishing.max_chars = Some(20);
        s.start_variant(1);
        s.push_text(1, "\"Write faster with Quill today");
        assert!(!s.should_stop(1));
        s.push_text(1, " and every day after that, forever more");
        assert!(s.should_stop(1), "past the limit and a word: stop");
        assert!(!s.should_stop(1), "asked once");
        s.push_text(1, " ignored");
        assert_eq!(s.finish(1, VariantState::Done(stats())), Finished::Kept);
        assert_eq!(
            s.variants[0].text, "Write faster",
            "cut, without a dangling \"with\""
        );
        let second = s.start_variant(2);
        s.push_text(2, "write  FASTER with");
        assert_eq!(s.finish(2, VariantState::Done(stats())), Finished::Dropped);
        assert_eq!((s.variants.len(), s.dropped), (1, 1));
        assert!(s.wants_more(), "a dropped variant is made up for");
        let third = s.start_variant(3);
        assert_ne!(second.seed, third.seed, "a retry has a seed of its own");
        s.push_text(3, "   ");
        assert_eq!(s.finish(3, VariantState::Done(stats())), Finished::Dropped);
        s.start_variant(4);
        s.push_text(4, "Quill: write today");
        assert_eq!(s.finish(4, VariantState::Done(stats())), Finished::Kept);
        assert!(!s.wants_more());
        assert_eq!(s.finish(4, VariantState::Done(stats())), Finished::Stale);
    }

    #[test]
    fn copy_accepted_before_it_finished_is_still_within_the_limit() {
        let mut s = suggestion(1);
        s.finishing.shape = Shape::Copy;
        s.finishing.max_chars = Some(20);
        s.start_variant(1);
        s.push_text(1, "\"Tagline: Write faster with Quill today and");
        let text = s.accepted_text().unwrap();
        assert_eq!(text.trim(), "Write faster", "{text:?}");
    }

    #[test]
    fn again_after_a_cancel_replaces_the_half_done_variant() {
        let mut s = suggestion(1);
        s.start_variant(1);
        s.push_text(1, "Half");
        s.wanted = s.variants.len();
        s.finish(1, VariantState::Failed("cancelled".into()));
        assert!(!s.wants_more());
        s.want_more(1);
        assert!(s.variants.is_empty());
        assert!(s.wants_more(), "a new variant is asked for");
    }

    #[test]
    fn tries_are_bounded_when_every_variant_is_dropped() {
        let mut s = suggestion(2);
        s.finishing.shape = Shape::Copy;
        let mut tries = 0;
        while s.wants_more() {
            tries += 1;
            s.start_variant(tries);
            s.finish(tries, VariantState::Done(stats()));
        }
        assert_eq!(tries, 5, "two each, and one more");
        s.want_more(1);
        assert!(s.wants_more());
    }

    #[test]
    fn a_refused_greedy_answer_is_asked_again_warmer() {
        let mut s = suggestion(1);
        s.sampling.temperature = 0.0;
        s.finishing.source = "A passage of some length here.".into();
        s.finishing.shorter = true;
        s.target = Target::Insert {
            at: 0,
            context: String::new(),
            after: String::new(),
        };
        let first = s.start_variant(1);
        assert_eq!(first.temperature, 0.0);
        s.push_text(1, "A passage of some length here, and more words.");
        assert_eq!(s.finish(1, VariantState::Done(stats())), Finished::Dropped);
        let second = s.start_variant(2);
        assert_eq!(
            second.temperature, RETRY_TEMPERATURE,
            "a new seed alone changes nothing"
        );
        s.push_text(2, "Some length.");
        assert_eq!(s.finish(2, VariantState::Done(stats())), Finished::Kept);
        let notes = &s.variants[0].notes;
        assert!(notes.iter().any(|n| n.contains("temperature")), "{notes:?}");
        assert_eq!(s.refusal_summary(), "no shorter than the passage");
    }

    #[test]
    fn a_rewrite_that_lost_the_passage_is_asked_again_cooler_each_time() {
        let mut s = suggestion(1);
        s.sampling.temperature = 0.5;
        s.finishing.source = "The council will extend the riverside bike path in March.".into();
        s.finishing.min_kept = Some(0.4);
        let off_topic = "Cycling is a healthy hobby that many people enjoy.";
        let mut temperatures = Vec::new();
        for job in 1..=3 {
            temperatures.push(s.start_variant(job).temperature);
            s.push_text(job, off_topic);
            s.finish(job, VariantState::Done(stats()));
        }
        assert_eq!(temperatures, [0.5, 0.25, 0.125]);
        assert!(!s.wants_more(), "three tries for one variant");
        assert_eq!(
            s.refusal_summary(),
            "the passage's meaning lost (kept 0 % of its content words) ×3"
        );
        // None did better: the least bad is offered, marked, rather than nothing.
        assert_eq!(s.variants.len(), 1);
        assert_eq!(s.variants[0].text, off_topic);
        assert!(
            s.variants[0].notes.iter().any(|n| n.contains("check it")),
            "{:?}",
            s.variants[0].notes
        );
        s.want_more(1);
        assert_eq!(s.start_variant(4).temperature, 0.5, "a new ask starts over");
        s.push_text(4, "In March the council extends the riverside bike path.");
        assert_eq!(s.finish(4, VariantState::Done(stats())), Finished::Kept);
        // A rewrite that ran past the shaping's limit is judged, and asked again...
        let mut cut = stats();
        cut.stop_reason = StopReason::MaxTokens;
        s.want_more(1);
        s.start_variant(5);
        s.push_text(5, "The council will.");
        assert_eq!(
            s.finish(5, VariantState::Done(cut.clone())),
            Finished::Dropped
        );
        // ...one the writer's own token limit cut short is not judged on the share it keeps.
        s.finishing.writers_limit = true;
        s.want_more(1);
        s.start_variant(6);
        s.push_text(6, "The council will.");
        assert_eq!(s.finish(6, VariantState::Done(cut)), Finished::Kept);
    }

    #[test]
    fn a_long_prompt_shows_its_reading_until_the_first_words() {
        // Recorded: a 4k-token prompt showed an empty "streaming…" pane for about 70 s.
        let mut s = suggestion(1);
        s.start_variant(1);
        let reading = Reading {
            read: 1024,
            total: 4096,
            tokens_per_s: 150.4,
        };
        s.on_read(9, reading);
        assert_eq!(s.reading, None, "another job's reading is not this one's");
        s.on_read(1, reading);
        assert_eq!(
            s.reading.unwrap().to_string(),
            "reading the prompt: 1024 of 4096 tokens, 150 t/s"
        );
        s.push_text(1, "Words");
        assert_eq!(s.reading, None);
    }

    #[test]
    fn a_passage_that_did_not_fit_is_never_summarised_in_silence() {
        let mut s = suggestion(1);
        s.finishing.source = "A long article.".repeat(10);
        s.finishing.shorter = true;
        s.start_variant(1);
        s.push_text(1, "Short.");
        let mut cut = stats();
        cut.prompt_tokens = 3815;
        cut.dropped_tokens = 18713;
        assert_eq!(s.finish(1, VariantState::Done(cut)), Finished::Kept);
        let notes = &s.variants[0].notes;
        assert!(
            notes
                .iter()
                .any(|n| n.contains("read only 3815 of 22528 tokens (16%)")),
            "{notes:?}"
        );
    }

    #[test]
    fn parts_are_summarised_in_turn_then_their_summaries_make_the_variants() {
        let part = |t: &str| Prompt::Completion {
            parts: vec![Part::fixed(t)],
        };
        let plan = Plan {
            title: "Summarise".into(),
            prompt: part(&format!("Sum up: {}", crate::plan::PARTS_GO_HERE)),
            sampling: SamplingParams::default(),
            variants: 1,
            output: Output::Suggestions,
            parts: vec![part("one"), part("two")],
            finishing: Finishing {
                source: "The harbour closed early. The ferries stopped running. ".repeat(10),
                shorter: true,
                min_grounded: Some(0.5),
                ..Finishing::default()
            },
            pieces: Vec::new(),
            after_pieces: String::new(),
        };
        let mut s = Suggestion::from_plan(
            plan,
            Target::Insert {
                at: 0,
                context: String::new(),
                after: String::new(),
            },
        );
        assert!(s.wants_more());
        let (first, _, _) = s.start(1);
        assert_eq!(first, part("one"));
        assert!(!s.wants_more(), "one at a time");
        assert!(s.is_streaming());
        s.push_text(1, "Harbour shuts down. And a cut");
        let mut read = stats();
        read.prompt_tokens = 100;
        read.stop_reason = StopReason::MaxTokens;
        assert_eq!(
            s.finish(1, VariantState::Done(read.clone())),
            Finished::Part
        );
        let (second, _, _) = s.start(2);
        assert_eq!(second, part("two"));
        s.push_text(2, "Ferries halted.");
        assert_eq!(
            s.finish(2, VariantState::Done(read.clone())),
            Finished::Part
        );
        assert!(s.variants.is_empty(), "parts are not variants");
        let (last, _, _) = s.start(3);
        assert_eq!(last, part("Sum up: Harbour shuts down.\n\nFerries halted."));
        // Its words come from the parts' summaries more than from the text itself.
        s.push_text(3, "Harbour shuts; ferries halted; travellers stranded.");
        assert_eq!(s.finish(3, VariantState::Done(stats())), Finished::Kept);
        let notes = &s.variants[0].notes;
        assert!(
            notes
                .iter()
                .any(|n| n.contains("summarised in 2 parts") && n.contains("200 prompt tokens")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_part_that_fails_stops_the_summary_with_the_reason() {
        let mut s = suggestion(1);
        s.parts = Some(Parts {
            pending: vec![Prompt::Completion { parts: vec![] }; 3].into(),
            total: 3,
            summaries: Vec::new(),
            job: None,
            text: String::new(),
            read_tokens: 0,
            dropped_tokens: 0,
        });
        s.start(1);
        assert_eq!(
            s.finish(1, VariantState::Failed("crashed".into())),
            Finished::Failed
        );
        assert!(!s.wants_more());
        assert!(
            matches!(&s.variants[0].state, VariantState::Failed(r) if r.contains("part 1 of 3"))
        );
    }

    #[test]
    fn a_word_a_sentence_or_a_line_is_taken_and_the_rest_stays_on_offer() {
        assert_eq!(
            portion_len(" dark night. Then rain", Portion::Word),
            " dark".len()
        );
        assert_eq!(portion_len("下雨了。然后", Portion::Word), "下".len());
        assert_eq!(
            portion_len(" dark night. Then rain", Portion::Sentence),
            " dark night.".len()
        );
        assert_eq!(portion_len("one\ntwo", Portion::Line), "one\n".len());
        assert_eq!(portion_len("no end", Portion::Sentence), "no end".len());

        let mut s = suggestion(2);
        s.target = Target::Insert {
            at: 6,
            context: "It was".into(),
            after: String::new(),
        };
        s.start_variant(1);
        s.push_text(1, " a dark night. Then it rained.");
        s.finish(1, VariantState::Done(stats()));
        s.start_variant(2);
        s.push_text(2, " another.");
        s.finish(2, VariantState::Done(stats()));
        assert_eq!(s.take(Portion::Word), Some((6, " a".to_string())));
        assert_eq!(s.variants.len(), 1, "the rest of the one on show stays");
        assert_eq!(
            s.take(Portion::Sentence),
            Some((8, " dark night.".to_string()))
        );
        assert_eq!(s.accepted_text().as_deref(), Some(" Then it rained."));
        assert!(
            matches!(&s.target, Target::Insert { at: 20, context, .. } if context.ends_with("night."))
        );
        // A rewrite is taken whole.
        let mut rewrite = suggestion(1);
        rewrite.start_variant(1);
        rewrite.push_text(1, "Better.");
        rewrite.finish(1, VariantState::Done(stats()));
        assert_eq!(rewrite.take(Portion::Word), None);
    }

    #[test]
    fn variants_side_by_side_stream_and_end_under_their_own_jobs() {
        let mut s = suggestion(3);
        let (_, sampling, count) = s.start(10);
        assert_eq!(count, 3, "all three at once");
        assert_eq!(sampling.seed, SamplingParams::default().seed);
        assert_eq!(s.running_jobs(), vec![10, 11, 12]);
        // Interleaved, as a batched decode sends them.
        for (job, text) in [
            (10, "One "),
            (11, "One "),
            (12, "Three "),
            (10, "a."),
            (11, "a."),
        ] {
            assert!(s.push_text(job, text));
        }
        assert!(!s.push_text(13, "stale"), "not one of them");
        // The third ends first; the second repeats the first and is dropped once it ends,
        // and the third is still where it was.
        assert_eq!(s.finish(12, VariantState::Done(stats())), Finished::Kept);
        assert_eq!(s.finish(10, VariantState::Done(stats())), Finished::Kept);
        assert!(!s.wants_more(), "one still streams");
        assert_eq!(s.finish(11, VariantState::Done(stats())), Finished::Dropped);
        let texts: Vec<&str> = s.variants.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(texts, ["One a.", "Three"]);
        // Made up for one at a time, with the seed after the three.
        assert!(s.wants_more());
        let (_, sampling, count) = s.start(13);
        assert_eq!(count, 1);
        assert_eq!(
            sampling.seed,
            SamplingParams::default().seed.wrapping_add(3)
        );
    }

    #[test]
    fn a_drop_while_others_stream_keeps_their_text_in_place() {
        let mut s = suggestion(3);
        s.start(1);
        s.push_text(1, "Same.");
        assert_eq!(s.finish(1, VariantState::Done(stats())), Finished::Kept);
        s.push_text(2, "same");
        s.push_text(3, "Differ");
        assert_eq!(s.finish(2, VariantState::Done(stats())), Finished::Dropped);
        // Job 3's variant moved up one place; its text still lands in it.
        s.push_text(3, "ent.");
        assert_eq!(s.finish(3, VariantState::Done(stats())), Finished::Kept);
        let texts: Vec<&str> = s.variants.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(texts, ["Same.", "Different."]);
    }
}
