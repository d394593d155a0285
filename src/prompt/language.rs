//! The language an answer should be in: the passage's own, found by `whatlang` (trigram and
//! script detection for about seventy languages, no model files), unless the writer set one.
//! Small models answer a Chinese passage in English unless told in words.

use whatlang::{Lang, Script};

/// How much of the passage is read to tell its language: enough for a reliable guess, and
/// detection stays well under a millisecond on a long draft.
const SAMPLE_CHARS: usize = 2_000;

/// The answer's language for a passage, by the setting: "auto" (or empty) detects it, any
/// other value is taken as the language's name. None when it cannot be told.
pub fn answer_language(setting: &str, passage: &str) -> Option<String> {
    let setting = setting.trim();
    if !setting.is_empty() && !setting.eq_ignore_ascii_case("auto") {
        return Some(setting.to_string());
    }
    detect(passage).map(str::to_string)
}

/// The language `text` is written in, by its English name.
pub fn detect(text: &str) -> Option<&'static str> {
    let sample: String = text.chars().take(SAMPLE_CHARS).collect();
    let info = whatlang::detect(&sample)?;
    // A script used by one language (or one language here: Han is Chinese unless kana show
    // it is Japanese) is as sure as it gets; otherwise trust only a reliable guess.
    let by_script = matches!(
        info.script(),
        Script::Mandarin | Script::Hiragana | Script::Katakana | Script::Hangul
    );
    if !by_script && !info.is_reliable() {
        return None;
    }
    Some(name(info.lang()))
}

fn name(lang: Lang) -> &'static str {
    match lang {
        // whatlang names Chinese by its spoken form.
        Lang::Cmn => "Chinese",
        other => other.eng_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_languages_are_told_apart() {
        let cases = [
            (
                "随着人工智能技术的快速发展，大模型已经成为推动行业创新的关键力量。",
                "Chinese",
            ),
            (
                "大規模言語モデルは、文章の作成や要約に使われています。",
                "Japanese",
            ),
            (
                "대규모 언어 모델은 글쓰기를 돕는 도구로 쓰이고 있습니다.",
                "Korean",
            ),
            (
                "The first draft of anything is a conversation with yourself.",
                "English",
            ),
            (
                "Le premier jet de tout texte est une conversation avec soi-même.",
                "French",
            ),
            (
                "Der erste Entwurf ist immer ein Gespräch mit sich selbst.",
                "German",
            ),
            (
                "El primer borrador de cualquier cosa es una conversación con uno mismo.",
                "Spanish",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text), Some(want), "{text}");
        }
    }

    #[test]
    fn the_setting_wins_and_too_little_text_is_not_guessed() {
        assert_eq!(
            answer_language("French", "The cat sat.").as_deref(),
            Some("French")
        );
        assert_eq!(
            answer_language("auto", "大模型很强。").as_deref(),
            Some("Chinese")
        );
        assert_eq!(answer_language("auto", "ok"), None);
        assert_eq!(answer_language("", "12345"), None);
    }
}
