//! Records how Quill was built, for `quill doctor`: the target CPU its Rust flags name
//! ("native" from .cargo/config.toml, or none for a portable build). llama-cpp-sys-2 reads
//! the same flags to build llama.cpp natively (GGML_NATIVE) or for a generic CPU.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let cpu = flags
        .split('\x1f')
        .filter_map(|flag| flag.split("target-cpu=").nth(1))
        .next_back()
        .unwrap_or("");
    println!("cargo:rustc-env=QUILL_TARGET_CPU={cpu}");
}
