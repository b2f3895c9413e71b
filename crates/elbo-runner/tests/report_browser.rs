//! Opens a generated `report.html` in headless Chromium, as a reader would: every figure must
//! decode, nothing may be fetched from outside the file, and a screenshot must show a page.
//!
//! Needs Chromium (`apt-get install chromium`); without it the test fails rather than skip.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use elbo_runner::figures::{self, Ellipse, LineChart, Series};
use elbo_runner::report::{self, DataSummary, FigureRef, ModelRow, Summary};
use ndarray::Array2;

const TIMEOUT: Duration = Duration::from_secs(60);
const WINDOW: (u32, u32) = (1200, 1600);

/// Chromium's path: `/usr/bin/chromium`, else `chromium` or `chromium-browser` on PATH.
fn chromium() -> PathBuf {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return fixed.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium was not found at /usr/bin/chromium nor as chromium/chromium-browser on PATH; \
         this test opens the report in a real browser: run `apt-get install chromium`"
    );
}

/// Runs headless Chromium with a fresh profile on `url`, plus `extra` arguments; returns stdout
/// (kept with stderr in `work/chromium-TAG.*`).
fn run_chromium(work: &Path, tag: &str, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir_in(work).unwrap();
    let out_path = work.join(format!("chromium-{tag}.out"));
    let err_path = work.join(format!("chromium-{tag}.err"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            // The harness page reads the report's DOM through an iframe: both are file: URLs.
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "Chromium did not finish within {TIMEOUT:?}; stderr:\n{}",
                tail(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "Chromium failed ({status}); stderr:\n{}",
        tail(&err_path)
    );
    std::fs::read_to_string(&out_path).unwrap()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// A run directory with two models and three real figures, and its report.
fn make_run(dir: &Path) -> Summary {
    std::fs::create_dir_all(dir.join("figures")).unwrap();
    let save = |name: &str, png: Vec<u8>| -> String {
        let file = format!("figures/{name}");
        std::fs::write(dir.join(&file), png).unwrap();
        file
    };
    let images = Array2::from_shape_fn((16, 64), |(k, p)| {
        let (i, j) = ((p / 8) as f32 - 3.5, (p % 8) as f32 - 3.5);
        let r = (i * i + j * j).sqrt();
        if (r - 1.0 - k as f32 * 0.15).abs() < 0.8 {
            1.0
        } else {
            0.0
        }
    });
    let grid = save(
        "bmm-4-means.png",
        figures::image_grid_png(images.view(), 8, 8, 8, 4).unwrap(),
    );
    let curve = |offset: f64| -> Vec<(f64, f64)> {
        (1..=25)
            .map(|e| {
                let e = f64::from(e);
                (e, -150.0 + offset + 60.0 * (1.0 - (-e / 5.0).exp()))
            })
            .collect()
    };
    let chart = save(
        "vae-2-elbo.png",
        figures::line_chart_png(
            &LineChart {
                title: "vae-2: ELBO per epoch".into(),
                x_label: "epoch".into(),
                y_label: "nats / example".into(),
                series: vec![
                    Series {
                        label: "train ELBO".into(),
                        points: curve(0.0),
                    },
                    Series {
                        label: "validation ELBO".into(),
                        points: curve(-4.0),
                    },
                ],
            },
            800,
            450,
        )
        .unwrap(),
    );
    let n = 300;
    let points = Array2::from_shape_fn((n, 2), |(i, c)| {
        let centre = if i % 2 == 0 { -2.0 } else { 2.0 };
        let wobble = ((i * 37 + c * 11) % 29) as f64 / 29.0 - 0.5;
        if c == 0 {
            centre + wobble
        } else {
            wobble * 1.5
        }
    });
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let ellipses = [
        Ellipse {
            mean: [-2.0, 0.0],
            cov: [[0.08, 0.0], [0.0, 0.19]],
        },
        Ellipse {
            mean: [2.0, 0.0],
            cov: [[0.08, 0.0], [0.0, 0.19]],
        },
    ];
    let scatter = save(
        "gmm-2-fit.png",
        figures::scatter_png(
            points.view(),
            Some(&labels),
            &ellipses,
            "gmm-2: fitted mixture over the test points",
            "x1",
            "x2",
            800,
            600,
        )
        .unwrap(),
    );
    let row = |name: &str, kind: &str, method: &str| ModelRow {
        name: name.into(),
        kind: kind.into(),
        method: method.into(),
        n_parameters: 12_345,
        train_seconds: 1.5,
        train_ll: Some(-2.5),
        test_ll: Some(-2.61),
        train_elbo: Some(-2.5),
        test_elbo: Some(-2.61),
        kl_gap: Some(0.0),
        elbo_q: None,
        iwae_k: None,
        bits_per_dim: None,
        converged: Some(true),
        iterations: Some(17),
        eval_hash: None,
    };
    let mut vae = row("vae-2", "vae", "VAE (amortised VI, IWAE k=50)");
    vae.train_ll = None;
    vae.kl_gap = Some(3.2);
    vae.converged = None;
    let summary = Summary {
        preset: "browser-test".into(),
        title: "Browser test <report>".into(),
        description: "Two models and three figures, opened in Chromium.".into(),
        created: "2025-01-01T00:00:00Z".into(),
        elbo_version: "0.1.0".into(),
        data: DataSummary {
            dataset: "synthetic".into(),
            provenance: "made by the test".into(),
            n_train: 1000,
            n_test: 300,
            n_features: 2,
            preprocessing: "none".into(),
            true_test_ll: None,
        },
        eval: None,
        models: vec![row("gmm-2", "gmm", "exact EM"), vae],
        figures: [
            (grid, "bmm-4: component means"),
            (chart, "vae-2: ELBO per epoch"),
            (scatter, "gmm-2: the fit"),
        ]
        .into_iter()
        .map(|(file, title)| FigureRef {
            file,
            title: title.into(),
            caption: format!("Caption of {title}."),
        })
        .collect(),
        notes: vec!["A note.".into()],
    };
    report::write_summary(dir, &summary).unwrap();
    report::write_report(dir, &summary).unwrap();
    summary
}

/// A page that loads report.html in an iframe and writes what it finds into `<pre id=result>`.
const HARNESS: &str = r##"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body>
<iframe id="report" src="report.html" style="width:1200px;height:1000px"></iframe>
<script>
const frame = document.getElementById("report");
frame.addEventListener("load", () => {
  let result;
  try {
    const d = frame.contentDocument;
    const images = Array.from(d.images);
    const decoded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
    const external = Array.from(d.querySelectorAll("[src],[href]"))
      .map((e) => e.getAttribute("src") || e.getAttribute("href"))
      .filter((u) => !u.startsWith("data:") && !u.startsWith("#")).length;
    const fetched = frame.contentWindow.performance.getEntriesByType("resource")
      .filter((r) => !r.name.startsWith("data:")).length;
    result = "images=" + decoded + "/" + images.length + ";external=" + external +
      ";fetched=" + fetched + ";rows=" + d.querySelectorAll("tbody tr").length +
      ";figures=" + d.querySelectorAll("figure figcaption").length +
      ";h1=" + d.querySelector("h1").textContent;
  } catch (e) {
    result = "error=" + e;
  }
  const out = document.createElement("pre");
  out.id = "result";
  out.textContent = result;
  document.body.appendChild(out);
});
</script>
</body></html>
"##;

#[test]
fn chromium_renders_the_report_with_every_figure() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let run = work.path().join("run");
    let summary = make_run(&run);
    let harness = run.join("harness.html");
    std::fs::write(&harness, HARNESS).unwrap();

    let dom = run_chromium(
        work.path(),
        "dom",
        &file_url(&harness),
        &["--dump-dom".to_owned()],
    );
    let start = dom
        .find("<pre id=\"result\">")
        .unwrap_or_else(|| panic!("the harness wrote no result; DOM:\n{dom}"));
    let rest = &dom[start + "<pre id=\"result\">".len()..];
    let result = &rest[..rest.find("</pre>").unwrap()];
    let n = summary.figures.len();
    let expected = format!(
        "images={n}/{n};external=0;fetched=0;rows={};figures={n};h1=Browser test &lt;report&gt;",
        summary.models.len()
    );
    assert_eq!(result, expected, "what Chromium saw in report.html");

    let shot = work.path().join("screenshot.png");
    run_chromium(
        work.path(),
        "screenshot",
        &file_url(&run.join("report.html")),
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ],
    );
    let bytes = std::fs::read(&shot).expect("Chromium wrote no screenshot");
    check_screenshot(&bytes);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the browser test took {:?}",
        started.elapsed()
    );
}

/// The screenshot decodes, has the window's size, and shows a page rather than a blank.
fn check_screenshot(bytes: &[u8]) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), WINDOW);
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "colour screenshot expected, got {:?}",
        info.color_type
    );
    let pixels = &pixels[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut counts = std::collections::HashMap::<[u8; 3], usize>::new();
    for p in pixels.chunks_exact(channels) {
        let rgb = [p[0], p[1], p[2]];
        colours.insert(rgb);
        *counts.entry(rgb).or_default() += 1;
    }
    let total = (info.width * info.height) as usize;
    let commonest = counts.values().copied().max().unwrap_or(0);
    assert!(
        colours.len() > 200,
        "only {} distinct colours: a blank page?",
        colours.len()
    );
    assert!(
        commonest < total * 9 / 10,
        "one colour covers {commonest} of {total} pixels: a blank page?"
    );
    // The page background (#f3f4f6) around the 1100 px column and the white column itself.
    assert!(counts.get(&[0xf3, 0xf4, 0xf6]).copied().unwrap_or(0) > 10_000);
    assert!(counts.get(&[0xff, 0xff, 0xff]).copied().unwrap_or(0) > 100_000);
}
