//! `quill model tokenizer`: a Hugging Face `tokenizer.json` made from a GGUF's own vocabulary,
//! for exact token counts with a remote engine that serves the same model (a llama-server on
//! another machine with a copy of the file) when the model's repository is out of reach.
//!
//! Only byte-level BPE vocabularies whose pre-tokenizer is known here are written: the split
//! rules are llama.cpp's (`llama-vocab.cpp`) restated in `tokenizers`' terms, and a rule
//! restated wrongly would count wrongly without a sign. The default model's is checked
//! against llama.cpp's own counts in tests/remote.rs; others are refused with what to do.

use std::io::{BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value, json};

/// The GGUF metadata this needs.
#[derive(Debug, Default)]
struct Vocab {
    model: Option<String>,
    pre: Option<String>,
    tokens: Vec<String>,
    merges: Vec<String>,
    types: Vec<i64>,
}

/// llama.cpp's token types that are not text: control (3) and user-defined (4) tokens.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// The tokenizer.json text for the GGUF at `path`.
pub fn tokenizer_json(path: &Path) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let vocab = read_vocab(&mut BufReader::new(file))
        .map_err(|e| format!("{} is not a GGUF file Quill can read: {e}", path.display()))?;
    let pre_tokenizer = match (vocab.model.as_deref(), vocab.pre.as_deref()) {
        (Some("gpt2"), Some("smollm")) => json!({
            "type": "Sequence",
            "pretokenizers": [
                { "type": "Digits", "individual_digits": true },
                byte_level(),
            ],
        }),
        (Some("gpt2"), Some("gpt-2" | "gpt2" | "default") | None) => byte_level(),
        (model, pre) => {
            return Err(format!(
                "{} uses a {} vocabulary with the '{}' pre-tokenizer, which Quill cannot yet \
                 restate exactly; download the model's tokenizer.json from its Hugging Face \
                 repository instead and set [engine] tokenizer to it",
                path.display(),
                model.unwrap_or("unknown"),
                pre.unwrap_or("unknown")
            ));
        }
    };
    if vocab.tokens.is_empty() || vocab.merges.is_empty() {
        return Err(format!("{} holds no BPE vocabulary", path.display()));
    }
    let mut map = Map::new();
    let mut added = Vec::new();
    for (id, token) in vocab.tokens.iter().enumerate() {
        map.insert(token.clone(), json!(id));
        let kind = vocab.types.get(id).copied().unwrap_or(1);
        if kind == CONTROL || kind == USER_DEFINED {
            added.push(json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": kind == CONTROL,
            }));
        }
    }
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": byte_level(),
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": Value::Object(map),
            "merges": vocab.merges,
        },
    });
    Ok(tokenizer.to_string())
}

fn byte_level() -> Value {
    json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": true,
        "use_regex": true,
    })
}

type Io<T> = std::io::Result<T>;

fn bad(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

fn u32_of(r: &mut impl Read) -> Io<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn u64_of(r: &mut impl Read) -> Io<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// No GGUF string or array in a real model comes near this; a larger length is corruption.
const MAX_LEN: u64 = 1 << 30;

fn string_of(r: &mut impl Read) -> Io<String> {
    let len = u64_of(r)?;
    if len > MAX_LEN {
        return Err(bad(format!("a string of {len} bytes")));
    }
    let mut bytes = vec![0; len as usize];
    r.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|_| bad("a string that is not UTF-8"))
}

/// The size of a fixed-size GGUF value type, `None` for strings and arrays.
fn fixed_size(kind: u32) -> Io<Option<u64>> {
    Ok(match kind {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        8 | 9 => None,        // string, array
        other => return Err(bad(format!("an unknown value type {other}"))),
    })
}

/// An integer of a fixed-size type, as i64.
fn int_of(r: &mut impl Read, kind: u32) -> Io<i64> {
    Ok(match kind {
        0 | 7 => {
            let mut b = [0; 1];
            r.read_exact(&mut b)?;
            i64::from(b[0])
        }
        1 => {
            let mut b = [0; 1];
            r.read_exact(&mut b)?;
            i64::from(b[0] as i8)
        }
        2 | 3 => {
            let mut b = [0; 2];
            r.read_exact(&mut b)?;
            if kind == 2 {
                i64::from(u16::from_le_bytes(b))
            } else {
                i64::from(i16::from_le_bytes(b))
            }
        }
        4 => i64::from(u32_of(r)?),
        5 => i64::from(u32_of(r)? as i32),
        10 | 11 => u64_of(r)? as i64,
        other => return Err(bad(format!("value type {other} is not an integer"))),
    })
}

fn skip(r: &mut impl Read, bytes: u64) -> Io<()> {
    let copied = std::io::copy(&mut r.take(bytes), &mut std::io::sink())?;
    if copied == bytes {
        Ok(())
    } else {
        Err(bad("the file ends early"))
    }
}

fn skip_value(r: &mut impl Read, kind: u32) -> Io<()> {
    match fixed_size(kind)? {
        Some(size) => skip(r, size),
        None if kind == 8 => {
            let len = u64_of(r)?;
            skip(r, len)
        }
        None => {
            let element = u32_of(r)?;
            let n = u64_of(r)?;
            if n > MAX_LEN {
                return Err(bad(format!("an array of {n} elements")));
            }
            match fixed_size(element)? {
                Some(size) => skip(r, size * n),
                None => (0..n).try_for_each(|_| skip_value(r, element)),
            }
        }
    }
}

