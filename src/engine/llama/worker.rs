//! The worker process body: the only code that touches `llama_cpp_2`.
//!
//! It reads `Request`s from stdin on a thread of its own (so a `Cancel` arrives while a decode
//! runs), answers with `Event`s on stdout, and keeps the tokens it last evaluated so a prompt that
//! shares a prefix decodes only the new suffix. Its stderr is a log file, never the terminal.

use std::ffi::{CStr, c_char};
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::session::LlamaStateSeqFlags;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::{LogOptions, send_logs_to_tracing};

use super::load::{MAX_PARALLEL, context_params, context_size, load_model, thread_count};
use super::sweep::{self, DepthRate, Sweep};
use crate::engine::cpuload::{self, CpuLoad};
use crate::engine::fit::{self, Shortenable};
use crate::engine::model_file;
use crate::engine::protocol::{
    ChatMessage, Device, EngineSettings, Event, Fit, FlashAttention, GenerateOptions,
    GenerationStats, JobId, LoadParams, ModelInfo, Part, Placement, Prompt, Request,
    SamplingParams, StopReason,
};
use crate::engine::stream::{TextStream, is_continuation, piece_fits};
use crate::engine::tune;
use llama_cpp_2::LlamaBackendDeviceType;

/// Environment variable through which the client names its pid, so a worker whose parent died
/// before `PR_SET_PDEATHSIG` took effect notices and exits.
pub const PARENT_PID_ENV: &str = "QUILL_WORKER_PARENT";

/// Prompt tokens decoded between two progress reports: llama.cpp's own micro-batch (n_ubatch,
/// 512 by default), so reporting splits no work it would have done in one piece.
const PROGRESS_TOKENS: usize = 512;

/// Entry point of `quill worker`.
pub fn run() -> Result<()> {
    harden_process();
    send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
    let backend = LlamaBackend::init().context("initialising the llama.cpp backend")?;

    let requests = spawn_request_reader();
    let mut out = EventWriter::new();
    let mut load: Option<CpuLoad> = None;
    let mut next: Option<Request> = None;
    loop {
        let request = match next.take() {
            Some(request) => request,
            None => match requests.recv() {
                Ok(request) => request,
                Err(_) => return Ok(()), // stdin closed: the client is gone
            },
        };
        match request {
            Request::Load(params) => {
                // `threads = 0`: start reading the machine's load while the model loads, so
                // the first context already gets the cores that are free.
                if params.n_threads == 0 && load.is_none() {
                    load = CpuLoad::start();
                }
                match load_model(&backend, &params, true) {
                    Ok((model, load_ms)) => {
                        // A count the writer set is kept as it is, whatever an earlier load
                        // started reading.
                        let load = load.as_ref().filter(|_| params.n_threads == 0);
                        next = serve(
                            &backend, &model, &params, load_ms, load, &requests, &mut out,
                        )?;
                        if next.is_none() {
                            return Ok(());
                        }
                    }
                    Err(reason) => {
                        eprintln!("quill-worker: model load failed: {reason}");
                        out.send(&Event::ModelLoadFailed { reason })?;
                    }
                }
            }
            Request::Generate { job, .. } => out.send(&Event::GenerationFailed {
                job,
                reason: "no model is loaded".into(),
            })?,
            Request::Cancel { .. } | Request::Measure { .. } => {}
            Request::Describe => out.send(&describe_system())?,
        }
    }
}

/// A native abort must leave a one-line reason in the log, no core file, and no orphan.
fn harden_process() {
    unsafe extern "C" fn on_abort(message: *const c_char) {
        let text = if message.is_null() {
            "unknown".into()
        } else {
            // SAFETY: ggml passes a NUL-terminated message that lives for this call.
            unsafe { CStr::from_ptr(message) }.to_string_lossy()
        };
        let line = text.replace('\n', " ");
        eprintln!(
            "quill-worker[{}]: fatal: {}",
            std::process::id(),
            line.trim()
        );
    }
    // SAFETY: plain libc calls on this process; the callback has the signature ggml expects.
    unsafe {
        llama_cpp_sys_2::ggml_set_abort_callback(Some(on_abort));
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    if let Some(parent) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    {
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != parent {
            std::process::exit(0);
        }
    }
}

fn spawn_request_reader() -> Receiver<Request> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Request>(&line) {
                Ok(request) => {
                    if tx.send(request).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("quill-worker: ignoring a malformed request: {e}"),
            }
        }
    });
    rx
}

struct EventWriter {
    out: std::io::Stdout,
}

impl EventWriter {
    fn new() -> Self {
        EventWriter {
            out: std::io::stdout(),
        }
    }

