//! Loading a model and making its contexts: what the worker and the in-process baseline of
//! the benchmark share.

use std::io::Write;
use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use crate::engine::model_file;
use crate::engine::protocol::{Event, FlashAttention, LoadParams};

/// Sequences one context decodes side by side: variants of one prompt (see the worker's
/// `stream_wave`). The cache is unified, so they share the prompt's cells and take room only
/// for their own tokens.
pub const MAX_PARALLEL: u32 = 8;

/// Loads the model. In the worker, `report_progress` sends `ModelLoading` events on stdout (the
/// protocol); in-process callers (the bench's baseline) must not write there.
pub fn load_model(
    backend: &LlamaBackend,
    params: &LoadParams,
    report_progress: bool,
) -> Result<(LlamaModel, u64), String> {
    model_file::check(&params.model).map_err(|e| e.to_string())?;
    // Without it llama.cpp fails to load any model, and the file would be blamed.
    if let Some(reason) = super::backends::cpu_missing() {
        return Err(reason);
    }
    let started = Instant::now();
    let mut model_params = LlamaModelParams::default().with_n_gpu_layers(params.n_gpu_layers);
    if report_progress {
        let mut last_step = -1;
        model_params = model_params.with_progress_callback(move |progress| {
            // Every 5 %: enough for a progress bar, few enough not to flood the pipe.
            let step = (progress * 20.0) as i32;
            if step != last_step {
                last_step = step;
                let event = Event::ModelLoading { progress };
                if let Ok(line) = event.to_line() {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
                }
            }
            true
        });
    }
    let model = LlamaModel::load_from_file(backend, &params.model, &model_params).map_err(|e| {
        format!(
            "llama.cpp could not load {} ({e}): the file is corrupt, truncated or not a model \
             this version supports",
            params.model.display()
        )
    })?;
    Ok((model, started.elapsed().as_millis() as u64))
}

pub fn thread_count(requested: u32) -> i32 {
    if requested > 0 {
        return requested as i32;
    }
    std::thread::available_parallelism().map_or(4, |n| n.get() as i32)
}

/// The context for a model: the requested size within what the model was trained for, batches
/// of up to 2,048 tokens, the same thread count for prompt and generation, and flash attention
/// as chosen (see `tune`).
pub fn context_params(
    model: &LlamaModel,
    n_ctx: u32,
    threads: i32,
    flash: FlashAttention,
) -> (LlamaContextParams, u32) {
    let n_ctx = context_size(model, n_ctx);
    let flash = match flash {
        FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
        FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    };
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_ctx.min(2048))
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_n_seq_max(MAX_PARALLEL)
        .with_kv_unified(true)
        .with_flash_attention_policy(flash);
    (ctx_params, n_ctx)
}

/// The context a model gets for `n_ctx` asked: within what it was trained for.
pub fn context_size(model: &LlamaModel, n_ctx: u32) -> u32 {
    n_ctx.clamp(64, model.n_ctx_train().max(64))
}
