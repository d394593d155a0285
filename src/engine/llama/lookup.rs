//! Prompt-lookup drafting: the next few tokens guessed by finding the text's last few tokens
//! earlier in the prompt or the answer so far, and how many of them are worth checking.
//!
//! A rewrite, a grammar fix or a summary copies runs of its input; the model then only has to
//! confirm a guess, and it confirms several in one batched decode for little more than the
//! cost of one. What a guess costs and how often guesses hold are measured as the answer goes
//! (`DecodeCost`, `Acceptance`), so a draft is only as long as it pays: a free continuation,
//! where guesses seldom hold, goes back to one token a decode.

/// The longest n-gram looked up, and the shortest.
const NGRAM_MAX: usize = 4;
const NGRAM_MIN: usize = 1;

/// The most tokens drafted at once.
pub const DRAFT_MAX: usize = 10;

/// The next tokens of `history` (the prompt, then the answer so far) as the text after the
/// latest earlier occurrence of its last n tokens reads, n from `NGRAM_MAX` down to
/// `NGRAM_MIN`; the n that matched, or None when nothing did. The occurrence must have at
/// least one token after it.
pub fn draft<T: PartialEq + Copy>(history: &[T], max: usize) -> Option<(Vec<T>, usize)> {
    if max == 0 {
        return None;
    }
    for n in (NGRAM_MIN..=NGRAM_MAX).rev() {
        if history.len() <= n {
            continue;
        }
        let key = &history[history.len() - n..];
        // Latest first: the start of a match ends before the key does, so it has a follower.
        let found = (0..history.len() - n)
            .rev()
            .find(|&start| &history[start..start + n] == key);
        if let Some(start) = found {
            let from = start + n;
            let to = (from + max).min(history.len());
            return Some((history[from..to].to_vec(), n));
        }
    }
    None
}

/// How often a drafted token holds, by the length of the n-gram that found it (a longer match
/// is a better guess), as a moving average over the answer's recent drafts.
#[derive(Debug, Clone)]
pub struct Acceptance {
    rate: [f64; NGRAM_MAX + 1],
    /// Drafts skipped since the last one, by n-gram length: one in `PROBE_EVERY` is tried
    /// anyway, so a rate that fell can rise again when the answer starts copying.
    skipped: [u32; NGRAM_MAX + 1],
}

/// The weight of the newest draft in a rate.
const RATE_WEIGHT: f64 = 0.3;
const PROBE_EVERY: u32 = 16;

impl Default for Acceptance {
    fn default() -> Self {
        Acceptance {
            // Before anything is known: a one-token match seldom holds, a long one more often
            // (set low: a draft that does not hold costs a free continuation its speed).
            rate: [0.0, 0.2, 0.35, 0.5, 0.65],
            skipped: [0; NGRAM_MAX + 1],
        }
    }
}

impl Acceptance {
    /// The chance that each drafted token holds, given the one before it did.
    #[cfg(test)]
    pub fn rate(&self, ngram: usize) -> f64 {
        self.rate[ngram.min(NGRAM_MAX)]
    }

    /// A draft found with an `ngram` match was checked: `accepted` of its tokens held, and the
    /// one after them did not (`rejected`) or there was none left to check.
    pub fn record(&mut self, ngram: usize, accepted: usize, rejected: bool) {
        let trials = accepted + usize::from(rejected);
        if trials == 0 {
            return;
        }
        let observed = accepted as f64 / trials as f64;
        let rate = &mut self.rate[ngram.min(NGRAM_MAX)];
        // Each token checked is a trial: a long draft moves the rate more than a short one.
        let weight = 1.0 - (1.0 - RATE_WEIGHT).powi(trials as i32);
        *rate += weight * (observed - *rate);
    }

    /// How many of the `available` drafted tokens to check in a decode of `base` tokens
    /// besides (the variants' own), at this cost of a decode: the count that gives the most
    /// tokens per second, 0 when none pays, or 1 now and then to keep the rate current.
    pub fn choose(
        &mut self,
        ngram: usize,
        available: usize,
        (cost, base): (&DecodeCost, usize),
    ) -> usize {
        let slot = ngram.min(NGRAM_MAX);
        let best = best_length(self.rate[slot], available, (cost, base));
        if best > 0 || available == 0 {
            self.skipped[slot] = 0;
            return best;
        }
        self.skipped[slot] += 1;
        if self.skipped[slot] >= PROBE_EVERY {
            self.skipped[slot] = 0;
            return 1;
        }
        0
    }
}