    fn send(&mut self, event: &Event) -> Result<()> {
        let line = event.to_line()?;
        let mut out = self.out.lock();
        // Flushed per event: a token must reach the client the moment it exists.
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("the client stopped reading")
    }
}

/// Flash attention for a model about to be served in a context of `n_ctx`: the config's, else
/// what was measured on this machine before, else off until it is measured (`tuning` holds what
/// to measure).
fn plan_flash(
    params: &LoadParams,
    cores: u32,
    n_ctx: u32,
    layers: u32,
) -> (FlashAttention, String, Option<Tuning>) {
    if params.flash_attention != FlashAttention::Auto {
        return (params.flash_attention, "config".into(), None);
    }
    let Some(tuning) = Tuning::new(params, cores, n_ctx, layers) else {
        // Nowhere to remember a measurement: measuring at every start would cost more than
        // it saves. Off is what llama.cpp did before `auto`.
        return (
            FlashAttention::Off,
            "not measured: no state directory".into(),
            None,
        );
    };
    match tuning.memory.recall(&tuning.key) {
        Some(measured) => (
            measured.choice,
            format!("measured here before; {}", measured.summary()),
            None,
        ),
        None => (FlashAttention::Off, "to be measured".into(), Some(tuning)),
    }
}

/// A measurement of both flash-attention settings under way (see `tune`).
struct Tuning {
    key: tune::Key,
    sweep: Sweep,
    memory: tune::Memory,
    /// Each depth timed so far: flash attention on, off.
    done: Vec<[DepthRate; 2]>,
    /// Timings thrown away because other programs were busy meanwhile.
    busy: u32,
}

impl Tuning {
    /// Nothing measured yet for `params`' model on `cores` threads in a context of `n_ctx`;
    /// None when there is nowhere to remember it (no state directory named) or the model file
    /// cannot be read.
    fn new(params: &LoadParams, cores: u32, n_ctx: u32, layers: u32) -> Option<Tuning> {
        let file = std::env::var_os(tune::TUNING_FILE_ENV)?;
        let sweep = tune::sweep(n_ctx);
        let placed = placement(layers, params.n_gpu_layers)
            .iter()
            .map(|p| format!("{} {}", p.device, p.layers))
            .collect::<Vec<_>>()
            .join(", ");
        Some(Tuning {
            key: tune::Key::new(&params.model, cores, &sweep.depths, &placed)?,
            sweep,
            memory: tune::Memory::new(file.into()),
            done: Vec::new(),
            busy: 0,
        })
    }
}

/// How long the client must have sent nothing before the worker measures.
const IDLE_BEFORE_MEASURING: Duration = Duration::from_secs(2);

/// What waiting for a request came to.
enum Waited {
    Request(Request),
    /// Nothing came for `IDLE_BEFORE_MEASURING`, and there is measuring to do.
    Idle,
    Gone,
}

fn wait_for_request(requests: &Receiver<Request>, measuring: bool) -> Waited {
    if !measuring {
        return requests.recv().map_or(Waited::Gone, Waited::Request);
    }
    match requests.recv_timeout(IDLE_BEFORE_MEASURING) {
        Ok(request) => Waited::Request(request),
        Err(RecvTimeoutError::Timeout) => Waited::Idle,
        Err(RecvTimeoutError::Disconnected) => Waited::Gone,
    }
}

