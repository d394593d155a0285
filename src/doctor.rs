//! `quill doctor`: the one command to run when something is wrong. It checks the build (and
//! whether this CPU can run it), the paths Quill writes to, the config and the data files it
//! reads, and the model, ending with a four-token generation in a child worker. Each problem
//! says which line to fix; the exit status is 1 when anything would stop Quill from working.

mod backends;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use crate::engine::exit::{BASELINE_BUILD, PORTABLE_BUILD, WorkerExit};
use crate::engine::protocol::{
    BackendModule, Device, Event, GenerateOptions, ModelInfo, Part, Prompt, Request,
    SamplingParams, describe_placement,
};
use crate::engine::{Client, ModelLoadError, WorkerCommand, model_file};
use crate::headless::{self, Failure, RunOptions, Settings};

/// How long the worker may take to describe itself or load the model before it counts as hung.
const ANSWER_WAIT: Duration = Duration::from_secs(20);
const LOAD_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Note,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
struct Finding {
    level: Level,
    label: &'static str,
    text: String,
    /// What to change, and where, when there is a problem.
    fix: Option<String>,
}

#[derive(Debug, Default)]
struct Report {
    sections: Vec<(&'static str, Vec<Finding>)>,
}

impl Report {
    fn section(&mut self, title: &'static str) -> &mut Vec<Finding> {
        self.sections.push((title, Vec::new()));
        &mut self.sections.last_mut().expect("just pushed").1
    }

    fn count(&self, level: Level) -> usize {
        self.sections
            .iter()
            .flat_map(|(_, findings)| findings)
            .filter(|f| f.level == level)
            .count()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (title, findings) in &self.sections {
            out.push_str(&format!("{title}\n"));
            for f in findings {
                let mark = match f.level {
                    Level::Ok => "ok  ",
                    Level::Note => "    ",
                    Level::Warn => "warn",
                    Level::Fail => "FAIL",
                };
                out.push_str(&format!("  {mark}  {:<10} {}\n", f.label, f.text));
                if let Some(fix) = &f.fix {
                    out.push_str(&format!("  {:4}  {:<10} fix: {fix}\n", "", ""));
                }
            }
            out.push('\n');
        }
        let (fails, warns) = (self.count(Level::Fail), self.count(Level::Warn));
        out.push_str(&match (fails, warns) {
            (0, 0) => "Everything Quill needs works.\n".to_string(),
            (0, w) => format!("Quill works; {w} warning(s) above are worth a look.\n"),
            (f, _) => format!(
                "{f} problem(s) above (FAIL) stop Quill from working as configured; each says \
                 what to fix.\n"
            ),
        });
        out
    }
}

fn finding(level: Level, label: &'static str, text: impl Into<String>) -> Finding {
    Finding {
        level,
        label,
        text: text.into(),
        fix: None,
    }
}

fn fail(label: &'static str, text: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        level: Level::Fail,
        label,
        text: text.into(),
        fix: Some(fix.into()),
    }
}

/// Runs every check, prints the report on stdout, and fails (exit status 1) if any check did.
pub fn run(settings: &Settings, model_flag: Option<&Path>) -> Result<(), Failure> {
    let mut report = Report::default();
    let worker =
        WorkerCommand::current_exe(settings.paths.worker_log(), &settings.paths.tuning_file());
    let mut engine = match &worker {
        Ok(command) => Client::start(command).map_err(|e| format!("{e:#}")),
        Err(e) => Err(format!("{e:#}")),
    };
    let described = match &mut engine {
        Ok(engine) => describe(engine),
        Err(e) => Err(e.clone()),
    };
    check_build(report.section("Build"), &described, &CpuFeatures::read());
    check_paths(report.section("Paths"), settings);
    check_config(report.section("Config"), settings);
    check_model(report.section("Model"), settings, model_flag, engine);
    print!("{}", report.render());
    if report.count(Level::Fail) > 0 {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} problem(s) found; fix the lines marked FAIL",
                report.count(Level::Fail)
            ),
        });
    }
    Ok(())
}

/// What a fresh worker says of its build: the CPU features llama.cpp was compiled for, the
/// devices it sees, and a GPU build's backend modules.
struct Described {
    cpu_features: Vec<String>,
    devices: Vec<Device>,
    modules: Vec<BackendModule>,
}

