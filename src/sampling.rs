//! Sampling, in two forms of one set of knobs: `SamplingParams`, complete, as the engine takes
//! it, and `Sampling`, every knob optional, as one layer of settings. The config's
//! `[sampling]`, a prompt file's `[sampling]`, command-line flags and the settings pane each give
//! a layer; `over` stacks two layers and `apply` puts a layer onto complete params. A new knob
//! is a field here (both forms), a line in `apply`/`over`, and a row in the settings table.

use serde::{Deserialize, Serialize};

/// Complete sampling settings, as the engine uses them (part of the worker protocol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 or below means greedy decoding.
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub repeat_last_n: i32,
    pub seed: u32,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    /// A GBNF grammar (llama.cpp's) the answer must follow from its first generated token;
    /// empty for none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub grammar: String,
    /// The answer is one line: no token that holds a line break may be sampled. Set from the
    /// input's shape (a one-line passage), not a layer: a stop at the break instead ended
    /// answers after their first line ("Hi Sarah," of a one-line email).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub one_line: bool,
    /// The answer has no Latin letters: every token that holds one is biased out. Set for a
    /// Chinese article's sections, which the default model otherwise starts in English; a
    /// bias, like `one_line`'s, costs a pass over the candidates where a grammar would parse
    /// each. (A remote engine has no vocabulary to bias: there it is not applied.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_latin: bool,
    /// DRY ("don't repeat yourself"): how hard a token that would make a repeat of the
    /// prompt or the answer longer than `dry_allowed_length` tokens is pushed down; 0 is off.
    pub dry_multiplier: f32,
    pub dry_allowed_length: i32,
}

/// llama.cpp's usual values: what a request gets for any knob no layer sets.
impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 0,
            max_tokens: 256,
            stop: Vec::new(),
            grammar: String::new(),
            one_line: false,
            no_latin: false,
            dry_multiplier: 0.0,
            dry_allowed_length: 2,
        }
    }
}

impl SamplingParams {
    /// Deterministic decoding with nothing that reshapes the model's choice (no penalty): the
    /// one preset for ghost text, the doctor's decode check and the benchmarks, so they
    /// measure and show the same thing.
    pub fn greedy(max_tokens: u32) -> Self {
        SamplingParams {
            temperature: 0.0,
            repeat_penalty: 1.0,
            max_tokens,
            ..SamplingParams::default()
        }
    }
}

/// One layer of sampling settings: only what it sets counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// -1 (any negative): a fresh seed for each request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// The form the answer must take, in llama.cpp's GBNF (`root ::= ...`): a list of 3-6
    /// items, one line. Remote servers get it as llama-server's `grammar`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
    /// DRY: a summary is kept from copying its passage's sentences (0 is off; llama.cpp's
    /// tools suggest 0.8). Remote llama.cpp servers take it as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_multiplier: Option<f32>,
    /// DRY: the longest repeat, in tokens, that goes unpunished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_allowed_length: Option<i32>,
    /// How many alternatives to generate: not sent to the engine, read by the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<u32>,
}

impl Sampling {
    /// This layer over `base`: what this one sets wins, the rest comes from `base`.
    pub fn over(&self, base: &Sampling) -> Sampling {
        Sampling {
            temperature: self.temperature.or(base.temperature),
            top_k: self.top_k.or(base.top_k),
            top_p: self.top_p.or(base.top_p),
            min_p: self.min_p.or(base.min_p),
            repeat_penalty: self.repeat_penalty.or(base.repeat_penalty),
            max_tokens: self.max_tokens.or(base.max_tokens),
            seed: self.seed.or(base.seed),
            stop: self.stop.clone().or_else(|| base.stop.clone()),
            grammar: self.grammar.clone().or_else(|| base.grammar.clone()),
            dry_multiplier: self.dry_multiplier.or(base.dry_multiplier),
            dry_allowed_length: self.dry_allowed_length.or(base.dry_allowed_length),
            variants: self.variants.or(base.variants),
        }
    }

    /// Sets what this layer sets on `params`. A negative seed draws a fresh one.
    pub fn apply(&self, params: &mut SamplingParams) {
        if let Some(v) = self.temperature {
            params.temperature = v;
        }
        if let Some(v) = self.top_k {
            params.top_k = v;
        }
        if let Some(v) = self.top_p {
            params.top_p = v;
        }
        if let Some(v) = self.min_p {
            params.min_p = v;
        }
        if let Some(v) = self.repeat_penalty {
            params.repeat_penalty = v;
        }
        if let Some(v) = self.max_tokens {
            params.max_tokens = v;
        }
        if let Some(seed) = self.seed {
            params.seed = u32::try_from(seed).unwrap_or_else(|_| fresh_seed());
        }
        if let Some(stop) = &self.stop {
            params.stop = stop.clone();
        }
        if let Some(grammar) = &self.grammar {
            params.grammar = grammar.clone();
        }
        if let Some(v) = self.dry_multiplier {
            params.dry_multiplier = v;
        }
        if let Some(v) = self.dry_allowed_length {
            params.dry_allowed_length = v;
        }
    }

    /// Complete params from this layer over the engine's usual values.
    pub fn resolve(&self) -> SamplingParams {
        let mut params = SamplingParams::default();
        self.apply(&mut params);
        params
    }
}

fn fresh_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_over_another_wins_where_it_is_set() {
        let config = Sampling {
            temperature: Some(0.7),
            max_tokens: Some(256),
            seed: Some(7),
            variants: Some(3),
            ..Sampling::default()
        };
        let prompt = Sampling {
            temperature: Some(0.2),
            stop: Some(vec!["\n".into()]),
            ..Sampling::default()
        };
        let flags = Sampling {
            max_tokens: Some(20),
            ..Sampling::default()
        };
        let all = flags.over(&prompt.over(&config));
        let params = all.resolve();
        assert_eq!(params.temperature, 0.2);
        assert_eq!(params.max_tokens, 20);
        assert_eq!(params.seed, 7);
        assert_eq!(params.stop, vec!["\n".to_string()]);
        assert_eq!(
            params.top_k,
            SamplingParams::default().top_k,
            "unset everywhere"
        );
        assert_eq!(all.variants, Some(3));
    }

    #[test]
    fn a_negative_seed_draws_a_fresh_one() {
        let random = Sampling {
            seed: Some(-1),
            ..Sampling::default()
        };
        // Two draws a few nanoseconds apart differ (almost surely): try a few times.
        let seeds: std::collections::BTreeSet<u32> = (0..5)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_micros(50));
                random.resolve().seed
            })
            .collect();
        assert!(seeds.len() > 1, "{seeds:?}");
    }
}
