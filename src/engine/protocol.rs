//! The typed messages between the client and the worker process: one JSON object per line.
//!
//! Requests are imperative (`Generate`), events past tense (`TokenGenerated`). Every generation
//! event carries the `JobId` of the request it answers, so a client can drop stale events.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::sampling::SamplingParams;

/// Identifies one generation request; chosen by the client, echoed by the worker.
pub type JobId = u64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Load (or replace) the model and create its context.
    Load(LoadParams),
    /// Evaluate a prompt and stream a continuation. A new `Generate` while one is running cancels
    /// the running one first: the latest request wins.
    Generate {
        job: JobId,
        prompt: Prompt,
        sampling: SamplingParams,
        #[serde(default)]
        options: GenerateOptions,
    },
    /// Stop a running generation after the current decode step.
    Cancel { job: JobId },
    /// Say what llama.cpp was built with (answered with `SystemDescribed`, model or not).
    Describe,
    /// Measure the settings now if they are still to be measured (or, with `again`, even if
    /// they were); answered with `SettingsChosen`. Without it the worker measures when the
    /// writer has been idle a moment.
    Measure {
        #[serde(default)]
        again: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadParams {
    pub model: PathBuf,
    pub n_ctx: u32,
    /// 0 means one thread per available core.
    pub n_threads: u32,
    pub n_gpu_layers: u32,
    /// Flash attention: llama.cpp's own choice, or forced on or off.
    #[serde(default)]
    pub flash_attention: FlashAttention,
    /// Prompt-lookup drafting: the next tokens guessed from the prompt and checked in one
    /// batched decode (config `[engine] prompt_lookup`).
    #[serde(default = "yes")]
    pub prompt_lookup: bool,
    /// A server to use instead of a local model (`model` and the settings above are then
    /// the local engine's, unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteParams>,
}

/// An OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama, LM Studio, a hosted
/// API) that does the generating.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteParams {
    /// The server's base URL: `http://host:8080` (a trailing `/v1` is taken off).
    pub url: String,
    /// The model to ask for; empty: the first one the server lists.
    pub model: String,
    /// The name of the environment variable that holds the API key (the key itself is never
    /// written anywhere); empty: no key.
    pub api_key_env: String,
    /// Seconds a server may stay silent (connecting, reading the prompt, between tokens)
    /// before the request fails.
    pub timeout_s: u64,
    /// The model's `tokenizer.json`, for exact token counts; without one they are estimated.
    pub tokenizer: Option<PathBuf>,
}

/// Whether llama.cpp uses flash attention. Its own choice (`auto`) is not the fastest
/// everywhere (on one 2-core Xeon it made generation at 512 tokens of context about half as
/// fast; on another it read prompts faster and generated as fast), so the writer can force it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttention {
    #[default]
    Auto,
    On,
    Off,
}

/// What the worker knows about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub n_ctx: u32,
    pub n_ctx_train: u32,
    pub n_params: u64,
    pub size_bytes: u64,
    /// The GGUF carries a chat template that llama.cpp understands; otherwise ChatML is used.
    pub has_chat_template: bool,
    pub load_ms: u64,
    /// The model's architecture as the GGUF names it ("llama", "qwen2", ...).
    #[serde(default)]
    pub architecture: String,
    /// How its weights are stored ("Q4_1", "Q4_K - Medium", ...).
    #[serde(default)]
    pub quantisation: String,
    /// What its context decodes with.
    #[serde(default)]
    pub settings: EngineSettings,
    /// Where its layers (the repeating ones and the output) went, GPUs first.
    #[serde(default)]
    pub placement: Vec<Placement>,
}

/// A device llama.cpp can compute on, as it names it ("CPU", "CUDA0", "Vulkan0", ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    pub description: String,
    /// The backend it belongs to ("CPU", "CUDA", "Metal", "Vulkan").
    pub backend: String,
    pub gpu: bool,
    /// A GPU that shares the CPU's memory: llama.cpp uses one only when there is no other.
    pub integrated: bool,
    pub memory_total_bytes: u64,
    pub memory_free_bytes: u64,
}

