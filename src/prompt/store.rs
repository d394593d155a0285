//! The writer's templates folder: saving a template (never over an existing file unless the
//! writer said so), deleting one, and where a template's file is. Names are checked here too,
//! so no caller can write outside the folder.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::check_name;

/// Why a template was not saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    /// A file of that name is there already; saving again with `overwrite` replaces it.
    Exists(PathBuf),
    Failed(String),
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveError::Exists(path) => write!(f, "{} exists already", path.display()),
            SaveError::Failed(reason) => f.write_str(reason),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateStore {
    pub dir: PathBuf,
}

impl TemplateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TemplateStore { dir: dir.into() }
    }

    /// The file a template of this name is (or would be) kept in.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, String> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.toml")))
    }

    /// Writes `text` as template `name`, durably. Without `overwrite` an existing file is left
    /// alone (checked atomically: the file appears by a hard link that fails if the name is
    /// taken, so two savers cannot both think they created it).
    pub fn save(&self, name: &str, text: &str, overwrite: bool) -> Result<PathBuf, SaveError> {
        let path = self.path_of(name).map_err(SaveError::Failed)?;
        let failed = |what: &str, e: std::io::Error| {
            SaveError::Failed(format!("cannot {what} {}: {e}", path.display()))
        };
        fs::create_dir_all(&self.dir).map_err(|e| failed("create the folder for", e))?;
        if !overwrite && path.exists() {
            return Err(SaveError::Exists(path));
        }
        let temp = self
            .dir
            .join(format!(".{name}.toml.{}.tmp", std::process::id()));
        let written = File::create(&temp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_all()
            })
            .map_err(|e| failed("write", e));
        let placed = written.and_then(|()| {
            if overwrite {
                fs::rename(&temp, &path).map_err(|e| failed("replace", e))
            } else {
                match fs::hard_link(&temp, &path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(SaveError::Exists(path.clone()))
                    }
                    Err(e) => Err(failed("create", e)),
                }
            }
        });
        let _ = fs::remove_file(&temp);
        placed?;
        sync_dir(&self.dir);
        Ok(path)
    }

    /// Removes the writer's template `name` (a built-in of that name shows again).
    pub fn delete(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.path_of(name)?;
        fs::remove_file(&path).map_err(|e| format!("cannot delete {}: {e}", path.display()))?;
        sync_dir(&self.dir);
        Ok(path)
    }
}

/// Makes a rename or link in `dir` durable; best effort (some filesystems refuse).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_never_replaces_a_template_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store = TemplateStore::new(dir.path().join("templates"));
        let path = store.save("promo", "name = \"one\"\n", false).unwrap();
        assert_eq!(path, dir.path().join("templates/promo.toml"));
        let err = store.save("promo", "name = \"two\"\n", false).unwrap_err();
        assert_eq!(err, SaveError::Exists(path.clone()));
        assert_eq!(fs::read_to_string(&path).unwrap(), "name = \"one\"\n");
        store.save("promo", "name = \"two\"\n", true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "name = \"two\"\n");
        let leftovers: Vec<_> = fs::read_dir(&store.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        store.delete("promo").unwrap();
        assert!(!path.exists());
        assert!(store.delete("promo").is_err());
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = TemplateStore::new(dir.path().join("templates"));
        for bad in ["../escape", "/tmp/abs", "a/b", "nul\0x", "..", ""] {
            assert!(
                matches!(store.save(bad, "x", true), Err(SaveError::Failed(_))),
                "{bad:?}"
            );
            assert!(store.delete(bad).is_err());
        }
        assert!(!dir.path().join("escape.toml").exists());
    }
}
