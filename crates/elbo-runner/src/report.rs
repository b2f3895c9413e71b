//! The run report. A run saves what it measured as `summary.json`; from it come `report.md` and
//! a self-contained `report.html` (figures embedded as `data:` URIs, inline CSS, no script and no
//! external resource), so `elbo report RUN_DIR` can rebuild both at any time.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;

/// File names inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";
pub const REPORT_MD: &str = "report.md";
pub const REPORT_HTML: &str = "report.html";

/// What a run measured; saved as `summary.json` in the run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Preset name, e.g. "quickstart".
    pub preset: String,
    pub title: String,
    /// A paragraph from the preset.
    pub description: String,
    /// UTC timestamp text.
    pub created: String,
    pub elbo_version: String,
    pub data: DataSummary,
    /// The evaluation set every row was scored on (absent in summaries made before it).
    #[serde(default)]
    pub eval: Option<crate::eval::EvalId>,
    pub models: Vec<ModelRow>,
    pub figures: Vec<FigureRef>,
    /// Free-text lines, e.g. "true mean log-likelihood of the sample: -3.21 nats".
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub dataset: String,
    pub provenance: String,
    pub n_train: usize,
    pub n_test: usize,
    pub n_features: usize,
    pub preprocessing: String,
    /// Mean log-likelihood of the test set under the true generator, when it is known.
    pub true_test_ll: Option<f64>,
}

/// One model's line of the comparison table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    /// e.g. "bmm-10".
    pub name: String,
    /// "gmm" | "bernoulli-mixture" | "bayesian-gmm" | "vae".
    pub kind: String,
    /// e.g. "exact EM", "VAE (amortised VI, IWAE k=500)".
    pub method: String,
    pub n_parameters: usize,
    pub train_seconds: f64,
    /// Mean log-likelihood per example in nats: exact for mixtures, IWAE-k for VAEs.
    pub train_ll: Option<f64>,
    pub test_ll: Option<f64>,
    /// Mean ELBO per example (for exact EM after an E-step it equals the log-likelihood).
    pub train_elbo: Option<f64>,
    pub test_elbo: Option<f64>,
    /// test_ll − test_elbo (≈ 0 for exact EM).
    pub kl_gap: Option<f64>,
    /// The q of the ELBO column (and so of the gap): e.g. "final model's exact posterior",
    /// "encoder q(z | x)".
    #[serde(default)]
    pub elbo_q: Option<String>,
    pub iwae_k: Option<usize>,
    pub bits_per_dim: Option<f64>,
    pub converged: Option<bool>,
    /// EM iterations or VAE epochs.
    pub iterations: Option<usize>,
    /// The hash of the evaluation set's rows this row was scored on.
    #[serde(default)]
    pub eval_hash: Option<String>,
}

impl ModelRow {
    /// A row with every optional column empty.
    pub fn empty(name: &str, kind: &str, method: String) -> ModelRow {
        ModelRow {
            name: name.to_owned(),
            kind: kind.to_owned(),
            method,
            n_parameters: 0,
            train_seconds: 0.0,
            train_ll: None,
            test_ll: None,
            train_elbo: None,
            test_elbo: None,
            kl_gap: None,
            elbo_q: None,
            iwae_k: None,
            bits_per_dim: None,
            converged: None,
            iterations: None,
            eval_hash: None,
        }
    }
}

/// A figure of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureRef {
    /// Relative to the run directory, e.g. "figures/bmm-10-samples.png".
    pub file: String,
    pub title: String,
    pub caption: String,
}