/// Measures what `tuning` still lacks: both settings side by side, each in a small context of
/// its own beside the session's (its cache stays), depth by depth, watching for requests
/// between decodes. One that arrives stops the measuring and is returned to be served; the
/// depths already timed are kept, and the next idle moment goes on from there. Once every depth
/// is timed, the faster setting is remembered and put in place, and the client told.
fn measure(
    session: &mut Session,
    backend: &LlamaBackend,
    params: &LoadParams,
    tuning: &mut Option<Tuning>,
    requests: &Receiver<Request>,
    out: &mut EventWriter,
) -> Result<Option<Request>> {
    let Some(t) = tuning.as_mut() else {
        return Ok(None);
    };
    let sweep = t.sweep.clone();
    let tokens = sweep_tokens(session.model, sweep.tokens_needed());
    let n_ctx = sweep.tokens_needed() as u32 + tune::SPARE_TOKENS;
    let mut contexts = [FlashAttention::On, FlashAttention::Off].map(|setting| {
        let (ctx_params, _) = context_params(session.model, n_ctx, session.threads as i32, setting);
        session
            .model
            .new_context(backend, ctx_params)
            .inspect_err(|e| {
                eprintln!("quill worker: no context with flash attention {setting:?}: {e}")
            })
            .ok()
    });
    let measured = match &mut contexts {
        [Some(on), Some(off)] => {
            let mut pending = None;
            let mut stop = || {
                if pending.is_some() {
                    return true;
                }
                match requests.try_recv() {
                    Ok(request) => {
                        pending = Some(request);
                        true
                    }
                    Err(TryRecvError::Empty) => false,
                    Err(TryRecvError::Disconnected) => true,
                }
            };
            let mut filled = [0, 0];
            for &depth in sweep.depths.iter().skip(t.done.len()) {
                let span = cpuload::Span::start();
                let started = Instant::now();
                // A machine found busy a second in is not timed to the end.
                let mut busy = None;
                let mut stop_or_busy = || {
                    if stop() {
                        return true;
                    }
                    if started.elapsed() >= Duration::from_secs(1) {
                        let others = span.others();
                        if others > tune::BUSY_LIMIT {
                            busy = Some(others);
                            return true;
                        }
                    }
                    false
                };
                let timed = sweep::compare_at(
                    [on, off],
                    &mut filled,
                    &tokens,
                    depth,
                    &sweep,
                    tune::REPS,
                    &mut stop_or_busy,
                )?;
                let others = match (timed, busy) {
                    (_, Some(others)) => others,
                    (None, None) => return Ok(pending),
                    (Some(rates), None) => match span.others() {
                        others if others > tune::BUSY_LIMIT => others,
                        _ => {
                            t.done.push(rates);
                            continue;
                        }
                    },
                };
                t.busy += 1;
                eprintln!(
                    "quill worker: other programs used {others:.2} cores while flash attention \
                     was timed at {depth} tokens; the timing is thrown away ({} of {})",
                    t.busy,
                    tune::ATTEMPTS
                );
                if t.busy < tune::ATTEMPTS {
                    return Ok(pending);
                }
                // A machine that stays busy: this worker stops trying, and says so.
                *tuning = None;
                session.flash_chosen_by =
                    "not measured: the machine was busy; measured next start".into();
                out.send(&Event::SettingsChosen(session.settings()))?;
                return Ok(pending);
            }
            let (on, off) = t.done.iter().map(|[a, b]| (*a, *b)).unzip();
            tune::Measurement::new(t.key.clone(), on, off)
        }
        // A setting this build or model cannot use is no candidate.
        [Some(_), None] => tune::Measurement::only(t.key.clone(), FlashAttention::On),
        [None, Some(_)] => tune::Measurement::only(t.key.clone(), FlashAttention::Off),
        [None, None] => {
            *tuning = None;
            session.flash_chosen_by =
                "not measured: no context of its own could be made; measured next start".into();
            out.send(&Event::SettingsChosen(session.settings()))?;
            return Ok(None);
        }
    };
    drop(contexts);
    let Some(t) = tuning.take() else {
        return Ok(None);
    };
    eprintln!(
        "quill worker: flash attention measured: {}; {:?} chosen",
        measured.summary(),
        measured.choice
    );
    if let Err(e) = t.memory.remember(&measured) {
        out.send(&Event::Warned {
            message: format!(
                "could not keep the engine measurement ({e}): it will be made again next time; \
                 check that the state directory is writable and the disk not full"
            ),
        })?;
    }
    session.flash_chosen_by = format!("measured here; {}", measured.summary());
    if measured.choice != session.flash_attention {
        session.set_flash(backend, params, measured.choice)?;
    }
    out.send(&Event::SettingsChosen(session.settings()))?;
    Ok(None)
}

/// The bench draft, repeated to `needed` tokens: the text the measurement reads.
fn sweep_tokens(model: &LlamaModel, needed: usize) -> Vec<LlamaToken> {
    const TEXT: &str = include_str!("../../../defaults/bench-draft.md");
    let piece = model.vocab().tokenize(TEXT.as_bytes(), false, false);
    piece.iter().copied().cycle().take(needed.max(1)).collect()
}

