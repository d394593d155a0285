//! The remote engine against a real llama.cpp `llama-server` (built by scripts/llama-server from
//! the llama.cpp that llama-cpp-python's source package vendors, cached outside the clone) on
//! 127.0.0.1 with the default model, and against a small HTTP server in the test for the
//! failures a real one will not produce on demand (401, 429, 503, malformed JSON, a stream cut
//! half-way, a stalled one).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{CHINESE, ENGLISH, Home, MODEL_WAIT, Tmux, model, stderr, stdout};
use quill::engine::protocol::{
    Event, GenerateOptions, LoadParams, Part, Prompt, RemoteParams, Request, SamplingParams,
    StopReason,
};
use quill::engine::{Client, Engine, remote::RemoteEngine};

/// The llama-server binary: `QUILL_LLAMA_SERVER` (`make test` sets it), else built (or found in
/// its cache) by scripts/llama-server.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("QUILL_LLAMA_SERVER") {
        return PathBuf::from(path);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let output = Command::new("scripts/llama-server")
                .stderr(Stdio::inherit())
                .output()
                .expect("run scripts/llama-server");
            assert!(
                output.status.success(),
                "scripts/llama-server could not build llama-server (make test builds it)"
            );
            PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
        })
        .clone()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A llama-server with the default model on a port of its own; killed on drop.
struct LlamaServer {
    child: Child,
    url: String,
    _log_dir: tempfile::TempDir,
}

