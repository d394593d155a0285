//! Generating: a prompt read, then its variants sampled side by side, each streamed as it
//! comes and ended on its own.

use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;

use super::channel::{Control, EventWriter, Job};
use super::lookup::{self, Acceptance, DecodeCost};
use super::session::{Session, keep_prefix};
use crate::engine::protocol::{
    Event, FlashAttention, GenerateOptions, GenerationStats, JobId, Prompt, SamplingParams,
    StopReason,
};
use crate::engine::stream::TextStream;

impl<'m> Session<'m> {
    pub(super) fn generate(
        &mut self,
        job: &Job,
        prompt: &Prompt,
        sampling: &SamplingParams,
        options: &GenerateOptions,
        control: &mut Control,
        out: &mut EventWriter,
    ) -> Result<()> {
        let n_ctx = self.ctx()?.n_ctx() as usize;
        let reserve = (sampling.max_tokens as usize).clamp(1, n_ctx / 2);
        let mut anchor = self.anchor.clone();
        let (tokens, dropped) = self.prompt_tokens(prompt, reserve, &mut anchor, out)?;
        self.anchor = anchor;
        if !options.reuse_prefix {
            // A request that reuses nothing reads from nothing.
            let ctx = self.ctx.as_mut().context("the model has no context")?;
            keep_prefix(ctx, &mut self.evaluated, 0);
        }
        let stats = GenerationStats {
            prompt_tokens: tokens.len() as u32,
            dropped_tokens: dropped as u32,
            with_flash: self.flash_attention == FlashAttention::On,
            ..self.unstarted_stats()
        };
        self.generate_waves(job, &tokens, stats, sampling, options, control, out)
    }

