//! The doctor's word on a GPU build's backend modules: which loaded, which were passed over for
//! a better one, and why a GPU's did not load, with what to install.

use super::{Finding, Level, fail, finding};
use crate::engine::protocol::{BackendModule, Device, ModuleState, NO_DEVICE};
use crate::headless::NO_BACKEND_FIX;

/// One line per backend: the module that loaded, or why none did. A GPU backend that did not
/// load is a warning (Quill runs on the CPU); a CPU backend that did not is a failure.
pub(super) fn check_backends(
    out: &mut Vec<Finding>,
    modules: &[BackendModule],
    devices: &[Device],
) {
    if modules.is_empty() {
        out.push(finding(
            Level::Ok,
            "backends",
            "linked in (a CPU build; scripts/build-gpu makes a GPU one)",
        ));
        return;
    }
    let mut backends: Vec<&str> = modules.iter().map(|m| m.backend.as_str()).collect();
    backends.dedup();
    for backend in backends {
        let of: Vec<&BackendModule> = modules.iter().filter(|m| m.backend == backend).collect();
        out.push(report(backend, &of, devices));
    }
}

fn report(backend: &str, modules: &[&BackendModule], devices: &[Device]) -> Finding {
    let loaded = modules.iter().find_map(|m| match &m.state {
        ModuleState::Loaded { name } => Some((m, name)),
        _ => None,
    });
    if let Some((module, name)) = loaded {
        let seen: Vec<&str> = devices
            .iter()
            .filter(|d| d.backend == *name)
            .map(|d| d.name.as_str())
            .collect();
        let passed = modules
            .iter()
            .filter(|m| matches!(m.state, ModuleState::Outscored { .. }))
            .count();
        let unsupported = modules
            .iter()
            .filter(|m| matches!(m.state, ModuleState::Unsupported))
            .count();
        let mut text = format!("{name} from {}", module.file);
        if modules.len() > 1 {
            text.push_str(&format!(
                ", the best of {} for this machine ({passed} would run, {unsupported} need \
                 features it lacks)",
                modules.len()
            ));
        }
        text.push_str(&match seen.as_slice() {
            [] => "; it sees no device".to_string(),
            names => format!("; devices: {}", names.join(", ")),
        });
        if seen.is_empty() && backend != "cpu" {
            let mut warning = finding(Level::Warn, "backend", text);
            warning.fix = Some(no_device(backend));
            return warning;
        }
        return finding(Level::Ok, "backend", text);
    }
    let reasons: Vec<String> = modules
        .iter()
        .map(|m| match &m.state {
            ModuleState::Failed { reason } if m.file.is_empty() => reason.clone(),
            ModuleState::Failed { reason } => format!("{}: {reason}", m.file),
            ModuleState::NoDevice => format!("{}: {NO_DEVICE}", m.file),
            ModuleState::Unsupported => format!("{}: this CPU lacks its features", m.file),
            ModuleState::Outscored { by } => format!("{}: passed over for {by}", m.file),
            ModuleState::Loaded { .. } => unreachable!("handled above"),
        })
        .collect();
    let text = format!("{backend} did not load ({})", reasons.join("; "));
    if backend == "cpu" {
        return fail("backend", text, NO_BACKEND_FIX);
    }
    let mut warning = finding(Level::Warn, "backend", text + "; Quill runs on the CPU");
    warning.fix = Some(advice(backend, modules));
    warning
}

/// Why a GPU backend that loaded may see no device.
fn no_device(backend: &str) -> String {
    match backend {
        "vulkan" => "no Vulkan GPU found: `vulkaninfo --summary` lists what the loader sees; a \
                     CPU device such as Mesa's lavapipe is used only when GGML_VK_VISIBLE_DEVICES \
                     names it (GGML_VK_VISIBLE_DEVICES=0)"
            .into(),
        "cuda" => "the NVIDIA driver sees no GPU: `nvidia-smi` tells".into(),
        _ => format!("{backend} sees no device on this machine"),
    }
}