fn describe(engine: &mut Client) -> Result<Described, String> {
    engine
        .send(&Request::Describe)
        .map_err(|e| format!("{e:#}"))?;
    loop {
        match engine.recv_timeout(ANSWER_WAIT) {
            Some(Event::SystemDescribed {
                cpu_features,
                devices,
                modules,
            }) => {
                return Ok(Described {
                    cpu_features,
                    devices,
                    modules,
                });
            }
            Some(Event::WorkerExited { exit }) => return Err(exited(&exit)),
            Some(_) => {}
            None => return Err(format!("no answer within {} s", ANSWER_WAIT.as_secs())),
        }
    }
}

fn exited(exit: &WorkerExit) -> String {
    match exit.advice() {
        Some(advice) => format!("the worker died ({exit}): {advice}"),
        None => format!("the worker died ({exit})"),
    }
}

fn check_build(out: &mut Vec<Finding>, described: &Result<Described, String>, cpu: &CpuFeatures) {
    check_version(out);
    let (compiled, devices) = match described {
        Ok(d) => (&d.cpu_features, &d.devices),
        Err(e) => {
            out.push(fail(
                "llama.cpp",
                format!("cannot ask the engine what it was built with: {e}"),
                format!("rebuild Quill: {PORTABLE_BUILD}"),
            ));
            return;
        }
    };
    out.push(finding(
        Level::Ok,
        "llama.cpp",
        format!("compiled for {}", or_none(compiled)),
    ));
    out.push(finding(Level::Ok, "devices", describe_devices(devices)));
    if let Ok(d) = described {
        backends::check_backends(out, &d.modules, devices);
    }
    check_cpu(out, compiled, cpu);
    if compiled.iter().any(|f| f == "AMX_INT8") && cpu.has("AMX_INT8") == Some(true) {
        out.push(fail(
            "AMX",
            "llama.cpp's AMX kernels are compiled in, and on this CPU they die of SIGILL",
            "build with the AMX flags of .cargo/config.toml: `make build` (it cleans the old \
             llama.cpp build first)",
        ));
    }
}

/// Quill's version, the engines compiled in, and the CPU it was built for.
fn check_version(out: &mut Vec<Finding>) {
    let gpu: Vec<&str> = [
        ("cuda", cfg!(feature = "cuda")),
        ("metal", cfg!(feature = "metal")),
        ("vulkan", cfg!(feature = "vulkan")),
        ("backends as modules", cfg!(feature = "dynamic-backends")),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    out.push(finding(
        Level::Ok,
        "version",
        format!(
            "quill {} for {}-{}; engines: cpu{}",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
            gpu.iter().map(|g| format!(", {g}")).collect::<String>()
        ),
    ));
    out.push(finding(
        Level::Ok,
        "target",
        match env!("QUILL_TARGET_CPU") {
            "native" => "native build (-C target-cpu=native): llama.cpp compiled for the CPU \
                         it was built on"
                .to_string(),
            "" if cfg!(feature = "dynamic-backends") => "GPU build: llama.cpp's CPU backend in \
                one variant per CPU generation, the best for this CPU loaded at start"
                .to_string(),
            "" => "portable build: llama.cpp compiled for any CPU of this architecture".to_string(),
            cpu => format!("built for the {cpu} CPU (-C target-cpu={cpu})"),
        },
    ));
}

/// Whether this CPU has every feature llama.cpp was compiled for.
fn check_cpu(out: &mut Vec<Finding>, compiled: &[String], cpu: &CpuFeatures) {
    let lacking: Vec<&str> = compiled
        .iter()
        .filter(|f| cpu.has(f) == Some(false))
        .map(String::as_str)
        .collect();
    let unknown: Vec<&str> = compiled
        .iter()
        .filter(|f| cpu.has(f).is_none())
        .map(String::as_str)
        .collect();
    if lacking.is_empty() {
        let mut text = format!("{} has every one of them", cpu.name);
        if !unknown.is_empty() {
            text.push_str(&format!(" (not known here: {})", unknown.join(" ")));
        }
        out.push(finding(Level::Ok, "this CPU", text));
        return;
    }
    // A portable build still has llama.cpp use these; without them, turn them off too.
    let baseline = lacking
        .iter()
        .any(|f| matches!(*f, "AVX" | "AVX2" | "FMA" | "F16C" | "BMI2" | "SSE3"));
    out.push(fail(
        "this CPU",
        format!(
            "{} lacks {}: the engine will die of SIGILL",
            cpu.name,
            lacking.join(" ")
        ),
        format!(
            "rebuild Quill for this CPU: {}",
            if baseline {
                BASELINE_BUILD
            } else {
                PORTABLE_BUILD
            }
        ),
    ));
}

fn or_none(features: &[String]) -> String {
    if features.is_empty() {
        "no special CPU features".into()
    } else {
        features.join(" ")
    }
}

/// What this CPU can do, in ggml's names for its features.
struct CpuFeatures {
    name: String,
    /// The CPU's own flags (Linux's /proc/cpuinfo), when they could be read.
    flags: Option<HashSet<String>>,
}

impl CpuFeatures {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |key: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == key).then(|| v.trim().to_string())
            })
        };
        let name = field("model name")
            .or_else(|| field("Hardware"))
            .unwrap_or_else(|| format!("this {} CPU", std::env::consts::ARCH));
        let flags = field("flags")
            .or_else(|| field("Features"))
            .map(|f| f.split_whitespace().map(str::to_string).collect());
        CpuFeatures { name, flags }
    }

    /// Whether the CPU has ggml's feature `name`; `None` when it cannot be told here.
    fn has(&self, name: &str) -> Option<bool> {
        if let Some(flags) = &self.flags {
            let wanted: &[&str] = match name {
                "SSE3" => &["pni"],
                "SSSE3" => &["ssse3"],
                "AVX" => &["avx"],
                "AVX_VNNI" => &["avx_vnni"],
                "AVX2" => &["avx2"],
                "BMI2" => &["bmi2"],
                "F16C" => &["f16c"],
                "FMA" => &["fma"],
                "AVX512" => &["avx512f"],
                "AVX512_VBMI" => &["avx512vbmi"],
                "AVX512_VNNI" => &["avx512_vnni"],
                "AVX512_BF16" => &["avx512_bf16"],
                "AMX_INT8" => &["amx_int8"],
                "NEON" | "ARM_FMA" => &["asimd"],
                "FP16_VA" => &["asimdhp"],
                "DOTPROD" => &["asimddp"],
                "MATMUL_INT8" => &["i8mm"],
                "SVE" => &["sve"],
                "SME" => &["sme"],
                _ => return None,
            };
            return Some(wanted.iter().all(|w| flags.contains(*w)));
        }
        detected(name)
    }
}

