//! The worker process body: serving requests with a loaded model, one after another.
//!
//! It reads `Request`s from stdin on a thread of its own (so a `Cancel` arrives while a decode
//! runs), answers with `Event`s on stdout, and keeps the tokens it last evaluated so a prompt that
//! shares a prefix decodes only the new suffix. Its stderr is a log file, never the terminal.

use std::ffi::{CStr, c_char};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use anyhow::Result;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;

use super::channel::{Control, EventWriter, Job, spawn_request_reader};
use super::describe::{describe_system, model_info, placement};
use super::load::{context_params, context_size, load_model, thread_count};
use super::session::Session;
use super::tuning::{Tuning, Waited, measure, plan_flash, wait_for_request};
use crate::engine::cpuload::{self, CpuLoad};
use crate::engine::protocol::{
    Event, GenerateOptions, JobId, LoadParams, Prompt, Request, SamplingParams,
};

/// Environment variable through which the client names its pid, so a worker whose parent died
/// before `PR_SET_PDEATHSIG` took effect notices and exits.
pub const PARENT_PID_ENV: &str = "QUILL_WORKER_PARENT";

/// Entry point of `quill worker`.
pub fn run() -> Result<()> {
    harden_process();
    let backend = super::backends::init()?;

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
                if let Some(reason) = super::backends::cpu_missing() {
                    eprintln!("quill-worker: {reason}");
                    out.send(&Event::NoBackend { reason })?;
                    continue;
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
    session.lookup = params.prompt_lookup;
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