/// The draft length in `0..=available` that gives the most tokens per unit of decode time when
/// each drafted token holds with chance `rate` (given the one before did): `1 + E[accepted]`
/// tokens for `k` tokens more in a decode of `base` (at least 1). A draft must beat none by a
/// margin, for the work around it that the cost model does not see.
pub fn best_length(rate: f64, available: usize, (cost, base): (&DecodeCost, usize)) -> usize {
    const MARGIN: f64 = 1.03;
    let base = base.max(1);
    let plain = 1.0 / cost.time(base);
    let mut best = (0, plain * MARGIN);
    let mut expected = 0.0;
    let mut chance = 1.0;
    for k in 1..=available.min(DRAFT_MAX) {
        chance *= rate;
        expected += chance;
        let speed = (1.0 + expected) / cost.time(base + k);
        if speed > best.1 {
            best = (k, speed);
        }
    }
    best.0
}

/// What a decode costs by the tokens in it, `fixed + per_token * n`, fitted to the decodes
/// timed so far (a moving least-squares line) with a prior: until the sizes vary enough to fit,
/// the prior gives the slope.
#[derive(Debug, Clone)]
pub struct DecodeCost {
    /// Moving sums of n, t, n^2, n*t and the weight.
    sums: [f64; 5],
    /// The prior is still in units of a one-token decode: the first measurement scales it.
    unscaled: bool,
}

/// The prior: a token more costs this share of a one-token decode. With the default model on a
/// 2-core CPU a decode is nearly compute-bound (each row's logits alone are 28 M multiplies):
/// a 4-token decode took about 3.2x a 1-token one. A prior that errs dear only delays drafts
/// until the decodes timed show them cheaper.
const PRIOR_PER_TOKEN: f64 = 0.6;
/// The weight the prior starts with against measurements, in decodes.
const PRIOR_WEIGHT: f64 = 4.0;
/// The weight of older decodes (and of the prior) decays by this much each new one.
const COST_DECAY: f64 = 0.98;

impl Default for DecodeCost {
    fn default() -> Self {
        let mut cost = DecodeCost {
            sums: [0.0; 5],
            unscaled: true,
        };
        // The prior as two points, one token and ten, in units of a one-token decode.
        for n in [1.0, 10.0] {
            cost.add(n, prior_time(n), PRIOR_WEIGHT / 2.0);
        }
        cost
    }
}

fn prior_time(n: f64) -> f64 {
    1.0 - PRIOR_PER_TOKEN + PRIOR_PER_TOKEN * n
}

impl DecodeCost {
    fn add(&mut self, n: f64, t: f64, w: f64) {
        let [sn, st, snn, snt, sw] = &mut self.sums;
        *sn += w * n;
        *st += w * t;
        *snn += w * n * n;
        *snt += w * n * t;
        *sw += w;
    }

    /// A decode of `tokens` took `seconds`.
    pub fn record(&mut self, tokens: usize, seconds: f64) {
        let n = tokens.max(1) as f64;
        if std::mem::take(&mut self.unscaled) {
            // The prior in seconds: as if its line went through this first measurement.
            let scale = seconds / prior_time(n);
            self.sums[1] *= scale;
            self.sums[3] *= scale;
        }
        for s in &mut self.sums {
            *s *= COST_DECAY;
        }
        self.add(n, seconds, 1.0);
    }