#[cfg(target_arch = "x86_64")]
fn detected(name: &str) -> Option<bool> {
    Some(match name {
        "SSE3" => is_x86_feature_detected!("sse3"),
        "SSSE3" => is_x86_feature_detected!("ssse3"),
        "AVX" => is_x86_feature_detected!("avx"),
        "AVX2" => is_x86_feature_detected!("avx2"),
        "BMI2" => is_x86_feature_detected!("bmi2"),
        "F16C" => is_x86_feature_detected!("f16c"),
        "FMA" => is_x86_feature_detected!("fma"),
        "AVX512" => is_x86_feature_detected!("avx512f"),
        "AVX512_VBMI" => is_x86_feature_detected!("avx512vbmi"),
        "AVX512_VNNI" => is_x86_feature_detected!("avx512vnni"),
        "AVX512_BF16" => is_x86_feature_detected!("avx512bf16"),
        "AVX_VNNI" => is_x86_feature_detected!("avxvnni"),
        _ => return None,
    })
}

#[cfg(target_arch = "aarch64")]
fn detected(name: &str) -> Option<bool> {
    use std::arch::is_aarch64_feature_detected as has;
    Some(match name {
        "NEON" | "ARM_FMA" => has!("neon"),
        "FP16_VA" => has!("fp16"),
        "DOTPROD" => has!("dotprod"),
        "MATMUL_INT8" => has!("i8mm"),
        "SVE" => has!("sve"),
        _ => return None,
    })
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detected(_name: &str) -> Option<bool> {
    None
}

fn check_paths(out: &mut Vec<Finding>, settings: &Settings) {
    let paths = &settings.paths;
    let state = &paths.state_dir;
    let logs = settings.paths.worker_log();
    let logs = logs.parent().unwrap_or(state);
    let env_fix = |var: &str, dir: &Path| {
        format!(
            "make {} writable (chmod u+w, or fix its owner), or set {var} to a folder you can \
             write",
            dir.display()
        )
    };
    for (label, dir, why, var, required) in [
        (
            "config",
            paths.config_dir.as_path(),
            "settings, templates and themes are saved here",
            "XDG_CONFIG_HOME",
            false,
        ),
        (
            "data",
            paths.data_dir.as_path(),
            "the default model is installed here",
            "XDG_DATA_HOME",
            false,
        ),
        (
            "state",
            state.as_path(),
            "the crash journal that keeps unsaved text is written here",
            "XDG_STATE_HOME",
            true,
        ),
        (
            "logs",
            logs,
            "the engine cannot start without its log",
            "XDG_STATE_HOME",
            true,
        ),
    ] {
        match writable(dir) {
            Ok(note) => out.push(finding(
                Level::Ok,
                label,
                format!("{} ({note})", dir.display()),
            )),
            Err(e) if required => out.push(fail(
                label,
                format!("{} is not writable ({e}): {why}", dir.display()),
                env_fix(var, dir),
            )),
            Err(e) => out.push(Finding {
                level: Level::Warn,
                label,
                text: format!("{} is not writable ({e}): {why}", dir.display()),
                fix: Some(env_fix(var, dir)),
            }),
        }
    }
    out.push(finding(
        Level::Note,
        "worker log",
        settings.paths.worker_log().display().to_string(),
    ));
}

/// Whether files can be made in `dir` (or, if it does not exist yet, in the folder that
/// will hold it), found by making one: permission bits say nothing for root or a read-only
/// mount.
fn writable(dir: &Path) -> Result<&'static str, String> {
    let (probe_dir, note) = if dir.is_dir() {
        (dir.to_path_buf(), "writable")
    } else if dir.exists() {
        return Err("it is not a folder".into());
    } else {
        let Some(parent) = dir.ancestors().skip(1).find(|a| a.exists()) else {
            return Err("no part of it exists".into());
        };
        if !parent.is_dir() {
            return Err(format!("{} is not a folder", parent.display()));
        }
        (parent.to_path_buf(), "will be created")
    };
    let probe = probe_dir.join(format!(".quill-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&probe);
    Ok(note)
}

fn check_config(out: &mut Vec<Finding>, settings: &Settings) {
    let file = &settings.config_file;
    match &settings.warning {
        Some(warning) => out.push(fail(
            "config",
            warning.clone(),
            format!(
                "{}; until then Quill runs on the built-in defaults",
                fix_place(warning, file)
            ),
        )),
        None if file.exists() => out.push(finding(
            Level::Ok,
            "config",
            format!("{} is read", file.display()),
        )),
        None => out.push(finding(
            Level::Ok,
            "config",
            format!("{} does not exist: the defaults apply", file.display()),
        )),
    }
    let (_, key_warnings) = settings.config.keymaps();
    let themes =
        crate::ui::theme::ThemeLibrary::load(file.parent().map(|d| d.join("themes")).as_deref());
    let (_, template_warnings) =
        crate::prompt::PromptLibrary::load(Some(&settings.templates_dir()));
    for (label, warnings) in [
        ("keys", key_warnings),
        ("themes", themes.warnings),
        ("templates", template_warnings),
    ] {
        if warnings.is_empty() {
            continue;
        }
        for warning in warnings {
            out.push(Finding {
                level: Level::Warn,
                label,
                text: warning,
                fix: None,
            });
        }
    }
}

/// "line 3 of /home/me/.config/quill/config.toml" from a warning that starts "config.toml:3:".
fn fix_place(warning: &str, file: &Path) -> String {
    let line = warning
        .split(':')
        .nth(1)
        .and_then(|l| l.trim().parse::<usize>().ok());
    match line {
        Some(line) => format!("line {line} of {}", file.display()),
        None => format!("{} (or remove it)", file.display()),
    }
}

fn check_model(
    out: &mut Vec<Finding>,
    settings: &Settings,
    model_flag: Option<&Path>,
    engine: Result<Client, String>,
) {
    let model = &settings.model;
    let source = model_source(settings, model_flag);
    let fix = source.fix(&settings.config_file);
    out.push(finding(
        Level::Note,
        "path",
        format!("{} ({})", model.display(), source.describe()),
    ));
    if let Err(e) = model_file::check(model) {
        out.push(fail("file", e.to_string(), fix));
        return;
    }
    let size = std::fs::metadata(model).map_or(0, |m| m.len());
    out.push(finding(
        Level::Ok,
        "file",
        format!("{:.1} MB, GGUF", size as f64 / 1e6),
    ));
    let mut engine = match engine {
        Ok(engine) if !engine.has_exited() => engine,
        Ok(_) => {
            out.push(fail(
                "engine",
                "the worker is not running (see the Build section)",
                format!("rebuild Quill: {PORTABLE_BUILD}"),
            ));
            return;
        }
        Err(e) => {
            out.push(fail(
                "engine",
                format!("cannot start the worker: {e}"),
                "see the Paths section: its log must be writable",
            ));
            return;
        }
    };
    let params = headless::load_params(settings, &RunOptions::default());
    let info = match engine.load(params, LOAD_WAIT) {
        Ok(info) => info,
        Err(ModelLoadError::Died(exit)) if exit.advice().is_some() => {
            out.push(fail(
                "loads",
                exited(&exit),
                exit.advice().unwrap_or_default(),
            ));
            return;
        }
        Err(ModelLoadError::NoBackend(reason)) => {
            out.push(fail("loads", reason, headless::NO_BACKEND_FIX));
            return;
        }
        Err(e) => {
            out.push(fail(
                "loads",
                format!("{e}"),
                format!("the file may be corrupt or not a model this llama.cpp supports: {fix}"),
            ));
            return;
        }
    };
    out.push(finding(Level::Ok, "model", describe_model(&info)));
    out.push(finding(
        Level::Ok,
        "layers",
        format!(
            "{} (gpu_layers = {} in the config)",
            describe_placement(&info.placement),
            settings.config.engine.gpu_layers
        ),
    ));
    out.push(finding(
        Level::Ok,
        "loads",
        format!("in {} ms, context {} tokens", info.load_ms, info.n_ctx),
    ));
    generate(out, &mut engine);
}

/// "CPU (Intel Xeon ...), CUDA0 (NVIDIA ..., 7.6 of 8.0 GiB free)".
fn describe_devices(devices: &[Device]) -> String {
    if devices.is_empty() {
        return "llama.cpp names none".into();
    }
    devices
        .iter()
        .map(|d| {
            let memory = if d.gpu && d.memory_total_bytes > 0 {
                format!(
                    ", {} of {} free",
                    crate::models::human_bytes(d.memory_free_bytes),
                    crate::models::human_bytes(d.memory_total_bytes)
                )
            } else {
                String::new()
            };
            format!("{} ({}{memory})", d.name, d.description)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_model(info: &ModelInfo) -> String {
    let params = info.n_params as f64;
    let params = if params >= 1e9 {
        format!("{:.1}B", params / 1e9)
    } else {
        format!("{:.0}M", params / 1e6)
    };
    format!(
        "{}: {}, {params} parameters, {}, trained context {}, chat template: {}",
        info.name,
        if info.architecture.is_empty() {
            "unknown architecture"
        } else {
            &info.architecture
        },
        if info.quantisation.is_empty() {
            "unknown type"
        } else {
            &info.quantisation
        },
        info.n_ctx_train,
        if info.has_chat_template {
            "yes"
        } else {
            "no (ChatML is used)"
        }
    )
}

/// Four greedy tokens, whatever the model would rather do: the engine decodes end to end.
fn generate(out: &mut Vec<Finding>, engine: &mut Client) {
    const TOKENS: u32 = 4;
    let prompt = Prompt::Completion {
        parts: vec![Part::fixed("The first draft of anything is")],
    };
    let sampling = SamplingParams::greedy(TOKENS);
    let options = GenerateOptions {
        reuse_prefix: false,
        ignore_eos: true,
        variants: 1,
        ..GenerateOptions::default()
    };
    match headless::stream_job(engine, 1, &prompt, &sampling, options, &mut |_| Ok(true)) {
        Ok(run) => {
            let ms = run.finished.duration_since(run.sent).as_secs_f64() * 1000.0;
            let text = crate::sanitize::strip_controls(&run.text).replace('\n', " ");
            if run.stats.generated_tokens == 0 {
                out.push(fail(
                    "generates",
                    "the model produced no token",
                    "try another model (--model PATH); the worker log may say why",
                ));
                return;
            }
            out.push(finding(
                Level::Ok,
                "generates",
                format!(
                    "{} tokens in {ms:.0} ms ({:.0} tokens/s after the first, {} thread(s)): {:?}",
                    run.stats.generated_tokens,
                    run.stats.tokens_per_s,
                    run.stats.threads,
                    text.trim()
                ),
            ));
        }
        Err(e) => out.push(fail(
            "generates",
            e.message,
            "see the worker log (Paths section) for llama.cpp's own reason",
        )),
    }
}

enum Source {
    Flag,
    Config(usize),
    Default,
}

impl Source {
    /// What to do about a model file that is missing or broken, given where its path came
    /// from.
    fn fix(&self, config_file: &Path) -> String {
        match self {
            Source::Flag => "pass --model a GGUF file that exists".to_string(),
            Source::Config(line) => format!(
                "line {line} of {} (model = \"...\"): point it at a GGUF file, or remove it to \
                 use the default model",
                config_file.display()
            ),
            Source::Default => "run `make model` (scripts/fetch-model) to install the default \
                                model, or set model = \"PATH\" in config.toml"
                .to_string(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Flag => "from --model".into(),
            Source::Config(line) => format!("from config.toml line {line}"),
            Source::Default => "the default model".into(),
        }
    }
}

fn model_source(settings: &Settings, model_flag: Option<&Path>) -> Source {
    if model_flag.is_some() {
        return Source::Flag;
    }
    if settings.config.model.trim().is_empty() {
        return Source::Default;
    }
    let line = std::fs::read_to_string(&settings.config_file)
        .ok()
        .and_then(|text| crate::config::line_of_key(&text, "model"))
        .unwrap_or(1);
    Source::Config(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_to_fix_is_read_from_a_config_warning() {
        let file = Path::new("/home/me/.config/quill/config.toml");
        assert_eq!(
            fix_place("config.toml:3: invalid type; defaults in use", file),
            "line 3 of /home/me/.config/quill/config.toml"
        );
        assert_eq!(
            fix_place("/x/config.toml: cannot read (Is a directory)", file),
            "/home/me/.config/quill/config.toml (or remove it)"
        );
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(writable(dir.path()), Ok("writable"));
        assert_eq!(writable(&dir.path().join("a/b")), Ok("will be created"));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(writable(&file).is_err());
        assert!(writable(&file.join("below")).is_err());
    }

    fn built(cpu_features: Vec<String>) -> Described {
        Described {
            cpu_features,
            devices: Vec::new(),
            modules: Vec::new(),
        }
    }

    #[test]
    fn a_compiled_feature_the_cpu_lacks_is_found() {
        let cpu = CpuFeatures {
            name: "test CPU".into(),
            flags: Some(["pni", "avx", "avx2", "fma"].map(String::from).into()),
        };
        assert_eq!(cpu.has("AVX2"), Some(true));
        assert_eq!(cpu.has("SSE3"), Some(true));
        assert_eq!(cpu.has("AVX512"), Some(false));
        assert_eq!(cpu.has("AMX_INT8"), Some(false));
        assert_eq!(cpu.has("SOMETHING_NEW"), None);
        let mut out = Vec::new();
        check_build(&mut out, &Ok(built(vec!["AVX2".into()])), &cpu);
        assert!(
            out.iter()
                .any(|f| f.label == "llama.cpp" && f.text.contains("AVX2"))
        );
        assert!(out.iter().all(|f| f.level != Level::Fail), "{out:?}");
        // Built for AVX-512 on an AVX2 machine: a portable build fixes it.
        let mut out = Vec::new();
        check_build(
            &mut out,
            &Ok(built(vec!["AVX2".into(), "AVX512".into()])),
            &cpu,
        );
        let failed = out
            .iter()
            .find(|f| f.level == Level::Fail)
            .expect("a failure");
        assert!(failed.text.contains("lacks AVX512"), "{failed:?}");
        assert!(failed.fix.as_ref().unwrap().contains(PORTABLE_BUILD));
        // On a CPU without AVX2 even the portable build would die: the baseline one.
        let old = CpuFeatures {
            name: "old CPU".into(),
            flags: Some(["pni", "avx"].map(String::from).into()),
        };
        let mut out = Vec::new();
        check_build(
            &mut out,
            &Ok(built(vec!["AVX".into(), "AVX2".into()])),
            &old,
        );
        let failed = out
            .iter()
            .find(|f| f.level == Level::Fail)
            .expect("a failure");
        assert!(
            failed.fix.as_ref().unwrap().contains("GGML_AVX2=OFF"),
            "{failed:?}"
        );
    }
}
