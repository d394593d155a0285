//! llama.cpp, through `llama_cpp_2`: the only code that touches it. The worker process
//! (`worker`), loading a model and making its contexts (`load`), the in-process baseline and
//! depth sweeps of the benchmark (`sweep`), and reading GGUF headers (`gguf`). Everything else
//! speaks to it through `engine::protocol`.

pub mod gguf;
mod load;
pub mod sweep;
pub mod worker;
