//! `quill model`: the GGUF models in the data directory and the one the config names. What each
//! is (read from its GGUF header, never loading its weights), which one is in use, and adding,
//! choosing and removing them without opening config.toml or a file manager.

pub mod pull;
pub mod tokenizer;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{SettingValue, write_setting};
use crate::engine::llama::gguf;
use crate::engine::model_file;
use crate::headless::{Failure, Settings};

/// What a model's GGUF header says about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFacts {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub architecture: Option<String>,
    pub quantisation: Option<String>,
    pub context_length: Option<u64>,
    pub chat_template: bool,
    /// Why the header could not be read; the other facts are then unknown.
    pub problem: Option<String>,
}

/// Reads `path`'s GGUF header. A file that is not a readable GGUF gets its facts as unknown
/// and the reason in `problem`, so one bad file does not hide the others from a listing.
pub fn inspect(path: &Path) -> ModelFacts {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let mut facts = ModelFacts {
        name,
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        architecture: None,
        quantisation: None,
        context_length: None,
        chat_template: false,
        problem: None,
    };
    if let Err(e) = model_file::check(path) {
        facts.problem = Some(e.to_string());
        return facts;
    }
    let Some(header) = gguf::read_header(path) else {
        facts.problem = Some(
            "its GGUF header is damaged or of an unknown version (the file may be cut short)"
                .into(),
        );
        return facts;
    };
    facts.architecture = header.architecture;
    facts.quantisation = header.file_type.map(model_file::file_type_name);
    facts.context_length = header.context_length;
    facts.chat_template = header.chat_template;
    facts
}

/// The models folder's GGUF files (by name), then the configured model when it lives elsewhere.
pub fn list(settings: &Settings) -> Vec<(ModelFacts, bool)> {
    let dir = settings.paths.models_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
                })
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    // The configured path itself when it is listed; else whatever leads to the same file (two
    // links to one file are both the model in use only when neither is the configured path).
    let in_use: Box<dyn Fn(&Path) -> bool> = if paths.contains(&settings.model) {
        Box::new(|p| p == settings.model)
    } else {
        let target = canonical(&settings.model);
        Box::new(move |p| canonical(p) == target)
    };
    if !paths.iter().any(|p| in_use(p)) {
        paths.push(settings.model.clone());
    }
    paths.iter().map(|p| (inspect(p), in_use(p))).collect()
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The models as a table: a row each, columns as wide as their widest cell.
fn print_table(rows: &[(ModelFacts, bool)]) {
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|(f, in_use)| {
            let unknown = || "?".to_string();
            [
                format!("{} {}", if *in_use { "*" } else { " " }, f.name),
                match (&f.problem, f.bytes) {
                    (Some(_), 0) => unknown(),
                    (_, bytes) => human_bytes(bytes),
                },
                f.architecture.clone().unwrap_or_else(unknown),
                f.quantisation.clone().unwrap_or_else(unknown),
                f.context_length.map_or_else(unknown, |n| n.to_string()),
                match (&f.problem, f.chat_template) {
                    (Some(_), _) => unknown(),
                    (None, true) => "yes".into(),
                    (None, false) => "no".into(),
                },
                match &f.problem {
                    Some(problem) => format!("{}: {problem}", f.path.display()),
                    None => f.path.display().to_string(),
                },
            ]
        })
        .collect();
    let head = ["  name", "size", "arch", "quant", "context", "chat", "path"];
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| unicode_width::UnicodeWidthStr::width(row[i].as_str()))
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| {
                let pad =
                    width.saturating_sub(unicode_width::UnicodeWidthStr::width(cell.as_str()));
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    println!("{}", line(&head.map(String::from)));
    for row in &cells {
        println!("{}", line(row));
    }
}

