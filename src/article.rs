//! The article flow: from a title (and a brief) to an outline, then each section written in
//! the context of the brief, the whole outline and summaries of the sections before it. The
//! requests are put together here for every front end (the editor's `outline`, `write
//! section` and `write article`, and `quill article`); running them is the front end's.

pub mod context;

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;

use crate::config::ArticleConfig;
use crate::document::front_matter::Brief;
use crate::plan::{Layers, Plan, plan};
use crate::prompt::outline::Item;
use crate::prompt::section::{ArticlePart, SectionRules};
use crate::prompt::{PromptInput, PromptLibrary};

pub use crate::prompt::section::count_words;
pub use context::{Guidance, Summaries};

/// Sections when neither the brief, the command line nor the settings say: one per 150
/// words, 3 to 8.
const WORDS_PER_SECTION: usize = 150;

/// What an article is to be: its title, brief, language and size.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub title: String,
    pub brief: Brief,
    /// The brief and style guide as prompts carry them.
    pub guidance: Guidance,
    pub sections: usize,
    /// The whole article's length: words, or characters for a language written without
    /// spaces.
    pub words: usize,
    /// The title is in a script written without spaces (Chinese, Japanese): lengths are in
    /// characters and the outline is held to that script.
    pub unspaced: bool,
    /// The title's language, by name: every part of the article is asked in it (a title is
    /// too short for detection to be sure of English: English is what is left).
    pub language: String,
}

impl Spec {
    /// `title` (the brief's own over it when set) with the sizes from the command line, then
    /// the brief, then the config's `[article]`.
    pub fn new(
        title: &str,
        brief: Brief,
        guidance: Guidance,
        (sections, words): (Option<usize>, Option<usize>),
        config: ArticleConfig,
    ) -> Spec {
        let title = if brief.title.trim().is_empty() {
            title.trim().to_string()
        } else {
            brief.title.trim().to_string()
        };
        let words = words
            .or(brief.words.map(|w| w as usize))
            .unwrap_or(config.words as usize)
            .max(50);
        let configured = Some(config.sections as usize).filter(|&n| n > 0);
        let sections = sections
            .or(brief.sections.map(|s| s as usize))
            .or(configured)
            .unwrap_or_else(|| (words / WORDS_PER_SECTION).clamp(3, 8))
            .clamp(1, 20);
        let unspaced = is_mostly_unspaced(&title);
        let language = crate::prompt::language::detect(&title)
            .unwrap_or(if unspaced { "Chinese" } else { "English" })
            .to_string();
        Spec {
            language,
            title,
            brief,
            guidance,
            sections,
            words,
            unspaced,
        }
    }

    /// The length each section aims at.
    pub fn section_words(&self) -> usize {
        (self.words / self.sections.max(1)).max(20)
    }

    /// The token limit for a section of `words`: room past the aim, so the section ends at a
    /// sentence of its own rather than at the limit (the cut is the cleaner's). SmolLM2's
    /// vocabulary spends about 1.4 tokens on an English word and 1.3 on a Chinese character.
    pub fn max_tokens(&self, words: usize) -> u32 {
        let per_word = if self.unspaced { 1.3 } else { 1.4 };
        ((words as f64 * per_word * 1.6) as u32).clamp(48, 2048)
    }

    /// A length as this article counts it: words, or characters without spaces.
    pub fn count(&self, text: &str) -> usize {
        count_words(text, self.unspaced)
    }
}

pub use crate::plan::is_mostly_unspaced;

/// How much of the section before a section its prompt shows: the end of it.
const BEFORE_CHARS: usize = 1_200;

/// The section before the one to write, as its prompt shows it (see `SectionInput::before`):
/// its heading, and the end of its body from a line's start where one is near.
pub fn previous_section(heading: &str, body: &str) -> String {
    format!("## {heading}\n\n{}", tail(body, BEFORE_CHARS))
}

/// The last `chars` of `text`, from a line's start where one is near.
fn tail(text: &str, chars: usize) -> String {
    let total = text.chars().count();
    if total <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().skip(total - chars).collect();
    match cut.find('\n') {
        Some(i) if i < cut.len() / 2 => cut[i + 1..].to_string(),
        _ => cut,
    }
}

