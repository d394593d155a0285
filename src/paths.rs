//! Where Quill keeps things: the only user of `directories`. Config (config.toml, templates),
//! data (models), state (logs, journals). On Linux these follow the XDG variables.

use std::path::PathBuf;

use anyhow::{Context, Result};
use directories::ProjectDirs;

/// The default model's file name, as `scripts/fetch-model` installs it.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Expands a leading `~/` to the home directory, as a shell would.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[derive(Debug, Clone)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    pub fn discover() -> Result<Paths> {
        let dirs = ProjectDirs::from("", "", "quill")
            .context("cannot find a home directory for Quill's files (is $HOME set?)")?;
        Ok(Paths {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
            state_dir: dirs
                .state_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .to_path_buf(),
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// Where models live: `scripts/fetch-model` puts the default one here, and `quill model`
    /// lists, adds and removes them here.
    pub fn models_dir(&self) -> PathBuf {
        self.data_dir.join("models")
    }

    pub fn default_model(&self) -> PathBuf {
        self.models_dir().join(DEFAULT_MODEL_FILE)
    }

    pub fn worker_log(&self) -> PathBuf {
        self.state_dir.join("logs").join("worker.log")
    }

    /// Where the engine remembers which settings were fastest on this machine.
    pub fn tuning_file(&self) -> PathBuf {
        self.state_dir.join("engine-tuning.json")
    }
}