/// A backend module of a GPU build (a shared library beside the binary) and what became of it
/// at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendModule {
    /// Its file name ("libggml-cuda.so", "libggml-cpu-haswell.so").
    pub file: String,
    /// The backend it is one of ("cpu", "cuda", "vulkan").
    pub backend: String,
    pub state: ModuleState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModuleState {
    /// Registered with llama.cpp under this backend name ("CUDA", "Vulkan", "CPU").
    Loaded { name: String },
    /// A CPU variant compiled for features this CPU lacks.
    Unsupported,
    /// It would run, but the named module of the same backend suits this machine better.
    Outscored { by: String },
    /// It did not open: the dynamic loader's reason (a missing driver library, most often).
    Failed { reason: String },
    /// It opened, but its backend would not start: no driver or device it could use.
    NoDevice,
}

/// How a `ModuleState::NoDevice` module is described.
pub const NO_DEVICE: &str = "it opened, but found no driver or device it could use";

/// Where a model's layers went: a device's name and how many of them it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub device: String,
    pub layers: u32,
}

/// "CPU: 31 layers", "CUDA0: 20 layers, CPU: 11 layers".
pub fn describe_placement(placement: &[Placement]) -> String {
    if placement.is_empty() {
        return "unknown".into();
    }
    placement
        .iter()
        .map(|p| {
            format!(
                "{}: {} layer{}",
                p.device,
                p.layers,
                if p.layers == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What decided the flash-attention setting: what a program (a test, the benchmark) acts on;
/// `EngineSettings::chosen_by` says it for a person, with the figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// The config named it.
    #[default]
    Config,
    /// Measured on this machine by this worker.
    Measured,
    /// Measured on this machine before, for this build, model and placement.
    Remembered,
    /// Not measured yet: this worker measures when it is idle.
    ToMeasure,
    /// Not measured and will not be by this worker (a busy machine, nowhere to remember it).
    NotMeasured,
    /// The server decides (a remote engine).
    Server,
}

/// What the worker decodes with, and how it came to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineSettings {
    pub flash_attention: FlashAttention,
    /// What decided the flash-attention setting.
    #[serde(default)]
    pub choice: Choice,
    /// The same for a person: the config, or a measurement on this machine (now, or
    /// remembered from an earlier one) with its figures.
    pub chosen_by: String,
    pub threads: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    /// The KV cache's element type ("f16").
    pub cache_type: String,
}

impl EngineSettings {
    /// One line, as `quill bench` and the settings pane show it.
    pub fn describe(&self) -> String {
        let flash = match self.flash_attention {
            FlashAttention::Auto => "llama.cpp's choice",
            FlashAttention::On => "on",
            FlashAttention::Off => "off",
        };
        let chosen = if self.chosen_by.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.chosen_by)
        };
        format!(
            "flash attention {flash}{chosen}, {} threads, n_batch {}, n_ubatch {}, {} cache",
            self.threads, self.n_batch, self.n_ubatch, self.cache_type
        )
    }
}

/// A prompt is built from parts, so the worker can tell the writer's text (never parsed for special
/// tokens, and trimmable to fit the context) from the template's own text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Prompt {
    /// Raw completion: the parts are concatenated and continued.
    Completion { parts: Vec<Part> },
    /// Rendered through the model's chat template, ending with an open assistant turn.
    Chat { messages: Vec<ChatMessage> },
}

impl Prompt {
    /// Whether the prompt begins the answer: a chat whose last turn is the assistant's.
    pub fn begun(&self) -> bool {
        match self {
            Prompt::Chat { messages } => messages.last().is_some_and(|m| m.role == "assistant"),
            Prompt::Completion { .. } => false,
        }
    }

