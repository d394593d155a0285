//! Engine settings chosen by measuring them on this machine. llama.cpp's own choice of flash
//! attention (`auto`) is not the fastest everywhere: on one 2-core Xeon it read prompts a
//! quarter faster and generated at 512 tokens of context half as fast; on others the two are
//! close. So the first time a model is loaded on a CPU (and again when the build or the model
//! file changes), the worker times both settings while the writer is idle, keeps the one that
//! does a writer's job sooner, and remembers the result in the state directory.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::llama::sweep::{DepthRate, Sweep};
use super::protocol::FlashAttention;

/// Environment variable naming the file the worker remembers its measurements in.
pub const TUNING_FILE_ENV: &str = "QUILL_TUNING_FILE";

/// How many measurements the file keeps (models, CPUs, thread counts): the newest.
const KEPT: usize = 32;

/// A writer's job, as the measurement weighs it: a paragraph of new prompt read, then an
/// answer written, at each of `DEPTHS`.
const JOB_PROMPT_TOKENS: f64 = 256.0;
const JOB_ANSWER_TOKENS: f64 = 128.0;

/// Runs of each test per setting and depth, in alternating order; the best counts.
pub const REPS: usize = 2;

/// Tokens per decode call while measuring: a request that comes meanwhile waits for one call
/// at most (under a second on a 2-core CPU with a small model).
const MEASURE_CHUNK: u32 = 128;

/// Cores' worth of CPU other programs may use while a setting is timed: more, and the timing
/// says more about them than about the setting (llama.cpp's threads spin, and on a busy
/// machine run several times slower), so it is thrown away and made again later.
pub const BUSY_LIMIT: f64 = 0.25;

/// Measurements thrown away for a busy machine before a worker stops trying (it tries again
/// when it next starts).
pub const ATTEMPTS: u32 = 3;

/// The depths of context a setting is timed at: a new draft, a short piece, a long one. The
/// faster setting can change between them (on one 2-core Xeon flash attention generated 7 %
/// faster on an empty context and 18-26 % slower from 512 tokens on), so a choice made at the
/// first two alone can lose where writers spend their time.
pub const DEPTHS: [u32; 3] = [0, 512, 1500];

/// The context a measurement's own context is sized for, beyond its deepest prompt's end.
pub const SPARE_TOKENS: u32 = 64;

/// What is timed for each setting in a writer's context of `n_ctx` tokens: a prompt and a short
/// generation at each of `DEPTHS` it can reach (depth 0 always).
pub fn sweep(n_ctx: u32) -> Sweep {
    const PP: u32 = 512;
    const TG: u32 = 32;
    Sweep {
        depths: DEPTHS
            .iter()
            .copied()
            .filter(|&d| d == 0 || d + PP + TG + SPARE_TOKENS <= n_ctx)
            .collect(),
        pp_tokens: PP,
        tg_tokens: TG,
        chunk: MEASURE_CHUNK,
    }
}

/// What a measurement holds for: this model file, this CPU, this build, this many threads,
/// these depths, the model's layers placed on these devices (a CPU measurement is no guide to
/// a GPU's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub model: PathBuf,
    pub model_bytes: u64,
    pub model_modified: u64,
    pub cpu: String,
    pub build: String,
    pub threads: u32,
    /// The depths timed (a file written before they were part of the key has none, and is
    /// measured again at the depths of today).
    #[serde(default)]
    pub depths: Vec<u32>,
    /// Where the layers went ("CUDA0 31, CPU 1"); a file written before it was part of the
    /// key has none, and is measured again.
    #[serde(default)]
    pub placement: String,
}

impl Key {
    /// The key for `model` decoded with `threads` at `depths` by this executable on this CPU,
    /// its layers placed as `placement` says; None when the model file cannot be read.
    pub fn new(model: &Path, threads: u32, depths: &[u32], placement: &str) -> Option<Key> {
        let meta = std::fs::metadata(model).ok()?;
        Some(Key {
            model: std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf()),
            model_bytes: meta.len(),
            model_modified: modified_secs(&meta),
            cpu: cpu_id(),
            build: build_id(),
            threads,
            depths: depths.to_vec(),
            placement: placement.to_string(),
        })
    }
}

