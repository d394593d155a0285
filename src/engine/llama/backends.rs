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

use crate::engine::protocol::{BackendModule, ModuleState, NO_DEVICE};

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

/// Why llama.cpp has no CPU backend to compute on (a GPU build whose CPU modules are missing
/// or would not open), or None when it has one.
pub fn cpu_missing() -> Option<String> {
    missing_cpu(&modules())
}

fn missing_cpu(modules: &[BackendModule]) -> Option<String> {
    let cpu: Vec<&BackendModule> = modules.iter().filter(|m| m.backend == "cpu").collect();
    if modules.is_empty()
        || cpu
            .iter()
            .any(|m| matches!(m.state, ModuleState::Loaded { .. }))
    {
        return None;
    }
    let reasons: Vec<String> = cpu
        .iter()
        .map(|m| match &m.state {
            ModuleState::Failed { reason } if m.file.is_empty() => reason.clone(),
            ModuleState::Failed { reason } => format!("{}: {reason}", m.file),
            ModuleState::NoDevice => format!("{}: {NO_DEVICE}", m.file),
            _ => format!("{}: this CPU lacks its features", m.file),
        })
        .collect();
    Some(format!(
        "llama.cpp has no CPU backend to compute on ({})",
        if reasons.is_empty() {
            "no libggml-cpu-*.so module".to_string()
        } else {
            reasons.join("; ")
        }
    ))
}

#[cfg(not(feature = "dynamic-backends"))]
fn load_modules() -> Vec<BackendModule> {
    Vec::new()
}

#[cfg(feature = "dynamic-backends")]
fn load_modules() -> Vec<BackendModule> {
    let dir = match module_dir() {
        Ok(dir) => dir,
        Err(reason) => {
            return vec![BackendModule {
                file: String::new(),
                backend: "cpu".into(),
                state: ModuleState::Failed { reason },
            }];
        }
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

/// Where the modules are: `$QUILL_BACKENDS_DIR` when set (and nowhere else then), else the
/// binary's own folder when it holds them (an installed GPU build), else the folder the build
/// put them in; why none will do.
#[cfg(feature = "dynamic-backends")]
fn module_dir() -> Result<std::path::PathBuf, String> {
    use std::path::{Path, PathBuf};
    let has_cpu = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| backend_of(n) == Some("cpu"))
            })
        })
    };
    if let Some(dir) = std::env::var_os(MODULES_ENV).map(PathBuf::from) {
        return if has_cpu(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "{MODULES_ENV} names {}, which holds no backend modules (libggml-cpu-*.so)",
                dir.display()
            ))
        };
    }
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    let candidates: Vec<PathBuf> = beside_binary
        .into_iter()
        .chain(llama_cpp_sys_2::BACKENDS_DIR.map(PathBuf::from))
        .collect();
    candidates
        .iter()
        .find(|dir| has_cpu(dir))
        .cloned()
        .ok_or_else(|| {
            let places: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
            format!(
                "no backend modules (libggml-cpu-*.so) in {}",
                places.join(" or ")
            )
        })
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
    let tried: Vec<(&String, Result<i32, String>)> = files
        .iter()
        .map(|f| (*f, dl::score(&dir.join(f))))
        .collect();
    let best = tried
        .iter()
        .filter_map(|(f, s)| s.as_ref().ok().filter(|s| **s > 0).map(|s| (*s, *f)))
        .max()
        .map(|(_, f)| f);
    tried
        .into_iter()
        .map(|(file, score)| {
            let state = match (score, best) {
                (Err(reason), _) => ModuleState::Failed { reason },
                (Ok(..=0), _) | (Ok(_), None) => ModuleState::Unsupported,
                (Ok(_), Some(chosen)) if chosen == file => match dl::load(&dir.join(file)) {
                    Some(name) => ModuleState::Loaded { name },
                    None => ModuleState::NoDevice,
                },
                (Ok(_), Some(chosen)) => ModuleState::Outscored { by: chosen.clone() },
            };
            module(file, state)
        })
        .collect()
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

    /// Registers the module with llama.cpp: the backend's name ("CUDA", "Vulkan", "CPU"), or
    /// None when its backend would not start (no driver or device it could use).
    pub fn load(path: &Path) -> Option<String> {
        let name = c_path(path).ok()?;
        // SAFETY: a NUL-terminated path; ggml keeps the module loaded for the process's life.
        let reg = unsafe { llama_cpp_sys_2::ggml_backend_load(name.as_ptr()) };
        if reg.is_null() {
            return None;
        }
        // SAFETY: a registered backend's name is a static NUL-terminated string.
        let name = unsafe { CStr::from_ptr(llama_cpp_sys_2::ggml_backend_reg_name(reg)) };
        Some(name.to_string_lossy().into_owned())
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
    fn a_build_without_a_cpu_module_that_loads_says_why() {
        let module = |file: &str, backend: &str, state| BackendModule {
            file: file.into(),
            backend: backend.into(),
            state,
        };
        // Linked in: nothing to say.
        assert_eq!(missing_cpu(&[]), None);
        let vulkan = module(
            "libggml-vulkan.so",
            "vulkan",
            ModuleState::Loaded {
                name: "Vulkan".into(),
            },
        );
        let cpu = module(
            "libggml-cpu-x64.so",
            "cpu",
            ModuleState::Loaded { name: "CPU".into() },
        );
        assert_eq!(missing_cpu(&[vulkan.clone(), cpu]), None);
        let failed = module(
            "libggml-cpu-x64.so",
            "cpu",
            ModuleState::Failed {
                reason: "libgomp.so.1: cannot open shared object file".into(),
            },
        );
        let why = missing_cpu(&[vulkan.clone(), failed]).expect("missing");
        assert!(why.contains("libggml-cpu-x64.so: libgomp.so.1"), "{why}");
        let why = missing_cpu(&[vulkan]).expect("missing");
        assert!(why.contains("no libggml-cpu-*.so module"), "{why}");
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
