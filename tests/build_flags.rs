//! llama.cpp's AMX kernels must never be in Quill: on Intel CPUs with AMX they die of SIGILL at
//! their first tile instruction (see `.cargo/config.toml`). These checks hold on any x86-64
//! Linux machine, with AMX or without, so a regression is caught where it cannot crash:
//!
//! 1. the flags CMake compiled ggml's CPU backend with turn AMX off even for a CPU that has it:
//!    the same compiler with `-march=native` swapped for `-march=sapphirerapids` defines no
//!    `__AMX_*__` macro (and without our flags it does, so the check can fail);
//! 2. the release binary holds no AMX tile instruction (and the scanner finds one in an object
//!    that does, so it can fail too).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const QUILL: &str = env!("CARGO_BIN_EXE_quill");

/// A CPU with every AMX extension llama.cpp uses, known to GCC 11+ and Clang 12+.
const AMX_CPU: &str = "-march=sapphirerapids";

/// The mnemonics of AMX's tile instructions (AMX-TILE, -INT8, -BF16, -FP16, -COMPLEX).
const TILE_MNEMONICS: &[&str] = &[
    "ldtilecfg",
    "sttilecfg",
    "tilerelease",
    "tilezero",
    "tileloadd",
    "tileloaddt1",
    "tilestored",
    "tdpbssd",
    "tdpbsud",
    "tdpbusd",
    "tdpbuud",
    "tdpbf16ps",
    "tdpfp16ps",
    "tcmmimfp16ps",
    "tcmmrlfp16ps",
];

/// The compile flags of ggml's CPU backend, as CMake wrote them for the build that was linked
/// last (the newest of the build directories cargo keeps for llama-cpp-sys-2).
struct CpuBackendFlags {
    file: PathBuf,
    c_compiler: String,
    cxx_compiler: String,
    c_flags: String,
    cxx_flags: String,
    defines: String,
}

fn cpu_backend_flags() -> CpuBackendFlags {
    let build = Path::new(QUILL)
        .parent()
        .expect("the binary is in a profile directory")
        .join("build");
    let newest = std::fs::read_dir(&build)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", build.display()))
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("llama-cpp-sys-2-")
        })
        .map(|e| {
            e.path()
                .join("out/build/ggml/src/CMakeFiles/ggml-cpu.dir/flags.make")
        })
        .filter_map(|f| Some((std::fs::metadata(&f).ok()?.modified().ok()?, f)))
        .max()
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no CMake build of llama.cpp under {}", build.display()));
    let text = std::fs::read_to_string(&newest).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{} has no {key} line", newest.display()))
    };
    let compiler = |language: &str, fallback: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# compile {language} with ")))
            .unwrap_or(fallback)
            .trim()
            .to_string()
    };
    CpuBackendFlags {
        c_compiler: compiler("C", "cc"),
        cxx_compiler: compiler("CXX", "c++"),
        c_flags: value("C_FLAGS"),
        cxx_flags: value("CXX_FLAGS"),
        defines: value("C_DEFINES"),
        file: newest,
    }
}

/// The `__AMX…__` macros `compiler` defines for `language` (`c` or `c++`) with `flags`, any
/// `-march` among them replaced by an AMX CPU's.
fn amx_macros(compiler: &str, language: &str, flags: &str) -> Vec<String> {
    let mut args: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| !f.starts_with("-march="))
        .collect();
    args.extend([AMX_CPU, "-dM", "-E", "-x", language, "/dev/null"]);
    let out = Command::new(compiler)
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(out.status.success(), "{compiler} {args:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with("__AMX"))
        .map(str::to_string)
        .collect()
}

#[test]
fn llama_cpp_is_compiled_without_amx_even_for_a_cpu_that_has_it() {
    let flags = cpu_backend_flags();
    // The check means something only if this compiler turns AMX on for that CPU.
    let plain = amx_macros(&flags.c_compiler, "c", "");
    assert!(
        plain.iter().any(|m| m == "__AMX_INT8__"),
        "{} {AMX_CPU} defines no __AMX_INT8__ ({plain:?}): it cannot show whether the build \
         flags turn AMX off",
        flags.c_compiler
    );
    for (compiler, language, line) in [
        (&flags.c_compiler, "c", &flags.c_flags),
        (&flags.cxx_compiler, "c++", &flags.cxx_flags),
    ] {
        let left = amx_macros(compiler, language, line);
        assert!(
            left.is_empty(),
            "llama.cpp's {language} flags in {} leave {left:?} on for an AMX CPU: its AMX \
             kernels crash with SIGILL there. The flags were: {line}\nIf this build predates \
             the fix, run `cargo clean -p llama-cpp-sys-2 --release` and build again.",
            flags.file.display()
        );
    }
    assert!(
        !flags.defines.contains("AMX"),
        "AMX is defined for llama.cpp: {}",
        flags.defines
    );
}

/// The AMX tile instructions in the disassembly of `binary`, with their addresses.
fn tile_instructions(binary: &Path) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(binary)
        .stdout(Stdio::piped())
        .spawn()
        .expect("objdump is installed (binutils; make test installs it)");
    let stdout = child.stdout.take().unwrap();
    let found: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter(|line| {
            // "  4011d6:\ttilezero %tmm4": the mnemonic is the first word after the tab.
            line.split('\t')
                .nth(1)
                .and_then(|insn| insn.split_whitespace().next())
                .is_some_and(|m| TILE_MNEMONICS.contains(&m))
        })
        .take(20)
        .collect();
    let status = child.wait().unwrap();
    assert!(
        status.success() || found.len() == 20,
        "objdump failed on {}",
        binary.display()
    );
    found
}

#[test]
fn the_scanner_finds_a_tile_instruction_where_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tile.c");
    let object = dir.path().join("tile.o");
    std::fs::write(
        &source,
        "void zero_a_tile(void) { __asm__ volatile(\"tilezero %%tmm4\" ::: \"memory\"); }\n",
    )
    .unwrap();
    let status = Command::new("cc")
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&object)
        .status()
        .expect("cc");
    assert!(status.success(), "cannot assemble a tilezero");
    let found = tile_instructions(&object);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("tilezero"), "{found:?}");
}

#[test]
fn the_quill_binary_holds_no_amx_tile_instruction() {
    let found = tile_instructions(Path::new(QUILL));
    assert!(
        found.is_empty(),
        "{QUILL} contains AMX tile instructions, which die of SIGILL on Intel CPUs with AMX:\n{}",
        found.join("\n")
    );
}
