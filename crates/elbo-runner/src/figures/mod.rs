//! PNG figures: grids of images (samples, reconstructions, component means), line charts
//! (training curves) and scatter plots (2-D data with mixture ellipses).
//!
//! A chart is plain data, a [`Chart`], that says what to show and nothing about pixels, so a
//! run can keep or compare it without drawing it; [`render_png`] is the one place that turns a
//! chart into a PNG. Line and scatter charts are drawn entirely by `plotters` (bitmap backend),
//! text included: its `ab_glyph` feature draws titles, tick labels, axis labels and legends
//! with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, licence beside it), so a
//! figure looks the same on every machine and needs no system font library. Image grids are
//! copied pixel by pixel. [`image_grid_png`], [`line_chart_png`], [`scatter_png`] and
//! [`scatter_png_named`] are thin wrappers that draw one chart of each kind.
//!
//! Sub-modules: `render` (plotters: frame, text sizes, series, legend), `grid` (image grids
//! and PNG encoding), `ticks` (axis ranges and round tick values), `legend` (where the legend
//! hides the least data).

mod grid;
mod legend;
mod render;
mod ticks;

#[cfg(test)]
mod tests;

use anyhow::ensure;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

pub use grid::image_grid_png;
pub use render::render_png;

/// Grey level (0–255) of the separators and empty cells of [`image_grid_png`].
pub const GRID_SEPARATOR_GREY: u8 = 128;

/// What a figure shows, without how it is drawn. Serialises with a `kind` tag
/// (`"line"`, `"scatter"`, `"image-grid"`); NaN coordinates become `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Chart {
    /// Curves over a shared x axis; `y_range` (low, high) fixes the y axis instead of fitting
    /// it to the data, and the curves are clipped to it.
    Line {
        #[serde(flatten)]
        chart: LineChart,
        y_range: Option<(f64, f64)>,
    },
    Scatter(ScatterChart),
    ImageGrid(ImageGrid),
}

impl From<LineChart> for Chart {
    fn from(chart: LineChart) -> Chart {
        Chart::Line {
            chart,
            y_range: None,
        }
    }
}

impl From<ScatterChart> for Chart {
    fn from(chart: ScatterChart) -> Chart {
        Chart::Scatter(chart)
    }
}

impl From<ImageGrid> for Chart {
    fn from(grid: ImageGrid) -> Chart {
        Chart::ImageGrid(grid)
    }
}

/// One named curve of a [`LineChart`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart: one colour per series, in order, and a legend entry per series. Points with
/// a NaN or infinite coordinate are skipped; a series of at most 40 points also gets a marker
/// on each point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// A Gaussian in the plane, drawn on a scatter plot as its 2-σ contour (Mahalanobis distance
/// 2) with a cross at its mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ellipse {
    pub mean: [f64; 2],
    pub cov: [[f64; 2]; 2],
}

/// A scatter plot. With `labels` (one per point) each distinct label gets a colour and a
/// legend entry "`label_word` L"; each of `ellipses` is drawn on top. Points with a NaN or
/// infinite coordinate are skipped, as are ellipses whose mean or covariance is not finite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScatterChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<[f64; 2]>,
    pub labels: Option<Vec<usize>>,
    /// The legend's word for a label: "class" for data classes, "component" for the
    /// components of a mixture.
    pub label_word: String,
    pub ellipses: Vec<Ellipse>,
}

impl ScatterChart {
    /// A chart of the rows of `points` (n × 2), without title, labels or ellipses.
    pub fn new(points: ArrayView2<'_, f64>) -> anyhow::Result<ScatterChart> {
        ensure!(
            points.ncols() == 2,
            "scatter plot: points must have 2 columns, got {}",
            points.ncols()
        );
        Ok(ScatterChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            points: points.rows().into_iter().map(|r| [r[0], r[1]]).collect(),
            labels: None,
            label_word: "class".to_owned(),
            ellipses: Vec::new(),
        })
    }
}

