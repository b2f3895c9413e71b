//! Transforms, checked against values worked out by hand and, for the random ones, against
//! binomial tolerances derived from the sample size.

// Helpers outside #[test] functions may unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used)]

use elbo_datasets::{
    Dataset, DatasetError, Standardizer, binarize, binarize_stochastic, binarize_stochastic_into,
    dequantize, scale_to_unit, stratified_subset, train_validation_split,
};
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn labelled(counts: &[usize]) -> Dataset {
    let labels: Vec<usize> = counts
        .iter()
        .enumerate()
        .flat_map(|(k, &n)| std::iter::repeat_n(k, n))
        .collect();
    let n = labels.len();
    let x = Array2::from_shape_fn((n, 2), |(i, j)| (i * 2 + j) as f32);
    Dataset::new("toy", x).with_labels(labels).unwrap()
}

#[test]
fn scale_maps_the_given_range_and_rejects_values_outside() {
    let ds = Dataset::new("g", array![[0.0f32, 51.0], [255.0, 127.5]]);
    let s = scale_to_unit(ds.clone(), 0.0, 255.0).unwrap();
    assert_eq!(s.features(), &array![[0.0f32, 0.2], [1.0, 0.5]]);
    assert!(s.provenance().contains("scaled"));
    let err = scale_to_unit(ds, 0.0, 200.0).unwrap_err();
    assert!(err.to_string().contains("row 1, column 0"), "{err}");
}

#[test]
fn binarize_is_strictly_above_the_threshold() {
    let ds = Dataset::new("g", array![[0.2f32, 0.5, 0.51, 1.0]]);
    assert_eq!(
        binarize(ds, 0.5).features(),
        &array![[0.0f32, 0.0, 1.0, 1.0]]
    );
}

