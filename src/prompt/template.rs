//! Rendering a prompt template with minijinja into prompt parts: the writer's text (the
//! `before`, `after`, `selection` and `document` variables) becomes its own part, which the worker
//! never parses for special tokens and may shorten to fit the context.

use std::collections::BTreeMap;

use anyhow::Result;
use minijinja::{Environment, UndefinedBehavior};

use crate::engine::protocol::{Fit, Part};

/// A variable offered to templates, and how its text may be shortened.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: &'static str,
    pub value: String,
    pub fit: Fit,
}

/// The most a template may do in one rendering (minijinja's fuel: about one unit an instruction
/// and one per 64 bytes allocated): far beyond any prompt, far below a loop that would hang the
/// editor or fill its memory.
const FUEL: u64 = 200_000;
/// Nesting deeper than any prompt needs; a recursive macro stops here.
const RECURSION_LIMIT: usize = 64;
/// A rendered prompt longer than this is refused: nothing a model's context could hold.
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt field must be an error, not an empty string in the prompt.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Templates come from files anyone may share: a hostile one must fail, not hang or grow.
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_filter("first_words", first_words);
    env
}

/// `{{ selection | first_words(2) }}`: the text up to the end of its `n`th word, as written
/// (a Chinese character counts as a word, as Unicode's word breaks count it). A prefill that
/// begins the answer with the passage's own first words keeps a small model from opening
/// with "Here is the corrected text:".
/// Nothing when the text does not open with a word (markup, a symbol): the answer is then
/// left to the model rather than begun inside something that is not prose.
pub fn first_words(text: &str, n: usize) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    if !text.trim_start().starts_with(char::is_alphanumeric) {
        return String::new();
    }
    let mut seen = 0;
    for (at, word) in text.split_word_bound_indices() {
        if word.chars().any(char::is_alphanumeric) {
            seen += 1;
            if seen == n {
                return text[..at + word.len()].trim_start().to_string();
            }
        }
    }
    text.trim().to_string()
}

fn render(
    env: &Environment<'_>,
    source: &str,
    context: &BTreeMap<String, String>,
) -> Result<String> {
    let text = env.render_str(source, context).map_err(|e| {
        let what = match e.kind() {
            minijinja::ErrorKind::OutOfFuel => {
                "it does too much work (a loop that runs too long, or text that grows too large); \
                 simplify it"
                    .to_string()
            }
            minijinja::ErrorKind::UndefinedError => {
                let unknown: Vec<String> = placeholders(source)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|name| !context.contains_key(name))
                    .collect();
                if unknown.is_empty() {
                    describe(&e)
                } else {
                    let line = e.line().map_or_else(String::new, |l| format!("line {l}: "));
                    format!(
                        "{line}{{{{ {} }}}} is neither a field of the template nor one of \
                         selection, before, after, document, title",
                        unknown.join(" }}, {{ ")
                    )
                }
            }
            _ => describe(&e),
        };
        anyhow::anyhow!("rendering the prompt template: {what}")
    })?;
    if text.len() > MAX_RENDERED_BYTES {
        anyhow::bail!(
            "rendering the prompt template: the result is {} bytes, more than the {} allowed",
            text.len(),
            MAX_RENDERED_BYTES
        );
    }
    Ok(text)
}

/// The variables a template uses that it does not define itself, in the order they first
/// appear: for a template made from the writer's text, its fields (and the reserved names).
pub fn placeholders(source: &str) -> Result<Vec<String>> {
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    // minijinja's own globals (range, dict, namespace...) are functions, not fields.
    let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
    let mut names: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !globals.contains(&name.as_str()))
        .collect();
    names.sort_by_key(|name| (first_use(source, name), name.clone()));
    Ok(names)
}

/// A template error as the writer needs it: the line and what is wrong there.
fn describe(e: &minijinja::Error) -> String {
    let what = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_string);
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// Where `name` is first used inside a `{{ }}` or `{% %}` tag (for ordering only).
fn first_use(source: &str, name: &str) -> usize {
    let mut at = 0;
    while let Some(i) = source[at..].find(name) {
        let start = at + i;
        let end = start + name.len();
        let bounded = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if bounded(source[..start].chars().next_back()) && bounded(source[end..].chars().next()) {
            return start;
        }
        at = end;
    }
    usize::MAX
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
    let marked = render(&env, source, &context)?;
    let mut context = fields.clone();
    for var in vars {
        context.insert(var.name.to_string(), var.value.clone());
    }
    let plain = render(&env, source, &context)?;
    // The split is only trusted if it reproduces the real rendering exactly: a filter or a slice
    // applied to a variable would otherwise be lost.
    if let Some(parts) = split_markers(&marked, vars)
        && parts.iter().map(|p| p.text.as_str()).collect::<String>() == plain
    {
        return Ok(parts);
    }
    Ok(vec![Part::fixed(plain)])
}

/// Renders a template to a plain string (system prompts, a prefill).
pub fn render_plain(source: &str, fields: &BTreeMap<String, String>) -> Result<String> {
    render(&environment(), source, fields)
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
        let fields = BTreeMap::from([("product".to_string(), "Quill".to_string())]);
        let err = render_parts("Hello\n{{ prodcut }}", &fields, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("line 2: {{ prodcut }} is neither a field"),
            "{err:#}"
        );
    }

    #[test]
    fn a_hostile_template_fails_instead_of_hanging_or_growing() {
        let fields = BTreeMap::new();
        for hostile in [
            // Ten billion iterations.
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            // Gigabytes from string repetition.
            "{% set s = 'x' * 90000000 %}{{ s ~ s ~ s ~ s }}",
            // Unbounded recursion.
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ] {
            let started = std::time::Instant::now();
            let err = render_parts(hostile, &fields, &[]).unwrap_err();
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{hostile} ran for {:?}",
                started.elapsed()
            );
            let message = format!("{err:#}");
            assert!(
                message.contains("rendering the prompt template"),
                "{message}"
            );
        }
    }

    #[test]
    fn placeholders_are_listed_in_the_order_they_appear() {
        let names = placeholders(
            "Announce {{ product }} to {{ audience }} on {{ date }}; {{ product }} again. \
             {% for x in items %}{{ x }}{% endfor %}",
        )
        .unwrap();
        assert_eq!(names, ["product", "audience", "date", "items"]);
        let names = placeholders("{% for i in range(3) %}- {{ product }}{% endfor %}").unwrap();
        assert_eq!(names, ["product"], "range is minijinja's, not a field");
        let err = placeholders("Broken {{ product").unwrap_err();
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    }

    #[test]
    fn fields_render_as_plain_text() {
        let fields = BTreeMap::from([("product".to_string(), "Quill".to_string())]);
        let parts = render_parts("Tagline for {{ product }}.", &fields, &[]).unwrap();
        assert_eq!(parts, vec![Part::fixed("Tagline for Quill.")]);
    }
}