/// Serves requests against one loaded model. Returns the request that ends this model's life
/// (a new `Load`), or `None` when the client has gone.
fn serve(
    backend: &LlamaBackend,
    model: &LlamaModel,
    params: &LoadParams,
    load_ms: u64,
    // Some when `threads = 0`: the free cores, read before each request.
    load: Option<&CpuLoad>,
    requests: &Receiver<Request>,
    out: &mut EventWriter,
) -> Result<Option<Request>> {
    let cores = thread_count(params.n_threads);
    let threads = match load {
        Some(load) => cpuload::next_threads(cores as usize, cores as usize, load.others()) as i32,
        None => cores,
    };
    let n_ctx = context_size(model, params.n_ctx);
    let layers = model.n_layer() + 1;
    let (flash, chosen_by, mut tuning) = plan_flash(params, cores as u32, n_ctx, layers);
    let (ctx_params, n_ctx) = context_params(model, n_ctx, threads, flash);
    let ctx = match model.new_context(backend, ctx_params) {
        Ok(ctx) => ctx,
        Err(e) => {
            out.send(&Event::ModelLoadFailed {
                reason: format!("could not create a context of {n_ctx} tokens: {e}"),
            })?;
            return Ok(requests.recv().ok());
        }
    };
    let chat_template = model.chat_template(None).ok();
    let mut session = Session::new(model, ctx, chat_template, threads, (flash, chosen_by));
    announce(&session, params, load_ms, out)?;

    let mut next: Option<Request> = None;
    loop {
        let request = match next.take() {
            Some(request) => request,
            None => match wait_for_request(requests, tuning.is_some()) {
                Waited::Request(request) => request,
                Waited::Idle => {
                    next = measure(&mut session, backend, params, &mut tuning, requests, out)?;
                    continue;
                }
                Waited::Gone => return Ok(None),
            },
        };
        match request {
            Request::Load(_) => return Ok(Some(request)),
            Request::Cancel { .. } => {}
            Request::Measure { again } => {
                if again && tuning.is_none() {
                    tuning = Tuning::new(params, cores as u32, n_ctx, layers);
                }
                if tuning.is_some() {
                    next = measure(&mut session, backend, params, &mut tuning, requests, out)?;
                } else {
                    out.send(&Event::SettingsChosen(session.settings()))?;
                }
            }
            Request::Describe => out.send(&describe_system())?,
            Request::Generate {
                job,
                prompt,
                sampling,
                options,
            } => {
                let job = Job {
                    id: job,
                    variants: options.variants.max(1),
                    received: Instant::now(),
                    begun: prompt.begun(),
                };
                if let Some(load) = load {
                    follow_load(&mut session, backend, params, cores, load)?;
                }
                let control = run_job(
                    &mut session,
                    &job,
                    (&prompt, &sampling, &options),
                    requests,
                    out,
                )?;
                if control.client_gone {
                    return Ok(None);
                }
                next = control.pending;
            }
        }
    }
}

/// Runs one generation and reports how each of its variants ended (unless the client has
/// gone). The control it returns holds what arrived meanwhile.
fn run_job<'r>(
    session: &mut Session,
    job: &Job,
    (prompt, sampling, options): (&Prompt, &SamplingParams, &GenerateOptions),
    requests: &'r Receiver<Request>,
    out: &mut EventWriter,
) -> Result<Control<'r>> {
    let mut control = Control {
        requests,
        first: job.id,
        cancelled: vec![false; job.variants as usize],
        finished: vec![false; job.variants as usize],
        pending: None,
        client_gone: false,
    };
    let result = session.generate(job, prompt, sampling, options, &mut control, out);
    if control.client_gone {
        return Ok(control);
    }
    // Every variant gets an end: its own as it stopped, or the failure, or (cut short by a
    // newer request before it started) a cancelled one.
    let failure = result.err().map(|e| format!("{e:#}"));
    for variant in 0..job.variants {
        if control.finished[variant as usize] {
            continue;
        }
        let id = job.id + JobId::from(variant);
        out.send(&match &failure {
            Some(reason) => Event::GenerationFailed {
                job: id,
                reason: reason.clone(),
            },
            None => Event::GenerationFinished {
                job: id,
                stats: session.unstarted_stats(),
            },
        })?;
    }
    Ok(control)
}

/// Tells the client the model is loaded, and what it is.
fn announce(
    session: &Session,
    params: &LoadParams,
    load_ms: u64,
    out: &mut EventWriter,
) -> Result<()> {
    let has_template = session.chat_template.is_some();
    let n_ctx = session.ctx()?.n_ctx();
    let mut info = model_info(session.model, &params.model, n_ctx, has_template, load_ms);
    info.settings = session.settings();
    info.placement = placement(session.model.n_layer() + 1, params.n_gpu_layers);
    out.send(&Event::ModelLoaded(info))?;
    if !has_template {
        out.send(&Event::Warned {
            message: "the model has no chat template llama.cpp knows; using ChatML".into(),
        })?;
    }
    Ok(())
}

/// Where a model of `layers` layers went with `gpu_layers` asked for, as llama.cpp places them.
fn placement(layers: u32, gpu_layers: u32) -> Vec<Placement> {
    let all = devices();
    let mut gpus: Vec<&Device> = all.iter().filter(|d| d.gpu).collect();
    // llama.cpp uses integrated GPUs only when there is no other.
    if gpus.iter().any(|d| !d.integrated) {
        gpus.retain(|d| !d.integrated);
    }
    let free: Vec<u64> = gpus.iter().map(|d| d.memory_free_bytes).collect();
    let (counts, cpu) = layer_split(layers, gpu_layers, &free);
    let mut placement: Vec<Placement> = gpus
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(d, layers)| Placement {
            device: d.name.clone(),
            layers,
        })
        .collect();
    if cpu > 0 {
        placement.push(Placement {
            device: "CPU".into(),
            layers: cpu,
        });
    }
    placement
}

