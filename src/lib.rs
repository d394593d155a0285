//! Quill: a terminal writing assistant with a local model.
//!
//! Layers point one way: `headless` / `bench` (and the editor) -> `prompt` / `engine` -> the
//! worker process. Only `engine/worker.rs` touches llama.cpp, and it runs in its own process so
//! an abort or a crash inside llama.cpp never takes the writer's text with it.

pub mod bench;
pub mod cli;
pub mod config;
pub mod engine;
pub mod headless;
pub mod paths;
pub mod prompt;
pub mod sanitize;
