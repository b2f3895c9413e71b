//! Tests of the figures: pixels of decoded PNGs, ticks, legend placement, contours.

use ndarray::{Array2, array};
use plotters::style::RGBColor;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use super::grid::grey_level;
use super::legend::{along_lines, legend_place};
use super::render::{INK, LEGEND_BORDER, PALETTE, clip_y};
use super::ticks::{axis_range, tick_formatter, ticks};
use super::*;

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
    let err = scatter_png(points.view(), Some(&[0, 1]), &[], "t", "x", "y", 300, 200).unwrap_err();
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
        let d2 = dx * (inv[0][0] * dx + inv[0][1] * dy) + dy * (inv[1][0] * dx + inv[1][1] * dy);
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

#[test]
fn render_png_draws_each_kind_like_its_wrapper() {
    let line = training_chart();
    assert_eq!(
        render_png(&line.clone().into(), 640, 400).unwrap(),
        line_chart_png(&line, 640, 400).unwrap()
    );
    let images = Array2::from_shape_fn((5, 6), |(k, p)| (k + p) as f32 / 10.0);
    let grid = ImageGrid {
        images: images.clone(),
        height: 2,
        width: 3,
        cols: 2,
        scale: 3,
    };
    // The grid's size comes from its layout, whatever size is asked for.
    assert_eq!(
        render_png(&grid.into(), 640, 400).unwrap(),
        image_grid_png(images.view(), 2, 3, 2, 3).unwrap()
    );
    let points = array![[0.0, 1.0], [2.0, 3.0], [1.0, -1.0]];
    let scatter = ScatterChart {
        title: "three".into(),
        labels: Some(vec![0, 1, 0]),
        ..ScatterChart::new(points.view()).unwrap()
    };
    let png = decode(&render_png(&scatter.into(), 300, 200).unwrap());
    assert_eq!((png.width, png.height), (300, 200));
    let wrapped = scatter_png(
        points.view(),
        Some(&[0, 1, 0]),
        &[],
        "three",
        "",
        "",
        300,
        200,
    );
    assert_eq!(png.pixels, decode(&wrapped.unwrap()).pixels);
}

/// Dark pixels (all channels below 100) in `x0..x1` × `y0..y1`.
fn dark(png: &Decoded, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> usize {
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            n += usize::from(png.rgb(x, y).iter().all(|&c| c < 100));
        }
    }
    n
}

#[test]
fn a_scatter_plot_has_its_title_in_the_top_band_and_data_in_the_plot_area() {
    let points = Array2::from_shape_fn((200, 2), |(i, c)| ((i * (7 + c * 5)) % 50) as f64);
    let bytes = scatter_png(points.view(), None, &[], "A cloud", "u", "v", 500, 400).unwrap();
    let png = decode(&bytes);
    assert!(dark(&png, (200, 300), (0, 34)) > 60, "title");
    // The middle of the plot: tinted dots, not white.
    let mut tinted = 0;
    for y in 120..300 {
        for x in 150..450 {
            tinted += usize::from(png.rgb(x, y) != [255, 255, 255]);
        }
    }
    assert!(tinted > 2000, "{tinted} non-white pixels in the plot area");
}

#[test]
fn a_long_title_is_shrunk_to_stay_inside_the_figure() {
    let chart = LineChart {
        title: "a title far too long for a figure of three hundred pixels, twice over".into(),
        ..training_chart()
    };
    let png = decode(&line_chart_png(&chart, 300, 200).unwrap());
    assert!(dark(&png, (20, 280), (0, 30)) > 100);
    // Only the 10 px margins are left on either side.
    assert_eq!(dark(&png, (0, 5), (0, 30)), 0);
    assert_eq!(dark(&png, (295, 300), (0, 30)), 0);
}

#[test]
fn a_fixed_y_range_cuts_curves_at_its_edges() {
    let flat = |label: &str, y: f64| Series {
        label: label.into(),
        points: (0..=50).map(|x| (f64::from(x), y)).collect(),
    };
    let chart = LineChart {
        title: "t".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: vec![flat("inside", 0.5), flat("above", 5.0)],
    };
    let above = |png: &Decoded| png.count(|p| near(p, PALETTE[1], 8));
    let fitted = decode(&line_chart_png(&chart, 640, 400).unwrap());
    assert!(above(&fitted) > 800, "{}", above(&fitted));
    let fixed = Chart::Line {
        chart,
        y_range: Some((0.0, 1.0)),
    };
    let cut = decode(&render_png(&fixed, 640, 400).unwrap());
    // Only the legend's sample is left of the curve above the range (drawn on the frame, it
    // would be a whole line again).
    assert!(above(&cut) < 100, "{}", above(&cut));
    assert!(cut.count(|p| near(p, PALETTE[0], 8)) > 800);
}

#[test]
fn a_y_range_must_be_finite_and_increasing() {
    for range in [
        (1.0, 1.0),
        (2.0, 1.0),
        (f64::NAN, 1.0),
        (0.0, f64::INFINITY),
    ] {
        let chart = Chart::Line {
            chart: training_chart(),
            y_range: Some(range),
        };
        let err = render_png(&chart, 640, 400).unwrap_err();
        assert!(err.to_string().contains("y range"), "{err}");
    }
}