/// The request for an outline of `spec`: the outline prompt, its answer read as at most
/// `sections` heading-and-note pairs, in the title's script.
pub fn outline_plan(library: &PromptLibrary, spec: &Spec, layers: Layers) -> Result<Plan> {
    let layers = in_language(spec, layers);
    let template = library.get("outline")?;
    let values = BTreeMap::from([("sections".to_string(), spec.sections.to_string())]);
    let mut plan = plan(template, &input(spec, String::new()), &values, layers)?;
    if !layers.raw {
        // The worked examples in the prompt hold its form; a grammar held it exactly but
        // decoded at a quarter of the speed (20 t/s against 80, the default model).
        let borrowed = template
            .examples
            .iter()
            .flat_map(|e| crate::prompt::outline::read(&e.output))
            .map(|i| crate::prompt::overlap::same_key(&i.heading))
            .collect();
        plan.finishing.article = Some(ArticlePart::Outline {
            wanted: spec.sections,
            title: spec.title.clone(),
            borrowed,
        });
        plan.sampling.no_latin = spec.unspaced;
    }
    // A heading and a one-line note: about 40 tokens a section in English, or the model
    // runs on; Chinese takes two to three tokens a character with this vocabulary.
    if layers.overrides.max_tokens.is_none() {
        let per_section = if spec.unspaced { 100 } else { 40 };
        plan.sampling.max_tokens = (spec.sections * per_section + 24) as u32;
    }
    Ok(plan)
}

/// Where a section sits in its article when it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SectionInput {
    pub outline: Vec<Item>,
    /// The section to write (an index into `outline`).
    pub index: usize,
    /// Each earlier section's heading and summary, in order.
    pub earlier: Vec<(String, String)>,
    /// The draft just before where the section goes.
    pub before: String,
    /// How long this section should be (words, or characters for Chinese).
    pub words: usize,
    /// The keys of the earlier sections' sentences (`section::sentence_keys`): none of them
    /// may come again.
    pub seen: HashSet<String>,
}