    /// The prompt read and the variants generated, wave after wave.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn generate_waves(
        &mut self,
        job: &Job,
        tokens: &[LlamaToken],
        mut stats: GenerationStats,
        sampling: &SamplingParams,
        options: &GenerateOptions,
        control: &mut Control,
        out: &mut EventWriter,
    ) -> Result<()> {
        let n_ctx = self.ctx()?.n_ctx() as usize;
        let mut reuse = options.reuse_prefix;
        // Variants side by side, as many as the cache holds with room for each one's answer;
        // more go in further waves over the same prompt, read once.
        let room = n_ctx.saturating_sub(tokens.len()) / (sampling.max_tokens as usize).max(1);
        let wave = room.clamp(1, self.n_seq_max.max(1)) as u32;
        let mut start = 0;
        while start < job.variants {
            let prompt_started = Instant::now();
            let reused = self.reuse_prefix(tokens, reuse)?;
            if start == 0 {
                stats.reused_tokens = reused as u32;
            }
            if !self.read_prompt(
                job,
                tokens,
                reused,
                prompt_started,
                control,
                out,
                &mut stats,
            )? {
                return Ok(());
            }
            let end = (start + wave).min(job.variants);
            self.stream_wave(job, start..end, sampling, options, control, out, &stats)?;
            if control.is_cancelled() {
                return Ok(());
            }
            start = end;
            // The next wave starts from the prompt again: only its last token is decoded.
            reuse = true;
        }
        Ok(())
    }

    /// Decodes the prompt after the `reused` tokens the cache holds, reporting progress;
    /// false when cancelled meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn read_prompt(
        &mut self,
        job: &Job,
        tokens: &[LlamaToken],
        reused: usize,
        prompt_started: Instant,
        control: &mut Control,
        out: &mut EventWriter,
        stats: &mut GenerationStats,
    ) -> Result<bool> {
        let total = tokens.len() as u32;
        let mut read = |done: usize| {
            let secs = prompt_started.elapsed().as_secs_f64().max(1e-9);
            out.send(&Event::PromptRead {
                job: job.id,
                read: (reused + done) as u32,
                total,
                tokens_per_s: done as f64 / secs,
            })
        };
        if !self.decode_prompt(&tokens[reused..], control, &mut read)? {
            return Ok(false);
        }
        if stats.prompt_tokens_per_s == 0.0 {
            let prompt_secs = prompt_started.elapsed().as_secs_f64();
            stats.prompt_tokens_per_s = (tokens.len() - reused) as f64 / prompt_secs.max(1e-9);
        }
        Ok(true)
    }

    /// Samples and streams the variants `variants` side by side after the decoded prompt, each
    /// in a sequence of its own that shares the prompt's cache cells (sequence 0 is the first,
    /// the one `evaluated` follows), one batched decode a step; each variant's end is sent as
    /// it stops.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stream_wave(
        &mut self,
        job: &Job,
        variants: std::ops::Range<u32>,
        sampling: &SamplingParams,
        options: &GenerateOptions,
        control: &mut Control,
        out: &mut EventWriter,
        prompt_stats: &GenerationStats,
    ) -> Result<()> {
        let n_ctx = self.ctx()?.n_ctx() as usize;
        let first_idx = self.batch.n_tokens() - 1;
        let prompt_len = self.evaluated.len();
        let lookup = options.lookup.unwrap_or(self.lookup);
        let mut branches: Vec<Branch> = variants
            .clone()
            .map(|variant| {
                let mut params = sampling.clone();
                params.seed = params.seed.wrapping_add(variant);
                let sampler = sampler_chain(
                    &params,
                    self.model,
                    &self.evaluated,
                    &Banned {
                        line_breaks: &self.line_breaks,
                        latin: &self.latin,
                    },
                )?;
                Ok(Branch {
                    variant,
                    seq: (variant - variants.start) as i32,
                    sampler,
                    text: TextStream::new(&sampling.stop),
                    idx: first_idx,
                    generated: 0,
                    first_at: None,
                    ttft_ms: 0.0,
                    stop: None,
                    pos: prompt_len,
                    rows: vec![first_idx],
                    draft: Draft {
                        history: if lookup {
                            self.evaluated.clone()
                        } else {
                            Vec::new()
                        },
                        ..Draft::default()
                    },
                })
            })
            .collect::<Result<_>>()?;
        for branch in &branches[1..] {
            self.ctx_mut()?
                .copy_kv_cache_seq(0, branch.seq, None, None)
                .map_err(|e| anyhow!("sharing the prompt between variants failed: {e}"))?;
        }
        let result = self.step_branches(
            job,
            &mut branches,
            (sampling, options, lookup),
            (n_ctx, prompt_len),
            control,
            out,
            prompt_stats,
        );
        // The other sequences go, whatever happened; sequence 0 keeps the first variant.
        for branch in &branches[1..] {
            let _ = self
                .ctx_mut()?
                .clear_kv_cache_seq(Some(branch.seq as u32), None, None);
        }
        result
    }

    /// The branch's next token, whole characters only; None where the answer ends.
    pub(super) fn sample_next(
        &self,
        job: &Job,
        branch: &mut Branch,
        sampling: &SamplingParams,
        options: &GenerateOptions,
    ) -> Result<Option<LlamaToken>> {
        let vocab = self.model.vocab();
        // `sample` also accepts the token into the chain's state (penalties, grammar).
        let mut token = branch.sampler.sample(self.ctx()?, branch.idx);
        let needed = branch.text.continuation_needed();
        if !self.fits(token, needed) {
            token = self.resample_fitting(&mut branch.sampler, branch.idx, needed);
        }
        if branch.first_at.is_none() {
            branch.first_at = Some(Instant::now());
            branch.ttft_ms = job.received.elapsed().as_secs_f64() * 1000.0;
        }
        // An answer that would end before it says anything is no answer (measured: 2 of 24
        // English ghosts were a line break and the end): the end waits for text. Not where a
        // grammar decides when the answer may end.
        if vocab.is_eog(token)
            && !options.ignore_eos
            && !job.begun
            && !branch.text.has_text()
            && sampling.grammar.trim().is_empty()
        {
            token = self.resample_where(&mut branch.sampler, branch.idx, |t| !vocab.is_eog(t));
        }
        Ok((options.ignore_eos || !vocab.is_eog(token)).then_some(token))
    }

    /// The generation loop of `stream_wave`: each live branch samples its next token and
    /// checks its drafted ones (`verify`), the ended ones are sent, and the rest's tokens (with
    /// new drafts) go in one batched decode, until none is left.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step_branches(
        &mut self,
        job: &Job,
        branches: &mut [Branch],
        (sampling, options, lookup): (&SamplingParams, &GenerateOptions, bool),
        (n_ctx, prompt_len): (usize, usize),
        control: &mut Control,
        out: &mut EventWriter,
        prompt_stats: &GenerationStats,
    ) -> Result<()> {
        loop {
            // The cache holds the prompt once and each variant's confirmed tokens (a draft's
            // are either confirmed or taken out before the next decode).
            let used = prompt_len + branches.iter().map(|b| b.pos - prompt_len).sum::<usize>();
            let mut next: Vec<(usize, LlamaToken)> = Vec::with_capacity(branches.len());
            for (i, branch) in branches.iter_mut().enumerate() {
                if branch.stop.is_some() {
                    continue;
                }
                if branch.generated >= sampling.max_tokens {
                    branch.stop = Some(StopReason::MaxTokens);
                    continue;
                }
                if used >= n_ctx {
                    branch.stop = Some(StopReason::ContextFull);
                    continue;
                }
                if let Some(token) = self.verify(job, branch, (sampling, options), control, out)? {
                    next.push((i, token));
                }
            }
            for branch in branches.iter_mut() {
                if let Some(stop) = branch.stop
                    && !control.finished[branch.variant as usize]
                {
                    control.finished[branch.variant as usize] = true;
                    end_branch(job, branch, stop, prompt_stats, out)?;
                }
            }
            if next.is_empty() {
                return Ok(());
            }
            let used = prompt_len + branches.iter().map(|b| b.pos - prompt_len).sum::<usize>();
            let room = n_ctx.saturating_sub(used + next.len());
            let drafts = if lookup {
                self.drafts(branches, &next, room, sampling.max_tokens)?
            } else {
                vec![Vec::new(); next.len()]
            };
            self.decode_next(branches, &next, drafts)?;
        }
    }

    /// Samples the branch's next token from its last decode, then goes on through the tokens
    /// drafted after it while the model samples the same ones: each sampled token is what
    /// plain decoding would have sampled there, from the same distribution with the same
    /// sampler state. The drafted tokens it did not confirm leave the cache. Returns the
    /// token to decode next, or None where the branch stopped.
    fn verify(
        &mut self,
        job: &Job,
        branch: &mut Branch,
        (sampling, options): (&SamplingParams, &GenerateOptions),
        control: &mut Control,
        out: &mut EventWriter,
    ) -> Result<Option<LlamaToken>> {
        let drafted = std::mem::take(&mut branch.draft.pending);
        let mut confirmed = 0;
        let mut next = None;
        while branch.stop.is_none() {
            if branch.generated >= sampling.max_tokens {
                branch.stop = Some(StopReason::MaxTokens);
                break;
            }
            branch.idx = branch.rows[confirmed];
            let Some(token) = self.sample_next(job, branch, sampling, options)? else {
                branch.stop = Some(StopReason::EndOfText);
                break;
            };
            if !self.take(job, branch, token, sampling, control, out)? {
                break;
            }
            if drafted.get(confirmed) == Some(&token) {
                confirmed += 1;
            } else {
                next = Some(token);
                break;
            }
        }
        if !drafted.is_empty() {
            branch
                .draft
                .checked(confirmed, next.is_some() && confirmed < drafted.len());
        }
        // The drafted tokens after the confirmed ones leave the cache.
        branch.pos += confirmed;
        if confirmed < drafted.len() {
            let ctx = self.ctx.as_mut().context("the model has no context")?;
            if branch.seq == 0 {
                keep_prefix(ctx, &mut self.evaluated, branch.pos);
            } else {
                ctx.clear_kv_cache_seq(Some(branch.seq as u32), Some(branch.pos as u32), None)
                    .map_err(|e| anyhow!("taking back a draft failed: {e}"))?;
            }
        }
        Ok(next)
    }

    /// A token sampled for `branch`: counted, its text sent, and whether the branch goes on
    /// (its stop set where not).
    fn take(
        &self,
        job: &Job,
        branch: &mut Branch,
        token: LlamaToken,
        sampling: &SamplingParams,
        control: &mut Control,
        out: &mut EventWriter,
    ) -> Result<bool> {
        branch.generated += 1;
        if !branch.draft.history.is_empty() {
            branch.draft.history.push(token);
        }
        // special = false: control tokens such as <|im_end|> render as nothing.
        let piece = self.model.vocab().token_to_piece(token, false, None);
        let step = branch.text.push(&piece);
        if !step.text.is_empty() {
            out.send(&Event::TokenGenerated {
                job: job.id + JobId::from(branch.variant),
                text: step.text,
            })?;
        }
        branch.stop = if step.stopped {
            Some(StopReason::StopString)
        } else if branch.generated >= sampling.max_tokens {
            Some(StopReason::MaxTokens)
        } else if control.is_cancelled() || control.variant_cancelled(branch.variant) {
            Some(StopReason::Cancelled)
        } else {
            None
        };
        Ok(branch.stop.is_none())
    }

    /// The tokens to draft after each of `next`, as long as each pays (`lookup`), within
    /// `room` cells of the cache, the batch and what the answer may still take.
    fn drafts(
        &mut self,
        branches: &mut [Branch],
        next: &[(usize, LlamaToken)],
        room: usize,
        max_tokens: u32,
    ) -> Result<Vec<Vec<LlamaToken>>> {
        let n_batch = self.ctx()?.n_batch() as usize;
        let share = (room / next.len())
            .min(n_batch.saturating_sub(next.len()) / next.len())
            .min(lookup::DRAFT_MAX);
        Ok(next
            .iter()
            .map(|&(i, _)| {
                let branch = &mut branches[i];
                let left = max_tokens.saturating_sub(branch.generated) as usize;
                branch
                    .draft
                    .propose(share.min(left), (&self.decode_cost, next.len()))
            })
            .collect())
    }

    /// One batched decode of each branch's next token and the tokens drafted after it, each
    /// with its logits; its time goes into the cost of a decode.
    fn decode_next(
        &mut self,
        branches: &mut [Branch],
        next: &[(usize, LlamaToken)],
        drafts: Vec<Vec<LlamaToken>>,
    ) -> Result<()> {
        self.batch.clear();
        let mut row = 0;
        for (&(i, token), drafted) in next.iter().zip(drafts) {
            let branch = &mut branches[i];
            branch.rows.clear();
            for (k, &t) in std::iter::once(&token).chain(&drafted).enumerate() {
                self.batch
                    .add(t, (branch.pos + k) as i32, &[branch.seq], true)?;
                branch.rows.push(row);
                row += 1;
            }
            if branch.seq == 0 {
                self.evaluated.push(token);
                self.evaluated.extend_from_slice(&drafted);
            }
            branch.pos += 1;
            branch.draft.decodes += 1;
            branch.draft.drafted += drafted.len() as u32;
            branch.draft.pending = drafted;
        }
        let started = Instant::now();
        self.ctx
            .as_mut()
            .context("the model has no context")?
            .decode(&mut self.batch)
            .map_err(|e| anyhow!("decoding failed: {e}"))?;
        self.decode_cost
            .record(row as usize, started.elapsed().as_secs_f64());
        Ok(())
    }

    /// The stats of a variant that never started (a newer request came first).
    pub(super) fn unstarted_stats(&self) -> GenerationStats {
        GenerationStats {
            stop_reason: StopReason::Cancelled,
            threads: self.threads as u32,
            ..GenerationStats::default()
        }
    }
}

