//! Quill: a terminal writing assistant with a local model.
//!
//! Layers point one way: `tui` / `ui` -> `app` -> `document` / `prompt` / `engine`, and
//! `headless` / `bench` -> `prompt` / `engine` -> the worker process. Nothing below `ui` uses
//! ratatui or crossterm. Only `engine/worker.rs` touches llama.cpp, and it runs in its own process so
//! an abort or a crash inside llama.cpp never takes the writer's text with it.

pub mod app;
pub mod article;
pub mod bench;
pub mod cli;
pub mod command;
pub mod config;
pub mod doctor;
pub mod document;
pub mod engine;
pub mod headless;
pub mod keymap;
pub mod models;
pub mod paths;
pub mod plan;
pub mod prompt;
pub mod runtime;
pub mod sampling;
pub mod sanitize;
pub mod suggestion;
pub mod tui;
pub mod ui;
