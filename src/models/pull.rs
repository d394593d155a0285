//! `quill model pull URL`: a GGUF fetched over HTTP(S) into the models folder. The bytes go to
//! `NAME.partial` beside the destination, so an interrupted transfer (a dropped connection,
//! Ctrl-C, a full disk) resumes where it stopped the next time the same command runs (an HTTP
//! Range request); the file only takes its name, by an atomic rename, once it is whole, starts
//! with the GGUF magic, has a readable header and, when given, the right sha256.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use ureq::Agent;

use super::{describe, free_bytes, human_bytes, inspect, new_destination};
use crate::headless::{Failure, Settings};

/// How long a server may take to accept the connection, and to send the next bytes once it
/// has started: past either, the transfer stops (and resumes on the next run).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes kept free beyond the model itself: a disk filled to the last byte breaks everything
/// else that writes to it.
const SPARE_BYTES: u64 = 64 * 1024 * 1024;

/// `hf:owner/repo/path/file.gguf` (optionally `hf:owner/repo@revision/path/file.gguf`) as the
/// Hugging Face URL it stands for; any other text is returned as it is.
pub fn expand_url(url: &str) -> String {
    let Some(rest) = url.strip_prefix("hf:") else {
        return url.to_string();
    };
    let mut parts = rest.splitn(3, '/');
    let (owner, repo, file) = (parts.next(), parts.next(), parts.next());
    match (owner, repo, file) {
        (Some(owner), Some(repo), Some(file)) if !owner.is_empty() && !file.is_empty() => {
            let (repo, revision) = repo.split_once('@').unwrap_or((repo, "main"));
            format!("https://huggingface.co/{owner}/{repo}/resolve/{revision}/{file}")
        }
        _ => url.to_string(),
    }
}

/// The file name a URL's path ends in (its query left off), if it names a GGUF.
fn name_in(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    (last.len() > 5 && last.to_ascii_lowercase().ends_with(".gguf")).then(|| last.to_string())
}

pub fn pull(
    settings: &Settings,
    url: &str,
    sha256: Option<&str>,
    name: Option<&str>,
) -> Result<(), Failure> {
    let url = expand_url(url);
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Failure::bad_input(format!(
            "{url:?} is not a URL Quill can fetch: give an https:// address (or http:// for a \
             server on your own network), or hf:owner/repo/file.gguf"
        )));
    }
    let expected = match sha256 {
        Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            Some(hex.to_ascii_lowercase())
        }
        Some(hex) => {
            return Err(Failure::bad_input(format!(
                "--sha256 {hex:?} is not a sha256: it has 64 hexadecimal digits"
            )));
        }
        None => None,
    };
    let Some(name) = name.map(str::to_string).or_else(|| name_in(&url)) else {
        return Err(Failure::bad_input(format!(
            "{url} does not end in a .gguf file name: say what to call it with --name NAME"
        )));
    };
    let dest = new_destination(settings, &name)?;
    let name = dest
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let dir = settings.paths.models_dir();
    let partial = dir.join(format!("{name}.partial"));
    fetch(&url, &partial)?;
    install(&partial, &dest, expected.as_deref())?;
    let facts = inspect(&dest);
    println!("pulled {}: {}", dest.display(), describe(&facts));
    println!("`quill model use {name}` makes it the model Quill uses");
    Ok(())
}

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(IDLE_TIMEOUT))
        .build()
        .into()
}

