//! A seeded mutation fuzzer on the stable toolchain: each input is a corpus entry changed by a few random
//! mutations (bit flips, interesting bytes and numbers, insertions, deletions, repeats, splices with another
//! entry, truncation); the target runs under `catch_unwind`, so a panic is recorded with its input instead of
//! ending the run. Deterministic for a given seed. Slow inputs and the process's peak memory are recorded too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// xorshift64*: small, fast, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Tokens that break parsers of text formats more often than random bytes do.
const TOKENS: &[&str] = &[
    "-1",
    "0",
    "1e39",
    "-1e39",
    "1e-45",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "18446744073709551615",
    "4294967296",
    "99999999999",
    "\n",
    "\n- ",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"",
    "'",
    "x",
    " ",
    "\t",
    "&a",
    "*a",
    "!!",
    "null",
    "true",
    "%",
    "#",
    "\u{0}",
    "\u{feff}",
    "é",
];

/// Bytes that sit on type boundaries.
const BYTES: &[u8] = &[0, 1, 0x7f, 0x80, 0xfe, 0xff, b'0', b'9', b'-', b'.', b'e'];

/// One input: `seed_input` changed by 1 to 4 mutations (`corpus` supplies splices).
pub fn mutate(rng: &mut Rng, seed_input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed_input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = BYTES[rng.below(BYTES.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(i..i, token.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                // Repeat a slice (grows nesting, counts and lists).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let part = v[i..i + n].to_vec();
                for _ in 0..1 + rng.below(8) {
                    v.splice(i..i, part.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let (i, j) = (rng.below(len + 1), rng.below(other.len()));
                    let n = 1 + rng.below((other.len() - j).min(256));
                    v.splice(i..len.min(i + n), other[j..j + n].iter().copied());
                }
            }
            6 if len > 0 => v.truncate(rng.below(len)),
            7 if len >= 4 => {
                // An interesting 32-bit word (little-endian counts and sizes).
                let i = rng.below(len - 3);
                let words = [0u32, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x0001_0000, 0x7f80_0000];
                v[i..i + 4].copy_from_slice(&words[rng.below(words.len())].to_le_bytes());
            }
            _ => {
                let i = rng.below(len + 1);
                v.insert(i, rng.next_u64() as u8);
            }
        }
    }
    v
}

/// What one fuzzing run found.
#[derive(Debug, Default)]
pub struct Report {
    pub inputs: u64,
    /// Inputs the target accepted (the rest were errors, as they should be for most).
    pub accepted: u64,
    /// (input, panic message) of each input that panicked, at most 8 kept.
    pub panics: Vec<(Vec<u8>, String)>,
    pub panic_count: u64,
    /// Inputs that took longer than the slow limit: (input length, time).
    pub slow: Vec<(usize, Duration)>,
    pub slowest: Duration,
    /// The process's peak resident memory during the run (VmHWM, reset at its start; KiB).
    pub peak_rss_kib: u64,
}

/// The process's peak resident set size (`VmHWM` of /proc/self/status), KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `target` (true: accepted, false: rejected with an error) on `inputs` mutated corpus entries.
pub fn run(corpus: &[Vec<u8>], inputs: u64, seed: u64, slow_limit: Duration, target: &dyn Fn(&[u8]) -> bool) -> Report {
    assert!(!corpus.is_empty(), "a fuzz target needs a corpus");
    // Reset the peak-RSS mark (Linux: `5` to clear_refs), so that the peak afterwards is this target's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let last_panic = Arc::new(Mutex::new(String::new()));
    let previous_hook = std::panic::take_hook();
    let recorder = Arc::clone(&last_panic);
    std::panic::set_hook(Box::new(move |info| {
        *recorder.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
    }));
    // The corpus itself first, then mutations.
    let total = inputs.max(corpus.len() as u64);
    for k in 0..total {
        let input = match corpus.get(k as usize) {
            Some(entry) => entry.clone(),
            None => {
                let base = rng.below(corpus.len());
                mutate(&mut rng, &corpus[base], corpus)
            }
        };
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = start.elapsed();
        report.inputs += 1;
        report.slowest = report.slowest.max(took);
        if took > slow_limit && report.slow.len() < 8 {
            report.slow.push((input.len(), took));
        }
        match outcome {
            Ok(true) => report.accepted += 1,
            Ok(false) => {}
            Err(_) => {
                report.panic_count += 1;
                if report.panics.len() < 8 {
                    let message = last_panic.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    report.panics.push((input, message));
                }
            }
        }
    }
    std::panic::set_hook(previous_hook);
    report.peak_rss_kib = peak_rss_kib();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_deterministic_and_panics_are_caught_with_their_input() {
        let corpus = vec![b"hello: world".to_vec(), b"[1, 2, 3]".to_vec()];
        let a: Vec<Vec<u8>> = (0..50).scan(Rng::new(7), |r, _| Some(mutate(r, &corpus[0], &corpus))).collect();
        let b: Vec<Vec<u8>> = (0..50).scan(Rng::new(7), |r, _| Some(mutate(r, &corpus[0], &corpus))).collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|m| m != &corpus[0]));
        // A target that panics on any input containing `9`: found, kept with its input and message.
        let report = run(&corpus, 2000, 1, Duration::from_secs(1), &|input| {
            assert!(!input.contains(&b'9'), "a nine");
            true
        });
        assert_eq!(report.inputs, 2000);
        assert!(report.panic_count > 0 && report.panics[0].0.contains(&b'9'), "{report:?}");
        assert!(report.panics[0].1.contains("a nine"));
    }
}
