//! Headless actions: file or stdin -> prompt -> engine -> stdout, streamed token by token.
//! The same prompts and engine as the editor. Exit codes: 2 bad input, 3 the engine failed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::engine::protocol::{
    Event, GenerateOptions, GenerationStats, JobId, LoadParams, ModelInfo, Prompt, Request,
    SamplingParams,
};
use crate::engine::{Client, Engine, Engines, ModelLoadError, WorkerCommand, model_file};
use crate::paths::Paths;
use crate::plan::{Layers, Plan, plan};
use crate::prompt::{PromptInput, PromptLibrary, check_name};
use crate::sampling::Sampling;
use crate::sanitize::strip_controls;
use crate::suggestion::{Finished, Suggestion, Target, VariantState};

pub mod article;

pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_ENGINE: i32 = 3;

/// A worker that sends nothing for this long during a generation is considered hung.
const WATCHDOG: Duration = Duration::from_secs(120);
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// What to do when a GPU build finds no CPU backend module.
pub const NO_BACKEND_FIX: &str = "Keep the libggml-*.so files that scripts/build-gpu puts beside \
     quill with it (or name their folder in QUILL_BACKENDS_DIR), or rebuild with scripts/build-gpu";
const MODEL_HINT: &str = "Get the default model with `make model` (scripts/fetch-model), or \
                          pass --model PATH to a GGUF file, or set model = \"...\" in config.toml.";

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_BAD_INPUT,
            message: message.into(),
        }
    }

    pub fn engine(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ENGINE,
            message: message.into(),
        }
    }
}

/// Everything a headless action needs besides its input.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub paths: Paths,
    pub model: PathBuf,
    /// A problem with the config file (its defaults are used instead).
    pub warning: Option<String>,
    pub config_file: PathBuf,
}

impl Settings {
    /// The built-in prompts with the writer's own over them; warnings go to stderr.
    pub fn prompt_library(&self) -> PromptLibrary {
        let (library, warnings) = PromptLibrary::load(Some(&self.templates_dir()));
        for warning in warnings {
            eprintln!("quill: warning: {warning}");
        }
        library
    }

    /// The writer's style guide, `style.md` beside the config file in use; empty when there
    /// is none, and a warning on stderr when it cannot be read.
    pub fn style_guide(&self) -> String {
        let path = self
            .config_file
            .parent()
            .map_or_else(|| self.paths.config_dir.clone(), Path::to_path_buf)
            .join("style.md");
        crate::article::context::read_style(&path).unwrap_or_else(|warning| {
            eprintln!("quill: warning: {warning}");
            String::new()
        })
    }

    /// The writer's templates: a `templates/` folder beside the config file in use.
    pub fn templates_dir(&self) -> PathBuf {
        self.config_file
            .parent()
            .map_or_else(|| self.paths.config_dir.clone(), Path::to_path_buf)
            .join("templates")
    }
}

/// Per-run overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// This run's layer of sampling settings (--temperature, --max-tokens, --seed, --variants).
    pub sampling: Sampling,
    pub stats: bool,
    /// Unfinished output, streamed (see `prompt::finish`).
    pub raw: bool,
    /// The answer's language over the config's.
    pub language: Option<String>,
    pub ctx_size: Option<u32>,
    pub threads: Option<u32>,
}

