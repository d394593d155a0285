//! Prompt processing and generation timed at several depths of context, the way llama.cpp's
//! `llama-bench` does (`-p 512 -n 128 -d 0,512,...`): fill the cache to a depth, read a prompt
//! after it, drop that, generate after it, drop that, go deeper. Used by the worker to choose its
//! settings on this machine, and by `quill bench` as its baseline: llama-cpp-2 driven the plainest
//! way, in this process, with llama.cpp's own defaults.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use super::load::{load_model, thread_count};
use crate::engine::protocol::LoadParams;

/// What to time: prompts of `pp_tokens` and generations of `tg_tokens` after each depth.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Ascending, each at most the context minus `pp_tokens`.
    pub depths: Vec<u32>,
    pub pp_tokens: u32,
    pub tg_tokens: u32,
    /// Tokens per decode call when reading (0: the context's `n_batch`). Smaller calls can
    /// be stopped sooner: a measurement made while the writer may come back uses them.
    pub chunk: u32,
}

impl Sweep {
    /// The tokens a sweep reads: its deepest prompt's end.
    pub fn tokens_needed(&self) -> usize {
        let deepest = self.depths.iter().copied().max().unwrap_or(0);
        (deepest + self.pp_tokens.max(self.tg_tokens)) as usize
    }
}

/// Tokens per second at one depth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DepthRate {
    pub depth: u32,
    pub pp_tokens_per_s: f64,
    pub tg_tokens_per_s: f64,
}

/// Runs `sweep` on `ctx` over `tokens` (at least `sweep.tokens_needed()` of them), leaving the
/// cache empty. `stop` is asked between decodes; when it says yes, the sweep ends with `None`.
pub fn run(
    ctx: &mut LlamaContext,
    tokens: &[LlamaToken],
    sweep: &Sweep,
    stop: &mut dyn FnMut() -> bool,
) -> Result<Option<Vec<DepthRate>>> {
    if tokens.len() < sweep.tokens_needed() {
        bail!(
            "the sweep needs {} tokens of text, it has {}",
            sweep.tokens_needed(),
            tokens.len()
        );
    }
    let n_batch = match sweep.chunk {
        0 => ctx.n_batch(),
        chunk => chunk.min(ctx.n_batch()),
    } as usize;
    let mut batch = LlamaBatch::new(n_batch, 1);
    ctx.clear_kv_cache();
    let mut filled = 0;
    let mut rates = Vec::with_capacity(sweep.depths.len());
    for &depth in &sweep.depths {
        let depth = depth as usize;
        // The cache holds `filled` tokens: cut back to the depth, or fill up to it.
        if filled > depth {
            truncate(ctx, depth)?;
        } else if !decode_span(ctx, (&mut batch, n_batch), tokens, filled..depth, stop)? {
            ctx.clear_kv_cache();
            return Ok(None);
        }
        // Generation first, then the prompt, which stays: a next depth that ends where the
        // prompt does needs no filling (a sweep of depths 0, 512 with 512-token prompts
        // reads each token once).
        let Some(tg_rate) = generate(ctx, &mut batch, tokens, depth, sweep.tg_tokens, stop)? else {
            ctx.clear_kv_cache();
            return Ok(None);
        };
        truncate(ctx, depth)?;
        let pp_end = depth + sweep.pp_tokens as usize;
        let started = Instant::now();
        if !decode_span(ctx, (&mut batch, n_batch), tokens, depth..pp_end, stop)? {
            ctx.clear_kv_cache();
            return Ok(None);
        }
        let pp_rate = f64::from(sweep.pp_tokens) / started.elapsed().as_secs_f64().max(1e-9);
        filled = pp_end;
        rates.push(DepthRate {
            depth: depth as u32,
            pp_tokens_per_s: pp_rate,
            tg_tokens_per_s: tg_rate,
        });
    }
    ctx.clear_kv_cache();
    Ok(Some(rates))
}

