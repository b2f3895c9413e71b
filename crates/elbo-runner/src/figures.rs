//! PNG figures: grids of images (samples, reconstructions, component means), line charts
//! (training curves) and scatter plots (2-D data with mixture ellipses).
//!
//! Charts are drawn in two passes over an RGB buffer we own: `plotters` (bitmap backend only)
//! draws the geometry — grid, series, axes, legend box — and then our own text pass rasterises
//! every label with `ab_glyph` from DejaVu Sans, embedded in the binary
//! (`assets/DejaVuSans.ttf`, licence beside it). So a figure looks the same on every machine
//! and needs no system font library. The buffer is encoded with `png`.

use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};
use anyhow::{Context as _, anyhow, ensure};
use ndarray::ArrayView2;
use plotters::backend::BitMapBackend;
use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::drawing::{DrawingArea, IntoDrawingArea as _};
use plotters::element::{Circle, Cross, PathElement, Rectangle};
use plotters::series::LineSeries;
use plotters::style::{Color as _, RGBColor, ShapeStyle, WHITE};

/// Grey level (0–255) of the separators and empty cells of [`image_grid_png`].
pub const GRID_SEPARATOR_GREY: u8 = 128;

/// Smallest chart size accepted, and the largest side of any figure, in pixels.
const MIN_CHART: (u32, u32) = (160, 120);
const MAX_SIDE: u32 = 8192;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Text sizes (ab_glyph pixel scale, i.e. the line height).
const TITLE_PX: f32 = 21.0;
const AXIS_LABEL_PX: f32 = 15.0;
const TICK_PX: f32 = 13.0;
const LEGEND_PX: f32 = 13.0;

/// Ten distinguishable colours (the "Tableau 10" palette), cycled.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const INK: RGBColor = RGBColor(30, 30, 30);
const TICK_INK: RGBColor = RGBColor(70, 70, 70);
const GRID: RGBColor = RGBColor(224, 224, 224);
const SUBGRID: RGBColor = RGBColor(243, 243, 243);
const LEGEND_BORDER: RGBColor = RGBColor(170, 170, 170);

/// One named curve of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A line chart: one colour per series, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// A Gaussian in the plane, drawn by [`scatter_png`] as its 2-σ contour (Mahalanobis distance 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    pub mean: [f64; 2],
    pub cov: [[f64; 2]; 2],
}

/// Greyscale grid of images, each row of `images` one image of `height` × `width` pixels in
/// row-major order, values in [0, 1] (clamped; NaN → 0, i.e. black).
///
/// Layout: `cols` images per row (fewer if there are fewer images), each pixel upscaled to a
/// `scale` × `scale` block, cells separated and framed by lines of [`GRID_SEPARATOR_GREY`] that
/// are 1 px wide for `scale == 1` and 2 px otherwise; empty cells of the last row are filled with
/// the separator grey. Image `k` has its top-left pixel at
/// `(sep + (k % cols)·(width·scale + sep), sep + (k / cols)·(height·scale + sep))`.
pub fn image_grid_png(
    images: ArrayView2<'_, f32>,
    height: usize,
    width: usize,
    cols: usize,
    scale: usize,
) -> anyhow::Result<Vec<u8>> {
    ensure!(
        height > 0 && width > 0,
        "image grid: images must be at least 1×1, got {height}×{width}"
    );
    ensure!(
        images.ncols() == height * width,
        "image grid: each row must hold height × width = {} pixels, got {}",
        height * width,
        images.ncols()
    );
    ensure!(
        images.nrows() > 0,
        "image grid: there are no images to draw"
    );
    ensure!(cols > 0, "image grid: cols must be at least 1");
    ensure!(
        (1..=64).contains(&scale),
        "image grid: scale must be in 1..=64, got {scale}"
    );
    let n = images.nrows();
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let sep = grid_separator(scale);
    let (cell_w, cell_h) = (width * scale, height * scale);
    let out_w = cols * cell_w + (cols + 1) * sep;
    let out_h = rows * cell_h + (rows + 1) * sep;
    ensure!(
        out_w <= MAX_SIDE as usize && out_h <= MAX_SIDE as usize,
        "image grid: {out_w}×{out_h} pixels is larger than {MAX_SIDE}×{MAX_SIDE}; \
         draw fewer images or a smaller scale"
    );
    let mut buf = vec![GRID_SEPARATOR_GREY; out_w * out_h];
    for (k, image) in images.rows().into_iter().enumerate() {
        let x0 = sep + (k % cols) * (cell_w + sep);
        let y0 = sep + (k / cols) * (cell_h + sep);
        for i in 0..height {
            for j in 0..width {
                let level = grey_level(image[i * width + j]);
                for dy in 0..scale {
                    let start = (y0 + i * scale + dy) * out_w + x0 + j * scale;
                    buf[start..start + scale].fill(level);
                }
            }
        }
    }
    // Both sides are at most MAX_SIDE, so they fit in u32.
    encode_png(out_w as u32, out_h as u32, png::ColorType::Grayscale, &buf)
}

