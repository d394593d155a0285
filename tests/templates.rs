//! Templates headless, with the default model: listing, showing, running, limits and names.

mod common;

use common::{Home, stderr, stdout};

#[test]
fn the_built_in_marketing_templates_are_listed_and_shown() {
    let home = Home::new();
    let out = home.run(&["template", "list"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&out);
    for name in [
        "tagline",
        "ad-headline",
        "meta-description",
        "product-description",
        "email-subject",
        "cold-email",
        "social-x",
        "social-linkedin",
        "landing-hero",
        "press-release",
        "aida",
        "pas",
    ] {
        assert!(list.contains(name), "{name} missing from:\n{list}");
    }
    let out = home.run(&["template", "show", "product-description"], "");
    let shown = stdout(&out);
    assert!(shown.contains("product - Product [required]"), "{shown}");
    assert!(
        shown.contains("[one of: friendly, professional, playful, luxurious]"),
        "{shown}"
    );
}

#[test]
fn every_marketing_template_runs_with_its_fields_filled() {
    let home = Home::new();
    let fills: &[(&str, &[&str])] = &[
        ("tagline", &["product=Quill, a writing assistant"]),
        ("ad-headline", &["product=Quill"]),
        (
            "meta-description",
            &["topic=writing tools", "keyword=terminal editor"],
        ),
        (
            "product-description",
            &["product=Quill", "features=local model, fast"],
        ),
        ("email-subject", &["topic=our spring release"]),
        (
            "cold-email",
            &[
                "sender=Ana, Quill",
                "recipient=editors",
                "product=Quill",
                "problem=slow drafts",
            ],
        ),
        ("social-x", &["topic=writing in the terminal"]),
        ("social-linkedin", &["topic=writing every day"]),
        ("landing-hero", &["product=Quill"]),
        ("press-release", &["company=Quill Ltd", "news=version 1.0"]),
        ("aida", &["product=Quill"]),
        ("pas", &["product=Quill", "problem=blank page fear"]),
    ];
    for (name, sets) in fills {
        let mut args = vec!["template", "run", name, "--variants", "1", "--seed", "5"];
        for set in *sets {
            args.push("--set");
            args.push(set);
        }
        let out = home.run(&args, "");
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.trim().is_empty(), "{name} gave nothing");
        assert!(!text.contains("<|"), "{name}: {text}");
    }
}

#[test]
fn the_ad_headline_fits_30_characters_on_every_variant_across_20_seeds() {
    let home = Home::new();
    for seed in 0..20 {
        let seed = seed.to_string();
        let out = home.run(
            &[
                "template",
                "run",
                "ad-headline",
                "--set",
                "product=Quill, the terminal writing assistant",
                "--variants",
                "1",
                "--seed",
                &seed,
            ],
            "",
        );
        assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
        let text = stdout(&out);
        let headline = text.trim_end_matches('\n');
        assert!(
            headline.chars().count() <= 30,
            "seed {seed}: {headline:?} is {} characters",
            headline.chars().count()
        );
        assert!(!headline.contains('\n'), "seed {seed}: {headline:?}");
    }
}

#[test]
fn a_missing_field_or_a_bad_name_is_bad_input() {
    let home = Home::new();
    let out = home.run(&["template", "run", "tagline"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("needs product") && err.contains("audience"),
        "{err}"
    );
    for bad in ["../../etc/passwd", "/etc/passwd", "a/b"] {
        let out = home.run(&["template", "run", bad], "");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("not a usable template name"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_user_template_runs_and_a_malformed_one_is_reported() {
    let home = Home::new();
    let dir = home.dir.path().join("config/quill/templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("greeting.toml"),
        "name = \"Greeting\"\naction = \"generate\"\ntemplate = \"Write a one-line greeting for {{ who }}.\"\nfields = [{ name = \"who\", required = true }]\nmax_chars = 80\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.toml"), "name = \"x\"\naction = = 1\n").unwrap();
    let out = home.run(
        &[
            "template",
            "run",
            "greeting",
            "--set",
            "who=writers",
            "--seed",
            "2",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().chars().count() <= 80);
    assert!(stderr(&out).contains("broken.toml:2:"), "{}", stderr(&out));
}
