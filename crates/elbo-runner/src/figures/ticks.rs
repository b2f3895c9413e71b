//! Axis ranges and tick values. plotters would pick ticks itself, but its labels have a fixed
//! number of decimals; ours fall on 1, 2 or 5 × 10ᵏ and carry exactly the decimals of the step,
//! so every label of an axis is distinct and no label shows round-off digits. The values are
//! handed to plotters as the axis key points.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// The range of `values` widened by `pad` of its length on each side; (0, 1) without values and
/// a unit-wide range around a single value, so that the axis is never empty.
pub(super) fn axis_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
        let half = 0.5 * lo.abs().max(1.0);
        return (lo - half, hi + half);
    }
    let margin = pad * (hi - lo);
    (lo - margin, hi + margin)
}

/// Tick values with their labels, `step` apart.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ticks {
    pub(super) values: Vec<f64>,
    pub(super) labels: Vec<String>,
    pub(super) step: f64,
}

impl Ticks {
    /// The label of the tick at `v`: plotters hands back exactly the key points it was given,
    /// so any other value gets no label.
    pub(super) fn label(&self, v: f64) -> String {
        self.values
            .iter()
            .position(|t| *t == v)
            .map(|i| self.labels[i].clone())
            .unwrap_or_default()
    }

    /// The values half a step from the ticks that fall in `lo..=hi`: where the fainter grid
    /// lines go.
    pub(super) fn halves(&self, lo: f64, hi: f64) -> Vec<f64> {
        let first = self.values.first().copied().unwrap_or(lo) - self.step / 2.0;
        (0..=self.values.len())
            .map(|k| first + k as f64 * self.step)
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    }
}

/// Tick positions over `lo..=hi` at the largest step of 1, 2 or 5 × 10ᵏ that cuts the range
/// into at most `target` intervals (so at most `target + 1` ticks), with their labels. On an
/// axis so short that this step leaves fewer than two ticks, the step shrinks until there are
/// two (at most six then): without two labels an axis has no scale.
pub(super) fn ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    if !(magnitude.is_finite() && magnitude > 0.0) {
        // A range too wide for f64 (about ±1e308): no ticks rather than nonsense.
        return Ticks {
            values: Vec::new(),
            labels: Vec::new(),
            step: 1.0,
        };
    }
    // The tick indices k (ticks at k·step) inside the range.
    let span = |step: f64| {
        let first = (lo / step - 1e-9).ceil() as i64;
        let last = (hi / step + 1e-9).floor() as i64;
        (first, last)
    };
    // Decreasing; raw is in [magnitude, 10·magnitude), so the first one is at least raw.
    let steps = [10.0, 5.0, 2.0, 1.0, 0.5, 0.2, 0.1].map(|m| m * magnitude);
    let widest = steps
        .iter()
        .rposition(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(0);
    let step = steps[widest..]
        .iter()
        .copied()
        .find(|&s| {
            let (first, last) = span(s);
            last > first
        })
        .unwrap_or(steps[widest]);
    let (first, last) = span(step);
    let values: Vec<f64> = (first..=last).map(|k| k as f64 * step).collect();
    let format = tick_formatter(step, lo.abs().max(hi.abs()));
    let labels = values.iter().map(|v| format(*v)).collect();
    Ticks {
        values,
        labels,
        step,
    }
}

/// Labels with as many decimals as `step` needs, a true minus sign, and scientific notation
/// when the axis reaches 10⁶ or its step is below 10⁻⁵.
pub(super) fn tick_formatter(step: f64, biggest: f64) -> impl Fn(f64) -> String {
    let step_exp = step.log10().floor();
    let decimals = (-step_exp).max(0.0);
    let scientific = biggest >= 1e6 || decimals > 5.0;
    // Small non-negative integers after the checks above.
    let decimals = decimals as usize;
    let mantissa_digits = (biggest.log10().floor() - step_exp).clamp(0.0, 6.0) as usize;
    move |v: f64| {
        let text = if scientific {
            format!("{v:.mantissa_digits$e}")
        } else {
            format!("{v:.decimals$}")
        };
        // "-0.0" is zero.
        let text = if text.trim_start_matches(['-', '0', '.']).is_empty() {
            text.trim_start_matches('-').to_owned()
        } else {
            text
        };
        text.replace('-', "\u{2212}")
    }
}

/// An axis whose key points are given [`Ticks`] (labelled, with grid lines) and the values
/// between them (fainter grid lines). plotters' own `WithKeyPoints` would do, but its mesh
/// refuses to label it: a wrapped f64 axis has no default label format, and this one has.
pub(super) struct TickAxis {
    range: RangedCoordf64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl TickAxis {
    pub(super) fn new((lo, hi): (f64, f64), ticks: &Ticks) -> TickAxis {
        TickAxis {
            range: (lo..hi).into(),
            bold: ticks.values.clone(),
            light: ticks.halves(lo, hi),
        }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.range()
    }
}