/// One variant being generated: its own sequence in the KV cache, sampler and text.
pub(super) struct Branch {
    pub(super) variant: u32,
    pub(super) seq: i32,
    pub(super) sampler: LlamaSampler,
    pub(super) text: TextStream,
    /// Where its logits are in the last batch decoded.
    pub(super) idx: i32,
    pub(super) generated: u32,
    pub(super) first_at: Option<Instant>,
    pub(super) ttft_ms: f64,
    pub(super) stop: Option<StopReason>,
    /// Where its next token goes in its sequence: after the prompt and its confirmed tokens.
    pub(super) pos: usize,
    /// The logits rows of its tokens in the last batch: its sampled token's, then each
    /// drafted one's.
    pub(super) rows: Vec<i32>,
    pub(super) draft: Draft,
}

/// A branch's prompt-lookup drafting.
#[derive(Default)]
pub(super) struct Draft {
    /// The prompt and the tokens sampled so far, where drafts are looked up; empty when the
    /// branch does not draft.
    pub(super) history: Vec<LlamaToken>,
    /// The tokens drafted in the last decode, after its sampled one, to be checked.
    pub(super) pending: Vec<LlamaToken>,
    /// The length of the n-gram match that found them.
    ngram: usize,
    acceptance: Acceptance,
    pub(super) drafted: u32,
    pub(super) accepted: u32,
    pub(super) decodes: u32,
}

