//! Cheap checks on a model path before llama.cpp sees it: the path exists, is a file, and starts
//! with the GGUF magic. llama.cpp asserts (and in debug builds the crate panics) on a missing
//! path, so these checks come first and their message says what to do.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFileError {
    Missing(PathBuf),
    NotAFile(PathBuf),
    Unreadable(PathBuf, String),
    NotGguf(PathBuf),
}

impl fmt::Display for ModelFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelFileError::Missing(p) => write!(f, "no model file at {}", p.display()),
            ModelFileError::NotAFile(p) => write!(f, "{} is not a file", p.display()),
            ModelFileError::Unreadable(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            ModelFileError::NotGguf(p) => write!(
                f,
                "{} is not a GGUF model (it does not start with the GGUF magic bytes)",
                p.display()
            ),
        }
    }
}

impl std::error::Error for ModelFileError {}

pub fn check(path: &Path) -> Result<(), ModelFileError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelFileError::Missing(path.to_path_buf()));
        }
        Err(e) => {
            return Err(ModelFileError::Unreadable(
                path.to_path_buf(),
                e.to_string(),
            ));
        }
    };
    if !meta.is_file() {
        return Err(ModelFileError::NotAFile(path.to_path_buf()));
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ModelFileError::NotGguf(path.to_path_buf()),
            _ => ModelFileError::Unreadable(path.to_path_buf(), e.to_string()),
        })?;
    if &magic != b"GGUF" {
        return Err(ModelFileError::NotGguf(path.to_path_buf()));
    }
    Ok(())
}

/// llama.cpp's name for a GGUF `general.file_type` (its `llama_ftype`).
pub fn file_type_name(file_type: u32) -> String {
    let name = match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K - Small",
        12 => "Q3_K - Medium",
        13 => "Q3_K - Large",
        14 => "Q4_K - Small",
        15 => "Q4_K - Medium",
        16 => "Q5_K - Small",
        17 => "Q5_K - Medium",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K - Small",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4 MoE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        other => return format!("file type {other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types_have_llama_cpps_names() {
        assert_eq!(file_type_name(3), "Q4_1");
        assert_eq!(file_type_name(15), "Q4_K - Medium");
        assert_eq!(file_type_name(999), "file type 999");
    }

    #[test]
    fn each_bad_path_gets_its_own_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gguf");
        assert_eq!(
            check(&missing),
            Err(ModelFileError::Missing(missing.clone()))
        );
        assert_eq!(
            check(dir.path()),
            Err(ModelFileError::NotAFile(dir.path().to_path_buf()))
        );
        let text = dir.path().join("notes.gguf");
        std::fs::write(&text, "just some notes").unwrap();
        assert_eq!(check(&text), Err(ModelFileError::NotGguf(text.clone())));
        let tiny = dir.path().join("tiny.gguf");
        std::fs::write(&tiny, "GG").unwrap();
        assert_eq!(check(&tiny), Err(ModelFileError::NotGguf(tiny.clone())));
        let header = dir.path().join("header.gguf");
        std::fs::write(&header, b"GGUF\x03\x00\x00\x00").unwrap();
        assert_eq!(check(&header), Ok(()));
    }
}