impl LlamaServer {
    /// Flash attention off and one thread, as the tests' local worker runs: the same model
    /// computed the same way writes the same greedy text.
    fn start(slots: u32) -> LlamaServer {
        let log_dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(log_dir.path().join("server.log")).unwrap();
        let port = free_port();
        let child = Command::new(server_binary())
            .arg("-m")
            .arg(model())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "-c",
                "4096",
                "-t",
                "1",
                "-fa",
                "off",
                "-np",
                &slots.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start llama-server");
        let server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + MODEL_WAIT;
        loop {
            if let Ok(response) = ureq::get(format!("{}/health", server.url)).call()
                && response.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "llama-server did not become ready: {}",
                common::log_tail(&server._log_dir.path().join("server.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch home whose config points the engine at `url`, with `extra` lines in `[engine]`.
fn remote_home(url: &str, extra: &str) -> Home {
    let home = Home::new();
    std::fs::write(
        home.dir.path().join("config/quill/config.toml"),
        format!(
            "{}kind = \"remote\"\nurl = \"{url}\"\n{extra}{}",
            common::ENGINE_CONFIG,
            common::SAMPLING_CONFIG
        ),
    )
    .unwrap();
    home
}

fn input_file(home: &Home, text: &str) -> PathBuf {
    let path = home.dir.path().join("draft.txt");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_headless_action_streams_from_a_real_llama_server() {
    let server = LlamaServer::start(2);
    let home = remote_home(&server.url, "");
    let draft = input_file(&home, ENGLISH);
    let draft = draft.to_str().unwrap();
    for args in [
        vec!["continue", draft, "--max-tokens", "24"],
        vec!["rewrite", draft, "--style", "formal", "--max-tokens", "80"],
        vec!["summarise", draft, "--max-tokens", "60"],
        vec!["ask", "Give this a title", draft, "--max-tokens", "20"],
    ] {
        let output = home.run(&args, "");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(!stdout(&output).trim().is_empty(), "{args:?}: no text");
    }
    // Chinese in, Chinese out, whole characters only.
    let output = home.run(&["summarise", "--max-tokens", "80"], CHINESE);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains('\u{FFFD}'), "{text}");
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{text}"
    );
    // A template with its copy limit, three variants as parallel requests.
    let output = home.run(
        &[
            "template",
            "run",
            "tagline",
            "--set",
            "product=Quill, a terminal writing assistant",
            "--set",
            "audience=writers",
            "--variants",
            "3",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let copy = stdout(&output);
    assert!(!copy.trim().is_empty());
    // llama.cpp's server takes every sampling setting: nothing to warn of.
    assert!(
        !stderr(&output).contains("does not take"),
        "{}",
        stderr(&output)
    );
    // The default model's own file name identifies it to the server, so the remote engine
    // asked for it; nothing was logged with a key in it (none is configured).
    assert!(
        std::fs::read_to_string(home.worker_log())
            .unwrap()
            .contains("llama.cpp server")
    );
}

#[test]
fn greedy_text_from_the_server_and_from_the_local_worker_agree() {
    let server = LlamaServer::start(1);
    let home = Home::new();
    let prompt = "The history of the printing press begins";
    let args = [
        "continue",
        "--max-tokens",
        "32",
        "--temperature",
        "0",
        "--raw",
        "--stats",
    ];
    let local = home.run(&args, prompt);
    assert!(local.status.success(), "{}", stderr(&local));
    let mut remote_args = args.to_vec();
    remote_args.extend(["--url", server.url.as_str()]);
    let remote = home.run(&remote_args, prompt);
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(
        stdout(&local),
        stdout(&remote),
        "the first 32 tokens differ"
    );
    let generated = |output: &std::process::Output| {
        let stats = stderr(output);
        let line = stats.lines().last().unwrap_or_default().to_string();
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {stats}"));
        json["generated_tokens"].as_u64().unwrap()
    };
    assert_eq!(generated(&local), 32);
    assert_eq!(generated(&remote), 32);
}

fn remote_client(url: &str, timeout_s: u64) -> Client {
    let log = tempfile::NamedTempFile::new().unwrap();
    let engine = RemoteEngine {
        log_file: log.path().to_path_buf(),
    };
    let params = LoadParams {
        model: PathBuf::new(),
        n_ctx: 4096,
        n_threads: 0,
        n_gpu_layers: 0,
        flash_attention: Default::default(),
        prompt_lookup: true,
        remote: Some(RemoteParams {
            url: url.into(),
            timeout_s,
            ..RemoteParams::default()
        }),
    };
    engine.check(&params).unwrap();
    let mut client = Client::start(&engine).unwrap();
    client
        .load(params, Duration::from_secs(30))
        .expect("the server answers");
    client
}

fn generate(client: &mut Client, job: u64, max_tokens: u32) {
    client
        .send(&Request::Generate {
            job,
            prompt: Prompt::Completion {
                parts: vec![Part::fixed("Once upon a time")],
            },
            sampling: SamplingParams {
                max_tokens,
                seed: 1,
                ..SamplingParams::default()
            },
            options: GenerateOptions {
                ignore_eos: true,
                ..GenerateOptions::default()
            },
        })
        .unwrap();
}

#[test]
fn tokens_stream_one_by_one_and_cancel_closes_the_stream_at_once() {
    // One slot: a generation the server kept running after the cancel would hold it, and the
    // next request would wait behind its thousands of tokens until the 20 s timeout.
    let server = LlamaServer::start(1);
    let mut client = remote_client(&server.url, 20);
    generate(&mut client, 1, 4000);
    let mut pieces = 0;
    while pieces < 5 {
        match client.recv_timeout(Duration::from_secs(30)) {
            Some(Event::TokenGenerated { job: 1, .. }) => pieces += 1,
            Some(Event::PromptRead { .. } | Event::Warned { .. }) => {}
            other => panic!("expected streamed tokens, got {other:?}"),
        }
    }
    client.send(&Request::Cancel { job: 1 }).unwrap();
    let stats = loop {
        match client.recv_timeout(Duration::from_secs(30)) {
            Some(Event::GenerationFinished { job: 1, stats }) => break stats,
            Some(Event::TokenGenerated { .. }) => {}
            other => panic!("expected the cancelled end, got {other:?}"),
        }
    };
    assert_eq!(stats.stop_reason, StopReason::Cancelled);
    assert!(stats.generated_tokens < 4000);
    // The slot is free again: a short request gets its answer.
    generate(&mut client, 2, 8);
    loop {
        match client.recv_timeout(Duration::from_secs(60)) {
            Some(Event::GenerationFinished { job: 2, stats }) => {
                assert_eq!(stats.generated_tokens, 8);
                break;
            }
            Some(Event::GenerationFailed { job: 2, reason }) => {
                panic!("the server still ran the cancelled request: {reason}")
            }
            Some(_) => {}
            None => panic!("no answer to the second request"),
        }
    }
}

#[test]
fn a_stopped_server_is_a_clear_failure_and_the_draft_is_untouched() {
    let server = LlamaServer::start(1);
    let url = server.url.clone();
    drop(server);
    let home = remote_home(&url, "");
    let draft = input_file(&home, ENGLISH);
    let output = home.run(&["continue", draft.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("cannot reach the server"), "{message}");
    assert!(message.contains("[engine] url"), "{message}");
    assert!(stdout(&output).is_empty());
    assert_eq!(std::fs::read_to_string(&draft).unwrap(), ENGLISH);
}

/// How the fake server answers a generation request.
#[derive(Clone, Copy)]
enum Fault {
    Status(u16),
    Malformed,
    CutHalfway,
    Stall,
    /// Streams these pieces, then ends properly.
    Script(&'static [&'static str]),
}

/// An HTTP server on 127.0.0.1 that lists one model and answers every generation with `fault`
/// (every request at all, for 401). Its thread ends with the test process.
fn fake_server(fault: Fault, models_too: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, fault, models_too));
        }
    });
    url
}

// Test code, outside the 80-line rule: the scripted server reads best as one script.
#[allow(clippy::too_many_lines)]
fn answer(mut stream: TcpStream, fault: Fault, models_too: bool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let reply = |stream: &mut TcpStream, status: &str, content_type: &str, body: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    if request_line.starts_with("GET /v1/models") && !models_too {
        return reply(
            &mut stream,
            "200 OK",
            "application/json",
            r#"{"object":"list","data":[{"id":"fake-model","object":"model","owned_by":"tests"}]}"#,
        );
    }
    let chunk = |text: &str| {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":null}}]}}\n\n"
        )
    };
    let stream_head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    match fault {
        Fault::Status(code) => {
            let status = match code {
                401 => "401 Unauthorized",
                429 => "429 Too Many Requests",
                _ => "503 Service Unavailable",
            };
            reply(
                &mut stream,
                status,
                "application/json",
                r#"{"error":{"message":"go away\u001b[2J","type":"test"}}"#,
            );
        }
        Fault::Malformed => {
            let _ = write!(
                stream,
                "{stream_head}{}data: {{\"choices\":[{{\"text\n\n",
                chunk("Hello")
            );
        }
        Fault::CutHalfway => {
            let _ = write!(stream, "{stream_head}{}{}", chunk("Hello"), chunk(" there"));
        }
        Fault::Script(pieces) => {
            let mut body = String::from(stream_head);
            for piece in pieces {
                let chunk = serde_json::json!({
                    "choices": [{ "index": 0, "text": piece, "delta": { "content": piece },
                                  "finish_reason": null }]
                });
                body.push_str(&format!("data: {chunk}\n\n"));
            }
            body.push_str(
                "data: {\"choices\":[{\"index\":0,\"text\":\"\",\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
            );
            let _ = stream.write_all(body.as_bytes());
        }
        Fault::Stall => {
            let _ = write!(stream, "{stream_head}{}", chunk("Hello"));
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(120));
        }
    }
}

