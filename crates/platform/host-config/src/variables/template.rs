//! Variable names and templates: component variables (and `allowed_outbound_hosts` entries) are
//! templates over application variables (`"{{ master_key }}"`).

use anyhow::{Result, bail};

/// Spin's name rule: lowercase ASCII letters, digits and `_`, starting with a letter, ending with
/// a letter or digit, no `__`.
pub fn validate_variable_name(name: &str) -> Result<()> {
    let Some(first) = name.bytes().next() else {
        bail!("variable names must not be empty");
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(*c == '_' || c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        bail!(
            "invalid character {c:?}: variable names may contain only lower-case letters, numbers and underscores"
        );
    }
    if !first.is_ascii_lowercase() {
        bail!("variable names must start with a lower-case letter");
    }
    if !name
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        bail!("variable names must end with a lower-case letter or a number");
    }
    if name.contains("__") {
        bail!("variable names must not contain consecutive underscores");
    }
    Ok(())
}

/// A string with `{{ name }}` references to application variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unterminated `{{{{` in {text:?}");
            };
            let name = after[..end].trim();
            validate_variable_name(name)?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            bail!("unmatched `}}}}` in {text:?}");
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template(parts))
    }

    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Expands the template; `lookup` returns `None` for a variable with no value.
    pub fn render(&self, mut lookup: impl FnMut(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Variable(v) => match lookup(v) {
                    Some(value) => out.push_str(&value),
                    None => return Err(v.clone()),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["a", "master_key", "a1", "x_y_z9"] {
            assert!(validate_variable_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1a", "_a", "a_", "a__b", "a-b", "Master", "a b"] {
            assert!(validate_variable_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_render() {
        let t = Template::parse("https://{{ host }}:{{port}}/x").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), ["host", "port"]);
        let s = t
            .render(|n| Some(if n == "host" { "h".into() } else { "1".into() }))
            .unwrap();
        assert_eq!(s, "https://h:1/x");
        assert_eq!(t.render(|_| None), Err("host".to_string()));
        assert!(Template::parse("{{ unterminated").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
    }
}