/// The paragraph under the comparison table.
pub const UNITS_NOTE: &str = "All values are means per example in nats, on the same evaluation \
rows for every model. log p(x) is exact for the mixtures and the importance-weighted bound L_k (k \
samples, a lower bound that tightens as k grows) for the VAEs. The ELBO is a lower bound on log \
p(x) under a q that the gap column names; the gap is their difference, the KL divergence from q \
to the true posterior p(z|x). For a mixture q is the final model's exact posterior, so the gap is \
0 up to round-off whichever member of the EM family fitted it (a sampled or restricted q during \
fitting shows in its trace figure); for a VAE q is the encoder q(z|x), and L_k − ELBO slightly \
underestimates that KL. Higher log p(x) and ELBO are better, as are fewer bits/dim (−log₂ p(x) \
per feature, for binary data).";

/// Missing values in the table.
const MISSING: &str = "—";

/// Column headers of the comparison table, and whether the column is numeric.
const COLUMNS: [(&str, bool); 11] = [
    ("model", false),
    ("method", false),
    ("parameters", true),
    ("train time (s)", true),
    ("train log p(x) (nats/example)", true),
    ("test log p(x)", true),
    ("test ELBO", true),
    ("KL gap (test log p − ELBO)", true),
    ("bits/dim", true),
    ("iterations/epochs", true),
    ("converged", false),
];

/// Writes `summary.json` (pretty JSON, atomically) into `run_dir`.
pub fn write_summary(run_dir: &Path, summary: &Summary) -> anyhow::Result<()> {
    let path = run_dir.join(SUMMARY_FILE);
    let mut text = serde_json::to_string_pretty(summary)
        .with_context(|| format!("could not serialise {}", path.display()))?;
    text.push('\n');
    write_atomic(&path, text.as_bytes())
}

/// Reads `summary.json` from `run_dir`.
pub fn read_summary(run_dir: &Path) -> anyhow::Result<Summary> {
    let path = run_dir.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "could not read {} (is {} a run directory?)",
            path.display(),
            run_dir.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid run summary", path.display()))
}

/// Writes `report.md` and a self-contained `report.html` into `run_dir`. Every figure is read
/// first, so a missing or unreadable figure fails the call before either file is written.
pub fn write_report(run_dir: &Path, summary: &Summary) -> anyhow::Result<()> {
    let mut images = Vec::with_capacity(summary.figures.len());
    for figure in &summary.figures {
        images.push(read_figure(run_dir, figure)?);
    }
    let markdown = render_markdown(summary);
    let html = render_html(summary, &images);
    write_atomic(&run_dir.join(REPORT_MD), markdown.as_bytes())?;
    write_atomic(&run_dir.join(REPORT_HTML), html.as_bytes())
}

/// `elbo report RUN_DIR`: reads `summary.json` and writes both reports again; returns the path
/// of `report.html`.
pub fn rebuild(run_dir: &Path) -> anyhow::Result<PathBuf> {
    let summary = read_summary(run_dir)?;
    write_report(run_dir, &summary)?;
    Ok(run_dir.join(REPORT_HTML))
}

