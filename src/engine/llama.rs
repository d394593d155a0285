//! llama.cpp, through `llama_cpp_2`: the only code that touches it. The worker process
//! (`worker`, with its `channel`s, `session`, `generate`, `tuning` and `describe`), loading a
//! model and making its contexts (`load`), the in-process baseline and depth sweeps of the
//! benchmark (`sweep`), reading GGUF headers (`gguf`), and starting llama.cpp with this
//! build's backends (`backends`). Everything else speaks to it through `engine::protocol`.

pub mod backends;
mod channel;
mod describe;
mod generate;
pub mod gguf;
mod load;
mod lookup;
mod session;
pub mod sweep;
mod tuning;
pub mod worker;
