//! The crash journal: an append-only log of a draft's edits in the state directory, so text
//! typed since the last save survives a crash, a kill -9 or a power cut. Each record is
//! length-prefixed and checksummed; replay stops at the first torn or corrupt record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::edit::Change;

/// What the journaled edits apply to: the file as it was on disk (or an empty untitled draft).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub path: Option<PathBuf>,
    /// Length and CRC-32 of the text the edits start from (after line-ending normalisation).
    pub len: u64,
    pub crc: u32,
}

impl Base {
    pub fn of_text(path: Option<PathBuf>, text: &str) -> Self {
        Base {
            path,
            len: text.len() as u64,
            crc: crc32fast::hash(text.as_bytes()),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.len == text.len() as u64 && self.crc == crc32fast::hash(text.as_bytes())
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum Record {
    Base(Base),
    /// The whole text, after a write failed: what follows applies to this, not to the base.
    Snapshot(String),
    Change(Change),
}

/// A journal read back after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub base: Base,
    /// The whole text at some point, when the journal holds one: `changes` apply to it.
    pub snapshot: Option<String>,
    pub changes: Vec<Change>,
}

pub struct Journal {
    file: File,
    path: PathBuf,
}

/// Where the journal of a draft lives: one file per draft path, or one for untitled drafts.
pub fn journal_path(state_dir: &Path, draft: Option<&Path>) -> PathBuf {
    let dir = state_dir.join("journal");
    match draft {
        None => dir.join("untitled.journal"),
        Some(path) => {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let key = crc32fast::hash(absolute.to_string_lossy().as_bytes());
            let name: String = absolute
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(40)
                .collect();
            dir.join(format!("{name}-{key:08x}.journal"))
        }
    }
}

/// A journal the writer chose not to recover yet (`n` at the question) goes aside, under
/// `NAME.journal.kept-N`, so the next edits cannot start a new journal over it.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let next = kept(path).last().map_or(1, |(n, _)| n + 1);
    let aside = kept_path(path, next);
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// Brings the newest journal set aside back in place when there is none in place: it is
/// offered again each time the draft opens, until recovered or discarded.
pub fn restore_kept(path: &Path) -> io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    match kept(path).pop() {
        Some((_, newest)) => fs::rename(newest, path).map(|()| true),
        None => Ok(false),
    }
}

fn kept_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".kept-{n}"));
    path.with_file_name(name)
}

/// The journals set aside for `path`, oldest first.
fn kept(path: &Path) -> Vec<(u32, PathBuf)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.kept-", name.to_string_lossy());
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let n = file.strip_prefix(&prefix)?.parse().ok()?;
            Some((n, entry.path()))
        })
        .collect();
    found.sort();
    found
}

