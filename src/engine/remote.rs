//! The remote engine: an OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama,
//! LM Studio, a hosted API) behind the same `Engine` and `Connection` as the local worker, so
//! the editor and the headless commands cannot tell them apart.
//!
//! Chat prompts go to `/v1/chat/completions`, completion prompts (continue, ghost text) to
//! `/v1/completions`, both streamed as server-sent events. Each request runs on a thread of its
//! own, whose HTTP reading is a second thread: the first one answers the client (cancel, the
//! ghost text's deadline, the silence timeout) at once, whatever the socket does, and the
//! reader closes the connection at its next read. Variants are parallel requests with seeds
//! `seed + k`; a new `Generate` cancels the running ones, as the worker does.
//!
//! ureq is the HTTP client: blocking, so it fits this threaded program without an async
//! runtime, with rustls, per-read timeouts and streaming bodies (it also fetches models).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;
use ureq::Agent;

mod job;
mod request;
mod stream;

use super::count::TokenCounter;
use super::protocol::{
    Choice, EngineSettings, Event, GenerateOptions, GenerationStats, JobId, LoadParams, ModelInfo,
    Prompt, RemoteParams, Request, SamplingParams, StopReason,
};
use super::{Connection, Engine, EventSink};
use crate::sanitize::strip_controls;
use job::{JobRequest, run_job};
use request::{fit_prompt, request_body};
use stream::Incoming;

/// Reaching the server: past this, it is down or unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Silence allowed when the config gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of an error body a message quotes.
const QUOTE_CHARS: usize = 200;

/// The remote kind of engine. Its log is the worker log: one place to look.
#[derive(Debug, Clone)]
pub struct RemoteEngine {
    pub log_file: PathBuf,
}

impl Engine for RemoteEngine {
    fn check(&self, params: &LoadParams) -> std::result::Result<(), String> {
        let remote = params
            .remote
            .as_ref()
            .ok_or("no server is configured: set [engine] url, or kind = \"local\"")?;
        base_url(&remote.url)?;
        api_key(remote)?;
        Ok(())
    }

    fn connect(&self, sink: EventSink) -> Result<Box<dyn Connection>> {
        // The log is where the writer looks when a server misbehaves, as for the worker.
        if let Some(dir) = self.log_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file);
        Ok(Box::new(Remote {
            sink: Arc::new(Mutex::new(sink)),
            server: Arc::new(Mutex::new(None)),
            jobs: HashMap::new(),
            log_file: self.log_file.clone(),
        }))
    }

    fn note(&self, line: &str) {
        super::append_to_log(&self.log_file, line);
    }
}

type Sink = Arc<Mutex<EventSink>>;

fn emit(sink: &Sink, event: Event) {
    if let Ok(mut sink) = sink.lock() {
        sink(event);
    }
}

/// A connection to a server: nothing is open between requests.
struct Remote {
    sink: Sink,
    /// What `Load` found out; `None` until it has.
    server: Arc<Mutex<Option<Arc<Server>>>>,
    /// The running requests, by job.
    jobs: HashMap<JobId, Sender<Incoming>>,
    log_file: PathBuf,
}

/// A server that answered, and what it said about itself.
struct Server {
    base: String,
    model: String,
    key: Option<String>,
    flavour: Flavour,
    n_ctx: u32,
    timeout: Duration,
    counter: TokenCounter,
    agent: Agent,
}

/// Which sampling knobs beyond OpenAI's a server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    LlamaCpp,
    Vllm,
    /// OpenAI's own API rejects what it does not know, so nothing more is sent.
    OpenAi,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Flavour::LlamaCpp => "llama.cpp server",
            Flavour::Vllm => "vLLM",
            Flavour::OpenAi => "OpenAI-compatible server",
        }
    }

    /// The knobs this kind of server does not take, as the config names them.
    fn ignored(self) -> &'static [&'static str] {
        match self {
            Flavour::LlamaCpp => &[],
            Flavour::Vllm => &["repeat_last_n", "grammar", "dry_multiplier"],
            Flavour::OpenAi => &[
                "top_k",
                "min_p",
                "repeat_penalty",
                "repeat_last_n",
                "grammar",
                "dry_multiplier",
            ],
        }
    }
}