    /// This prompt with `from` replaced by `to` in every part's text.
    pub fn replaced(&self, from: &str, to: &str) -> Prompt {
        let parts = |parts: &[Part]| -> Vec<Part> {
            parts
                .iter()
                .map(|p| Part {
                    text: p.text.replace(from, to),
                    fit: p.fit,
                })
                .collect()
        };
        match self {
            Prompt::Completion { parts: p } => Prompt::Completion { parts: parts(p) },
            Prompt::Chat { messages } => Prompt::Chat {
                messages: messages
                    .iter()
                    .map(|m| ChatMessage {
                        role: m.role.clone(),
                        parts: parts(&m.parts),
                    })
                    .collect(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub text: String,
    #[serde(default)]
    pub fit: Fit,
}

impl Part {
    pub fn fixed(text: impl Into<String>) -> Self {
        Part {
            text: text.into(),
            fit: Fit::Fixed,
        }
    }
}

/// How a part may be shortened when the prompt does not fit the context window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Never shortened (instructions, template text).
    #[default]
    Fixed,
    /// Keep the end (text before the cursor): drop from the start.
    KeepEnd,
    /// Keep the start (text after the cursor, a selection): drop from the end.
    KeepStart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateOptions {
    /// Reuse the evaluated prefix held in the KV cache; benchmarks turn it off for cold timings.
    pub reuse_prefix: bool,
    /// Keep generating past end-of-generation tokens (throughput benchmarks only).
    pub ignore_eos: bool,
    /// Variants generated side by side over the one prompt, read once. Variant `k` has the
    /// job id `job + k` and the seed `seed + k`; each streams and ends under its own id, and a
    /// `Cancel` of its id stops it alone. 0 counts as 1.
    pub variants: u32,
    /// Milliseconds within which the first token must come, or the request is dropped
    /// (ghost text: a late one would only get in the writer's way); 0 for no limit. A remote
    /// engine keeps it; the local worker, whose latency is its own, does not need it.
    pub deadline_ms: u64,
    /// Prompt-lookup drafting for this request, over the engine's setting (`LoadParams`):
    /// benchmarks compare it on and off in one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            reuse_prefix: true,
            ignore_eos: false,
            variants: 1,
            deadline_ms: 0,
            lookup: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Loading goes on; `progress` runs from 0 to 1.
    ModelLoading {
        progress: f32,
    },
    ModelLoaded(ModelInfo),
    ModelLoadFailed {
        reason: String,
    },
    /// The answer to a load when this build cannot compute at all (a GPU build whose CPU
    /// backend modules are missing or do not open): no model is at fault.
    NoBackend {
        reason: String,
    },
    /// The prompt is being read: `read` of its `total` tokens are in the context (those
    /// reused from the last request included), at `tokens_per_s`. Sent between batches of a
    /// prompt long enough to take more than one.
    PromptRead {
        job: JobId,
        read: u32,
        total: u32,
        tokens_per_s: f64,
    },
    TokenGenerated {
        job: JobId,
        text: String,
    },
    GenerationFinished {
        job: JobId,
        stats: GenerationStats,
    },
    GenerationFailed {
        job: JobId,
        reason: String,
    },
    /// A warning that does not stop the work (an unknown chat template, say).
    Warned {
        message: String,
    },
    /// The worker is idle and measures the settings now (`Choice::ToMeasure`); a request
    /// stops it and is served first. Sent at each idle moment the measuring goes on in.
    Measuring,
    /// The settings the context decodes with now, after they were measured (or a `Measure`
    /// found nothing to do).
    SettingsChosen(EngineSettings),
    /// What llama.cpp was built with: the CPU features its kernels were compiled for
    /// (ggml's names: "AVX2", "AVX512_VNNI", "AMX_INT8", "NEON", ...).
    SystemDescribed {
        cpu_features: Vec<String>,
        /// The devices llama.cpp can compute on in this build (the CPU always).
        #[serde(default)]
        devices: Vec<Device>,
        /// A GPU build's backend modules and what became of each (empty when the backends are
        /// linked in).
        #[serde(default)]
        modules: Vec<BackendModule>,
    },
    /// Synthesised by the client when the worker process ends; never sent by the worker.
    WorkerExited {
        exit: super::exit::WorkerExit,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    #[default]
    EndOfText,
    StopString,
    MaxTokens,
    ContextFull,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    /// Tokens in the fitted prompt.
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV entries were kept from the previous request.
    pub reused_tokens: u32,
    /// Tokens of the writer's text left out to fit the context window.
    pub dropped_tokens: u32,
    pub generated_tokens: u32,
    /// From receiving the request to the first generated token.
    pub ttft_ms: f64,
    /// Prompt tokens actually decoded per second (reused ones excluded).
    pub prompt_tokens_per_s: f64,
    /// Generated tokens per second, after the first one.
    pub tokens_per_s: f64,
    pub stop_reason: StopReason,
    /// The CPU threads it decoded with (fewer than the cores when other programs kept some
    /// busy and `threads = 0`).
    #[serde(default)]
    pub threads: u32,
    /// `prompt_tokens` (and `dropped_tokens`) are estimates: a remote engine without the
    /// model's tokenizer counts roughly.
    #[serde(default)]
    pub estimated: bool,
    /// Generated in a context with flash attention on (a worker that generates without it
    /// keeps one for short prompts where it measured faster, see `tune`).
    #[serde(default)]
    pub with_flash: bool,
    /// Prompt-lookup drafting: tokens drafted and checked, and how many of them held.
    #[serde(default)]
    pub drafted: u32,
    #[serde(default)]
    pub accepted: u32,
    /// The batched decodes its tokens took (`generated_tokens / decodes` tokens a decode).
    #[serde(default)]
    pub decodes: u32,
}

fn yes() -> bool {
    true
}

impl Request {
    pub fn to_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl Event {
    pub fn to_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The job this event belongs to, if it belongs to one.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Event::TokenGenerated { job, .. }
            | Event::PromptRead { job, .. }
            | Event::GenerationFinished { job, .. }
            | Event::GenerationFailed { job, .. } => Some(*job),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_single_json_lines() {
        let request = Request::Generate {
            job: 7,
            prompt: Prompt::Chat {
                messages: vec![ChatMessage {
                    role: "user".into(),
                    parts: vec![
                        Part::fixed("Rewrite:\n"),
                        Part {
                            text: "第一行\n<|im_end|>".into(),
                            fit: Fit::KeepStart,
                        },
                    ],
                }],
            },
            sampling: SamplingParams::default(),
            options: GenerateOptions::default(),
        };
        let line = request.to_line().unwrap();
        assert!(!line.contains('\n'), "one request, one line: {line}");
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), request);
    }

    #[test]
    fn missing_optional_fields_take_defaults() {
        let line = r#"{"type":"generate","job":1,"prompt":{"mode":"completion","parts":[{"text":"hi"}]},"sampling":{"max_tokens":3}}"#;
        let Request::Generate {
            sampling,
            options,
            prompt,
            ..
        } = serde_json::from_str(line).unwrap()
        else {
            panic!("not a generate request");
        };
        assert_eq!(sampling.max_tokens, 3);
        assert_eq!(sampling.top_k, SamplingParams::default().top_k);
        assert!(options.reuse_prefix);
        assert_eq!(
            prompt,
            Prompt::Completion {
                parts: vec![Part::fixed("hi")]
            }
        );
    }

    #[test]
    fn events_name_their_job() {
        let event = Event::TokenGenerated {
            job: 3,
            text: "字".into(),
        };
        let line = event.to_line().unwrap();
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap().job(), Some(3));
        assert_eq!(
            Event::Warned {
                message: "x".into()
            }
            .job(),
            None
        );
    }
}
