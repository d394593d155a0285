//! `quill model pull` against a real HTTP server on 127.0.0.1 serving the default model: a whole
//! transfer, one cut half-way and resumed with a Range request, a wrong sha256, a web page in
//! place of a model, HTTP errors, no server at all, and a disk without room.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};

use common::{Home, ReadOnlyDir, TinyDisk, model, models_dir, names_in, stderr, stdout};

const NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The default model's sha256, as scripts/fetch-model checks it.
const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The file, whole or from the requested offset (206).
    Serve,
    /// As `Serve`, but the connection is closed once the file's first `n` bytes are sent.
    CutAt(usize),
    /// A web page with status 200.
    Html,
    Status(u16),
}

/// A one-file HTTP/1.1 server: what a CDN does for a model download, and no more.
struct Server {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    /// Each request's head, as received.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bytes = Arc::new(std::fs::read(model()).unwrap());
        let mode = Arc::new(Mutex::new(mode));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (shared_mode, log) = (mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (bytes, mode, log) = (bytes.clone(), *shared_mode.lock().unwrap(), log.clone());
                std::thread::spawn(move || serve(stream, &bytes, mode, &log));
            }
        });
        Server {
            port,
            mode,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/models/{NAME}?download=true", self.port)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, bytes: &[u8], mode: Mode, log: &Mutex<Vec<String>>) {
    let mut head = String::new();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    log.lock().unwrap().push(head.clone());
    let from = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(str::to_string)
        })
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    let reply = |stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(body);
    };
    match mode {
        Mode::Html => reply(
            &mut stream,
            "200 OK",
            "Content-Type: text/html\r\n",
            b"<!doctype html><title>Sign in</title>",
        ),
        Mode::Status(code) => reply(&mut stream, &format!("{code} Nope"), "", b""),
        Mode::Serve | Mode::CutAt(_) => {
            let start = from.unwrap_or(0).min(bytes.len());
            let (status, range) = match from {
                Some(_) => (
                    "206 Partial Content",
                    format!(
                        "Content-Range: bytes {start}-{}/{}\r\n",
                        bytes.len() - 1,
                        bytes.len()
                    ),
                ),
                None => ("200 OK", String::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nConnection: close\r\n{range}Content-Length: {}\r\n\r\n",
                bytes.len() - start
            );
            let end = match mode {
                Mode::CutAt(n) => n.max(start),
                _ => bytes.len(),
            };
            let _ = stream.write_all(&bytes[start..end]);
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn pull(home: &Home, args: &[&str]) -> Output {
    let mut command = home.command();
    command
        .env("XDG_DATA_HOME", home.dir.path().join("data"))
        .args(["model", "pull"])
        .args(args);
    home.output(command)
}

fn exit(output: &Output, code: i32, words: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    let said = format!("{}{}", stdout(output), stderr(output));
    assert!(said.contains(words), "{words:?} in {said}");
}

#[test]
fn a_pulled_model_is_checked_and_installed_whole() {
    let home = Home::new();
    let server = Server::start(Mode::Serve);
    let output = pull(&home, &[&server.url(), "--sha256", SHA256]);
    exit(&output, 0, "pulled");
    assert!(stdout(&output).contains("Q4_1"), "{}", stdout(&output));
    assert_eq!(
        names_in(&models_dir(&home)),
        [NAME],
        "no partial file is left"
    );
    assert!(
        std::fs::read(models_dir(&home).join(NAME)).unwrap() == std::fs::read(model()).unwrap()
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        !requests[0].to_ascii_lowercase().contains("range:"),
        "{requests:?}"
    );

    // Pulled again: it is there already, and nothing is fetched.
    exit(&pull(&home, &[&server.url()]), 2, "is already there");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_transfer_cut_half_way_resumes_where_it_stopped() {
    let home = Home::new();
    let size = std::fs::metadata(model()).unwrap().len() as usize;
    let half = size / 2;
    let server = Server::start(Mode::CutAt(half));
    let output = pull(&home, &[&server.url()]);
    exit(&output, 3, "the same command resumes from there");
    let partial = models_dir(&home).join(format!("{NAME}.partial"));
    assert_eq!(
        std::fs::metadata(&partial).unwrap().len() as usize,
        half,
        "every byte received is kept"
    );
    assert_eq!(names_in(&models_dir(&home)), [format!("{NAME}.partial")]);

    server.set(Mode::Serve);
    let output = pull(&home, &[&server.url(), "--sha256", SHA256]);
    exit(&output, 0, "pulled");
    assert!(
        stderr(&output).contains("resuming after"),
        "{}",
        stderr(&output)
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[1]
            .to_ascii_lowercase()
            .contains(&format!("range: bytes={half}-")),
        "the second request asks for the rest only: {requests:?}"
    );
    assert_eq!(names_in(&models_dir(&home)), [NAME]);
    assert!(
        std::fs::read(models_dir(&home).join(NAME)).unwrap() == std::fs::read(model()).unwrap()
    );
}

#[test]
fn a_wrong_sha256_installs_nothing() {
    let home = Home::new();
    let server = Server::start(Mode::Serve);
    let wrong = "0".repeat(64);
    let output = pull(&home, &[&server.url(), "--sha256", &wrong]);
    exit(&output, 2, "nothing was installed");
    assert!(stderr(&output).contains(SHA256), "{}", stderr(&output));
    assert!(
        names_in(&models_dir(&home)).is_empty(),
        "{:?}",
        names_in(&models_dir(&home))
    );
    exit(
        &pull(&home, &[&server.url(), "--sha256", "abc"]),
        2,
        "64 hexadecimal digits",
    );
}

#[test]
fn a_web_page_in_place_of_a_model_is_not_kept() {
    let home = Home::new();
    let server = Server::start(Mode::Html);
    let output = pull(&home, &[&server.url()]);
    exit(&output, 2, "does not serve a GGUF model");
    assert!(stderr(&output).contains("<!doctype"), "{}", stderr(&output));
    assert!(
        names_in(&models_dir(&home)).is_empty(),
        "{:?}",
        names_in(&models_dir(&home))
    );
}

#[test]
fn http_errors_and_a_missing_server_say_what_to_do() {
    let home = Home::new();
    let server = Server::start(Mode::Status(404));
    exit(
        &pull(&home, &[&server.url()]),
        3,
        "was not found (HTTP 404)",
    );
    server.set(Mode::Status(401));
    exit(
        &pull(&home, &[&server.url()]),
        3,
        "refused the download (HTTP 401)",
    );
    server.set(Mode::Status(503));
    exit(&pull(&home, &[&server.url()]), 3, "answered HTTP 503");
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/{NAME}");
    exit(&pull(&home, &[&url]), 3, "could not reach");
    exit(
        &pull(&home, &["ftp://example/m.gguf"]),
        2,
        "is not a URL Quill can fetch",
    );
    exit(
        &pull(&home, &[&format!("http://127.0.0.1:{port}/download")]),
        2,
        "--name NAME",
    );
    assert!(
        names_in(&models_dir(&home)).is_empty(),
        "{:?}",
        names_in(&models_dir(&home))
    );
}

#[test]
fn a_disk_without_room_is_found_before_the_transfer() {
    let home = Home::new();
    let dir = models_dir(&home);
    std::fs::create_dir_all(&dir).unwrap();
    let Some(_unmount) = TinyDisk::mount(&dir) else {
        return;
    };
    let server = Server::start(Mode::Serve);
    let output = pull(&home, &[&server.url()]);
    exit(&output, 2, "free some space");
    assert!(
        names_in(&models_dir(&home)).is_empty(),
        "{:?}",
        names_in(&models_dir(&home))
    );
}

/// The twin that needs no root: a models folder that refuses writes.
#[test]
fn a_models_folder_that_refuses_writes_keeps_nothing() {
    let home = Home::new();
    let dir = models_dir(&home);
    let Some(_read_only) = ReadOnlyDir::new(&dir) else {
        return;
    };
    let server = Server::start(Mode::Serve);
    let output = pull(&home, &[&server.url()]);
    exit(&output, 2, "cannot write");
    assert!(
        names_in(&models_dir(&home)).is_empty(),
        "{:?}",
        names_in(&models_dir(&home))
    );
}