/// Two contexts of one model (two settings) timed side by side at `depth`: each is brought to
/// the depth (`filled` says how far each has read), then each test runs `reps` times on each in
/// alternating order (a b, b a, ...) and the best of each is kept. A machine that slows down
/// for a while (a shared host) then slows both alike, and noise, which only ever slows, counts
/// against neither. `None` when `stop` said so; the contexts are then part-way and are dropped.
pub fn compare_at(
    mut ctxs: [&mut LlamaContext; 2],
    filled: &mut [usize; 2],
    tokens: &[LlamaToken],
    depth: u32,
    sweep: &Sweep,
    reps: usize,
    stop: &mut dyn FnMut() -> bool,
) -> Result<Option<[DepthRate; 2]>> {
    let depth = depth as usize;
    let pp_end = depth + sweep.pp_tokens as usize;
    let needed = pp_end.max(depth + sweep.tg_tokens as usize);
    if tokens.len() < needed {
        bail!(
            "the sweep needs {needed} tokens of text, it has {}",
            tokens.len()
        );
    }
    let n_batch = ctxs
        .iter()
        .map(|ctx| match sweep.chunk {
            0 => ctx.n_batch(),
            chunk => chunk.min(ctx.n_batch()),
        })
        .min()
        .unwrap_or(1) as usize;
    let mut batch = LlamaBatch::new(n_batch, 1);
    for (ctx, filled) in ctxs.iter_mut().zip(filled.iter_mut()) {
        if *filled > depth {
            truncate(ctx, depth)?;
        } else if !decode_span(ctx, (&mut batch, n_batch), tokens, *filled..depth, stop)? {
            return Ok(None);
        }
        *filled = depth;
    }
    let order = |rep: usize| {
        if rep.is_multiple_of(2) {
            [0, 1]
        } else {
            [1, 0]
        }
    };
    let mut best = [(0.0f64, 0.0f64); 2];
    for rep in 0..reps.max(1) {
        for i in order(rep) {
            let ctx = &mut *ctxs[i];
            let Some(rate) = generate(ctx, &mut batch, tokens, depth, sweep.tg_tokens, stop)?
            else {
                return Ok(None);
            };
            truncate(ctx, depth)?;
            best[i].1 = best[i].1.max(rate);
        }
    }
    for rep in 0..reps.max(1) {
        for i in order(rep) {
            let ctx = &mut *ctxs[i];
            if filled[i] > depth {
                truncate(ctx, depth)?;
            }
            let started = Instant::now();
            if !decode_span(ctx, (&mut batch, n_batch), tokens, depth..pp_end, stop)? {
                return Ok(None);
            }
            let rate = f64::from(sweep.pp_tokens) / started.elapsed().as_secs_f64().max(1e-9);
            filled[i] = pp_end;
            best[i].0 = best[i].0.max(rate);
        }
    }
    Ok(Some(best.map(|(pp, tg)| DepthRate {
        depth: depth as u32,
        pp_tokens_per_s: pp,
        tg_tokens_per_s: tg,
    })))
}

/// Decodes `tokens[span]` at their positions in calls of `n_batch` (what `batch` holds), logits for the last only.
fn decode_span(
    ctx: &mut LlamaContext,
    (batch, n_batch): (&mut LlamaBatch, usize),
    tokens: &[LlamaToken],
    span: std::ops::Range<usize>,
    stop: &mut dyn FnMut() -> bool,
) -> Result<bool> {
    let mut start = span.start;
    while start < span.end {
        if stop() {
            return Ok(false);
        }
        let end = (start + n_batch).min(span.end);
        batch.clear();
        for (pos, &token) in tokens.iter().enumerate().take(end).skip(start) {
            batch.add(token, pos as i32, &[0], pos + 1 == span.end)?;
        }
        ctx.decode(batch)
            .map_err(|e| anyhow!("decoding the prompt failed: {e}"))?;
        start = end;
    }
    Ok(true)
}

