//! Counting tokens where llama.cpp is not at hand (a remote engine): exactly, with the model's
//! own `tokenizer.json` through Hugging Face's `tokenizers`, or else by an estimate that says it
//! is one. The count fits a long draft into the server's context and fills the status bar's
//! context meter.

use std::path::{Path, PathBuf};

/// Counts tokens the way one model does, or estimates them.
pub enum TokenCounter {
    /// The model's tokenizer: counts equal the server's.
    Exact {
        tokenizer: Box<tokenizers::Tokenizer>,
        /// Where it was loaded from, for the log.
        source: PathBuf,
    },
    /// No tokenizer: a deliberately high estimate, so a fitted draft still fits.
    Estimate,
}

impl TokenCounter {
    /// The tokenizer in `path`.
    pub fn load(path: &Path) -> Result<TokenCounter, String> {
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            format!(
                "cannot read the tokenizer {}: {e}; give the model's tokenizer.json, or leave \
                 [engine] tokenizer empty to estimate token counts",
                path.display()
            )
        })?;
        Ok(TokenCounter::Exact {
            tokenizer: Box::new(tokenizer),
            source: path.to_path_buf(),
        })
    }

    /// The tokenizer for `model` in the Hugging Face cache when it holds one (a server that
    /// names its model by its Hugging Face id, as vLLM does), else the estimate.
    pub fn for_model(model: &str) -> TokenCounter {
        hf_cached_tokenizer(model)
            .and_then(|path| TokenCounter::load(&path).ok())
            .unwrap_or(TokenCounter::Estimate)
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, TokenCounter::Exact { .. })
    }

    /// What the counts come from, in words.
    pub fn describe(&self) -> String {
        match self {
            TokenCounter::Exact { source, .. } => format!("exact ({})", source.display()),
            TokenCounter::Estimate => "estimated (no tokenizer.json for this model)".into(),
        }
    }

    /// The tokens `text` takes, as plain text (never special tokens), without BOS.
    pub fn count(&self, text: &str) -> usize {
        match self {
            TokenCounter::Exact { tokenizer, .. } => tokenizer
                .encode_fast(text, false)
                .map(|encoding| encoding.len())
                .unwrap_or_else(|_| estimate(text)),
            TokenCounter::Estimate => estimate(text),
        }
    }
}

/// A high estimate: a token per three ASCII characters (English averages about four) and
/// one and a half per other character (a Chinese character takes one to two in most
/// vocabularies).
pub fn estimate(text: &str) -> usize {
    let ascii = text.bytes().filter(u8::is_ascii).count();
    let other = text.chars().filter(|c| !c.is_ascii()).count();
    ascii.div_ceil(3) + (other * 3).div_ceil(2)
}

/// `tokenizer.json` of the newest snapshot of Hugging Face model `id` ("owner/name") in the
/// local cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`).
fn hf_cached_tokenizer(id: &str) -> Option<PathBuf> {
    let (owner, name) = id.split_once('/')?;
    if owner.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    let hub = std::env::var_os("HF_HUB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|home| PathBuf::from(home).join("hub")))
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/huggingface/hub"))
        })?;
    let snapshots = hub
        .join(format!("models--{owner}--{name}"))
        .join("snapshots");
    let newest = std::fs::read_dir(snapshots)
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("tokenizer.json"))
        .filter(|path| path.is_file())
        .max_by_key(|path| path.metadata().and_then(|m| m.modified()).ok())?;
    Some(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_does_not_undercount_english_or_chinese() {
        // SmolLM2's tokenizer: 10 tokens, and 19 for the Chinese (llama.cpp's counts).
        assert!(estimate("The quick brown fox jumps over the lazy dog.") >= 10);
        assert!(estimate("大模型产品的核心是用户体验。") >= 14);
        assert_eq!(estimate(""), 0);
    }

    #[test]
    fn a_model_that_is_no_hugging_face_id_is_estimated() {
        assert!(!TokenCounter::for_model("SmolLM2-135M-Instruct.Q4_1.gguf").is_exact());
        assert!(!TokenCounter::for_model("a/b/c").is_exact());
    }

    #[test]
    fn the_hugging_face_cache_is_searched_by_model_id() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("models--owner--name/snapshots/0123abcd");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::write(snapshot.join("tokenizer.json"), "{}").unwrap();
        // SAFETY: this test alone reads HF_HUB_CACHE, and sets it before any thread reads it.
        unsafe { std::env::set_var("HF_HUB_CACHE", dir.path()) };
        assert_eq!(
            hf_cached_tokenizer("owner/name"),
            Some(snapshot.join("tokenizer.json"))
        );
        assert_eq!(hf_cached_tokenizer("owner/other"), None);
    }

    #[test]
    fn an_unreadable_tokenizer_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, "not json").unwrap();
        let Err(message) = TokenCounter::load(&path) else {
            panic!("a broken tokenizer.json loaded");
        };
        assert!(message.contains("tokenizer.json"), "{message}");
        assert!(message.contains("[engine] tokenizer"), "{message}");
    }
}
