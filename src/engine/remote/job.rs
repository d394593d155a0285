//! One request under way: its reader started, what arrives turned into events until it
//! ends, is cancelled, misses its deadline or the server falls silent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::stream::{Incoming, read_stream};
use super::{Server, Sink, emit, silent};
use crate::engine::protocol::{Event, GenerationStats, JobId, StopReason};
use crate::engine::stream::TextStream;

pub(super) struct JobRequest {
    pub(super) id: JobId,
    pub(super) endpoint: &'static str,
    pub(super) body: Value,
    pub(super) stop: Vec<String>,
    pub(super) max_tokens: u32,
    pub(super) deadline: Option<Duration>,
    pub(super) stats: GenerationStats,
}

/// One request: starts its reader, then turns what arrives into events until it ends, is
/// cancelled, misses its deadline or the server falls silent.
pub(super) fn run_job(
    server: &Arc<Server>,
    sink: &Sink,
    request: JobRequest,
    reader_tx: Sender<Incoming>,
    rx: Receiver<Incoming>,
) {
    let started = Instant::now();
    let abandon = Arc::new(AtomicBool::new(false));
    {
        let (server, abandon, body) = (Arc::clone(server), Arc::clone(&abandon), request.body);
        let endpoint = request.endpoint;
        let spawned = std::thread::Builder::new()
            .name("remote-read".into())
            .spawn(move || read_stream(&server, endpoint, &body, &reader_tx, &abandon));
        if let Err(e) = spawned {
            emit(
                sink,
                Event::GenerationFailed {
                    job: request.id,
                    reason: format!("cannot start a thread: {e}"),
                },
            );
            return;
        }
    }
    let mut job = RemoteJob {
        id: request.id,
        sink,
        abandon: &abandon,
        started,
        text: TextStream::new(&request.stop),
        stats: request.stats,
        first_at: None,
        generated: 0,
        usage: (None, None),
        max_tokens: request.max_tokens,
    };
    loop {
        let wait = match (job.first_at, request.deadline) {
            (None, Some(deadline)) => deadline.saturating_sub(started.elapsed()),
            _ => server.timeout,
        };
        let ended = match rx.recv_timeout(wait) {
            Ok(incoming) => job.on(incoming),
            Err(RecvTimeoutError::Timeout)
                if job.first_at.is_none() && request.deadline.is_some() =>
            {
                job.fail(format!(
                    "no answer within {} ms",
                    request.deadline.unwrap_or_default().as_millis()
                ));
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                job.fail(silent(server));
                true
            }
            Err(RecvTimeoutError::Disconnected) => {
                job.fail("the request's reader stopped".into());
                true
            }
        };
        if ended {
            return;
        }
    }
}

/// A request under way: what has come of it, turned into events as it arrives.
pub(super) struct RemoteJob<'a> {
    pub(super) id: JobId,
    pub(super) sink: &'a Sink,
    /// Set when the job ends: its reader stops reading (and the connection closes).
    pub(super) abandon: &'a AtomicBool,
    pub(super) started: Instant,
    pub(super) text: TextStream,
    pub(super) stats: GenerationStats,
    pub(super) first_at: Option<Instant>,
    pub(super) generated: u32,
    /// The server's own counts: prompt and generated tokens.
    pub(super) usage: (Option<u32>, Option<u32>),
    pub(super) max_tokens: u32,
}

impl RemoteJob<'_> {
    /// Takes what the reader sent; true when the job has ended.
    pub(super) fn on(&mut self, incoming: Incoming) -> bool {
        match incoming {
            Incoming::Text(piece) => {
                self.first_at.get_or_insert_with(Instant::now);
                self.generated += 1;
                let step = self.text.push(piece.as_bytes());
                self.emit_text(step.text);
                if step.stopped {
                    self.end(StopReason::StopString);
                }
                step.stopped
            }
            Incoming::Usage {
                prompt,
                generated,
                reused,
            } => {
                self.usage = (prompt.or(self.usage.0), generated.or(self.usage.1));
                if let Some(reused) = reused {
                    self.stats.reused_tokens = reused;
                }
                false
            }
            Incoming::End(reason) => {
                let tail = self.text.finish();
                self.emit_text(tail.text);
                let stop = match reason.as_deref() {
                    _ if tail.stopped => StopReason::StopString,
                    Some("length") if self.generated < self.max_tokens && self.generated > 0 => {
                        StopReason::ContextFull
                    }
                    Some("length") => StopReason::MaxTokens,
                    _ => StopReason::EndOfText,
                };
                self.end(stop);
                true
            }
            Incoming::Failed(reason) => {
                self.fail(reason);
                true
            }
            Incoming::Cancel => {
                self.end(StopReason::Cancelled);
                true
            }
        }
    }

    pub(super) fn emit_text(&self, text: String) {
        if !text.is_empty() {
            emit(self.sink, Event::TokenGenerated { job: self.id, text });
        }
    }

    pub(super) fn end(&mut self, stop: StopReason) {
        self.abandon.store(true, Ordering::Relaxed);
        let stats = &mut self.stats;
        stats.stop_reason = stop;
        stats.generated_tokens = self.usage.1.unwrap_or(self.generated);
        if let Some(prompt) = self.usage.0 {
            // The server's own count: exact whatever this side estimated.
            if stats.estimated {
                stats.dropped_tokens = 0;
            }
            stats.prompt_tokens = prompt;
            stats.estimated = false;
        }
        if let Some(first) = self.first_at {
            stats.ttft_ms = first.duration_since(self.started).as_secs_f64() * 1000.0;
            if self.generated > 1 {
                stats.tokens_per_s =
                    f64::from(self.generated - 1) / first.elapsed().as_secs_f64().max(1e-9);
            }
        }
        let stats = stats.clone();
        emit(
            self.sink,
            Event::GenerationFinished {
                job: self.id,
                stats,
            },
        );
    }

    pub(super) fn fail(&self, reason: String) {
        self.abandon.store(true, Ordering::Relaxed);
        emit(
            self.sink,
            Event::GenerationFailed {
                job: self.id,
                reason,
            },
        );
    }
}