fn strings_of(r: &mut impl Read) -> Io<Vec<String>> {
    let element = u32_of(r)?;
    let n = u64_of(r)?;
    if element != 8 || n > MAX_LEN {
        return Err(bad("a token list that is not a list of strings"));
    }
    (0..n).map(|_| string_of(r)).collect()
}

fn ints_of(r: &mut impl Read) -> Io<Vec<i64>> {
    let element = u32_of(r)?;
    let n = u64_of(r)?;
    if n > MAX_LEN {
        return Err(bad(format!("an array of {n} elements")));
    }
    (0..n).map(|_| int_of(r, element)).collect()
}

/// Reads the header and the metadata, keeping the tokenizer's; tensors are never read.
fn read_vocab(r: &mut impl Read) -> Io<Vocab> {
    let mut magic = [0; 4];
    r.read_exact(&mut magic)?;
    if &magic != b"GGUF" {
        return Err(bad("no GGUF magic"));
    }
    let version = u32_of(r)?;
    if version < 2 {
        return Err(bad(format!("GGUF version {version} is too old")));
    }
    let _tensors = u64_of(r)?;
    let n_kv = u64_of(r)?;
    let mut vocab = Vocab::default();
    for _ in 0..n_kv {
        let key = string_of(r)?;
        let kind = u32_of(r)?;
        match (key.as_str(), kind) {
            ("tokenizer.ggml.model", 8) => vocab.model = Some(string_of(r)?),
            ("tokenizer.ggml.pre", 8) => vocab.pre = Some(string_of(r)?),
            ("tokenizer.ggml.tokens", 9) => vocab.tokens = strings_of(r)?,
            ("tokenizer.ggml.merges", 9) => vocab.merges = strings_of(r)?,
            ("tokenizer.ggml.token_type", 9) => vocab.types = ints_of(r)?,
            _ => skip_value(r, kind)?,
        }
    }
    Ok(vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gguf(kvs: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend((kvs.len() as u64).to_le_bytes());
        for (key, kind, value) in kvs {
            out.extend((key.len() as u64).to_le_bytes());
            out.extend(key.as_bytes());
            out.extend(kind.to_le_bytes());
            out.extend(value);
        }
        out
    }

    fn string(s: &str) -> Vec<u8> {
        let mut out = (s.len() as u64).to_le_bytes().to_vec();
        out.extend(s.as_bytes());
        out
    }

    fn strings(items: &[&str]) -> Vec<u8> {
        let mut out = 8u32.to_le_bytes().to_vec();
        out.extend((items.len() as u64).to_le_bytes());
        items.iter().for_each(|s| out.extend(string(s)));
        out
    }

    #[test]
    fn a_small_vocabulary_becomes_a_tokenizer_that_counts() {
        let mut types = 5u32.to_le_bytes().to_vec();
        types.extend(4u64.to_le_bytes());
        for t in [3i32, 1, 1, 1] {
            types.extend(t.to_le_bytes());
        }
        let bytes = gguf(&[
            ("general.name", 8, string("tiny")),
            ("general.alignment", 4, 32u32.to_le_bytes().to_vec()),
            ("tokenizer.ggml.model", 8, string("gpt2")),
            ("tokenizer.ggml.pre", 8, string("smollm")),
            (
                "tokenizer.ggml.tokens",
                9,
                strings(&["<|end|>", "a", "b", "ab"]),
            ),
            ("tokenizer.ggml.merges", 9, strings(&["a b"])),
            ("tokenizer.ggml.token_type", 9, types),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        std::fs::write(&path, bytes).unwrap();
        let json = tokenizer_json(&path).unwrap();
        let file = dir.path().join("tokenizer.json");
        std::fs::write(&file, json).unwrap();
        let tokenizer = tokenizers::Tokenizer::from_file(&file).unwrap();
        let ids = tokenizer.encode("abab", false).unwrap().get_ids().to_vec();
        assert_eq!(ids, vec![3, 3]);
        assert_eq!(tokenizer.token_to_id("<|end|>"), Some(0));
    }

    #[test]
    fn an_unknown_pre_tokenizer_is_refused_with_what_to_do() {
        let bytes = gguf(&[
            ("tokenizer.ggml.model", 8, string("gpt2")),
            ("tokenizer.ggml.pre", 8, string("qwen2")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.gguf");
        std::fs::write(&path, bytes).unwrap();
        let message = tokenizer_json(&path).unwrap_err();
        assert!(message.contains("'qwen2'"), "{message}");
        assert!(message.contains("[engine] tokenizer"), "{message}");
    }

    #[test]
    fn truncated_and_foreign_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gguf");
        let whole = gguf(&[("tokenizer.ggml.tokens", 9, strings(&["a", "b"]))]);
        for cut in 0..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            assert!(tokenizer_json(&path).is_err(), "cut at {cut}");
        }
        std::fs::write(&path, b"not a gguf at all").unwrap();
        assert!(tokenizer_json(&path).unwrap_err().contains("not a GGUF"));
    }
}