/// `quill continue` against a fake server: exit code 3 with `expect` in the message, the draft
/// untouched.
fn fails_with(url: &str, extra_config: &str, env: &[(&str, &str)], expect: &str) {
    let home = remote_home(url, extra_config);
    let draft = input_file(&home, ENGLISH);
    let mut command = home.command();
    command.args(["continue", draft.to_str().unwrap()]);
    for (k, v) in env {
        command.env(k, v);
    }
    let started = Instant::now();
    let output = home.output(command);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{message}");
    assert!(
        message.contains(expect),
        "expected '{expect}' in: {message}"
    );
    assert!(
        !message.contains('\u{1b}'),
        "an escape reached stderr: {message:?}"
    );
    assert!(
        !message.contains("sk-test-secret"),
        "the key was shown: {message}"
    );
    assert_eq!(std::fs::read_to_string(&draft).unwrap(), ENGLISH);
    // Not a timing check: a hang would run into the test harness's own deadline instead.
    eprintln!("failed as expected in {:?}: {message}", started.elapsed());
}

#[test]
fn a_refused_key_says_which_variable_to_set_and_never_shows_the_key() {
    let url = fake_server(Fault::Status(401), true);
    fails_with(
        &url,
        "api_key_env = \"QUILL_TEST_KEY\"\n",
        &[("QUILL_TEST_KEY", "sk-test-secret")],
        "refused the API key",
    );
    // A variable that is not set is caught before anything is sent.
    fails_with(
        &url,
        "api_key_env = \"QUILL_TEST_UNSET_KEY\"\n",
        &[],
        "export QUILL_TEST_UNSET_KEY=",
    );
}

