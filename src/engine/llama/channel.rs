//! The worker's two channels: requests read from stdin on a thread of their own (so a
//! `Cancel` arrives while a decode runs), events written to stdout; and a job's view of them.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::engine::protocol::{Event, JobId, Request};

pub(super) fn spawn_request_reader() -> Receiver<Request> {
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

pub(super) struct EventWriter {
    pub(super) out: std::io::Stdout,
}

impl EventWriter {
    pub(super) fn new() -> Self {
        EventWriter {
            out: std::io::stdout(),
        }
    }

    pub(super) fn send(&mut self, event: &Event) -> Result<()> {
        let line = event.to_line()?;
        let mut out = self.out.lock();
        // Flushed per event: a token must reach the client the moment it exists.
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("the client stopped reading")
    }
}

/// One `Generate`: its variants have the job ids `id`, `id + 1`, ... (see `GenerateOptions`).
pub(super) struct Job {
    pub(super) id: JobId,
    pub(super) variants: u32,
    pub(super) received: Instant,
    /// The prompt begins the answer (a prefill): it has content before the first token.
    pub(super) begun: bool,
}

/// Watches the request channel between decode steps.
pub(super) struct Control<'r> {
    pub(super) requests: &'r Receiver<Request>,
    /// The job id of the first variant; the others follow it.
    pub(super) first: JobId,
    /// Per variant: the client cancelled it, or it has ended (and its end was sent).
    pub(super) cancelled: Vec<bool>,
    pub(super) finished: Vec<bool>,
    /// A request that arrived mid-generation and supersedes it (the latest request wins).
    pub(super) pending: Option<Request>,
    pub(super) client_gone: bool,
}

impl Control<'_> {
    /// Reads what has arrived; true when the whole generation must stop: a newer request, the
    /// client gone, or every variant still running cancelled.
    pub(super) fn is_cancelled(&mut self) -> bool {
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

    pub(super) fn variant_cancelled(&self, variant: u32) -> bool {
        self.pending.is_some()
            || self.client_gone
            || self
                .cancelled
                .get(variant as usize)
                .copied()
                .unwrap_or(true)
    }
}
