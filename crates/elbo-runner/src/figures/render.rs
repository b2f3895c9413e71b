//! Charts to PNG through plotters' bitmap backend. plotters lays out and draws everything —
//! title, grid, axes, tick labels, axis labels, series and legend — with its own text drawing
//! (`ab_glyph`) in the embedded DejaVu Sans. What stays ours: the sizes of the label areas
//! (plotters does not measure its labels), the tick values (`ticks`), and which corner of the
//! plot the legend hides the least data in (`legend`).

use std::sync::OnceLock;

use anyhow::{anyhow, ensure};
use plotters::backend::BitMapBackend;
use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::drawing::{DrawingArea, IntoDrawingArea as _};
use plotters::element::{Circle, Cross, MultiLineText, PathElement};
use plotters::style::{
    Color as _, FontFamily, FontStyle, IntoFont as _, RGBColor, ShapeStyle, TextStyle, WHITE,
    register_font,
};

use super::grid::{MAX_SIDE, encode_png, image_grid_png};
use super::legend::{along_lines, legend_place};
use super::ticks::{TickAxis, Ticks, axis_range, ticks};
use super::{Chart, LineChart, Polyline, ScatterChart, contour};

/// Smallest chart size accepted, in pixels.
const MIN_CHART: (u32, u32) = (160, 120);

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The name the font is registered under in plotters' (process-wide) font table; our own name,
/// so that no other font registered by a dependency can take its place.
const FAMILY: &str = "elbo DejaVu Sans";

/// Text sizes in pixels (plotters' font size: the height of a line).
const TITLE_PX: f64 = 21.0;
const AXIS_LABEL_PX: f64 = 15.0;
const TICK_PX: f64 = 13.0;
const LEGEND_PX: f64 = 14.0;
/// The smallest size a title or axis label is shrunk to when it is too long for its room.
const MIN_TEXT_PX: f64 = 8.0;

