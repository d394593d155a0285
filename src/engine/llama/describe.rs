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

/// The CPU features llama.cpp's kernels were compiled for. These report the compiler's macros
/// at build time, not what this CPU can do: a feature the CPU lacks means SIGILL.
pub(super) fn describe_system() -> Event {
    use llama_cpp_sys_2 as sys;
    let probes: [(&str, unsafe extern "C" fn() -> i32); 21] = [
        ("SSE3", sys::ggml_cpu_has_sse3),
        ("SSSE3", sys::ggml_cpu_has_ssse3),
        ("AVX", sys::ggml_cpu_has_avx),
        ("AVX_VNNI", sys::ggml_cpu_has_avx_vnni),
        ("AVX2", sys::ggml_cpu_has_avx2),
        ("BMI2", sys::ggml_cpu_has_bmi2),
        ("F16C", sys::ggml_cpu_has_f16c),
        ("FMA", sys::ggml_cpu_has_fma),
        ("AVX512", sys::ggml_cpu_has_avx512),
        ("AVX512_VBMI", sys::ggml_cpu_has_avx512_vbmi),
        ("AVX512_VNNI", sys::ggml_cpu_has_avx512_vnni),
        ("AVX512_BF16", sys::ggml_cpu_has_avx512_bf16),
        ("AMX_INT8", sys::ggml_cpu_has_amx_int8),
        ("NEON", sys::ggml_cpu_has_neon),
        ("ARM_FMA", sys::ggml_cpu_has_arm_fma),
        ("FP16_VA", sys::ggml_cpu_has_fp16_va),
        ("DOTPROD", sys::ggml_cpu_has_dotprod),
        ("MATMUL_INT8", sys::ggml_cpu_has_matmul_int8),
        ("SVE", sys::ggml_cpu_has_sve),
        ("SME", sys::ggml_cpu_has_sme),
        ("RISCV_V", sys::ggml_cpu_has_riscv_v),
    ];
    let cpu_features = probes
        .iter()
        // SAFETY: each probe takes nothing and returns a constant chosen at compile time.
        .filter(|(_, probe)| unsafe { probe() } != 0)
        .map(|(name, _)| name.to_string())
        .collect();
    Event::SystemDescribed {
        cpu_features,
        devices: devices(),
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
