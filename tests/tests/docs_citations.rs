//! The repository explains itself: code cites the design in `docs/` by heading name, never by
//! section numbers of documents a reader of the repository cannot see.
//!
//! Two checks over every tracked `.rs` and `.toml` file:
//! - no section sign (U+00A7, how the code used to cite section numbers of outside documents);
//! - every citation of the form `docs/<name>.md, "<Heading>"` (further headings may follow as
//!   `, "<Heading>"` or ` and "<Heading>"`) names a file in `docs/` and a `#` heading in it
//!   (a citation may shorten a heading to its leading words: "Outbound hosts" finds
//!   "Outbound hosts (`allowed_outbound_hosts`)").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Written as an escape so that this file passes its own check.
const SECTION_SIGN: char = '\u{a7}';

/// This file's parser test holds example citations of headings that do not exist.
const THIS_FILE: &str = "tests/tests/docs_citations.rs";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Tracked `.rs` and `.toml` files, relative to the root. Falls back to walking the tree
/// (skipping `target/` and hidden folders) when git is unavailable, e.g. in an exported copy.
fn source_files(root: &Path) -> Vec<PathBuf> {
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--", "*.rs", "*.toml"])
        .current_dir(root)
        .output();
    if let Ok(out) = listed
        && out.status.success()
    {
        return out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .filter(|p| root.join(p).is_file())
            .collect();
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && name != "node_modules" && !name.starts_with('.') {
                walk(root, &path, found);
            }
        } else if name.ends_with(".rs") || name.ends_with(".toml") {
            found.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// The `#` headings of a Markdown file, outside fenced code blocks, without the `#`s.
fn headings(markdown: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || !trimmed.starts_with('#') {
            continue;
        }
        let text = trimmed.trim_start_matches('#');
        if text.starts_with(' ') {
            out.push(text.trim().to_string());
        }
    }
    out
}

/// Reads `"<text>"` at the start of `s`; returns the text and the rest.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    let end = s.find('"')?;
    Some((&s[..end], &s[end + 1..]))
}

/// Every `(doc, heading)` cited on one line.
fn citations(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("docs/") {
        rest = &rest[at + "docs/".len()..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let Some(after) = after.strip_prefix(".md, ") else {
            continue;
        };
        let doc = format!("{name}.md");
        let mut tail = after;
        while let Some((heading, next)) = quoted(tail) {
            out.push((doc.clone(), heading.to_string()));
            tail = match next
                .strip_prefix(", ")
                .or_else(|| next.strip_prefix(" and "))
            {
                Some(t) if t.starts_with('"') => t,
                _ => break,
            };
        }
        rest = tail;
    }
    out
}

#[test]
fn code_cites_docs_by_heading_not_section_number() {
    let root = workspace_root();
    let files = source_files(&root);
    assert!(!files.is_empty(), "no source files found under {root:?}");

    let mut doc_headings: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    let mut section_signs = Vec::new();
    let mut broken = Vec::new();
    let mut cited = 0usize;

    for file in &files {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), n + 1);
            if line.contains(SECTION_SIGN) {
                section_signs.push(format!("{at}: {}", line.trim()));
            }
            if file.as_path() == Path::new(THIS_FILE) {
                continue;
            }
            for (doc, heading) in citations(line) {
                cited += 1;
                let known = doc_headings.entry(doc.clone()).or_insert_with(|| {
                    std::fs::read_to_string(root.join("docs").join(&doc))
                        .ok()
                        .map(|md| headings(&md))
                });
                match known {
                    None => broken.push(format!("{at}: docs/{doc} does not exist")),
                    Some(list)
                        if heading.is_empty()
                            || !list.iter().any(|h| h.starts_with(heading.as_str())) =>
                    {
                        broken.push(format!("{at}: docs/{doc} has no heading \"{heading}\""))
                    }
                    Some(_) => {}
                }
            }
        }
    }

    let mut report = String::new();
    if !section_signs.is_empty() {
        report.push_str(&format!(
            "{} line(s) cite section numbers (U+00A7) of documents outside the repository; cite \
             docs/<name>.md, \"<Heading>\" instead:\n",
            section_signs.len()
        ));
        for l in &section_signs {
            report.push_str(&format!("  {l}\n"));
        }
    }
    if !broken.is_empty() {
        report.push_str(&format!(
            "{} citation(s) name a missing doc or heading:\n",
            broken.len()
        ));
        for l in &broken {
            report.push_str(&format!("  {l}\n"));
        }
    }
    assert!(report.is_empty(), "{report}");
    assert!(
        cited > 0,
        "expected at least one docs/ citation in the code"
    );
}

#[test]
fn citation_parser_reads_one_or_more_headings() {
    assert_eq!(
        citations(r#"// see (docs/shield.md, "Design: A", "Design: B") and docs/x.md"#),
        vec![
            ("shield.md".to_string(), "Design: A".to_string()),
            ("shield.md".to_string(), "Design: B".to_string()),
        ]
    );
    assert_eq!(
        citations(r#"docs/a.md, "X" and "Y"; docs/b-c.md, "Z""#),
        vec![
            ("a.md".to_string(), "X".to_string()),
            ("a.md".to_string(), "Y".to_string()),
            ("b-c.md".to_string(), "Z".to_string()),
        ]
    );
    assert!(citations("docs/OPERATIONS.md describes it").is_empty());
    assert_eq!(
        headings("# T\n```\n# not\n```\n## Design: x\n#nospace\n"),
        vec!["T".to_string(), "Design: x".to_string()]
    );
}
