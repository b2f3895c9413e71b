//! `--set key.path=value` overrides, applied to the TOML tree before it is read.

use anyhow::{Context as _, bail};

/// Applies one `key.path=value` override. Path segments are table keys; a model is addressed
/// by its name or index (`models.vae-20.latent_dim`, `models.1.latent_dim`). The value is
/// read as TOML (`3`, `1e-3`, `true`, `[1, 2]`, `"text"`), or as a string if it is not TOML.
pub fn apply_override(root: &mut toml::Value, spec: &str) -> anyhow::Result<()> {
    let Some((path, raw)) = spec.split_once('=') else {
        bail!("--set {spec}: expected key.path=value, e.g. --set train.epochs=2");
    };
    let path = path.trim();
    if path.is_empty() {
        bail!("--set {spec}: the key path is empty");
    }
    let value = parse_value(raw.trim());
    let keys: Vec<&str> = path.split('.').collect();
    let mut node = root;
    let mut walked = String::new();
    for (i, key) in keys.iter().enumerate() {
        let last = i + 1 == keys.len();
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(key);
        node = match node {
            toml::Value::Table(table) => {
                if last {
                    table.insert((*key).to_owned(), value);
                    return Ok(());
                }
                table
                    .entry((*key).to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(items) => {
                let index = match key.parse::<usize>() {
                    Ok(i) => i,
                    Err(_) => items
                        .iter()
                        .position(|m| m.get("name").and_then(toml::Value::as_str) == Some(key))
                        .with_context(|| {
                            format!("--set {spec}: no entry named `{key}` at `{walked}`")
                        })?,
                };
                let len = items.len();
                let item = items.get_mut(index).with_context(|| {
                    format!(
                        "--set {spec}: index {index} is out of range at `{walked}` ({len} entries)"
                    )
                })?;
                if last {
                    *item = value;
                    return Ok(());
                }
                item
            }
            _ => bail!("--set {spec}: `{walked}` is inside a value that is not a table"),
        };
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}