/// The request for one section's body.
pub fn section_plan(
    library: &PromptLibrary,
    spec: &Spec,
    section: &SectionInput,
    layers: Layers,
) -> Result<Plan> {
    let layers = in_language(spec, layers);
    let template = library.get("write-section")?;
    let item = section.outline.get(section.index).cloned().unwrap_or(Item {
        heading: String::new(),
        note: String::new(),
    });
    let outline = section
        .outline
        .iter()
        .enumerate()
        .map(|(i, it)| format!("{}. {}", i + 1, it.heading))
        .collect::<Vec<_>>()
        .join("\n");
    let mut values = BTreeMap::from([
        ("outline".to_string(), outline),
        ("heading".to_string(), item.heading.clone()),
        ("note".to_string(), item.note.clone()),
        (
            "place".to_string(),
            format!("{} of {}", section.index + 1, section.outline.len()),
        ),
        ("words".to_string(), section.words.to_string()),
        (
            "last".to_string(),
            if section.index + 1 >= section.outline.len() {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        ),
    ]);
    // The sections before, each as its heading and its summary; the one just before it is
    // in `before` as the draft has it, when there is a `before`.
    let shown = if section.before.trim().is_empty() {
        section.earlier.len()
    } else {
        section.earlier.len().min(section.index.saturating_sub(1))
    };
    let earlier = section.earlier[..shown]
        .iter()
        .map(|(heading, summary)| format!("## {heading}\n\n{summary}\n\n"))
        .collect::<String>();
    values.insert("earlier".to_string(), earlier);
    // Each piece of the article ends in a blank line before the next heading.
    let before = if section.before.trim().is_empty() {
        String::new()
    } else {
        format!("{}\n\n", section.before.trim_end())
    };
    let mut plan = plan(template, &input(spec, before), &values, layers)?;
    if layers.overrides.max_tokens.is_none() {
        plan.sampling.max_tokens = spec.max_tokens(section.words);
    }
    // Asked in completion, the default model began 3 of 4 sections of a Chinese article in
    // English: a Chinese article's sections are kept from Latin letters.
    plan.sampling.no_latin = spec.unspaced && !layers.raw;
    if !layers.raw {
        plan.finishing.article = Some(ArticlePart::Section(SectionRules {
            heading: item.heading,
            title: spec.title.clone(),
            headings: section.outline.iter().map(|i| i.heading.clone()).collect(),
            earlier: section.seen.clone(),
            is_last: section.index + 1 >= section.outline.len(),
            // A quarter over the aim at most: the article's length stays within its bounds
            // however long the model runs.
            most_words: section.words * 5 / 4,
            unspaced: spec.unspaced,
        }));
    }
    Ok(plan)
}

/// A section shorter than this share of its aim is asked to go on.
pub const SHORT: f64 = 0.75;

/// The request that goes on with a section that came out short: its own request with `body`
/// written after the heading, for the model to carry on; what `body` says counts as said, and
/// the length left is the aim's rest. None when `body` is long enough, or the prompt is a chat
/// (which cannot be begun in its writer's turn).
pub fn lengthen(plan: &Plan, spec: &Spec, words: usize, body: &str) -> Option<Plan> {
    let had = spec.count(body);
    if body.trim().is_empty() || had as f64 >= words as f64 * SHORT {
        return None;
    }
    let crate::engine::protocol::Prompt::Completion { parts } = &plan.prompt else {
        return None;
    };
    let mut more = plan.clone();
    let mut parts = parts.clone();
    parts.push(crate::engine::protocol::Part::fixed(format!(
        "{}\n\n",
        body.trim_end()
    )));
    more.prompt = crate::engine::protocol::Prompt::Completion { parts };
    let left = words.saturating_sub(had).max(20);
    more.sampling.max_tokens = spec.max_tokens(left);
    more.sampling.seed = more.sampling.seed.wrapping_add(7);
    if let Some(ArticlePart::Section(rules)) = &mut more.finishing.article {
        rules
            .earlier
            .extend(crate::prompt::section::sentence_keys(body));
        rules.most_words = left * 5 / 4;
    }
    Some(more)
}

/// The request for a summary of an earlier section (the TL;DR prompt), to stand for it in the
/// prompts of the sections after it.
pub fn summary_plan(library: &PromptLibrary, text: &str, layers: Layers) -> Result<Plan> {
    let template = library.get("summarise-tldr")?;
    let input = PromptInput {
        selection: text.to_string(),
        before: text.to_string(),
        document: text.to_string(),
        ..PromptInput::default()
    };
    let mut plan = plan(template, &input, &BTreeMap::new(), layers)?;
    // It stands in a prompt, not before a reader: it may quote its section (no DRY, which
    // halved decoding at 700-token prompts), and one answer is enough (`summary_from`).
    plan.sampling.dry_multiplier = 0.0;
    plan.sampling.temperature = 0.0;
    plan.sampling.max_tokens = plan.sampling.max_tokens.min(SUMMARY_TOKENS);
    Ok(plan)
}

/// The most tokens a section's summary takes.
const SUMMARY_TOKENS: u32 = 80;

/// A section's summary from the one answer asked for it: finished as a TL;DR is, or the
/// section's first sentence when it is refused (empty, a copy, no shorter).
pub fn summary_from(
    finishing: &crate::prompt::finish::Finishing,
    answer: &str,
    stop: crate::engine::protocol::StopReason,
    section: &str,
) -> String {
    let finished = finishing.finish(answer, stop);
    match finishing.check(&finished.text, &[]) {
        Ok(()) => finished.text,
        Err(_) => context::first_sentence(section),
    }
}

/// `layers` with the article's language where they leave it to the text ("auto").
fn in_language<'a>(spec: &'a Spec, layers: Layers<'a>) -> Layers<'a> {
    let auto = layers.language.trim().is_empty() || layers.language.eq_ignore_ascii_case("auto");
    Layers {
        language: if auto {
            &spec.language
        } else {
            layers.language
        },
        ..layers
    }
}

fn input(spec: &Spec, before: String) -> PromptInput {
    PromptInput {
        before,
        title: spec.title.clone(),
        brief: spec.guidance.text.clone(),
        ..PromptInput::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::outline;
    use crate::sampling::Sampling;

    fn layers<'a>(s: &'a Sampling) -> Layers<'a> {
        Layers {
            settings: s,
            overrides: s,
            default_variants: 1,
            raw: false,
            language: "auto",
            n_ctx: Some(4096),
        }
    }

    fn spec(title: &str) -> Spec {
        let brief = Brief {
            audience: "new gardeners".into(),
            ..Brief::default()
        };
        let guidance = context::guidance(&brief, "", context::BRIEF_TOKENS);
        Spec::new(
            title,
            brief,
            guidance,
            (None, Some(600)),
            ArticleConfig::default(),
        )
    }

    #[test]
    fn sizes_come_from_the_command_line_then_the_brief_then_the_config() {
        let s = spec("Growing tomatoes");
        assert_eq!((s.sections, s.words, s.section_words()), (4, 600, 150));
        let brief = Brief {
            words: Some(1000),
            sections: Some(6),
            title: "种番茄".into(),
            ..Brief::default()
        };
        let config = ArticleConfig {
            words: 900,
            sections: 5,
        };
        let s = Spec::new(
            "x",
            brief.clone(),
            Guidance::default(),
            (Some(2), None),
            config,
        );
        assert_eq!((s.sections, s.words), (2, 1000));
        let s = Spec::new(
            "x",
            brief.clone(),
            Guidance::default(),
            (None, None),
            config,
        );
        assert_eq!((s.sections, s.words), (6, 1000));
        let plain = Brief::default();
        let s = Spec::new(
            "x",
            plain.clone(),
            Guidance::default(),
            (None, None),
            config,
        );
        assert_eq!((s.sections, s.words), (5, 900));
        let config = ArticleConfig {
            words: 1500,
            sections: 0,
        };
        let s = Spec::new("x", plain, Guidance::default(), (None, None), config);
        assert_eq!(
            (s.sections, s.words),
            (8, 1500),
            "one per 150 words, at most 8"
        );
        let s = Spec::new("x", brief, Guidance::default(), (Some(2), None), config);
        assert_eq!((s.sections, s.words), (2, 1000));
        assert_eq!(s.title, "种番茄");
        assert!(s.unspaced);
        assert_eq!(s.count("种番茄，很好。"), 5);
    }

    #[test]
    fn the_outline_request_carries_the_brief_and_its_size() {
        let library = PromptLibrary::built_in().unwrap();
        let s = Sampling::default();
        let p = outline_plan(&library, &spec("Growing tomatoes"), layers(&s)).unwrap();
        let text = format!("{:?}", p.prompt);
        assert!(text.contains("Audience: new gardeners"), "{text}");
        assert!(
            text.contains("\\\"Growing tomatoes\\\" in 4 sections"),
            "{text}"
        );
        let Some(ArticlePart::Outline {
            wanted,
            title,
            borrowed,
        }) = &p.finishing.article
        else {
            panic!("{:?}", p.finishing.article);
        };
        assert_eq!((*wanted, title.as_str()), (4, "Growing tomatoes"));
        // The worked examples' headings, English and Chinese: an answer with one is refused.
        let key = crate::prompt::overlap::same_key;
        assert!(borrowed.contains(&key("Light and water")), "{borrowed:?}");
        assert!(borrowed.contains(&key("光照和浇水")), "{borrowed:?}");
        let copied = "## Choosing the Right Plant\nWhat to grow.\n\n## Light and Water\nSun.\n\n## Pests\nBugs.\n";
        assert_eq!(
            p.finishing.check(copied, &[]),
            Err(crate::prompt::finish::Refused::CopiedExample)
        );
        let own = "## Seeds\nWhich to buy.\n\n## Planting\nWhen.\n\n## Picking\nRipe fruit.\n";
        assert_eq!(p.finishing.check(own, &[]), Ok(()));
        assert_eq!(p.sampling.max_tokens, 184);
    }

    #[test]
    fn a_section_request_marks_its_place_and_carries_the_earlier_summaries() {
        let library = PromptLibrary::built_in().unwrap();
        let s = Sampling::default();
        let outline = outline::read("## Soil\nWhat they need.\n## Water\nHow much.\n");
        let section = SectionInput {
            outline,
            index: 1,
            earlier: vec![("Soil".into(), "Tomatoes like rich soil.".into())],
            before: "Rich soil helps.".into(),
            words: 150,
            seen: HashSet::new(),
        };
        let p = section_plan(&library, &spec("Tomatoes"), &section, layers(&s)).unwrap();
        let text = format!("{:?}", p.prompt);
        // The outline in the front matter; the section just before in `before`, not summarised.
        assert!(
            text.contains("Sections:\\n1. Soil\\n2. Water\\n---"),
            "{text}"
        );
        assert!(!text.contains("Tomatoes like rich soil."), "{text}");
        assert!(text.contains("Rich soil helps."), "{text}");
        assert!(
            text.ends_with(
                "helps.\\n\\n\", fit: KeepEnd }, Part { text: \"## Water\\n\", fit: Fixed }] }"
            ),
            "{text}"
        );
        assert_eq!(p.sampling.max_tokens, 336);
        assert!(!p.sampling.no_latin);
        // Three sections in: the first is given as its summary.
        let section = SectionInput {
            outline: outline::read("## Soil\nA.\n## Water\nB.\n## Sun\nC.\n"),
            index: 2,
            earlier: vec![
                ("Soil".into(), "Tomatoes like rich soil.".into()),
                ("Water".into(), "Water them daily.".into()),
            ],
            before: "## Water\n\nWater at dawn.".into(),
            words: 150,
            seen: HashSet::new(),
        };
        let p = section_plan(&library, &spec("番茄"), &section, layers(&s)).unwrap();
        let text = format!("{:?}", p.prompt);
        assert!(
            text.contains("## Soil\\n\\nTomatoes like rich soil.\\n\\n"),
            "{text}"
        );
        assert!(!text.contains("Water them daily."), "{text}");
        assert!(p.sampling.no_latin);
    }
}
