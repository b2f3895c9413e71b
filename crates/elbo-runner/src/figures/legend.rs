//! Where a legend goes. plotters draws the legend box wherever it is told; which corner hides
//! the least data is ours to choose, from the data itself.

/// Where the legend box (`w` × `h` pixels) covers the fewest of `points`: one of nine places
/// inside the plot rectangle (`left, top, right, bottom` in pixels), preferring the upper right,
/// upper left, lower right, lower left, upper centre, lower centre, middle right, middle left
/// and centre in that order on ties. The middle row comes last because a legend there reads as
/// part of the data, but it beats hiding data when every corner is full (clusters on a ring).
pub(super) fn legend_place(
    points: impl Iterator<Item = (f64, f64)>,
    ((x0, x1), (y0, y1)): ((f64, f64), (f64, f64)),
    (left, top, right, bottom): (i32, i32, i32, i32),
    (w, h): (i32, i32),
) -> (i32, i32) {
    const INSET: i32 = 10;
    let xs = [right - INSET - w, left + INSET, (left + right - w) / 2];
    let ys = [top + INSET, bottom - INSET - h, (top + bottom - h) / 2];
    let places: [(i32, i32); 9] = [
        (xs[0], ys[0]),
        (xs[1], ys[0]),
        (xs[0], ys[1]),
        (xs[1], ys[1]),
        (xs[2], ys[0]),
        (xs[2], ys[1]),
        (xs[0], ys[2]),
        (xs[1], ys[2]),
        (xs[2], ys[2]),
    ];
    let (pw, ph) = (f64::from(right - left), f64::from(bottom - top));
    let mut counts = [0usize; 9];
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
pub(super) fn along_lines(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
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
