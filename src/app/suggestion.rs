//! A streamed suggestion: what was asked, where the answer goes, and its variants (each kept
//! once generated, to cycle through). Pure state; `App` drives it.

use crate::engine::protocol::{GenerationStats, JobId, Prompt, SamplingParams};
use crate::sanitize::strip_controls;

/// Where an accepted suggestion goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Inserted at a char index (continue, summarise), where the text just before it was
    /// `context` when asked: accepting checks it is still there.
    Insert { at: usize, context: String },
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
    pub text: String,
    pub state: VariantState,
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
    /// The job streaming now, and which variant it fills.
    pub job: Option<(JobId, usize)>,
    /// Lines scrolled in the pane.
    pub scroll: usize,
}

impl Suggestion {
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
            job: None,
            scroll: 0,
        }
    }

    /// Starts the next variant under `job`, with its own seed; returns its sampling.
    pub fn start_variant(&mut self, job: JobId) -> SamplingParams {
        let index = self.variants.len();
        self.variants.push(Variant {
            text: String::new(),
            state: VariantState::Streaming,
        });
        self.job = Some((job, index));
        let mut sampling = self.sampling.clone();
        sampling.seed = sampling.seed.wrapping_add(index as u32);
        sampling
    }

    fn streaming(&mut self, job: JobId) -> Option<&mut Variant> {
        match self.job {
            Some((j, index)) if j == job => self.variants.get_mut(index),
            _ => None,
        }
    }

    /// Appends streamed text; false if the job is not this suggestion's (a stale event).
    pub fn push_text(&mut self, job: JobId, text: &str) -> bool {
        match self.streaming(job) {
            Some(variant) => {
                variant.text.push_str(&strip_controls(text));
                true
            }
            None => false,
        }
    }

    pub fn finish(&mut self, job: JobId, state: VariantState) -> bool {
        let Some(variant) = self.streaming(job) else {
            return false;
        };
        variant.state = state;
        self.job = None;
        true
    }

    /// Whether another variant should be asked for.
    pub fn wants_more(&self) -> bool {
        self.job.is_none()
            && self.variants.len() < self.wanted
            && self
                .variants
                .last()
                .is_none_or(|v| matches!(v.state, VariantState::Done(_)))
    }

    pub fn is_streaming(&self) -> bool {
        self.job.is_some()
    }

    pub fn current(&self) -> Option<&Variant> {
        self.variants.get(self.current)
    }

    /// The text accepting would insert: a rewrite loses the blank lines a model wraps it in.
    pub fn accepted_text(&self) -> Option<String> {
        let variant = self.current()?;
        let text = match &self.target {
            // The passage keeps the spacing around it (a selection often ends with its line
            // break); the model's own padding goes.
            Target::Replace { original, .. } => {
                let lead = &original[..original.len() - original.trim_start().len()];
                let trail = &original[original.trim_end().len()..];
                format!("{lead}{}{trail}", variant.text.trim())
            }
            Target::Insert { .. } => variant.text.trim_end().to_string(),
        };
        (!text.trim().is_empty()).then_some(text)
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

    fn stats() -> GenerationStats {
        GenerationStats {
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
        assert_eq!(s.accepted_text().as_deref(), Some("Better[2J text\n\n"));
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
}