/// A line chart as PNG: axes with tick labels, title, axis labels and a legend, one colour per
/// series. Points with a NaN or infinite coordinate are skipped; a series of at most 40 points
/// also gets a marker on each point.
pub fn line_chart_png(chart: &LineChart, width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    check_canvas(width, height)?;
    let font = font()?;
    let series: Vec<(&str, Vec<(f64, f64)>)> = chart
        .series
        .iter()
        .map(|s| {
            let finite = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            (s.label.as_str(), finite)
        })
        .collect();
    let all = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let x_range = axis_range(all().map(|p| p.0), 0.02);
    let y_range = axis_range(all().map(|p| p.1), 0.05);
    let legend: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .map(|(i, (label, _))| LegendEntry {
            label: (*label).to_owned(),
            colour: PALETTE[i % PALETTE.len()],
            marker: Marker::Line,
        })
        .collect();
    let frame = Frame::new(
        font,
        (width, height),
        Labels {
            title: &chart.title,
            x: &chart.x_label,
            y: &chart.y_label,
        },
        x_range,
        y_range,
        &legend,
        series.iter().flat_map(|(_, p)| along_lines(p)),
    );
    let mut canvas = Canvas::new(width, height);
    let marks = canvas.plot(&frame, |chart| {
        for (i, (_, points)) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let line = ShapeStyle::from(colour).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), line))
                .map_err(drawing_error)?;
            if points.len() <= 40 {
                let dot = ShapeStyle::from(colour).filled();
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, dot)))
                    .map_err(drawing_error)?;
            }
        }
        Ok(())
    })?;
    canvas.labels(font, &frame, &marks);
    canvas.encode()
}

/// Scatter plot of `points` (n × 2) as PNG, with axes, tick labels and title. With `labels`
/// (one per point) each distinct label gets a colour and a legend entry "class L"; each of
/// `ellipses` is drawn on top as its 2-σ contour with a cross at its mean. Points with a NaN or
/// infinite coordinate are skipped, as are ellipses whose mean or covariance is not finite.
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
    ensure!(
        points.ncols() == 2,
        "scatter plot: points must have 2 columns, got {}",
        points.ncols()
    );
    if let Some(labels) = labels {
        ensure!(
            labels.len() == points.nrows(),
            "scatter plot: {} labels for {} points",
            labels.len(),
            points.nrows()
        );
    }
    check_canvas(width, height)?;
    let font = font()?;

    // Group the finite points by label, labels in increasing order.
    let mut classes: Vec<usize> = labels.map(<[usize]>::to_vec).unwrap_or_default();
    classes.sort_unstable();
    classes.dedup();
    let mut groups: Vec<Vec<(f64, f64)>> = vec![Vec::new(); classes.len().max(1)];
    for (i, row) in points.rows().into_iter().enumerate() {
        let (x, y) = (row[0], row[1]);
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let group = match labels {
            Some(labels) => classes.binary_search(&labels[i]).unwrap_or(0),
            None => 0,
        };
        groups[group].push((x, y));
    }
    let shapes: Vec<(Polyline, (f64, f64))> = ellipses
        .iter()
        .filter_map(|e| contour(e).map(|c| (c, (e.mean[0], e.mean[1]))))
        .collect();
    if shapes.len() < ellipses.len() {
        tracing::warn!(
            skipped = ellipses.len() - shapes.len(),
            "scatter plot: ellipses with a non-finite mean or covariance are not drawn"
        );
    }

    let everything = || {
        groups
            .iter()
            .chain(shapes.iter().map(|(c, _)| c))
            .flat_map(|g| g.iter().copied())
    };
    let x_range = axis_range(everything().map(|p| p.0), 0.05);
    let y_range = axis_range(everything().map(|p| p.1), 0.05);
    let mut legend: Vec<LegendEntry> = Vec::new();
    if labels.is_some() {
        legend.extend(classes.iter().enumerate().map(|(g, class)| LegendEntry {
            label: format!("{label_word} {class}"),
            colour: PALETTE[g % PALETTE.len()],
            marker: Marker::Dot,
        }));
    }
    if !shapes.is_empty() {
        legend.push(LegendEntry {
            label: "2σ ellipse".to_owned(),
            colour: INK,
            marker: Marker::Line,
        });
    }
    let frame = Frame::new(
        font,
        (width, height),
        Labels {
            title,
            x: x_label,
            y: y_label,
        },
        x_range,
        y_range,
        &legend,
        groups
            .iter()
            .flatten()
            .copied()
            .chain(shapes.iter().flat_map(|(c, _)| along_lines(c))),
    );
    let n_finite: usize = groups.iter().map(Vec::len).sum();
    let radius = match n_finite {
        0..=500 => 3,
        501..=5000 => 2,
        _ => 1,
    };
    let mut canvas = Canvas::new(width, height);
    let marks = canvas.plot(&frame, |chart| {
        for (g, group) in groups.iter().enumerate() {
            let fill = PALETTE[g % PALETTE.len()].mix(0.65).filled();
            chart
                .draw_series(group.iter().map(|&p| Circle::new(p, radius, fill)))
                .map_err(drawing_error)?;
        }
        let stroke = ShapeStyle::from(INK).stroke_width(2);
        for (outline, centre) in &shapes {
            chart
                .draw_series([PathElement::new(outline.clone(), stroke)])
                .map_err(drawing_error)?;
            chart
                .draw_series([Cross::new(*centre, 5, stroke)])
                .map_err(drawing_error)?;
        }
        Ok(())
    })?;
    canvas.labels(font, &frame, &marks);
    canvas.encode()
}

/// Separator width of [`image_grid_png`] for a given upscaling.
fn grid_separator(scale: usize) -> usize {
    if scale == 1 { 1 } else { 2 }
}