/// Ten distinguishable colours (the "Tableau 10" palette), cycled.
pub(super) const PALETTE: [RGBColor; 10] = [
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
pub(super) const INK: RGBColor = RGBColor(30, 30, 30);
const TICK_INK: RGBColor = RGBColor(70, 70, 70);
const GRID: RGBColor = RGBColor(224, 224, 224);
const SUBGRID: RGBColor = RGBColor(243, 243, 243);
pub(super) const LEGEND_BORDER: RGBColor = RGBColor(170, 170, 170);

/// Space around the chart, in pixels.
const MARGIN: u32 = 10;
/// Length of the tick marks; plotters puts the tick labels twice as far from the axis.
const TICK_MARK: i32 = 5;
/// Between tick labels and the axis label.
const LABEL_GAP: u32 = 8;
/// Width of a legend entry's colour sample (a line or a dot) with the gap after it, and the
/// padding inside the legend box.
const LEGEND_SAMPLE: u32 = 34;
const LEGEND_PAD: u32 = 6;

type Plot<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<TickAxis, TickAxis>>;

/// Draws any chart. The size of an image grid follows from its layout, so `width` and `height`
/// apply to line and scatter charts only.
pub fn render_png(chart: &Chart, width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    match chart {
        Chart::Line { chart, y_range } => line_png(chart, *y_range, width, height),
        Chart::Scatter(chart) => scatter_png(chart, width, height),
        Chart::ImageGrid(g) => image_grid_png(g.images.view(), g.height, g.width, g.cols, g.scale),
    }
}

/// A line chart, its y axis fixed to `y_range` when given, else fitted to the data.
pub(super) fn line_png(
    chart: &LineChart,
    y_range: Option<(f64, f64)>,
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    if let Some((lo, hi)) = y_range {
        ensure!(
            lo.is_finite() && hi.is_finite() && lo < hi,
            "line chart: the y range must be finite with low < high, got {lo} .. {hi}"
        );
    }
    let curves: Vec<Polyline> = chart
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let all = || curves.iter().flatten().copied();
    let frame = Frame {
        title: &chart.title,
        x_label: &chart.x_label,
        y_label: &chart.y_label,
        x_range: axis_range(all().map(|p| p.0), 0.02),
        y_range: y_range.unwrap_or_else(|| axis_range(all().map(|p| p.1), 0.05)),
        legend: chart.series.iter().map(|s| s.label.clone()).collect(),
        avoid: curves.iter().flat_map(|c| along_lines(c)).collect(),
    };
    let (lo, hi) = frame.y_range;
    draw(&frame, (width, height), |plot| {
        for (i, (curve, series)) in curves.iter().zip(&chart.series).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let line = colour.stroke_width(2);
            let pieces = clip_y(curve, (lo, hi));
            plot.draw_series(pieces.into_iter().map(|p| PathElement::new(p, line)))
                .map_err(drawing_error)?
                .label(series.label.as_str())
                .legend(move |(x, y)| line_sample(x, y, line));
            if curve.len() <= 40 {
                let inside = curve.iter().filter(|p| (lo..=hi).contains(&p.1));
                plot.draw_series(inside.map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(drawing_error)?;
            }
        }
        Ok(())
    })
}

/// The parts of a polyline inside the band `lo ≤ y ≤ hi`, ending where they cross its edges.
/// plotters would draw a point outside a fixed y range on the frame, flattening the curve
/// there, so a curve is cut at the range instead.
pub(super) fn clip_y(points: &[(f64, f64)], (lo, hi): (f64, f64)) -> Vec<Polyline> {
    let mut pieces = Vec::new();
    let mut piece: Polyline = Vec::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if let Some(&(px, py)) = i.checked_sub(1).and_then(|j| points.get(j)) {
            let mut crossings: Vec<f64> = [lo, hi]
                .into_iter()
                .filter(|b| (py - b) * (y - b) < 0.0)
                .map(|b| (b - py) / (y - py))
                .collect();
            crossings.sort_by(f64::total_cmp);
            // Along the segment, crossings alternate: into the band when outside, out of it
            // when inside.
            for t in crossings {
                let was_inside = !piece.is_empty();
                piece.push((px + t * (x - px), py + t * (y - py)));
                if was_inside {
                    pieces.push(std::mem::take(&mut piece));
                }
            }
        }
        if (lo..=hi).contains(&y) {
            piece.push((x, y));
        } else if !piece.is_empty() {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// A scatter chart, its axes fitted to the points and the ellipses.
pub(super) fn scatter_png(
    chart: &ScatterChart,
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    let labels = chart.labels.as_deref();
    if let Some(labels) = labels {
        ensure!(
            labels.len() == chart.points.len(),
            "scatter plot: {} labels for {} points",
            labels.len(),
            chart.points.len()
        );
    }
    // Group the finite points by label, labels in increasing order.
    let mut classes: Vec<usize> = labels.map(<[usize]>::to_vec).unwrap_or_default();
    classes.sort_unstable();
    classes.dedup();
    let mut groups: Vec<Polyline> = vec![Vec::new(); classes.len().max(1)];
    for (i, &[x, y]) in chart.points.iter().enumerate() {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let group = labels.map_or(0, |l| classes.binary_search(&l[i]).unwrap_or(0));
        groups[group].push((x, y));
    }
    let shapes: Vec<(Polyline, (f64, f64))> = chart
        .ellipses
        .iter()
        .filter_map(|e| contour(e).map(|c| (c, (e.mean[0], e.mean[1]))))
        .collect();
    if shapes.len() < chart.ellipses.len() {
        tracing::warn!(
            skipped = chart.ellipses.len() - shapes.len(),
            "scatter plot: ellipses with a non-finite mean or covariance are not drawn"
        );
    }
    let everything = || {
        groups
            .iter()
            .chain(shapes.iter().map(|(c, _)| c))
            .flat_map(|g| g.iter().copied())
    };
    let mut legend: Vec<String> = Vec::new();
    if labels.is_some() {
        legend.extend(classes.iter().map(|c| format!("{} {c}", chart.label_word)));
    }
    if !shapes.is_empty() {
        legend.push(ELLIPSE_LEGEND.to_owned());
    }
    let frame = Frame {
        title: &chart.title,
        x_label: &chart.x_label,
        y_label: &chart.y_label,
        x_range: axis_range(everything().map(|p| p.0), 0.05),
        y_range: axis_range(everything().map(|p| p.1), 0.05),
        legend,
        avoid: groups
            .iter()
            .flatten()
            .copied()
            .chain(shapes.iter().flat_map(|(c, _)| along_lines(c)))
            .collect(),
    };
    // Smaller dots as the cloud grows, so that clusters keep their shape.
    let radius = match groups.iter().map(Vec::len).sum::<usize>() {
        0..=500 => 3,
        501..=5000 => 2,
        _ => 1,
    };
    draw(&frame, (width, height), |plot| {
        for (g, group) in groups.iter().enumerate() {
            let colour = PALETTE[g % PALETTE.len()];
            let fill = colour.mix(0.65).filled();
            let drawn = plot
                .draw_series(group.iter().map(|&p| Circle::new(p, radius, fill)))
                .map_err(drawing_error)?;
            if labels.is_some() {
                drawn
                    .label(frame.legend[g].as_str())
                    .legend(move |(x, y)| dot_sample(x, y, colour));
            }
        }
        let stroke = INK.stroke_width(2);
        for (k, (outline, centre)) in shapes.iter().enumerate() {
            let drawn = plot
                .draw_series([PathElement::new(outline.clone(), stroke)])
                .map_err(drawing_error)?;
            // One legend entry for all the ellipses.
            if k == 0 {
                drawn
                    .label(ELLIPSE_LEGEND)
                    .legend(move |(x, y)| line_sample(x, y, stroke));
            }
            plot.draw_series([Cross::new(*centre, 5, stroke)])
                .map_err(drawing_error)?;
        }
        Ok(())
    })
}

const ELLIPSE_LEGEND: &str = "2σ ellipse";

/// A legend's line sample: plotters hands the left end, at the height of the entry's text.
fn line_sample(x: i32, y: i32, style: ShapeStyle) -> PathElement<(i32, i32)> {
    PathElement::new(vec![(x, y), (x + LEGEND_SAMPLE as i32 - 10, y)], style)
}

fn dot_sample(x: i32, y: i32, colour: RGBColor) -> Circle<(i32, i32), i32> {
    Circle::new((x + (LEGEND_SAMPLE as i32 - 10) / 2, y), 4, colour.filled())
}

/// Everything around the series: texts, axis ranges, the legend's lines and the points it
/// should not hide.
struct Frame<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x_range: (f64, f64),
    y_range: (f64, f64),
    /// One line per series given a label, in the order the series are drawn.
    legend: Vec<String>,
    /// In data coordinates.
    avoid: Vec<(f64, f64)>,
}

/// Draws the frame, then the series (`series`, which labels them for the legend), then the
/// legend, and encodes the picture.
fn draw(
    frame: &Frame<'_>,
    (width, height): (u32, u32),
    series: impl FnOnce(&mut Plot<'_, '_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    ensure!(
        (MIN_CHART.0..=MAX_SIDE).contains(&width) && (MIN_CHART.1..=MAX_SIDE).contains(&height),
        "chart size {width}×{height} is outside {}×{} ..= {MAX_SIDE}×{MAX_SIDE}",
        MIN_CHART.0,
        MIN_CHART.1
    );
    let family = font_family()?;
    let mut rgb = vec![255; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let layout = Layout::new(&root, frame, family)?;
        let x_axis = TickAxis::new(frame.x_range, &layout.x_ticks);
        let y_axis = TickAxis::new(frame.y_range, &layout.y_ticks);
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin_top(layout.top)
            .margin_left(MARGIN)
            .margin_right(layout.right)
            .margin_bottom(MARGIN)
            .x_label_area_size(layout.x_area)
            .y_label_area_size(layout.y_area);
        if !frame.title.is_empty() {
            builder.caption(frame.title, layout.title.clone());
        }
        let mut plot = builder
            .build_cartesian_2d(x_axis, y_axis)
            .map_err(drawing_error)?;

        let x_label = |v: &f64| layout.x_ticks.label(*v);
        let y_label = |v: &f64| layout.y_ticks.label(*v);
        let mut mesh = plot.configure_mesh();
        mesh.x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(layout.ticks.clone())
            .axis_desc_style(layout.axis_labels.clone())
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(SUBGRID.stroke_width(1))
            .axis_style(INK.stroke_width(1))
            .set_all_tick_mark_size(TICK_MARK);
        if !frame.x_label.is_empty() {
            mesh.x_desc(frame.x_label);
        }
        if !frame.y_label.is_empty() {
            mesh.y_desc(frame.y_label);
        }
        mesh.draw().map_err(drawing_error)?;

        series(&mut plot)?;
        if !frame.legend.is_empty() {
            draw_legend(&mut plot, frame, &layout.legend)?;
        }
        root.present().map_err(drawing_error)?;
    }
    encode_png(width, height, png::ColorType::Rgb, &rgb)
}

/// The legend box where it hides the fewest data points (see `legend_place`), sized the way
/// plotters sizes it: the text block, the colour samples and the padding.
fn draw_legend<'a, 'b: 'a>(
    plot: &mut Plot<'a, 'b>,
    frame: &Frame<'_>,
    style: &TextStyle<'static>,
) -> anyhow::Result<()> {
    let mut text = MultiLineText::<(i32, i32), &str>::new((0, 0), style.clone());
    for line in &frame.legend {
        text.push_line(line.as_str());
    }
    let (w, h) = text.estimate_dimension().map_err(drawing_error)?;
    let size = (
        w + (LEGEND_SAMPLE + 2 * LEGEND_PAD) as i32,
        h + 2 * LEGEND_PAD as i32,
    );
    let (pw, ph) = plot.plotting_area().dim_in_pixel();
    // Both below MAX_SIDE.
    let rect = (0, 0, pw as i32, ph as i32);
    let (x, y) = legend_place(
        frame.avoid.iter().copied(),
        (frame.x_range, frame.y_range),
        rect,
        size,
    );
    plot.configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(x, y))
        .label_font(style.clone())
        .legend_area_size(LEGEND_SAMPLE)
        .margin(LEGEND_PAD)
        .background_style(WHITE.mix(0.9).filled())
        .border_style(LEGEND_BORDER)
        .draw()
        .map_err(drawing_error)
}

/// The text styles and the room around the plot area: plotters draws each label inside the
/// area it is given but does not size the areas from the labels, so we measure them here.
struct Layout {
    title: TextStyle<'static>,
    axis_labels: TextStyle<'static>,
    ticks: TextStyle<'static>,
    legend: TextStyle<'static>,
    /// Margins above the title and right of the plot, the height of the label area below it
    /// and the width of the one left of it, in pixels.
    top: u32,
    right: u32,
    x_area: u32,
    y_area: u32,
    x_ticks: Ticks,
    y_ticks: Ticks,
}

impl Layout {
    fn new(
        root: &DrawingArea<BitMapBackend<'_>, Shift>,
        frame: &Frame<'_>,
        family: FontFamily<'static>,
    ) -> anyhow::Result<Layout> {
        let style = |px: f64, colour: RGBColor| -> TextStyle<'static> {
            (family, px).into_font().color(&colour)
        };
        let measure = |text: &str, style: &TextStyle<'_>| -> anyhow::Result<(f64, f64)> {
            let (w, h) = root
                .estimate_text_size(text, style)
                .map_err(drawing_error)?;
            Ok((f64::from(w), f64::from(h)))
        };
        // The size at which `text` fits in `room` pixels, at most `px`.
        let fit = |text: &str, px: f64, room: f64| -> anyhow::Result<f64> {
            let (w, _) = measure(text, &style(px, INK))?;
            Ok(if w > room {
                (px * room / w).max(MIN_TEXT_PX)
            } else {
                px
            })
        };
        let (w, h) = root.dim_in_pixel();
        let (w, h) = (f64::from(w), f64::from(h));
        let margin = f64::from(MARGIN);
        let label_dist = f64::from(2 * TICK_MARK);
        let gap = f64::from(LABEL_GAP);

        let title = style(fit(frame.title, TITLE_PX, w - 2.0 * margin)?, INK);
        let ticks_style = style(TICK_PX, TICK_INK);
        let (_, tick_h) = measure("0", &ticks_style)?;
        let (_, label_h) = measure("0", &style(AXIS_LABEL_PX, INK))?;
        let (top, title_band) = if frame.title.is_empty() {
            (16.0, 0.0)
        } else {
            // plotters puts the caption in a band of its height plus up to 5 px either side.
            let (_, th) = measure(frame.title, &title)?;
            (margin, th + 2.0 * (th / 2.0).min(5.0))
        };
        let with_label = |text: &str| if text.is_empty() { 0.0 } else { gap + label_h };
        let x_area = label_dist + tick_h + with_label(frame.x_label);
        let plot_h = (h - top - title_band - x_area - margin).max(20.0);
        // About one tick per 48 px of height and 90 px of width, so labels never crowd.
        let y_ticks = ticks(
            frame.y_range.0,
            frame.y_range.1,
            ((plot_h / 48.0) as usize).clamp(2, 10),
        );
        let mut y_tick_w: f64 = 0.0;
        for label in &y_ticks.labels {
            y_tick_w = y_tick_w.max(measure(label, &ticks_style)?.0);
        }
        let y_area = label_dist + y_tick_w + with_label(frame.y_label);
        let plot_w = (w - margin - y_area - 28.0).max(20.0);
        let x_ticks = ticks(
            frame.x_range.0,
            frame.x_range.1,
            ((plot_w / 90.0) as usize).clamp(2, 10),
        );
        // Room for half of the last tick label beyond the right end of the axis.
        let last_x = match x_ticks.labels.last() {
            Some(label) => measure(label, &ticks_style)?.0,
            None => 0.0,
        };
        let right = (last_x / 2.0 + 8.0).max(20.0);
        // plotters draws both axis labels in one style: the smaller of the two fits.
        let label_px = fit(
            frame.x_label,
            AXIS_LABEL_PX,
            (w - margin - y_area - right).max(20.0),
        )?
        .min(fit(frame.y_label, AXIS_LABEL_PX, plot_h)?);
        // Non-negative and below the canvas size, so they fit in u32.
        let px = |v: f64| v.round() as u32;
        Ok(Layout {
            title,
            axis_labels: style(label_px, INK),
            ticks: ticks_style,
            legend: style(LEGEND_PX, INK),
            top: px(top),
            right: px(right),
            x_area: px(x_area),
            y_area: px(y_area),
            x_ticks,
            y_ticks,
        })
    }
}

/// Registers the embedded font with plotters, once per process.
fn font_family() -> anyhow::Result<FontFamily<'static>> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ensure!(
        ok,
        "the embedded chart font (DejaVu Sans) could not be parsed"
    );
    Ok(FontFamily::Name(FAMILY))
}

fn drawing_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the chart failed: {e}")
}
