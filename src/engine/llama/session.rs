//! A loaded model's session: its context, the tokens it holds, and the prompt turned into

//! tokens that fit.

use anyhow::{Context, Result, anyhow, bail};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::session::LlamaStateSeqFlags;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::channel::{Control, EventWriter};
use super::load::{MAX_PARALLEL, context_params};
use crate::engine::fit::{self, Shortenable};
use crate::engine::protocol::{
    ChatMessage, Choice, EngineSettings, Event, Fit, FlashAttention, LoadParams, Part, Prompt,
};
use crate::engine::stream::{is_continuation, piece_fits};

/// Prompt tokens decoded between two progress reports: llama.cpp's own micro-batch (n_ubatch,
/// 512 by default), so reporting splits no work it would have done in one piece.
pub(super) const PROGRESS_TOKENS: usize = 512;

/// A piece of the rendered prompt: template text (may hold special tokens) or the writer's text.
pub(super) enum Segment {
    Template(String),
    Text { text: String, fit: Fit },
}

pub(super) struct Session<'m> {
    pub(super) model: &'m LlamaModel,
    /// Always there but for the moment a new one replaces it (`set_threads`).
    pub(super) ctx: Option<LlamaContext<'m>>,
    /// The threads `ctx` decodes with.
    pub(super) threads: usize,
    /// The sequences `ctx` holds at once (`MAX_PARALLEL`).
    pub(super) n_seq_max: usize,
    /// Whether `ctx` uses flash attention, and what chose that.
    pub(super) flash_attention: FlashAttention,
    pub(super) flash_chosen_by: (Choice, String),
    pub(super) chat_template: Option<LlamaChatTemplate>,
    /// The tokens whose KV entries sequence 0 holds, in order.
    pub(super) evaluated: Vec<LlamaToken>,
    pub(super) batch: LlamaBatch<'static>,
    /// Per token: leading continuation bytes and length of its piece (both capped at 255).
    pub(super) piece_shape: Vec<(u8, u8)>,
    /// The tokens whose piece holds a line break: kept out of a one-line answer.
    pub(super) line_breaks: Vec<LlamaToken>,
    /// The tokens whose piece holds an ASCII letter: kept out of an answer with `no_latin`.
    pub(super) latin: Vec<LlamaToken>,
    /// The start of the writer's text where the last over-long draft was cut, so the next
    /// prompt cuts at the same place and its cached prefix stays valid.
    pub(super) anchor: Option<String>,
    /// Prompt-lookup drafting, unless a request says otherwise.
    pub(super) lookup: bool,
    /// What a decode costs by its size, as measured: how long a draft pays.
    pub(super) decode_cost: super::lookup::DecodeCost,
}

impl<'m> Session<'m> {
    pub(super) fn new(
        model: &'m LlamaModel,
        ctx: LlamaContext<'m>,
        chat_template: Option<LlamaChatTemplate>,
        threads: i32,
        (flash_attention, flash_chosen_by): (FlashAttention, (Choice, String)),
    ) -> Self {
        let n_batch = ctx.n_batch() as usize;
        let vocab = model.vocab();
        let mut line_breaks = Vec::new();
        let mut latin = Vec::new();
        let piece_shape = vocab
            .tokens()
            .map(|token| {
                let piece = vocab.token_to_piece(token, false, None);
                let is_eog = vocab.is_eog(token);
                if piece.iter().any(|&b| b == b'\n' || b == b'\r') && !is_eog {
                    line_breaks.push(token);
                }
                if piece.iter().any(u8::is_ascii_alphabetic) && !is_eog {
                    latin.push(token);
                }
                let lead = piece.iter().take_while(|&&b| is_continuation(b)).count();
                (lead.min(255) as u8, piece.len().min(255) as u8)
            })
            .collect();
        Session {
            model,
            ctx: Some(ctx),
            threads: threads.max(1) as usize,
            n_seq_max: MAX_PARALLEL as usize,
            flash_attention,
            flash_chosen_by,
            chat_template,
            evaluated: Vec::new(),
            batch: LlamaBatch::new(n_batch, 1),
            piece_shape,
            line_breaks,
            latin,
            anchor: None,
            lookup: true,
            decode_cost: Default::default(),
        }
    }

    pub(super) fn settings(&self) -> EngineSettings {
        let (n_batch, n_ubatch) = self
            .ctx
            .as_ref()
            .map_or((0, 0), |ctx| (ctx.n_batch(), ctx.n_ubatch()));
        EngineSettings {
            flash_attention: self.flash_attention,
            choice: self.flash_chosen_by.0,
            chosen_by: self.flash_chosen_by.1.clone(),
            threads: self.threads as u32,
            n_batch,
            n_ubatch,
            cache_type: "f16".into(),
        }
    }

