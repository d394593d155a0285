//! The one place a request to the model is put together: a prompt or template, the writer's
//! text, the values of its fields and the layers of settings become the prompt, its sampling,
//! how many variants and how they are finished. The editor and the headless commands both call
//! `plan`, so they cannot drift apart.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::document::join::is_unspaced;
use crate::document::parts;
use crate::engine::protocol::{Prompt, SamplingParams};
use crate::prompt::finish::{Finishing, Shape};
use crate::prompt::language;
use crate::prompt::quote;
use crate::prompt::{Action, Output, PromptInput, PromptTemplate};
use crate::sampling::Sampling;

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
    /// A summary of a text too long for the context: a prompt per part, each summarised in
    /// turn before `prompt`, which holds `PARTS_GO_HERE` where their summaries go, makes the
    /// answer. Empty when the text fits.
    pub parts: Vec<Prompt>,
    pub finishing: Finishing,
    /// A rewrite made a sentence at a time (`per_sentence` prompts): a request per sentence,
    /// their answers joined with the text between them. Empty for a passage of one sentence,
    /// and for every other prompt.
    pub pieces: Vec<Piece>,
    /// What follows the last piece (the passage's trailing spaces or line break).
    pub after_pieces: String,
}

/// One sentence of a passage rewritten a sentence at a time: its own request, and how its
/// answer is finished and checked against that sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The text before the sentence (spaces, line breaks), kept as it is.
    pub before: String,
    pub prompt: Prompt,
    pub sampling: SamplingParams,
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
    /// The writer asked for the model's text as it comes, unfinished (`--raw`).
    pub raw: bool,
    /// The answer's language: "auto" for the passage's own, or a language's name.
    pub language: &'a str,
    /// The model's context in tokens, when known: a summary of a text that does not fit is
    /// made part by part.
    pub n_ctx: Option<u32>,
}

/// Stands in a summary's prompt where the parts' summaries go (private-use characters: no
/// writer's text contains them).
pub const PARTS_GO_HERE: &str = "\u{F8F2}parts\u{F8F3}";

/// Tokens a summary's template and answer need beside its text.
const TEMPLATE_TOKENS: usize = 256;

/// Puts the request together. Sampling stacks, lowest first: the settings, the prompt's own
/// `[sampling]`, the shaping its output asks for (a one-line answer for one-line copy or a
/// one-paragraph passage, a rewrite not much longer than its text), then the overrides. A
/// `per_sentence` rewrite of more than one sentence gets a request per sentence, each planned
/// as a rewrite of that sentence alone.
pub fn plan(
    template: &PromptTemplate,
    input: &PromptInput,
    values: &BTreeMap<String, String>,
    layers: Layers,
) -> Result<Plan> {
    let mut whole = plan_whole(template, input, values, layers)?;
    if !template.per_sentence
        || template.action != Action::Rewrite
        || layers.raw
        || is_mostly_unspaced(&input.selection)
    {
        return Ok(whole);
    }
    let (sentences, tail) = parts::sentences(&input.selection);
    if sentences.len() < 2 {
        return Ok(whole);
    }
    // Each sentence's language is its own, told only when it is sure: said for a short English
    // sentence, "You always write your answer in English" made the default model rewrite
    // rather than correct it.
    for sentence in sentences {
        let one = PromptInput {
            selection: sentence.sentence,
            ..input.clone()
        };
        let piece = plan_whole(template, &one, values, layers)?;
        whole.pieces.push(Piece {
            before: sentence.before,
            prompt: piece.prompt,
            sampling: piece.sampling,
            finishing: piece.finishing,
        });
    }
    whole.after_pieces = tail;
    Ok(whole)
}

/// Text mostly in a script written without spaces (Chinese, Japanese). Measured on the
/// quality benchmark's Chinese passages, the default model given them a sentence at a time
/// corrected fewer (2 of 12 against 4 of 12 whole) and answered some with an English lead-in
/// or a run of exclamation marks: they are corrected whole. Its lists of their key points
/// quote their clauses (`quote_unspaced`).
pub fn is_mostly_unspaced(text: &str) -> bool {
    let letters = text.chars().filter(|c| c.is_alphanumeric());
    let (unspaced, all) =
        letters.fold((0, 0), |(u, a), c| (u + usize::from(is_unspaced(c)), a + 1));
    unspaced * 2 > all
}

