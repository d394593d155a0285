//! How a worker process ended, and what it means for the writer: the signal or status, the
//! reason llama.cpp logged, whether the same crash will meet every restart, and what to do.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use serde::{Deserialize, Serialize};

/// The worker process's end, as its client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerExit {
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The last fatal message llama.cpp logged for this worker (an abort's reason).
    pub logged: Option<String>,
}

impl WorkerExit {
    pub fn from_status(status: Option<ExitStatus>, logged: Option<String>) -> Self {
        WorkerExit {
            signal: status.and_then(|s| s.signal()),
            code: status.and_then(|s| s.code()),
            logged,
        }
    }

    pub fn killed_by(signal: i32) -> Self {
        WorkerExit {
            signal: Some(signal),
            code: None,
            logged: None,
        }
    }

    /// "SIGILL", "exit status 1", "ended": the short form for a status bar.
    pub fn short(&self) -> String {
        match (self.signal, self.code) {
            (Some(signal), _) => signal_name(signal),
            (None, Some(code)) => format!("exit status {code}"),
            (None, None) => "ended".into(),
        }
    }

    /// The worker was killed by an illegal instruction: this binary uses an instruction this
    /// CPU refuses. Nothing changes between two starts, so a restart meets the same crash.
    pub fn is_illegal_instruction(&self) -> bool {
        self.signal == Some(libc::SIGILL)
    }

    /// What the writer can do about it, when it is more than waiting for a restart.
    pub fn advice(&self) -> Option<String> {
        self.is_illegal_instruction().then(|| {
            format!(
                "this build of Quill uses a CPU instruction this processor refuses; rebuild it \
                 portable: {PORTABLE_BUILD}, then check with `quill doctor`"
            )
        })
    }
}

/// The command that builds Quill without `-C target-cpu=native`, run where it was built.
/// llama.cpp's own build still assumes AVX2, FMA, F16C and BMI2 (x86-64 CPUs since 2013):
/// `BASELINE_BUILD` is for older ones.
pub const PORTABLE_BUILD: &str = concat!(
    "cd ",
    env!("CARGO_MANIFEST_DIR"),
    " && RUSTFLAGS=\"\" cargo build --release"
);

/// The portable build with llama.cpp's default x86 extensions turned off too (llama-cpp-sys-2
/// hands GGML_* variables to its CMake build): for any x86-64 CPU.
pub const BASELINE_BUILD: &str = concat!(
    "cd ",
    env!("CARGO_MANIFEST_DIR"),
    " && GGML_SSE42=OFF GGML_AVX=OFF GGML_AVX2=OFF GGML_FMA=OFF GGML_F16C=OFF GGML_BMI2=OFF \
     RUSTFLAGS=\"\" cargo build --release"
);

impl std::fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.signal, self.code) {
            (Some(signal), _) => write!(f, "killed by {}", signal_name(signal))?,
            (None, Some(0)) => f.write_str("exited")?,
            (None, Some(code)) => write!(f, "exited with status {code}")?,
            (None, None) => f.write_str("ended")?,
        }
        if let Some(reason) = &self.logged {
            write!(f, ": {}", short_reason(reason))?;
        }
        Ok(())
    }
}

/// llama.cpp's abort message without the path its source had on the build machine:
/// "llama-vocab.cpp:2578: GGML_ASSERT(...) failed". The path says nothing to a writer, and in a
/// status bar it pushes the assertion itself off the edge.
fn short_reason(reason: &str) -> &str {
    match reason.split_once(": ") {
        Some((location, _)) if !location.contains(' ') => location
            .rfind('/')
            .map_or(reason, |slash| &reason[slash + 1..]),
        _ => reason,
    }
}

pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGINT => "SIGINT",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_have_their_usual_names() {
        assert_eq!(signal_name(libc::SIGABRT), "SIGABRT");
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(64), "signal 64");
    }

    #[test]
    fn an_abort_reason_loses_the_build_path_but_keeps_file_line_and_assertion() {
        let mut exit = WorkerExit::killed_by(libc::SIGABRT);
        exit.logged = Some(
            "/root/.cargo/registry/src/x/llama.cpp/src/llama-vocab.cpp:2578: \
             GGML_ASSERT(id_to_token.size() == token_to_id.size()) failed"
                .into(),
        );
        assert_eq!(
            exit.to_string(),
            "killed by SIGABRT: llama-vocab.cpp:2578: \
             GGML_ASSERT(id_to_token.size() == token_to_id.size()) failed"
        );
        exit.logged = Some("a message: with a colon, no path".into());
        assert_eq!(
            exit.to_string(),
            "killed by SIGABRT: a message: with a colon, no path"
        );
    }

    #[test]
    fn an_exit_says_how_and_why() {
        let mut exit = WorkerExit::killed_by(libc::SIGABRT);
        exit.logged = Some("GGML_ASSERT(n_tokens <= n_batch) failed".into());
        assert_eq!(
            exit.to_string(),
            "killed by SIGABRT: GGML_ASSERT(n_tokens <= n_batch) failed"
        );
        assert_eq!(exit.short(), "SIGABRT");
        let exited = WorkerExit::from_status(Some(ExitStatus::from_raw(3 << 8)), None);
        assert_eq!(exited.to_string(), "exited with status 3");
        assert_eq!(exited.short(), "exit status 3");
    }

    #[test]
    fn only_an_illegal_instruction_asks_for_a_portable_build() {
        let ill = WorkerExit::killed_by(libc::SIGILL);
        assert!(ill.is_illegal_instruction());
        let advice = ill.advice().unwrap();
        assert!(
            advice.contains("RUSTFLAGS=\"\" cargo build --release"),
            "{advice}"
        );
        assert!(advice.contains(env!("CARGO_MANIFEST_DIR")), "{advice}");
        for other in [libc::SIGSEGV, libc::SIGABRT, libc::SIGKILL] {
            assert_eq!(WorkerExit::killed_by(other).advice(), None);
        }
    }
}
