//! What the worker tells of the model and the machine: its facts, the devices llama.cpp sees
//! and where the layers went.

use std::path::Path;

use llama_cpp_2::model::LlamaModel;

use crate::engine::model_file;
use crate::engine::protocol::{Device, EngineSettings, Event, ModelInfo, Placement};
use llama_cpp_2::LlamaBackendDeviceType;

/// Where a model of `layers` layers went with `gpu_layers` asked for, as llama.cpp places them.
pub(super) fn placement(layers: u32, gpu_layers: u32) -> Vec<Placement> {
    let all = devices();
    let mut gpus: Vec<&Device> = all.iter().filter(|d| d.gpu).collect();
    // llama.cpp uses integrated GPUs only when there is no other.
    if gpus.iter().any(|d| !d.integrated) {
        gpus.retain(|d| !d.integrated);
    }
    let free: Vec<u64> = gpus.iter().map(|d| d.memory_free_bytes).collect();
    let (counts, cpu) = layer_split(layers, gpu_layers, &free);
    let mut placement: Vec<Placement> = gpus
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(d, layers)| Placement {
            device: d.name.clone(),
            layers,
        })
        .collect();
    if cpu > 0 {
        placement.push(Placement {
            device: "CPU".into(),
            layers: cpu,
        });
    }
    placement
}

/// What the client is told of a loaded model.
pub(super) fn model_info(
    model: &LlamaModel,
    path: &Path,
    n_ctx: u32,
    has_chat_template: bool,
    load_ms: u64,
) -> ModelInfo {
    ModelInfo {
        name: model
            .meta_val_str("general.name")
            .unwrap_or_else(|_| file_stem(path)),
        n_ctx,
        n_ctx_train: model.n_ctx_train(),
        n_params: model.n_params(),
        size_bytes: model.size(),
        has_chat_template,
        load_ms,
        architecture: model
            .meta_val_str("general.architecture")
            .unwrap_or_default(),
        quantisation: model
            .meta_val_str("general.file_type")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .map_or_else(String::new, model_file::file_type_name),
        settings: EngineSettings::default(),
        placement: Vec::new(),
    }
}

/// The CPU features llama.cpp's kernels were compiled for (in a GPU build, those of the CPU
/// variant that loaded). These report the compiler's macros at build time, not what this CPU
/// can do: a feature the CPU lacks means SIGILL.
pub(super) fn describe_system() -> Event {
    Event::SystemDescribed {
        cpu_features: cpu_features(),
        devices: devices(),
        modules: super::backends::modules(),
    }
}

/// The instruction-set features of ggml's CPU backend, asked through its registry (the one way
/// that reaches a CPU backend loaded as a module); its other entries (OPENMP, REPACK, ...) are
/// build options, not instructions, and are left out.
fn cpu_features() -> Vec<String> {
    use llama_cpp_sys_2 as sys;
    const INSTRUCTIONS: [&str; 21] = [
        "SSE3",
        "SSSE3",
        "AVX",
        "AVX_VNNI",
        "AVX2",
        "BMI2",
        "F16C",
        "FMA",
        "AVX512",
        "AVX512_VBMI",
        "AVX512_VNNI",
        "AVX512_BF16",
        "AMX_INT8",
        "NEON",
        "ARM_FMA",
        "FP16_VA",
        "DOTPROD",
        "MATMUL_INT8",
        "SVE",
        "SME",
        "RISCV_V",
    ];
    // SAFETY: ggml's registry calls take and return plain pointers; each is checked for NULL
    // and the feature list it hands back is terminated by an entry with a NULL name.
    unsafe {
        let reg = sys::ggml_backend_reg_by_name(c"CPU".as_ptr());
        if reg.is_null() {
            return Vec::new();
        }
        let proc =
            sys::ggml_backend_reg_get_proc_address(reg, c"ggml_backend_get_features".as_ptr());
        if proc.is_null() {
            return Vec::new();
        }
        let get: unsafe extern "C" fn(sys::ggml_backend_reg_t) -> *mut sys::ggml_backend_feature =
            std::mem::transmute(proc);
        let mut features = Vec::new();
        let mut at = get(reg);
        while !at.is_null() && !(*at).name.is_null() {
            let name = std::ffi::CStr::from_ptr((*at).name).to_string_lossy();
            let on =
                !(*at).value.is_null() && std::ffi::CStr::from_ptr((*at).value).to_bytes() == b"1";
            if on && INSTRUCTIONS.contains(&name.as_ref()) {
                features.push(name.into_owned());
            }
            at = at.add(1);
        }
        features
    }
}

/// The devices llama.cpp sees in this build.
pub(super) fn devices() -> Vec<Device> {
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| Device {
            gpu: matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            ),
            integrated: d.device_type == LlamaBackendDeviceType::IntegratedGpu,
            name: d.name,
            description: d.description,
            backend: d.backend,
            memory_total_bytes: d.memory_total as u64,
            memory_free_bytes: d.memory_free as u64,
        })
        .collect()
}

/// How llama.cpp places `layers` layers (the repeating ones and the output) with `gpu_layers`
/// asked for, over GPUs with `free` bytes each, by default (split by layer, in proportion to
/// free memory; the last `gpu_layers` go to the GPUs): each GPU's count, in order, and the
/// CPU's. Mirrors `llama_model::load_tensors`, which does not say it through its API.
pub(super) fn layer_split(layers: u32, gpu_layers: u32, free: &[u64]) -> (Vec<u32>, u32) {
    let on_gpus = if free.is_empty() {
        0
    } else {
        gpu_layers.min(layers)
    };
    let mut counts = vec![0u32; free.len()];
    let total: f64 = free.iter().map(|&f| f as f64).sum();
    // Cumulative shares, as llama.cpp's `splits`.
    let mut splits = Vec::with_capacity(free.len());
    let mut sum = 0.0;
    for &f in free {
        sum += if total > 0.0 {
            f as f64 / total
        } else {
            1.0 / free.len() as f64
        };
        splits.push(sum as f32);
    }
    for i in 0..on_gpus {
        let at = i as f32 / on_gpus as f32;
        let device = splits.partition_point(|&s| s <= at).min(free.len() - 1);
        counts[device] += 1;
    }
    (counts, layers - on_gpus)
}

pub(super) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_placed_as_llama_cpp_places_them() {
        // No GPU: all on the CPU, whatever is asked.
        assert_eq!(layer_split(31, u32::MAX, &[]), (vec![], 31));
        // One GPU: the last `gpu_layers` layers, or all.
        assert_eq!(layer_split(31, 0, &[8 << 30]), (vec![0], 31));
        assert_eq!(layer_split(31, 20, &[8 << 30]), (vec![20], 11));
        assert_eq!(layer_split(31, u32::MAX, &[8 << 30]), (vec![31], 0));
        // Two GPUs: in proportion to their free memory.
        assert_eq!(layer_split(30, 30, &[4 << 30, 4 << 30]), (vec![15, 15], 0));
        assert_eq!(layer_split(30, 30, &[8 << 30, 4 << 30]), (vec![20, 10], 0));
    }
}