/// What the client is told of a loaded model.
fn model_info(
    model: &LlamaModel,
    path: &Path,
    n_ctx: u32,
    has_chat_template: bool,
    load_ms: u64,
) -> ModelInfo {
    ModelInfo {
        name: model
            .meta_val_str("general.name")
            .unwrap_or_else(|_| file_stem(path)),
        n_ctx,
        n_ctx_train: model.n_ctx_train(),
        n_params: model.n_params(),
        size_bytes: model.size(),
        has_chat_template,
        load_ms,
        architecture: model
            .meta_val_str("general.architecture")
            .unwrap_or_default(),
        quantisation: model
            .meta_val_str("general.file_type")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .map_or_else(String::new, model_file::file_type_name),
        settings: EngineSettings::default(),
        placement: Vec::new(),
    }
}

/// Before a request: as many threads as the cores other programs leave free.
fn follow_load(
    session: &mut Session,
    backend: &LlamaBackend,
    params: &LoadParams,
    cores: i32,
    load: &CpuLoad,
) -> Result<()> {
    let others = load.others();
    let want = cpuload::next_threads(cores as usize, session.threads, others);
    if want != session.threads {
        eprintln!(
            "quill worker: other programs use {others:.2} cores; threads {} -> {want}",
            session.threads
        );
        session.set_threads(backend, params, want)?;
    }
    Ok(())
}

/// The CPU features llama.cpp's kernels were compiled for. These report the compiler's macros
/// at build time, not what this CPU can do: a feature the CPU lacks means SIGILL.
fn describe_system() -> Event {
    use llama_cpp_sys_2 as sys;
    let probes: [(&str, unsafe extern "C" fn() -> i32); 21] = [
        ("SSE3", sys::ggml_cpu_has_sse3),
        ("SSSE3", sys::ggml_cpu_has_ssse3),
        ("AVX", sys::ggml_cpu_has_avx),
        ("AVX_VNNI", sys::ggml_cpu_has_avx_vnni),
        ("AVX2", sys::ggml_cpu_has_avx2),
        ("BMI2", sys::ggml_cpu_has_bmi2),
        ("F16C", sys::ggml_cpu_has_f16c),
        ("FMA", sys::ggml_cpu_has_fma),
        ("AVX512", sys::ggml_cpu_has_avx512),
        ("AVX512_VBMI", sys::ggml_cpu_has_avx512_vbmi),
        ("AVX512_VNNI", sys::ggml_cpu_has_avx512_vnni),
        ("AVX512_BF16", sys::ggml_cpu_has_avx512_bf16),
        ("AMX_INT8", sys::ggml_cpu_has_amx_int8),
        ("NEON", sys::ggml_cpu_has_neon),
        ("ARM_FMA", sys::ggml_cpu_has_arm_fma),
        ("FP16_VA", sys::ggml_cpu_has_fp16_va),
        ("DOTPROD", sys::ggml_cpu_has_dotprod),
        ("MATMUL_INT8", sys::ggml_cpu_has_matmul_int8),
        ("SVE", sys::ggml_cpu_has_sve),
        ("SME", sys::ggml_cpu_has_sme),
        ("RISCV_V", sys::ggml_cpu_has_riscv_v),
    ];
    let cpu_features = probes
        .iter()
        // SAFETY: each probe takes nothing and returns a constant chosen at compile time.
        .filter(|(_, probe)| unsafe { probe() } != 0)
        .map(|(name, _)| name.to_string())
        .collect();
    Event::SystemDescribed {
        cpu_features,
        devices: devices(),
    }
}

/// The devices llama.cpp sees in this build.
fn devices() -> Vec<Device> {
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| Device {
            gpu: matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            ),
            integrated: d.device_type == LlamaBackendDeviceType::IntegratedGpu,
            name: d.name,
            description: d.description,
            backend: d.backend,
            memory_total_bytes: d.memory_total as u64,
            memory_free_bytes: d.memory_free as u64,
        })
        .collect()
}

/// How llama.cpp places `layers` layers (the repeating ones and the output) with `gpu_layers`
/// asked for, over GPUs with `free` bytes each, by default (split by layer, in proportion to
/// free memory; the last `gpu_layers` go to the GPUs): each GPU's count, in order, and the
/// CPU's. Mirrors `llama_model::load_tensors`, which does not say it through its API.
fn layer_split(layers: u32, gpu_layers: u32, free: &[u64]) -> (Vec<u32>, u32) {
    let on_gpus = if free.is_empty() {
        0
    } else {
        gpu_layers.min(layers)
    };
    let mut counts = vec![0u32; free.len()];
    let total: f64 = free.iter().map(|&f| f as f64).sum();
    // Cumulative shares, as llama.cpp's `splits`.
    let mut splits = Vec::with_capacity(free.len());
    let mut sum = 0.0;
    for &f in free {
        sum += if total > 0.0 {
            f as f64 / total
        } else {
            1.0 / free.len() as f64
        };
        splits.push(sum as f32);
    }
    for i in 0..on_gpus {
        let at = i as f32 / on_gpus as f32;
        let device = splits.partition_point(|&s| s <= at).min(free.len() - 1);
        counts[device] += 1;
    }
    (counts, layers - on_gpus)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
}

