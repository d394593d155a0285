//! Parses the command line and dispatches: editor, headless action, bench or worker.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use quill::cli::{ActionArgs, Cli, CliCommand, ModelCommand, TemplateCommand};
use quill::config::Config;
use quill::headless::{self, Failure, RunOptions, Settings};
use quill::paths::Paths;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("quill: {}", failure.message);
            ExitCode::from(failure.code as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    if let Some(CliCommand::Worker) = cli.command {
        return quill::engine::llama::worker::run()
            .map_err(|e| Failure::engine(format!("worker: {e:#}")));
    }
    let mut settings = settings(cli.config.clone(), cli.model.clone())?;
    cli.apply_engine_flags(&mut settings.config.engine);
    // The editor shows config problems on screen, the doctor in its report; elsewhere they go
    // to stderr.
    if cli.command.is_some()
        && !matches!(cli.command, Some(CliCommand::Doctor))
        && let Some(warning) = &settings.warning
    {
        eprintln!("quill: warning: {warning}");
    }
    match cli.command {
        Some(CliCommand::Continue { io }) => action("continue", &io, &settings),
        Some(CliCommand::Rewrite { io, style }) => {
            action(&format!("rewrite-{style}"), &io, &settings)
        }
        Some(CliCommand::Summarise { io, style }) => {
            action(&format!("summarise-{style}"), &io, &settings)
        }
        Some(CliCommand::Run { prompt, io }) => action(&prompt, &io, &settings),
        Some(CliCommand::Ask { instruction, io }) => {
            if instruction.trim().is_empty() {
                Err(Failure::bad_input(
                    "the instruction is empty: say what to do, as in quill ask \"make this a haiku\" FILE",
                ))
            } else {
                let values = [("instruction".to_string(), instruction)].into();
                action_with("ask", &values, &io, &settings)
            }
        }
        Some(command @ CliCommand::Article { .. }) => article(command, &settings),
        Some(command @ CliCommand::Bench { .. }) => bench(command, &settings),
        Some(CliCommand::Template { action }) => template(action, &settings),
        Some(CliCommand::Model { action }) => model(action, &settings),
        Some(CliCommand::Doctor) => quill::doctor::run(&settings, cli.model.as_deref()),
        Some(CliCommand::Keys) => {
            let (keys, warnings) = settings.config.keymaps();
            for warning in warnings {
                eprintln!("quill: warning: {warning}");
            }
            quill::tui::show_keys(keys).map_err(Failure::bad_input)
        }
        Some(CliCommand::Worker) => Ok(()),
        None => editor(cli.file, &settings),
    }
}

/// `quill article`.
fn article(command: CliCommand, settings: &Settings) -> Result<(), Failure> {
    let CliCommand::Article {
        title,
        brief,
        sections,
        words,
        output,
        sampling,
        stats,
        language,
        ctx_size,
        threads,
    } = command
    else {
        return Ok(());
    };
    let options = RunOptions {
        sampling: sampling.layer(),
        stats,
        raw: false,
        language,
        ctx_size,
        threads,
    };
    let args = headless::article::ArticleArgs {
        title,
        brief,
        sections,
        words,
        output,
    };
    headless::article::run(&args, settings, &options)
}

/// `quill bench --lookup`.
fn bench_lookup(command: CliCommand, settings: &Settings) -> Result<(), Failure> {
    let CliCommand::Bench {
        json,
        threads,
        rounds,
        out,
        readme,
        answers,
        ..
    } = command
    else {
        unreachable!("bench_lookup is only called for quill bench --lookup")
    };
    quill::bench::lookup::run(
        settings,
        &quill::bench::lookup::Options {
            rounds,
            out,
            readme,
            json,
            threads,
            answers,
        },
    )
}

/// `quill bench` and its kinds.
fn bench(command: CliCommand, settings: &Settings) -> Result<(), Failure> {
    match command {
        CliCommand::Bench {
            editor: true, json, ..
        } => quill::bench::editor::run(json).map_err(Failure::engine),
        CliCommand::Bench {
            assistant: true,
            json,
            ..
        } => {
            let worker = quill::engine::WorkerCommand::current_exe(
                settings.paths.worker_log(),
                &settings.paths.tuning_file(),
            )
            .map_err(|e| Failure::engine(format!("{e:#}")))?;
            quill::bench::assistant::run(&settings.config, settings.model.clone(), worker, json)
                .map_err(Failure::engine)
        }
        CliCommand::Bench {
            busy: true, json, ..
        } => quill::bench::busy::run(settings, json),
        CliCommand::Bench {
            article: true,
            json,
            threads,
            limit,
            out,
            answers,
            ..
        } => quill::bench::article::run(
            settings,
            &quill::bench::article::Options {
                limit,
                out,
                json,
                threads,
                answers,
            },
        ),
        command @ CliCommand::Bench { lookup: true, .. } => bench_lookup(command, settings),
        CliCommand::Bench {
            quality: true,
            json,
            threads,
            seeds,
            only,
            limit,
            out,
            answers,
            ..
        } => quill::bench::quality::run(
            settings,
            &quill::bench::quality::Options {
                seeds,
                only,
                limit,
                out,
                json,
                threads,
                answers,
            },
        ),
        CliCommand::Bench {
            json,
            threads,
            rounds,
            ..
        } => quill::bench::run(settings, threads, rounds, json),
        _ => Ok(()),
    }
}