#[test]
fn an_overloaded_server_says_to_try_again() {
    fails_with(
        &fake_server(Fault::Status(429), false),
        "",
        &[],
        "overloaded (HTTP 429",
    );
    fails_with(
        &fake_server(Fault::Status(503), false),
        "",
        &[],
        "unavailable (HTTP 503)",
    );
}

#[test]
fn malformed_cut_and_stalled_streams_fail_without_hanging() {
    fails_with(
        &fake_server(Fault::Malformed, false),
        "",
        &[],
        "malformed JSON",
    );
    fails_with(
        &fake_server(Fault::CutHalfway, false),
        "",
        &[],
        "stopped its answer half-way",
    );
    fails_with(
        &fake_server(Fault::Stall, false),
        "timeout_s = 2\n",
        &[],
        "sent nothing for 2 s",
    );
}

#[test]
fn a_model_the_server_does_not_serve_is_named_with_the_ones_it_does() {
    let url = fake_server(Fault::Status(503), false);
    let home = remote_home(&url, "remote_model = \"llama-70b\"\n");
    let output = home.run(&["continue", "--max-tokens", "4"], "Hello");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("no model 'llama-70b'"), "{message}");
    assert!(message.contains("'fake-model'"), "{message}");
}

#[test]
fn the_editor_writes_with_a_remote_server_ghost_text_and_suggestions_alike() {
    let server = LlamaServer::start(2);
    let home = remote_home(&server.url, "");
    let file = home.dir.path().join("remote.md");
    std::fs::write(&file, "").unwrap();
    let tmux = Tmux::start_sized(&home, &[file.to_str().unwrap()], 100, 24);
    tmux.wait_for_within("model ready", MODEL_WAIT);
    tmux.type_text("The best way to learn to write is");
    tmux.wait_for_within("Tab accept · C-Right word", MODEL_WAIT);
    tmux.keys(&["Tab"]);
    tmux.wait_gone("Tab accept");
    // A suggestion streams from the server too, and is accepted into the draft.
    tmux.keys(&["C-End", "C-e"]);
    tmux.wait_for_within(" tokens ", MODEL_WAIT);
    tmux.keys(&["M-Enter"]);
    tmux.wait_for("accepted");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.starts_with("The best way to learn to write is") && saved.len() > 40,
        "{saved:?}"
    );
}

