//! Where llama.cpp's backends come from, and starting llama.cpp with them.
//!
//! A plain build links the CPU backend in. A GPU build (`scripts/build-gpu`, cargo feature
//! `dynamic-backends`) has every backend as a module beside the binary: the CPU backend in one
//! variant per CPU generation, and the GPU's. They are loaded here at start, so one binary
//! runs on any machine: where the NVIDIA driver or the Vulkan loader is missing the GPU module
//! does not load, and the CPU does the work. Upstream's loader does the same but says nothing
//! of what it skipped in a release build; this one keeps each module's fate for `quill doctor`.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::{LogOptions, send_logs_to_tracing};

use crate::engine::protocol::BackendModule;
#[cfg(feature = "dynamic-backends")]
use crate::engine::protocol::ModuleState;

/// The modules found at start and what became of each (empty in a build that links its
/// backends in).
static MODULES: OnceLock<Vec<BackendModule>> = OnceLock::new();

/// Silences llama.cpp's logs (its reasons are ours to give), loads the backend modules of a
/// GPU build once, and starts llama.cpp.
pub fn init() -> Result<LlamaBackend> {
    send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
    MODULES.get_or_init(load_modules);
    LlamaBackend::init().context("initialising the llama.cpp backend")
}

/// What became of each backend module (after `init`).
pub fn modules() -> Vec<BackendModule> {
    MODULES.get().cloned().unwrap_or_default()
}

#[cfg(not(feature = "dynamic-backends"))]
fn load_modules() -> Vec<BackendModule> {
    Vec::new()
}

#[cfg(feature = "dynamic-backends")]
fn load_modules() -> Vec<BackendModule> {
    let Some(dir) = module_dir() else {
        return vec![BackendModule {
            file: String::new(),
            backend: "CPU".into(),
            state: ModuleState::Failed {
                reason: format!(
                    "no backend modules (libggml-cpu-*.so) next to the binary or in {}; \
                     set {MODULES_ENV} to their folder, or rebuild with scripts/build-gpu",
                    llama_cpp_sys_2::BACKENDS_DIR.unwrap_or("the build's folder")
                ),
            },
        }];
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| backend_of(name).is_some())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut modules = Vec::new();
    for backend in load_order(&files) {
        let candidates: Vec<&String> = files
            .iter()
            .filter(|f| backend_of(f) == Some(backend.as_str()))
            .collect();
        modules.extend(load_best(&dir, &backend, &candidates));
    }
    modules
}

/// Where the modules are: `$QUILL_BACKENDS_DIR`, else the binary's own folder when it holds
/// them (an installed GPU build), else the folder the build put them in.
#[cfg(feature = "dynamic-backends")]
fn module_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let has_cpu = |dir: &std::path::Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| backend_of(n) == Some("cpu"))
            })
        })
    };
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    std::env::var_os(MODULES_ENV)
        .map(PathBuf::from)
        .into_iter()
        .chain(beside_binary)
        .chain(llama_cpp_sys_2::BACKENDS_DIR.map(PathBuf::from))
        .find(|dir| has_cpu(dir))
}

/// The environment variable that names the folder of the backend modules.
#[cfg(feature = "dynamic-backends")]
pub const MODULES_ENV: &str = "QUILL_BACKENDS_DIR";

/// The backend a module file is for: "libggml-cpu-haswell.so" is "cpu", "libggml-cuda.so" is
/// "cuda"; None for other files (libggml.so and libggml-base.so are not modules).
pub fn backend_of(file: &str) -> Option<&str> {
    let stem = file.strip_prefix("libggml-")?.strip_suffix(".so")?;
    let backend = stem.split('-').next()?;
    (!backend.is_empty() && backend != "base").then_some(backend)
}

/// The backends in the order llama.cpp should see their devices: GPUs first, as upstream's
/// loader has them, the CPU last.
pub fn load_order(files: &[String]) -> Vec<String> {
    let mut backends: Vec<String> = files
        .iter()
        .filter_map(|f| backend_of(f).map(str::to_string))
        .collect();
    backends.sort_by_key(|b| (b == "cpu", b.clone()));
    backends.dedup();
    backends
}