fn editor(file: Option<PathBuf>, settings: &Settings) -> Result<(), Failure> {
    let (keymap, mut warnings) = settings.config.keymaps();
    warnings.extend(settings.warning.clone());
    let worker = quill::engine::WorkerCommand::current_exe(
        settings.paths.worker_log(),
        &settings.paths.tuning_file(),
    )
    .map_err(|e| Failure::engine(format!("{e:#}")))?;
    quill::tui::run(quill::tui::EditorSetup {
        path: file,
        keymap,
        state_dir: settings.paths.state_dir.clone(),
        warnings,
        assistant: quill::app::AssistantSetup::from_config(
            &settings.config,
            settings.model.clone(),
        )
        .with_style(settings.style_guide()),
        worker,
        config: settings.config.clone(),
        config_file: settings.config_file.clone(),
        templates_dir: settings.templates_dir(),
    })
    .map_err(Failure::bad_input)
}

fn settings(config_file: Option<PathBuf>, model: Option<PathBuf>) -> Result<Settings, Failure> {
    let paths = Paths::discover().map_err(|e| Failure::bad_input(format!("{e:#}")))?;
    let config_file = config_file.unwrap_or_else(|| paths.config_file());
    let (config, warning) = Config::load(&config_file);
    let model = config.model_path(model.as_deref(), &paths.default_model());
    Ok(Settings {
        config,
        paths,
        model,
        warning: warning.map(|w| w.0),
        config_file,
    })
}

fn model(action: ModelCommand, settings: &Settings) -> Result<(), Failure> {
    match action {
        ModelCommand::List { json } => quill::models::print_list(settings, json),
        ModelCommand::Use { name } => quill::models::use_model(settings, &name),
        ModelCommand::Add { path, name, link } => {
            quill::models::add(settings, &path, name.as_deref(), link)
        }
        ModelCommand::Pull { url, sha256, name } => {
            quill::models::pull::pull(settings, &url, sha256.as_deref(), name.as_deref())
        }
        ModelCommand::Tokenizer { name, output } => {
            quill::models::write_tokenizer(settings, &name, output.as_deref())
        }
        ModelCommand::Rm { name, yes } => {
            quill::models::remove(settings, &name, yes, &mut std::io::stdin().lock())
        }
    }
}

fn template(action: TemplateCommand, settings: &Settings) -> Result<(), Failure> {
    let dir = settings.templates_dir();
    let (library, warnings) = quill::prompt::PromptLibrary::load(Some(&dir));
    for warning in warnings {
        eprintln!("quill: warning: {warning}");
    }
    match action {
        TemplateCommand::List => {
            headless::template_list(&library);
            Ok(())
        }
        TemplateCommand::Show { name } => headless::template_show(&library, &name),
        TemplateCommand::Run {
            name,
            set,
            input,
            sampling,
        } => {
            let options = RunOptions {
                sampling: sampling.layer(),
                ..RunOptions::default()
            };
            headless::template_run(&library, &name, &set, input.as_deref(), settings, &options)
        }
        TemplateCommand::New {
            name,
            from,
            description,
            force,
        } => headless::template_new(
            &library,
            &quill::prompt::store::TemplateStore::new(dir),
            &name,
            &from,
            description.as_deref(),
            force,
        ),
    }
}

fn action(prompt_id: &str, io: &ActionArgs, settings: &Settings) -> Result<(), Failure> {
    action_with(prompt_id, &Default::default(), io, settings)
}

/// Runs `prompt_id` with its fields filled from `values`.
fn action_with(
    prompt_id: &str,
    values: &std::collections::BTreeMap<String, String>,
    io: &ActionArgs,
    settings: &Settings,
) -> Result<(), Failure> {
    let options = RunOptions {
        sampling: io.sampling.layer(),
        stats: io.stats,
        raw: io.raw,
        language: io.language.clone(),
        ctx_size: io.ctx_size,
        threads: io.threads,
    };
    headless::run_action(prompt_id, values, io.file.as_deref(), settings, &options)
}
