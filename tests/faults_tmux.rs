//! Faults a writer's machine produces, injected into the real editor in tmux: a disk that
//! fails fsync with EIO (an LD_PRELOAD shim built here), a file deleted or a folder renamed
//! while it is open, and kill -9 at random moments while typing and while saving
//! (`QUILL_SOAK_ROUNDS` rounds: 5 in `make test`, 50 in `make soak`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Home, Tmux, journal_text, path_arg};

/// A shared library that makes fsync and fdatasync fail with EIO while the file named by
/// `QUILL_TEST_FSYNC_EIO` exists, built with the system C compiler into `dir`.
fn eio_shim(dir: &Path) -> PathBuf {
    let source = dir.join("eio.c");
    std::fs::write(
        &source,
        r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void) {
    const char *flag = getenv("QUILL_TEST_FSYNC_EIO");
    return flag && access(flag, F_OK) == 0;
}

int fsync(int fd) {
    if (failing()) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    if (failing()) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
"#,
    )
    .unwrap();
    let library = dir.join("libeio.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("a C compiler (make test installs one)");
    assert!(status.success(), "building the EIO shim failed");
    library
}

#[test]
fn an_eio_on_fsync_keeps_the_original_and_the_text_and_a_later_save_succeeds() {
    let home = Home::new();
    let shim = eio_shim(home.dir.path());
    let flag = home.dir.path().join("fail-fsync");
    let file = home.dir.path().join("draft.md");
    std::fs::write(&file, "original text\n").unwrap();
    let tmux = Tmux::start_with_env(
        &home,
        &[
            &format!("LD_PRELOAD={}", shim.display()),
            &format!("QUILL_TEST_FSYNC_EIO={}", flag.display()),
        ],
        &[path_arg(&file)],
        100,
        20,
    );
    tmux.wait_for("original text");
    tmux.keys(&["C-End"]);
    tmux.type_text("new words");
    tmux.wait_for("new words");
    std::fs::write(&flag, "").unwrap();
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for("input/output error");
    assert!(
        screen.contains("[+]"),
        "the buffer stays modified:\n{screen}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original text\n");
    let leftovers = std::fs::read_dir(home.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .count();
    assert_eq!(leftovers, 0, "a temp file was left behind");
    // The disk recovers: the same save now succeeds.
    std::fs::remove_file(&flag).unwrap();
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "original text\nnew words\n"
    );
}

#[test]
fn a_file_deleted_while_open_is_saved_again() {
    let home = Home::new();
    let file = home.dir.path().join("draft.md");
    std::fs::write(&file, "kept in the editor\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("kept in the editor");
    std::fs::remove_file(&file).unwrap();
    tmux.keys(&["C-End"]);
    tmux.type_text("and more");
    tmux.wait_for("and more");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "kept in the editor\nand more\n"
    );
}

#[test]
fn a_folder_renamed_while_open_fails_the_save_with_what_to_do_and_keeps_the_text() {
    let home = Home::new();
    let folder = home.dir.path().join("project");
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("draft.md");
    std::fs::write(&file, "first\n").unwrap();
    let tmux = Tmux::start_sized(&home, &[path_arg(&file)], 160, 20);
    tmux.wait_for("first");
    let moved = home.dir.path().join("project-moved");
    std::fs::rename(&folder, &moved).unwrap();
    tmux.keys(&["C-End"]);
    tmux.type_text("second");
    tmux.wait_for("second");
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for("no longer there");
    assert!(screen.contains("[+]"), "{screen}");
    assert!(!folder.exists(), "the save must not make the folder again");
    assert_eq!(
        std::fs::read_to_string(moved.join("draft.md")).unwrap(),
        "first\n"
    );
    // Put back, the same save succeeds.
    std::fs::rename(&moved, &folder).unwrap();
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "first\nsecond\n");
}