/// Reads the whole input as UTF-8 text; `None` or `-` is standard input.
pub fn read_input(file: Option<&Path>) -> Result<String, Failure> {
    let (bytes, name) = match file {
        Some(path) if path != Path::new("-") => {
            // A device could be read forever and a folder is no text; a pipe (`<(cmd)`) ends.
            if std::fs::metadata(path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                !(m.is_file() || m.file_type().is_fifo())
            }) {
                return Err(Failure::bad_input(format!(
                    "{} is not a text file (a folder or a device); give Quill a text file, or - \
                     to read standard input",
                    path.display()
                )));
            }
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::bad_input(format!("cannot read {}: {e}", path.display())))?;
            (bytes, path.display().to_string())
        }
        _ => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("quill: reading the text from standard input (end with Ctrl-D)");
            }
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::bad_input(format!("cannot read standard input: {e}")))?;
            (bytes, "standard input".to_string())
        }
    };
    if bytes.contains(&0) {
        return Err(Failure::bad_input(format!(
            "{name} looks like a binary file (it contains NUL bytes); give Quill a text file"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure::bad_input(format!(
            "{name} is not valid UTF-8 (first bad byte at offset {}); convert it first, for \
             example with iconv",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
    if text.trim().is_empty() {
        return Err(Failure::bad_input(format!(
            "{name} is empty: there is no text to work on"
        )));
    }
    Ok(text)
}

/// Starts a worker and loads the model, mapping each failure to its exit code.
pub fn start_engine(
    settings: &Settings,
    options: &RunOptions,
) -> Result<(Client, ModelInfo), Failure> {
    let params = load_params(settings, options);
    let remote = params.remote.is_some();
    let command =
        WorkerCommand::current_exe(settings.paths.worker_log(), &settings.paths.tuning_file())
            .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let engines = Engines::new(command);
    if remote {
        // A server's problems are the engine's: exit code 3, like a crashed worker.
        engines.check(&params).map_err(Failure::engine)?;
    } else if let Err(e) = model_file::check(&settings.model) {
        return Err(Failure::bad_input(format!("{e}. {MODEL_HINT}")));
    }
    let mut engine = Client::start(&engines).map_err(|e| Failure::engine(format!("{e:#}")))?;
    match engine.load(params, LOAD_TIMEOUT) {
        Ok(info) => {
            for warning in engine.take_warnings() {
                eprintln!("quill: warning: {warning}");
            }
            Ok((engine, info))
        }
        Err(ModelLoadError::Rejected(reason)) if remote => Err(Failure::engine(reason)),
        Err(ModelLoadError::NoBackend(reason)) => {
            Err(Failure::engine(format!("{reason}. {NO_BACKEND_FIX}")))
        }
        Err(ModelLoadError::Rejected(reason)) => {
            Err(Failure::bad_input(format!("{reason}. {MODEL_HINT}")))
        }
        // An instruction this CPU refuses is the build's fault, not the file's.
        Err(ModelLoadError::Died(exit)) if exit.advice().is_some() => {
            Err(Failure::engine(format!(
                "the engine crashed while loading the model ({exit}): {}",
                exit.advice().unwrap_or_default()
            )))
        }
        // Any other crash while loading is almost always a damaged file, which is bad input.
        Err(ModelLoadError::Died(exit)) => Err(Failure::bad_input(format!(
            "cannot load {}: the engine crashed ({exit}). The file may be corrupt or truncated. \
             {MODEL_HINT}",
            settings.model.display()
        ))),
        Err(ModelLoadError::Crashed(reason)) => Err(Failure::bad_input(format!(
            "cannot load {}: {reason}. The file may be corrupt or truncated. {MODEL_HINT}",
            settings.model.display()
        ))),
    }
}

pub fn load_params(settings: &Settings, options: &RunOptions) -> LoadParams {
    let mut params = settings.config.load_params(settings.model.clone());
    if let Some(n) = options.ctx_size {
        params.n_ctx = n;
    }
    if let Some(n) = options.threads {
        params.n_threads = n;
    }
    params
}

/// Runs a prompt of the library (the writer's own file of the same name replaces a built-in,
/// as in the editor) over the input and streams the answer to stdout.
pub fn run_action(
    prompt_id: &str,
    values: &BTreeMap<String, String>,
    file: Option<&Path>,
    settings: &Settings,
    options: &RunOptions,
) -> Result<(), Failure> {
    let text = read_input(file)?;
    let library = settings.prompt_library();
    let template = library
        .get(prompt_id)
        .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
    let title = file
        .and_then(|f| f.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (text, brief) = split_brief(&text, settings);
    // Headless, the cursor is at the end of the input and the whole input is the selection.
    let input = PromptInput {
        selection: text.clone(),
        before: text.clone(),
        after: String::new(),
        document: text,
        title,
        brief,
    };
    let plan = plan_for(template, &input, values, settings, options)?;
    let (mut engine, _info) = start_engine(settings, options)?;
    run_variants(&mut engine, plan, options.stats)
}

/// The input without its front matter, and the brief it holds with the writer's style guide
/// as prompts carry them. A front matter that does not parse is said on stderr (with its line)
/// and left out of both: it is the draft's metadata, not its text.
pub fn split_brief(text: &str, settings: &Settings) -> (String, String) {
    use crate::article::context;
    use crate::document::front_matter;
    let body = text[front_matter::block_len(text)..].to_string();
    let brief = match front_matter::parse(text) {
        Ok(brief) => brief.unwrap_or_default(),
        Err(e) => {
            eprintln!("quill: warning: {e}; the brief is left out until it is fixed");
            Default::default()
        }
    };
    let style = settings.style_guide();
    let body = if body.trim().is_empty() {
        text.to_string()
    } else {
        body
    };
    (
        body,
        context::guidance(&brief, &style, context::BRIEF_TOKENS).text,
    )
}

/// The request for `template`: the config's sampling under the prompt's, the command line's
/// over both; one variant unless the prompt or `--variants` says otherwise.
fn plan_for(
    template: &crate::prompt::PromptTemplate,
    input: &PromptInput,
    values: &BTreeMap<String, String>,
    settings: &Settings,
    options: &RunOptions,
) -> Result<Plan, Failure> {
    let layers = Layers {
        settings: &settings.config.sampling,
        overrides: &options.sampling,
        default_variants: 1,
        raw: options.raw,
        language: options
            .language
            .as_deref()
            .unwrap_or(&settings.config.language),
        n_ctx: Some(options.ctx_size.unwrap_or(settings.config.engine.n_ctx)),
    };
    plan(template, input, values, layers).map_err(|e| Failure::bad_input(format!("{e:#}")))
}

/// Generates the plan's variants with the editor's own policy (`Suggestion`), finished (see
/// `prompt::finish`), refused ones made up for, and what was done said on stderr. One
/// continuation streams sentence by sentence as it settles; other answers are printed once
/// finished; `--raw` streams the model's text as it comes. Several variants get
/// `--- variant k ---` lines.
fn run_variants(engine: &mut Client, plan: Plan, stats: bool) -> Result<(), Failure> {
    let mut suggestion = Suggestion::from_plan(plan, headless_target());
    let many = suggestion.wanted > 1;
    // A variant streamed could still be refused (a duplicate): several are printed whole.
    let streams = !many || suggestion.finishing.raw;
    let mut out = std::io::stdout().lock();
    let mut runs = Vec::new();
    let mut job = 0;
    while suggestion.wants_more() {
        if let Some(parts) = suggestion.parts.as_ref().filter(|p| p.in_progress()) {
            eprintln!(
                "quill: the text is too long to read at once: summarising part {} of {}",
                parts.current(),
                parts.total
            );
        }
        // Variants side by side come at once, interleaved: each is printed when it ends.
        let mut streams_now = None;
        let mut printed = String::new();
        let mut headed = false;
        let ends = answer_round(engine, &mut suggestion, &mut job, &mut |s, count| {
            let streams = *streams_now.get_or_insert(streams && count == 1);
            if many && streams && !std::mem::replace(&mut headed, true) {
                write_out(&mut out, &format!("--- variant {} ---\n", runs.len() + 1))?;
            }
            if streams && let Some(text) = s.variants.last().map(|v| &v.text) {
                let settled = s.finishing.settled(text);
                let shown = printed.len();
                if settled > shown {
                    let piece = &text.trim_start()[shown..settled];
                    write_out(&mut out, piece)?;
                    printed.push_str(piece);
                }
            }
            Ok(())
        })?;
        for end in ends {
            let Some(variant) = end.kept.and_then(|i| suggestion.variants.get(i)) else {
                if !printed.is_empty() {
                    write_out(&mut out, "\n")?;
                }
                continue;
            };
            if many && !streams_now.unwrap_or(false) {
                write_out(&mut out, &format!("--- variant {} ---\n", runs.len() + 1))?;
            }
            match variant.text.trim_start().strip_prefix(printed.as_str()) {
                Some(rest) => write_out(&mut out, &format!("{rest}\n"))?,
                // Finishing never takes back what it let through; should it, the whole text
                // follows on a line of its own rather than a garbled join.
                None => write_out(&mut out, &format!("\n{}\n", variant.text))?,
            }
            for note in &variant.notes {
                eprintln!("quill: variant {}: {note}", runs.len() + 1);
            }
            // A variant made in pieces has the stats of all of them.
            runs.push(match &variant.state {
                VariantState::Done(stats) => stats.clone(),
                _ => end.run.stats,
            });
        }
    }
    if suggestion.dropped > 0 {
        eprintln!(
            "quill: {} of {} variants kept; {} dropped and asked again with other seeds ({})",
            runs.len(),
            suggestion.wanted,
            suggestion.dropped,
            suggestion.refusal_summary()
        );
    }
    if runs.is_empty() {
        return Err(Failure::engine(no_usable_answer(&suggestion)));
    }
    if stats {
        let mut summary = StatsSummary::from_runs(&runs);
        summary.parts = suggestion.parts.as_ref().map(|p| PartsRead {
            count: p.total,
            prompt_tokens: p.read_tokens,
            dropped_tokens: p.dropped_tokens,
        });
        eprintln!("{}", serde_json::to_string(&summary).unwrap_or_default());
    }
    Ok(())
}

/// What a headless answer is for: nothing in a draft to check against.
pub fn headless_target() -> Target {
    Target::Insert {
        at: 0,
        context: String::new(),
        after: String::new(),
    }
}

/// Said plainly when every try was refused: what came, and what to do.
pub fn no_usable_answer(suggestion: &Suggestion) -> String {
    let why = suggestion.refusal_summary();
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" (every answer was refused: {why})")
    };
    format!(
        "the model gave no usable answer{why}; try again, select less text, pick another \
         model (quill model list), or use --raw to see what it wrote"
    )
}

/// One job of a round as it ended: its run, and the variant it filled when kept.
pub struct RoundEnd {
    pub run: JobRun,
    pub kept: Option<usize>,
}

/// Asks for `suggestion`'s next request (a part of a long text, or one or more variants side
/// by side) under the jobs after `*job`, streams the text into it, and finishes each answer.
/// `on_piece` is called after each piece with the suggestion and the round's variant count.
pub fn answer_round(
    engine: &mut Client,
    suggestion: &mut Suggestion,
    job: &mut JobId,
    on_piece: &mut dyn FnMut(&Suggestion, u32) -> Result<(), Failure>,
) -> Result<Vec<RoundEnd>, Failure> {
    let first = *job + 1;
    let (prompt, sampling, count) = suggestion.start(first);
    *job += u64::from(count);
    let options = GenerateOptions {
        variants: count,
        ..GenerateOptions::default()
    };
    let ended = stream_jobs(
        engine,
        first,
        &prompt,
        &sampling,
        options,
        &mut |k, piece| {
            let id = first + k as JobId;
            suggestion.push_text(id, piece);
            on_piece(suggestion, count)?;
            Ok(!suggestion.should_stop(id))
        },
    )?;
    let mut ends = Vec::with_capacity(ended.len());
    for (k, run) in ended.into_iter().enumerate() {
        let id = first + k as JobId;
        let index = suggestion.variant_of(id);
        let kept = suggestion.finish(id, VariantState::Done(run.stats.clone())) == Finished::Kept;
        ends.push(RoundEnd {
            run,
            kept: index.filter(|_| kept),
        });
    }
    Ok(ends)
}

fn write_out(out: &mut impl Write, text: &str) -> Result<(), Failure> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // The reader went away (`quill continue | head -1`): stop quietly, like other filters.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::engine(format!("cannot write the output: {e}"))),
    }
}

/// `quill template list`: every template, built-in and the user's, a line each.
pub fn template_list(library: &PromptLibrary) {
    let mut out = std::io::stdout().lock();
    for t in library.iter() {
        let _ = writeln!(out, "{:<20} {:<34} {}", t.id, t.name, t.description);
    }
}

/// `quill template show NAME`: what a template asks for and what it makes.
pub fn template_show(library: &PromptLibrary, name: &str) -> Result<(), Failure> {
    let t = library
        .get(name)
        .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
    let mut text = format!("{} ({})\n{}\n\nfields:\n", t.name, t.id, t.description);
    if t.fields.is_empty() {
        text.push_str("  (none)\n");
    }
    for f in &t.fields {
        text.push_str(&format!("  {}", f.name));
        if let Some(label) = &f.label {
            text.push_str(&format!(" - {label}"));
        }
        if f.required {
            text.push_str(" [required]");
        }
        if let Some(d) = f.default.as_ref().filter(|d| !d.is_empty()) {
            text.push_str(&format!(" [default: {d}]"));
        }
        if let Some(c) = &f.choices {
            text.push_str(&format!(" [one of: {}]", c.join(", ")));
        }
        text.push('\n');
    }
    if let Some(max) = t.max_chars {
        text.push_str(&format!("max_chars: {max}\n"));
    }
    text.push_str(&format!(
        "variants: {}\n\ntemplate:\n{}\n",
        t.variants.unwrap_or(1),
        t.template
    ));
    if let Some(prefill) = &t.prefill {
        text.push_str(&format!("(the answer starts with {prefill:?})\n"));
    }
    write_out(&mut std::io::stdout().lock(), &strip_controls(&text))
}

/// `quill template run NAME --set field=value ...`: the variants, each within `max_chars`,
/// without duplicates; dropped ones are reported on stderr. `input`, if given, is the text the
/// template sees as `selection` and `document`.
pub fn template_run(
    library: &PromptLibrary,
    name: &str,
    sets: &[String],
    input: Option<&Path>,
    settings: &Settings,
    options: &RunOptions,
) -> Result<(), Failure> {
    check_name(name).map_err(Failure::bad_input)?;
    let template = library
        .get(name)
        .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
    let mut values = std::collections::BTreeMap::new();
    for set in sets {
        let (field, value) = set
            .split_once('=')
            .ok_or_else(|| Failure::bad_input(format!("--set {set:?}: write it as field=value")))?;
        values.insert(field.trim().to_string(), value.to_string());
    }
    let input = match input {
        Some(path) => {
            let text = read_input(Some(path))?;
            PromptInput {
                selection: text.clone(),
                before: text.clone(),
                document: text,
                title: path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                ..PromptInput::default()
            }
        }
        None => PromptInput::default(),
    };
    let plan = plan_for(template, &input, &values, settings, options)?;
    let (mut engine, _) = start_engine(settings, options)?;
    run_variants(&mut engine, plan, options.stats)
}

/// `quill template new NAME --from FILE`: the file's text becomes a template whose
/// `{{ name }}` placeholders are its fields. An existing template is replaced only with `force`.
pub fn template_new(
    library: &PromptLibrary,
    store: &crate::prompt::store::TemplateStore,
    name: &str,
    from: &Path,
    description: Option<&str>,
    force: bool,
) -> Result<(), Failure> {
    use crate::prompt::store::SaveError;
    check_name(name).map_err(Failure::bad_input)?;
    let text = read_input(Some(from))?;
    let mut template = crate::prompt::PromptTemplate::from_text(name, &text)
        .map_err(|e| Failure::bad_input(format!("{}: {e:#}", from.display())))?;
    if let Some(description) = description {
        template.description = description.to_string();
    }
    if !force && library.get(name).is_ok() {
        return Err(Failure::bad_input(format!(
            "a template named {name} exists already; pick another name or add --force to \
             replace it"
        )));
    }
    let toml = template
        .to_toml()
        .map_err(|e| Failure::bad_input(format!("{e:#}")))?;
    match store.save(name, &toml, force) {
        Ok(path) => {
            let fields: Vec<&str> = template.fields.iter().map(|f| f.name.as_str()).collect();
            let fields = if fields.is_empty() {
                "none".to_string()
            } else {
                fields.join(", ")
            };
            write_out(
                &mut std::io::stdout().lock(),
                &format!("saved {name} to {} (fields: {fields})\n", path.display()),
            )
        }
        Err(SaveError::Exists(path)) => Err(Failure::bad_input(format!(
            "{} exists already; pick another name or add --force to replace it",
            path.display()
        ))),
        Err(SaveError::Failed(reason)) => Err(Failure::bad_input(reason)),
    }
}

/// The outcome of one streamed generation.
pub struct JobRun {
    pub text: String,
    pub stats: GenerationStats,
    /// When the request was sent and when the first token and the end arrived (client side).
    pub sent: Instant,
    pub first_token: Option<Instant>,
    pub finished: Instant,
}

/// Sends one `Generate` and feeds its tokens to `on_text` until it finishes. A worker that dies
/// or falls silent past the watchdog is an engine failure, never a hang.
pub fn stream_job(
    engine: &mut Client,
    job: JobId,
    prompt: &Prompt,
    sampling: &SamplingParams,
    options: GenerateOptions,
    // Returns whether to go on; `false` cancels the job (its end still comes as usual).
    on_text: &mut dyn FnMut(&str) -> Result<bool, Failure>,
) -> Result<JobRun, Failure> {
    let options = GenerateOptions {
        variants: 1,
        ..options
    };
    let runs = stream_jobs(engine, job, prompt, sampling, options, &mut |_, text| {
        on_text(text)
    })?;
    runs.into_iter()
        .next()
        .ok_or_else(|| Failure::engine("the engine ended the job without an answer"))
}

/// Sends one `Generate` for `options.variants` variants side by side (job ids `job`,
/// `job + 1`, ...) and feeds each one's tokens to `on_text` with its index until all have
/// finished; their runs, in order. `on_text` returning false cancels that variant alone.
pub fn stream_jobs(
    engine: &mut Client,
    job: JobId,
    prompt: &Prompt,
    sampling: &SamplingParams,
    options: GenerateOptions,
    on_text: &mut dyn FnMut(usize, &str) -> Result<bool, Failure>,
) -> Result<Vec<JobRun>, Failure> {
    let count = options.variants.max(1) as usize;
    let sent = Instant::now();
    engine
        .send(&Request::Generate {
            job,
            prompt: prompt.clone(),
            sampling: sampling.clone(),
            options,
        })
        .map_err(|e| Failure::engine(format!("{e:#}")))?;
    let mut runs = Runs {
        texts: vec![String::new(); count],
        first_tokens: vec![None; count],
        cancelled: vec![false; count],
        ended: vec![None; count],
        reading_shown: false,
    };
    let index_of = |id: JobId| {
        id.checked_sub(job)
            .map(|k| k as usize)
            .filter(|&k| k < count)
    };
    while runs.ended.iter().any(Option::is_none) {
        let Some(event) = engine.recv_timeout(WATCHDOG) else {
            engine.kill();
            return Err(Failure::engine(format!(
                "the engine sent nothing for {} s and was stopped",
                WATCHDOG.as_secs()
            )));
        };
        let variant = event.job().map(index_of);
        if variant == Some(None) {
            continue; // a stale event of an earlier job
        }
        let variant = variant.flatten().unwrap_or(0);
        if let Some(cancel) = runs.on_event(event, variant, on_text)? {
            engine
                .send(&Request::Cancel {
                    job: job + cancel as JobId,
                })
                .map_err(|e| Failure::engine(format!("{e:#}")))?;
        }
    }
    Ok(runs
        .texts
        .into_iter()
        .zip(runs.first_tokens)
        .zip(runs.ended.into_iter().flatten())
        .map(|((text, first_token), (stats, finished))| JobRun {
            text,
            stats,
            sent,
            first_token,
            finished,
        })
        .collect())
}

/// The variants of one request as their events come.
struct Runs {
    texts: Vec<String>,
    first_tokens: Vec<Option<Instant>>,
    cancelled: Vec<bool>,
    ended: Vec<Option<(GenerationStats, Instant)>>,
    /// The prompt's reading progress is on stderr's last line, to be cleared.
    reading_shown: bool,
}

impl Runs {
    /// Takes one event of `variant`; the variant to cancel when `on_text` wants no more of it.
    fn on_event(
        &mut self,
        event: Event,
        variant: usize,
        on_text: &mut dyn FnMut(usize, &str) -> Result<bool, Failure>,
    ) -> Result<Option<usize>, Failure> {
        match event {
            Event::TokenGenerated { text: piece, .. } => {
                self.clear_reading();
                self.first_tokens[variant].get_or_insert_with(Instant::now);
                let cancel = !on_text(variant, &piece)? && !self.cancelled[variant];
                self.texts[variant].push_str(&piece);
                if cancel {
                    self.cancelled[variant] = true;
                    return Ok(Some(variant));
                }
            }
            Event::PromptRead {
                read,
                total,
                tokens_per_s,
                ..
            } => {
                // A long prompt takes a while: say how far it is, where a person watches.
                if std::io::stderr().is_terminal() {
                    eprint!(
                        "\rquill: reading the prompt: {read} of {total} tokens, {tokens_per_s:.0} t/s "
                    );
                    self.reading_shown = true;
                }
            }
            Event::GenerationFinished { stats, .. } => {
                self.clear_reading();
                self.ended[variant] = Some((stats, Instant::now()));
            }
            Event::GenerationFailed { reason, .. } => {
                return Err(Failure::engine(format!("generation failed: {reason}")));
            }
            Event::WorkerExited { exit } => {
                let advice = exit.advice().map(|a| format!(": {a}")).unwrap_or_default();
                return Err(Failure::engine(format!(
                    "the engine stopped during generation ({exit}){advice}"
                )));
            }
            Event::Warned { message } => eprintln!("quill: warning: {message}"),
            Event::ModelLoading { .. }
            | Event::ModelLoaded(_)
            | Event::ModelLoadFailed { .. }
            | Event::NoBackend { .. }
            | Event::Measuring
            | Event::SettingsChosen(_)
            | Event::SystemDescribed { .. } => {}
        }
        Ok(None)
    }

    fn clear_reading(&mut self) {
        if std::mem::take(&mut self.reading_shown) {
            eprint!("\r\x1b[K");
        }
    }
}

/// The `--stats` line: totals over all variants, rates from their sums.
#[derive(Debug, Serialize)]
struct StatsSummary {
    prompt_tokens: u32,
    reused_tokens: u32,
    dropped_tokens: u32,
    generated_tokens: u32,
    ttft_ms: f64,
    prompt_tokens_per_s: f64,
    tokens_per_s: f64,
    /// Prompt-lookup decoding: tokens drafted, how many held, and the tokens each decode
    /// gave (1 without drafting).
    drafted: u32,
    accepted: u32,
    tokens_per_decode: f64,
    variants: Vec<GenerationStats>,
    /// A text too long for the context, summarised in parts: how many, and how much of the
    /// text was read across them.
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<PartsRead>,
}

#[derive(Debug, Serialize)]
struct PartsRead {
    count: usize,
    prompt_tokens: u64,
    dropped_tokens: u64,
}

impl StatsSummary {
    fn from_runs(runs: &[GenerationStats]) -> Self {
        let first = runs.first();
        let sum = |f: fn(&GenerationStats) -> u32| runs.iter().map(f).sum::<u32>();
        let mean = |f: fn(&GenerationStats) -> f64| {
            let values: Vec<f64> = runs.iter().map(f).filter(|v| *v > 0.0).collect();
            if values.is_empty() {
                0.0
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            }
        };
        StatsSummary {
            prompt_tokens: first.map_or(0, |s| s.prompt_tokens),
            reused_tokens: sum(|s| s.reused_tokens),
            dropped_tokens: first.map_or(0, |s| s.dropped_tokens),
            generated_tokens: sum(|s| s.generated_tokens),
            ttft_ms: first.map_or(0.0, |s| s.ttft_ms),
            prompt_tokens_per_s: mean(|s| s.prompt_tokens_per_s),
            tokens_per_s: mean(|s| s.tokens_per_s),
            drafted: sum(|s| s.drafted),
            accepted: sum(|s| s.accepted),
            // The first token of each comes with its prompt, not from a decode of its own.
            tokens_per_decode: f64::from(sum(|s| s.generated_tokens.saturating_sub(1)))
                / f64::from(sum(|s| s.decodes).max(1)),
            variants: runs.to_vec(),
            parts: None,
        }
    }
}
