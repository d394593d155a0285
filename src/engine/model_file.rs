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

#[cfg(test)]
mod tests {
    use super::*;

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
