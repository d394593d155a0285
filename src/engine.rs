//! The engine as the rest of Quill sees it: an `Engine` starts a `Connection` that takes
//! `Request`s and sends back `Event`s. The app, the runtime and the headless commands reach the
//! model through these two traits only, so another kind of engine (a remote server) is another
//! implementation, invisible to them. The local kind is `WorkerCommand`: a worker process that
//! is spawned and supervised here. A worker that dies (crash, abort, kill) becomes a
//! `WorkerExited` event naming the signal and, where llama.cpp left one in the log, the reason;
//! nothing here ever hangs on it. `Client` is the blocking way to talk to any engine.

pub mod count;
pub mod cpuload;
pub mod exit;
pub mod fit;
pub mod llama;
pub mod model_file;
pub mod protocol;
pub mod remote;
pub mod stream;
pub mod tune;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use exit::WorkerExit;
use protocol::{Event, LoadParams, ModelInfo, Request};

/// A worker log past this size is set aside when the next worker starts.
const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    /// The quill executable (the worker is a re-exec of the same binary).
    pub program: PathBuf,
    /// Where the worker's stderr goes: llama.cpp must never write to the terminal.
    pub log_file: PathBuf,
    /// Environment variables to set for the worker, beside what it inherits.
    pub env: Vec<(String, String)>,
}

impl WorkerCommand {
    /// This executable as a worker, logging to `log_file` and remembering its measurements
    /// of this machine in `tuning_file` (see `tune`).
    pub fn current_exe(log_file: PathBuf, tuning_file: &Path) -> Result<Self> {
        Ok(WorkerCommand {
            program: std::env::current_exe().context("finding the quill executable")?,
            log_file,
            env: vec![(
                tune::TUNING_FILE_ENV.to_string(),
                tuning_file.display().to_string(),
            )],
        })
    }
}

/// Where an engine's events go: called for each until it returns false.
pub type EventSink = Box<dyn FnMut(Event) -> bool + Send>;

/// A kind of engine, and how to start one.
pub trait Engine: Send {
    /// What can be known wrong with `params` before anything starts (a missing model file),
    /// as the writer should read it.
    fn check(&self, _params: &LoadParams) -> std::result::Result<(), String> {
        Ok(())
    }
    /// Starts an engine. Its events go to `sink`, the last one `WorkerExited` when it ends.
    fn connect(&self, sink: EventSink) -> Result<Box<dyn Connection>>;
    /// Leaves a line of the client's in the engine's log, where it has one.
    fn note(&self, line: &str);
}

/// A started engine: it takes requests until it is dropped or killed.
pub trait Connection: Send {
    fn send(&mut self, request: &Request) -> Result<()>;
    /// Stops it at once (a watchdog's last resort, or shutdown).
    fn kill(&mut self);
    /// The process behind it, where there is one.
    fn pid(&self) -> Option<u32>;
}

impl Engine for WorkerCommand {
    /// A missing or broken model file is found here, without starting a worker to find it.
    fn check(&self, params: &LoadParams) -> std::result::Result<(), String> {
        model_file::check(&params.model)
            .map_err(|e| format!("{e}; run `make model` or set model in config.toml"))
    }

    fn connect(&self, sink: EventSink) -> Result<Box<dyn Connection>> {
        Ok(Box::new(Worker::spawn(self, sink)?))
    }

    fn note(&self, line: &str) {
        append_to_log(&self.log_file, line);
    }
}

/// The engine the config names, chosen by each connection's first `Load`: the local worker,
/// or a remote server when the load names one. The editor and the headless commands hold this
/// one, so switching kinds (the settings pane does it live) is only a new `Load`.
pub struct Engines {
    pub local: WorkerCommand,
    pub remote: remote::RemoteEngine,
}

impl Engines {
    /// The local worker `local`, and a remote engine that logs where it does.
    pub fn new(local: WorkerCommand) -> Self {
        let remote = remote::RemoteEngine {
            log_file: local.log_file.clone(),
        };
        Engines { local, remote }
    }
}

impl Engine for Engines {
    fn check(&self, params: &LoadParams) -> std::result::Result<(), String> {
        match params.remote {
            Some(_) => self.remote.check(params),
            None => self.local.check(params),
        }
    }

    fn connect(&self, sink: EventSink) -> Result<Box<dyn Connection>> {
        Ok(Box::new(Chosen {
            local: self.local.clone(),
            remote: self.remote.clone(),
            sink: Some(sink),
            inner: None,
        }))
    }