#[test]
fn stochastic_binarization_has_the_grey_level_as_frequency() {
    let probs = [0.0f32, 0.1, 0.5, 0.9, 1.0];
    let n = 20_000;
    let x = Array2::from_shape_fn((n, probs.len()), |(_, j)| probs[j]);
    let ds = Dataset::new("p", x);
    let b = binarize_stochastic(ds.clone(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert!(b.features().iter().all(|&v| v == 0.0 || v == 1.0));
    for (j, &p) in probs.iter().enumerate() {
        let freq = b.features().column(j).sum() / n as f32;
        // 5 binomial standard errors: a false failure has probability < 1e-6.
        let tol = 5.0 * (p * (1.0 - p) / n as f32).sqrt();
        assert!(
            (freq - p).abs() <= tol,
            "column {j}: {freq} vs {p} (tol {tol})"
        );
    }
    // Same seed, same draw; another seed, another draw.
    let again = binarize_stochastic(ds.clone(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert_eq!(again.features(), b.features());
    let other = binarize_stochastic(ds, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
    assert_ne!(other.features(), b.features());
}

#[test]
fn stochastic_binarization_checks_its_inputs() {
    let x = array![[0.5f32, 1.5]];
    let mut out = Array2::zeros((1, 2));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert!(matches!(
        binarize_stochastic_into(x.view(), out.view_mut(), &mut rng),
        Err(DatasetError::InvalidArgument { .. })
    ));
    let mut wrong = Array2::zeros((2, 2));
    assert!(
        binarize_stochastic_into(array![[0.5f32, 0.5]].view(), wrong.view_mut(), &mut rng).is_err()
    );
}

#[test]
fn standardizer_uses_training_statistics() {
    let train = Dataset::new("train", array![[1.0f32, 10.0], [3.0, 10.0], [5.0, 10.0]]);
    let s = Standardizer::fit(&train).unwrap();
    // mean (3, 10); population std (sqrt(8/3), 0 -> 1).
    let sd = (8.0f32 / 3.0).sqrt();
    assert_eq!(s.mean, array![3.0f32, 10.0]);
    assert!((s.std[0] - sd).abs() < 1e-6 && s.std[1] == 1.0);
    let test = Dataset::new("test", array![[3.0f32 + sd, 11.0]]);
    let t = s.transform(test).unwrap();
    assert!((t.features()[[0, 0]] - 1.0).abs() < 1e-6);
    assert_eq!(t.features()[[0, 1]], 1.0);
    assert!(s.transform(Dataset::new("bad", array![[1.0f32]])).is_err());
    assert!(Standardizer::fit(&Dataset::new("empty", Array2::zeros((0, 2)))).is_err());
}

#[test]
fn dequantization_stays_in_the_grey_level_bin() {
    let n_rows = 400;
    let x = Array2::from_shape_fn((n_rows, 256), |(_, k)| k as f32 / 255.0);
    let y = dequantize(Dataset::new("q", x), 256, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    for (k, column) in y.features().columns().into_iter().enumerate() {
        for &v in column {
            let (lo, hi) = (k as f32 / 256.0, (k + 1) as f32 / 256.0);
            assert!(
                v >= lo - 1e-6 && v < hi + 1e-6,
                "level {k}: {v} outside [{lo}, {hi})"
            );
        }
    }
    // Uniform noise: the offset inside the bin has mean 1/2 and variance 1/12.
    let offsets: Vec<f32> = y
        .features()
        .indexed_iter()
        .map(|((_, k), &v)| v * 256.0 - k as f32)
        .collect();
    let mean = offsets.iter().sum::<f32>() / offsets.len() as f32;
    let tol = 5.0 * (1.0 / 12.0 / offsets.len() as f32).sqrt();
    assert!((mean - 0.5).abs() < tol, "{mean}");
    assert!(
        dequantize(
            Dataset::new("bad", array![[2.0f32]]),
            256,
            &mut ChaCha8Rng::seed_from_u64(0)
        )
        .is_err()
    );
}

#[test]
fn stratified_subset_keeps_class_proportions_and_order() {
    let ds = labelled(&[60, 30, 10]);
    let sub = stratified_subset(&ds, 10, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    assert_eq!(sub.class_counts(), vec![6, 3, 1]);
    // Rows keep their original order: first feature (2 i) strictly increasing.
    let first: Vec<f32> = sub.features().column(0).to_vec();
    assert!(first.windows(2).all(|w| w[0] < w[1]));
    // Each row is a row of the original with its own label.
    for (row, &label) in sub.features().rows().into_iter().zip(sub.labels().unwrap()) {
        let i = (row[0] / 2.0) as usize;
        assert_eq!(ds.labels().unwrap()[i], label);
    }
    // Largest remainder: 7 of (5, 3, 2) -> exact (3.5, 2.1, 1.4) -> (4, 2, 1).
    let odd =
        stratified_subset(&labelled(&[5, 3, 2]), 7, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    assert_eq!(odd.class_counts(), vec![4, 2, 1]);
    assert!(stratified_subset(&ds, 101, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
}

#[test]
fn train_validation_split_is_a_stratified_partition() {
    let ds = labelled(&[60, 30, 10]);
    let (train, val) = train_validation_split(&ds, 0.2, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    assert_eq!(val.class_counts(), vec![12, 6, 2]);
    assert_eq!(train.class_counts(), vec![48, 24, 8]);
    let mut seen: Vec<usize> = train
        .features()
        .column(0)
        .iter()
        .chain(val.features().column(0))
        .map(|&v| (v / 2.0) as usize)
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>(), "disjoint and complete");
    assert_eq!(val.name(), "toy/validation");
    for bad in [0.0, 1.0, -0.1, f64::NAN, 0.001] {
        assert!(
            train_validation_split(&ds, bad, &mut ChaCha8Rng::seed_from_u64(0)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn dataset_invariants_are_checked() {
    let x = Array2::<f32>::zeros((3, 6));
    assert!(matches!(
        Dataset::new("d", x.clone()).with_labels(vec![0, 1]),
        Err(DatasetError::LabelCount {
            n_images: 3,
            n_labels: 2,
            ..
        })
    ));
    assert!(Dataset::new("d", x.clone()).with_image_shape(2, 2).is_err());
    assert!(Dataset::new("d", x.clone()).with_image_shape(2, 3).is_ok());
    assert!(Dataset::new("d", x).select(&[0, 3]).is_err());
}
