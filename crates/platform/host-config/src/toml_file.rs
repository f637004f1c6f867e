//! What `spin.toml` and `runtime-config.toml` have in common as files: relative paths inside
//! resolve against the file's own directory, as in Spin, and a setting that would change
//! behaviour but that keyward does not implement is refused by name rather than ignored.

use std::path::Path;

use anyhow::{Context, Result};

/// Reads `path` and parses it with `parse`, given the file's directory; errors name the file as
/// `what`.
pub fn load<T>(path: &Path, what: &str, parse: impl FnOnce(&str, &Path) -> Result<T>) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, base).with_context(|| format!("invalid {what} {}", path.display()))
}

/// The first of `settings` (a name, and whether the file sets it) that the file sets.
pub fn first_set<'a>(settings: &[(&'a str, bool)]) -> Option<&'a str> {
    settings.iter().find(|(_, set)| *set).map(|(name, _)| *name)
}
