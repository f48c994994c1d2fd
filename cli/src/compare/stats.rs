//! The statistics `meltr compare` reports: a mean with its 95 % confidence
//! interval over seeds, and paired differences between two methods run on
//! the same seeds (Student's t, `n − 1` degrees of freedom).

use serde::Serialize;

/// A mean over seeds and the half-width of its 95 % confidence interval
/// (`None` for a single seed: one value has no spread).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanCi {
    /// The mean.
    pub mean: f64,
    /// Half the interval's width, `t_{0.975, n−1} · s / √n`.
    pub half: Option<f64>,
    /// How many values.
    pub n: usize,
}

/// A paired difference `a − b` over the seeds both were run on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Paired {
    /// Mean difference and its 95 % interval.
    pub diff: MeanCi,
    /// Seeds where `a > b`.
    pub wins: usize,
    /// Seeds where `a < b`.
    pub losses: usize,
}

impl MeanCi {
    /// Of `values` (NaN mean when empty).
    pub fn of(values: &[f64]) -> MeanCi {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let half = (n >= 2).then(|| {
            let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t_quantile(0.975, (n - 1) as f64) * (var / n as f64).sqrt()
        });
        MeanCi { mean, half, n }
    }

    /// `12.3 ± 1.4`, or `12.3` alone for one value.
    pub fn show(&self) -> String {
        match self.half {
            Some(h) => format!("{:.1} ± {:.1}", self.mean, h),
            None => format!("{:.1}", self.mean),
        }
    }
}

impl Paired {
    /// `a − b`, seed by seed (`a[i]` and `b[i]` share a seed).
    pub fn of(a: &[f64], b: &[f64]) -> Paired {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        Paired {
            diff: MeanCi::of(&d),
            wins: d.iter().filter(|x| **x > 0.0).count(),
            losses: d.iter().filter(|x| **x < 0.0).count(),
        }
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (`p` in
/// (0, 1)), by bisection on the distribution function.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Student's t distribution function: for `t ≥ 0`,
/// `1 − I_{df/(df+t²)}(df/2, 1/2) / 2`.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), 0.5 * df, 0.5);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The regularised incomplete beta function `I_x(a, b)` (the continued
/// fraction of Numerical Recipes §6.4, modified Lentz).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x < (a + 1) / (a + b + 2).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..400 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine terms: about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let s = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    // scipy's values: tests/reference/t_distribution.py prints them.
    const QUANTILES: [(f64, f64); 9] = [
        (1.0, 12.706204736174694),
        (2.0, 4.302652729749462),
        (3.0, 3.1824463052837078),
        (4.0, 2.7764451051977934),
        (5.0, 2.5705818356363146),
        (9.0, 2.262157162798205),
        (19.0, 2.0930240544083087),
        (29.0, 2.045229642132703),
        (100.0, 1.9839715185235518),
    ];

    #[test]
    fn t_quantiles_and_distribution_match_scipy() {
        for (df, want) in QUANTILES {
            let got = t_quantile(0.975, df);
            assert!((got - want).abs() < 1e-9 * want, "df {df}: {got} vs {want}");
            assert!((t_quantile(0.025, df) + want).abs() < 1e-9 * want);
        }
        for (t, df, want) in [
            (0.5, 3.0, 0.6742760175759245),
            (-1.7, 7.0, 0.0664644483912776),
            (2.3, 12.0, 0.9799012131432697),
        ] {
            assert!((t_cdf(t, df) - want).abs() < 1e-12, "cdf({t}, {df})");
        }
    }

    #[test]
    fn intervals_of_one_two_and_five_values() {
        let one = MeanCi::of(&[7.5]);
        assert_eq!(
            (one.mean, one.half, one.show()),
            (7.5, None, "7.5".to_string())
        );
        // n = 2: s = √2, t(1) = 12.706…: half = 12.706… · √2 / √2.
        let two = MeanCi::of(&[1.0, 3.0]);
        assert_eq!(two.mean, 2.0);
        assert!((two.half.unwrap() - 12.706204736174694).abs() < 1e-9);
        let five = MeanCi::of(&[2.0, 4.0, 9.0, 1.0, 5.0]);
        assert!((five.mean - 4.2).abs() < 1e-12);
        assert!((five.half.unwrap() - 3.8671405455482173).abs() < 1e-9);
        assert_eq!(five.show(), "4.2 ± 3.9");
    }

    #[test]
    fn paired_differences_count_wins_and_losses_seed_by_seed() {
        let p = Paired::of(&[10.0, 12.0, 11.0, 9.0], &[9.0, 12.0, 10.0, 10.0]);
        assert_eq!((p.wins, p.losses), (2, 1));
        assert!((p.diff.mean - 0.25).abs() < 1e-12);
        // Differences 1, 0, 1, −1: s = √(2.75/3), t(3) = 3.18244630528….
        let want = 3.1824463052837078 * (2.75f64 / 3.0).sqrt() / 2.0;
        assert!((p.diff.half.unwrap() - want).abs() < 1e-9);
        let single = Paired::of(&[3.0], &[5.0]);
        assert_eq!((single.wins, single.losses, single.diff.half), (0, 1, None));
    }
}
