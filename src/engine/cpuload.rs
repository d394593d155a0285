//! How busy the machine is with other programs, so a worker on `threads = 0` can use the cores
//! that are actually free. llama.cpp's CPU threads spin while they wait for each other at every
//! step of a decode: a thread per core on a machine where another program keeps a core busy
//! waits on that program's time slices, and generation slows several-fold (on 2 cores with two
//! busy processes beside it: 15 tokens/s with 2 threads, 55 with 1).
//!
//! Linux only (`/proc/stat` and `/proc/self/stat`); elsewhere there is no reading and the
//! thread count stays one per core.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How often the counters are read, and how many readings make the window (about a second:
/// long enough to smooth a blip, short enough to see a build that has just started).
const EVERY: Duration = Duration::from_millis(250);
const WINDOW: usize = 4;
const FIRST: Duration = Duration::from_millis(100);
/// `others` before the first reading.
const NO_READING: u32 = u32::MAX;

/// Cumulative CPU time, in clock ticks: all CPUs' busy and total time, and this process's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub busy: u64,
    pub total: u64,
    pub own: u64,
    pub cpus: u32,
}

/// Parses the aggregate `cpu` line of `/proc/stat` (busy, total) and counts the `cpuN` lines.
/// Idle and iowait are free time; steal is not, since a vCPU the hypervisor took away stalls a
/// spinning thread as surely as another program does.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64, u32)> {
    let mut lines = text.lines();
    let first = lines.next()?;
    let mut fields = first.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let values: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() < 5 {
        return None;
    }
    let total: u64 = values.iter().sum();
    let free = values[3] + values[4];
    let cpus = lines
        .take_while(|l| l.starts_with("cpu"))
        .filter(|l| l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u32;
    Some((total.saturating_sub(free), total, cpus.max(1)))
}

/// This process's user and system time from `/proc/self/stat` (fields 14 and 15; the command
/// name before them may hold spaces and parentheses, so fields are counted after the last `)`).
pub fn parse_own_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn read_sample() -> Option<Sample> {
    let (busy, total, cpus) = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let own = parse_own_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    Some(Sample {
        busy,
        total,
        own,
        cpus,
    })
}

/// Cores' worth of CPU time that other programs used between two readings.
pub fn others_busy(before: &Sample, after: &Sample) -> f64 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0.0;
    }
    let busy = after.busy.saturating_sub(before.busy);
    let own = after.own.saturating_sub(before.own);
    let wall = total as f64 / f64::from(after.cpus.max(1));
    (busy.saturating_sub(own) as f64 / wall).max(0.0)
}

/// The thread count to use next, given `cores`, the `current` count and the cores' worth of
/// CPU that other programs use. It moves only when the free cores are clearly off the current
/// count, so a load that hovers does not make every request pay for a new context. Down comes
/// a little sooner than up: while our own threads spin, a busy program gets only part of a core
/// (a third of two cores, against two spinning threads), so its reading is low.
pub fn next_threads(cores: usize, current: usize, others: f64) -> usize {
    let cores = cores.max(1);
    let free = cores as f64 - others;
    let current = current.clamp(1, cores);
    let off = free - current as f64;
    if (-0.5..=0.6).contains(&off) {
        return current;
    }
    ((free + 0.4).floor().max(1.0) as usize).min(cores)
}

/// Names a file that holds other programs' load, in cores ("1.5"), to be read instead of the
/// machine's counters: how the tests drive `threads = 0` whatever else the machine is doing.
/// The counters themselves are covered by the unit tests here and by `quill bench --busy`.
pub const LOAD_FILE_ENV: &str = "QUILL_CPU_LOAD_FILE";

/// A background reader of the counters. Dropping it leaves the thread to end with the process
/// (it only sleeps and reads two small files).
/// Other programs' use of the CPU over a span of time (a measurement that must not be made on a
/// busy machine): `start`, then `others` at the span's end. Reads `LOAD_FILE_ENV` instead of
/// the counters when it is set, as `CpuLoad` does.
pub struct Span {
    start: Option<Sample>,
}

impl Span {
    pub fn start() -> Span {
        Span {
            start: read_sample(),
        }
    }

    /// Cores' worth of CPU other programs used since `start`; 0 where nothing can be read.
    pub fn others(&self) -> f64 {
        if let Some(file) = std::env::var_os(LOAD_FILE_ENV) {
            return std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
        }
        self.start
            .zip(read_sample())
            .map_or(0.0, |(before, after)| others_busy(&before, &after))
    }
}

pub struct CpuLoad {
    /// Other programs' load over the last window, in hundredths of a core.
    others: Arc<AtomicU32>,
}