    pub(super) fn ctx(&self) -> Result<&LlamaContext<'m>> {
        self.ctx.as_ref().context("the model has no context")
    }

    pub(super) fn ctx_mut(&mut self) -> Result<&mut LlamaContext<'m>> {
        self.ctx.as_mut().context("the model has no context")
    }

    /// Moves to a context that decodes with `threads`, carrying the KV cache over so the next
    /// request still reuses its prefix. The old context goes first: two at once would double
    /// the cache's memory. If the new one cannot be made, the old thread count is tried again;
    /// failing that too, the error ends the worker and Quill starts a new one.
    pub(super) fn set_threads(
        &mut self,
        backend: &LlamaBackend,
        params: &LoadParams,
        threads: usize,
    ) -> Result<()> {
        let state = match self.ctx()?.state_seq_get(0, LlamaStateSeqFlags::empty()) {
            Ok(state) => Some(state),
            Err(e) => {
                eprintln!("quill worker: the cache could not be kept ({e}); it starts empty");
                None
            }
        };
        self.ctx = None;
        let mut made = None;
        for count in [threads, self.threads] {
            let (ctx_params, _) =
                context_params(self.model, params.n_ctx, count as i32, self.flash_attention);
            match self.model.new_context(backend, ctx_params) {
                Ok(ctx) => {
                    made = Some((ctx, count));
                    break;
                }
                Err(e) => eprintln!("quill worker: no context with {count} threads: {e}"),
            }
        }
        let (mut ctx, count) = made.context("could not make the model's context again")?;
        let kept = state.is_some_and(|state| ctx.state_seq_set(&state, 0).is_ok());
        if !kept {
            ctx.clear_kv_cache();
            self.evaluated.clear();
        }
        self.ctx = Some(ctx);
        self.threads = count;
        Ok(())
    }

    /// Moves to a context with flash attention `flash`. The cache starts empty: the two
    /// settings lay out its values differently (transposed without flash attention), so
    /// llama.cpp cannot carry it over. Failing, the old setting is made again.
    pub(super) fn set_flash(
        &mut self,
        backend: &LlamaBackend,
        params: &LoadParams,
        flash: FlashAttention,
    ) -> Result<()> {
        self.ctx = None;
        self.evaluated.clear();
        for setting in [flash, self.flash_attention] {
            let (ctx_params, _) =
                context_params(self.model, params.n_ctx, self.threads as i32, setting);
            match self.model.new_context(backend, ctx_params) {
                Ok(ctx) => {
                    self.ctx = Some(ctx);
                    self.flash_attention = setting;
                    return Ok(());
                }
                Err(e) => {
                    eprintln!("quill worker: no context with flash attention {setting:?}: {e}")
                }
            }
        }
        bail!("could not make the model's context again")
    }

    pub(super) fn fits(&self, token: LlamaToken, needed: usize) -> bool {
        self.piece_shape
            .get(token.0 as usize)
            .is_none_or(|&(lead, len)| piece_fits(needed, lead.into(), len.into()))
    }

    /// Samples again among the tokens that keep the UTF-8 stream whole. Small models sometimes
    /// start a CJK character and abandon it half-way; this keeps their output clean.
    pub(super) fn resample_fitting(
        &self,
        sampler: &mut LlamaSampler,
        idx: i32,
        needed: usize,
    ) -> LlamaToken {
        self.resample_where(sampler, idx, |token| self.fits(token, needed))
    }

    /// The token sampled again from the logits at `idx`, among those `allowed` only.
    pub(super) fn resample_where(
        &self,
        sampler: &mut LlamaSampler,
        idx: i32,
        allowed: impl Fn(LlamaToken) -> bool,
    ) -> LlamaToken {
        let Some(ctx) = &self.ctx else {
            return self.model.vocab().eos();
        };
        let mut candidates = ctx.token_data_array_ith(idx);
        for data in &mut candidates.data {
            if !allowed(data.id()) {
                data.set_logit(f32::NEG_INFINITY);
            }
        }
        candidates.apply_sampler(sampler);
        let token = candidates
            .selected_token()
            .unwrap_or_else(|| self.model.vocab().eos());
        sampler.accept(token);
        token
    }

    pub(super) fn tokenize(&self, text: &str, special: bool) -> Vec<LlamaToken> {
        // A Rust &str is valid UTF-8, so llama.cpp never sees invalid bytes.
        self.model.vocab().tokenize(text.as_bytes(), false, special)
    }

    /// The prompt as segments, and whether the model's own chat template could not be used.
    pub(super) fn segments(&self, prompt: &Prompt) -> (Vec<Segment>, bool) {
        match prompt {
            Prompt::Completion { parts } => (parts.iter().map(text_segment).collect(), false),
            Prompt::Chat { messages } => {
                // A last assistant message is the answer begun: the turn is opened as usual
                // and the model goes on from its text.
                let (messages, start) = match messages.split_last() {
                    Some((last, rest)) if last.role == "assistant" => (rest, &last.parts[..]),
                    _ => (&messages[..], &[][..]),
                };
                let (mut segments, fell_back) = match self.render_with_template(messages) {
                    Some(segments) => (segments, false),
                    None => (render_chatml(messages), self.chat_template.is_some()),
                };
                segments.extend(start.iter().map(text_segment));
                (segments, fell_back)
            }
        }
    }

    /// Renders through the model's own template with a sentinel in place of each part, then splits
    /// on the sentinels: the template's text may contain special tokens, the parts never do.
    pub(super) fn render_with_template(&self, messages: &[ChatMessage]) -> Option<Vec<Segment>> {
        let template = self.chat_template.as_ref()?;
        let mut parts: Vec<&Part> = Vec::new();
        let mut chat = Vec::new();
        for message in messages {
            let mut content = String::new();
            for part in &message.parts {
                content.push_str(&sentinel(parts.len()));
                parts.push(part);
            }
            chat.push(LlamaChatMessage::new(message.role.clone(), content).ok()?);
        }
        let rendered = self.model.apply_chat_template(template, &chat, true).ok()?;
        split_on_sentinels(&rendered, &parts)
    }

    /// Tokenizes the prompt, shortening the writer's text to leave `reserve` tokens for output.
    /// Returns the tokens and how many were dropped.
    pub(super) fn prompt_tokens(
        &self,
        prompt: &Prompt,
        reserve: usize,
        anchor: &mut Option<String>,
        out: &mut EventWriter,
    ) -> Result<(Vec<LlamaToken>, usize)> {
        let n_ctx = self.ctx()?.n_ctx() as usize;
        let budget = n_ctx.saturating_sub(reserve);
        let (mut segments, fell_back) = self.segments(prompt);
        if fell_back {
            out.send(&Event::Warned {
                message: "llama.cpp cannot apply this model's chat template; using ChatML".into(),
            })?;
        }
        let counts: Vec<usize> = segments
            .iter()
            .map(|s| match s {
                Segment::Template(t) => self.tokenize(t, true).len(),
                Segment::Text { text, .. } => self.tokenize(text, false).len(),
            })
            .collect();
        let bos = self.bos_needed(&segments);
        let total = counts.iter().sum::<usize>() + usize::from(bos);
        let excess = total.saturating_sub(budget);
        let dropped = self.shorten(&mut segments, &counts, excess, anchor);
        if dropped < excess {
            bail!(
                "the prompt needs {} tokens even with the draft shortened, but the context \
                 holds {n_ctx} with {reserve} kept for the answer: raise n_ctx or lower \
                 max_tokens",
                total - dropped
            );
        }
        let mut tokens = Vec::with_capacity(total);
        if bos {
            tokens.push(self.model.vocab().bos());
        }
        for segment in &segments {
            match segment {
                Segment::Template(t) => tokens.extend(self.tokenize(t, true)),
                Segment::Text { text, .. } => tokens.extend(self.tokenize(text, false)),
            }
        }
        if tokens.is_empty() {
            bail!("the prompt is empty");
        }
        Ok((tokens, dropped))
    }

    /// Shortens the writer's texts by `excess` tokens in all if it can (see `fit::shorten`);
    /// returns how many tokens went. `counts` are the segments' token counts.
    pub(super) fn shorten(
        &self,
        segments: &mut [Segment],
        counts: &[usize],
        excess: usize,
        anchor: &mut Option<String>,
    ) -> usize {
        let mut texts: Vec<Shortenable> = segments
            .iter_mut()
            .zip(counts)
            .filter_map(|(segment, &count)| match segment {
                Segment::Text { text, fit } => Some(Shortenable {
                    text,
                    fit: *fit,
                    count,
                }),
                Segment::Template(_) => None,
            })
            .collect();
        let mut count = |s: &str| self.tokenize(s, false).len();
        fit::shorten(
            &mut texts,
            excess,
            self.anchor.as_deref(),
            anchor,
            &mut count,
        )
    }

    pub(super) fn bos_needed(&self, segments: &[Segment]) -> bool {
        let vocab = self.model.vocab();
        if !vocab.should_add_bos() {
            return false;
        }
        // A chat template may already start with the BOS text.
        match segments.first() {
            Some(Segment::Template(t)) => self.tokenize(t, true).first() != Some(&vocab.bos()),
            _ => true,
        }
    }

    /// Makes the KV cache hold exactly `tokens[..n]` for the longest reusable `n`; returns `n`.
    pub(super) fn reuse_prefix(&mut self, tokens: &[LlamaToken], allowed: bool) -> Result<usize> {
        let common = if allowed {
            shared_prefix(&self.evaluated, tokens)
        } else {
            0
        };
        // The last prompt token must be decoded again to get its logits.
        let keep = common.min(tokens.len().saturating_sub(1));
        let ctx = self.ctx.as_mut().context("the model has no context")?;
        Ok(keep_prefix(ctx, &mut self.evaluated, keep))
    }

    /// Decodes `tokens` after the evaluated prefix (see `decode_after`), asking for the logits
    /// of the last one. Stops early (returning false) when cancelled.
    pub(super) fn decode_prompt(
        &mut self,
        tokens: &[LlamaToken],
        control: &mut Control,
        read: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<bool> {
        let ctx = self.ctx.as_mut().context("the model has no context")?;
        let span = (&mut self.batch, &mut self.evaluated);
        decode_after(ctx, span, tokens, false, control, read)
    }
}