#[test]
fn clipping_keeps_the_parts_inside_the_band_and_adds_the_crossings() {
    let near_all = |got: &[Vec<(f64, f64)>], want: &[&[(f64, f64)]]| {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.len(), w.len(), "{got:?}");
            for (a, b) in g.iter().zip(w.iter()) {
                assert!(
                    (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                    "{got:?}"
                );
            }
        }
    };
    // Up through the top edge and back down.
    let peak = clip_y(&[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)], (0.0, 1.0));
    near_all(
        &peak,
        &[&[(0.0, 0.0), (0.5, 1.0)], &[(1.5, 1.0), (2.0, 0.0)]],
    );
    // One segment across the whole band, from below to above.
    let across = clip_y(&[(0.0, -1.0), (3.0, 2.0)], (0.0, 1.0));
    near_all(&across, &[&[(1.0, 0.0), (2.0, 1.0)]]);
    // Entirely inside: unchanged; entirely outside: nothing.
    let inside = [(0.0, 0.2), (1.0, 0.8)];
    near_all(&clip_y(&inside, (0.0, 1.0)), &[&inside]);
    assert!(clip_y(&[(0.0, 3.0), (1.0, 4.0)], (0.0, 1.0)).is_empty());
}

#[test]
fn ticks_cover_the_data_range_with_at_least_two_ticks() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..2000 {
        let scale = 10f64.powi(rng.random_range(-6..8));
        let lo = rng.random_range(-1.0..1.0) * scale;
        let hi = lo + rng.random_range(1e-3..1.0) * scale;
        let target = rng.random_range(2..=10);
        let t = ticks(lo, hi, target);
        let (first, last) = (t.values[0], t.values[t.values.len() - 1]);
        // Inside the range, and no point of the range further than one step from a tick.
        let slack = 1e-9 * t.step;
        assert!(
            first >= lo - slack && last <= hi + slack,
            "{lo}..{hi}: {t:?}"
        );
        assert!(
            first - lo < t.step + slack && hi - last < t.step + slack,
            "{lo}..{hi}: {t:?}"
        );
        // At most `target` intervals, unless that would leave fewer than two ticks.
        assert!(t.values.len() >= 2, "{lo}..{hi} target {target}: {t:?}");
        assert!(
            t.values.len() <= (target + 1).max(6),
            "{lo}..{hi} target {target}: {t:?}"
        );
        if t.values.len() > target + 1 {
            let wider = ticks(lo, hi, t.values.len());
            assert!(wider.step <= t.step, "{lo}..{hi} target {target}: {t:?}");
        }
        let mut labels = t.labels.clone();
        labels.dedup();
        assert_eq!(labels.len(), t.labels.len(), "{:?}", t.labels);
        // plotters asks for the label of each tick value it was given, and of nothing else.
        assert_eq!(t.label(first), t.labels[0]);
        assert_eq!(t.label(first + 0.5 * t.step), "");
    }
}

#[test]
fn the_legend_of_a_rising_curve_goes_to_the_upper_left() {
    let chart = LineChart {
        title: "rising".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        series: vec![Series {
            label: "y = x".into(),
            points: (0..=100).map(|x| (f64::from(x), f64::from(x))).collect(),
        }],
    };
    let png = decode(&line_chart_png(&chart, 640, 400).unwrap());
    let border = |x0: u32, x1: u32| {
        let mut n = 0;
        for y in 0..png.height {
            for x in x0..x1 {
                n += usize::from(near(png.rgb(x, y), LEGEND_BORDER, 6));
            }
        }
        n
    };
    assert!(border(0, 320) > 100, "{}", border(0, 320));
    assert!(border(320, 640) < 10, "{}", border(320, 640));
}

#[test]
fn charts_serialise_as_tagged_data() {
    let chart = Chart::Line {
        chart: training_chart(),
        y_range: Some((-200.0, -100.0)),
    };
    let json = serde_json::to_value(&chart).unwrap();
    assert_eq!(json["kind"], "line");
    assert_eq!(json["title"], "Training curves");
    assert_eq!(json["y_range"], serde_json::json!([-200.0, -100.0]));
    assert_eq!(json["series"][1]["label"], "test log p(x) (IWAE k=50)");
    // The NaN of the first series has no JSON number.
    assert!(json["series"][0]["points"][4][1].is_null());
    let grid = ImageGrid {
        images: Array2::zeros((1, 4)),
        height: 2,
        width: 2,
        cols: 1,
        scale: 1,
    };
    let json = serde_json::to_value(Chart::from(grid)).unwrap();
    assert_eq!(json["kind"], "image-grid");
    assert_eq!(json["cols"], 1);
    let points = array![[1.0, 2.0]];
    let json = serde_json::to_value(Chart::from(ScatterChart::new(points.view()).unwrap()));
    let json = json.unwrap();
    assert_eq!(json["kind"], "scatter");
    assert_eq!(json["points"], serde_json::json!([[1.0, 2.0]]));
    assert_eq!(json["label_word"], "class");
}

#[test]
fn a_scatter_chart_checks_its_shape() {
    let points = Array2::<f64>::zeros((3, 3));
    let err = ScatterChart::new(points.view()).unwrap_err();
    assert!(err.to_string().contains("2 columns, got 3"), "{err}");
    let points = Array2::<f64>::zeros((3, 2));
    let chart = ScatterChart {
        labels: Some(vec![0]),
        ..ScatterChart::new(points.view()).unwrap()
    };
    let err = render_png(&chart.into(), 300, 200).unwrap_err();
    assert!(err.to_string().contains("1 labels for 3 points"), "{err}");
}
