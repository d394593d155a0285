//! A rewrite made a sentence at a time (`per_sentence` prompts, see `plan::Piece`): each
//! sentence is its own request, its answer finished and checked against that sentence alone,
//! and the variant grows by whole sentences. A sentence whose answer is refused (empty, a
//! lead-in, another text) keeps the writer's words, so one bad answer costs one sentence's
//! fix, never the passage.

use crate::engine::protocol::{GenerationStats, JobId, Prompt, SamplingParams, StopReason};
use crate::plan::Piece;
use crate::prompt::finish::Refused;
use crate::sanitize::strip_controls;

#[derive(Debug, Clone, PartialEq)]
pub struct Pieces {
    all: Vec<Piece>,
    /// What follows the last piece.
    after: String,
    /// The piece to ask for next (or streaming now); 0 before a variant's first.
    next: usize,
    /// The piece streaming now, and its text so far.
    job: Option<JobId>,
    text: String,
    /// The variant the pieces fill.
    pub index: usize,
    /// The pieces' stats so far, summed.
    stats: Option<GenerationStats>,
    /// What finishing did to each sentence's answer, and the sentences kept as written.
    remarks: Vec<String>,
    /// The variant's sampling: its seed and temperature hold for each of its pieces.
    base: SamplingParams,
}

impl Pieces {
    pub fn new(all: Vec<Piece>, after: String) -> Self {
        Pieces {
            all,
            after,
            next: 0,
            job: None,
            text: String::new(),
            index: 0,
            stats: None,
            remarks: Vec::new(),
            base: SamplingParams::default(),
        }
    }

    pub fn total(&self) -> usize {
        self.all.len()
    }

    /// A variant's pieces are under way (some asked for, not all answered).
    pub fn in_progress(&self) -> bool {
        self.next > 0 || self.job.is_some()
    }

    pub fn job(&self) -> Option<JobId> {
        self.job
    }

    /// Starts the next piece under `job`; `variant` is the new variant's place and sampling
    /// when the pieces start over for it. Returns the piece's prompt and sampling, with the
    /// variant's seed and temperature.
    pub fn start(
        &mut self,
        job: JobId,
        variant: Option<(usize, SamplingParams)>,
    ) -> (Prompt, SamplingParams) {
        if let Some((index, base)) = variant {
            self.index = index;
            self.next = 0;
            self.stats = None;
            self.remarks.clear();
            self.base = base;
        }
        let piece = &self.all[self.next];
        self.job = Some(job);
        self.text = strip_controls(&piece.finishing.prefill).into_owned();
        let mut sampling = piece.sampling.clone();
        sampling.seed = self.base.seed;
        sampling.temperature = self.base.temperature;
        (piece.prompt.clone(), sampling)
    }

    /// Streamed text for `job`; false when it is not the piece streaming.
    pub fn push_text(&mut self, job: JobId, text: &str) -> bool {
        if self.job != Some(job) {
            return false;
        }
        self.text.push_str(&strip_controls(text));
        true
    }

    /// The piece streaming under `job` is done: returns the text the variant grows by (the
    /// text before the sentence and its answer, or the sentence as written), and whether it
    /// was the last piece, with the stats of all of them then. None when `job` is not it.
    pub fn done(
        &mut self,
        job: JobId,
        stats: &GenerationStats,
    ) -> Option<(String, Option<GenerationStats>)> {
        if self.job != Some(job) {
            return None;
        }
        self.job = None;
        let piece = &self.all[self.next];
        let sentence = self.next + 1;
        let answer = match answer(piece, &self.text, stats.stop_reason) {
            Ok((answer, notes)) => {
                let said = notes
                    .into_iter()
                    .map(|n| format!("sentence {sentence}: {n}"));
                self.remarks.extend(said);
                answer
            }
            Err(refused) => {
                let why = format!("sentence {sentence}: {refused}, kept as written");
                self.remarks.push(why);
                piece.finishing.source.clone()
            }
        };
        let grown = format!("{}{answer}", piece.before);
        self.stats = Some(match self.stats.take() {
            None => stats.clone(),
            Some(sum) => add(sum, stats),
        });
        self.next += 1;
        if self.next < self.all.len() {
            return Some((grown, None));
        }
        self.next = 0;
        Some((format!("{grown}{}", self.after), self.stats.take()))
    }

    /// The piece streaming under `job` failed or was cancelled: the rest of the passage as
    /// written, so what the variant holds is still the whole passage. None when `job` is not
    /// the piece streaming.
    pub fn stopped(&mut self, job: JobId) -> Option<String> {
        if self.job != Some(job) {
            return None;
        }
        self.job = None;
        let rest = self.rest();
        self.next = 0;
        Some(rest)
    }

