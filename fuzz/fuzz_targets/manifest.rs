//! `spin.toml` as a deployment ships it, and the route and variable-template strings inside:
//! any text parses to an application or to an error. An application that parses routes only to
//! its own components, by routes the router accepts, and its templates name only declared
//! variables; a route or a template that parses prints back to text that parses to itself.
#![no_main]

use std::path::Path;

use host_config::manifest;
use host_config::route::{self, Pattern, Segment};
use host_config::variables::{Template, validate_variable_name};
use libfuzzer_sys::fuzz_target;

/// Where relative `source` paths resolve; nothing is read from it.
const BASE: &str = "/keyward-fuzz/app";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(app) = manifest::parse(&text, Path::new(BASE)) {
        for (name, decl) in &app.variables {
            assert!(validate_variable_name(name).is_ok(), "variable {name:?}");
            assert!(
                !(decl.required && decl.default.is_some()),
                "variable {name:?}"
            );
        }
        for trigger in &app.http_triggers {
            assert!(app.components.contains_key(&trigger.component));
            if let Some(path) = &trigger.route {
                assert!(route::parse(path).is_ok(), "route {path:?}");
            }
        }
        for component in app.components.values() {
            for template in component.variables.values() {
                for name in template.references() {
                    assert!(app.variables.contains_key(name), "reference {name:?}");
                }
            }
        }
    }
    if let Ok(pattern) = route::parse(&text) {
        let printed = print_route(&pattern);
        let again = route::parse(&printed).ok();
        assert_eq!(
            again.as_ref(),
            Some(&pattern),
            "{text:?} printed as {printed:?}"
        );
    }
    if let Ok(template) = Template::parse(&text) {
        let printed = template
            .render(|name| Some(format!("{{{{ {name} }}}}")))
            .unwrap_or_default();
        let again = Template::parse(&printed).ok();
        assert_eq!(
            again.as_ref(),
            Some(&template),
            "{text:?} printed as {printed:?}"
        );
        let references = template.references().count();
        assert_eq!(template.render(|_| None).is_err(), references > 0);
    }
});

fn print_route(pattern: &Pattern) -> String {
    let mut out = String::new();
    for segment in &pattern.segments {
        out.push('/');
        match segment {
            Segment::Literal(literal) => out.push_str(literal),
            Segment::Param(name) => {
                out.push(':');
                out.push_str(name);
            }
        }
    }
    if pattern.wildcard {
        out.push_str("/...");
    } else if out.is_empty() {
        out.push('/');
    }
    out
}
