//! Spin variables: names, templates and resolution.
//!
//! Application variables resolve in this order (platform.md §6): the runtime-config
//! `[[variables_provider]]`s in the order written, then the `SPIN_VARIABLE_<NAME>` environment
//! variable, then the manifest default. Component variables are templates over application
//! variables (`"{{ master_key }}"`) and are what a guest's `variables::get` sees.

use std::collections::BTreeMap;

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

/// A source of application variable values configured in `runtime-config.toml`.
#[derive(Debug, Clone)]
pub enum Provider {
    /// `type = "env"`: `<PREFIX>_<NAME>` from the process environment (and an optional dotenv file,
    /// read once at start).
    Env {
        prefix: String,
        dotenv: BTreeMap<String, String>,
    },
    /// `type = "static"`: literal `values = { name = "value" }`.
    Static { values: BTreeMap<String, String> },
}

impl Provider {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Provider::Env { prefix, dotenv } => {
                let key = env_key(prefix, name);
                std::env::var(&key)
                    .ok()
                    .or_else(|| dotenv.get(&key).cloned())
            }
            Provider::Static { values } => values.get(name).cloned(),
        }
    }
}

fn env_key(prefix: &str, name: &str) -> String {
    format!("{}_{}", prefix, name.to_ascii_uppercase())
}

/// Resolves application variables; immutable after start so every request sees the same values.
#[derive(Debug, Clone)]
pub struct Resolver {
    values: BTreeMap<String, String>,
}

impl Resolver {
    /// Resolves every declared application variable once, failing the start if a required
    /// variable has no value anywhere (as `spin up` does).
    pub fn new(
        decls: &BTreeMap<String, crate::manifest::VariableDecl>,
        providers: &[Provider],
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, decl) in decls {
            let found = providers
                .iter()
                .find_map(|p| p.get(name))
                .or_else(|| std::env::var(env_key("SPIN_VARIABLE", name)).ok())
                .or_else(|| decl.default.clone());
            match found {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => bail!(
                    "required variable `{name}` has no value: set SPIN_VARIABLE_{} or configure a variables provider",
                    name.to_ascii_uppercase()
                ),
                None => {}
            }
        }
        Ok(Resolver { values })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
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