impl Draft {
    /// The tokens to draft after the history, at most `max`, as many as pay.
    fn propose(&mut self, max: usize, cost: (&DecodeCost, usize)) -> Vec<LlamaToken> {
        if self.history.is_empty() {
            return Vec::new();
        }
        let Some((mut tokens, ngram)) = lookup::draft(&self.history, max) else {
            return Vec::new();
        };
        let k = self.acceptance.choose(ngram, tokens.len(), cost);
        tokens.truncate(k);
        self.ngram = ngram;
        tokens
    }

    /// The last draft was checked: `confirmed` of its tokens held, the next did not
    /// (`rejected`) or the answer ended first.
    fn checked(&mut self, confirmed: usize, rejected: bool) {
        self.accepted += confirmed as u32;
        self.acceptance.record(self.ngram, confirmed, rejected);
    }
}

/// Sends what a stopped branch still holds back and its end.
pub(super) fn end_branch(
    job: &Job,
    branch: &mut Branch,
    stop: StopReason,
    prompt_stats: &GenerationStats,
    out: &mut EventWriter,
) -> Result<()> {
    let id = job.id + JobId::from(branch.variant);
    let tail = branch.text.finish();
    if !tail.text.is_empty() && stop != StopReason::Cancelled {
        out.send(&Event::TokenGenerated {
            job: id,
            text: tail.text,
        })?;
    }
    let mut stats = prompt_stats.clone();
    stats.generated_tokens = branch.generated;
    stats.drafted = branch.draft.drafted;
    stats.accepted = branch.draft.accepted;
    stats.decodes = branch.draft.decodes;
    stats.ttft_ms = branch.ttft_ms;
    stats.stop_reason = stop;
    if let Some(first) = branch.first_at
        && branch.generated > 1
    {
        stats.tokens_per_s =
            f64::from(branch.generated - 1) / first.elapsed().as_secs_f64().max(1e-9);
    }
    out.send(&Event::GenerationFinished { job: id, stats })
}

