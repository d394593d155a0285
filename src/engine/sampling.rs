//! `SamplingParams` (plain data, part of the protocol) turned into a llama.cpp sampler chain.

use llama_cpp_2::sampling::LlamaSampler;

use super::protocol::SamplingParams;

/// The chain llama.cpp's own tools use: penalties, then top-k, top-p, min-p, temperature and a
/// seeded draw; greedy when the temperature is zero or below, so a seed reproduces it exactly.
pub fn sampler_chain(params: &SamplingParams, n_vocab: i32) -> LlamaSampler {
    let mut samplers = Vec::new();
    // A neutral penalty still scans the history each token: leave it out.
    if params.repeat_penalty != 1.0 && params.repeat_last_n != 0 {
        samplers.push(LlamaSampler::penalties(
            n_vocab,
            params.repeat_last_n,
            params.repeat_penalty.max(f32::MIN_POSITIVE),
            0.0,
            0.0,
        ));
    }
    if params.temperature <= 0.0 {
        samplers.push(LlamaSampler::greedy());
        return LlamaSampler::chain_simple(samplers);
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
    LlamaSampler::chain_simple(samplers)
}
