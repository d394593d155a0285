//! `quill article` end to end: the real binary and the real default model. What the model
//! writes varies; the tests check the article's shape (its title, its sections, their
//! language), not its words.

mod common;

use common::{Home, stderr, stdout};

/// The `## ` headings of `article` and the body under each.
fn sections(article: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in article.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            out.push((heading.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn an_english_title_gives_a_whole_article_written_to_the_file_with_stats() {
    let home = Home::new();
    let file = home.dir.path().join("libraries.md");
    let output = home.run(
        &[
            "article",
            "Why Public Libraries Still Matter",
            "--words",
            "240",
            "--sections",
            "3",
            "--stats",
            "-o",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "-o writes the file, not stdout");
    let article = std::fs::read_to_string(&file).unwrap();
    assert!(
        article.starts_with("# Why Public Libraries Still Matter\n\n## "),
        "{article}"
    );
    let sections = sections(&article);
    assert!((2..=3).contains(&sections.len()), "{article}");
    for (heading, body) in &sections {
        assert!(
            !body.trim().is_empty(),
            "section {heading:?} is empty:\n{article}"
        );
        assert!(
            !body.contains(heading.as_str()),
            "{heading:?} repeated:\n{article}"
        );
        assert!(!body.contains("<|"), "special tokens:\n{article}");
        assert!(
            !body.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{article}"
        );
    }
    // A stats line per section, then the article's.
    let err = stderr(&output);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), sections.len() + 1, "{err}");
    let total = lines.last().unwrap();
    assert_eq!(total["sections"], sections.len());
    assert_eq!(total["target"], 240);
    assert!(total["tokens_per_s"].as_f64().unwrap() > 0.0, "{total}");
    // Each section is held to a quarter over its share.
    let words = total["words"].as_u64().unwrap();
    assert!(words > 0 && words <= 240 * 5 / 4 + 40, "{total}");
}

#[test]
fn a_chinese_title_gives_a_chinese_article() {
    let home = Home::new();
    let output = home.run(
        &[
            "article",
            "城市骑行的好处",
            "--words",
            "200",
            "--sections",
            "2",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let article = stdout(&output);
    assert!(article.starts_with("# 城市骑行的好处\n"), "{article}");
    let sections = sections(&article);
    assert!(!sections.is_empty(), "{article}");
    for (heading, body) in &sections {
        // Every section is kept from Latin letters: the title's language throughout.
        assert!(
            !heading.chars().any(|c| c.is_ascii_alphabetic()),
            "{article}"
        );
        assert!(!body.chars().any(|c| c.is_ascii_alphabetic()), "{article}");
        assert!(
            body.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{article}"
        );
        assert!(!body.contains('\u{fffd}'), "{article}");
    }
}

#[test]
fn a_brief_file_gives_the_title_and_the_size() {
    let home = Home::new();
    let brief = home.dir.path().join("brief.toml");
    std::fs::write(
        &brief,
        "title = \"Brewing Tea at Home\"\naudience = \"beginners\"\nwords = 150\nsections = 2\n",
    )
    .unwrap();
    let output = home.run(
        &["article", "", "--brief", brief.to_str().unwrap(), "--stats"],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let article = stdout(&output);
    assert!(article.starts_with("# Brewing Tea at Home\n"), "{article}");
    assert_eq!(sections(&article).len(), 2, "{article}");
    // The brief is the prompt's, never the article's.
    assert!(
        !article.contains("beginners\n") && !article.contains("Audience:"),
        "{article}"
    );
}

#[test]
fn a_brief_that_does_not_parse_is_refused_with_its_line() {
    let home = Home::new();
    let brief = home.dir.path().join("draft.md");
    std::fs::write(&brief, "---\ntitle: Tea\nwords: [many\n---\nBody.\n").unwrap();
    let output = home.run(&["article", "Tea", "--brief", brief.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("draft.md: front matter, line"), "{err}");
    // Nothing was written, and the file is as it was.
    assert!(stdout(&output).is_empty());
    assert_eq!(
        std::fs::read_to_string(&brief).unwrap(),
        "---\ntitle: Tea\nwords: [many\n---\nBody.\n"
    );
}

#[test]
fn an_empty_title_says_how_to_give_one() {
    let home = Home::new();
    let output = home.run(&["article", "  "], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the title is empty"),
        "{}",
        stderr(&output)
    );
}