/// Brings `partial` up to the whole file at `url`, resuming from what it holds.
fn fetch(url: &str, partial: &Path) -> Result<(), Failure> {
    let agent = agent();
    // A server that ignores the range or finds it past the end: start over, once.
    for attempt in 0..2 {
        let have = std::fs::metadata(partial).map_or(0, |m| m.len());
        let mut request = agent.get(url).header("Accept-Encoding", "identity");
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let mut response = request.call().map_err(|e| {
            Failure::engine(format!(
                "could not reach {url}: {e}; check the address and the network{}",
                resume_hint(have)
            ))
        })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (start, total) = match status {
            200 => (0, response.body().content_length()),
            206 => match header("content-range").as_deref().and_then(content_range) {
                Some((start, total)) if start == have => (start, total),
                _ if attempt == 0 => {
                    truncate(partial)?;
                    continue;
                }
                _ => {
                    return Err(Failure::engine(format!(
                        "{url} answered the resumed request with another part of the file; \
                         remove {} and pull again",
                        partial.display()
                    )));
                }
            },
            416 if have > 0 => {
                let total = header("content-range")
                    .as_deref()
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|t| t.trim().parse::<u64>().ok());
                if total == Some(have) {
                    return Ok(());
                }
                truncate(partial)?;
                continue;
            }
            _ => return Err(status_failure(url, status, have)),
        };
        if start == 0 && have > 0 {
            // The server sent the whole file: what was kept is of no use.
            truncate(partial)?;
        }
        if let Some(total) = total {
            check_room(partial, start, total)?;
        }
        let mut body = response.body_mut().as_reader();
        return receive(&mut body, partial, start, total, url);
    }
    Err(Failure::engine(format!(
        "{url} would not serve the file from its start; pull again later"
    )))
}

/// Whether the disk holding `partial` has room for the rest of a file of `total` bytes, of
/// which `start` are there.
fn check_room(partial: &Path, start: u64, total: u64) -> Result<(), Failure> {
    let needed = total.saturating_sub(start) + SPARE_BYTES;
    let dir = partial.parent().unwrap_or(Path::new("."));
    match free_bytes(dir) {
        Some(free) if free < needed => Err(Failure::bad_input(format!(
            "{} has {} free and this model needs {} more (and {} to spare): free some space \
             and pull again{}",
            dir.display(),
            human_bytes(free),
            human_bytes(total.saturating_sub(start)),
            human_bytes(SPARE_BYTES),
            resume_hint(start)
        ))),
        _ => Ok(()),
    }
}

/// Why an answer with HTTP `status` gives no file.
fn status_failure(url: &str, status: u16, have: u64) -> Failure {
    Failure::engine(match status {
        401 | 403 => format!(
            "{url} refused the download (HTTP {status}): the file may be private or gated; \
             check the URL, or download it in a browser and `quill model add` it"
        ),
        404 => format!("{url} was not found (HTTP 404): check the owner, repository and file name"),
        _ => format!("{url} answered HTTP {status}{}", resume_hint(have)),
    })
}

/// "bytes 100-199/1000" -> (100, Some(1000)); "bytes 100-199/*" -> (100, None).
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

fn truncate(partial: &Path) -> Result<(), Failure> {
    File::create(partial)
        .map(drop)
        .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", partial.display())))
}

fn resume_hint(have: u64) -> String {
    if have == 0 {
        String::new()
    } else {
        format!(
            "; the {} received so far are kept, and the same command resumes from there",
            human_bytes(have)
        )
    }
}

/// Appends `body` to `partial` (which holds `start` bytes), with a progress bar on a terminal.
fn receive(
    body: &mut dyn Read,
    partial: &Path,
    start: u64,
    total: Option<u64>,
    url: &str,
) -> Result<(), Failure> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(partial)
        .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", partial.display())))?;
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bytes:>10} of {total_bytes}  {bytes_per_sec:>12}  {eta} left  {wide_bar}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(start);
    if bar.is_hidden() {
        eprintln!(
            "pulling {url}{}",
            if start > 0 {
                format!(", resuming after {}", human_bytes(start))
            } else {
                String::new()
            }
        );
    }
    let mut received = start;
    let mut buffer = vec![0u8; 256 * 1024];
    // A partial file of 4 bytes or more had them checked when they came.
    let mut checked_magic = start >= 4;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.sync_all();
                bar.abandon();
                return Err(Failure::engine(format!(
                    "the transfer stopped at {}{} ({e}){}",
                    human_bytes(received),
                    total.map_or_else(String::new, |t| format!(" of {}", human_bytes(t))),
                    resume_hint(received)
                )));
            }
        };
        if !checked_magic && received + (n as u64) >= 4 {
            if let Err(failure) = check_magic(partial, received, &buffer[..n], url) {
                drop(file);
                let _ = std::fs::remove_file(partial);
                bar.abandon();
                return Err(failure);
            }
            checked_magic = true;
        }
        if let Err(e) = file.write_all(&buffer[..n]) {
            let _ = file.sync_all();
            bar.abandon();
            return Err(Failure::bad_input(format!(
                "writing {} failed at {} ({e}): free some space{}",
                partial.display(),
                human_bytes(received),
                resume_hint(received)
            )));
        }
        received += n as u64;
        bar.set_position(received);
    }
    file.sync_all()
        .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", partial.display())))?;
    bar.finish_and_clear();
    if let Some(total) = total
        && received != total
    {
        return Err(Failure::engine(format!(
            "the transfer ended at {} of {}{}",
            human_bytes(received),
            human_bytes(total),
            resume_hint(received)
        )));
    }
    Ok(())
}