/// The request for `input` as one piece.
fn plan_whole(
    template: &PromptTemplate,
    input: &PromptInput,
    values: &BTreeMap<String, String>,
    layers: Layers,
) -> Result<Plan> {
    let passage = [&input.selection, &input.before, &input.document]
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .map_or("", |t| t.as_str());
    let language = language::answer_language(layers.language, passage);
    let mut sampling = template.sampling.over(layers.settings).resolve();
    template.shape_copy(&mut sampling);
    template.shape_output(input, &mut sampling);
    layers.overrides.apply(&mut sampling);
    template.cap_summary(input, &mut sampling);
    let language = language.as_deref();
    let (prompt, parts) = match part_budget(template, input, layers.n_ctx, &sampling) {
        // Too long to read at once: each part, then the parts' summaries.
        Some(budget) => {
            let only = |selection: String| PromptInput {
                selection,
                ..PromptInput::default()
            };
            let parts = parts::split(&input.selection, budget)
                .into_iter()
                .map(|part| template.build_in(&only(part), values, language))
                .collect::<Result<Vec<_>>>()?;
            let reduce = template.build_in(&only(PARTS_GO_HERE.into()), values, language)?;
            (reduce, parts)
        }
        None => (template.build_in(input, values, language)?, Vec::new()),
    };
    if template.quote_unspaced
        && parts.is_empty()
        && is_mostly_unspaced(&input.selection)
        && let Some(grammar) = quote::list_grammar(&input.selection)
    {
        sampling.grammar = grammar;
    }
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
        parts,
        finishing: Finishing {
            writers_limit: layers.overrides.max_tokens.is_some(),
            ..finishing(template, input, values, layers.raw)?
        },
        pieces: Vec::new(),
        after_pieces: String::new(),
    })
}

/// The most tokens (estimated) a part of a summary's text may take, when the text is too long
/// to summarise in one pass; None when it fits (or the context is not known).
fn part_budget(
    template: &PromptTemplate,
    input: &PromptInput,
    n_ctx: Option<u32>,
    sampling: &SamplingParams,
) -> Option<usize> {
    if template.action != Action::Summarise {
        return None;
    }
    let room = (n_ctx? as usize)
        .saturating_sub(sampling.max_tokens as usize)
        .saturating_sub(TEMPLATE_TOKENS);
    (parts::estimate_tokens(&input.selection) > room).then_some(room.max(64))
}

