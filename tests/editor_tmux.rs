//! The editor as a writer uses it: the real binary in tmux, keys sent with send-keys, the screen
//! read with capture-pane, files compared byte for byte.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Home, ReadOnlyDir, TinyDisk, Tmux, path_arg};

/// Saves the draft under `path` with F12, replacing the name the prompt offers.
fn save_as(tmux: &Tmux, path: &Path) {
    tmux.keys(&["F12"]);
    let prompt = tmux.wait_for("Save as:");
    let offered = prompt
        .lines()
        .find_map(|l| l.strip_prefix("Save as: "))
        .unwrap_or("")
        .chars()
        .count();
    for _ in 0..offered + 5 {
        tmux.keys(&["BSpace"]);
    }
    tmux.type_text(path_arg(path));
    tmux.keys(&["Enter"]);
    tmux.wait_for(" bytes)");
}

fn wait_for_file(path: &Path, expected: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read(path).ok().as_deref() != Some(expected) {
        assert!(
            Instant::now() < deadline,
            "{} holds {:?}",
            path.display(),
            String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn type_chinese_edit_inside_it_save_and_compare_bytes() {
    let home = Home::new();
    let file = home.dir.path().join("文章.md");
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("F1 help");
    tmux.type_text("我们写文章。");
    tmux.wait_for("我们写文章。");
    // Six CJK characters, two columns each: the terminal cursor sits right after them.
    tmux.wait_for_cursor((12, 0));
    tmux.keys(&["Left", "Left", "Left"]);
    tmux.wait_for_cursor((6, 0));
    tmux.type_text("一篇");
    tmux.wait_for("我们写一篇文章。");
    tmux.keys(&["End"]);
    tmux.type_text(" Done");
    tmux.keys(&["BSpace"]);
    tmux.type_text("e!");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    // A new file is saved ending with a line break.
    wait_for_file(&file, "我们写一篇文章。 Done!\n".as_bytes());
    let screen = tmux.screen();
    assert!(!screen.contains("[+]"), "still marked modified:\n{screen}");
    tmux.keys(&["C-q"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.is_alive() {
        assert!(Instant::now() < deadline, "quill did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Keys that arrive faster than one read (a paste without bracketed paste, a slow link, a tool
/// that types) are all taken at once, and the save typed after them acts without another key.
#[test]
fn a_burst_of_ten_thousand_characters_and_ctrl_s_all_arrive() {
    let home = Home::new();
    let file = home.dir.path().join("burst.md");
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("F1 help");
    // 10,000 characters, one in ten of them Chinese (12,000 bytes: within one tmux message).
    let text: String = (0..1000).map(|i| format!("wor{i:03}d 写 ")).collect();
    assert_eq!(text.chars().count(), 10_000);
    tmux.type_text(&text);
    tmux.keys(&["C-s"]);
    // A new file is saved ending with a line break.
    let saved = format!("{text}\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&file).ok().as_deref() != Some(saved.as_str()) {
        assert!(
            Instant::now() < deadline,
            "after 20 s the file holds {} of 10000 characters; the screen:\n{}",
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .chars()
                .count(),
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_kill_9_while_typing_loses_nothing_that_was_journaled() {
    let home = Home::new();
    let file = home.dir.path().join("draft.md");
    std::fs::write(&file, "Saved line.\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Saved line.");
    tmux.keys(&["C-End"]);
    tmux.type_text("Unsaved words, 未保存的文字");
    tmux.wait_for("未保存的文字");
    // The journal is flushed within a second of typing stopping.
    common::wait_journaled(
        &home,
        Some(&file),
        "Saved line.\n",
        "Unsaved words, 未保存的文字",
    );
    let pid = tmux.pane_pid();
    // SAFETY: killing the editor this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    drop(tmux);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "Saved line.\n");

    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    tmux.wait_for("recovered");
    let screen = tmux.screen();
    assert!(screen.contains("Unsaved words, 未保存的文字"), "{screen}");
    tmux.keys(&["C-s"]);
    tmux.wait_for(" bytes)");
    // The file ended with a line break: so does the text saved over it.
    wait_for_file(
        &file,
        "Saved line.\nUnsaved words, 未保存的文字\n".as_bytes(),
    );
    // After the save the journal is gone: a restart offers nothing.
    tmux.keys(&["C-q"]);
    drop(tmux);
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    let screen = tmux.wait_for("F1 help");
    assert!(!screen.contains("Recover"), "{screen}");
}

#[test]
fn an_untitled_draft_is_recovered_too() {
    let home = Home::new();
    let tmux = Tmux::start(&home, &[]);
    tmux.wait_for("untitled");
    tmux.type_text("A new idea");
    common::wait_journaled(&home, None, "", "A new idea");
    // SAFETY: killing the editor this test started.
    unsafe { libc::kill(tmux.pane_pid(), libc::SIGKILL) };
    drop(tmux);
    let tmux = Tmux::start(&home, &[]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    tmux.wait_for("A new idea");
}

#[test]
fn saving_onto_a_full_disk_keeps_the_original_and_the_editor() {
    let home = Home::new();
    let disk = home.dir.path().join("tiny");
    std::fs::create_dir(&disk).unwrap();
    let Some(_unmount) = TinyDisk::mount(&disk) else {
        return;
    };
    let file = disk.join("draft.md");
    std::fs::write(&file, "original text\n").unwrap();
    let _ = std::fs::write(disk.join("filler"), vec![b'x'; 128 * 1024]);

    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("original text");
    tmux.keys(&["C-End"]);
    tmux.type_text(&"more words that will not fit ".repeat(60));
    // Keys reach the editor in order: the save comes after the last word typed.
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for("disk is full");
    assert!(
        screen.contains("[+]"),
        "the buffer must stay modified:\n{screen}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original text\n");
    let leftovers: Vec<_> = std::fs::read_dir(&disk)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "a temp file was left: {leftovers:?}");

    // Still running: save elsewhere instead.
    let elsewhere = home.dir.path().join("rescued.md");
    save_as(&tmux, &elsewhere);
    let rescued = std::fs::read_to_string(&elsewhere).unwrap();
    assert!(rescued.starts_with("original text\nmore words that will not fit"));
}

/// The twin of the full-disk save that needs no root: a folder nothing can be written to
/// (permission bits, or a read-only bind mount for root).
#[test]
fn saving_into_a_read_only_folder_keeps_the_original_and_the_editor() {
    let home = Home::new();
    let folder = home.dir.path().join("locked");
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("draft.md");
    std::fs::write(&file, "original text\n").unwrap();
    let Some(_read_only) = ReadOnlyDir::new(&folder) else {
        return;
    };
    let tmux = Tmux::start_sized(&home, &[path_arg(&file)], 120, 20);
    tmux.wait_for("original text");
    tmux.keys(&["C-End"]);
    tmux.type_text("new words");
    tmux.wait_for("new words");
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for("not saved:");
    assert!(
        screen.contains("read-only") || screen.contains("permission denied"),
        "{screen}"
    );
    assert!(
        screen.contains("[+]"),
        "the buffer must stay modified:\n{screen}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original text\n");
    let leftovers = std::fs::read_dir(&folder).unwrap().count();
    assert_eq!(leftovers, 1, "a temp file was left");
    // Save elsewhere instead.
    let elsewhere = home.dir.path().join("rescued.md");
    save_as(&tmux, &elsewhere);
    assert_eq!(
        std::fs::read_to_string(&elsewhere).unwrap(),
        "original text\nnew words\n"
    );
}

/// A file without write permission is not replaced behind the writer's back: the save says so
/// and keeps the text. Permission bits do not stop root from writing, so Quill checks them
/// itself, and this holds for root too.
#[test]
fn a_file_without_write_permission_is_not_saved_over() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let file = home.dir.path().join("frozen.md");
    std::fs::write(&file, "keep me\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let tmux = Tmux::start_sized(&home, &[path_arg(&file)], 120, 20);
    tmux.wait_for("keep me");
    tmux.type_text("changed ");
    tmux.keys(&["C-s"]);
    let screen = tmux.wait_for("read-only");
    assert!(screen.contains("[+]"), "{screen}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me\n");
}

#[test]
fn binary_and_invalid_utf8_files_are_refused_untouched() {
    let home = Home::new();
    let binary = home.dir.path().join("photo.png");
    let bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    std::fs::write(&binary, &bytes).unwrap();
    let out = home.command().arg(&binary).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("binary"));
    assert_eq!(std::fs::read(&binary).unwrap(), bytes);

    let latin1 = home.dir.path().join("notes.txt");
    std::fs::write(&latin1, b"caf\xe9\n").unwrap();
    let out = home.command().arg(&latin1).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid UTF-8"));
    assert_eq!(std::fs::read(&latin1).unwrap(), b"caf\xe9\n");
}

#[test]
fn control_characters_in_a_file_never_reach_the_terminal() {
    let home = Home::new();
    let file = home.dir.path().join("hostile.md");
    // An escape sequence that would clear the screen, and a bidi override.
    std::fs::write(&file, "safe \u{1b}[2J text \u{202e}reversed\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    // The whole first frame, status bar included (a capture can land mid-frame).
    let screen = tmux.wait_for_all(&["F1 help", "safe \u{241b}[2J text"]);
    assert!(screen.contains("safe \u{241b}[2J text"), "{screen}");
    assert!(
        screen.contains("F1 help"),
        "the screen was cleared:\n{screen}"
    );
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let home = Home::new();
    let file = home.dir.path().join("windows.txt");
    std::fs::write(&file, "\u{feff}one\r\ntwo\r\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("two");
    tmux.keys(&["C-End"]);
    tmux.type_text("three");
    tmux.keys(&["Enter", "C-s"]);
    tmux.wait_for(" bytes)");
    wait_for_file(&file, "\u{feff}one\r\ntwo\r\nthree\r\n".as_bytes());
}

/// A file that mixes CRLF and LF: saved untouched it is byte-identical, and the lines the
/// writer did not touch keep their own line breaks (a new one takes the file's usual CRLF).
#[test]
fn mixed_line_endings_round_trip_byte_for_byte() {
    let home = Home::new();
    let file = home.dir.path().join("mixed.txt");
    let original = "one\r\ntwo\nthree\r\nfour\r\n";
    std::fs::write(&file, original).unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("four");
    // An edit and its undo: the text is the file's again, saved as the file was.
    tmux.type_text("x");
    tmux.keys(&["C-z", "C-s"]);
    tmux.wait_for(" bytes)");
    wait_for_file(&file, original.as_bytes());
    tmux.keys(&["C-End"]);
    tmux.type_text("five");
    tmux.wait_for("five");
    tmux.keys(&["C-s"]);
    wait_for_file(&file, b"one\r\ntwo\nthree\r\nfour\r\nfive\r\n");
}

fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15; after the ')' they are at 11 and 12.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_editor_uses_no_cpu() {
    let home = Home::new();
    let tmux = Tmux::start(&home, &[]);
    tmux.wait_for("F1 help");
    tmux.type_text("some text");
    tmux.wait_for("some text");
    // Once the journal holds the text, nothing is left to do.
    common::wait_journaled(&home, None, "", "some text");
    let pid = tmux.pane_pid();
    // The quietest of three 3-second windows: a machine busy with other tests (a compile, the
    // model) makes each wake-up dearer, but a loop that polls is busy in every window.
    let mut windows = Vec::new();
    for _ in 0..3 {
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_secs(3));
        windows.push(cpu_ticks(pid) - before);
        if windows.last() <= Some(&1) {
            break;
        }
    }
    let used = windows.iter().min().copied().unwrap_or(0);
    assert!(
        used <= 1,
        "idle Quill used {windows:?} clock ticks in 3 s windows"
    );
}

#[test]
fn a_file_changed_on_disk_is_not_overwritten_without_asking() {
    let home = Home::new();
    let file = home.dir.path().join("shared.md");
    std::fs::write(&file, "first version\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("first version");
    tmux.keys(&["C-End"]);
    tmux.type_text("my edit");
    tmux.wait_for("my edit");
    std::fs::write(&file, "someone else's version\n").unwrap();
    tmux.keys(&["C-s"]);
    tmux.wait_for("changed on disk");
    tmux.type_text("c");
    tmux.wait_for("not saved");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "someone else's version\n"
    );
    tmux.keys(&["C-s"]);
    tmux.wait_for("changed on disk");
    tmux.type_text("o");
    tmux.wait_for(" bytes)");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "first version\nmy edit\n"
    );
}

#[test]
fn a_mouse_click_places_the_cursor() {
    let home = Home::new();
    let file = home.dir.path().join("click.md");
    std::fs::write(&file, "first line\nsecond line\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("second line");
    // An SGR mouse press on the space after "second" (column 7, row 2, 1-based), then its release.
    tmux.type_text("\u{1b}[<0;7;2M\u{1b}[<0;7;2m");
    tmux.type_text("X");
    tmux.wait_for("secondX line");
}

#[test]
fn copy_reaches_the_system_clipboard_through_osc_52() {
    let home = Home::new();
    let file = home.dir.path().join("copy.md");
    std::fs::write(&file, "复制这段文字 please").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    // tmux keeps what a program sets with OSC 52 as a paste buffer.
    tmux.tmux(&["set-option", "-g", "set-clipboard", "on"]);
    tmux.wait_for("please");
    tmux.keys(&["C-a", "C-c"]);
    tmux.wait_for("copied 13 characters");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let buffer = tmux.tmux(&["show-buffer"]);
        if buffer == "复制这段文字 please" {
            break;
        }
        assert!(Instant::now() < deadline, "clipboard holds {buffer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // And the internal clipboard pastes it back.
    tmux.keys(&["C-End", "C-v"]);
    tmux.wait_for("please复制这段文字 please");
}

#[test]
fn the_settings_pane_writes_config_toml_keeping_the_users_comments() {
    let home = Home::new();
    let config_dir = home.dir.path().join("config/quill");
    std::fs::create_dir_all(&config_dir).unwrap();
    let config = config_dir.join("config.toml");
    std::fs::write(
        &config,
        "# My own settings.\n[sampling]\n# creative, but not too much\ntemperature = 0.9 # was 0.7\n",
    )
    .unwrap();
    let tmux = Tmux::start(&home, &[]);
    tmux.wait_for("F1 help");
    tmux.keys(&["F2"]);
    tmux.wait_for("Settings");
    // Down to Temperature, edit, type the new value.
    let at = quill::app::overlay::settings::FIELDS
        .iter()
        .position(|f| f.label == "Temperature")
        .unwrap();
    for _ in 0..at {
        tmux.keys(&["Down"]);
    }
    tmux.wait_for("Temperature");
    tmux.keys(&["Enter"]);
    for _ in 0..6 {
        tmux.keys(&["BSpace"]);
    }
    tmux.type_text("0.3");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Temperature = 0.3");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&config).unwrap();
        if text.contains("temperature = 0.3") {
            assert_eq!(
                text,
                "# My own settings.\n[sampling]\n# creative, but not too much\ntemperature = 0.3 # was 0.7\n"
            );
            break;
        }
        assert!(Instant::now() < deadline, "config.toml holds {text:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A value out of range is refused and not written.
    tmux.keys(&["Enter"]);
    for _ in 0..6 {
        tmux.keys(&["BSpace"]);
    }
    tmux.type_text("9");
    tmux.keys(&["Enter"]);
    tmux.wait_for("from 0 to 2");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("temperature = 0.3")
    );
}

#[test]
fn a_malformed_config_is_reported_with_its_line_and_left_alone() {
    let home = Home::new();
    let config_dir = home.dir.path().join("config/quill");
    std::fs::create_dir_all(&config_dir).unwrap();
    let config = config_dir.join("config.toml");
    let broken = "[sampling]\ntemperature = = 1\n";
    std::fs::write(&config, broken).unwrap();
    let tmux = Tmux::start(&home, &[]);
    let screen = tmux.wait_for("config.toml:2");
    assert!(screen.contains("defaults in use"), "{screen}");
    // Quill runs on defaults; typing works.
    tmux.type_text("still editing");
    tmux.wait_for("still editing");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
}

#[test]
fn sigterm_or_a_closed_terminal_journals_the_last_keystrokes() {
    let home = Home::new();
    let file = home.dir.path().join("hup.md");
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("F1 help");
    tmux.type_text("typed just now");
    tmux.wait_for("typed just now");
    // No pause: the journal has not been written yet when the signal comes.
    // SAFETY: signalling the editor this test started.
    unsafe { libc::kill(tmux.pane_pid(), libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.is_alive() {
        assert!(Instant::now() < deadline, "quill ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    tmux.wait_for("typed just now");
}

#[test]
fn opening_a_file_with_ctrl_o_offers_its_journal_instead_of_overwriting_it() {
    let home = Home::new();
    let a = home.dir.path().join("a.md");
    let b = home.dir.path().join("b.md");
    std::fs::write(&a, "file a\n").unwrap();
    std::fs::write(&b, "file b\n").unwrap();
    // Leave a journal for b behind, as a crash would.
    let tmux = Tmux::start(&home, &[path_arg(&b)]);
    tmux.wait_for("file b");
    tmux.keys(&["C-End"]);
    tmux.type_text("unsaved in b");
    common::wait_journaled(&home, Some(&b), "file b\n", "unsaved in b");
    // SAFETY: killing the editor this test started.
    unsafe { libc::kill(tmux.pane_pid(), libc::SIGKILL) };
    drop(tmux);
    // Start on a, then open b from inside the editor.
    let tmux = Tmux::start(&home, &[path_arg(&a)]);
    tmux.wait_for("file a");
    tmux.keys(&["C-o"]);
    tmux.wait_for("Open:");
    tmux.type_text(path_arg(&b));
    tmux.keys(&["Enter"]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    tmux.wait_for("unsaved in b");
}

/// The twin of the journal on a full disk that needs no root: the journal's file is a link to
/// /dev/full, where every write fails with ENOSPC.
#[test]
fn a_journal_on_dev_full_starts_over_from_the_whole_text() {
    let home = Home::new();
    let file = home.dir.path().join("draft.md");
    let journal =
        quill::document::journal::journal_path(&home.dir.path().join("state/quill"), Some(&file));
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/dev/full", &journal).unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("F1 help");
    tmux.type_text("written while the disk was full. ");
    tmux.wait_for("cannot write the crash journal");
    // The failed journal is set aside; the next one must hold everything.
    tmux.type_text("And after.");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::symlink_metadata(&journal).is_ok_and(|m| m.file_type().is_symlink())
        || std::fs::metadata(&journal).map_or(0, |m| m.len()) < 40
    {
        assert!(Instant::now() < deadline, "no new journal was written");
        std::thread::sleep(Duration::from_millis(50));
    }
    common::wait_journaled(
        &home,
        Some(&file),
        "",
        "written while the disk was full. And after.",
    );
    // SAFETY: killing the editor this test started.
    unsafe { libc::kill(tmux.pane_pid(), libc::SIGKILL) };
    drop(tmux);
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    tmux.wait_for("written while the disk was full. And after.");
}

#[test]
fn a_journal_that_could_not_be_written_starts_over_from_the_whole_text() {
    let home = Home::new();
    let state = home.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let Some(_unmount) = TinyDisk::mount(&state) else {
        return;
    };
    // The state directory is full: the first journal writes fail.
    let filler = state.join("filler");
    let _ = std::fs::write(&filler, vec![b'x'; 128 * 1024]);
    let file = home.dir.path().join("draft.md");
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("F1 help");
    tmux.type_text("written while the disk was full. ");
    tmux.wait_for("cannot write the crash journal");
    // Space comes back; the next write must hold everything, not just what follows.
    std::fs::remove_file(&filler).unwrap();
    tmux.type_text("And after.");
    common::wait_journaled(
        &home,
        Some(&file),
        "",
        "written while the disk was full. And after.",
    );
    // SAFETY: killing the editor this test started.
    unsafe { libc::kill(tmux.pane_pid(), libc::SIGKILL) };
    drop(tmux);
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("Recover them?");
    tmux.type_text("y");
    tmux.wait_for("written while the disk was full. And after.");
}

/// Waits until the screen satisfies `ok`, returning it; fails with the screen after 10 s.
fn wait_screen(tmux: &Tmux, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = tmux.screen();
        if ok(&screen) {
            return screen;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Recorded: "saved (361 bytes)" sat beside `[+]` after more typing, and `[+]` stayed after
/// undoing back to the saved text.
#[test]
fn the_status_message_goes_with_the_next_edit_and_the_mark_follows_the_text() {
    let home = Home::new();
    let file = home.dir.path().join("note.md");
    std::fs::write(&file, "Saved text.").unwrap();
    let tmux = Tmux::start_sized(&home, &[path_arg(&file)], 60, 10);
    tmux.wait_for("note.md");
    tmux.keys(&["C-End"]);
    tmux.type_text(" More.");
    wait_screen(&tmux, "marked modified", |s| s.contains("[+]"));
    tmux.keys(&["C-s"]);
    wait_screen(&tmux, "saved and unmarked", |s| {
        s.contains(" bytes)") && !s.contains("[+]")
    });
    tmux.type_text("x");
    wait_screen(&tmux, "the saved message gone and the mark back", |s| {
        !s.contains(" bytes)") && s.contains("[+]")
    });
    tmux.keys(&["C-z"]);
    wait_screen(
        &tmux,
        "unmarked after undoing back to the saved text",
        |s| s.contains("More.") && !s.contains("More.x") && !s.contains("[+]"),
    );
}

/// Waits up to 5 s for `ok`, failing with `what`.
fn wait_until(what: impl Fn() -> String, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cursor comes back where the writer left the file.
#[test]
fn a_file_opens_where_the_writer_left_it() {
    let home = Home::new();
    let file = home.dir.path().join("long.md");
    std::fs::write(&file, "first line\nsecond line\nthird line here\n").unwrap();
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("first line");
    tmux.keys(&["Down", "Down", "End"]);
    let at = |tmux: &Tmux| format!("cursor at {:?}", tmux.cursor());
    wait_until(|| at(&tmux), || tmux.cursor() == (15, 2));
    tmux.keys(&["C-q"]);
    wait_until(|| "Quill did not quit".into(), || !tmux.is_alive());
    drop(tmux);
    let tmux = Tmux::start(&home, &[path_arg(&file)]);
    tmux.wait_for("first line");
    wait_until(|| at(&tmux), || tmux.cursor() == (15, 2));
}