/// Both settings' rates, and the choice made from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub key: Key,
    pub on: Vec<DepthRate>,
    pub off: Vec<DepthRate>,
    pub choice: FlashAttention,
}

impl Measurement {
    pub fn new(key: Key, on: Vec<DepthRate>, off: Vec<DepthRate>) -> Self {
        let choice = choose(&on, &off);
        Measurement {
            key,
            on,
            off,
            choice,
        }
    }

    /// The choice when only `setting` could be used at all (the other's context could not be
    /// made): nothing to time.
    pub fn only(key: Key, setting: FlashAttention) -> Self {
        Measurement {
            key,
            on: Vec::new(),
            off: Vec::new(),
            choice: setting,
        }
    }

    /// "prompt/generation t/s at 1500 tokens: on 190/35, off 150/63" (the deepest depth
    /// measured), or which setting alone could be used.
    pub fn summary(&self) -> String {
        if self.on.is_empty() && self.off.is_empty() {
            let other = match self.choice {
                FlashAttention::On => "off",
                _ => "on",
            };
            return format!("flash attention {other} could not be used with this model here");
        }
        let rates = |r: &[DepthRate]| {
            r.last().map_or_else(
                || "?".to_string(),
                |d| format!("{:.0}/{:.0}", d.pp_tokens_per_s, d.tg_tokens_per_s),
            )
        };
        let depth = self.on.last().or(self.off.last()).map_or(0, |d| d.depth);
        format!(
            "prompt/generation t/s at {depth} tokens: on {}, off {}",
            rates(&self.on),
            rates(&self.off)
        )
    }
}

/// The setting that does a writer's job sooner, summed over the depths measured; off on a
/// tie within 3 %: it is what llama.cpp did before `auto`, and measurement noise is not a
/// reason to move. One setting for reading and writing alike: a second context with the other
/// setting, reading long prompts or writing short answers, was measured side by side against
/// this and won 7-8 % on a 1,335-token prompt's first token, inside the 10-15 % the runs
/// spread, for 180 MiB of memory (docs/ENGINE.md).
pub fn choose(on: &[DepthRate], off: &[DepthRate]) -> FlashAttention {
    if job_seconds(on, on) < job_seconds(off, off) * 0.97 {
        FlashAttention::On
    } else {
        FlashAttention::Off
    }
}

/// A writer's job at each depth, summed: the prompt read at `read`'s rates, the answer
/// written at `write`'s.
fn job_seconds(read: &[DepthRate], write: &[DepthRate]) -> f64 {
    if read.is_empty() || write.is_empty() {
        return f64::INFINITY;
    }
    read.iter()
        .zip(write)
        .map(|(r, w)| {
            JOB_PROMPT_TOKENS / r.pp_tokens_per_s.max(1e-9)
                + JOB_ANSWER_TOKENS / w.tg_tokens_per_s.max(1e-9)
        })
        .sum()
}

/// The measurements remembered in one file (JSON), newest last.
pub struct Memory {
    path: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    measurements: Vec<Measurement>,
}

impl Memory {
    pub fn new(path: PathBuf) -> Self {
        Memory { path }
    }

    /// What was measured for `key`, if anything. A missing or unreadable file remembers
    /// nothing: the worst it costs is measuring again.
    pub fn recall(&self, key: &Key) -> Option<Measurement> {
        self.read()
            .measurements
            .into_iter()
            .rev()
            .find(|m| &m.key == key)
    }

    /// Keeps `measurement`, replacing an older one for the same key; written to a temporary
    /// file first and renamed, so a crash or a full disk never leaves half a file.
    pub fn remember(&self, measurement: &Measurement) -> std::io::Result<()> {
        let mut file = self.read();
        file.measurements.retain(|m| m.key != measurement.key);
        file.measurements.push(measurement.clone());
        let excess = file.measurements.len().saturating_sub(KEPT);
        file.measurements.drain(..excess);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        let temporary = self.path.with_extension("json.tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.path)
    }

    fn read(&self) -> File {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }
}

fn modified_secs(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The CPU's model name and feature flags: another CPU (the same machine image on other
/// hardware) is measured again.
fn cpu_id() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map_or("", |(_, v)| v.trim())
            .to_string()
    };
    let model = field("model name");
    let flags = field("flags");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} {}, {cores} cores, flags {:016x}",
        std::env::consts::ARCH,
        if model.is_empty() { "unknown" } else { &model },
        fnv1a(flags.as_bytes())
    )
}