/// A value in [0, 1] as an 8-bit grey level; NaN is black, out-of-range values are clamped.
fn grey_level(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        // In [0, 255] after the clamp, so the cast cannot truncate.
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

fn check_canvas(width: u32, height: u32) -> anyhow::Result<()> {
    ensure!(
        (MIN_CHART.0..=MAX_SIDE).contains(&width) && (MIN_CHART.1..=MAX_SIDE).contains(&height),
        "chart size {width}×{height} is outside {}×{} ..= {MAX_SIDE}×{MAX_SIDE}",
        MIN_CHART.0,
        MIN_CHART.1
    );
    Ok(())
}

/// The embedded font, parsed once per process.
fn font() -> anyhow::Result<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
        .ok_or_else(|| anyhow!("the embedded chart font (DejaVu Sans) could not be parsed"))
}

fn drawing_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the chart failed: {e}")
}

/// Encodes 8-bit pixels (`Grayscale` or `Rgb`) as PNG.
fn encode_png(
    width: u32,
    height: u32,
    colour: png::ColorType,
    pixels: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(colour);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .context("could not encode the PNG header")?;
    writer
        .write_image_data(pixels)
        .context("could not encode the PNG pixels")?;
    writer.finish().context("could not finish the PNG")?;
    Ok(out)
}

/// The range of `values` widened by `pad` of its length on each side; (0, 1) without values and
/// a unit-wide range around a single value, so that the axis is never empty.
fn axis_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
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

/// Tick positions over `lo..=hi` at a step of 1, 2 or 5 × 10ᵏ giving at most `target` ticks,
/// with their labels.
#[derive(Debug, Clone, PartialEq)]
struct Ticks {
    values: Vec<f64>,
    labels: Vec<String>,
    step: f64,
}