/// One `Generate`: its variants have the job ids `id`, `id + 1`, ... (see `GenerateOptions`).
struct Job {
    id: JobId,
    variants: u32,
    received: Instant,
    /// The prompt begins the answer (a prefill): it has content before the first token.
    begun: bool,
}

/// Watches the request channel between decode steps.
struct Control<'r> {
    requests: &'r Receiver<Request>,
    /// The job id of the first variant; the others follow it.
    first: JobId,
    /// Per variant: the client cancelled it, or it has ended (and its end was sent).
    cancelled: Vec<bool>,
    finished: Vec<bool>,
    /// A request that arrived mid-generation and supersedes it (the latest request wins).
    pending: Option<Request>,
    client_gone: bool,
}

impl Control<'_> {
    /// Reads what has arrived; true when the whole generation must stop: a newer request, the
    /// client gone, or every variant still running cancelled.
    fn is_cancelled(&mut self) -> bool {
        if self.pending.is_some() || self.client_gone {
            return true;
        }
        loop {
            match self.requests.try_recv() {
                Ok(Request::Cancel { job }) => {
                    if let Some(variant) = job
                        .checked_sub(self.first)
                        .and_then(|v| self.cancelled.get_mut(v as usize))
                    {
                        *variant = true;
                    }
                }
                Ok(other) => {
                    self.pending = Some(other);
                    return true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.client_gone = true;
                    return true;
                }
            }
        }
        self.cancelled
            .iter()
            .zip(&self.finished)
            .all(|(&cancelled, &finished)| cancelled || finished)
    }

    fn variant_cancelled(&self, variant: u32) -> bool {
        self.pending.is_some()
            || self.client_gone
            || self
                .cancelled
                .get(variant as usize)
                .copied()
                .unwrap_or(true)
    }
}

/// One variant being generated: its own sequence in the KV cache, sampler and text.
struct Branch {
    variant: u32,
    seq: i32,
    sampler: LlamaSampler,
    text: TextStream,
    /// Where its logits are in the last batch decoded.
    idx: i32,
    generated: u32,
    first_at: Option<Instant>,
    ttft_ms: f64,
    stop: Option<StopReason>,
}

/// A piece of the rendered prompt: template text (may hold special tokens) or the writer's text.
enum Segment {
    Template(String),
    Text { text: String, fit: Fit },
}

struct Session<'m> {
    model: &'m LlamaModel,
    /// Always there but for the moment a new one replaces it (`set_threads`).
    ctx: Option<LlamaContext<'m>>,
    /// The threads `ctx` decodes with.
    threads: usize,
    /// The sequences `ctx` holds at once (`MAX_PARALLEL`).
    n_seq_max: usize,
    /// Whether `ctx` uses flash attention, and what chose that.
    flash_attention: FlashAttention,
    flash_chosen_by: String,
    chat_template: Option<LlamaChatTemplate>,
    /// The tokens whose KV entries sequence 0 holds, in order.
    evaluated: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
    /// Per token: leading continuation bytes and length of its piece (both capped at 255).
    piece_shape: Vec<(u8, u8)>,
    /// The tokens whose piece holds a line break: kept out of a one-line answer.
    line_breaks: Vec<LlamaToken>,
    /// The start of the writer's text where the last over-long draft was cut, so the next
    /// prompt cuts at the same place and its cached prefix stays valid.
    anchor: Option<String>,
}

impl<'m> Session<'m> {
    fn new(
        model: &'m LlamaModel,
        ctx: LlamaContext<'m>,
        chat_template: Option<LlamaChatTemplate>,
        threads: i32,
        (flash_attention, flash_chosen_by): (FlashAttention, String),
    ) -> Self {
        let n_batch = ctx.n_batch() as usize;
        let vocab = model.vocab();
        let mut line_breaks = Vec::new();
        let piece_shape = vocab
            .tokens()
            .map(|token| {
                let piece = vocab.token_to_piece(token, false, None);
                if piece.iter().any(|&b| b == b'\n' || b == b'\r') && !vocab.is_eog(token) {
                    line_breaks.push(token);
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
            anchor: None,
        }
    }

    fn settings(&self) -> EngineSettings {
        let (n_batch, n_ubatch) = self
            .ctx
            .as_ref()
            .map_or((0, 0), |ctx| (ctx.n_batch(), ctx.n_ubatch()));
        EngineSettings {
            flash_attention: self.flash_attention,
            chosen_by: self.flash_chosen_by.clone(),
            threads: self.threads as u32,
            n_batch,
            n_ubatch,
            cache_type: "f16".into(),
        }
    }

    fn ctx(&self) -> Result<&LlamaContext<'m>> {
        self.ctx.as_ref().context("the model has no context")
    }

    fn ctx_mut(&mut self) -> Result<&mut LlamaContext<'m>> {
        self.ctx.as_mut().context("the model has no context")
    }