/// `n` steps of one token each after `depth`, sampled greedily like a real loop (the text's own
/// tokens are fed, so every run decodes the same thing); tokens per second.
fn generate(
    ctx: &mut LlamaContext,
    batch: &mut LlamaBatch,
    tokens: &[LlamaToken],
    depth: usize,
    n: u32,
    stop: &mut dyn FnMut() -> bool,
) -> Result<Option<f64>> {
    let mut sampler = LlamaSampler::greedy();
    let started = Instant::now();
    for step in 0..n as usize {
        if stop() {
            return Ok(None);
        }
        let pos = depth + step;
        batch.clear();
        batch.add(tokens[pos], pos as i32, &[0], true)?;
        ctx.decode(batch)
            .map_err(|e| anyhow!("decoding failed: {e}"))?;
        let _ = sampler.sample(ctx, 0);
    }
    Ok(Some(
        f64::from(n) / started.elapsed().as_secs_f64().max(1e-9),
    ))
}

/// Drops every cached position from `depth` on.
fn truncate(ctx: &mut LlamaContext, depth: usize) -> Result<()> {
    let removed = ctx
        .clear_kv_cache_seq(Some(0), Some(depth as u32), None)
        .unwrap_or(false);
    if !removed {
        bail!("llama.cpp could not drop the end of the cache");
    }
    Ok(())
}

/// llama-cpp-2 driven the plainest way, in this process: the baseline `quill bench` holds the
/// worker against. Its context has llama.cpp's own defaults (flash attention on auto, its batch
/// sizes and cache types) but for the context size and the threads, so a ratio above 1.0 is a
/// gain of Quill's own settings.
pub struct Baseline {
    // Dropped before the backend it was loaded with.
    model: LlamaModel,
    backend: LlamaBackend,
    params: LoadParams,
}

impl Baseline {
    pub fn load(params: &LoadParams) -> Result<Self> {
        let backend = super::backends::init()?;
        let (model, _) = load_model(&backend, params, false).map_err(|e| anyhow!(e))?;
        Ok(Baseline {
            model,
            backend,
            params: params.clone(),
        })
    }

    /// Prefixes of `text` that the model reads as `counts[i]` tokens each (the pieces of its
    /// first tokens put together), so a benchmark can ask for exact depths.
    pub fn prefixes(&self, text: &str, counts: &[u32]) -> Vec<String> {
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(text.as_bytes(), false, false);
        counts
            .iter()
            .map(|&count| {
                let bytes: Vec<u8> = tokens
                    .iter()
                    .take(count as usize)
                    .flat_map(|&t| vocab.token_to_piece(t, false, None))
                    .collect();
                match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(e) => {
                        let valid = e.utf8_error().valid_up_to();
                        String::from_utf8_lossy(&e.into_bytes()[..valid]).into_owned()
                    }
                }
            })
            .collect()
    }

    /// `rounds` sweeps over `text`; `before_round(i)` runs before each, so a caller can
    /// interleave its own measurements and both see the same machine. Each round's rates.
    pub fn rounds(
        &self,
        text: &str,
        sweep: &Sweep,
        rounds: usize,
        before_round: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<Vec<Vec<DepthRate>>> {
        let threads = thread_count(self.params.n_threads);
        let n_ctx = self
            .params
            .n_ctx
            .clamp(64, self.model.n_ctx_train().max(64));
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(std::num::NonZeroU32::new(n_ctx))
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let mut ctx = self
            .model
            .new_context(&self.backend, ctx_params)
            .context("creating the context")?;
        let tokens = self.model.vocab().tokenize(text.as_bytes(), false, false);
        let mut results = Vec::with_capacity(rounds);
        for round in 0..rounds {
            before_round(round)?;
            let rates =
                run(&mut ctx, &tokens, sweep, &mut || false)?.context("the sweep was stopped")?;
            results.push(rates);
        }
        Ok(results)
    }
}