/// The comparison table alone, as Markdown (also printed by the command line).
pub fn markdown_table(summary: &Summary) -> String {
    let mut out = String::new();
    let header: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = COLUMNS
        .iter()
        .map(|(_, numeric)| if *numeric { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for model in &summary.models {
        let cells: Vec<String> = table_cells(model).iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// A figure's bytes with its pixel size, checked to be a PNG inside the run directory.
struct Image {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
}

fn read_figure(run_dir: &Path, figure: &FigureRef) -> anyhow::Result<Image> {
    let rel = Path::new(&figure.file);
    let inside = !figure.file.is_empty()
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        bail!(
            "figure {:?} must be a relative path inside the run directory {}",
            figure.file,
            run_dir.display()
        );
    }
    let path = run_dir.join(rel);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("could not read the figure {}", path.display()))?;
    let Some((width, height)) = png_size(&bytes) else {
        bail!("the figure {} is not a PNG file", path.display());
    };
    Ok(Image {
        bytes,
        width,
        height,
    })
}

/// Width and height from a PNG's signature and IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((word(16), word(20)))
}

/// The table cells of one model, as plain text.
fn table_cells(m: &ModelRow) -> [String; 11] {
    [
        m.name.clone(),
        m.method.clone(),
        thousands(m.n_parameters),
        seconds(m.train_seconds),
        nats(m.train_ll),
        nats(m.test_ll),
        nats(m.test_elbo),
        // The gap says under which q it was measured.
        match (&m.elbo_q, m.kl_gap) {
            (Some(q), Some(_)) => format!("{} (q: {q})", nats(m.kl_gap)),
            _ => nats(m.kl_gap),
        },
        m.bits_per_dim
            .map_or_else(|| MISSING.to_owned(), |b| decimals(b, 3)),
        m.iterations.map_or_else(|| MISSING.to_owned(), thousands),
        match m.converged {
            Some(true) => "yes".to_owned(),
            Some(false) => "no".to_owned(),
            None => MISSING.to_owned(),
        },
    ]
}

/// `1234567` → `"1,234,567"`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        let left = digits.len() - i;
        if i > 0 && left.is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A log-likelihood (or a difference of two) with 2 decimals.
fn nats(v: Option<f64>) -> String {
    v.map_or_else(|| MISSING.to_owned(), |v| decimals(v, 2))
}

/// Training time: 2 decimals under 10 s, else 1.
fn seconds(s: f64) -> String {
    if s.abs() < 10.0 {
        decimals(s, 2)
    } else {
        decimals(s, 1)
    }
}

/// `v` with `places` decimals; a value that rounds to zero prints without a minus sign.
fn decimals(v: f64, places: usize) -> String {
    let text = format!("{v:.places$}");
    if text.starts_with('-') && text[1..].chars().all(|c| c == '0' || c == '.') {
        text[1..].to_owned()
    } else {
        text
    }
}

/// A Markdown table cell: one line, pipes escaped.
fn md_cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// A link destination: as it is when plain, else in angle brackets (CommonMark).
fn md_destination(file: &str) -> String {
    if file
        .chars()
        .any(|c| c.is_whitespace() || "()<>".contains(c))
    {
        format!("<{}>", file.replace(['<', '>'], ""))
    } else {
        file.to_owned()
    }
}

/// Text as one Markdown line (for alt texts and list items).
fn md_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Escapes text for HTML element content and attribute values.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The data section as (label, value) pairs, shared by both formats.
fn data_items(summary: &Summary) -> Vec<(&'static str, String)> {
    let d = &summary.data;
    let mut items = vec![
        ("Dataset", d.dataset.clone()),
        ("Provenance", d.provenance.clone()),
        (
            "Size",
            format!(
                "{} training and {} test examples, {} features each",
                thousands(d.n_train),
                thousands(d.n_test),
                thousands(d.n_features)
            ),
        ),
        ("Preprocessing", d.preprocessing.clone()),
    ];
    if let Some(ev) = &summary.eval {
        items.push((
            "Evaluation set",
            format!(
                "every model scored on the same {} test rows and {} training rows (seeded, stratified by class; row hash {})",
                thousands(ev.n_test),
                thousands(ev.n_train),
                ev.hash
            ),
        ));
    }
    if let Some(ll) = d.true_test_ll {
        items.push((
            "True test log p(x)",
            format!(
                "{} nats/example (under the generator of the data)",
                decimals(ll, 2)
            ),
        ));
    }
    items
}

fn meta_line(summary: &Summary) -> String {
    format!(
        "Preset {} · created {} · elbo {}",
        summary.preset, summary.created, summary.elbo_version
    )
}

fn render_markdown(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md_line(&summary.title));
    let _ = writeln!(out, "_{}_\n", md_line(&meta_line(summary)));
    if !summary.description.trim().is_empty() {
        let _ = writeln!(out, "{}\n", summary.description.trim());
    }
    out.push_str("## Data\n\n");
    for (label, value) in data_items(summary) {
        let _ = writeln!(out, "- **{label}:** {}", md_line(&value));
    }
    out.push_str("\n## Models\n\n");
    out.push_str(&markdown_table(summary));
    let _ = writeln!(out, "\n{UNITS_NOTE}\n");
    if !summary.notes.is_empty() {
        out.push_str("## Notes\n\n");
        for note in &summary.notes {
            let _ = writeln!(out, "- {}", md_line(note));
        }
        out.push('\n');
    }
    if !summary.figures.is_empty() {
        out.push_str("## Figures\n\n");
        for figure in &summary.figures {
            let alt = md_line(&figure.title).replace(['[', ']'], "");
            let _ = writeln!(out, "### {}\n", md_line(&figure.title));
            let _ = writeln!(out, "![{alt}]({})\n", md_destination(&figure.file));
            if !figure.caption.trim().is_empty() {
                let _ = writeln!(out, "{}\n", md_line(&figure.caption));
            }
        }
    }
    out
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body {
  margin: 0; background: #f3f4f6; color: #1f2933;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
}
main { max-width: 1100px; margin: 0 auto; padding: 2rem 2rem 3rem; background: #fff;
  min-height: 100vh; box-shadow: 0 0 0 1px #e4e7eb; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0 0 .35rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .8rem; padding-bottom: .3rem;
  border-bottom: 1px solid #e4e7eb; }
h3 { font-size: 1.05rem; margin: 0 0 .5rem; }
.meta { color: #616e7c; font-size: .9rem; margin: 0 0 1.2rem; }
.description { max-width: 75ch; }
dl.data { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.4rem; margin: 0; }
dl.data dt { font-weight: 600; color: #3e4c59; }
dl.data dd { margin: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; line-height: 1.35; }
th, td { border: 1px solid #cbd2d9; padding: .35rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #eef1f4; font-weight: 600; vertical-align: bottom; }
tbody th { white-space: nowrap; }
tbody tr:nth-child(even) { background: #f9fafb; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
.missing { color: #9aa5b1; }
.units { color: #52606d; font-size: .9rem; max-width: 90ch; }
ul.notes { padding-left: 1.3rem; }
figure { margin: 0 0 2.2rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e4e7eb; }
figcaption { margin-top: .5rem; color: #52606d; font-size: .92rem; max-width: 90ch; }
"#;

fn render_html(summary: &Summary, images: &[Image]) -> String {
    let e = html_escape;
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", e(&summary.title));
    let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
    let _ = writeln!(out, "<h1>{}</h1>", e(&summary.title));
    let _ = writeln!(out, "<p class=\"meta\">{}</p>", e(&meta_line(summary)));
    if !summary.description.trim().is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"description\">{}</p>",
            e(summary.description.trim())
        );
    }

    out.push_str("<h2>Data</h2>\n<dl class=\"data\">\n");
    for (label, value) in data_items(summary) {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", e(label), e(&value));
    }
    out.push_str("</dl>\n");

    out.push_str("<h2>Models</h2>\n<div class=\"table-wrap\">\n<table>\n<thead><tr>");
    for (name, numeric) in COLUMNS {
        let class = if numeric { " class=\"num\"" } else { "" };
        // Let long headers such as "iterations/epochs" break after a slash.
        let name = e(name).replace('/', "/<wbr>");
        let _ = write!(out, "<th scope=\"col\"{class}>{name}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for model in &summary.models {
        out.push_str("<tr>");
        for (i, (cell, (_, numeric))) in table_cells(model).iter().zip(COLUMNS).enumerate() {
            let mut classes = Vec::new();
            if numeric {
                classes.push("num");
            }
            if cell == MISSING {
                classes.push("missing");
            }
            let class = if classes.is_empty() {
                String::new()
            } else {
                format!(" class=\"{}\"", classes.join(" "))
            };
            let tag = if i == 0 { "th scope=\"row\"" } else { "td" };
            let close = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}{class}>{}</{close}>", e(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    let _ = writeln!(out, "<p class=\"units\">{}</p>", e(UNITS_NOTE));

    if !summary.notes.is_empty() {
        out.push_str("<h2>Notes</h2>\n<ul class=\"notes\">\n");
        for note in &summary.notes {
            let _ = writeln!(out, "<li>{}</li>", e(note));
        }
        out.push_str("</ul>\n");
    }

    if !summary.figures.is_empty() {
        out.push_str("<h2>Figures</h2>\n");
        let engine = base64::engine::general_purpose::STANDARD;
        for (figure, image) in summary.figures.iter().zip(images) {
            let _ = writeln!(
                out,
                "<figure>\n<h3>{title}</h3>\n<img src=\"data:image/png;base64,{data}\" \
                 width=\"{w}\" height=\"{h}\" alt=\"{title}\">",
                title = e(&figure.title),
                data = engine.encode(&image.bytes),
                w = image.width,
                h = image.height,
            );
            if !figure.caption.trim().is_empty() {
                let _ = writeln!(out, "<figcaption>{}</figcaption>", e(&figure.caption));
            }
            out.push_str("</figure>\n");
        }
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures;
    use ndarray::Array2;

    fn model(name: &str) -> ModelRow {
        ModelRow {
            name: name.to_owned(),
            kind: "gmm".into(),
            method: "exact EM".into(),
            n_parameters: 1_234_567,
            train_seconds: 3.1419,
            train_ll: Some(-3.2149),
            test_ll: Some(-3.3051),
            train_elbo: Some(-3.2149),
            test_elbo: Some(-3.3051),
            kl_gap: Some(-1e-12),
            elbo_q: None,
            iwae_k: None,
            bits_per_dim: None,
            converged: Some(true),
            iterations: Some(42),
            eval_hash: None,
        }
    }

    fn vae(name: &str) -> ModelRow {
        ModelRow {
            name: name.to_owned(),
            kind: "vae".into(),
            method: "VAE (amortised VI, IWAE k=500)".into(),
            n_parameters: 652_824,
            train_seconds: 125.26,
            train_ll: None,
            test_ll: Some(-98.7651),
            train_elbo: None,
            test_elbo: Some(-103.2),
            kl_gap: Some(4.4349),
            elbo_q: None,
            iwae_k: Some(500),
            bits_per_dim: Some(0.18175),
            converged: None,
            iterations: Some(30),
            eval_hash: None,
        }
    }

    fn summary(models: Vec<ModelRow>, figures: Vec<FigureRef>) -> Summary {
        Summary {
            preset: "quickstart".into(),
            title: "Quickstart: mixtures and a VAE".into(),
            description: "A small comparison on synthetic data.".into(),
            created: "2025-01-02T03:04:05Z".into(),
            elbo_version: "0.1.0".into(),
            data: DataSummary {
                dataset: "two-moons".into(),
                provenance: "synthetic, seed 7".into(),
                n_train: 12_000,
                n_test: 3000,
                n_features: 2,
                preprocessing: "standardised".into(),
                true_test_ll: Some(-2.5),
            },
            eval: None,
            models,
            figures,
            notes: vec!["true mean log-likelihood of the sample: -3.21 nats".into()],
        }
    }

    /// Writes `n` small real figures under `dir/figures/` and returns their references.
    fn write_figures(dir: &Path, n: usize) -> Vec<FigureRef> {
        std::fs::create_dir_all(dir.join("figures")).unwrap();
        (0..n)
            .map(|i| {
                let images =
                    Array2::from_shape_fn((4, 16), |(k, p)| ((k + p + i) % 5) as f32 / 4.0);
                let png = figures::image_grid_png(images.view(), 4, 4, 2, 3).unwrap();
                let file = format!("figures/grid-{i}.png");
                write_atomic(&dir.join(&file), &png).unwrap();
                FigureRef {
                    file,
                    title: format!("Grid {i}"),
                    caption: format!("Caption {i} & more"),
                }
            })
            .collect()
    }

    #[test]
    fn the_summary_survives_a_json_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary(
            vec![model("gmm-3"), vae("vae-2")],
            write_figures(dir.path(), 1),
        );
        write_summary(dir.path(), &s).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap();
        assert!(
            text.contains("\n  \"preset\": \"quickstart\""),
            "pretty JSON: {text}"
        );
        assert_eq!(read_summary(dir.path()).unwrap(), s);
    }

    #[test]
    fn the_markdown_table_has_one_row_per_model_and_dashes_for_missing_values() {
        let s = summary(vec![model("gmm-3"), vae("vae-2")], Vec::new());
        let table = markdown_table(&s);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + 2, "{table}");
        assert!(lines[0].starts_with("| model | method | parameters | train time (s) |"));
        assert!(lines[1].contains("---:"));
        let gmm = lines[2];
        assert_eq!(
            gmm,
            "| gmm-3 | exact EM | 1,234,567 | 3.14 | -3.21 | -3.31 | -3.31 | 0.00 | — | 42 | yes |"
        );
        let vae_line = lines[3];
        assert_eq!(
            vae_line,
            "| vae-2 | VAE (amortised VI, IWAE k=500) | 652,824 | 125.3 | — | -98.77 | -103.20 | 4.43 \
             | 0.182 | 30 | — |"
        );
        // Every row has as many cells as the header.
        for line in &lines {
            assert_eq!(line.matches(" | ").count(), COLUMNS.len() - 1, "{line}");
        }
    }

    #[test]
    fn report_md_has_the_sections_table_and_figure_links() {
        let dir = tempfile::tempdir().unwrap();
        let figs = write_figures(dir.path(), 2);
        let s = summary(vec![model("gmm-3"), vae("vae-2")], figs);
        write_report(dir.path(), &s).unwrap();
        let md = std::fs::read_to_string(dir.path().join(REPORT_MD)).unwrap();
        assert!(md.starts_with("# Quickstart: mixtures and a VAE\n"));
        for needed in [
            "## Data",
            "- **Dataset:** two-moons",
            "12,000 training and 3,000 test examples, 2 features each",
            "- **True test log p(x):** -2.50 nats/example",
            "## Models",
            "| gmm-3 |",
            "| vae-2 |",
            UNITS_NOTE,
            "## Notes",
            "- true mean log-likelihood of the sample: -3.21 nats",
            "![Grid 0](figures/grid-0.png)",
            "![Grid 1](figures/grid-1.png)",
            "Caption 1 & more",
        ] {
            assert!(md.contains(needed), "report.md lacks {needed:?}:\n{md}");
        }
        assert_eq!(md.matches("\n| gmm-3 |").count(), 1);
    }

    #[test]
    fn report_html_embeds_every_figure() {
        let dir = tempfile::tempdir().unwrap();
        let figs = write_figures(dir.path(), 3);
        let s = summary(vec![model("gmm-3"), vae("vae-2")], figs.clone());
        write_report(dir.path(), &s).unwrap();
        let html = std::fs::read_to_string(dir.path().join(REPORT_HTML)).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("src=\"figures/"));
        assert!(!html.contains("<script"), "the report needs no script");
        assert!(!html.contains("<link"), "the report loads no stylesheet");
        assert_eq!(html.matches("data:image/png;base64,").count(), figs.len());
        // The embedded bytes are the files' bytes, with their pixel size.
        let engine = base64::engine::general_purpose::STANDARD;
        for (figure, chunk) in figs
            .iter()
            .zip(html.split("data:image/png;base64,").skip(1))
        {
            let encoded = &chunk[..chunk.find('"').unwrap()];
            let bytes = engine.decode(encoded).unwrap();
            assert_eq!(bytes, std::fs::read(dir.path().join(&figure.file)).unwrap());
            let (w, h) = png_size(&bytes).unwrap();
            assert!(chunk.contains(&format!("width=\"{w}\" height=\"{h}\"")));
        }
        assert_eq!(html.matches("<tbody>").count(), 1);
        assert_eq!(html.matches("<tr><th scope=\"row\">").count(), 2);
        assert!(html.contains("<figcaption>Caption 0 &amp; more</figcaption>"));
        assert!(html.contains("<td class=\"num missing\">—</td>"));
    }

    #[test]
    fn html_escapes_every_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut figs = write_figures(dir.path(), 1);
        figs[0].title = "a \"quoted\" <b>title</b>".into();
        let mut s = summary(vec![model("<script>alert('x')</script>")], figs);
        s.title = "Fish & <chips>".into();
        s.notes.push("<img src=x onerror=alert(1)>".into());
        write_report(dir.path(), &s).unwrap();
        let html = std::fs::read_to_string(dir.path().join(REPORT_HTML)).unwrap();
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("<title>Fish &amp; &lt;chips&gt;</title>"));
        assert!(html.contains("alt=\"a &quot;quoted&quot; &lt;b&gt;title&lt;/b&gt;\""));
        assert!(html.contains("<li>&lt;img src=x onerror=alert(1)&gt;</li>"));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn a_missing_figure_fails_naming_the_file_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut figs = write_figures(dir.path(), 1);
        figs.push(FigureRef {
            file: "figures/not-there.png".into(),
            title: "gone".into(),
            caption: String::new(),
        });
        let err = write_report(dir.path(), &summary(vec![model("m")], figs)).unwrap_err();
        assert!(format!("{err:#}").contains("not-there.png"), "{err:#}");
        assert!(!dir.path().join(REPORT_MD).exists());
        assert!(!dir.path().join(REPORT_HTML).exists());
    }

    #[test]
    fn figures_must_be_pngs_inside_the_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["../outside.png", "/etc/passwd", ""] {
            let figs = vec![FigureRef {
                file: file.into(),
                title: "t".into(),
                caption: String::new(),
            }];
            let err = write_report(dir.path(), &summary(vec![], figs)).unwrap_err();
            assert!(
                format!("{err:#}").contains("inside the run directory"),
                "{err:#}"
            );
        }
        std::fs::write(dir.path().join("fake.png"), b"not a png at all, really not").unwrap();
        let figs = vec![FigureRef {
            file: "fake.png".into(),
            title: "t".into(),
            caption: String::new(),
        }];
        let err = write_report(dir.path(), &summary(vec![], figs)).unwrap_err();
        assert!(
            format!("{err:#}").contains("fake.png is not a PNG"),
            "{err:#}"
        );
    }

    #[test]
    fn rebuild_writes_both_reports_from_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary(vec![model("gmm-3")], write_figures(dir.path(), 2));
        write_summary(dir.path(), &s).unwrap();
        let html = rebuild(dir.path()).unwrap();
        assert_eq!(html, dir.path().join(REPORT_HTML));
        assert!(html.is_file());
        assert!(dir.path().join(REPORT_MD).is_file());
    }

    #[test]
    fn rebuild_without_a_summary_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = rebuild(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains(SUMMARY_FILE), "{err:#}");
        std::fs::write(dir.path().join(SUMMARY_FILE), "{ not json").unwrap();
        let err = read_summary(dir.path()).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("summary.json is not a valid run summary"),
            "{text}"
        );
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(nats(Some(-3.214)), "-3.21");
        assert_eq!(nats(Some(-0.001)), "0.00");
        assert_eq!(nats(None), "—");
        assert_eq!(nats(Some(f64::NAN)), "NaN");
        assert_eq!(seconds(0.0123), "0.01");
        assert_eq!(seconds(12.345), "12.3");
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
        assert_eq!(md_destination("figures/a.png"), "figures/a.png");
        assert_eq!(md_destination("figures/a b.png"), "<figures/a b.png>");
    }
}
