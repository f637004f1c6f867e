//! Spin's route syntax, as `[[trigger.http]] route` writes it: `/exact`, `/prefix/...` wildcards
//! and `:name` segments. The host's router matches requests against the parsed form.

use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
}

/// A route as parsed: its segments, and whether it ends in the `/...` wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub segments: Vec<Segment>,
    pub wildcard: bool,
}

pub fn validate_route(route: &str) -> Result<()> {
    parse(route).map(|_| ())
}

pub fn parse(route: &str) -> Result<Pattern> {
    if !route.starts_with('/') {
        bail!("routes must start with `/`");
    }
    let (body, wildcard) = match route.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None if route == "/..." => ("", true),
        None => (route, false),
    };
    let mut segments = Vec::new();
    for seg in body.split('/').skip(1) {
        if seg.is_empty() {
            // "/" alone, or a trailing slash: no segment.
            continue;
        }
        if seg.contains("...") {
            bail!("`...` is only allowed as the last segment");
        }
        if let Some(name) = seg.strip_prefix(':') {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bail!("invalid route parameter `{seg}`");
            }
            segments.push(Segment::Param(name.to_string()));
        } else {
            segments.push(Segment::Literal(seg.to_string()));
        }
    }
    Ok(Pattern { segments, wildcard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(
            parse("/users/:id/...").unwrap(),
            Pattern {
                segments: vec![
                    Segment::Literal("users".into()),
                    Segment::Param("id".into())
                ],
                wildcard: true,
            }
        );
        assert!(parse("/...").unwrap().wildcard);
        assert!(validate_route("a").is_err());
        assert!(validate_route("/a/.../b").is_err());
        assert!(validate_route("/:").is_err());
    }
}