/// Exact counts: the tokenizer.json Quill makes from the default model's GGUF, through
/// Hugging Face's `tokenizers`, counts what llama.cpp counts.
#[test]
fn tokenizer_json_from_the_gguf_counts_as_llama_cpp_does() {
    let home = Home::new();
    let out = home.dir.path().join("tokenizer.json");
    let output = home.run(
        &[
            "model",
            "tokenizer",
            model().to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let counter = quill::engine::count::TokenCounter::load(&out).unwrap();
    assert!(counter.is_exact());
    let llama = common::llama_token_count;
    for text in [
        ENGLISH,
        CHINESE,
        "Numbers 1234567 and   spaces,\ttabs\nnew lines\r\n and émoji 🎉 mixed with 中文。",
        "It's 'quoted' -- isn't it? We'll see; they'd know.",
    ] {
        assert_eq!(counter.count(text), llama(text), "{text}");
    }
}

/// What a hostile (or broken) model might write: window-title, hyperlink and clipboard OSCs,
/// clear-screen, a cursor-position query (the terminal would answer as if typed), a full
/// reset, a DCS, an 8-bit CSI, a bell and a right-to-left override.
const HOSTILE: &[&str] = &[
    "Hello \u{1b}]0;PWNED\u{7}there",
    "\u{1b}[2J\u{1b}[6n",
    " and \u{1b}c\u{1b}P+q544e\u{1b}\\",
    "\u{9b}31mred\u{1b}]8;;http://evil.example\u{7}link\u{1b}]8;;\u{7}",
    "\u{1b}]52;c;cHduZWQ=\u{7} \u{202e}desrever\u{202c} \u{7}world.",
];

/// True for what must never reach a terminal or a draft from the model: a control character,
/// or what is left of a sequence whose ESC alone was taken out.
fn has_hostile(text: &str) -> bool {
    [
        "PWNED",
        "]0;",
        "[2J",
        "[6n",
        "+q544e",
        "31m",
        "evil.example",
        "52;c",
    ]
    .iter()
    .any(|residue| text.contains(residue))
        || text.chars().any(|c| {
            matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
}

#[test]
fn escape_sequences_from_the_model_never_reach_stdout() {
    let url = fake_server(Fault::Script(HOSTILE), false);
    let home = remote_home(&url, "");
    for args in [
        vec!["continue", "--raw"],
        vec!["continue"],
        vec!["rewrite", "--style", "formal"],
    ] {
        let output = home.run(&args, "A draft to work on.");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(!has_hostile(&text), "{args:?}: {text:?}");
        assert!(text.contains("Hello"), "{args:?}: {text:?}");
        assert!(!has_hostile(&stderr(&output)), "{args:?}");
    }
}

#[test]
fn escape_sequences_from_the_model_reach_neither_the_terminal_nor_the_draft() {
    let url = fake_server(Fault::Script(HOSTILE), false);
    let home = remote_home(&url, "");
    let file = home.dir.path().join("hostile.md");
    std::fs::write(&file, "My own words.\n").unwrap();
    let tmux = Tmux::start_sized(&home, &[file.to_str().unwrap()], 100, 24);
    tmux.wait_for_within("model ready", MODEL_WAIT);
    let title = tmux.tmux(&["display-message", "-p", "#{pane_title}"]);
    // A suggestion: streamed into the pane, then accepted into the draft.
    tmux.keys(&["C-End", "C-e"]);
    tmux.wait_for_within(" tokens ", MODEL_WAIT);
    let screen = tmux.screen();
    assert!(
        screen.contains("My own words."),
        "the screen was cleared: {screen}"
    );
    tmux.keys(&["M-Enter"]);
    tmux.wait_for("accepted");
    // Ghost text: typed after, taken with Tab.
    tmux.keys(&["C-End"]);
    tmux.type_text(" More");
    tmux.wait_for_within("Tab accept", MODEL_WAIT);
    tmux.keys(&["Tab"]);
    tmux.wait_gone("Tab accept");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.starts_with("My own words."), "{saved:?}");
    assert!(saved.contains("Hello"), "{saved:?}");
    assert!(!has_hostile(&saved), "{saved:?}");
    // Nothing reached the terminal: its title, its clipboard (tmux keeps OSC 52 as a paste
    // buffer) and its screen are as they were.
    assert_eq!(
        tmux.tmux(&["display-message", "-p", "#{pane_title}"]),
        title
    );
    assert!(
        tmux.tmux(&["list-buffers"]).trim().is_empty(),
        "a clipboard write reached the terminal"
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains("PWNED") && screen.contains("My own words."),
        "{screen}"
    );
}
