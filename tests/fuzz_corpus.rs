//! Replays the committed fuzz seeds (fuzz/seeds/<target>/) through the same checks the
//! cargo-fuzz targets run, so every `make test` re-checks the inputs that once found a bug and
//! the seeds stay valid for the checks as they change. `make fuzz` (and `make soak`) explore
//! from them under libFuzzer.

#[path = "../fuzz/checks.rs"]
mod checks;
mod common;

use std::path::Path;

/// A target's name and its check.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("journal", checks::journal),
    ("file", checks::file),
    ("stream", checks::stream),
    ("sanitize", checks::sanitize),
    ("fit", checks::fit),
    ("copy", checks::copy),
    ("config", checks::config),
    ("keys", checks::keys),
    ("protocol", checks::protocol),
    ("document", checks::document),
    ("model_header", checks::model_header),
];

#[test]
fn every_committed_seed_passes_its_check() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (target, check) in TARGETS {
        let dir = seeds.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no seeds", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} failed its check", file.display());
        }
    }
}

/// Model file headers are not committed (no part of a model is): the fetched default model's
/// header, cut at lengths from its magic number to 8 KB, stands in for them, the same inputs
/// scripts/fuzz seeds the target with.
#[test]
fn the_default_models_header_cut_anywhere_passes_its_check() {
    let head = checks::model_head(&common::model());
    for len in [4, 8, 16, 24, 100, 1000, 4096, head.len()] {
        let cut = &head[..len.min(head.len())];
        let outcome = std::panic::catch_unwind(|| checks::model_header(cut));
        assert!(
            outcome.is_ok(),
            "the header cut at {len} bytes failed its check"
        );
    }
}

/// Every target built by cargo-fuzz is replayed here, and the other way round.
#[test]
fn the_fuzz_crate_and_this_list_name_the_same_targets() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .unwrap();
    let mut built: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|name| *name != "quill-fuzz")
        .collect();
    built.sort_unstable();
    let mut listed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    listed.sort_unstable();
    assert_eq!(built, listed);
}