    /// The sentences not done yet (the one streaming included) as they were written, and
    /// what follows them.
    pub fn rest(&self) -> String {
        let mut rest: String = self.all[self.next..]
            .iter()
            .map(|p| format!("{}{}", p.before, p.finishing.source))
            .collect();
        rest.push_str(&self.after);
        rest
    }

    /// What the writer is told of how the variant was made.
    pub fn note(&self) -> String {
        let mut note = format!(
            "corrected a sentence at a time ({} sentences)",
            self.all.len()
        );
        for remark in &self.remarks {
            note.push_str(&format!("; {remark}"));
        }
        note
    }
}

/// A piece's answer `text`, finished and checked against its own sentence, with what
/// finishing did to it.
fn answer(piece: &Piece, text: &str, stop: StopReason) -> Result<(String, Vec<String>), Refused> {
    let finished = piece.finishing.finish(text, stop);
    piece.finishing.check(&finished.text, &[])?;
    Ok((finished.text.trim().to_string(), finished.notes))
}

/// Two pieces' stats as one request's: counts add up, the first token is the first piece's,
/// and the rates are over the time both took.
fn add(sum: GenerationStats, next: &GenerationStats) -> GenerationStats {
    let seconds = |tokens: u32, rate: f64| {
        if rate > 0.0 {
            f64::from(tokens) / rate
        } else {
            0.0
        }
    };
    let generated = sum.generated_tokens + next.generated_tokens;
    let gen_time = seconds(sum.generated_tokens, sum.tokens_per_s)
        + seconds(next.generated_tokens, next.tokens_per_s);
    let read = |s: &GenerationStats| s.prompt_tokens.saturating_sub(s.reused_tokens);
    let read_time = seconds(read(&sum), sum.prompt_tokens_per_s)
        + seconds(read(next), next.prompt_tokens_per_s);
    let rate = |tokens: u32, time: f64| {
        if time > 0.0 {
            f64::from(tokens) / time
        } else {
            0.0
        }
    };
    GenerationStats {
        prompt_tokens: sum.prompt_tokens + next.prompt_tokens,
        reused_tokens: sum.reused_tokens + next.reused_tokens,
        dropped_tokens: sum.dropped_tokens + next.dropped_tokens,
        generated_tokens: generated,
        ttft_ms: sum.ttft_ms,
        prompt_tokens_per_s: rate(read(&sum) + read(next), read_time),
        tokens_per_s: rate(generated, gen_time),
        stop_reason: next.stop_reason,
        threads: next.threads,
        estimated: sum.estimated || next.estimated,
        with_flash: next.with_flash,
        drafted: sum.drafted + next.drafted,
        accepted: sum.accepted + next.accepted,
        decodes: sum.decodes + next.decodes,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::engine::protocol::{GenerationStats, StopReason};
    use crate::plan::{Layers, plan};
    use crate::prompt::{PromptInput, PromptLibrary};
    use crate::sampling::Sampling;
    use crate::suggestion::{Finished, Suggestion, Target, VariantState};

    const PASSAGE: &str = "The council have met on Tuesday.  Their was many question about the park.\n\nThe mayor promise an answer.\n";

    fn grammar_fix(passage: &str) -> Suggestion {
        let library = PromptLibrary::built_in().unwrap();
        let template = library.get("rewrite-grammar").unwrap();
        let settings = Sampling::default();
        let layers = Layers {
            settings: &settings,
            overrides: &settings,
            default_variants: 1,
            raw: false,
            language: "auto",
            n_ctx: Some(4096),
        };
        let input = PromptInput {
            selection: passage.into(),
            ..PromptInput::default()
        };
        let plan = plan(template, &input, &BTreeMap::new(), layers).unwrap();
        let target = Target::Replace {
            start: 0,
            end: passage.chars().count(),
            original: passage.into(),
        };
        Suggestion::from_plan(plan, target)
    }

    fn done(tokens: u32) -> VariantState {
        VariantState::Done(GenerationStats {
            prompt_tokens: 100,
            reused_tokens: 60,
            generated_tokens: tokens,
            ttft_ms: 50.0,
            prompt_tokens_per_s: 400.0,
            tokens_per_s: 100.0,
            stop_reason: StopReason::EndOfText,
            dropped_tokens: 0,
            threads: 1,
            estimated: false,
            with_flash: false,
            drafted: 0,
            accepted: 0,
            decodes: 0,
        })
    }

    /// Answers the next sentence under `job` with `text` (after the answer's begun first word).
    fn answer(s: &mut Suggestion, job: u64, text: &str) -> Finished {
        assert!(s.wants_more());
        let (_, _, count) = s.start(job);
        assert_eq!(count, 1, "a sentence at a time");
        assert_eq!(s.running_jobs(), [job]);
        assert!(s.push_text(job, text));
        s.finish(job, done(10))
    }

    #[test]
    fn each_sentence_is_asked_alone_and_one_rewritten_keeps_the_writers_words() {
        let mut s = grammar_fix(PASSAGE);
        assert_eq!(s.pieces.as_ref().map(|p| p.total()), Some(3));
        // The answers begin with each sentence's first word, given to the model.
        assert_eq!(
            answer(&mut s, 1, " council met on Tuesday."),
            Finished::Part
        );
        assert_eq!(
            s.variants.len(),
            1,
            "one variant, grown a sentence at a time"
        );
        assert_eq!(s.variants[0].text, "The council met on Tuesday.");
        assert!(matches!(s.variants[0].state, VariantState::Streaming));
        // Another sentence altogether: the writer's words stay.
        assert_eq!(
            answer(
                &mut s,
                2,
                " park is lovely and everyone in town likes it very much."
            ),
            Finished::Part
        );
        assert_eq!(
            answer(&mut s, 3, " mayor promised an answer."),
            Finished::Kept
        );
        let variant = &s.variants[0];
        // The text between sentences is the writer's, spaces and blank line included.
        assert_eq!(
            variant.text,
            "The council met on Tuesday.  Their was many question about the park.\n\nThe mayor promised an answer."
        );
        let VariantState::Done(stats) = &variant.state else {
            panic!("{:?}", variant.state);
        };
        assert_eq!(stats.generated_tokens, 30, "the stats of all three");
        assert_eq!(
            stats.ttft_ms, 50.0,
            "the first token is the first sentence's"
        );
        assert!((stats.tokens_per_s - 100.0).abs() < 1e-9);
        let notes = variant.notes.join("; ");
        assert!(
            notes.contains("a sentence at a time (3 sentences)"),
            "{notes}"
        );
        assert!(
            notes.contains("sentence 2: changed more than a correction"),
            "{notes}"
        );
        assert!(!notes.contains("sentence 1:"), "{notes}");
        assert!(!s.wants_more());
        assert_eq!(
            s.accepted_text().as_deref(),
            Some(
                "The council met on Tuesday.  Their was many question about the park.\n\nThe mayor promised an answer.\n"
            )
        );
    }

    #[test]
    fn taken_or_cancelled_half_way_the_sentences_not_done_are_as_written() {
        let mut s = grammar_fix(PASSAGE);
        assert_eq!(
            answer(&mut s, 1, " council met on Tuesday."),
            Finished::Part
        );
        s.start(2);
        s.push_text(2, " was many");
        let whole = "The council met on Tuesday.  Their was many question about the park.\n\nThe mayor promise an answer.\n";
        assert_eq!(s.accepted_text().as_deref(), Some(whole));
        assert_eq!(
            s.finish(2, VariantState::Failed("cancelled".into())),
            Finished::Failed
        );
        assert_eq!(s.variants[0].text, whole);
        assert!(s.running_jobs().is_empty());
        assert!(!s.wants_more(), "a failed variant is not asked again");
    }

    #[test]
    fn a_second_variant_starts_the_sentences_over_with_its_own_seed() {
        let mut s = grammar_fix("One sentence here is fine. Another one is fine too.");
        s.want_more(0);
        s.wanted = 2;
        assert_eq!(answer(&mut s, 1, " sentence here is fine."), Finished::Part);
        assert_eq!(answer(&mut s, 2, " one is fine too."), Finished::Kept);
        let first_seed = s.start(3).1.seed;
        s.push_text(3, " sentence is fine here.");
        assert_eq!(s.finish(3, done(5)), Finished::Part);
        assert_eq!(s.variants.len(), 2);
        assert_eq!(s.variants[1].text, "One sentence is fine here.");
        let (_, sampling, _) = s.start(4);
        assert_eq!(
            sampling.seed, first_seed,
            "one seed for a variant's sentences"
        );
    }

    #[test]
    fn one_sentence_or_chinese_is_asked_whole() {
        assert!(
            grammar_fix("Just one sentence with a eror.")
                .pieces
                .is_none()
        );
        assert!(
            grammar_fix("本市首条线路于本周一正式开通。市民可以免费乘座。")
                .pieces
                .is_none()
        );
    }
}