impl CpuLoad {
    /// Starts reading; `None` where the counters cannot be read (not Linux, no `/proc`).
    pub fn start() -> Option<CpuLoad> {
        if let Some(file) = std::env::var_os(LOAD_FILE_ENV) {
            return Self::from_file(file.into());
        }
        let first = read_sample()?;
        let others = Arc::new(AtomicU32::new(NO_READING));
        let shared = Arc::clone(&others);
        std::thread::Builder::new()
            .name("cpu-load".into())
            .spawn(move || {
                let mut window = VecDeque::from([first]);
                // A first reading soon, for the first request after a quick model load.
                let mut pause = FIRST;
                loop {
                    std::thread::sleep(pause);
                    pause = EVERY;
                    let Some(sample) = read_sample() else {
                        continue;
                    };
                    if window.len() > WINDOW {
                        window.pop_front();
                    }
                    let load = others_busy(&window[0], &sample);
                    shared.store((load * 100.0).round() as u32, Ordering::Relaxed);
                    window.push_back(sample);
                }
            })
            .ok()?;
        Some(CpuLoad { others })
    }

    /// Reads the load from `file` (see `LOAD_FILE_ENV`) at once and then as often as the
    /// counters would be read.
    fn from_file(file: std::path::PathBuf) -> Option<CpuLoad> {
        let others = Arc::new(AtomicU32::new(NO_READING));
        let shared = Arc::clone(&others);
        std::thread::Builder::new()
            .name("cpu-load".into())
            .spawn(move || {
                loop {
                    if let Some(load) = std::fs::read_to_string(&file)
                        .ok()
                        .and_then(|t| t.trim().parse::<f64>().ok())
                    {
                        // Clamped: u32::MAX means no reading yet.
                        let load = load.clamp(0.0, 10_000.0);
                        shared.store((load * 100.0).round() as u32, Ordering::Relaxed);
                    }
                    std::thread::sleep(EVERY);
                }
            })
            .ok()?;
        Some(CpuLoad { others })
    }

    /// Cores' worth of CPU other programs used over about the last second. The first reading
    /// comes `FIRST` after `start` (usually while the model loads); until then this waits for
    /// it, a little longer at most, and then counts the machine as idle.
    pub fn others(&self) -> f64 {
        let deadline = std::time::Instant::now() + FIRST * 2;
        loop {
            let value = self.others.load(Ordering::Relaxed);
            if value != NO_READING {
                return f64::from(value) / 100.0;
            }
            if std::time::Instant::now() >= deadline {
                return 0.0;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_counts_steal_as_busy_and_iowait_as_free() {
        let text = "cpu  100 0 50 800 20 0 5 25 7 0\ncpu0 50 0 25 400 10 0 2 12 3 0\n\
                    cpu1 50 0 25 400 10 0 3 13 4 0\nintr 1 2 3\n";
        // total = 100+0+50+800+20+0+5+25 = 1000; free = idle 800 + iowait 20.
        assert_eq!(parse_proc_stat(text), Some((180, 1000, 2)));
        assert_eq!(parse_proc_stat("intr 1 2\n"), None);
        assert_eq!(parse_proc_stat("cpu 1 x 3 4 5\n"), None);
    }

    #[test]
    fn own_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (quill (worker) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 37 5 0 0 20 0 3";
        assert_eq!(parse_own_stat(text), Some(42));
        assert_eq!(parse_own_stat("garbage"), None);
    }

    fn sample(busy: u64, total: u64, own: u64) -> Sample {
        Sample {
            busy,
            total,
            own,
            cpus: 2,
        }
    }

    #[test]
    fn the_workers_own_time_is_not_counted_as_others() {
        // One second on 2 CPUs at 100 ticks/s: 200 ticks in all.
        let before = sample(0, 0, 0);
        // The worker itself kept both cores busy: nobody else is.
        assert_eq!(others_busy(&before, &sample(200, 200, 200)), 0.0);
        // Another program used one core while the worker slept.
        assert_eq!(others_busy(&before, &sample(100, 200, 0)), 1.0);
        // Both: the worker one core, others one core.
        assert_eq!(others_busy(&before, &sample(200, 200, 100)), 1.0);
        assert_eq!(others_busy(&before, &before), 0.0);
    }

    #[test]
    fn threads_follow_the_free_cores_with_a_margin() {
        // 2 cores, idle: both.
        assert_eq!(next_threads(2, 1, 0.05), 2);
        assert_eq!(next_threads(2, 2, 0.05), 2);
        // One busy program: one thread.
        assert_eq!(next_threads(2, 2, 1.0), 1);
        assert_eq!(next_threads(2, 2, 0.7), 1);
        // A busy loop beside two spinning threads of ours gets about two thirds of a core.
        assert_eq!(next_threads(2, 2, 0.6), 1);
        // Two or more: still one, never none.
        assert_eq!(next_threads(2, 2, 2.0), 1);
        assert_eq!(next_threads(2, 2, 7.5), 1);
        // Hovering near the middle changes nothing either way.
        assert_eq!(next_threads(2, 2, 0.5), 2);
        assert_eq!(next_threads(2, 1, 0.5), 1);
        // Larger machines move by whole cores.
        assert_eq!(next_threads(8, 8, 1.0), 7);
        assert_eq!(next_threads(8, 8, 3.2), 5);
        assert_eq!(next_threads(8, 5, 0.1), 8);
        assert_eq!(next_threads(8, 7, 1.3), 7);
        // A current count out of range is brought back into it.
        assert_eq!(next_threads(4, 9, 0.0), 4);
    }
}