/// What to install so a GPU backend loads, from the library the loader could not find.
fn advice(backend: &str, modules: &[&BackendModule]) -> String {
    let missing = |lib: &str| {
        modules
            .iter()
            .any(|m| matches!(&m.state, ModuleState::Failed { reason } if reason.contains(lib)))
    };
    let no_start = modules
        .iter()
        .any(|m| matches!(m.state, ModuleState::NoDevice));
    if missing("libcuda.so") {
        "no NVIDIA driver here: install the NVIDIA driver to compute on the GPU".into()
    } else if missing("libcublas") || missing("libcudart") {
        "the CUDA runtime libraries are missing: keep the libcu*.so files that scripts/build-gpu \
         puts beside the binary"
            .into()
    } else if missing("libvulkan.so") {
        "no Vulkan loader here: install libvulkan1 and the GPU's Vulkan driver (Mesa's \
         mesa-vulkan-drivers, or the vendor's)"
            .into()
    } else if no_start && backend == "vulkan" {
        "no Vulkan driver here: install the GPU's (Mesa's mesa-vulkan-drivers, or the \
         vendor's); `vulkaninfo --summary` lists what the loader finds"
            .into()
    } else if no_start && backend == "cuda" {
        "the NVIDIA driver sees no GPU, or is older than CUDA 13 needs (580 or later): \
         `nvidia-smi` tells"
            .into()
    } else {
        format!("rebuild the {backend} module with scripts/build-gpu {backend}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(file: &str, backend: &str, state: ModuleState) -> BackendModule {
        BackendModule {
            file: file.into(),
            backend: backend.into(),
            state,
        }
    }

    fn device(name: &str, backend: &str) -> Device {
        Device {
            name: name.into(),
            description: String::new(),
            backend: backend.into(),
            gpu: backend != "CPU",
            integrated: false,
            memory_total_bytes: 0,
            memory_free_bytes: 0,
        }
    }

    #[test]
    fn a_gpu_build_without_a_driver_says_what_to_install_and_runs_on_the_cpu() {
        let modules = [
            module(
                "libggml-cuda.so",
                "cuda",
                ModuleState::Failed {
                    reason: "libcuda.so.1: cannot open shared object file".into(),
                },
            ),
            module(
                "libggml-cpu-haswell.so",
                "cpu",
                ModuleState::Loaded { name: "CPU".into() },
            ),
            module(
                "libggml-cpu-x64.so",
                "cpu",
                ModuleState::Outscored {
                    by: "libggml-cpu-haswell.so".into(),
                },
            ),
            module("libggml-cpu-icelake.so", "cpu", ModuleState::Unsupported),
        ];
        let mut out = Vec::new();
        check_backends(&mut out, &modules, &[device("CPU", "CPU")]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].level, Level::Warn);
        assert!(out[0].text.contains("libcuda.so.1"), "{}", out[0].text);
        assert!(out[0].fix.as_deref().unwrap().contains("NVIDIA driver"));
        assert_eq!(out[1].level, Level::Ok);
        assert!(
            out[1]
                .text
                .contains("CPU from libggml-cpu-haswell.so, the best of 3")
                && out[1].text.contains("1 would run, 1 need")
                && out[1].text.contains("devices: CPU"),
            "{}",
            out[1].text
        );
    }

    #[test]
    fn a_loaded_gpu_backend_names_its_devices_and_a_missing_cpu_backend_fails() {
        let modules = [
            module(
                "libggml-vulkan.so",
                "vulkan",
                ModuleState::Loaded {
                    name: "Vulkan".into(),
                },
            ),
            module(
                "libggml-cpu-x64.so",
                "cpu",
                ModuleState::Failed {
                    reason: "libgomp.so.1: cannot open shared object file".into(),
                },
            ),
        ];
        let mut out = Vec::new();
        check_backends(&mut out, &modules, &[device("Vulkan0", "Vulkan")]);
        assert_eq!(out[0].level, Level::Ok);
        assert!(out[0].text.ends_with("devices: Vulkan0"), "{}", out[0].text);
        assert_eq!(out[1].level, Level::Fail);
        assert!(out[1].text.contains("libgomp.so.1"));
        // A GPU backend that loads but sees no device is worth a warning.
        let mut out = Vec::new();
        check_backends(&mut out, &modules[..1], &[]);
        assert_eq!(out[0].level, Level::Warn);
        assert!(
            out[0]
                .fix
                .as_deref()
                .unwrap()
                .contains("GGML_VK_VISIBLE_DEVICES")
        );
    }

    #[test]
    fn a_vulkan_module_without_a_driver_asks_for_one() {
        let modules = [module("libggml-vulkan.so", "vulkan", ModuleState::NoDevice)];
        let mut out = Vec::new();
        check_backends(&mut out, &modules, &[]);
        assert_eq!(out[0].level, Level::Warn);
        assert!(
            out[0].text.ends_with("Quill runs on the CPU"),
            "{}",
            out[0].text
        );
        assert!(out[0].fix.as_deref().unwrap().contains("no Vulkan driver"));
    }

    #[test]
    fn a_build_with_its_backends_linked_in_says_so() {
        let mut out = Vec::new();
        check_backends(&mut out, &[], &[device("CPU", "CPU")]);
        assert_eq!(out[0].level, Level::Ok);
        assert!(out[0].text.starts_with("linked in"));
    }
}
