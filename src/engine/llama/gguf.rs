//! A GGUF file's header, read through llama.cpp's own reader without loading the weights.

use llama_cpp_2::gguf::GgufContext;
use llama_cpp_2::{LogOptions, send_logs_to_tracing};

/// What a model's header says of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub architecture: Option<String>,
    /// `general.file_type`: the quantisation, by llama.cpp's number for it.
    pub file_type: Option<u32>,
    /// The context length it was trained for.
    pub context_length: Option<u64>,
    pub chat_template: bool,
}

/// Reads the header of the GGUF file at `path` (the caller has checked it starts like one);
/// None when it is damaged or of a version llama.cpp does not know.
pub fn read_header(path: &std::path::Path) -> Option<Header> {
    // ggml reports a malformed header on stderr as well as failing: the reason is ours to give.
    send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
    let gguf = GgufContext::from_file(path)?;
    let string = |key: &str| {
        let at = gguf.find_key(key);
        (at >= 0 && gguf.kv_type(at) == llama_cpp_sys_2::GGUF_TYPE_STRING)
            .then(|| gguf.val_str(at).map(str::to_string))
            .flatten()
    };
    let number = |key: &str| {
        let at = gguf.find_key(key);
        if at < 0 {
            return None;
        }
        // Read only as the type the file declares: llama.cpp aborts on a mismatch.
        match gguf.kv_type(at) {
            llama_cpp_sys_2::GGUF_TYPE_UINT32 => Some(u64::from(gguf.val_u32(at))),
            llama_cpp_sys_2::GGUF_TYPE_INT32 => u64::try_from(gguf.val_i32(at)).ok(),
            llama_cpp_sys_2::GGUF_TYPE_UINT64 => Some(gguf.val_u64(at)),
            _ => None,
        }
    };
    let architecture = string("general.architecture");
    let context_length = architecture
        .as_deref()
        .and_then(|arch| number(&format!("{arch}.context_length")));
    Some(Header {
        file_type: number("general.file_type").and_then(|t| u32::try_from(t).ok()),
        context_length,
        chat_template: gguf.find_key("tokenizer.chat_template") >= 0,
        architecture,
    })
}
