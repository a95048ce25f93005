//! The Bayes classifier's arithmetic (R-POL-5): Gary Robinson's token probabilities combined
//! with Fisher's chi-square method, as SpamBayes and SpamAssassin do
//! (Robinson, "A Statistical Approach to the Spam Problem", Linux Journal 2003;
//! SpamBayes `classifier.py`).
//!
//! For each token: p = (s/S) / (s/S + h/H) with s, h the spam and ham messages holding it and
//! S, H all spam and ham messages taught; then Robinson's f = (a·x + n·p) / (a + n), which pulls
//! rarely seen tokens towards the neutral x = 0.5 (a = 0.45, n = s + h). Only tokens at least
//! [`MIN_STRENGTH`] away from 0.5 count, the [`MAX_CLUES`] strongest of them. Fisher's method
//! tests "these f are uniformly random" both ways: S' = 1 − C⁻¹(−2 ln Π(1 − f), 2n),
//! H' = 1 − C⁻¹(−2 ln Π f, 2n), and the answer is (1 + S' − H') / 2: near 1 spam, near 0 ham,
//! 0.5 when the evidence is absent or split.

/// Robinson's strength of the prior (SpamBayes `unknown_word_strength`).
pub const UNKNOWN_STRENGTH: f64 = 0.45;
/// Robinson's prior for a token never seen (SpamBayes `unknown_word_prob`).
pub const UNKNOWN_PROB: f64 = 0.5;
/// Tokens closer than this to 0.5 are ignored (SpamBayes `minimum_prob_strength`).
pub const MIN_STRENGTH: f64 = 0.1;
/// At most this many tokens decide (SpamBayes `max_discriminators`).
pub const MAX_CLUES: usize = 150;

/// Messages taught in the scope the classifier looks at (weights allowed, hence `f64`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corpus {
    pub spam_messages: f64,
    pub ham_messages: f64,
}

/// Robinson's f(w) for a token seen in `spam` spam and `ham` ham messages.
pub fn token_probability(corpus: Corpus, spam: f64, ham: f64) -> f64 {
    let n = spam + ham;
    if n <= 0.0 || corpus.spam_messages <= 0.0 || corpus.ham_messages <= 0.0 {
        return UNKNOWN_PROB;
    }
    // A token can be counted in more messages than the (weighted) total after untraining
    // races; ratios above 1 mean nothing, so clamp.
    let spam_ratio = (spam / corpus.spam_messages).min(1.0);
    let ham_ratio = (ham / corpus.ham_messages).min(1.0);
    let p = spam_ratio / (spam_ratio + ham_ratio);
    (UNKNOWN_STRENGTH * UNKNOWN_PROB + n * p) / (UNKNOWN_STRENGTH + n)
}

/// The probability that a χ² variable with `v` (even) degrees of freedom exceeds `x2`
/// (the closed form for even v: e^(−m) Σ_{i<v/2} m^i / i!, m = x2/2).
pub fn chi2q(x2: f64, v: usize) -> f64 {
    debug_assert!(v.is_multiple_of(2));
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..v / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// Fisher/Robinson chi-square combining of token probabilities: 0 ham … 1 spam.
pub fn combine(probs: &[f64]) -> f64 {
    if probs.is_empty() {
        return 0.5;
    }
    // Sums of logarithms instead of products: 150 factors near 0 underflow an f64.
    let (mut ln_spam, mut ln_ham) = (0.0f64, 0.0f64);
    for &p in probs {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        ln_spam += (1.0 - p).ln();
        ln_ham += p.ln();
    }
    let v = 2 * probs.len();
    let s = 1.0 - chi2q(-2.0 * ln_spam, v);
    let h = 1.0 - chi2q(-2.0 * ln_ham, v);
    ((s - h + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// The spam probability of a message whose tokens were seen `(spam, ham)` times: only the
/// strongest clues count.
pub fn classify(corpus: Corpus, token_counts: impl IntoIterator<Item = (f64, f64)>) -> f64 {
    let mut clues: Vec<f64> = token_counts
        .into_iter()
        .map(|(s, h)| token_probability(corpus, s, h))
        .filter(|p| (p - 0.5).abs() >= MIN_STRENGTH)
        .collect();
    clues.sort_by(|a, b| {
        (b - 0.5)
            .abs()
            .partial_cmp(&(a - 0.5).abs())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    clues.truncate(MAX_CLUES);
    combine(&clues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    const EVEN: Corpus = Corpus {
        spam_messages: 100.0,
        ham_messages: 100.0,
    };

    #[test]
    fn token_probabilities_follow_robinson() {
        // Never seen: the prior.
        assert!(close(token_probability(EVEN, 0.0, 0.0), 0.5));
        // Seen once in spam only: (0.45·0.5 + 1·1) / 1.45.
        assert!(close(token_probability(EVEN, 1.0, 0.0), 1.225 / 1.45));
        // In 20 spam, no ham: (0.225 + 20) / 20.45.
        assert!(close(token_probability(EVEN, 20.0, 0.0), 20.225 / 20.45));
        // Equally in both: exactly neutral.
        assert!(close(token_probability(EVEN, 7.0, 7.0), 0.5));
        // Ratios, not counts: 10 of 100 spam vs 10 of 20 ham leans ham.
        let uneven = Corpus {
            spam_messages: 100.0,
            ham_messages: 20.0,
        };
        let p = 0.1 / (0.1 + 0.5);
        assert!(close(
            token_probability(uneven, 10.0, 10.0),
            (0.225 + 20.0 * p) / 20.45
        ));
    }

    #[test]
    fn chi2q_matches_tables() {
        // χ² with 2 degrees of freedom is exponential: Q = e^(−x/2).
        assert!(close(chi2q(2.0, 2), (-1.0f64).exp()));
        // Tabled: Q(9.488, 4) = 0.05, Q(18.307, 10) = 0.05.
        assert!((chi2q(9.488, 4) - 0.05).abs() < 1e-3);
        assert!((chi2q(18.307, 10) - 0.05).abs() < 1e-3);
        assert!(close(chi2q(0.0, 6), 1.0));
    }

    #[test]
    fn combining_is_symmetric_and_decisive() {
        assert!(close(combine(&[]), 0.5));
        assert!(close(combine(&[0.5, 0.5]), 0.5));
        let spammy = combine(&[0.99, 0.98, 0.95, 0.9]);
        let hammy = combine(&[0.01, 0.02, 0.05, 0.1]);
        assert!(spammy > 0.99, "{spammy}");
        assert!(close(spammy, 1.0 - hammy));
        // Strong evidence both ways is uncertainty, not a verdict.
        let split = combine(&[0.99, 0.99, 0.01, 0.01]);
        assert!(close(split, 0.5), "{split}");
    }

    #[test]
    fn classification_ignores_weak_tokens() {
        let neutral = std::iter::repeat_n((5.0, 5.0), 300);
        assert!(close(classify(EVEN, neutral), 0.5));
        let spam = [(30.0, 0.0), (25.0, 1.0), (40.0, 2.0), (5.0, 5.0)];
        assert!(classify(EVEN, spam) > 0.99);
        let ham = [(0.0, 30.0), (1.0, 25.0), (2.0, 40.0)];
        assert!(classify(EVEN, ham) < 0.01);
    }
}
