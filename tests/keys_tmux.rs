//! Every default key, sent through tmux as a terminal sends it, must reach Quill as itself:
//! `quill keys` prints each key as Quill received it. Keys a legacy terminal cannot deliver
//! (tmux has no kitty keyboard protocol) are the ones Quill never shows there, and one of them
//! is shown to garble, which is why.

mod common;

use std::time::{Duration, Instant};

use common::{Home, Tmux};
use quill::keymap::{Key, Keymaps, Mode};

/// tmux's name for a key written the way `defaults/keys.toml` writes it.
fn tmux_name(key: &Key) -> String {
    let name = key.name();
    let (mods, base) = match name.rfind('-') {
        // "A--" would be Alt and a minus; no default binds it.
        Some(i) if i + 1 < name.len() => (&name[..=i], &name[i + 1..]),
        _ => ("", name.as_str()),
    };
    let base = match base {
        "Backspace" => "BSpace",
        "Delete" => "DC",
        "Insert" => "IC",
        "PageUp" => "PPage",
        "PageDown" => "NPage",
        "Esc" => "Escape",
        "BackTab" => "BTab",
        other => other,
    };
    // Shift on a letter is the capital letter to tmux: Alt-Shift-B is "M-B" (tmux reads
    // "M-S-b" as the characters themselves).
    if mods.contains("S-") && base.chars().count() == 1 {
        let mods = mods.replace("S-", "");
        return format!("{}{}", mods.replace("A-", "M-"), base.to_uppercase());
    }
    format!("{}{base}", mods.replace("A-", "M-"))
}

/// The lines `quill keys` printed for keys so far, from the whole scrollback.
fn key_lines(tmux: &Tmux) -> Vec<String> {
    tmux.tmux(&["capture-pane", "-p", "-J", "-S", "-2000"])
        .lines()
        .filter(|l| l.starts_with("key "))
        .map(|l| l.trim_end().to_string())
        .collect()
}

fn wait_lines(tmux: &Tmux, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = key_lines(tmux);
        if lines.len() >= count {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} keys, got {}:\n{}",
            lines.len(),
            lines.join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_default_key_arrives_as_itself_or_is_never_shown() {
    let home = Home::new();
    let tmux = Tmux::start_sized(&home, &["keys"], 100, 40);
    let header = tmux.wait_for("Ctrl-D ends");
    assert!(
        header.contains("no kitty keyboard protocol"),
        "tmux was expected to be a legacy terminal:\n{header}"
    );
    let (keymaps, _) = Keymaps::new(&[]);
    // Every key bound in any mode, once: `quill keys` names what it does in the draft.
    let mut keys: Vec<Key> = Vec::new();
    for mode in Mode::ALL {
        for (key, action) in keymaps.bindings(mode) {
            if key.needs_kitty_protocol() {
                assert!(
                    !keymaps.keys_for(mode, &action).contains(&key.name()),
                    "{} is shown in {} though this terminal cannot deliver it",
                    key.name(),
                    mode.name()
                );
            }
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut sent = 0;
    let mut hidden = Vec::new();
    for key in keys {
        if key.needs_kitty_protocol() {
            hidden.push(key.name());
            continue;
        }
        tmux.keys(&[&tmux_name(&key)]);
        sent += 1;
        let lines = wait_lines(&tmux, sent);
        let action = keymaps
            .action(Mode::Edit, &key)
            .map_or_else(|| "(not bound)".to_string(), |a| a.name());
        let expected = format!("key {}  {action}", key.name());
        assert_eq!(
            lines.len(),
            sent,
            "{} arrived as more than one key: {:?}",
            key.name(),
            &lines[sent - 1..]
        );
        assert_eq!(lines[sent - 1], expected, "sent {}", tmux_name(&key));
    }
    assert!(sent > 60, "only {sent} keys were tried");
    assert!(hidden.contains(&"A-[".to_string()), "{hidden:?}");

    // Why Alt-[ is not shown here: the terminal sends ESC [, which starts an escape sequence,
    // and the key after it is eaten with it.
    tmux.keys(&["M-["]);
    tmux.keys(&["x"]);
    tmux.keys(&["y"]);
    let lines = wait_lines(&tmux, sent + 1);
    assert!(
        !lines[sent..].iter().any(|l| l.starts_with("key A-[")),
        "Alt-[ arrived after all: {:?}",
        &lines[sent..]
    );
    tmux.keys(&["C-d"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.is_alive() {
        assert!(
            Instant::now() < deadline,
            "quill keys did not end on Ctrl-D"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