/// How `template`'s answers to `input` are finished: its own shape, else copy for copy and
/// prose for the rest; a one-line passage's rewrite is one line; a summary must be shorter
/// than its text; a correction may give the passage back, and warns when it strays.
fn finishing(
    template: &PromptTemplate,
    input: &PromptInput,
    values: &BTreeMap<String, String>,
    raw: bool,
) -> Result<Finishing> {
    let is_copy = template.action == Action::Generate || template.max_chars.is_some();
    let one_line = !input.selection.trim().contains('\n');
    let shape = template.shape.unwrap_or(match template.action {
        _ if is_copy => Shape::Copy,
        Action::Rewrite if one_line => Shape::Line,
        _ => Shape::Prose,
    });
    let reads_passage = matches!(template.action, Action::Rewrite | Action::Summarise);
    let prefill = template.answer_start(input, &template.field_values(values)?)?;
    Ok(Finishing {
        shape,
        max_chars: template.max_chars,
        prefill,
        source: if reads_passage {
            input.selection.clone()
        } else {
            String::new()
        },
        shorter: template.action == Action::Summarise,
        max_drift: template.max_drift,
        min_kept: template.min_kept,
        min_grounded: template.min_grounded,
        also_from: String::new(),
        raw,
        writers_limit: false,
        article: None,
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
            raw: false,
            language: "auto",
            n_ctx: Some(4096),
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
        assert_eq!(plan.finishing.shape, Shape::Line);
        assert_eq!(plan.finishing.source, "One short line.");
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
    fn the_answer_is_asked_for_in_the_passages_language_unless_the_writer_sets_one() {
        let library = PromptLibrary::built_in().unwrap();
        let tldr = library.get("summarise-tldr").unwrap();
        let input = PromptInput {
            selection: "随着人工智能技术的快速发展，大模型已经成为推动行业创新的关键力量。".into(),
            ..PromptInput::default()
        };
        let none = Sampling::default();
        let system = |language: &str| {
            let layers = Layers {
                language,
                ..layers(&none, &none)
            };
            let plan = plan(tldr, &input, &BTreeMap::new(), layers).unwrap();
            let Prompt::Chat { messages } = plan.prompt else {
                panic!("a chat prompt");
            };
            messages[0]
                .parts
                .iter()
                .map(|p| p.text.clone())
                .collect::<String>()
        };
        assert!(system("auto").ends_with("You always write your answer in Chinese."));
        assert!(system("English").ends_with("You always write your answer in English."));
    }

    #[test]
    fn a_text_longer_than_the_context_is_summarised_in_parts_that_fit() {
        let library = PromptLibrary::built_in().unwrap();
        let tldr = library.get("summarise-tldr").unwrap();
        let article = (0..60)
            .map(|i| format!("## Section {i}\n\nParagraph {i} says something worth keeping."))
            .collect::<Vec<_>>()
            .join("\n\n");
        let input = PromptInput {
            selection: article.clone(),
            ..PromptInput::default()
        };
        let none = Sampling::default();
        let small = Layers {
            n_ctx: Some(1024),
            ..layers(&none, &none)
        };
        let plan = plan(tldr, &input, &BTreeMap::new(), small).unwrap();
        assert!(plan.parts.len() > 1, "{}", plan.parts.len());
        let text = |p: &Prompt| match p {
            Prompt::Chat { messages } => messages
                .iter()
                .flat_map(|m| m.parts.iter().map(|p| p.text.clone()))
                .collect::<String>(),
            Prompt::Completion { parts } => parts.iter().map(|p| p.text.clone()).collect(),
        };
        // Every section is in exactly one part, in order; the last step reads the summaries.
        let all: String = plan.parts.iter().map(text).collect();
        let mut at = 0;
        for i in 0..60 {
            let found = all[at..]
                .find(&format!("Paragraph {i} says"))
                .expect("every section");
            at += found;
        }
        assert!(text(&plan.prompt).contains(PARTS_GO_HERE));
        // With room for it all, one pass.
        let roomy = Layers {
            n_ctx: Some(32_768),
            ..layers(&none, &none)
        };
        assert!(plan_fn(tldr, &input, roomy).parts.is_empty());
        // A rewrite is never split.
        let concise = library.get("rewrite-concise").unwrap();
        assert!(plan_fn(concise, &input, small).parts.is_empty());
    }

    fn plan_fn(template: &PromptTemplate, input: &PromptInput, layers: Layers) -> Plan {
        plan(template, input, &BTreeMap::new(), layers).unwrap()
    }

    #[test]
    fn bullets_of_a_chinese_passage_quote_it_and_english_ones_keep_their_own_grammar() {
        let library = PromptLibrary::built_in().unwrap();
        let bullets = library.get("summarise-bullets").unwrap();
        let settings = Sampling::default();
        let for_text = |text: &str| {
            let input = PromptInput {
                selection: text.into(),
                ..PromptInput::default()
            };
            plan_fn(bullets, &input, layers(&settings, &settings))
                .sampling
                .grammar
        };
        let zh = for_text("本市首条线路开通。全程约十二公里。沿途设有八个站点。市民可以免费乘坐。");
        assert!(zh.contains("p3 ::= \"市民可以免费乘坐\""), "{zh}");
        let en = for_text(
            "The line opened on Monday. It is twelve kilometres long. It has eight stops.",
        );
        assert_eq!(Some(en), bullets.sampling.grammar.clone());
    }

    #[test]
    fn a_rewrite_is_held_to_its_passages_length_but_expand_is_not() {
        // Recorded: "formal" turned a 14-token sentence into 76 tokens of invented content.
        let library = PromptLibrary::built_in().unwrap();
        let input = PromptInput {
            selection: "Our app helps you write faster and never lose a word.".into(),
            ..PromptInput::default()
        };
        let settings = Sampling {
            max_tokens: Some(256),
            ..Sampling::default()
        };
        let none = Sampling::default();
        let max = |id: &str| {
            plan_fn(library.get(id).unwrap(), &input, layers(&settings, &none))
                .sampling
                .max_tokens
        };
        assert!(max("rewrite-formal") <= 48, "{}", max("rewrite-formal"));
        assert!(max("rewrite-grammar") <= 48);
        assert_eq!(max("expand"), 256, "a paragraph from a sentence is longer");
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
        assert_eq!(plan.finishing.shape, Shape::Copy);
        assert_eq!(plan.finishing.max_chars, tagline.max_chars);
        assert_eq!(plan.variants, tagline.variants.unwrap() as usize);
        // One-line copy stops at the line's end.
        assert!(plan.sampling.stop.contains(&"\n".to_string()));
    }
}