impl Connection for Remote {
    fn send(&mut self, request: &Request) -> Result<()> {
        match request {
            Request::Load(params) => self.load(params.clone()),
            Request::Generate {
                job,
                prompt,
                sampling,
                options,
            } => self.generate(*job, prompt, sampling, options),
            Request::Cancel { job } => {
                if let Some(tx) = self.jobs.remove(job) {
                    let _ = tx.send(Incoming::Cancel);
                }
            }
            Request::Describe => emit(
                &self.sink,
                Event::SystemDescribed {
                    cpu_features: Vec::new(),
                    devices: Vec::new(),
                    modules: Vec::new(),
                },
            ),
            // Nothing here is measured: the server chose its own settings.
            Request::Measure { .. } => {
                let settings = self
                    .server
                    .lock()
                    .ok()
                    .and_then(|s| s.as_ref().map(|s| settings(s)))
                    .unwrap_or_default();
                emit(&self.sink, Event::SettingsChosen(settings));
            }
        }
        Ok(())
    }

    fn kill(&mut self) {
        self.cancel_all();
    }

    fn pid(&self) -> Option<u32> {
        None
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.cancel_all();
    }
}

impl Remote {
    fn cancel_all(&mut self) {
        for (_, tx) in self.jobs.drain() {
            let _ = tx.send(Incoming::Cancel);
        }
    }

    /// Asks the server what it serves, on a thread: a slow server must not hold the caller.
    fn load(&mut self, params: LoadParams) {
        self.cancel_all();
        let (sink, server, log_file) = (
            Arc::clone(&self.sink),
            Arc::clone(&self.server),
            self.log_file.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("remote-load".into())
            .spawn(move || {
                let started = Instant::now();
                match probe(&params) {
                    Ok(found) => {
                        super::append_to_log(
                            &log_file,
                            &format!(
                                "quill: remote engine: {} at {} serving {} ({} tokens of context); \
                                 token counts {}",
                                found.flavour.name(),
                                found.base,
                                found.model,
                                found.n_ctx,
                                found.counter.describe()
                            ),
                        );
                        let info = model_info(&found, started.elapsed());
                        let ignored = found.flavour.ignored();
                        if let Ok(mut slot) = server.lock() {
                            *slot = Some(Arc::new(found));
                        }
                        if !ignored.is_empty() {
                            emit(
                                &sink,
                                Event::Warned {
                                    message: format!(
                                        "this server does not take {}: those settings are not sent",
                                        ignored.join(", ")
                                    ),
                                },
                            );
                        }
                        emit(&sink, Event::ModelLoaded(info));
                    }
                    Err(reason) => {
                        super::append_to_log(&log_file, &format!("quill: remote engine: {reason}"));
                        emit(&sink, Event::ModelLoadFailed { reason });
                    }
                }
            });
        if let Err(e) = spawned {
            emit(
                &self.sink,
                Event::ModelLoadFailed {
                    reason: format!("cannot start a thread: {e}"),
                },
            );
        }
    }

    fn generate(
        &mut self,
        job: JobId,
        prompt: &Prompt,
        sampling: &SamplingParams,
        options: &GenerateOptions,
    ) {
        // The latest request wins, as with the worker.
        self.cancel_all();
        let variants = options.variants.max(1);
        let fail_all = |reason: String| {
            for k in 0..variants {
                emit(
                    &self.sink,
                    Event::GenerationFailed {
                        job: job + JobId::from(k),
                        reason: reason.clone(),
                    },
                );
            }
        };
        let server = self.server.lock().ok().and_then(|s| s.clone());
        let Some(server) = server else {
            fail_all("the server is not connected yet".into());
            return;
        };
        let fitted = match fit_prompt(&server, prompt, sampling) {
            Ok(fitted) => fitted,
            Err(reason) => {
                fail_all(reason);
                return;
            }
        };
        for k in 0..variants {
            let id = job + JobId::from(k);
            let mut sampling = sampling.clone();
            sampling.seed = sampling.seed.wrapping_add(k);
            let (tx, rx) = mpsc::channel();
            let request = JobRequest {
                id,
                endpoint: fitted.endpoint,
                body: request_body(&server, &fitted.body, &sampling, options),
                stop: sampling.stop.clone(),
                max_tokens: sampling.max_tokens,
                deadline: (options.deadline_ms > 0)
                    .then(|| Duration::from_millis(options.deadline_ms)),
                stats: GenerationStats {
                    prompt_tokens: fitted.tokens,
                    reused_tokens: 0,
                    dropped_tokens: fitted.dropped,
                    generated_tokens: 0,
                    ttft_ms: 0.0,
                    prompt_tokens_per_s: 0.0,
                    tokens_per_s: 0.0,
                    stop_reason: StopReason::EndOfText,
                    threads: 0,
                    estimated: !server.counter.is_exact(),
                    ..GenerationStats::default()
                },
            };
            let (server, sink, reader_tx) =
                (Arc::clone(&server), Arc::clone(&self.sink), tx.clone());
            let spawned = std::thread::Builder::new()
                .name("remote-job".into())
                .spawn(move || run_job(&server, &sink, request, reader_tx, rx));
            match spawned {
                Ok(_) => {
                    self.jobs.insert(id, tx);
                }
                Err(e) => emit(
                    &self.sink,
                    Event::GenerationFailed {
                        job: id,
                        reason: format!("cannot start a thread: {e}"),
                    },
                ),
            }
        }
    }
}

fn settings(server: &Server) -> EngineSettings {
    EngineSettings {
        choice: Choice::Server,
        chosen_by: format!("by the {} at {}", server.flavour.name(), server.base),
        cache_type: String::new(),
        ..EngineSettings::default()
    }
}

fn model_info(server: &Server, took: Duration) -> ModelInfo {
    ModelInfo {
        name: server.model.clone(),
        n_ctx: server.n_ctx,
        n_ctx_train: server.n_ctx,
        n_params: 0,
        size_bytes: 0,
        has_chat_template: true,
        load_ms: took.as_millis() as u64,
        architecture: format!("remote ({})", server.flavour.name()),
        quantisation: String::new(),
        settings: settings(server),
        placement: Vec::new(),
    }
}

/// `url` without a trailing `/` or `/v1`, checked to be an http(s) URL.
pub fn base_url(url: &str) -> std::result::Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err(
            "no server URL: set [engine] url (for example \"http://gpu-box:8080\") or use \
             --url"
                .into(),
        );
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "the server URL '{url}' must start with http:// or https:// ([engine] url)"
        ));
    }
    let url = url.trim_end_matches('/');
    Ok(url.strip_suffix("/v1").unwrap_or(url).to_string())
}