/// Greyscale images in a grid, each row of `images` one image of `height` × `width` pixels in
/// row-major order, values in [0, 1] (clamped; NaN → 0, i.e. black).
///
/// Layout: `cols` images per row (fewer if there are fewer images), each pixel upscaled to a
/// `scale` × `scale` block, cells separated and framed by lines of [`GRID_SEPARATOR_GREY`] that
/// are 1 px wide for `scale == 1` and 2 px otherwise; empty cells of the last row are filled
/// with the separator grey. Image `k` has its top-left pixel at
/// `(sep + (k % cols)·(width·scale + sep), sep + (k / cols)·(height·scale + sep))`. The size of
/// the PNG follows from this layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageGrid {
    pub images: Array2<f32>,
    pub height: usize,
    pub width: usize,
    pub cols: usize,
    pub scale: usize,
}

/// A [`LineChart`] as PNG, its axes fitted to the data: [`render_png`] of [`Chart::Line`]
/// without a y range.
pub fn line_chart_png(chart: &LineChart, width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    render::line_png(chart, None, width, height)
}

/// Scatter plot of `points` (n × 2) as PNG: a [`ScatterChart`] whose labels read "class L".
#[allow(clippy::too_many_arguments)] // the signature is the figure's whole description
pub fn scatter_png(
    points: ArrayView2<'_, f64>,
    labels: Option<&[usize]>,
    ellipses: &[Ellipse],
    title: &str,
    x_label: &str,
    y_label: &str,
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    scatter_png_named(
        points, labels, "class", ellipses, title, x_label, y_label, width, height,
    )
}

/// [`scatter_png`] with the legend's word for a label chosen by the caller ("component L" for
/// the components of a mixture, say).
#[allow(clippy::too_many_arguments)] // the signature is the figure's whole description
pub fn scatter_png_named(
    points: ArrayView2<'_, f64>,
    labels: Option<&[usize]>,
    label_word: &str,
    ellipses: &[Ellipse],
    title: &str,
    x_label: &str,
    y_label: &str,
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    let chart = ScatterChart {
        title: title.to_owned(),
        x_label: x_label.to_owned(),
        y_label: y_label.to_owned(),
        labels: labels.map(<[usize]>::to_vec),
        label_word: label_word.to_owned(),
        ellipses: ellipses.to_vec(),
        ..ScatterChart::new(points)?
    };
    render::scatter_png(&chart, width, height)
}

/// Points in data coordinates, joined in order.
type Polyline = Vec<(f64, f64)>;

fn is_finite(e: &Ellipse) -> bool {
    e.mean
        .iter()
        .chain(e.cov.iter().flatten())
        .all(|v| v.is_finite())
}

/// The 2-σ contour of a Gaussian: `mean + 2·V·√Λ·(cos t, sin t)` with `cov = V Λ Vᵀ`; negative
/// eigenvalues (a covariance that is not quite positive semi-definite) are treated as 0.
fn contour(e: &Ellipse) -> Option<Polyline> {
    if !is_finite(e) {
        return None;
    }
    let [[a, b], [_, c]] = e.cov;
    let half_trace = 0.5 * (a + c);
    let root = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    let (l1, l2) = (half_trace + root, half_trace - root);
    let (vx, vy) = if b != 0.0 {
        let (x, y) = (l1 - c, b);
        let norm = x.hypot(y);
        (x / norm, y / norm)
    } else if a >= c {
        (1.0, 0.0)
    } else {
        (0.0, 1.0)
    };
    let (s1, s2) = (2.0 * l1.max(0.0).sqrt(), 2.0 * l2.max(0.0).sqrt());
    const STEPS: usize = 96;
    Some(
        (0..=STEPS)
            .map(|k| {
                let t = std::f64::consts::TAU * k as f64 / STEPS as f64;
                let (p, q) = (s1 * t.cos(), s2 * t.sin());
                (e.mean[0] + p * vx - q * vy, e.mean[1] + p * vy + q * vx)
            })
            .collect(),
    )
}