/// Rounds of kill -9 (5 by default; `make soak` sets 50).
fn rounds() -> usize {
    std::env::var("QUILL_SOAK_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
}

/// A small xorshift: the moments differ from run to run, and the seed printed on failure
/// replays them (`QUILL_SOAK_SEED`).
struct Moments(u64);

impl Moments {
    fn new() -> Moments {
        let seed = std::env::var("QUILL_SOAK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill -9 moments: QUILL_SOAK_SEED={seed}");
        Moments(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Starts the editor on `file`; takes back what the journal offers and returns the text then.
fn start_recovering(home: &Home, file: &Path, on_disk: &str, with_model: bool) -> (Tmux, bool) {
    let model = common::model();
    let mut args = vec![path_arg(file)];
    if with_model {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    let tmux = Tmux::start_sized(home, &args, 120, 30);
    let deadline = Instant::now() + common::MODEL_WAIT;
    loop {
        let screen = tmux.screen();
        if screen.contains("Recover them?") {
            tmux.type_text("y");
            // A kill after a save's rename and before its journal went leaves a journal of
            // edits the file already holds: refused as not matching, and nothing is lost.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let screen = tmux.screen();
                if screen.contains("recovered") {
                    return (tmux, true);
                }
                if screen.contains("does not match the file") {
                    return (tmux, false);
                }
                assert!(
                    Instant::now() < deadline,
                    "no answer to recovering:\n{screen}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if screen.contains("F1 help") && (on_disk.is_empty() || screen.contains("Round")) {
            return (tmux, false);
        }
        assert!(
            Instant::now() < deadline,
            "the editor did not start:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kill -9 at random moments while typing, while a suggestion streams and during saves: each
/// restart offers the text up to the last journal flush, the file on disk is always the old
/// version or the new one (never a mix, never partial, never empty), and no worker outlives
/// the editor.
#[test]
#[allow(clippy::too_many_lines)] // test code: one scenario, told in order
fn kill_9_at_random_moments_loses_nothing_journaled_and_never_tears_the_file() {
    let home = Home::new();
    let file = home.dir.path().join("soak.md");
    let mut on_disk = "Round 0.\n".to_string();
    std::fs::write(&file, &on_disk).unwrap();
    let mut moments = Moments::new();
    for round in 1..=rounds() {
        let kind = round % 3;
        let streaming = kind == 0;
        // What a restart offers: the journal's edits on the file as it is.
        let offered = journal_text(&home, Some(&file), &on_disk);
        let (tmux, recovered) = start_recovering(&home, &file, &on_disk, streaming);
        // The text in the editor now: recovered, or the file's.
        let doc = if recovered {
            let doc = offered
                .clone()
                .expect("a journal was offered")
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            tmux.keys(&["C-s"]);
            tmux.wait_for(" bytes)");
            on_disk = std::fs::read_to_string(&file).unwrap();
            assert_eq!(
                on_disk.trim_end(),
                doc.trim_end(),
                "round {round}: the recovered text was saved"
            );
            doc
        } else {
            // A journal is refused only when the file already holds its edits (a kill between
            // a save's rename and the journal's removal).
            if let Some(Ok(text)) = &offered {
                assert_eq!(
                    text.trim_end(),
                    on_disk.trim_end(),
                    "round {round}: a journal with edits the file lacks was not recovered"
                );
            }
            on_disk.clone()
        };
        tmux.keys(&["C-End"]);
        // Written and journaled: this much must survive whatever comes next.
        let safe = format!(" Round {round} safe.");
        let base = format!("{doc}{safe}");
        // The journal's edits apply to the text as it was opened or last saved: `doc`.
        tmux.type_text(&safe);
        common::wait_journaled(&home, Some(&file), &doc, &base);
        let saving = kind == 2;
        let pid = tmux.pane_pid();
        let mut workers = Vec::new();
        let typed = format!(" Round {round} more words");
        if streaming {
            tmux.wait_for_within("model ready", common::MODEL_WAIT);
            tmux.keys(&["C-e"]);
            tmux.wait_for_within("generating", common::MODEL_WAIT);
            workers = common::children(pid);
            assert!(!workers.is_empty(), "round {round}: no worker");
            std::thread::sleep(Duration::from_millis(moments.below(500)));
        } else if saving {
            // The kill lands somewhere in the save: before, in or after the rename.
            tmux.keys(&["C-s"]);
            std::thread::sleep(Duration::from_millis(moments.below(40)));
        } else {
            // The kill lands somewhere in the typing, flushed or not.
            for word in typed.split_inclusive(' ') {
                tmux.type_text(word);
                std::thread::sleep(Duration::from_millis(moments.below(120)));
            }
        }
        // SAFETY: killing the editor this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        drop(tmux);
        // The worker dies with the editor (its parent-death signal), mid-generation or not.
        for &worker in &workers {
            common::wait_exited(
                worker,
                Duration::from_secs(10),
                &format!("round {round}: a worker outlived the editor"),
            );
        }
        // The file is the old version or the new one (a save adds the final line break).
        let now = std::fs::read_to_string(&file).unwrap();
        let saved = if base.ends_with('\n') {
            base.clone()
        } else {
            format!("{base}\n")
        };
        assert!(
            now == on_disk || now == saved,
            "round {round}: the file is neither the old version nor the new one: {now:?}"
        );
        // The journal holds at least what was flushed before the kill, and at most what
        // was typed; only a save that completed removed it.
        match journal_text(&home, Some(&file), &doc) {
            Some(Ok(text)) => {
                let rest = text.strip_prefix(&base).unwrap_or_else(|| {
                    panic!("round {round}: the journal lost flushed text: {text:?}")
                });
                assert!(
                    typed.starts_with(rest),
                    "round {round}: the journal holds what was never typed: {rest:?}"
                );
            }
            Some(Err(e)) => panic!("round {round}: the journal does not apply: {e}"),
            None => assert_eq!(now, saved, "round {round}: the journal went unsaved"),
        }
        on_disk = now;
    }
}

/// Declining to recover keeps the journal: the edits are offered again at the next start, even
/// after new edits and another crash, until the writer recovers or discards them.
#[test]
fn declined_recovery_keeps_the_edits_until_the_writer_discards_them() {
    let home = Home::new();
    let file = home.dir.path().join("keep.md");
    std::fs::write(&file, "On disk.\n").unwrap();
    let kill = |tmux: Tmux| {
        // SAFETY: killing the editor this test started.
        unsafe { libc::kill(tmux.pane_pid(), libc::SIGKILL) };
        drop(tmux);
    };
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("On disk.");
    tmux.keys(&["C-End"]);
    tmux.type_text("First words.");
    common::wait_journaled(&home, Some(&file), "On disk.\n", "First words.");
    kill(tmux);
    // Not now: the draft opens as it is on disk, and new edits crash too.
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("n");
    tmux.wait_for("kept aside");
    tmux.keys(&["C-End"]);
    tmux.type_text("Second words.");
    common::wait_journaled(&home, Some(&file), "On disk.\n", "Second words.");
    kill(tmux);
    // The newer edits are offered first; then, at the next start, the ones put off.
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("d");
    tmux.wait_for("discarded");
    tmux.keys(&["C-q"]);
    drop(tmux);
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    let screen = tmux.wait_for("recovered");
    assert!(screen.contains("First words."), "{screen}");
    assert!(!screen.contains("Second words."), "{screen}");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "On disk.\nFirst words.\n"
    );
}

/// Ctrl-O on a binary file or a symlink loop is refused with the reason, and the draft open
/// stays as it was.
#[test]
fn opening_a_binary_file_or_a_symlink_loop_keeps_the_draft() {
    let home = Home::new();
    let dir = home.dir.path();
    let file = dir.join("draft.md");
    std::fs::write(&file, "My draft.\n").unwrap();
    std::fs::write(dir.join("image.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    std::os::unix::fs::symlink(dir.join("loop-b"), dir.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(dir.join("loop-a"), dir.join("loop-b")).unwrap();
    let tmux = Tmux::start_sized(&home, &[path_arg(&file)], 140, 20);
    tmux.wait_for("My draft.");
    for (name, reason) in [
        ("image.png", "binary file"),
        ("loop-a", "Too many levels of symbolic links"),
    ] {
        tmux.open_with_ctrl_o(&dir.join(name));
        let screen = tmux.wait_for(reason);
        assert!(
            screen.contains("My draft.") && screen.contains("draft.md"),
            "{screen}"
        );
    }
    assert_eq!(
        std::fs::read(dir.join("image.png")).unwrap()[..4],
        *b"\x89PNG"
    );
    tmux.keys(&["C-End"]);
    tmux.type_text("Still mine.");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "My draft.\nStill mine.\n"
    );
}

/// A 100 MB file on one line (a minified file, a log without line breaks): it opens, shows
/// its start and its end, takes typing at both ends and saves every byte. The editor lays a
/// line that long out a segment at a time; wrapping it whole for every frame never finished.
#[test]
fn a_100_mb_single_line_opens_edits_and_saves() {
    let home = Home::new();
    let file = home.dir.path().join("one-line.md");
    let unit = "The quick brown fox 写作 jumps over the lazy dog. ";
    let mut text = String::from("BEGIN-MARK ");
    while text.len() < 100_000_000 {
        text.push_str(unit);
    }
    text.push_str("LAST-WORDS");
    std::fs::write(&file, &text).unwrap();
    let tmux = Tmux::start_sized(&home, &[path_arg(&file)], 100, 20);
    tmux.wait_for_within("BEGIN-MARK", Duration::from_secs(30));
    tmux.keys(&["C-End"]);
    tmux.wait_for("LAST-WORDS");
    tmux.type_text(" typed-at-the-end");
    tmux.wait_for("typed-at-the-end");
    tmux.keys(&["C-Home"]);
    tmux.wait_for("BEGIN-MARK");
    tmux.type_text("typed-first ");
    tmux.wait_for("typed-first BEGIN-MARK");
    // Down a page and back keeps to the line's rows.
    tmux.keys(&["PageDown", "PageDown", "PageUp", "PageUp"]);
    tmux.wait_for("typed-first BEGIN-MARK");
    tmux.keys(&["C-s"]);
    tmux.wait_for_within(" bytes)", Duration::from_secs(30));
    let saved = std::fs::read(&file).unwrap();
    let expected = format!("typed-first {text} typed-at-the-end");
    assert!(
        saved == expected.as_bytes(),
        "the saved file is not the text with both edits"
    );
}

/// Quill run as a user who may not read a file: `nobody` when the tests run as root (root
/// reads anything), the tests' own user otherwise.
fn as_reader_without_rights() -> Vec<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        vec![
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
        ]
    } else {
        Vec::new()
    }
}

/// A file its writer may write but not read (mode 0200): opening it, from the command line or
/// with Ctrl-O, is refused with the reason and what to do, and it is never overwritten with
/// the empty text Quill could not read. The draft open stays open and saves.
#[test]
fn a_file_without_read_permission_is_refused_and_never_overwritten() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let home = Home::new();
    let dir = home.dir.path();
    let wrapper = as_reader_without_rights();
    let owner = (!wrapper.is_empty()).then_some(65534);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let draft = dir.join("draft.md");
    let locked = dir.join("locked.md");
    std::fs::write(&draft, "My draft.\n").unwrap();
    std::fs::write(&locked, "Words only their owner may read.\n").unwrap();
    for file in [&draft, &locked] {
        chown(file, owner, owner).unwrap();
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o200)).unwrap();

    // From the command line: the reason, and nothing written.
    let mut command = Command::new(wrapper.first().copied().unwrap_or(common::QUILL));
    if !wrapper.is_empty() {
        command.args(&wrapper[1..]).arg(common::QUILL);
    }
    command.arg(&locked).env("HOME", dir);
    let output = home.output(command);
    assert_ne!(output.status.code(), Some(0), "{output:?}");
    let err = common::stderr(&output);
    assert!(
        err.contains("Permission denied") && err.contains("chmod u+r"),
        "{err}"
    );

    // With Ctrl-O from another draft.
    let tmux = Tmux::start_wrapped(&home, &wrapper, &[], &[path_arg(&draft)], 200, 20);
    tmux.wait_for("My draft.");
    tmux.open_with_ctrl_o(&locked);
    let screen = tmux.wait_for("Permission denied");
    assert!(
        screen.contains("My draft.") && screen.contains("draft.md"),
        "{screen}"
    );
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    assert_eq!(std::fs::read_to_string(&draft).unwrap(), "My draft.\n");
    assert_eq!(
        std::fs::read_to_string(&locked).unwrap(),
        "Words only their owner may read.\n"
    );
}
