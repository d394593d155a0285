//! `quill bench --busy`: generation speed while other programs keep cores busy, with
//! `threads = 0` (the free cores, read before each request) against a fixed thread per core,
//! side by side in one run: idle, one busy loop, and a busy loop on every core. Each round
//! starts the loops, waits for the load reading to see them, then runs one generation on each
//! engine; the engine that runs first changes each round.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::{median, print_report};
use crate::engine::Client;
use crate::engine::protocol::{Fit, GenerateOptions, Part, Prompt, SamplingParams};
use crate::headless::{Failure, RunOptions, Settings, start_engine, stream_job};

const ROUNDS: usize = 5;
const TOKENS: u32 = 64;
/// Longer than the load reading's window, so each reading sees only the loads meant for it
/// (and not the other engine's last generation).
const SETTLE: Duration = Duration::from_millis(1500);

#[derive(Debug, Serialize)]
pub struct BusyRow {
    pub busy_loops: usize,
    pub auto_tokens_per_s: f64,
    pub auto_threads: u32,
    pub fixed_tokens_per_s: f64,
    pub ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct BusyReport {
    pub cores: usize,
    pub rounds: usize,
    pub tokens: u32,
    pub rows: Vec<BusyRow>,
}

/// Threads that spin until stopped, as a build running beside Quill would; the behaviour test
/// of `threads = 0` uses them too.
pub struct BusyLoops {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BusyLoops {
    pub fn start(n: usize) -> BusyLoops {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        BusyLoops { stop, threads }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// One greedy generation of `TOKENS`: tokens per second and the threads it used.
fn generate(engine: &mut Client, job: u64) -> Result<(f64, u32), Failure> {
    let prompt = Prompt::Completion {
        parts: vec![Part {
            text: super::DRAFT.chars().take(600).collect(),
            fit: Fit::KeepEnd,
        }],
    };
    let sampling = SamplingParams::greedy(TOKENS);
    let options = GenerateOptions {
        reuse_prefix: true,
        ignore_eos: true,
        variants: 1,
        ..GenerateOptions::default()
    };
    let run = stream_job(engine, job, &prompt, &sampling, options, &mut |_| Ok(true))?;
    Ok((run.stats.tokens_per_s, run.stats.threads))
}

pub fn run(settings: &Settings, json: bool) -> Result<(), Failure> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = |threads| {
        start_engine(
            settings,
            &RunOptions {
                threads: Some(threads),
                ..RunOptions::default()
            },
        )
        .map(|(engine, _)| engine)
    };
    let mut auto = start(0)?;
    let mut fixed = start(cores as u32)?;
    let mut job = 0;
    let mut rows = Vec::new();
    let mut loads = vec![0, 1, cores];
    loads.dedup();
    for busy_loops in loads {
        let (mut auto_rates, mut fixed_rates, mut auto_threads) = (vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let loops = BusyLoops::start(busy_loops);
            let mut measure = |engine: &mut Client| {
                std::thread::sleep(SETTLE);
                job += 1;
                generate(engine, job)
            };
            let (a, f) = if round % 2 == 0 {
                let a = measure(&mut auto);
                (a, measure(&mut fixed))
            } else {
                let f = measure(&mut fixed);
                (measure(&mut auto), f)
            };
            loops.stop();
            let (rate, threads) = a?;
            auto_rates.push(rate);
            auto_threads.push(f64::from(threads));
            fixed_rates.push(f?.0);
        }
        let (a, f) = (median(&auto_rates), median(&fixed_rates));
        rows.push(BusyRow {
            busy_loops,
            auto_tokens_per_s: a,
            auto_threads: median(&auto_threads).round() as u32,
            fixed_tokens_per_s: f,
            ratio: a / f.max(1e-9),
        });
    }
    let report = BusyReport {
        cores,
        rounds: ROUNDS,
        tokens: TOKENS,
        rows,
    };
    print_report(&report, json, print_table);
    Ok(())
}

fn print_table(r: &BusyReport) {
    println!(
        "generation of {} tokens beside busy loops, {} cores, median of {} rounds",
        r.tokens, r.cores, r.rounds
    );
    let fixed = format!("threads = {} (fixed)", r.cores);
    println!("| busy loops | threads = 0 (used) | {fixed:>20} | ratio  |");
    println!("|------------|--------------------|----------------------|--------|");
    for row in &r.rows {
        println!(
            "| {:>10} | {:>9.1} t/s ({:>2}) | {:>16.1} t/s | {:>5.2}x |",
            row.busy_loops,
            row.auto_tokens_per_s,
            row.auto_threads,
            row.fixed_tokens_per_s,
            row.ratio
        );
    }
}