/// Loads the best of a backend's modules for this machine, as upstream's loader chooses: the
/// highest score among those that open (0: this CPU lacks what the variant was compiled for).
#[cfg(feature = "dynamic-backends")]
fn load_best(dir: &std::path::Path, backend: &str, files: &[&String]) -> Vec<BackendModule> {
    let module = |file: &str, state| BackendModule {
        file: file.to_string(),
        backend: backend.to_string(),
        state,
    };
    let mut tried: Vec<(String, Result<i32, String>)> = files
        .iter()
        .map(|f| ((*f).clone(), dl::score(&dir.join(f))))
        .collect();
    let best = tried
        .iter()
        .filter_map(|(f, s)| s.as_ref().ok().filter(|s| **s > 0).map(|s| (*s, f.clone())))
        .max();
    let mut modules = Vec::new();
    for (file, score) in tried.drain(..) {
        let state = match (score, &best) {
            (Err(reason), _) => ModuleState::Failed { reason },
            (Ok(0), _) => ModuleState::Unsupported,
            (Ok(_), Some((_, chosen))) if *chosen == file => match dl::load(&dir.join(&file)) {
                Ok(name) => ModuleState::Loaded { name },
                Err(reason) => ModuleState::Failed { reason },
            },
            (Ok(_), Some((_, chosen))) => ModuleState::Outscored { by: chosen.clone() },
            (Ok(_), None) => unreachable!("a positive score makes a best"),
        };
        modules.push(module(&file, state));
    }
    modules
}

/// The dynamic loader, for what upstream's keeps to itself: why a module did not open.
#[cfg(feature = "dynamic-backends")]
mod dl {
    use std::ffi::{CStr, CString};
    use std::path::Path;

    /// Opens the module at `path` and asks its score (a module without one scores 1, as
    /// upstream takes it), then closes it; the dynamic loader's message when it does not open.
    pub fn score(path: &Path) -> Result<i32, String> {
        let name = c_path(path)?;
        // SAFETY: a NUL-terminated path; the handle is closed below and nothing from it kept.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(last_error());
        }
        // SAFETY: a live handle and a NUL-terminated symbol name.
        let symbol = unsafe { libc::dlsym(handle, c"ggml_backend_score".as_ptr()) };
        let score = if symbol.is_null() {
            1
        } else {
            // SAFETY: ggml's modules export `int ggml_backend_score(void)` under this name.
            let score: extern "C" fn() -> i32 = unsafe { std::mem::transmute(symbol) };
            score()
        };
        // SAFETY: the handle came from dlopen above and is not used again.
        unsafe { libc::dlclose(handle) };
        Ok(score)
    }

    /// Registers the module with llama.cpp; the backend's name ("CUDA", "Vulkan", "CPU").
    pub fn load(path: &Path) -> Result<String, String> {
        let name = c_path(path)?;
        // SAFETY: a NUL-terminated path; ggml keeps the module loaded for the process's life.
        let reg = unsafe { llama_cpp_sys_2::ggml_backend_load(name.as_ptr()) };
        if reg.is_null() {
            return Err("it opened, but found no driver or device it could use".into());
        }
        // SAFETY: a registered backend's name is a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(llama_cpp_sys_2::ggml_backend_reg_name(reg)) };
        Ok(name.to_string_lossy().into_owned())
    }

    fn c_path(path: &Path) -> Result<CString, String> {
        use std::os::unix::ffi::OsStrExt;
        CString::new(path.as_os_str().as_bytes()).map_err(|_| "a NUL in its path".to_string())
    }

    fn last_error() -> String {
        // SAFETY: dlerror returns NULL or a NUL-terminated message owned by the loader.
        let message = unsafe { libc::dlerror() };
        if message.is_null() {
            return "the dynamic loader gave no reason".into();
        }
        // SAFETY: checked non-NULL above.
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_file_names_its_backend() {
        assert_eq!(backend_of("libggml-cpu-haswell.so"), Some("cpu"));
        assert_eq!(backend_of("libggml-cuda.so"), Some("cuda"));
        assert_eq!(backend_of("libggml-vulkan.so"), Some("vulkan"));
        assert_eq!(backend_of("libggml-base.so"), None);
        assert_eq!(backend_of("libggml.so"), None);
        assert_eq!(backend_of("libllama.so"), None);
        assert_eq!(backend_of("libggml-cpu-x64.so.1"), None);
    }

    #[test]
    fn gpu_backends_load_before_the_cpu() {
        let files = [
            "libggml-cpu-haswell.so",
            "libggml-cpu-x64.so",
            "libggml-vulkan.so",
            "libggml-cuda.so",
        ]
        .map(String::from);
        assert_eq!(load_order(&files), ["cuda", "vulkan", "cpu"]);
    }
}
