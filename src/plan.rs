//! The one place a request to the model is put together: a prompt or template, the writer's
//! text, the values of its fields and the layers of settings become the prompt, its sampling,
//! how many variants and how they are finished. The editor and the headless commands both call
//! `plan`, so they cannot drift apart.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::engine::protocol::{Prompt, SamplingParams};
use crate::prompt::{Action, Output, PromptInput, PromptTemplate};
use crate::sampling::Sampling;

/// How an answer's variants are finished before the writer sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finishing {
    /// Copy: each variant unquoted, cut to `max_chars` at a word, dropped when empty or a
    /// duplicate of one kept. Any output with a character limit is copy.
    pub is_copy: bool,
    pub max_chars: Option<usize>,
    /// What every variant starts with (the template's prefill).
    pub prefill: String,
}

/// A request, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The prompt's display name ("Rewrite: formal").
    pub title: String,
    pub prompt: Prompt,
    pub sampling: SamplingParams,
    pub variants: usize,
    /// Where the answer goes in the editor.
    pub output: Output,
    pub finishing: Finishing,
}

/// The layers of settings under a request, from the front end that makes it.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    /// The config's `[sampling]`: the bottom layer.
    pub settings: &'a Sampling,
    /// This run's own (command-line flags): the top layer, over the prompt's and its shaping.
    pub overrides: &'a Sampling,
    /// Variants when neither the overrides nor the prompt name a number: the editor offers
    /// the config's, a headless command makes one.
    pub default_variants: usize,
}

/// Puts the request together. Sampling stacks, lowest first: the settings, the prompt's own
/// `[sampling]`, the shaping its output asks for (a one-line answer for one-line copy or a
/// one-paragraph passage, a rewrite not much longer than its text), then the overrides.
pub fn plan(
    template: &PromptTemplate,
    input: &PromptInput,
    values: &BTreeMap<String, String>,
    layers: Layers,
) -> Result<Plan> {
    let prompt = template.build_with(input, values)?;
    let mut sampling = template.sampling.over(layers.settings).resolve();
    template.shape_copy(&mut sampling);
    template.shape_output(input, &mut sampling);
    layers.overrides.apply(&mut sampling);
    let variants = match template.output {
        // Straight into the draft means one answer.
        Output::Insert | Output::Replace => 1,
        Output::Suggestions => layers
            .overrides
            .variants
            .or(template.variants)
            .or(template.sampling.variants)
            .map_or(layers.default_variants, |n| n as usize),
    };
    Ok(Plan {
        title: template.name.clone(),
        prompt,
        sampling,
        variants: variants.max(1),
        output: template.output,
        finishing: Finishing {
            is_copy: template.action == Action::Generate || template.max_chars.is_some(),
            max_chars: template.max_chars,
            prefill: template.prefill.clone().unwrap_or_default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::PromptLibrary;

    fn layers<'a>(settings: &'a Sampling, overrides: &'a Sampling) -> Layers<'a> {
        Layers {
            settings,
            overrides,
            default_variants: 3,
        }
    }

    #[test]
    fn the_layers_stack_settings_prompt_shaping_then_overrides() {
        let library = PromptLibrary::built_in().unwrap();
        let rewrite = library.get("rewrite-concise").unwrap();
        let settings = Sampling {
            temperature: Some(0.9),
            max_tokens: Some(256),
            seed: Some(5),
            ..Sampling::default()
        };
        let input = PromptInput {
            selection: "One short line.".into(),
            ..PromptInput::default()
        };
        let plan = plan(
            rewrite,
            &input,
            &BTreeMap::new(),
            layers(&settings, &Sampling::default()),
        )
        .unwrap();
        // The prompt's own temperature wins over the settings; the shaping caps the length of
        // a rewrite of one line and stops it at the line's end.
        assert_eq!(
            plan.sampling.temperature,
            rewrite.sampling.temperature.unwrap_or(0.9)
        );
        assert!(plan.sampling.max_tokens < 256, "{:?}", plan.sampling);
        assert!(plan.sampling.stop.contains(&"\n".to_string()));
        assert_eq!(plan.sampling.seed, 5);
        assert_eq!(plan.variants, 3);
        assert!(!plan.finishing.is_copy);
        // An explicit flag wins over everything.
        let flags = Sampling {
            max_tokens: Some(400),
            variants: Some(1),
            ..Sampling::default()
        };
        let flagged =
            super::plan(rewrite, &input, &BTreeMap::new(), layers(&settings, &flags)).unwrap();
        assert_eq!(flagged.sampling.max_tokens, 400);
        assert_eq!(flagged.variants, 1);
    }

    #[test]
    fn copy_templates_name_their_variants_and_limits() {
        let library = PromptLibrary::built_in().unwrap();
        let tagline = library.get("tagline").unwrap();
        let values = BTreeMap::from([("product".to_string(), "Quill".to_string())]);
        let plan = plan(
            tagline,
            &PromptInput::default(),
            &values,
            layers(&Sampling::default(), &Sampling::default()),
        )
        .unwrap();
        assert!(plan.finishing.is_copy);
        assert_eq!(plan.finishing.max_chars, tagline.max_chars);
        assert_eq!(plan.variants, tagline.variants.unwrap() as usize);
        // One-line copy stops at the line's end.
        assert!(plan.sampling.stop.contains(&"\n".to_string()));
    }
}
