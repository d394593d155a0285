//! Loading and saving drafts. Loading refuses binary and invalid UTF-8 files rather than mangle
//! them, and remembers a BOM and CRLF line endings so saving writes them back. Saving is atomic:
//! a temp file in the same directory, fsync, rename over the target, fsync the directory; the
//! original stays byte-for-byte intact if anything fails.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How the file stored its text, to be written back the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFormat {
    /// Line breaks are CRLF (most of them, in a file that mixes both).
    pub crlf: bool,
    /// A file that mixes CRLF and LF line breaks: which line had which, so that the lines the
    /// writer did not touch are written back byte for byte.
    pub mixed: Option<std::sync::Arc<MixedEndings>>,
    pub bom: bool,
    /// The file did not end with a line break: it is written back without one. Otherwise (and
    /// for a new file) a text is saved ending with one, as POSIX tools expect.
    pub no_final_newline: bool,
}

/// The line breaks of a file that mixes CRLF and LF, and the text (with LF breaks) they
/// belong to.
#[derive(Debug, PartialEq, Eq)]
pub struct MixedEndings {
    text: String,
    /// Line break `i` of `text` was CRLF.
    crlf: Vec<bool>,
}

/// What the file on disk looked like when it was read or written: size, mtime and a checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub len: u64,
    pub modified: Option<SystemTime>,
    pub crc: u32,
}

impl Fingerprint {
    pub fn of_bytes(bytes: &[u8], modified: Option<SystemTime>) -> Self {
        Fingerprint {
            len: bytes.len() as u64,
            modified,
            crc: crc32fast::hash(bytes),
        }
    }

    /// Same content, whatever the mtime says.
    pub fn same_content(&self, other: &Fingerprint) -> bool {
        self.len == other.len && self.crc == other.crc
    }
}

#[derive(Debug)]
pub struct LoadedFile {
    /// The text with line endings normalised to `\n` and without the BOM.
    pub text: String,
    pub format: TextFormat,
    pub fingerprint: Fingerprint,
}

#[derive(Debug)]
pub enum LoadError {
    NotFound,
    Binary(PathBuf),
    NotUtf8 {
        path: PathBuf,
        offset: usize,
    },
    /// A folder, a device or a pipe: nothing Quill can open as a draft.
    NotAFile(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotFound => write!(f, "the file does not exist"),
            LoadError::Binary(p) => write!(
                f,
                "{} looks like a binary file (it contains NUL bytes); Quill opens text only and \
                 has not touched it",
                p.display()
            ),
            LoadError::NotUtf8 { path, offset } => write!(
                f,
                "{} is not valid UTF-8 (first bad byte at offset {offset}); Quill will not \
                 rewrite it lossily. Convert it first, for example: iconv -f latin1 -t utf-8",
                path.display()
            ),
            LoadError::NotAFile(p) => write!(
                f,
                "{} is not a regular file (a folder, a device or a pipe); Quill opens text files",
                p.display()
            ),
            LoadError::Io(p, e) if e.kind() == io::ErrorKind::PermissionDenied => write!(
                f,
                "cannot read {}: {e}; you may not read it (see `ls -l`): ask its owner, or \
                 `chmod u+r` it if it is yours",
                p.display()
            ),
            LoadError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
        }
    }
}

pub fn load(path: &Path) -> Result<LoadedFile, LoadError> {
    // Checked before reading: /dev/zero or a pipe would be read forever.
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(LoadError::NotAFile(path.to_path_buf())),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadError::NotFound),
        Err(e) => return Err(LoadError::Io(path.to_path_buf(), e)),
    }
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadError::NotFound),
        Err(e) => return Err(LoadError::Io(path.to_path_buf(), e)),
    };
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok();
    let fingerprint = Fingerprint::of_bytes(&bytes, modified);
    if bytes.contains(&0) {
        return Err(LoadError::Binary(path.to_path_buf()));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(LoadError::NotUtf8 {
                path: path.to_path_buf(),
                offset: e.utf8_error().valid_up_to(),
            });
        }
    };
    let (text, format) = decode(text);
    Ok(LoadedFile {
        text,
        format,
        fingerprint,
    })
}

