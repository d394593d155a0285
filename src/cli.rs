//! Command-line definitions (clap). `main` only parses these and dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "quill",
    version,
    about = "A terminal writing assistant with a local model"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// The draft to open in the editor (created on first save if it does not exist).
    pub file: Option<PathBuf>,
    /// A GGUF model to use instead of the configured one.
    #[arg(long, global = true, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Use this config file instead of the one in Quill's config directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Which engine generates: the local model, or an OpenAI-compatible server ([engine] kind).
    #[arg(long, global = true, value_name = "KIND")]
    pub engine: Option<crate::config::EngineKind>,
    /// The server's base URL, e.g. http://gpu-box:8080 ([engine] url; implies --engine remote).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The model to ask the server for ([engine] remote_model).
    #[arg(long, global = true, value_name = "NAME")]
    pub remote_model: Option<String>,
}

impl Cli {
    /// The engine flags over the config's `[engine]`.
    pub fn apply_engine_flags(&self, engine: &mut crate::config::EngineConfig) {
        if let Some(url) = &self.url {
            engine.url = url.clone();
            engine.kind = crate::config::EngineKind::Remote;
        }
        if let Some(model) = &self.remote_model {
            engine.remote_model = model.clone();
        }
        if let Some(kind) = self.engine {
            engine.kind = kind;
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Continue the text of FILE (or standard input) and print the continuation.
    Continue {
        #[command(flatten)]
        io: ActionArgs,
    },
    /// Rewrite the text of FILE (or standard input) in a style.
    Rewrite {
        #[command(flatten)]
        io: ActionArgs,
        /// concise, formal, friendly, persuasive, grammar, or NAME for any prompt rewrite-NAME
        /// (built in or yours).
        #[arg(long, default_value = "concise")]
        style: String,
    },
    /// Summarise the text of FILE (or standard input).
    #[command(alias = "summarize")]
    Summarise {
        #[command(flatten)]
        io: ActionArgs,
        /// tldr, bullets, or NAME for any prompt summarise-NAME (built in or yours).
        #[arg(long, default_value = "tldr")]
        style: String,
    },
    /// Do what INSTRUCTION asks to the text of FILE (or standard input): "make this a haiku".
    Ask {
        /// The instruction, in the writer's words.
        instruction: String,
        #[command(flatten)]
        io: ActionArgs,
    },
    /// Write a whole article from TITLE: an outline, then each section in order, printed (or
    /// written to -o FILE as it grows).
    Article {
        /// The article's title ("Why we garden"); the brief's title when it has one.
        title: String,
        /// The brief: a draft with front matter, or a .toml / .yaml file of title, audience,
        /// goal, tone, key_points, avoid, words, sections.
        #[arg(long, value_name = "FILE")]
        brief: Option<PathBuf>,
        /// How many sections (by default the brief's, else config.toml's [article] sections,
        /// else one per 150 words, 3 to 8).
        #[arg(long, value_name = "N")]
        sections: Option<usize>,
        /// The article's length in words (characters for Chinese); by default the brief's, else
        /// config.toml's [article] words (600).
        #[arg(long, value_name = "N")]
        words: Option<usize>,
        /// Write the article to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Print a JSON line of statistics per section, and one for the article, on stderr.
        #[arg(long)]
        stats: bool,
        /// The article's language ("Chinese", "English", ...); by default the title's own.
        #[arg(long, value_name = "NAME")]
        language: Option<String>,
        /// Context window in tokens.
        #[arg(long, value_name = "N")]
        ctx_size: Option<u32>,
        /// CPU threads (0: the cores other programs leave free, read before each request).
        #[arg(long, value_name = "N")]
        threads: Option<u32>,
    },
    /// Run any prompt of the library (built in or yours) on FILE (or standard input).
    Run {
        /// The prompt's id (`quill template list` lists them).
        prompt: String,
        #[command(flatten)]
        io: ActionArgs,
    },
    /// Templates (marketing copy and more): list, show, run, new.
    Template {
        #[command(subcommand)]
        action: TemplateCommand,
    },
    /// Models: list them, choose one, add or remove one.
    Model {
        #[command(subcommand)]
        action: ModelCommand,
    },
    /// Measure the engine on the configured model, like llama-bench.
    Bench {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// CPU threads (0: the cores other programs leave free, read before each request).
        #[arg(long, default_value_t = 0)]
        threads: u32,
        /// Rounds of the engine benchmark, interleaved with its baseline; medians are reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measure the editor on a 10 MB draft instead of the engine.
        #[arg(long)]
        editor: bool,
        /// Measure the assistant in the editor (action latency, frames, ghost text).
        #[arg(long, conflicts_with = "editor")]
        assistant: bool,
        /// Generation beside busy loops: `threads = 0` (the free cores) against one per core.
        #[arg(long, conflicts_with_all = ["editor", "assistant"])]
        busy: bool,
        /// Answer quality: the share of usable answers of each built-in action over fixed
        /// English and Chinese passages.
        #[arg(long, conflicts_with_all = ["editor", "assistant", "busy"])]
        quality: bool,
        /// Quality: seeds per passage for the actions that sample.
        #[arg(long, default_value_t = 3, requires = "quality")]
        seeds: u32,
        /// Quality: only these actions (prompt names, or ghost), comma-separated.
        #[arg(long, value_delimiter = ',', requires = "quality")]
        only: Vec<String>,
        /// Whole articles from fixed English and Chinese titles, each checked (headings,
        /// empty sections, repeats, language, length) and timed beside a plain continuation.
        #[arg(long, conflicts_with_all = ["editor", "assistant", "busy", "quality"])]
        article: bool,
        /// Prompt-lookup decoding against plain decoding, side by side: fix grammar, rewrite,
        /// summarise and continue on English and Chinese passages (with --rounds).
        #[arg(long, conflicts_with_all = ["editor", "assistant", "busy", "quality", "article"])]
        lookup: bool,
        /// Lookup: also put the summary table into this README, between its markers.
        #[arg(long, requires = "lookup")]
        readme: Option<PathBuf>,
        /// Quality or article: at most this many passages (titles) of each language.
        #[arg(long)]
        limit: Option<usize>,
        /// Quality, article or lookup: also write the report into this Markdown file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Quality, article or lookup: print every answer (article) on stderr.
        #[arg(long)]
        answers: bool,
    },
    /// Check the build, the paths, the config and the model, and say what to fix.
    Doctor,
    /// Show each key as Quill receives it from this terminal, and the command it runs.
    Keys,
    /// The engine process (started by Quill itself; speaks JSON lines on stdin/stdout).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// The models in the data directory and the configured one: size, architecture,
    /// quantisation, context length, chat template; `*` marks the one in use.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make NAME (a model in the data directory) or PATH the model Quill uses: writes
    /// `model =` into config.toml, keeping its comments.
    Use {
        #[arg(value_name = "NAME|PATH")]
        name: String,
    },
    /// Copy a GGUF file into the data directory (checked first), or link it with --link.
    Add {
        path: PathBuf,
        /// The name to keep it under (default: its file name).
        #[arg(long)]
        name: Option<String>,
        /// Link to the file where it is instead of copying it.
        #[arg(long)]
        link: bool,
    },
    /// Download a GGUF into the data directory, with progress; an interrupted download
    /// resumes when the same command runs again.
    Pull {
        /// An https:// (or http://) URL of a .gguf file, or hf:owner/repo/file.gguf.
        url: String,
        /// Check the file against this sha256 before installing it.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// The name to keep it under (default: the URL's file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Write a Hugging Face tokenizer.json made from a GGUF's vocabulary, for exact token
    /// counts with a remote server that serves the same model ([engine] tokenizer).
    Tokenizer {
        /// A model's name in the data directory, or a path to a GGUF.
        name: String,
        /// Where to write it (default: standard output).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Remove a model from the data directory (asks first).
    Rm {
        name: String,
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Every template, built-in and your own (in the config directory's templates/ folder).
    List,
    /// A template's fields, limits and text.
    Show { name: String },
    /// Fill a template's fields and print its variants.
    Run {
        name: String,
        /// A field's value, as field=value (repeat for each field).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// A text file the template sees as its selection and document (`-`: standard input).
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
        #[command(flatten)]
        sampling: SamplingArgs,
    },
    /// Make a template from a text file: each {{ name }} in it becomes a field.
    New {
        name: String,
        /// The prompt text (`-`: standard input).
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// A one-line description for the template list.
        #[arg(long)]
        description: Option<String>,
        /// Replace a template of the same name.
        #[arg(long)]
        force: bool,
    },
}

/// This run's layer of sampling settings: over the config's and the prompt's.
#[derive(Debug, Args, Default)]
pub struct SamplingArgs {
    /// The most tokens to generate.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Seed for sampling, so a run can be reproduced.
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
    /// Produce N alternatives, each under a `--- variant k ---` line (default: the prompt's
    /// own, else one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=32))]
    pub variants: Option<u32>,
}

impl SamplingArgs {
    pub fn layer(&self) -> crate::sampling::Sampling {
        crate::sampling::Sampling {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            seed: self.seed.map(i64::from),
            variants: self.variants,
            ..crate::sampling::Sampling::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// The input file; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Print generation statistics as one JSON object on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// The model's text as it comes, streamed: not ended at a sentence, no lead-in taken off,
    /// no variant refused.
    #[arg(long)]
    pub raw: bool,
    /// The answer's language ("Chinese", "English", ...); by default the text's own.
    #[arg(long, value_name = "NAME")]
    pub language: Option<String>,
    /// Context window in tokens.
    #[arg(long, value_name = "N")]
    pub ctx_size: Option<u32>,
    /// CPU threads (0: the cores other programs leave free, read before each request).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn summarize_is_an_alias() {
        let cli = Cli::try_parse_from(["quill", "summarize", "-", "--style", "bullets"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(CliCommand::Summarise { ref style, .. }) if style == "bullets"
        ));
    }

    #[test]
    fn model_flag_works_after_the_subcommand() {
        let cli = Cli::try_parse_from(["quill", "continue", "a.md", "--model", "m.gguf"]).unwrap();
        assert_eq!(cli.model, Some(PathBuf::from("m.gguf")));
    }
}
