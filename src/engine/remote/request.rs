//! A request's body for the server: the prompt fitted to its context, in the form its
//! endpoint takes, with the sampling settings it understands.

use serde_json::{Value, json};

use super::{Flavour, Server};
use crate::engine::fit::{self, Shortenable};
use crate::engine::protocol::{GenerateOptions, Prompt, SamplingParams};

/// Tokens a chat message's frame takes beside its text (role markers), counted high.
pub(super) const MESSAGE_OVERHEAD: usize = 8;

/// The tokens DRY looks back over on a server: more than any prompt Quill sends one.
pub(super) const DRY_WINDOW: u32 = 32_768;

/// llama.cpp's GBNF for an answer on one line, for `SamplingParams::one_line`.
pub(super) const ONE_LINE_GRAMMAR: &str = "root ::= [^\\r\\n]+";

/// What goes to the server for a prompt, once it fits.
pub(super) enum Body {
    Chat(Vec<(String, String)>),
    Completion(String),
}

pub(super) struct Fitted {
    pub(super) endpoint: &'static str,
    pub(super) body: Body,
    pub(super) tokens: u32,
    pub(super) dropped: u32,
}

/// A message's role and its parts' texts.
pub(super) type Message = (String, Vec<(String, crate::engine::protocol::Fit)>);

/// The prompt's texts joined per message, with the writer's texts shortened (as the worker
/// shortens them) so that the prompt leaves room for the answer in the server's context.
pub(super) fn fit_prompt(
    server: &Server,
    prompt: &Prompt,
    sampling: &SamplingParams,
) -> std::result::Result<Fitted, String> {
    let n_ctx = server.n_ctx as usize;
    let reserve = (sampling.max_tokens as usize).clamp(1, (n_ctx / 2).max(1));
    let budget = n_ctx.saturating_sub(reserve);
    let (mut messages, overhead): (Vec<Message>, usize) = match prompt {
        Prompt::Chat { messages } => (
            messages
                .iter()
                .map(|m| {
                    let parts = m.parts.iter().map(|p| (p.text.clone(), p.fit)).collect();
                    (m.role.clone(), parts)
                })
                .collect(),
            // Each message's frame, and the open assistant turn.
            MESSAGE_OVERHEAD * (messages.len() + 1),
        ),
        Prompt::Completion { parts } => (
            vec![(
                String::new(),
                parts.iter().map(|p| (p.text.clone(), p.fit)).collect(),
            )],
            1, // BOS
        ),
    };
    let count = |s: &str| server.counter.count(s);
    let mut texts: Vec<Shortenable> = messages
        .iter_mut()
        .flat_map(|(_, parts)| parts.iter_mut())
        .map(|(text, fit)| {
            let count = count(text);
            Shortenable {
                text,
                fit: *fit,
                count,
            }
        })
        .collect();
    let total = texts.iter().map(|t| t.count).sum::<usize>() + overhead;
    let excess = total.saturating_sub(budget);
    let mut anchor = None;
    let dropped = fit::shorten(&mut texts, excess, None, &mut anchor, &mut |s| count(s));
    if dropped < excess {
        return Err(format!(
            "the prompt needs about {} tokens even with the draft shortened, but the server's \
             context holds {n_ctx} with {reserve} kept for the answer: lower max_tokens or \
             use a model with a longer context",
            total - dropped
        ));
    }
    let tokens = (total - dropped) as u32;
    let join = |parts: &[(String, crate::engine::protocol::Fit)]| {
        parts.iter().map(|(t, _)| t.as_str()).collect::<String>()
    };
    Ok(match prompt {
        Prompt::Chat { .. } => Fitted {
            endpoint: "/v1/chat/completions",
            body: Body::Chat(
                messages
                    .iter()
                    .map(|(role, parts)| (role.clone(), join(parts)))
                    .collect(),
            ),
            tokens,
            dropped: dropped as u32,
        },
        Prompt::Completion { .. } => Fitted {
            endpoint: "/v1/completions",
            body: Body::Completion(join(&messages[0].1)),
            tokens,
            dropped: dropped as u32,
        },
    })
}

/// The JSON request: OpenAI's fields, and the sampling knobs beyond them that this kind of
/// server takes.
pub(super) fn request_body(
    server: &Server,
    body: &Body,
    sampling: &SamplingParams,
    options: &GenerateOptions,
) -> Value {
    let mut request = json!({
        "model": server.model,
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature.max(0.0),
        "top_p": sampling.top_p,
        "seed": sampling.seed,
    });
    match body {
        Body::Chat(messages) => {
            request["messages"] = messages
                .iter()
                .map(|(role, content)| json!({ "role": role, "content": content }))
                .collect();
        }
        Body::Completion(text) => request["prompt"] = json!(text),
    }
    // OpenAI takes at most four; the rest are enforced here as the text streams.
    let stop: Vec<&String> = sampling
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .take(4)
        .collect();
    if !stop.is_empty() {
        request["stop"] = json!(stop);
    }
    // The answer begun (a prompt's prefill) is the last message: llama-server goes on from
    // it as it is; vLLM must be told to.
    let begun = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "assistant");
    match server.flavour {
        Flavour::LlamaCpp => {
            if !sampling.grammar.trim().is_empty() {
                request["grammar"] = json!(sampling.grammar);
            } else if sampling.one_line {
                // The server has no bias by piece: a grammar keeps its answer to one line.
                request["grammar"] = json!(ONE_LINE_GRAMMAR);
            }
            request["top_k"] = json!(sampling.top_k);
            request["min_p"] = json!(sampling.min_p);
            request["repeat_penalty"] = json!(sampling.repeat_penalty);
            request["repeat_last_n"] = json!(sampling.repeat_last_n);
            request["cache_prompt"] = json!(true);
            if sampling.dry_multiplier > 0.0 {
                request["dry_multiplier"] = json!(sampling.dry_multiplier);
                request["dry_allowed_length"] = json!(sampling.dry_allowed_length);
                // The whole prompt, as the local engine counts it: some llama-server
                // versions refuse -1 (their "whole context"), and the window is a buffer
                // allocated whole, so a count no prompt here reaches rather than the largest.
                request["dry_penalty_last_n"] = json!(DRY_WINDOW);
            }
            if options.ignore_eos {
                request["ignore_eos"] = json!(true);
            }
        }
        Flavour::Vllm => {
            request["top_k"] = json!(sampling.top_k);
            request["min_p"] = json!(sampling.min_p);
            request["repetition_penalty"] = json!(sampling.repeat_penalty);
            if begun {
                request["continue_final_message"] = json!(true);
                request["add_generation_prompt"] = json!(false);
            }
            if options.ignore_eos {
                request["ignore_eos"] = json!(true);
            }
        }
        Flavour::OpenAi => {}
    }
    request
}