impl Journal {
    /// Starts a fresh journal for `base` (and the whole current text, when given), replacing
    /// any old one.
    pub fn create(path: &Path, base: Base, snapshot: Option<&str>) -> io::Result<Journal> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        let mut journal = Journal {
            file,
            path: path.to_path_buf(),
        };
        journal.write_record(&Record::Base(base))?;
        if let Some(text) = snapshot {
            journal.write_record(&Record::Snapshot(text.to_string()))?;
        }
        journal.file.sync_data()?;
        Ok(journal)
    }

    /// Appends changes and makes them durable.
    pub fn append(&mut self, changes: &[Change]) -> io::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::new();
        for change in changes {
            encode_record(&Record::Change(change.clone()), &mut buffer)?;
        }
        self.file.write_all(&buffer)?;
        self.file.sync_data()
    }

    fn write_record(&mut self, record: &Record) -> io::Result<()> {
        let mut buffer = Vec::new();
        encode_record(record, &mut buffer)?;
        self.file.write_all(&buffer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the journal (after a successful save, or when the writer discards it).
    pub fn remove(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}

fn encode_record(record: &Record, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(record)?;
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Reads a journal back: its base and every intact change. `None` when there is no journal or
/// not even its base survived; a torn tail is ignored.
pub fn read(path: &Path) -> io::Result<Option<Recovered>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            // A journal is a regular file Quill wrote; anything else (a device, a pipe) could
            // be read forever, and holds no edits.
            if !f.metadata()?.is_file() {
                return Ok(None);
            }
            f.read_to_end(&mut bytes)?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap_or_default());
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            break; // torn: the record was being written when the machine stopped
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        match serde_json::from_slice::<Record>(payload) {
            Ok(record) => records.push(record),
            Err(_) => break,
        }
        at += 8 + len;
    }
    let mut records = records.into_iter();
    let Some(Record::Base(base)) = records.next() else {
        return Ok(None);
    };
    let mut snapshot = None;
    let mut changes = Vec::new();
    for record in records {
        match record {
            Record::Change(c) => changes.push(c),
            Record::Snapshot(text) => {
                snapshot = Some(text);
                changes.clear();
            }
            Record::Base(_) => {}
        }
    }
    Ok(Some(Recovered {
        base,
        snapshot,
        changes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_set_aside_comes_back_until_recovered_or_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("draft.md-0000.journal");
        fs::write(&path, "first").unwrap();
        let aside = set_aside(&path).unwrap();
        assert!(!path.exists());
        // A new journal meanwhile does not touch the one set aside.
        fs::write(&path, "second").unwrap();
        assert!(!restore_kept(&path).unwrap(), "one is in place already");
        set_aside(&path).unwrap();
        // The newest comes back first, then the older one.
        assert!(restore_kept(&path).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        fs::remove_file(&path).unwrap();
        assert!(restore_kept(&path).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        assert!(!aside.exists());
        fs::remove_file(&path).unwrap();
        assert!(!restore_kept(&path).unwrap());
    }

    fn change(start: usize, inserted: &str) -> Change {
        Change {
            start,
            removed: String::new(),
            inserted: inserted.into(),
        }
    }

    #[test]
    fn changes_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let base = Base::of_text(None, "");
        let mut journal = Journal::create(&path, base.clone(), None).unwrap();
        journal.append(&[change(0, "你好")]).unwrap();
        journal
            .append(&[change(2, " world"), change(0, "> ")])
            .unwrap();
        let recovered = read(&path).unwrap().unwrap();
        assert_eq!(recovered.base, base);
        assert_eq!(recovered.snapshot, None);
        assert_eq!(
            recovered.changes,
            vec![change(0, "你好"), change(2, " world"), change(0, "> ")]
        );
    }

    #[test]
    fn a_journal_path_that_is_not_a_file_holds_no_edits_and_is_not_read_forever() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("draft.journal");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&link).unwrap().is_none());
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, Base::of_text(None, ""), None).unwrap();
        journal.append(&[change(0, "kept")]).unwrap();
        journal.append(&[change(4, " torn")]).unwrap();
        let full = fs::read(&path).unwrap();
        // Cut the last record in half.
        fs::write(&path, &full[..full.len() - 5]).unwrap();
        assert_eq!(
            read(&path).unwrap().unwrap().changes,
            vec![change(0, "kept")]
        );
        // Flip a byte in the last record's payload.
        let mut corrupt = full.clone();
        let last = corrupt.len() - 3;
        corrupt[last] ^= 0xff;
        fs::write(&path, &corrupt).unwrap();
        assert_eq!(
            read(&path).unwrap().unwrap().changes,
            vec![change(0, "kept")]
        );
        // Garbage only.
        fs::write(&path, b"\xff\xff\xff\xff garbage").unwrap();
        assert_eq!(read(&path).unwrap(), None);
    }

    #[test]
    fn a_snapshot_replaces_the_base_for_the_changes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal =
            Journal::create(&path, Base::of_text(None, "file"), Some("file and more")).unwrap();
        journal.append(&[change(13, "!")]).unwrap();
        let recovered = read(&path).unwrap().unwrap();
        assert_eq!(recovered.snapshot.as_deref(), Some("file and more"));
        assert_eq!(recovered.changes, vec![change(13, "!")]);
    }

    #[test]
    fn each_draft_has_its_own_journal() {
        let state = Path::new("/state");
        let a = journal_path(state, Some(Path::new("/notes/a.md")));
        let b = journal_path(state, Some(Path::new("/other/a.md")));
        assert_ne!(a, b);
        assert!(a.starts_with("/state/journal"));
        assert_eq!(
            journal_path(state, None),
            Path::new("/state/journal/untitled.journal")
        );
    }
}