fn ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    if !(step.is_finite() && step > 0.0) {
        // A range too wide for f64 (about ±1e308): no ticks rather than nonsense.
        return Ticks {
            values: Vec::new(),
            labels: Vec::new(),
            step: 1.0,
        };
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
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
fn tick_formatter(step: f64, biggest: f64) -> impl Fn(f64) -> String {
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Marker {
    Line,
    Dot,
}

#[derive(Debug, Clone, PartialEq)]
struct LegendEntry {
    label: String,
    colour: RGBColor,
    marker: Marker,
}

#[derive(Debug, Clone, Copy)]
struct Labels<'a> {
    title: &'a str,
    x: &'a str,
    y: &'a str,
}

/// Where everything goes: the plot rectangle in pixels, the ticks, the text sizes that fit and
/// the legend box.
#[derive(Debug, Clone)]
struct Frame {
    /// Plot area margins: left, top, right, bottom.
    margins: (u32, u32, u32, u32),
    x_range: (f64, f64),
    y_range: (f64, f64),
    x_ticks: Ticks,
    y_ticks: Ticks,
    title: (String, f32),
    x_label: (String, f32),
    y_label: (String, f32),
    legend: Vec<LegendEntry>,
    /// Top-left corner and size of the legend box.
    legend_box: (i32, i32, i32, i32),
}

const LEGEND_ROW: i32 = 20;
const LEGEND_SAMPLE: i32 = 24;

impl Frame {
    #[allow(clippy::too_many_arguments)]
    fn new(
        font: &FontRef<'static>,
        size: (u32, u32),
        labels: Labels<'_>,
        x_range: (f64, f64),
        y_range: (f64, f64),
        legend: &[LegendEntry],
        points: impl Iterator<Item = (f64, f64)>,
    ) -> Frame {
        let (w, h) = (size.0 as f32, size.1 as f32);
        let fit = |text: &str, px: f32, room: f32| {
            let width = text_width(font, px, text);
            let px = if width > room { px * room / width } else { px };
            (text.to_owned(), px.max(8.0))
        };
        let title = fit(labels.title, TITLE_PX, w - 24.0);
        let top = if labels.title.is_empty() {
            16.0
        } else {
            line_height(font, title.1) + 18.0
        };
        let tick_h = line_height(font, TICK_PX);
        let label_h = line_height(font, AXIS_LABEL_PX);
        let bottom = 10.0
            + 8.0
            + tick_h
            + if labels.x.is_empty() {
                0.0
            } else {
                label_h + 8.0
            };
        let plot_h = (h - top - bottom).max(20.0);
        let y_ticks = ticks(
            y_range.0,
            y_range.1,
            ((plot_h / 48.0) as usize).clamp(2, 10),
        );
        let y_tick_w = y_ticks
            .labels
            .iter()
            .map(|l| text_width(font, TICK_PX, l))
            .fold(0.0, f32::max);
        let left = 12.0
            + y_tick_w
            + 9.0
            + if labels.y.is_empty() {
                0.0
            } else {
                label_h + 10.0
            };
        let plot_w = (w - left - 28.0).max(20.0);
        let x_ticks = ticks(
            x_range.0,
            x_range.1,
            ((plot_w / 90.0) as usize).clamp(2, 10),
        );
        // Room for half of the last tick label beyond the right end of the axis.
        let last_x = x_ticks
            .labels
            .last()
            .map_or(0.0, |l| text_width(font, TICK_PX, l));
        let right = (last_x / 2.0 + 8.0).max(20.0);
        let x_label = fit(labels.x, AXIS_LABEL_PX, (w - left - right).max(20.0));
        let y_label = fit(labels.y, AXIS_LABEL_PX, plot_h);
        // Non-negative and below the canvas size, so they fit in u32.
        let margins = (
            left.round() as u32,
            top.round() as u32,
            right.round() as u32,
            bottom.round() as u32,
        );

        let legend_w = legend
            .iter()
            .map(|e| text_width(font, LEGEND_PX, &e.label))
            .fold(0.0, f32::max)
            .ceil() as i32
            + LEGEND_SAMPLE
            + 26;
        let legend_h = LEGEND_ROW * legend.len() as i32 + 10;
        let (plot_left, plot_top) = (margins.0 as i32, margins.1 as i32);
        let plot_right = size.0 as i32 - margins.2 as i32;
        let plot_bottom = size.1 as i32 - margins.3 as i32;
        let (lx, ly) = legend_place(
            points,
            (x_range, y_range),
            (plot_left, plot_top, plot_right, plot_bottom),
            (legend_w, legend_h),
        );
        Frame {
            margins,
            x_range,
            y_range,
            x_ticks,
            y_ticks,
            title,
            x_label,
            y_label,
            legend: legend.to_vec(),
            legend_box: (lx, ly, legend_w, legend_h),
        }
    }
}

/// Where the legend box (`w` × `h` pixels) covers the fewest of `points`: one of six places
/// inside the plot rectangle (`left, top, right, bottom` in pixels), preferring the upper right,
/// upper left, lower right, lower left, upper centre and lower centre in that order on ties.
fn legend_place(
    points: impl Iterator<Item = (f64, f64)>,
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
    (left, top, right, bottom): (i32, i32, i32, i32),
    (w, h): (i32, i32),
) -> (i32, i32) {
    const INSET: i32 = 10;
    let xs = [right - INSET - w, left + INSET, (left + right - w) / 2];
    let ys = [top + INSET, bottom - INSET - h];
    let places: [(i32, i32); 6] = [
        (xs[0], ys[0]),
        (xs[1], ys[0]),
        (xs[0], ys[1]),
        (xs[1], ys[1]),
        (xs[2], ys[0]),
        (xs[2], ys[1]),
    ];
    let (pw, ph) = (f64::from(right - left), f64::from(bottom - top));
    let mut counts = [0usize; 6];
    for (x, y) in points {
        let px = f64::from(left) + (x - x0) / (x1 - x0) * pw;
        let py = f64::from(bottom) - (y - y0) / (y1 - y0) * ph;
        for (count, (lx, ly)) in counts.iter_mut().zip(places) {
            let inside_x = px >= f64::from(lx - 6) && px <= f64::from(lx + w + 6);
            let inside_y = py >= f64::from(ly - 6) && py <= f64::from(ly + h + 6);
            *count += usize::from(inside_x && inside_y);
        }
    }
    let best = (0..places.len()).min_by_key(|&i| counts[i]).unwrap_or(0);
    places[best]
}

/// `points` and, between consecutive ones, the points of the segments joining them, so that a
/// legend placed by [`legend_place`] avoids the lines too.
fn along_lines(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    const STEPS: usize = 12;
    points
        .windows(2)
        .flat_map(|pair| {
            let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
            (0..STEPS).map(move |k| {
                let t = k as f64 / STEPS as f64;
                (ax + t * (bx - ax), ay + t * (by - ay))
            })
        })
        .chain(points.last().copied())
}

/// Pixel positions found while plotting, for the text pass.
#[derive(Debug, Clone, Default)]
struct Marks {
    x_ticks: Vec<i32>,
    y_ticks: Vec<i32>,
    /// Left, top, right, bottom of the plot area as plotters mapped it.
    plot: (i32, i32, i32, i32),
}

type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A white RGB image being drawn on.
struct Canvas {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            rgb: vec![255; width as usize * height as usize * 3],
        }
    }

    /// The geometry pass: grid, the series drawn by `series`, axes, ticks and the legend box.
    fn plot(
        &mut self,
        frame: &Frame,
        series: impl FnOnce(&mut Chart<'_, '_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Marks> {
        let (x0, x1) = frame.x_range;
        let (y0, y1) = frame.y_range;
        let root = BitMapBackend::with_buffer(&mut self.rgb, (self.width, self.height))
            .into_drawing_area();
        let (left, top, right, bottom) = frame.margins;
        let area = root.margin(top, bottom, left, right);
        let mut chart = ChartBuilder::on(&area)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(drawing_error)?;
        draw_grid(&mut chart, frame)?;
        series(&mut chart)?;

        let (pl, pb) = chart.backend_coord(&(x0, y0));
        let (pr, pt) = chart.backend_coord(&(x1, y1));
        let mut marks = Marks {
            plot: (pl, pt, pr, pb),
            ..Marks::default()
        };
        let axis = ShapeStyle::from(INK).stroke_width(1);
        root.draw(&PathElement::new(vec![(pl, pt), (pl, pb), (pr, pb)], axis))
            .map_err(drawing_error)?;
        for &v in &frame.x_ticks.values {
            let x = chart.backend_coord(&(v, y0)).0;
            root.draw(&PathElement::new(vec![(x, pb), (x, pb + 5)], axis))
                .map_err(drawing_error)?;
            marks.x_ticks.push(x);
        }
        for &v in &frame.y_ticks.values {
            let y = chart.backend_coord(&(x0, v)).1;
            root.draw(&PathElement::new(vec![(pl - 5, y), (pl, y)], axis))
                .map_err(drawing_error)?;
            marks.y_ticks.push(y);
        }
        draw_legend_box(&root, frame)?;
        root.present().map_err(drawing_error)?;
        Ok(marks)
    }

    /// The text pass: title, tick labels, axis labels and legend labels.
    fn labels(&mut self, font: &FontRef<'static>, frame: &Frame, marks: &Marks) {
        let (pl, pt, pr, pb) = marks.plot;
        let w = self.width as f32;
        let (title, title_px) = &frame.title;
        self.text(
            font,
            title,
            *title_px,
            INK,
            (w / 2.0, 8.0),
            Anchor::TOP_CENTRE,
            false,
        );
        let tick_h = line_height(font, TICK_PX);
        for (x, label) in marks.x_ticks.iter().zip(&frame.x_ticks.labels) {
            let at = (*x as f32, pb as f32 + 8.0);
            self.text(
                font,
                label,
                TICK_PX,
                TICK_INK,
                at,
                Anchor::TOP_CENTRE,
                false,
            );
        }
        for (y, label) in marks.y_ticks.iter().zip(&frame.y_ticks.labels) {
            let at = (pl as f32 - 9.0, *y as f32);
            self.text(
                font,
                label,
                TICK_PX,
                TICK_INK,
                at,
                Anchor::MIDDLE_RIGHT,
                false,
            );
        }
        let (x_label, x_px) = &frame.x_label;
        let at = ((pl + pr) as f32 / 2.0, pb as f32 + 8.0 + tick_h + 8.0);
        self.text(font, x_label, *x_px, INK, at, Anchor::TOP_CENTRE, false);
        let (y_label, y_px) = &frame.y_label;
        let at = (12.0, (pt + pb) as f32 / 2.0);
        self.text(font, y_label, *y_px, INK, at, Anchor::TOP_CENTRE, true);

        let (lx, ly, _, _) = frame.legend_box;
        for (i, entry) in frame.legend.iter().enumerate() {
            let y = (ly + 5 + LEGEND_ROW * i as i32 + LEGEND_ROW / 2) as f32;
            let x = (lx + 10 + LEGEND_SAMPLE + 6) as f32;
            self.text(
                font,
                &entry.label,
                LEGEND_PX,
                INK,
                (x, y),
                Anchor::MIDDLE_LEFT,
                false,
            );
        }
    }

    /// Draws one line of text; with `vertical` it reads bottom to top, the anchor applying to
    /// the unrotated text (so `TOP_CENTRE` puts the text's top at `at.0`, centred on `at.1`).
    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        font: &FontRef<'static>,
        text: &str,
        px: f32,
        colour: RGBColor,
        at: (f32, f32),
        anchor: Anchor,
        vertical: bool,
    ) {
        if text.is_empty() {
            return;
        }
        let scale = PxScale::from(px);
        let scaled = font.as_scaled(scale);
        let width = text_width(font, px, text);
        let (ascent, descent) = (scaled.ascent(), scaled.descent());
        let du = -anchor.h * width;
        let dv = -anchor.v * (ascent - descent);
        let mut pen = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                pen += scaled.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(scale, point(pen + du, ascent + dv));
            pen += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let u = bounds.min.x + gx as f32;
                let v = bounds.min.y + gy as f32;
                let (x, y) = if vertical {
                    (at.0 + v, at.1 - u)
                } else {
                    (at.0 + u, at.1 + v)
                };
                self.blend(x.round(), y.round(), colour, coverage);
            });
        }
    }

    fn blend(&mut self, x: f32, y: f32, colour: RGBColor, alpha: f32) {
        if x < 0.0 || y < 0.0 || x >= self.width as f32 || y >= self.height as f32 {
            return;
        }
        // In range after the check above.
        let i = 3 * (y as usize * self.width as usize + x as usize);
        let a = alpha.clamp(0.0, 1.0);
        for (channel, target) in self.rgb[i..i + 3]
            .iter_mut()
            .zip([colour.0, colour.1, colour.2])
        {
            let mixed = f32::from(*channel) * (1.0 - a) + f32::from(target) * a;
            *channel = mixed.round().clamp(0.0, 255.0) as u8;
        }
    }

    fn encode(&self) -> anyhow::Result<Vec<u8>> {
        encode_png(self.width, self.height, png::ColorType::Rgb, &self.rgb)
    }
}