    /// Moves to a context that decodes with `threads`, carrying the KV cache over so the next
    /// request still reuses its prefix. The old context goes first: two at once would double
    /// the cache's memory. If the new one cannot be made, the old thread count is tried again;
    /// failing that too, the error ends the worker and Quill starts a new one.
    fn set_threads(
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
    fn set_flash(
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

    fn fits(&self, token: LlamaToken, needed: usize) -> bool {
        self.piece_shape
            .get(token.0 as usize)
            .is_none_or(|&(lead, len)| piece_fits(needed, lead.into(), len.into()))
    }

    /// Samples again among the tokens that keep the UTF-8 stream whole. Small models sometimes
    /// start a CJK character and abandon it half-way; this keeps their output clean.
    fn resample_fitting(&self, sampler: &mut LlamaSampler, idx: i32, needed: usize) -> LlamaToken {
        self.resample_where(sampler, idx, |token| self.fits(token, needed))
    }

    /// The token sampled again from the logits at `idx`, among those `allowed` only.
    fn resample_where(
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

    fn tokenize(&self, text: &str, special: bool) -> Vec<LlamaToken> {
        // A Rust &str is valid UTF-8, so llama.cpp never sees invalid bytes.
        self.model.vocab().tokenize(text.as_bytes(), false, special)
    }

    /// The prompt as segments, and whether the model's own chat template could not be used.
    fn segments(&self, prompt: &Prompt) -> (Vec<Segment>, bool) {
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
    fn render_with_template(&self, messages: &[ChatMessage]) -> Option<Vec<Segment>> {
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
    fn prompt_tokens(
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
    fn shorten(
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

    fn bos_needed(&self, segments: &[Segment]) -> bool {
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
    fn reuse_prefix(&mut self, tokens: &[LlamaToken], allowed: bool) -> Result<usize> {
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
    fn decode_prompt(
        &mut self,
        tokens: &[LlamaToken],
        control: &mut Control,
        read: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<bool> {
        let ctx = self.ctx.as_mut().context("the model has no context")?;
        let span = (&mut self.batch, &mut self.evaluated);
        decode_after(ctx, span, tokens, false, control, read)
    }

    fn generate(
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
    fn generate_waves(
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
    fn read_prompt(
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
    fn stream_wave(
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
        let mut branches: Vec<Branch> = variants
            .clone()
            .map(|variant| {
                let mut params = sampling.clone();
                params.seed = params.seed.wrapping_add(variant);
                let sampler =
                    sampler_chain(&params, self.model, &self.evaluated, &self.line_breaks)?;
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
                })
            })
            .collect::<Result<_>>()?;
        let prompt_len = self.evaluated.len();
        for branch in &branches[1..] {
            self.ctx_mut()?
                .copy_kv_cache_seq(0, branch.seq, None, None)
                .map_err(|e| anyhow!("sharing the prompt between variants failed: {e}"))?;
        }
        let mut pos = prompt_len;
        let result = self.step_branches(
            job,
            &mut branches,
            &mut pos,
            (sampling, options),
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

    /// The generation loop of `stream_wave`: sample each live branch, send its text, end the
    /// ones that stopped, decode the rest's tokens in one batch, until none is left.
    #[allow(clippy::too_many_arguments)]
    fn step_branches(
        &mut self,
        job: &Job,
        branches: &mut [Branch],
        pos: &mut usize,
        (sampling, options): (&SamplingParams, &GenerateOptions),
        (n_ctx, prompt_len): (usize, usize),
        control: &mut Control,
        out: &mut EventWriter,
        prompt_stats: &GenerationStats,
    ) -> Result<()> {
        let vocab = self.model.vocab();
        loop {
            // The cache holds the prompt once and each variant's tokens.
            let used = prompt_len + branches.iter().map(|b| b.generated as usize).sum::<usize>();
            let whole_stop = control.is_cancelled();
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
                // An answer that would end before it says anything is no answer (measured: 2
                // of 24 English ghosts were a line break and the end): the end waits for text.
                // Not where a grammar decides when the answer may end.
                if vocab.is_eog(token)
                    && !options.ignore_eos
                    && !job.begun
                    && !branch.text.has_text()
                    && sampling.grammar.trim().is_empty()
                {
                    token =
                        self.resample_where(&mut branch.sampler, branch.idx, |t| !vocab.is_eog(t));
                }
                if vocab.is_eog(token) && !options.ignore_eos {
                    branch.stop = Some(StopReason::EndOfText);
                    continue;
                }
                branch.generated += 1;
                // special = false: control tokens such as <|im_end|> render as nothing.
                let piece = vocab.token_to_piece(token, false, None);
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
                } else if whole_stop || control.variant_cancelled(branch.variant) {
                    Some(StopReason::Cancelled)
                } else {
                    next.push((i, token));
                    None
                };
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
            self.batch.clear();
            for (k, &(i, token)) in next.iter().enumerate() {
                self.batch
                    .add(token, *pos as i32, &[branches[i].seq], true)?;
                branches[i].idx = k as i32;
            }
            self.ctx
                .as_mut()
                .context("the model has no context")?
                .decode(&mut self.batch)
                .map_err(|e| anyhow!("decoding failed: {e}"))?;
            if let Some(&(_, token)) = next.iter().find(|&&(i, _)| branches[i].seq == 0) {
                self.evaluated.push(token);
            }
            *pos += 1;
        }
    }

    /// The stats of a variant that never started (a newer request came first).
    fn unstarted_stats(&self) -> GenerationStats {
        GenerationStats {
            prompt_tokens: 0,
            reused_tokens: 0,
            dropped_tokens: 0,
            generated_tokens: 0,
            ttft_ms: 0.0,
            prompt_tokens_per_s: 0.0,
            tokens_per_s: 0.0,
            stop_reason: StopReason::Cancelled,
            estimated: false,
            threads: self.threads as u32,
            with_flash: false,
        }
    }
}

/// How many tokens `a` and `b` start with alike.
fn shared_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Drops what `ctx`'s sequence 0 holds past its first `keep` tokens (`evaluated` follows);
/// returns how many it kept. Some memory kinds (recurrent models) cannot drop a tail: those
/// start over.
fn keep_prefix(ctx: &mut LlamaContext, evaluated: &mut Vec<LlamaToken>, keep: usize) -> usize {
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
fn decode_after(
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

/// Sends what a stopped branch still holds back and its end.
fn end_branch(
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

fn text_segment(part: &Part) -> Segment {
    Segment::Text {
        text: part.text.clone(),
        fit: part.fit,
    }
}

/// Private-use characters frame the sentinels, so no template text can look like one.
fn sentinel(index: usize) -> String {
    format!("\u{F8F0}{index}\u{F8F1}")
}

/// Splits a rendered template on the sentinels; `None` unless each appears exactly once, in order.
fn split_on_sentinels(rendered: &str, parts: &[&Part]) -> Option<Vec<Segment>> {
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
fn render_chatml(messages: &[ChatMessage]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for message in messages {
        segments.push(Segment::Template(format!("<|im_start|>{}\n", message.role)));
        segments.extend(message.parts.iter().map(text_segment));
        segments.push(Segment::Template("<|im_end|>\n".into()));
    }
    segments.push(Segment::Template("<|im_start|>assistant\n".into()));
    segments
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
fn sampler_chain(
    params: &SamplingParams,
    model: &LlamaModel,
    evaluated: &[LlamaToken],
    line_breaks: &[LlamaToken],
) -> Result<LlamaSampler> {
    let history = match usize::try_from(params.repeat_last_n) {
        Ok(n) => &evaluated[evaluated.len().saturating_sub(n)..],
        Err(_) => evaluated, // -1: the whole context
    };
    let mut samplers = Vec::new();
    if params.one_line && !line_breaks.is_empty() {
        let biases: Vec<LlamaLogitBias> = line_breaks
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_placed_as_llama_cpp_places_them() {
        // No GPU: all on the CPU, whatever is asked.
        assert_eq!(layer_split(31, u32::MAX, &[]), (vec![], 31));
        // One GPU: the last `gpu_layers` layers, or all.
        assert_eq!(layer_split(31, 0, &[8 << 30]), (vec![0], 31));
        assert_eq!(layer_split(31, 20, &[8 << 30]), (vec![20], 11));
        assert_eq!(layer_split(31, u32::MAX, &[8 << 30]), (vec![31], 0));
        // Two GPUs: in proportion to their free memory.
        assert_eq!(layer_split(30, 30, &[4 << 30, 4 << 30]), (vec![15, 15], 0));
        assert_eq!(layer_split(30, 30, &[8 << 30, 4 << 30]), (vec![20, 10], 0));
    }
}