/// This executable, by the SHA-256 of its bytes: a rebuild with other flags or another
/// llama.cpp is another build, and a copy of the same build (or a touch) is not. Read once per
/// worker process, and only when a measurement is looked up: hashing a 23 MB binary takes
/// about a tenth of a second, which a model reload need not pay again.
fn build_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(hash_executable).clone()
}

fn hash_executable() -> String {
    use sha2::{Digest, Sha256};
    let digest = std::env::current_exe()
        .and_then(std::fs::File::open)
        .and_then(|mut file| {
            use std::io::Read;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match file.read(&mut buf)? {
                    0 => break,
                    n => hasher.update(&buf[..n]),
                }
            }
            Ok(hasher.finalize())
        });
    match digest {
        Ok(digest) => {
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("{} sha256:{hex}", env!("CARGO_PKG_VERSION"))
        }
        // Unreadable: a key that never matches, so nothing is reused on a guess.
        Err(e) => format!("{} unreadable: {e}", env!("CARGO_PKG_VERSION")),
    }
}

/// A stable 64-bit hash (std's is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(pp: f64, tg: f64) -> Vec<DepthRate> {
        vec![
            DepthRate {
                depth: 0,
                pp_tokens_per_s: pp,
                tg_tokens_per_s: tg * 1.4,
            },
            DepthRate {
                depth: 512,
                pp_tokens_per_s: pp * 0.9,
                tg_tokens_per_s: tg,
            },
            DepthRate {
                depth: 1500,
                pp_tokens_per_s: pp * 0.6,
                tg_tokens_per_s: tg * 0.7,
            },
        ]
    }

    /// Prompt and generation rates at each of `DEPTHS`.
    fn at_depths(r: [(f64, f64); 3]) -> Vec<DepthRate> {
        r.iter()
            .zip(DEPTHS)
            .map(|(&(pp, tg), depth)| DepthRate {
                depth,
                pp_tokens_per_s: pp,
                tg_tokens_per_s: tg,
            })
            .collect()
    }

    #[test]
    fn the_setting_that_does_a_writers_job_sooner_wins() {
        // The Xeon of issue 12: on reads faster, off generates much faster at depth.
        assert_eq!(
            choose(&rates(192.0, 35.0), &rates(148.0, 63.0)),
            FlashAttention::Off
        );
        // A CPU where on reads faster and generates as fast.
        assert_eq!(
            choose(&rates(190.0, 60.0), &rates(150.0, 60.0)),
            FlashAttention::On
        );
        // Within the noise: off stays.
        assert_eq!(
            choose(&rates(151.0, 61.0), &rates(150.0, 60.0)),
            FlashAttention::Off
        );
        // Measured on the development Xeon (llama-bench, t/s, prompt/generation at 0, 512 and
        // 1,500 tokens): on 263/110, 216/66, 135/49; off 200/94, 210/83, 124/58. On wins the
        // empty context, off every depth a draft has; weighed over the three, off is chosen.
        let on = at_depths([(263.0, 110.0), (216.0, 66.0), (135.0, 49.0)]);
        let off = at_depths([(200.0, 94.0), (210.0, 83.0), (124.0, 58.0)]);
        assert_eq!(choose(&on, &off), FlashAttention::Off);
        // Timed at an empty context alone, the same machine would have chosen on.
        assert_eq!(choose(&on[..1], &off[..1]), FlashAttention::On);
        // Nothing measured for one side: the other.
        assert_eq!(choose(&[], &rates(150.0, 60.0)), FlashAttention::Off);
        assert_eq!(choose(&rates(150.0, 60.0), &[]), FlashAttention::On);
    }

    #[test]
    fn the_depths_timed_are_those_the_writers_context_reaches() {
        assert_eq!(sweep(4096).depths, DEPTHS);
        assert_eq!(sweep(4096).tokens_needed(), 1500 + 512);
        // 1,500 tokens and a 512-token prompt do not fit in 2,048.
        assert_eq!(sweep(2048).depths, [0, 512]);
        assert_eq!(sweep(512).depths, [0]);
        assert_eq!(sweep(64).depths, [0]);
    }

    #[test]
    fn the_build_is_known_by_its_content() {
        let id = build_id();
        assert!(id.contains("sha256:"), "{id}");
        assert_eq!(id, build_id(), "the same bytes, the same build");
        assert_eq!(id.split("sha256:").nth(1).unwrap().len(), 32);
    }

    #[test]
    fn a_measurement_shows_what_it_chose_from() {
        let dir = tempfile::tempdir().unwrap();
        let measured = Measurement::new(key(dir.path()), rates(190.0, 35.0), rates(150.0, 63.0));
        assert_eq!(
            measured.summary(),
            "prompt/generation t/s at 1500 tokens: on 114/24, off 90/44"
        );
        let only = Measurement::only(key(dir.path()), FlashAttention::Off);
        assert_eq!(only.choice, FlashAttention::Off);
        assert_eq!(
            only.summary(),
            "flash attention on could not be used with this model here"
        );
    }

    fn key(dir: &Path) -> Key {
        let model = dir.join("m.gguf");
        std::fs::write(&model, b"GGUF").unwrap();
        Key::new(&model, 2, &DEPTHS, "CPU 31").unwrap()
    }

    #[test]
    fn a_measurement_is_recalled_for_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let memory = Memory::new(dir.path().join("state/engine-tuning.json"));
        let key = key(dir.path());
        assert_eq!(memory.recall(&key), None);
        let measured = Measurement::new(key.clone(), rates(190.0, 60.0), rates(150.0, 60.0));
        memory.remember(&measured).unwrap();
        assert_eq!(memory.recall(&key), Some(measured.clone()));

        // Another thread count, another build, a changed model file: not the same machine.
        let others = [
            Key {
                threads: 1,
                ..key.clone()
            },
            Key {
                build: "0.0.0 1 1".into(),
                ..key.clone()
            },
            Key {
                model_bytes: 5,
                ..key.clone()
            },
            // Other depths, or none (a file from before depths were part of the key).
            Key {
                depths: vec![0, 512],
                ..key.clone()
            },
            // The layers on a GPU: a CPU measurement says nothing of it.
            Key {
                placement: "CUDA0 31".into(),
                ..key.clone()
            },
            Key {
                placement: String::new(),
                ..key.clone()
            },
            Key {
                depths: Vec::new(),
                ..key.clone()
            },
        ];
        for other in &others {
            assert_eq!(memory.recall(other), None, "{other:?}");
        }

        // Measuring again replaces the entry instead of adding one.
        let again = Measurement::new(key.clone(), rates(100.0, 30.0), rates(150.0, 60.0));
        memory.remember(&again).unwrap();
        assert_eq!(memory.recall(&key), Some(again));
        let text = std::fs::read_to_string(dir.path().join("state/engine-tuning.json")).unwrap();
        assert_eq!(text.matches("\"choice\"").count(), 1, "{text}");
    }

    #[test]
    fn a_corrupt_file_is_measured_again_and_then_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine-tuning.json");
        std::fs::write(&path, "{ not json").unwrap();
        let memory = Memory::new(path.clone());
        let key = key(dir.path());
        assert_eq!(memory.recall(&key), None);
        let measured = Measurement::new(key.clone(), rates(1.0, 1.0), rates(2.0, 2.0));
        memory.remember(&measured).unwrap();
        assert_eq!(
            memory.recall(&key).map(|m| m.choice),
            Some(FlashAttention::Off)
        );
    }

    #[test]
    fn the_file_keeps_the_newest_measurements_only() {
        let dir = tempfile::tempdir().unwrap();
        let memory = Memory::new(dir.path().join("t.json"));
        let key = key(dir.path());
        for threads in 0..(KEPT as u32 + 5) {
            let key = Key {
                threads,
                ..key.clone()
            };
            memory
                .remember(&Measurement::new(key, rates(1.0, 1.0), rates(1.0, 1.0)))
                .unwrap();
        }
        assert_eq!(memory.read().measurements.len(), KEPT);
        let newest = Key {
            threads: KEPT as u32 + 4,
            ..key.clone()
        };
        assert!(memory.recall(&newest).is_some());
        assert!(memory.recall(&Key { threads: 0, ..key }).is_none());
    }
}