    /// The fitted time of a decode of `tokens` (in units of a one-token decode until one was
    /// measured: only ratios of these times matter).
    pub fn time(&self, tokens: usize) -> f64 {
        let [sn, st, snn, snt, sw] = self.sums;
        let n = tokens as f64;
        let var = snn * sw - sn * sn;
        let per_token = if var.abs() < 1e-12 {
            0.0
        } else {
            ((snt * sw - sn * st) / var).max(0.0)
        };
        let fixed = ((st - per_token * sn) / sw).max(f64::MIN_POSITIVE);
        fixed + per_token * n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_is_what_followed_the_latest_longest_match() {
        // "the cat sat on the mat . the cat" -> after "the cat": "sat on the ..."
        let history = [1, 2, 3, 4, 1, 5, 6, 1, 2];
        assert_eq!(draft(&history, 3), Some((vec![3, 4, 1], 2)));
        assert_eq!(draft(&history, 10), Some((vec![3, 4, 1, 5, 6, 1, 2], 2)));
        // Only a one-token match: the latest occurrence of 1 wins.
        assert_eq!(draft(&[1, 7, 1, 8, 9, 1], 2), Some((vec![8, 9], 1)));
        // A longer match beats a later shorter one.
        assert_eq!(
            draft(&[4, 5, 6, 7, 8, 6, 9, 4, 5, 6], 2),
            Some((vec![7, 8], 3))
        );
        assert_eq!(draft(&[1, 2, 3], 4), None);
        assert_eq!(draft::<u8>(&[], 4), None);
        assert_eq!(draft(&[1, 1], 0), None);
        // The key itself is never its own match; an occurrence at the very end has no follower.
        assert_eq!(draft(&[1, 1], 3), Some((vec![1], 1)));
    }

    #[test]
    fn the_cost_line_fits_measured_decodes_and_starts_from_the_prior() {
        let mut cost = DecodeCost::default();
        let ratio = cost.time(9) / cost.time(1);
        assert!((ratio - prior_time(9.0)).abs() < 1e-9, "{ratio}");
        // Measured: 10 ms fixed, 2 ms a token; the prior fades.
        for i in 0..400 {
            let n = 1 + i % 8;
            cost.record(n, 0.010 + 0.002 * n as f64);
        }
        let (t1, t8) = (cost.time(1), cost.time(8));
        assert!((t1 - 0.012).abs() < 1e-4, "{t1}");
        assert!((t8 - 0.026).abs() < 1e-4, "{t8}");
        // Only one-token decodes measured: the prior still gives the slope, in seconds.
        let mut cost = DecodeCost::default();
        for _ in 0..50 {
            cost.record(1, 0.012);
        }
        let ratio = cost.time(11) / cost.time(1);
        assert!((ratio - prior_time(11.0)).abs() < 0.5, "{ratio}");
    }

    /// A cost line measured at `fixed + per_token * n` seconds.
    fn measured(fixed: f64, per_token: f64) -> DecodeCost {
        let mut cost = DecodeCost::default();
        for i in 0..300 {
            let n = 1 + i % 8;
            cost.record(n, fixed + per_token * n as f64);
        }
        cost
    }

    #[test]
    fn a_draft_is_as_long_as_it_pays() {
        let cheap = measured(0.010, 0.001);
        // Guesses that hold: a long draft. Guesses that never do: none.
        assert_eq!(best_length(0.95, 10, (&cheap, 1)), 10);
        assert_eq!(best_length(0.05, 10, (&cheap, 1)), 0);
        let middling = best_length(0.6, 10, (&cheap, 1));
        assert!((1..10).contains(&middling), "{middling}");
        assert_eq!(
            best_length(0.95, 2, (&cheap, 1)),
            2,
            "no more than there is"
        );
        // Dear extra tokens (the prior's guess): shorter drafts, and none for a fair guess.
        let prior = DecodeCost::default();
        let short = best_length(0.95, 10, (&prior, 1));
        assert!((2..6).contains(&short), "{short}");
        assert_eq!(best_length(0.6, 10, (&prior, 1)), 0);
        // A token costing as much as a decode: never.
        assert_eq!(best_length(0.9, 10, (&measured(0.0, 0.01), 1)), 0);
        // Beside other variants' tokens a draft weighs less.
        assert!(best_length(0.8, 10, (&prior, 3)) >= best_length(0.8, 10, (&prior, 1)));
    }

    #[test]
    fn the_rate_follows_what_held_and_a_skipped_draft_is_probed_now_and_then() {
        let cost = measured(0.010, 0.001);
        let mut acceptance = Acceptance::default();
        for _ in 0..10 {
            acceptance.record(3, 0, true);
        }
        assert!(acceptance.rate(3) < 0.05);
        let tries: usize = (0..PROBE_EVERY * 2)
            .map(|_| acceptance.choose(3, 5, (&cost, 1)))
            .sum();
        assert_eq!(tries, 2, "one probe of one token in every {PROBE_EVERY}");
        for _ in 0..10 {
            acceptance.record(3, 5, false);
        }
        assert!(acceptance.rate(3) > 0.9);
        assert!(acceptance.choose(3, 5, (&cost, 1)) >= 4);
        // Other lengths keep their own rate.
        assert!((acceptance.rate(1) - 0.2).abs() < 1e-9);
    }
}