/// How many tokens `a` and `b` start with alike.
pub(super) fn shared_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Drops what `ctx`'s sequence 0 holds past its first `keep` tokens (`evaluated` follows);
/// returns how many it kept. Some memory kinds (recurrent models) cannot drop a tail: those
/// start over.
pub(super) fn keep_prefix(
    ctx: &mut LlamaContext,
    evaluated: &mut Vec<LlamaToken>,
    keep: usize,
) -> usize {
    if keep >= evaluated.len() {
        return evaluated.len();
    }
    let removed = ctx
        .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
        .unwrap_or(false);
    let kept = if removed {
        keep
    } else {
        ctx.clear_kv_cache();
        0
    };
    evaluated.truncate(kept);
    kept
}

/// Decodes `tokens` into `ctx`'s sequence 0 after the `evaluated` ones, in batches of at most
/// `n_batch` and `PROGRESS_TOKENS` (so a long prompt reports its progress through `read`
/// between them), asking for the logits of the last one only. Between batches, and after the
/// last as well when `more_follows`, it reports how many are done and stops (returning false)
/// when cancelled.
pub(super) fn decode_after(
    ctx: &mut LlamaContext,
    (batch, evaluated): (&mut LlamaBatch, &mut Vec<LlamaToken>),
    tokens: &[LlamaToken],
    more_follows: bool,
    control: &mut Control,
    read: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<bool> {
    let n_batch = (ctx.n_batch() as usize).min(PROGRESS_TOKENS);
    let last = tokens.len().saturating_sub(1);
    for (chunk_index, chunk) in tokens.chunks(n_batch).enumerate() {
        batch.clear();
        for (i, &token) in chunk.iter().enumerate() {
            let pos = evaluated.len() + i;
            let is_last = chunk_index * n_batch + i == last;
            batch.add(token, pos as i32, &[0], is_last)?;
        }
        ctx.decode(batch)
            .map_err(|e| anyhow!("decoding the prompt failed: {e}"))?;
        evaluated.extend_from_slice(chunk);
        let done = chunk_index * n_batch + chunk.len();
        if done <= last || more_follows {
            if control.is_cancelled() {
                return Ok(false);
            }
            read(done)?;
        }
    }
    Ok(true)
}

pub(super) fn text_segment(part: &Part) -> Segment {
    Segment::Text {
        text: part.text.clone(),
        fit: part.fit,
    }
}

/// Private-use characters frame the sentinels, so no template text can look like one.
pub(super) fn sentinel(index: usize) -> String {
    format!("\u{F8F0}{index}\u{F8F1}")
}

/// Splits a rendered template on the sentinels; `None` unless each appears exactly once, in order.
pub(super) fn split_on_sentinels(rendered: &str, parts: &[&Part]) -> Option<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut rest = rendered;
    for (index, part) in parts.iter().enumerate() {
        let mark = sentinel(index);
        let at = rest.find(&mark)?;
        if at > 0 {
            segments.push(Segment::Template(rest[..at].to_string()));
        }
        segments.push(text_segment(part));
        rest = &rest[at + mark.len()..];
    }
    if rest.contains('\u{F8F0}') {
        return None;
    }
    if !rest.is_empty() {
        segments.push(Segment::Template(rest.to_string()));
    }
    Some(segments)
}

/// ChatML, the fallback when a model carries no template llama.cpp can apply.
pub(super) fn render_chatml(messages: &[ChatMessage]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for message in messages {
        segments.push(Segment::Template(format!("<|im_start|>{}\n", message.role)));
        segments.extend(message.parts.iter().map(text_segment));
        segments.push(Segment::Template("<|im_end|>\n".into()));
    }
    segments.push(Segment::Template("<|im_start|>assistant\n".into()));
    segments
}
