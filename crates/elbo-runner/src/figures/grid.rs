//! Image grids, copied pixel by pixel (no plotters: every pixel is known exactly), and the PNG
//! encoding shared with the charts.

use anyhow::{Context as _, ensure};
use ndarray::ArrayView2;

use super::GRID_SEPARATOR_GREY;

/// The largest side of any figure, in pixels.
pub(super) const MAX_SIDE: u32 = 8192;

/// An [`ImageGrid`](super::ImageGrid) as PNG, drawn from a view of its images (no copy).
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
    let sep = separator(scale);
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

/// Separator width for a given upscaling: 1 px would vanish between upscaled cells.
fn separator(scale: usize) -> usize {
    if scale == 1 { 1 } else { 2 }
}

/// A value in [0, 1] as an 8-bit grey level; NaN is black, out-of-range values are clamped.
pub(super) fn grey_level(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        // In [0, 255] after the clamp, so the cast cannot truncate.
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// Encodes 8-bit pixels (`Grayscale` or `Rgb`) as PNG.
pub(super) fn encode_png(
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