    fn note(&self, line: &str) {
        self.local.note(line);
    }
}

/// A connection whose kind the first request decides: a `Load` naming a server connects to
/// it, anything else starts the local worker.
struct Chosen {
    local: WorkerCommand,
    remote: remote::RemoteEngine,
    sink: Option<EventSink>,
    inner: Option<Box<dyn Connection>>,
}

impl Connection for Chosen {
    fn send(&mut self, request: &Request) -> Result<()> {
        if self.inner.is_none() {
            let sink = self
                .sink
                .take()
                .context("the engine could not be started")?;
            let remote = matches!(
                request,
                Request::Load(LoadParams {
                    remote: Some(_),
                    ..
                })
            );
            self.inner = Some(if remote {
                self.remote.connect(sink)?
            } else {
                self.local.connect(sink)?
            });
        }
        match &mut self.inner {
            Some(inner) => inner.send(request),
            None => anyhow::bail!("the engine is not running"),
        }
    }

    fn kill(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.kill();
        }
    }

    fn pid(&self) -> Option<u32> {
        self.inner.as_ref().and_then(|inner| inner.pid())
    }
}

/// A running worker process. Its events go to the sink given at spawn, ending with
/// `WorkerExited`; dropping it kills the process.
pub struct Worker {
    child: Arc<Mutex<Child>>,
    stdin: ChildStdin,
    pid: u32,
}

impl Connection for Worker {
    fn send(&mut self, request: &Request) -> Result<()> {
        Worker::send(self, request)
    }

    fn kill(&mut self) {
        Worker::kill(self);
    }

    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }
}

/// Any engine with its events on a channel: the blocking client of the headless commands, the
/// benchmarks and the doctor.
pub struct Client {
    connection: Box<dyn Connection>,
    events: Receiver<Event>,
    exited: bool,
    /// Warnings that came while a model loaded (a server that ignores some settings), for the
    /// caller to show.
    warnings: Vec<String>,
}

/// Why a model did not load.
#[derive(Debug)]
pub enum ModelLoadError {
    /// The worker refused the model (bad file, unsupported format): bad input.
    Rejected(String),
    /// The worker died while loading.
    Died(WorkerExit),
    /// The worker stopped answering while loading, or could not be reached.
    Crashed(String),
    /// This build has no backend to compute on (a GPU build without its CPU modules).
    NoBackend(String),
}

impl std::fmt::Display for ModelLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelLoadError::Rejected(reason)
            | ModelLoadError::Crashed(reason)
            | ModelLoadError::NoBackend(reason) => f.write_str(reason),
            ModelLoadError::Died(exit) => {
                write!(f, "the engine crashed while loading the model ({exit})")
            }
        }
    }
}