/// Tokens an answer may be kept from: those with a line break (`one_line`), those with a Latin
/// letter (`no_latin`).
pub(super) struct Banned<'a> {
    pub line_breaks: &'a [LlamaToken],
    pub latin: &'a [LlamaToken],
}

/// The chain llama.cpp's own tools use: the grammar first (where the prompt gives one), then
/// DRY and the penalties, top-k, top-p, min-p, temperature and a seeded draw; greedy when the
/// temperature is zero or below, so a seed reproduces it exactly. DRY sees the whole prompt
/// (`evaluated`: a summary must not copy the passage's sentences), the repeat penalty its
/// last `repeat_last_n` tokens, as llama.cpp's own tools and llama-server count them (the
/// same model and seed write the same text either way); the grammar never sees it: it
/// constrains the answer alone, and a token it does not allow would abort llama.cpp. A
/// one-line answer has `line_breaks` biased out before anything else: a bias costs a pass
/// over the candidates, a grammar a parse of each (measured: one-line GBNF halved the default
/// model's tokens per second).
pub(super) fn sampler_chain(
    params: &SamplingParams,
    model: &LlamaModel,
    evaluated: &[LlamaToken],
    banned: &Banned,
) -> Result<LlamaSampler> {
    let history = match usize::try_from(params.repeat_last_n) {
        Ok(n) => &evaluated[evaluated.len().saturating_sub(n)..],
        Err(_) => evaluated, // -1: the whole context
    };
    let mut samplers = Vec::new();
    let mut out: Vec<LlamaToken> = Vec::new();
    if params.one_line {
        out.extend_from_slice(banned.line_breaks);
    }
    if params.no_latin {
        out.extend_from_slice(banned.latin);
    }
    if !out.is_empty() {
        let biases: Vec<LlamaLogitBias> = out
            .iter()
            .map(|&token| LlamaLogitBias::new(token, f32::NEG_INFINITY))
            .collect();
        samplers.push(LlamaSampler::logit_bias(model.n_vocab(), &biases));
    }
    if !params.grammar.trim().is_empty() {
        let grammar = LlamaSampler::grammar(model, &params.grammar, "root").map_err(|e| {
            anyhow!("the prompt's grammar is not valid GBNF with a root rule ({e}); fix it in the prompt file")
        })?;
        samplers.push(grammar);
    }
    if params.dry_multiplier > 0.0 {
        // llama.cpp's default base and sequence breakers; the window is the whole context
        // (llama.cpp reads a negative one as none at all).
        let window =
            i32::try_from(evaluated.len() + params.max_tokens as usize).unwrap_or(i32::MAX);
        let mut dry = LlamaSampler::dry(
            model,
            params.dry_multiplier,
            1.75,
            params.dry_allowed_length.max(1),
            window,
            ["\n", ":", "\"", "*"],
        );
        dry.accept_many(evaluated);
        samplers.push(dry);
    }
    // A neutral penalty still scans the history each token: leave it out.
    if params.repeat_penalty != 1.0 && params.repeat_last_n != 0 {
        let mut penalties = LlamaSampler::penalties(
            model.n_vocab(),
            params.repeat_last_n,
            params.repeat_penalty.max(f32::MIN_POSITIVE),
            0.0,
            0.0,
        );
        penalties.accept_many(history);
        samplers.push(penalties);
    }
    if params.temperature <= 0.0 {
        samplers.push(LlamaSampler::greedy());
        return Ok(LlamaSampler::chain_simple(samplers));
    }
    if params.top_k > 0 {
        samplers.push(LlamaSampler::top_k(params.top_k));
    }
    if params.top_p > 0.0 && params.top_p < 1.0 {
        samplers.push(LlamaSampler::top_p(params.top_p, 1));
    }
    if params.min_p > 0.0 {
        samplers.push(LlamaSampler::min_p(params.min_p, 1));
    }
    samplers.push(LlamaSampler::temp(params.temperature));
    samplers.push(LlamaSampler::dist(params.seed));
    Ok(LlamaSampler::chain_simple(samplers))
}
