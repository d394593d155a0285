//! Helpers shared by the integration tests: the real binary, the real default model, and an
//! isolated home so a developer's own config never changes a test's outcome.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const QUILL: &str = env!("CARGO_BIN_EXE_quill");

/// The default model, where scripts/fetch-model puts it (`make test` runs that first).
pub fn model() -> PathBuf {
    if let Some(path) = std::env::var_os("QUILL_TEST_MODEL") {
        return PathBuf::from(path);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share")
        });
    let path = data.join("quill/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "the default model is missing at {}: run `make test` (or scripts/fetch-model) first",
        path.display()
    );
    path
}

/// A scratch home: config and state directories of its own.
pub struct Home {
    pub dir: tempfile::TempDir,
}

/// Threads per model in tests. Tests run side by side, each with its own worker, and
/// llama.cpp's CPU threads spin at every barrier of a decode: two workers with a thread per
/// core on a 2-core machine wait on each other's time slices, and 80 tokens that take a second
/// alone took over two minutes under load. One thread each never waits on a barrier.
pub const MODEL_THREADS: u32 = 1;

/// The `[engine]` table of a test's config (see `Home::new`).
/// Prompt-lookup decoding is off: these tests' seeds were chosen against plain decoding's
/// answers, and a checked draft's scores differ from a one-token decode's in their last bits
/// (see tests/lookup.rs, which tests it on).
pub const ENGINE_CONFIG: &str =
    "[engine]\nthreads = 1\nflash_attention = \"off\"\nprompt_lookup = false\n";

/// The `[sampling]` table of a test's config: a fixed seed, so what the model writes in an
/// editor test is the same on every run (the default, -1, draws a new one each time).
pub const SAMPLING_CONFIG: &str = "\n[sampling]\nseed = 7\n";

impl Home {
    /// A scratch home whose config only sets `MODEL_THREADS`, flash attention and the seed; a test that
    /// writes its own config replaces it. Flash attention is pinned because each scratch home
    /// is a machine Quill has never measured: left on `auto`, every editor test's worker would
    /// time both settings in its idle moments, beside the other tests. `tests/engine.rs`
    /// tests the measuring.
    pub fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let config = home.dir.path().join("config/quill");
        std::fs::create_dir_all(&config).expect("config dir");
        std::fs::write(
            config.join("config.toml"),
            format!("{ENGINE_CONFIG}{SAMPLING_CONFIG}"),
        )
        .expect("write config.toml");
        home
    }

    pub fn command(&self) -> Command {
        self.command_for(Path::new(QUILL))
    }

    /// `command()`, of another build of quill (the exact one, a GPU one).
    pub fn command_for(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .current_dir(self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("RUST_BACKTRACE")
            .env_remove("NO_COLOR");
        command
    }

    /// Runs quill with `args` (and `--model` unless given), feeding `stdin`, within
    /// `RUN_DEADLINE`.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.command();
        command.args(args);
        if !args.contains(&"--model") {
            command.arg("--model").arg(model());
        }
        self.output_with_input(command, stdin)
    }

    /// Runs `command` (from `command()`) to its end within `RUN_DEADLINE`, with no input.
    pub fn output(&self, command: Command) -> Output {
        self.output_with_input(command, "")
    }

    /// Runs `command` (from `command()`) to its end within `RUN_DEADLINE`, feeding `stdin`.
    pub fn output_with_input(&self, mut command: Command, stdin: &str) -> Output {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn quill");
        let mut input = child.stdin.take().unwrap();
        let text = stdin.to_string();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(text.as_bytes());
        });
        let output = finish_within(child, RUN_DEADLINE, &self.worker_log());
        feeder.join().unwrap();
        output
    }

    pub fn worker_log(&self) -> PathBuf {
        self.dir.path().join("state/quill/logs/worker.log")
    }
}

/// How long one headless Quill may run in a test before it counts as hung: far past what the
/// slowest test needs on a busy 2-core machine, short of hanging the suite.
pub const RUN_DEADLINE: Duration = Duration::from_secs(180);