impl Worker {
    /// Starts a worker; `sink` receives its events on a reader thread until it returns false.
    /// The worker dies with the thread that spawns it (PR_SET_PDEATHSIG is per thread): spawn
    /// from a thread that lives as long as the client.
    pub fn spawn(
        command: &WorkerCommand,
        mut sink: impl FnMut(Event) -> bool + Send + 'static,
    ) -> Result<Worker> {
        if let Some(dir) = command.log_file.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the log directory {}", dir.display()))?;
        }
        // Keep the log from growing without bound: one old generation is kept beside it.
        if std::fs::metadata(&command.log_file).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
            let _ = std::fs::rename(
                &command.log_file,
                command.log_file.with_extension("log.old"),
            );
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&command.log_file)
            .with_context(|| format!("opening the worker log {}", command.log_file.display()))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut child = Command::new(&command.program)
            .arg("worker")
            .env(
                llama::worker::PARENT_PID_ENV,
                std::process::id().to_string(),
            )
            // ggml would otherwise try to attach a debugger to print a backtrace on abort.
            .env("GGML_NO_BACKTRACE", "1")
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting the worker {}", command.program.display()))?;
        let pid = child.id();
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let child = Arc::new(Mutex::new(child));
        let reaper = Arc::clone(&child);
        let log_file = command.log_file.clone();
        std::thread::Builder::new()
            .name("engine-reader".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let event =
                        serde_json::from_str::<Event>(&line).unwrap_or_else(|e| Event::Warned {
                            message: format!("unreadable message from the worker: {e}"),
                        });
                    if !sink(event) {
                        return;
                    }
                }
                let status = reaper.lock().ok().and_then(|mut c| c.wait().ok());
                let exit = WorkerExit::from_status(status, fatal_line(&log_file, log_start, pid));
                log_exit(&log_file, pid, &exit);
                sink(Event::WorkerExited { exit });
            })
            .context("starting the engine reader thread")?;
        Ok(Worker { child, stdin, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn send(&mut self, request: &Request) -> Result<()> {
        let line = request.to_line()?;
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .context("the worker is not running")
    }

    /// Kills the worker at once (a watchdog's last resort, or shutdown).
    pub fn kill(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin alone would end the worker, but not one stuck in a long decode.
        self.kill();
    }
}

impl Client {
    pub fn start(engine: &dyn Engine) -> Result<Client> {
        let (tx, events) = mpsc::channel();
        let connection = engine.connect(Box::new(move |event| tx.send(event).is_ok()))?;
        Ok(Client {
            connection,
            events,
            exited: false,
            warnings: Vec::new(),
        })
    }

    /// The worker process, for a local engine.
    pub fn pid(&self) -> Option<u32> {
        self.connection.pid()
    }

    pub fn send(&mut self, request: &Request) -> Result<()> {
        self.connection.send(request)
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Event> {
        if self.exited {
            return None;
        }
        match self.events.recv_timeout(timeout) {
            Ok(event) => {
                if matches!(event, Event::WorkerExited { .. }) {
                    self.exited = true;
                }
                Some(event)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.exited = true;
                None
            }
        }
    }

    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// Loads a model and waits for the answer; warnings that arrive meanwhile are kept
    /// (`take_warnings`), other events dropped.
    pub fn load(
        &mut self,
        params: LoadParams,
        timeout: Duration,
    ) -> Result<ModelInfo, ModelLoadError> {
        self.send(&Request::Load(params))
            .map_err(|e| ModelLoadError::Crashed(format!("{e:#}")))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.kill();
                return Err(ModelLoadError::Crashed(format!(
                    "the model did not load within {} s; the worker was stopped",
                    timeout.as_secs()
                )));
            }
            match self.recv_timeout(left) {
                Some(Event::ModelLoaded(info)) => return Ok(info),
                Some(Event::ModelLoadFailed { reason }) => {
                    return Err(ModelLoadError::Rejected(reason));
                }
                Some(Event::NoBackend { reason }) => return Err(ModelLoadError::NoBackend(reason)),
                Some(Event::WorkerExited { exit }) => return Err(ModelLoadError::Died(exit)),
                Some(Event::Warned { message }) => self.warnings.push(message),
                Some(_) => {}
                None if self.exited => {
                    return Err(ModelLoadError::Crashed("the engine stopped".into()));
                }
                None => {}
            }
        }
    }

    pub fn kill(&mut self) {
        self.connection.kill();
    }

    /// The warnings that came while the model loaded, once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// Says in the worker log how a worker that did not simply exit ended, and what to do about
/// it, so the log alone explains a crash.
fn log_exit(log_file: &Path, pid: u32, exit: &WorkerExit) {
    if exit.signal.is_none() && exit.code == Some(0) {
        return;
    }
    let mut line = format!("quill: worker {pid} {exit}");
    if let Some(advice) = exit.advice() {
        line.push_str(&format!("; {advice}"));
    }
    append_to_log(log_file, &line);
}

/// Adds a line of the client's own to the worker log (best effort: the log is for reading).
pub fn append_to_log(log_file: &Path, line: &str) {
    if let Ok(mut log) = OpenOptions::new().append(true).open(log_file) {
        let _ = writeln!(log, "{line}");
    }
}

fn fatal_line(log_file: &Path, start: u64, pid: u32) -> Option<String> {
    let text = std::fs::read(log_file).ok()?;
    let new = text.get(start as usize..)?;
    let marker = format!("quill-worker[{pid}]: fatal: ");
    String::from_utf8_lossy(new)
        .lines()
        .filter_map(|l| l.strip_prefix(&marker).map(str::to_string))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fatal_reason_of_this_worker_is_found_in_the_shared_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("worker.log");
        std::fs::write(
            &log,
            "old line\nquill-worker[7]: fatal: someone else\nquill-worker[42]: fatal: GGML_ASSERT(n_tokens <= n_batch) failed\n",
        )
        .unwrap();
        assert_eq!(
            fatal_line(&log, 0, 42).as_deref(),
            Some("GGML_ASSERT(n_tokens <= n_batch) failed")
        );
        assert_eq!(fatal_line(&log, 0, 9), None);
    }
}
