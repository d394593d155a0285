//! Choosing flash attention by measurement: both settings timed in the worker's idle moments,
//! the choice remembered per machine, model, build and placement (see `engine::tune`).

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::Result;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::channel::EventWriter;
use super::describe::placement;
use super::load::context_params;
use super::session::Session;
use super::sweep::{self, DepthRate, Sweep};
use crate::engine::cpuload::{self};
use crate::engine::protocol::{Choice, Event, FlashAttention, LoadParams, Request};
use crate::engine::tune;

/// Flash attention for a model about to be served in a context of `n_ctx`: the config's, else
/// what was measured on this machine before, else off until it is measured (`tuning` holds what
/// to measure).
pub(super) fn plan_flash(
    params: &LoadParams,
    cores: u32,
    n_ctx: u32,
    layers: u32,
) -> (FlashAttention, (Choice, String), Option<Tuning>) {
    if params.flash_attention != FlashAttention::Auto {
        return (
            params.flash_attention,
            (Choice::Config, "config".into()),
            None,
        );
    }
    let Some(tuning) = Tuning::new(params, cores, n_ctx, layers) else {
        // Nowhere to remember a measurement: measuring at every start would cost more than
        // it saves. Off is what llama.cpp did before `auto`.
        return (
            FlashAttention::Off,
            (
                Choice::NotMeasured,
                "not measured: no state directory".into(),
            ),
            None,
        );
    };
    match tuning.memory.recall(&tuning.key) {
        Some(measured) => (
            measured.choice,
            (
                Choice::Remembered,
                format!("measured here before; {}", measured.summary()),
            ),
            None,
        ),
        None => (
            FlashAttention::Off,
            (Choice::ToMeasure, "to be measured".into()),
            Some(tuning),
        ),
    }
}

/// A measurement of both flash-attention settings under way (see `tune`).
pub(super) struct Tuning {
    pub(super) key: tune::Key,
    pub(super) sweep: Sweep,
    pub(super) memory: tune::Memory,
    /// Each depth timed so far: flash attention on, off.
    pub(super) done: Vec<[DepthRate; 2]>,
    /// Timings thrown away because other programs were busy meanwhile.
    pub(super) busy: u32,
}

impl Tuning {
    /// Nothing measured yet for `params`' model on `cores` threads in a context of `n_ctx`;
    /// None when there is nowhere to remember it (no state directory named) or the model file
    /// cannot be read.
    pub(super) fn new(params: &LoadParams, cores: u32, n_ctx: u32, layers: u32) -> Option<Tuning> {
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
pub(super) const IDLE_BEFORE_MEASURING: Duration = Duration::from_secs(2);

/// What waiting for a request came to.
pub(super) enum Waited {
    Request(Request),
    /// Nothing came for `IDLE_BEFORE_MEASURING`, and there is measuring to do.
    Idle,
    Gone,
}

pub(super) fn wait_for_request(requests: &Receiver<Request>, measuring: bool) -> Waited {
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
pub(super) fn measure(
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
    if contexts.iter().all(Option::is_some) {
        out.send(&Event::Measuring)?;
    }
    let measured = match &mut contexts {
        [Some(on), Some(off)] => match time_depths(t, [on, off], &tokens, &sweep, requests)? {
            Timing::Measured => {
                let (on, off) = t.done.iter().map(|[a, b]| (*a, *b)).unzip();
                tune::Measurement::new(t.key.clone(), on, off)
            }
            Timing::Stopped(pending) => return Ok(pending),
            Timing::Busy(pending) => {
                // A machine that stays busy: this worker stops trying, and says so.
                *tuning = None;
                session.flash_chosen_by = (
                    Choice::NotMeasured,
                    "not measured: the machine was busy; measured next start".into(),
                );
                out.send(&Event::SettingsChosen(session.settings()))?;
                return Ok(pending);
            }
        },
        // A setting this build or model cannot use is no candidate.
        [Some(_), None] => tune::Measurement::only(t.key.clone(), FlashAttention::On),
        [None, Some(_)] => tune::Measurement::only(t.key.clone(), FlashAttention::Off),
        [None, None] => {
            *tuning = None;
            session.flash_chosen_by = (
                Choice::NotMeasured,
                "not measured: no context of its own could be made; measured next start".into(),
            );
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
    session.flash_chosen_by = (
        Choice::Measured,
        format!("measured here; {}", measured.summary()),
    );
    if measured.choice != session.flash_attention {
        session.set_flash(backend, params, measured.choice)?;
    }
    out.send(&Event::SettingsChosen(session.settings()))?;
    Ok(None)
}

/// How timing the depths left ended.
pub(super) enum Timing {
    /// Every depth is timed (`Tuning::done`).
    Measured,
    /// A request came (held here), or a timing was thrown away: the next pause goes on.
    Stopped(Option<Request>),
    /// Thrown away once too often: the machine stays busy.
    Busy(Option<Request>),
}

/// Times both settings at each depth not timed yet, in `contexts` (on, off), until a request
/// comes or other programs take the machine.
pub(super) fn time_depths(
    t: &mut Tuning,
    [on, off]: [&mut LlamaContext; 2],
    tokens: &[LlamaToken],
    sweep: &Sweep,
    requests: &Receiver<Request>,
) -> Result<Timing> {
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
            [&mut *on, &mut *off],
            &mut filled,
            tokens,
            depth,
            sweep,
            tune::REPS,
            &mut stop_or_busy,
        )?;
        let others = match (timed, busy) {
            (_, Some(others)) => others,
            (None, None) => return Ok(Timing::Stopped(pending)),
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
            "quill worker: other programs used {others:.2} cores while flash attention was \
             timed at {depth} tokens; the timing is thrown away ({} of {})",
            t.busy,
            tune::ATTEMPTS
        );
        return Ok(if t.busy < tune::ATTEMPTS {
            Timing::Stopped(pending)
        } else {
            Timing::Busy(pending)
        });
    }
    Ok(Timing::Measured)
}

/// The bench draft, repeated to `needed` tokens: the text the measurement reads.
pub(super) fn sweep_tokens(model: &LlamaModel, needed: usize) -> Vec<LlamaToken> {
    const TEXT: &str = include_str!("../../../defaults/bench-draft.md");
    let piece = model.vocab().tokenize(TEXT.as_bytes(), false, false);
    piece.iter().copied().cycle().take(needed.max(1)).collect()
}