/// Collects `child`'s output as it ends. One that runs past `limit` is killed (its worker
/// dies with it) and fails the test, with the end of the worker log in the message.
pub fn finish_within(mut child: std::process::Child, limit: Duration, worker_log: &Path) -> Output {
    use std::io::Read;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for quill") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "quill ran past {limit:?} and was killed; the worker log ends:\n{}",
                log_tail(worker_log)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The last few kilobytes of a log, for a failure message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(4096);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// Kills process `pid` if it is still running when `limit` has passed, unless dropped first:
/// a deadline for a test that reads a child's output as it comes.
pub struct KillAfter(std::sync::Arc<std::sync::atomic::AtomicBool>);

pub fn kill_after(pid: u32, limit: Duration) -> KillAfter {
    use std::sync::atomic::Ordering;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&done);
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("process {pid} ran past {limit:?}: killing it");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is the test's child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    KillAfter(done)
}

impl Drop for KillAfter {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// The `--stats` JSON line a headless command printed last on stderr.
pub fn stats(output: &Output) -> serde_json::Value {
    let err = stderr(output);
    let line = err
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no stats line in stderr: {err}"));
    serde_json::from_str(line).expect("stats are JSON")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A paragraph from the article this project started from (Chinese, on products built on
/// large models).
pub const CHINESE: &str = "随着人工智能技术的快速发展，大模型（也称为大型预训练模型）已经成为推动行业创新的关键力量。大模型通过在大量数据上进行预训练，具备了强大的语言理解和生成能力，可以应用于各种场景，如自然语言处理、图像识别、语音识别等。\n\n创业产品开发一直以来都是技术创新的孵化器。在过去的几十年中，无数创业公司凭借创新的产品和商业模式在市场中崭露头角。";

pub const ENGLISH: &str = "The first draft of anything is a conversation with yourself. You write to find out what you think, and only later do you write to tell someone else. That is why the blank page feels heavier than it is: it asks for both jobs at once.";

/// How long the real model may take to load (or answer) on a busy 2-core machine.
pub const MODEL_WAIT: Duration = Duration::from_secs(60);

/// Waits (up to 10 s) until the file at `path` satisfies `ok`; returns its text.
pub fn wait_file(path: &std::path::Path, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tmux server of its own (its own socket), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(home: &Home, args: &[&str]) -> Tmux {
        Tmux::start_sized(home, args, 80, 20)
    }

    pub fn start_sized(home: &Home, args: &[&str], width: u16, height: u16) -> Tmux {
        Tmux::start_with_env(home, &[], args, width, height)
    }

    /// Like `start_sized`, with extra environment variables (`NAME=value`).
    pub fn start_with_env(
        home: &Home,
        env: &[&str],
        args: &[&str],
        width: u16,
        height: u16,
    ) -> Tmux {
        Tmux::start_wrapped(home, &[], env, args, width, height)
    }

    /// Like `start_with_env`, with Quill run by `wrapper` (another user, for one).
    pub fn start_wrapped(
        home: &Home,
        wrapper: &[&str],
        env: &[&str],
        args: &[&str],
        width: u16,
        height: u16,
    ) -> Tmux {
        let socket = format!("quill-test-{}-{}", std::process::id(), unique());
        let mut command: Vec<String> = wrapper.iter().map(|w| w.to_string()).collect();
        command.extend([
            "env".to_string(),
            // Tests set what they depend on: a developer's NO_COLOR would change the screen.
            "-u".to_string(),
            "NO_COLOR".to_string(),
            format!(
                "XDG_CONFIG_HOME={}",
                home.dir.path().join("config").display()
            ),
            format!("XDG_STATE_HOME={}", home.dir.path().join("state").display()),
            // No default model here: tests that want one pass --model.
            format!("XDG_DATA_HOME={}", home.dir.path().join("data").display()),
            "TERM=xterm-256color".to_string(),
        ]);
        command.extend(env.iter().map(|e| e.to_string()));
        command.push(QUILL.to_string());
        command.extend(args.iter().map(|a| a.to_string()));
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .args(&command)
            .status()
            .expect("tmux is installed (make test installs it)");
        assert!(status.success());
        Tmux { socket }
    }

    /// Quill on `file` with the default model, `env` added, waiting until the model is ready.
    pub fn with_model(
        home: &Home,
        env: &[&str],
        file: &std::path::Path,
        width: u16,
        height: u16,
    ) -> Tmux {
        let model = model();
        let tmux = Tmux::start_with_env(
            home,
            env,
            &[file.to_str().unwrap(), "--model", model.to_str().unwrap()],
            width,
            height,
        );
        tmux.wait_for_within("model ready", MODEL_WAIT);
        tmux
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types text literally (no key-name lookup).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend(keys);
        self.tmux(&args);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    pub fn cursor(&self) -> (usize, usize) {
        let out = self.tmux(&["display-message", "-p", "#{cursor_x} #{cursor_y}"]);
        let mut parts = out
            .split_whitespace()
            .map(|p| p.parse().unwrap_or(usize::MAX));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    pub fn pane_pid(&self) -> i32 {
        self.tmux(&["display-message", "-p", "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap_or(0)
    }

    pub fn is_alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session"])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Ctrl-O, whatever the prompt offers cleared, then `path` and Enter.
    pub fn open_with_ctrl_o(&self, path: &Path) {
        self.keys(&["C-o"]);
        self.wait_for("Open:");
        for _ in 0..80 {
            self.keys(&["BSpace"]);
        }
        self.type_text(path_arg(path));
        self.keys(&["Enter"]);
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_for_within(text, Duration::from_secs(10))
    }

    /// Waits until `text` is no longer on the screen (a pane closing, a message clearing).
    pub fn wait_gone(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if !screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{text:?} stayed on:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until one capture shows every one of `texts` (a capture can land mid-frame).
    pub fn wait_for_all(&self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw all of {texts:?} at once on:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the terminal cursor is at `at` (column, row): it moves in the frame after
    /// the key, not with it.
    pub fn wait_for_cursor(&self, at: (usize, usize)) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let cursor = self.cursor();
            if cursor == at {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cursor stayed at {cursor:?}, not {at:?}, on:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_for_within(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {text:?} on:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The child processes of `pid` (all its threads' children): Quill's worker, once started.
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Waits (up to `limit`) for a worker of `pid` other than `not`, and returns it.
pub fn wait_worker(pid: i32, not: Option<i32>, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(worker) = children(pid).into_iter().find(|c| Some(*c) != not) {
            return worker;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} started no worker (other than {not:?}) within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to a worker process the test started.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is a child of the test's own
    // Quill.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A test's precondition that this machine cannot meet (no right to mount, one core, ...). In
/// CI (`CI` set) that fails the test: a check that did not run must not pass. Elsewhere the
/// test says loudly that it skipped the check.
pub fn precondition_missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and this check cannot run here: {what}");
    }
    eprintln!("SKIPPED (not a pass): {what}; set CI=1 to make this a failure");
}

/// A directory nothing can be written to, for root too: without root, its permission bits;
/// as root (whom permission bits do not stop), a read-only bind mount of it, undone on drop.
/// `None` (after `precondition_missing`) where neither can be had.
pub struct ReadOnlyDir {
    pub path: PathBuf,
    mounted: bool,
}

impl ReadOnlyDir {
    pub fn new(path: &std::path::Path) -> Option<ReadOnlyDir> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path).expect("create the directory");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555)).unwrap();
        let mut dir = ReadOnlyDir {
            path: path.to_path_buf(),
            mounted: false,
        };
        if dir.refuses_writes() {
            return Some(dir);
        }
        let bound = Command::new("mount")
            .arg("--bind")
            .arg(path)
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        dir.mounted = bound;
        let read_only = bound
            && Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
        if read_only && dir.refuses_writes() {
            return Some(dir);
        }
        precondition_missing(&format!(
            "{} cannot be made read-only (root without the right to mount)",
            path.display()
        ));
        None
    }

    fn refuses_writes(&self) -> bool {
        let probe = self.path.join(".probe");
        let refused = std::fs::write(&probe, "x").is_err();
        let _ = std::fs::remove_file(&probe);
        refused
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
        // So the temporary directory holding it can be removed.
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o755));
    }
}

/// A 64 KiB tmpfs mounted on a directory for the test, unmounted on drop: a disk that fills up.
/// Mounting needs root (CI runs as root); `None` (after `precondition_missing`) where it is
/// not allowed. Each test that uses it has a twin that needs no root.
pub struct TinyDisk(PathBuf);

impl TinyDisk {
    pub fn mount(dir: &std::path::Path) -> Option<TinyDisk> {
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            precondition_missing("mounting a tmpfs needs root with the right to mount");
            return None;
        }
        Some(TinyDisk(dir.to_path_buf()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Waits until the crash journal of `draft` (None: the untitled one) in `home` holds `text`:
/// what a kill -9 after this point must not lose. `original` is the text the journal's changes
/// apply to when it holds no snapshot of its own (the file as it was opened).
pub fn wait_journaled(home: &Home, draft: Option<&Path>, original: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let journaled = journal_text(home, draft, original);
        if matches!(&journaled, Some(Ok(t)) if t.contains(text)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the journal of {draft:?} never held {text:?}: {journaled:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text the crash journal of `draft` (None: the untitled one) in `home` holds now, its
/// edits applied to `original` as the editor applies them (or to its own snapshot); `Err`
/// when they do not fit that text, `None` when there is no journal.
pub fn journal_text(
    home: &Home,
    draft: Option<&Path>,
    original: &str,
) -> Option<Result<String, String>> {
    let state = home.dir.path().join("state/quill");
    let path = quill::document::journal::journal_path(&state, draft);
    let recovered = quill::document::journal::read(&path).ok().flatten()?;
    let mut rope = ropey::Rope::from_str(recovered.snapshot.as_deref().unwrap_or(original));
    for change in &recovered.changes {
        if change.start + change.removed.chars().count() > rope.len_chars() {
            return Some(Err(format!(
                "{change:?} does not fit {:?}",
                rope.to_string()
            )));
        }
        change.apply(&mut rope);
    }
    Some(Ok(rope.to_string()))
}

/// A path as a command-line argument (the tests' paths are UTF-8).
pub fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Process `pid` is gone, or dead and only waiting to be reaped (a zombie).
pub fn has_exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|state| state.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Waits up to `limit` for process `pid` to exit; fails with `what` if it does not.
pub fn wait_exited(pid: i32, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while !has_exited(pid) {
        assert!(
            Instant::now() < deadline,
            "{what}: process {pid} is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The models folder of `home`'s data directory (`quill model` tests set XDG_DATA_HOME to
/// `home/data`).
pub fn models_dir(home: &Home) -> PathBuf {
    home.dir.path().join("data/quill/models")
}

/// The names in `dir`, sorted; none when it cannot be read.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The default model as llama.cpp loads it, once a process (its backend can only be
/// initialised once): for counting tokens the way the worker does.
fn llama_model() -> &'static llama_cpp_2::model::LlamaModel {
    use llama_cpp_2::llama_backend::LlamaBackend;
    use llama_cpp_2::model::LlamaModel;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::{LogOptions, send_logs_to_tracing};
    static MODEL: std::sync::OnceLock<(LlamaBackend, LlamaModel)> = std::sync::OnceLock::new();
    &MODEL
        .get_or_init(|| {
            send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
            let backend = LlamaBackend::init().expect("the llama.cpp backend");
            let params = LlamaModelParams::default();
            let model = LlamaModel::load_from_file(&backend, model(), &params).expect("the model");
            (backend, model)
        })
        .1
}

/// Tokens of `text` by the default model's tokenizer in llama.cpp, without BOS: as plain text,
/// or with special tokens parsed.
pub fn llama_vocab_count(text: &str, special: bool) -> usize {
    llama_model()
        .vocab()
        .tokenize(text.as_bytes(), false, special)
        .len()
}

/// `llama_vocab_count` of plain text.
pub fn llama_token_count(text: &str) -> usize {
    llama_vocab_count(text, false)
}

/// Whether the worker puts a BOS before the default model's prompts.
pub fn llama_adds_bos() -> bool {
    llama_model().vocab().should_add_bos()
}