/// An error page or a login form instead of a model: stopped at its first bytes. `received`
/// bytes are in `partial` already, `more` came after them.
fn check_magic(partial: &Path, received: u64, more: &[u8], url: &str) -> Result<(), Failure> {
    let mut head = Vec::with_capacity(4);
    if received > 0 {
        let mut kept = [0u8; 4];
        File::open(partial)
            .and_then(|mut f| f.read(&mut kept))
            .map(|k| head.extend_from_slice(&kept[..k]))
            .map_err(|e| Failure::bad_input(format!("cannot read {}: {e}", partial.display())))?;
    }
    head.extend_from_slice(more);
    if head.starts_with(b"GGUF") {
        return Ok(());
    }
    Err(Failure::bad_input(format!(
        "{url} does not serve a GGUF model (it starts with {:?}, maybe a web page): check the \
         URL; nothing was kept",
        String::from_utf8_lossy(&head[..head.len().min(16)])
    )))
}

/// Checks the whole file and renames it into place; a file that fails is removed.
fn install(partial: &Path, dest: &Path, expected: Option<&str>) -> Result<(), Failure> {
    let reject = |why: String| {
        let _ = std::fs::remove_file(partial);
        Err(Failure::bad_input(format!("{why}; nothing was installed")))
    };
    if let Some(expected) = expected {
        let actual = sha256_of(partial)
            .map_err(|e| Failure::bad_input(format!("cannot read {}: {e}", partial.display())))?;
        if actual != expected {
            return reject(format!(
                "the download's sha256 is {actual}, not the {expected} asked for (the file \
                 was changed on the server, or the sum is for another file)"
            ));
        }
    }
    if let Some(problem) = inspect(partial).problem {
        return reject(format!("the download is not a usable model: {problem}"));
    }
    std::fs::rename(partial, dest).map_err(|e| {
        Failure::bad_input(format!(
            "cannot move {} to {}: {e}",
            partial.display(),
            dest.display()
        ))
    })?;
    if let Some(dir) = dest.parent() {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        match file.read(&mut buffer)? {
            0 => break,
            n => hasher.update(&buffer[..n]),
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_shorthand_names_the_resolve_url() {
        assert_eq!(
            expand_url("hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf"),
            "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf"
        );
        assert_eq!(
            expand_url("hf:o/r@v2/sub/m.gguf"),
            "https://huggingface.co/o/r/resolve/v2/sub/m.gguf"
        );
        assert_eq!(expand_url("hf:nothing"), "hf:nothing");
        assert_eq!(expand_url("https://x/y.gguf"), "https://x/y.gguf");
    }

    #[test]
    fn the_name_comes_from_the_url_path() {
        assert_eq!(
            name_in("https://h/o/r/resolve/main/m-Q4_K_M.gguf?download=true").as_deref(),
            Some("m-Q4_K_M.gguf")
        );
        assert_eq!(name_in("https://h/download?id=3"), None);
    }

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(content_range("bytes 100-199/1000"), Some((100, Some(1000))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("items 1-2/3"), None);
    }

    #[test]
    fn sha256_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_of(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
