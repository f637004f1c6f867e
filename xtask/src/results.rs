//! The reliability campaigns' figures
//! (docs/RELIABILITY.md, "How the figures are written"): each campaign's table lives between two markers and is rewritten by a run, never
//! by hand. The fuzz targets write theirs directly; the end-to-end campaigns (API fuzzing,
//! fault injection) record one row per test under `target/reliability/<campaign>/`, which
//! `cargo xtask test` gathers here after its passes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const PAGE: &str = "docs/RELIABILITY.md";

/// The campaigns whose rows the end-to-end tests record, each with its table's head.
const RECORDED: [(&str, &str); 2] = [
    (
        "api-fuzz",
        "| API | operations | requests | 2xx | 4xx | 5xx | check failures |\n|---|---:|---:|---:|---:|---:|---:|",
    ),
    (
        "faults",
        "| fault | backend | injected | requests during the fault | writes acknowledged | acknowledged writes found | outcome |\n|---|---|---:|---|---:|---:|---|",
    ),
];

fn recorded_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("reliability")
}

/// Forgets the rows of an earlier run, so that a table only ever shows one run's figures.
pub fn clear_recorded() -> Result<()> {
    match std::fs::remove_dir_all(recorded_dir()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).context("cannot clear the recorded reliability figures")
        }
        _ => Ok(()),
    }
}

/// Writes each recorded campaign's rows into its table; a campaign this run did not record
/// keeps its previous figures.
pub fn publish_recorded() -> Result<()> {
    for (campaign, head) in RECORDED {
        let dir = recorded_dir().join(campaign);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        files.sort();
        let mut table = format!("Latest run: {}.\n\n{head}\n", today());
        for file in files {
            table.push_str(
                &std::fs::read_to_string(&file).with_context(|| file.display().to_string())?,
            );
        }
        splice(campaign, &table)?;
    }
    Ok(())
}

/// Replaces the text between `campaign`'s markers in docs/RELIABILITY.md with `text`.
pub fn splice(campaign: &str, text: &str) -> Result<()> {
    let path = Path::new(PAGE);
    let page = std::fs::read_to_string(path).context(PAGE)?;
    let begin_marker = format!("<!-- {campaign}-results:begin");
    let end_marker = format!("<!-- {campaign}-results:end -->");
    let Some(begin) = page.find(&begin_marker) else {
        bail!("{PAGE} has no {campaign} results begin marker");
    };
    // Keep the begin marker's whole line (it names the command that writes the table).
    let Some(after_begin) = page
        .get(begin..)
        .and_then(|rest| rest.find('\n'))
        .map(|n| begin + n + 1)
    else {
        bail!("{PAGE}: the {campaign} begin marker is the last line");
    };
    let Some(end) = page
        .get(after_begin..)
        .and_then(|rest| rest.find(&end_marker))
        .map(|n| after_begin + n)
    else {
        bail!("{PAGE} has no {campaign} results end marker after its begin marker");
    };
    let updated = format!(
        "{}{}{}",
        page.get(..after_begin).unwrap_or_default(),
        text,
        page.get(end..).unwrap_or_default()
    );
    std::fs::write(path, updated).context(PAGE)
}

/// Today's UTC date, `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