/// The API key from the environment variable the config names, if it names one.
fn api_key(remote: &RemoteParams) -> std::result::Result<Option<String>, String> {
    let name = remote.api_key_env.trim();
    if name.is_empty() {
        return Ok(None);
    }
    match std::env::var(name) {
        Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_string())),
        _ => Err(format!(
            "[engine] api_key_env names the environment variable {name}, which is not set: \
             export {name}=<your key> before starting Quill"
        )),
    }
}

fn agent(timeout: Duration) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .build()
        .into()
}

/// Connects to the server and asks which model it serves and with how much context.
fn probe(params: &LoadParams) -> std::result::Result<Server, String> {
    let remote = params
        .remote
        .as_ref()
        .ok_or("no server is configured: set [engine] url")?;
    let base = base_url(&remote.url)?;
    let key = api_key(remote)?;
    let timeout = match remote.timeout_s {
        0 => DEFAULT_TIMEOUT,
        s => Duration::from_secs(s),
    };
    let agent = agent(timeout);
    let models = get_json(&agent, &base, "/v1/models", key.as_deref(), timeout)?;
    let listed: Vec<&Value> = models["data"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let ids: Vec<&str> = listed.iter().filter_map(|m| m["id"].as_str()).collect();
    let wanted = remote.model.trim();
    let entry = if wanted.is_empty() {
        listed.first().copied()
    } else {
        // Ollama lists "llama3.1:latest" for "llama3.1".
        listed.iter().copied().find(|m| {
            m["id"]
                .as_str()
                .is_some_and(|id| id == wanted || id.strip_suffix(":latest") == Some(wanted))
        })
    };
    let model = match (entry, wanted.is_empty()) {
        (Some(entry), _) => entry["id"].as_str().unwrap_or(wanted).to_string(),
        (None, true) => {
            return Err(format!(
                "the server at {base} lists no models: set [engine] remote_model to the one \
                 to use"
            ));
        }
        // A server that lists none may still serve it (some proxies list nothing).
        (None, false) if ids.is_empty() => wanted.to_string(),
        (None, false) => {
            return Err(format!(
                "the server at {base} has no model '{wanted}'; it serves {}: set [engine] \
                 remote_model (or --remote-model) to one of them",
                ids.iter()
                    .map(|id| format!("'{}'", one_line(id)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let flavour = match entry.and_then(|m| m["owned_by"].as_str()) {
        Some("llamacpp") => Flavour::LlamaCpp,
        Some("vllm") => Flavour::Vllm,
        _ => Flavour::OpenAi,
    };
    let n_ctx = server_context(&agent, &base, key.as_deref(), timeout, flavour, entry)
        .unwrap_or(params.n_ctx);
    let counter = match &remote.tokenizer {
        Some(path) => TokenCounter::load(path)?,
        None => TokenCounter::for_model(&model),
    };
    Ok(Server {
        base,
        model,
        key,
        flavour,
        n_ctx,
        timeout,
        counter,
        agent,
    })
}

/// The context a request gets: llama-server's per-slot context (`/props`), vLLM's
/// `max_model_len`, else what the model card says; `None` when the server does not say.
fn server_context(
    agent: &Agent,
    base: &str,
    key: Option<&str>,
    timeout: Duration,
    flavour: Flavour,
    entry: Option<&Value>,
) -> Option<u32> {
    let as_u32 = |v: &Value| {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n > 0)
    };
    if flavour == Flavour::LlamaCpp
        && let Ok(props) = get_json(agent, base, "/props", key, timeout)
        && let Some(n) = as_u32(&props["default_generation_settings"]["n_ctx"])
    {
        return Some(n);
    }
    let entry = entry?;
    as_u32(&entry["max_model_len"])
        .or_else(|| as_u32(&entry["context_length"]))
        .or_else(|| as_u32(&entry["meta"]["n_ctx_train"]))
}

fn get_json(
    agent: &Agent,
    base: &str,
    path: &str,
    key: Option<&str>,
    timeout: Duration,
) -> std::result::Result<Value, String> {
    let mut request = agent.get(format!("{base}{path}"));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let mut response = request
        .call()
        .map_err(|e| transport_error(&e, base, timeout))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .map_err(|e| format!("the server at {base} sent an unreadable answer to {path}: {e}"))?;
    if status != 200 {
        return Err(status_error(status, &body, base, path));
    }
    serde_json::from_str(&body).map_err(|e| {
        format!(
            "the server at {base} answered {path} with something that is not JSON ({e}): is \
             [engine] url an OpenAI-compatible server?"
        )
    })
}

/// A failure to talk to the server at all, as the writer should read it.
fn transport_error(error: &ureq::Error, base: &str, timeout: Duration) -> String {
    match error {
        ureq::Error::Timeout(_) => format!(
            "the server at {base} did not answer within {} s ([engine] timeout_s); it may be \
             overloaded, or reading a long prompt on a slow machine",
            timeout.as_secs()
        ),
        ureq::Error::HostNotFound => {
            format!("cannot find the host of {base}: check [engine] url")
        }
        ureq::Error::ConnectionFailed | ureq::Error::Io(_) => format!(
            "cannot reach the server at {base} ({error}): is it running, and is [engine] url \
             right?"
        ),
        other => format!("talking to the server at {base} failed: {other}"),
    }
}

/// An HTTP error status, with what the server said about it.
fn status_error(status: u16, body: &str, base: &str, path: &str) -> String {
    let said = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .or_else(|| v["message"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.trim().to_string());
    let said: String = one_line(&said).chars().take(QUOTE_CHARS).collect();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(": \"{said}\"")
    };
    match status {
        401 | 403 => format!(
            "the server at {base} refused the API key (HTTP {status}){said}; set [engine] \
             api_key_env to the environment variable that holds a valid key"
        ),
        404 => format!(
            "the server at {base} has no {path} (HTTP 404){said}: is [engine] url the server's \
             base URL, and does it serve that model?"
        ),
        429 => format!(
            "the server at {base} is overloaded (HTTP 429, too many requests){said}; try again \
             in a moment"
        ),
        503 => format!(
            "the server at {base} is unavailable (HTTP 503){said}; it may still be loading its \
             model or be overloaded: try again in a moment"
        ),
        _ => format!("the server at {base} answered HTTP {status} to {path}{said}"),
    }
}

/// A request dropped because the server said nothing for its timeout.
fn silent(server: &Server) -> String {
    format!(
        "the server at {} sent nothing for {} s ([engine] timeout_s); the request was dropped",
        server.base,
        server.timeout.as_secs()
    )
}

/// A server's words on one line, with nothing in them that could drive a terminal.
fn one_line(text: &str) -> String {
    strip_controls(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::request::{Body, DRY_WINDOW, ONE_LINE_GRAMMAR};
    use super::*;

    #[test]
    fn base_urls_lose_their_trailing_slash_and_v1() {
        assert_eq!(base_url("http://h:8080/").unwrap(), "http://h:8080");
        assert_eq!(base_url(" https://api.x/v1 ").unwrap(), "https://api.x");
        assert!(base_url("").unwrap_err().contains("[engine] url"));
        assert!(base_url("h:8080").unwrap_err().contains("http://"));
    }

    #[test]
    fn a_key_variable_that_is_not_set_says_how_to_set_it() {
        let remote = RemoteParams {
            api_key_env: "QUILL_TEST_SURELY_UNSET_KEY".into(),
            ..RemoteParams::default()
        };
        let message = api_key(&remote).unwrap_err();
        assert!(
            message.contains("export QUILL_TEST_SURELY_UNSET_KEY="),
            "{message}"
        );
        assert_eq!(api_key(&RemoteParams::default()), Ok(None));
    }

    #[test]
    fn error_statuses_say_what_happened_and_never_echo_escapes() {
        let body = r#"{"error":{"message":"bad key \u001b]52;c;evil\u0007"}}"#;
        let message = status_error(401, body, "http://h", "/v1/models");
        assert!(message.contains("refused the API key"), "{message}");
        assert!(message.contains("api_key_env"), "{message}");
        assert!(
            !message.contains('\u{1b}') && !message.contains('\u{7}'),
            "{message:?}"
        );
        assert!(status_error(429, "", "http://h", "/x").contains("overloaded"));
        assert!(status_error(503, "busy", "http://h", "/x").contains("\"busy\""));
    }

    fn server(flavour: Flavour, n_ctx: u32) -> Server {
        Server {
            base: "http://h".into(),
            model: "m".into(),
            key: None,
            flavour,
            n_ctx,
            timeout: DEFAULT_TIMEOUT,
            counter: TokenCounter::Estimate,
            agent: agent(DEFAULT_TIMEOUT),
        }
    }

    #[test]
    fn only_the_knobs_a_server_takes_are_sent() {
        let sampling = SamplingParams {
            stop: (0..6).map(|i| format!("s{i}")).collect(),
            ..SamplingParams::default()
        };
        let body = Body::Completion("Once".into());
        let options = GenerateOptions::default();
        let openai = request_body(&server(Flavour::OpenAi, 4096), &body, &sampling, &options);
        assert!(openai.get("top_k").is_none() && openai.get("min_p").is_none());
        assert_eq!(openai["stop"].as_array().unwrap().len(), 4);
        assert_eq!(openai["prompt"], "Once");
        let llama = request_body(&server(Flavour::LlamaCpp, 4096), &body, &sampling, &options);
        assert_eq!(llama["top_k"], sampling.top_k);
        assert_eq!(llama["repeat_last_n"], sampling.repeat_last_n);
        let vllm = request_body(&server(Flavour::Vllm, 4096), &body, &sampling, &options);
        assert!(vllm.get("repeat_penalty").is_none());
        assert!(vllm.get("repetition_penalty").is_some());
        // DRY and a one-line answer: llama-server takes both, the latter as a grammar.
        let shaped = SamplingParams {
            dry_multiplier: 0.8,
            dry_allowed_length: 8,
            one_line: true,
            ..SamplingParams::default()
        };
        let llama = request_body(&server(Flavour::LlamaCpp, 4096), &body, &shaped, &options);
        assert_eq!(llama["dry_allowed_length"], 8);
        assert_eq!(llama["dry_penalty_last_n"], DRY_WINDOW);
        assert_eq!(llama["grammar"], ONE_LINE_GRAMMAR);
        let vllm = request_body(&server(Flavour::Vllm, 4096), &body, &shaped, &options);
        assert!(vllm.get("dry_multiplier").is_none() && vllm.get("grammar").is_none());
    }

    #[test]
    fn a_long_draft_is_shortened_to_leave_room_for_the_answer() {
        use super::super::protocol::{ChatMessage, Fit, Part};
        let draft = "A sentence of some words here. ".repeat(400);
        let prompt = Prompt::Chat {
            messages: vec![ChatMessage {
                role: "user".into(),
                parts: vec![
                    Part::fixed("Summarise:\n"),
                    Part {
                        text: draft.clone(),
                        fit: Fit::KeepStart,
                    },
                ],
            }],
        };
        let sampling = SamplingParams {
            max_tokens: 256,
            ..SamplingParams::default()
        };
        let fitted = fit_prompt(&server(Flavour::OpenAi, 2048), &prompt, &sampling).unwrap();
        assert!(fitted.dropped > 0);
        assert!(fitted.tokens as usize <= 2048 - 256, "{}", fitted.tokens);
        let Body::Chat(messages) = &fitted.body else {
            panic!("a chat prompt became a completion");
        };
        assert!(messages[0].1.starts_with("Summarise:\nA sentence"));
        assert!(messages[0].1.len() < draft.len());
        // A context too small for even the fixed text is refused with what to do.
        let tiny = fit_prompt(&server(Flavour::OpenAi, 8), &prompt, &sampling);
        assert!(tiny.err().unwrap().contains("lower max_tokens"));
    }
}