/// `quill model list`: a table, or JSON.
pub fn print_list(settings: &Settings, json: bool) -> Result<(), Failure> {
    let rows = list(settings);
    if json {
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            facts: &'a ModelFacts,
            in_use: bool,
        }
        let rows: Vec<Row> = rows
            .iter()
            .map(|(facts, in_use)| Row {
                facts,
                in_use: *in_use,
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    print_table(&rows);
    println!(
        "\n* in use (set by {}). Models folder: {}",
        model_source(settings),
        settings.paths.models_dir().display()
    );
    if let Some((facts, _)) = rows
        .iter()
        .find(|(f, in_use)| *in_use && f.problem.is_some())
    {
        let fix = if settings.config.model.trim().is_empty() {
            "`make model` fetches the default one".to_string()
        } else {
            format!(
                "`quill model use NAME` chooses another (the model = line of {} names this one)",
                settings.config_file.display()
            )
        };
        println!("The model in use, {}, cannot be loaded: {fix}.", facts.name);
    }
    Ok(())
}

fn model_source(settings: &Settings) -> String {
    if settings.config.model.trim().is_empty() {
        "default".into()
    } else {
        format!("model = in {}", settings.config_file.display())
    }
}

/// `quill model tokenizer`: the model's tokenizer.json to `output`, or to stdout.
pub fn write_tokenizer(
    settings: &Settings,
    name: &str,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let path = resolve(settings, name)?;
    let json = tokenizer::tokenizer_json(&path).map_err(Failure::bad_input)?;
    match output {
        Some(out) => {
            // Written beside, then renamed: a full disk leaves no half a file behind.
            let partial = out.with_extension("json.partial");
            std::fs::write(&partial, json)
                .and_then(|()| std::fs::rename(&partial, out))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&partial);
                    Failure::bad_input(format!("cannot write {}: {e}", out.display()))
                })?;
            eprintln!(
                "quill: wrote {}; set [engine] tokenizer = \"{}\" for exact token counts",
                out.display(),
                out.display()
            );
            Ok(())
        }
        None => {
            println!("{json}");
            Ok(())
        }
    }
}

/// A model the writer named: a file in the models folder (with or without `.gguf`), else a path.
pub fn resolve(settings: &Settings, name: &str) -> Result<PathBuf, Failure> {
    let dir = settings.paths.models_dir();
    let plain = !name.contains(std::path::MAIN_SEPARATOR) && !name.starts_with('~');
    if plain {
        for candidate in [dir.join(name), dir.join(format!("{name}.gguf"))] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let path = crate::paths::expand_home(name);
    if path.is_file() {
        return Ok(std::path::absolute(&path).unwrap_or(path));
    }
    Err(Failure::bad_input(format!(
        "no model called {name:?} in {} and no file at that path: `quill model list` shows the \
         models there, `quill model add PATH` brings one in",
        dir.display()
    )))
}

/// `quill model use NAME|PATH`: checks the model and writes `model = "…"` into the config file,
/// keeping the rest of it as it was.
pub fn use_model(settings: &Settings, name: &str) -> Result<(), Failure> {
    let path = resolve(settings, name)?;
    let facts = inspect(&path);
    if let Some(problem) = &facts.problem {
        return Err(Failure::bad_input(format!(
            "{} cannot be used: {problem}",
            path.display()
        )));
    }
    let value = SettingValue::Str(path.display().to_string());
    write_setting(&settings.config_file, &["model".to_string()], &value)
        .map_err(Failure::bad_input)?;
    println!(
        "model = {:?} written to {}: {}",
        path.display().to_string(),
        settings.config_file.display(),
        describe(&facts)
    );
    Ok(())
}

fn describe(f: &ModelFacts) -> String {
    format!(
        "{}, {}, {}, {} tokens of context{}",
        human_bytes(f.bytes),
        f.architecture.as_deref().unwrap_or("unknown architecture"),
        f.quantisation.as_deref().unwrap_or("unknown quantisation"),
        f.context_length
            .map_or_else(|| "?".into(), |n| n.to_string()),
        if f.chat_template {
            ", chat template"
        } else {
            ", no chat template (chat prompts fall back to plain text)"
        }
    )
}

/// `quill model add PATH`: copies (or with `link`, links) a GGUF into the models folder, after
/// checking that it is one and that the disk has room. The copy is written beside its final
/// name and renamed into place, so an interrupted or failed copy never leaves half a model
/// under a name `list` shows.
pub fn add(
    settings: &Settings,
    source: &Path,
    name: Option<&str>,
    link: bool,
) -> Result<(), Failure> {
    let facts = inspect(source);
    if let Some(problem) = &facts.problem {
        return Err(Failure::bad_input(format!(
            "{} was not added: {problem}",
            source.display()
        )));
    }
    let dest = new_destination(settings, name.unwrap_or(&facts.name))?;
    let name = dest
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let dir = settings.paths.models_dir();
    let source = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    if link {
        std::os::unix::fs::symlink(&source, &dest)
            .map_err(|e| Failure::bad_input(format!("cannot link {}: {e}", dest.display())))?;
        println!("linked {} -> {}", dest.display(), source.display());
        return Ok(());
    }
    if let Some(free) = free_bytes(&dir)
        && free < facts.bytes
    {
        return Err(Failure::bad_input(format!(
            "{} has {} free and {} needs {}: free some space, or add it with --link to use it \
             where it is",
            dir.display(),
            human_bytes(free),
            facts.name,
            human_bytes(facts.bytes)
        )));
    }
    let partial = dir.join(format!(".{name}.partial"));
    let copied = copy_synced(&source, &partial).and_then(|()| std::fs::rename(&partial, &dest));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(Failure::bad_input(format!(
            "copying {} to {} failed: {e}; nothing was added",
            source.display(),
            dir.display()
        )));
    }
    println!("added {}: {}", dest.display(), describe(&facts));
    Ok(())
}