/// Strips the BOM and turns CRLF into LF, remembering both. A file is CRLF when most of its
/// line breaks are; one that mixes both remembers which line had which.
pub fn decode(mut text: String) -> (String, TextFormat) {
    let bom = text.starts_with('\u{feff}');
    if bom {
        text.drain(..'\u{feff}'.len_utf8());
    }
    let crlf_count = text.matches("\r\n").count();
    let lf_count = text.matches('\n').count();
    let crlf = crlf_count > 0 && crlf_count * 2 >= lf_count;
    let mut mixed = None;
    if crlf_count > 0 {
        if crlf_count < lf_count {
            let endings = text
                .split_inclusive('\n')
                .filter(|line| line.ends_with('\n'))
                .map(|line| line.ends_with("\r\n"))
                .collect();
            text = text.replace("\r\n", "\n");
            mixed = Some(std::sync::Arc::new(MixedEndings {
                text: text.clone(),
                crlf: endings,
            }));
        } else {
            text = text.replace("\r\n", "\n");
        }
    }
    let no_final_newline = !text.is_empty() && !text.ends_with('\n');
    (
        text,
        TextFormat {
            crlf,
            mixed,
            bom,
            no_final_newline,
        },
    )
}

pub fn encode(text: &str, format: &TextFormat) -> Vec<u8> {
    let ended;
    let text = if !format.no_final_newline && !text.is_empty() && !text.ends_with('\n') {
        ended = format!("{text}\n");
        ended.as_str()
    } else {
        text
    };
    let mut out = Vec::with_capacity(text.len() + 4);
    if format.bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    if let Some(mixed) = &format.mixed {
        out.extend_from_slice(mixed.restore(text, format.crlf).as_bytes());
    } else if format.crlf {
        out.extend_from_slice(text.replace('\n', "\r\n").as_bytes());
    } else {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

impl MixedEndings {
    /// `text` with each line break as the file had it: a line the writer left as it was
    /// (matched by a line diff against the text as read) keeps its own, a new or changed one
    /// takes the file's usual one (`crlf`).
    fn restore(&self, text: &str, crlf: bool) -> String {
        use similar::{Algorithm, DiffOp, TextDiff};
        let diff = TextDiff::configure()
            .algorithm(Algorithm::Myers)
            // A huge rewrite is diffed more coarsely, never slowly: unmatched lines only take
            // the usual line break.
            .timeout(std::time::Duration::from_secs(1))
            .diff_lines(self.text.as_str(), text);
        let lines = text.split_inclusive('\n').count();
        let mut old_line = vec![None; lines];
        for op in diff.ops() {
            if let DiffOp::Equal {
                old_index,
                new_index,
                len,
            } = *op
            {
                for k in 0..len {
                    if let Some(slot) = old_line.get_mut(new_index + k) {
                        *slot = Some(old_index + k);
                    }
                }
            }
        }
        let mut out = String::with_capacity(text.len() + lines);
        for (i, line) in text.split_inclusive('\n').enumerate() {
            match line.strip_suffix('\n') {
                Some(body) => {
                    out.push_str(body);
                    let own = old_line[i].and_then(|old| self.crlf.get(old).copied());
                    out.push_str(if own.unwrap_or(crlf) { "\r\n" } else { "\n" });
                }
                None => out.push_str(line),
            }
        }
        out
    }
}

/// The fingerprint of the file now on disk, `None` if there is none.
pub fn fingerprint(path: &Path) -> io::Result<Option<Fingerprint>> {
    match fs::read(path) {
        Ok(bytes) => {
            let modified = fs::metadata(path).and_then(|m| m.modified()).ok();
            Ok(Some(Fingerprint::of_bytes(&bytes, modified)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Saves atomically and returns the new fingerprint. Through a symlink the link's target is
/// replaced, and the link kept; an existing file's permissions are kept.
pub fn save(path: &Path, text: &str, format: TextFormat) -> Result<Fingerprint, String> {
    let target = resolve_symlinks(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} is not a file name", path.display()))?;
    // The writer (or a tool) made the file read-only: the atomic rename would replace it all
    // the same, and root ignores permission bits, so this is checked here.
    if fs::metadata(&target).is_ok_and(|m| m.permissions().readonly()) {
        return Err(format!(
            "not saved: {} is read-only (no write permission). Your text is still here; save \
             elsewhere (save as), or make it writable (chmod u+w) and save again",
            path.display()
        ));
    }
    let temp = dir.join(format!(".{name}.quill-{}.tmp", std::process::id()));
    let bytes = encode(text, &format);
    let result = write_temp(&temp, &target, &bytes)
        .and_then(|()| fs::rename(&temp, &target))
        .and_then(|()| File::open(&dir)?.sync_all());
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(describe_save_error(path, &e));
    }
    let modified = fs::metadata(&target).and_then(|m| m.modified()).ok();
    Ok(Fingerprint::of_bytes(&bytes, modified))
}

fn write_temp(temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    if let Ok(meta) = fs::metadata(target) {
        file.set_permissions(meta.permissions())?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

fn resolve_symlinks(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

fn describe_save_error(path: &Path, e: &io::Error) -> String {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| ".".to_string(), |p| p.display().to_string());
    let (what, advice) = match e.raw_os_error() {
        Some(libc::ENOSPC) => (
            "the disk is full".to_string(),
            "free some space or save elsewhere (save as)",
        ),
        Some(libc::EDQUOT) => (
            "the disk quota is exceeded".to_string(),
            "free some space or save elsewhere (save as)",
        ),
        Some(libc::EROFS) => (
            "the file system is read-only".to_string(),
            "save elsewhere (save as)",
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            ("permission denied".to_string(), "save elsewhere (save as)")
        }
        Some(libc::EIO) => (
            "the disk reported an input/output error".to_string(),
            "save elsewhere (save as), and check the disk: it or its connection may be failing",
        ),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => (
            format!("the folder {folder} is no longer there (moved or deleted)"),
            "save elsewhere (save as), or put the folder back and save again",
        ),
        _ => (e.to_string(), "save elsewhere (save as)"),
    };
    // Short enough for a status bar: the reason first, then what to do.
    format!(
        "not saved: {what}. {} is unchanged and your text is still here; {advice}",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn crlf_and_bom_survive_a_round_trip() {
        let bytes = "\u{feff}line one\r\n第二行\r\n".as_bytes().to_vec();
        let (text, format) = decode(String::from_utf8(bytes.clone()).unwrap());
        assert_eq!(text, "line one\n第二行\n");
        assert_eq!(
            format,
            TextFormat {
                crlf: true,
                mixed: None,
                bom: true,
                no_final_newline: false,
            }
        );
        assert_eq!(encode(&text, &format), bytes);
    }

    #[test]
    fn mixed_line_breaks_round_trip_byte_for_byte_and_edits_take_the_usual_one() {
        let bytes = "one\r\ntwo\r\nthree\nfour\r\n五\r\nsix\n"
            .as_bytes()
            .to_vec();
        let (text, format) = decode(String::from_utf8(bytes.clone()).unwrap());
        assert_eq!(text, "one\ntwo\nthree\nfour\n五\nsix\n");
        assert!(format.crlf && format.mixed.is_some());
        assert_eq!(encode(&text, &format), bytes);
        // A line added, one changed, one removed: the untouched keep theirs, the new and the
        // changed take CRLF, the file's usual break.
        let edited = "zero\none\ntwo\nthree\nFOUR\nsix\n";
        assert_eq!(
            String::from_utf8(encode(edited, &format)).unwrap(),
            "zero\r\none\r\ntwo\r\nthree\nFOUR\r\nsix\n"
        );
        // Mostly LF with one CRLF: the same, the other way round.
        let bytes = b"a\nb\r\nc\nd\n".to_vec();
        let (text, format) = decode(String::from_utf8(bytes.clone()).unwrap());
        assert!(!format.crlf && format.mixed.is_some());
        assert_eq!(encode(&text, &format), bytes);
        assert_eq!(encode(&format!("{text}e\n"), &format), b"a\nb\r\nc\nd\ne\n");
    }

    #[test]
    fn a_saved_text_ends_with_a_line_break_unless_its_file_had_none() {
        // A new file, or one that ended with a line break: the line break is there on disk.
        assert_eq!(encode("last line", &TextFormat::default()), b"last line\n");
        let (text, format) = decode("a\r\nb\r\n".into());
        assert_eq!(
            encode(&format!("{text}more"), &format),
            b"a\r\nb\r\nmore\r\n"
        );
        // A file without one is written back without one, byte for byte.
        let (text, format) = decode("no break at the end".into());
        assert!(format.no_final_newline);
        assert_eq!(encode(&text, &format), b"no break at the end");
        assert_eq!(encode("", &TextFormat::default()), b"");
    }

    #[test]
    fn binary_and_invalid_utf8_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("a.png");
        fs::write(&binary, b"\x89PNG\r\n\x1a\n\0\0").unwrap();
        assert!(matches!(load(&binary), Err(LoadError::Binary(_))));
        let latin1 = dir.path().join("b.txt");
        fs::write(&latin1, b"caf\xe9").unwrap();
        assert!(matches!(
            load(&latin1),
            Err(LoadError::NotUtf8 { offset: 3, .. })
        ));
        assert!(matches!(
            load(&dir.path().join("none")),
            Err(LoadError::NotFound)
        ));
        // Never read forever, never mistaken for a draft.
        for not_a_file in [Path::new("/dev/zero"), dir.path()] {
            assert!(
                matches!(load(not_a_file), Err(LoadError::NotAFile(_))),
                "{}",
                not_a_file.display()
            );
        }
    }

    #[test]
    fn save_replaces_atomically_keeping_permissions_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.md");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        save(&link, "新的文字\n", TextFormat::default()).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "新的文字\n");
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "a temp file was left behind");
    }

    #[test]
    fn a_file_without_write_permission_is_refused_for_root_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frozen.md");
        fs::write(&path, "keep").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        let message = save(&path, "new", TextFormat::default()).unwrap_err();
        assert!(message.contains("read-only"), "{message}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // Made writable again, it saves.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        save(&path, "new\n", TextFormat::default()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
    }

    /// A tiny tmpfs filled to the brim: the save must fail with ENOSPC and change nothing.
    /// Mounting needs root (as in CI); elsewhere the test says so and passes.
    #[test]
    fn a_save_onto_a_full_disk_leaves_the_original_intact() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=32k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            // A check that did not run must not pass in CI (see tests/common).
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and a tmpfs cannot be mounted here"
            );
            eprintln!("SKIPPED (not a pass): cannot mount a tmpfs here (not root)");
            return;
        }
        let path = dir.path().join("draft.md");
        fs::write(&path, "original").unwrap();
        // Fill the file system.
        let filler = dir.path().join("filler");
        let _ = fs::write(&filler, vec![b'x'; 64 * 1024]);
        let result = save(&path, &"new text ".repeat(4000), TextFormat::default());
        let original = fs::read_to_string(&path).unwrap();
        let entries = fs::read_dir(dir.path()).unwrap().count();
        let _ = std::process::Command::new("umount")
            .arg(dir.path())
            .status();
        let message = result.expect_err("the save cannot fit");
        assert!(message.contains("disk is full"), "{message}");
        assert!(message.contains("unchanged"), "{message}");
        assert_eq!(original, "original");
        assert_eq!(entries, 2, "the temp file was left behind");
    }
}
