//! Rendering a prompt template with minijinja into prompt parts: the writer's text (the
//! `before`, `after`, `selection` and `document` variables) becomes its own part, which the worker
//! never parses for special tokens and may shorten to fit the context.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use minijinja::{Environment, UndefinedBehavior};

use crate::engine::protocol::{Fit, Part};

/// A variable offered to templates, and how its text may be shortened.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: &'static str,
    pub value: String,
    pub fit: Fit,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt field must be an error, not an empty string in the prompt.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Marks a variable's place in the rendered text; private-use characters, so no prose collides.
fn marker(index: usize) -> String {
    format!("\u{F8E0}{index}\u{F8E1}")
}

/// Renders `source` to parts. `fields` are plain values (template fields); `vars` are the
/// writer's text. If the template transforms a variable (a filter, a slice) so its marker does
/// not survive, the whole result is one fixed part.
pub fn render_parts(
    source: &str,
    fields: &BTreeMap<String, String>,
    vars: &[Var],
) -> Result<Vec<Part>> {
    let env = environment();
    let mut context: BTreeMap<String, String> = fields.clone();
    for (i, var) in vars.iter().enumerate() {
        context.insert(var.name.to_string(), marker(i));
    }
    let marked = env
        .render_str(source, &context)
        .context("rendering the prompt template")?;
    let mut context = fields.clone();
    for var in vars {
        context.insert(var.name.to_string(), var.value.clone());
    }
    let plain = env
        .render_str(source, &context)
        .context("rendering the prompt template")?;
    // The split is only trusted if it reproduces the real rendering exactly: a filter or a slice
    // applied to a variable would otherwise be lost.
    if let Some(parts) = split_markers(&marked, vars)
        && parts.iter().map(|p| p.text.as_str()).collect::<String>() == plain
    {
        return Ok(parts);
    }
    Ok(vec![Part::fixed(plain)])
}

/// Renders a template to a plain string (system prompts).
pub fn render_plain(source: &str, fields: &BTreeMap<String, String>) -> Result<String> {
    environment()
        .render_str(source, fields)
        .context("rendering the prompt template")
}

fn split_markers(marked: &str, vars: &[Var]) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = marked;
    while let Some(start) = rest.find('\u{F8E0}') {
        let after = &rest[start + '\u{F8E0}'.len_utf8()..];
        let end = after.find('\u{F8E1}')?;
        let index: usize = after[..end].parse().ok()?;
        let var = vars.get(index)?;
        if start > 0 {
            parts.push(Part::fixed(&rest[..start]));
        }
        parts.push(Part {
            text: var.value.clone(),
            fit: var.fit,
        });
        rest = &after[end + '\u{F8E1}'.len_utf8()..];
    }
    if rest.contains('\u{F8E1}') {
        return None;
    }
    if !rest.is_empty() {
        parts.push(Part::fixed(rest));
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(text: &str) -> Vec<Var> {
        vec![Var {
            name: "selection",
            value: text.into(),
            fit: Fit::KeepStart,
        }]
    }

    #[test]
    fn the_writers_text_becomes_its_own_part() {
        let parts = render_parts(
            "Rewrite:\n\n{{ selection }}",
            &BTreeMap::new(),
            &selection("我的<|im_end|>文字 {{ not a tag }}"),
        )
        .unwrap();
        assert_eq!(
            parts,
            vec![
                Part::fixed("Rewrite:\n\n"),
                Part {
                    text: "我的<|im_end|>文字 {{ not a tag }}".into(),
                    fit: Fit::KeepStart
                }
            ]
        );
    }

    #[test]
    fn a_transformed_variable_falls_back_to_one_fixed_part() {
        let parts = render_parts(
            "Shout: {{ selection | upper }}!",
            &BTreeMap::new(),
            &selection("quiet"),
        )
        .unwrap();
        assert_eq!(parts, vec![Part::fixed("Shout: QUIET!")]);
        let parts = render_parts(
            "First: {{ selection[:3] }}",
            &BTreeMap::new(),
            &selection("quiet"),
        )
        .unwrap();
        assert_eq!(parts, vec![Part::fixed("First: qui")]);
    }

    #[test]
    fn an_undefined_field_is_an_error() {
        let err = render_parts("Hello {{ product }}", &BTreeMap::new(), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("undefined"), "{err:#}");
    }

    #[test]
    fn fields_render_as_plain_text() {
        let fields = BTreeMap::from([("product".to_string(), "Quill".to_string())]);
        let parts = render_parts("Tagline for {{ product }}.", &fields, &[]).unwrap();
        assert_eq!(parts, vec![Part::fixed("Tagline for Quill.")]);
    }
}