/// Where a new model called `name` (`.gguf` added when missing) goes in the models folder,
/// which is made if need be. Refused: a name that is not a plain file name, and one taken.
fn new_destination(settings: &Settings, name: &str) -> Result<PathBuf, Failure> {
    let name = if name.ends_with(".gguf") {
        name.to_string()
    } else {
        format!("{name}.gguf")
    };
    if name.contains(std::path::MAIN_SEPARATOR) || name.starts_with('.') {
        return Err(Failure::bad_input(format!(
            "{name:?} is not a file name: give --name a plain name"
        )));
    }
    let dir = settings.paths.models_dir();
    let dest = dir.join(&name);
    if dest.symlink_metadata().is_ok() {
        return Err(Failure::bad_input(format!(
            "{} is already there: `quill model use {name}` uses it; give this one another name              with --name, or remove that one first with `quill model rm {name}`",
            dest.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::bad_input(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dest)
}

fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut reader = std::fs::File::open(from)?;
    let mut writer = std::fs::File::create(to)?;
    std::io::copy(&mut reader, &mut writer)?;
    writer.sync_all()
}

/// Bytes free to an unprivileged writer on `dir`'s file system; None where it cannot be read.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stat` a valid out-pointer for the call.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    // The fields' types differ between platforms (u32 on some): widen them all.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.f_bavail) * u64::from(stat.f_frsize);
    (rc == 0).then_some(free)
}

/// `quill model rm NAME`: removes a model from the models folder after asking (`yes` skips the
/// question). The model in use is refused: the next start would have none.
pub fn remove(
    settings: &Settings,
    name: &str,
    yes: bool,
    input: &mut dyn BufRead,
) -> Result<(), Failure> {
    let dir = settings.paths.models_dir();
    let path = [dir.join(name), dir.join(format!("{name}.gguf"))]
        .into_iter()
        .find(|p| p.symlink_metadata().is_ok() && !name.contains(std::path::MAIN_SEPARATOR))
        .ok_or_else(|| {
            Failure::bad_input(format!(
                "no model called {name:?} in {}: `quill model list` shows them (only models \
                 in that folder can be removed here)",
                dir.display()
            ))
        })?;
    let is_link = path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink());
    // The configured path, or the file itself that it leads to (a link to it may go: the file
    // stays).
    if path == settings.model || (!is_link && canonical(&path) == canonical(&settings.model)) {
        return Err(Failure::bad_input(format!(
            "{name} is the model in use ({}): choose another first with `quill model use NAME`",
            model_source(settings)
        )));
    }
    let what = if is_link {
        format!("the link {} (the file it points to stays)", path.display())
    } else {
        format!(
            "{} ({})",
            path.display(),
            human_bytes(std::fs::metadata(&path).map_or(0, |m| m.len()))
        )
    };
    if !yes {
        eprint!("remove {what}? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = input.read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            eprintln!("kept {}", path.display());
            return Ok(());
        }
    }
    std::fs::remove_file(&path)
        .map_err(|e| Failure::bad_input(format!("cannot remove {}: {e}", path.display())))?;
    println!("removed {what}");
    Ok(())
}

/// 98362432 -> "93.8 MiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_would_say_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(98_362_432), "93.8 MiB");
        assert_eq!(human_bytes(4_920_000_000), "4.6 GiB");
    }

    #[test]
    fn a_file_that_is_not_a_gguf_is_described_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.gguf");
        std::fs::write(&text, "just some words").unwrap();
        let facts = inspect(&text);
        assert!(
            facts
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("not a GGUF")),
            "{facts:?}"
        );
        // The magic alone, then nothing: a header cut short.
        let cut = dir.path().join("cut.gguf");
        std::fs::write(&cut, b"GGUF\x03\x00\x00\x00\xff").unwrap();
        let facts = inspect(&cut);
        assert!(
            facts
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("damaged")),
            "{facts:?}"
        );
        assert_eq!(facts.architecture, None);
    }
}