/// Fractions of the text's width and line height to move left and up from the anchor point.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    h: f32,
    v: f32,
}

impl Anchor {
    const TOP_CENTRE: Anchor = Anchor { h: 0.5, v: 0.0 };
    const MIDDLE_RIGHT: Anchor = Anchor { h: 1.0, v: 0.5 };
    const MIDDLE_LEFT: Anchor = Anchor { h: 0.0, v: 0.5 };
}

fn text_width(font: &FontRef<'static>, px: f32, text: &str) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

fn line_height(font: &FontRef<'static>, px: f32) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    scaled.ascent() - scaled.descent()
}

/// Grid lines at the ticks and fainter ones half-way between them.
fn draw_grid(chart: &mut Chart<'_, '_>, frame: &Frame) -> anyhow::Result<()> {
    let (x0, x1) = frame.x_range;
    let (y0, y1) = frame.y_range;
    let halves = |t: &Ticks, lo: f64, hi: f64| -> Vec<f64> {
        let first = t.values.first().copied().unwrap_or(lo) - t.step / 2.0;
        (0..=t.values.len())
            .map(|k| first + k as f64 * t.step)
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let faint = ShapeStyle::from(SUBGRID).stroke_width(1);
    let solid = ShapeStyle::from(GRID).stroke_width(1);
    for (values, style) in [
        (halves(&frame.x_ticks, x0, x1), faint),
        (frame.x_ticks.values.clone(), solid),
    ] {
        chart
            .draw_series(
                values
                    .iter()
                    .map(|&x| PathElement::new(vec![(x, y0), (x, y1)], style)),
            )
            .map_err(drawing_error)?;
    }
    for (values, style) in [
        (halves(&frame.y_ticks, y0, y1), faint),
        (frame.y_ticks.values.clone(), solid),
    ] {
        chart
            .draw_series(
                values
                    .iter()
                    .map(|&y| PathElement::new(vec![(x0, y), (x1, y)], style)),
            )
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// The legend's box and its colour samples; the labels come in the text pass.
fn draw_legend_box(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    frame: &Frame,
) -> anyhow::Result<()> {
    if frame.legend.is_empty() {
        return Ok(());
    }
    let (lx, ly, lw, lh) = frame.legend_box;
    let corners = [(lx, ly), (lx + lw, ly + lh)];
    root.draw(&Rectangle::new(corners, WHITE.mix(0.9).filled()))
        .map_err(drawing_error)?;
    root.draw(&Rectangle::new(corners, ShapeStyle::from(LEGEND_BORDER)))
        .map_err(drawing_error)?;
    for (i, entry) in frame.legend.iter().enumerate() {
        let y = ly + 5 + LEGEND_ROW * i as i32 + LEGEND_ROW / 2;
        let x = lx + 10;
        match entry.marker {
            Marker::Line => root.draw(&PathElement::new(
                vec![(x, y), (x + LEGEND_SAMPLE, y)],
                ShapeStyle::from(entry.colour).stroke_width(2),
            )),
            Marker::Dot => root.draw(&Circle::new(
                (x + LEGEND_SAMPLE / 2, y),
                4,
                entry.colour.filled(),
            )),
        }
        .map_err(drawing_error)?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};
    use rand::{Rng as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    struct Decoded {
        width: u32,
        height: u32,
        colour: png::ColorType,
        pixels: Vec<u8>,
    }

    fn decode(bytes: &[u8]) -> Decoded {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(info.buffer_size());
        Decoded {
            width: info.width,
            height: info.height,
            colour: info.color_type,
            pixels,
        }
    }

    impl Decoded {
        fn rgb(&self, x: u32, y: u32) -> [u8; 3] {
            let i = 3 * (y * self.width + x) as usize;
            [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
        }

        fn count(&self, pred: impl Fn([u8; 3]) -> bool) -> usize {
            let mut n = 0;
            for y in 0..self.height {
                for x in 0..self.width {
                    n += usize::from(pred(self.rgb(x, y)));
                }
            }
            n
        }
    }

    /// Close to a colour, allowing for anti-aliasing and alpha blending with white.
    fn near(p: [u8; 3], c: RGBColor, tol: i32) -> bool {
        let q = [c.0, c.1, c.2];
        (0..3).all(|i| (i32::from(p[i]) - i32::from(q[i])).abs() <= tol)
    }

    #[test]
    fn a_two_by_two_grid_has_the_expected_pixels() {
        // Four 2×3 images; image k has pixel (i, j) = (k·6 + i·3 + j) / 23.
        let images = Array2::from_shape_fn((4, 6), |(k, p)| (k * 6 + p) as f32 / 23.0);
        let bytes = image_grid_png(images.view(), 2, 3, 2, 2).unwrap();
        let png = decode(&bytes);
        let sep = 2;
        assert_eq!(png.colour, png::ColorType::Grayscale);
        assert_eq!(png.width, 2 * 3 * 2 + 3 * sep);
        assert_eq!(png.height, 2 * 2 * 2 + 3 * sep);
        let at = |x: u32, y: u32| png.pixels[(y * png.width + x) as usize];
        for k in 0..4u32 {
            let x0 = sep + (k % 2) * (3 * 2 + sep);
            let y0 = sep + (k / 2) * (2 * 2 + sep);
            for i in 0..2u32 {
                for j in 0..3u32 {
                    let want = grey_level(images[[k as usize, (i * 3 + j) as usize]]);
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        assert_eq!(at(x0 + 2 * j + dx, y0 + 2 * i + dy), want, "image {k}");
                    }
                }
            }
        }
        // Frame and separators.
        for (x, y) in [
            (0, 0),
            (1, 5),
            (8, 3),
            (9, 9),
            (17, 13),
            (4, 6),
            (4, 7),
            (12, 12),
        ] {
            assert_eq!(at(x, y), GRID_SEPARATOR_GREY, "({x}, {y})");
        }
        // Exact extremes: image 0 pixel 0 is 0/23 → 0 and image 3 pixel 5 is 23/23 → 255.
        assert_eq!(at(2, 2), 0);
        assert_eq!(at(sep + 6 + sep + 5, sep + 4 + sep + 3), 255);
    }

    #[test]
    fn grid_values_are_clamped_and_nan_is_black() {
        let images = array![[f32::NAN, -1.0, 2.0, 0.5]];
        let png = decode(&image_grid_png(images.view(), 1, 4, 8, 1).unwrap());
        // One image: cols shrinks to 1, 1 px frame at scale 1.
        assert_eq!((png.width, png.height), (6, 3));
        assert_eq!(&png.pixels[7..11], &[0, 0, 255, 128]);
        assert_eq!(png.pixels[6], GRID_SEPARATOR_GREY);
    }

    #[test]
    fn an_incomplete_last_row_is_filled_with_the_separator_grey() {
        let images = Array2::<f32>::ones((3, 4));
        let png = decode(&image_grid_png(images.view(), 2, 2, 2, 1).unwrap());
        assert_eq!((png.width, png.height), (7, 7));
        let at = |x: u32, y: u32| png.pixels[(y * png.width + x) as usize];
        assert_eq!(at(1, 4), 255); // third image, bottom-left cell
        assert_eq!(at(4, 4), GRID_SEPARATOR_GREY); // empty bottom-right cell
        assert_eq!(at(5, 5), GRID_SEPARATOR_GREY);
    }

    #[test]
    fn grid_rejects_inconsistent_shapes() {
        let images = Array2::<f32>::zeros((2, 5));
        let err = image_grid_png(images.view(), 2, 3, 2, 1).unwrap_err();
        assert!(err.to_string().contains("6 pixels, got 5"), "{err}");
        let none = Array2::<f32>::zeros((0, 6));
        assert!(image_grid_png(none.view(), 2, 3, 2, 1).is_err());
        let one = Array2::<f32>::zeros((1, 6));
        assert!(image_grid_png(one.view(), 2, 3, 0, 1).is_err());
        assert!(image_grid_png(one.view(), 2, 3, 1, 0).is_err());
    }

    fn training_chart() -> LineChart {
        let curve = |offset: f64| -> Vec<(f64, f64)> {
            (1..=30)
                .map(|e| {
                    (
                        f64::from(e),
                        -200.0 + offset + 90.0 * (1.0 - (-f64::from(e) / 6.0).exp()),
                    )
                })
                .collect()
        };
        let mut elbo = curve(0.0);
        elbo[4].1 = f64::NAN;
        elbo[9].0 = f64::INFINITY;
        LineChart {
            title: "Training curves".into(),
            x_label: "epoch".into(),
            y_label: "nats / example".into(),
            series: vec![
                Series {
                    label: "train ELBO".into(),
                    points: elbo,
                },
                Series {
                    label: "test log p(x) (IWAE k=50)".into(),
                    points: curve(6.0),
                },
            ],
        }
    }

    #[test]
    fn a_line_chart_is_a_png_of_the_requested_size_with_both_series() {
        let bytes = line_chart_png(&training_chart(), 640, 400).unwrap();
        let png = decode(&bytes);
        assert_eq!((png.width, png.height), (640, 400));
        assert_eq!(png.colour, png::ColorType::Rgb);
        assert_eq!(png.rgb(0, 0), [255, 255, 255]);
        let non_white = png.count(|p| p != [255, 255, 255]);
        assert!(non_white > 2000, "{non_white} non-white pixels");
        for colour in &PALETTE[..2] {
            let n = png.count(|p| near(p, *colour, 8));
            assert!(n > 200, "{n} pixels of {colour:?}");
        }
        // No third series colour was used.
        assert!(png.count(|p| near(p, PALETTE[2], 8)) < 20);
        // Dark text pixels (title, ticks, labels).
        assert!(png.count(|p| p.iter().all(|&c| c < 80)) > 300);
    }

    #[test]
    fn a_line_chart_without_finite_points_still_draws_axes() {
        let chart = LineChart {
            title: "empty".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "nothing".into(),
                points: vec![(f64::NAN, 1.0), (2.0, f64::NEG_INFINITY)],
            }],
        };
        let png = decode(&line_chart_png(&chart, 300, 200).unwrap());
        assert_eq!((png.width, png.height), (300, 200));
        assert!(png.count(|p| p != [255, 255, 255]) > 100);
        assert!(line_chart_png(&chart, 10, 10).is_err());
    }

    #[test]
    fn a_scatter_plot_with_labels_and_ellipses_draws_both() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let centres = [[-3.0, 0.0], [3.0, 1.0]];
        let n = 400;
        let mut points = Array2::<f64>::zeros((n, 2));
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let k = i % 2;
            points[[i, 0]] = centres[k][0] + rng.random_range(-1.0..1.0);
            points[[i, 1]] = centres[k][1] + rng.random_range(-1.0..1.0);
            labels.push(k);
        }
        points[[0, 0]] = f64::NAN;
        let ellipses = [
            Ellipse {
                mean: centres[0],
                cov: [[0.33, 0.1], [0.1, 0.33]],
            },
            Ellipse {
                mean: centres[1],
                cov: [[0.5, 0.0], [0.0, 0.2]],
            },
            Ellipse {
                mean: [f64::NAN, 0.0],
                cov: [[1.0, 0.0], [0.0, 1.0]],
            },
        ];
        let bytes = scatter_png(
            points.view(),
            Some(&labels),
            &ellipses,
            "Two clusters",
            "x₁",
            "x₂",
            500,
            400,
        )
        .unwrap();
        let png = decode(&bytes);
        assert_eq!((png.width, png.height), (500, 400));
        for colour in &PALETTE[..2] {
            // The points are blended with white (alpha 0.65): look for their tint.
            let tint = RGBColor(blend(colour.0), blend(colour.1), blend(colour.2));
            let n = png.count(|p| near(p, tint, 10));
            assert!(n > 300, "{n} pixels near {tint:?}");
        }
        // Ellipse outlines and crosses, plus text, in dark ink.
        assert!(png.count(|p| near(p, INK, 10)) > 500);
    }

    fn blend(c: u8) -> u8 {
        (0.65 * f64::from(c) + 0.35 * 255.0).round() as u8
    }

    #[test]
    fn scatter_checks_its_inputs() {
        let points = Array2::<f64>::zeros((3, 3));
        assert!(scatter_png(points.view(), None, &[], "t", "x", "y", 300, 200).is_err());
        let points = Array2::<f64>::zeros((3, 2));
        let err =
            scatter_png(points.view(), Some(&[0, 1]), &[], "t", "x", "y", 300, 200).unwrap_err();
        assert!(err.to_string().contains("2 labels for 3 points"), "{err}");
        // Identical points only: the ranges are widened and the plot is drawn.
        let png = decode(&scatter_png(points.view(), None, &[], "t", "x", "y", 300, 200).unwrap());
        assert_eq!((png.width, png.height), (300, 200));
    }

    #[test]
    fn the_contour_is_at_mahalanobis_distance_two() {
        let e = Ellipse {
            mean: [1.0, -2.0],
            cov: [[2.0, 0.6], [0.6, 1.0]],
        };
        let det = 2.0 * 1.0 - 0.6 * 0.6;
        let inv = [[1.0 / det, -0.6 / det], [-0.6 / det, 2.0 / det]];
        for (x, y) in contour(&e).unwrap() {
            let (dx, dy) = (x - 1.0, y + 2.0);
            let d2 =
                dx * (inv[0][0] * dx + inv[0][1] * dy) + dy * (inv[1][0] * dx + inv[1][1] * dy);
            assert!((d2 - 4.0).abs() < 1e-9, "{d2}");
        }
        let diag = Ellipse {
            mean: [0.0, 0.0],
            cov: [[1.0, 0.0], [0.0, 4.0]],
        };
        let pts = contour(&diag).unwrap();
        let max_y = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        assert!((max_y - 4.0).abs() < 1e-9, "{max_y}");
    }

    #[test]
    fn ticks_fall_on_round_numbers_with_the_decimals_of_the_step() {
        let t = ticks(-210.0, -105.0, 10);
        assert_eq!(t.step, 20.0);
        assert_eq!(t.labels.first().unwrap(), "\u{2212}200");
        assert_eq!(t.labels.last().unwrap(), "\u{2212}120");
        let t = ticks(-3.5, -2.7, 8);
        assert_eq!(t.values.len(), 9);
        assert_eq!(t.labels[0], "\u{2212}3.5");
        assert_eq!(t.labels[8], "\u{2212}2.7");
        assert_eq!(ticks(0.0, 0.5, 10).labels[1], "0.05");
        assert_eq!(
            ticks(1.0, 30.0, 6).labels,
            ["5", "10", "15", "20", "25", "30"]
        );
        assert_eq!(ticks(0.0, 2e6, 10).labels[5], "1.0e6");
        assert_eq!(tick_formatter(0.5, 1.0)(-0.0), "0.0");
        assert!(ticks(-1e308, 1e308, 10).values.is_empty());
        // Every label of an axis is distinct.
        for (lo, hi) in [(0.0, 1e-3), (-0.1, 0.1), (123.4, 123.9), (1e6, 1.3e6)] {
            let t = ticks(lo, hi, 10);
            let mut labels = t.labels.clone();
            labels.dedup();
            assert_eq!(labels.len(), t.labels.len(), "{:?}", t.labels);
            assert!(t.values.len() >= 2, "{lo}..{hi}: {:?}", t.values);
        }
    }

    #[test]
    fn chart_text_is_drawn_where_it_belongs() {
        let png = decode(&line_chart_png(&training_chart(), 640, 400).unwrap());
        let dark = |x0: u32, x1: u32, y0: u32, y1: u32| {
            let mut n = 0;
            for y in y0..y1 {
                for x in x0..x1 {
                    n += usize::from(png.rgb(x, y).iter().all(|&c| c < 100));
                }
            }
            n
        };
        // Title centred in the top band, nothing in its corners.
        assert!(dark(220, 420, 0, 34) > 100);
        assert_eq!(dark(0, 60, 0, 34), 0);
        // The rotated y label in the left strip, and the x label along the bottom.
        assert!(dark(0, 30, 100, 300) > 60);
        assert!(dark(250, 450, 370, 400) > 40);
    }

    #[test]
    fn the_legend_goes_where_it_hides_the_fewest_points() {
        let rect = (0, 0, 400, 300);
        let size = (100, 50);
        let ranges = ((0.0, 1.0), (0.0, 1.0));
        // Points everywhere but the lower-left quarter.
        let grid: Vec<(f64, f64)> = (0..=20)
            .flat_map(|i| (0..=20).map(move |j| (f64::from(i) / 20.0, f64::from(j) / 20.0)))
            .filter(|&(x, y)| !(x < 0.5 && y < 0.5))
            .collect();
        assert_eq!(
            legend_place(grid.into_iter(), ranges, rect, size),
            (10, 240)
        );
        // No points: the upper right.
        assert_eq!(
            legend_place(std::iter::empty(), ranges, rect, size),
            (290, 10)
        );
        // A line along the top edge from left to right: the lower right.
        let line = [(0.0, 0.95), (1.0, 0.95)];
        assert_eq!(
            legend_place(along_lines(&line), ranges, rect, size),
            (290, 240)
        );
    }

    #[test]
    fn axis_ranges_are_never_empty() {
        assert_eq!(axis_range(std::iter::empty(), 0.1), (0.0, 1.0));
        assert_eq!(axis_range([3.0, 3.0].into_iter(), 0.1), (1.5, 4.5));
        let (lo, hi) = axis_range([0.0, 10.0].into_iter(), 0.1);
        assert!((lo + 1.0).abs() < 1e-12 && (hi - 11.0).abs() < 1e-12);
    }
}
