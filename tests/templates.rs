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
        // Labelled copy reads whole: the part of the answer given to the model comes first.
        let first = match *name {
            "landing-hero" => Some("Headline:"),
            "aida" => Some("Attention:"),
            "pas" => Some("Problem:"),
            _ => None,
        };
        if let Some(first) = first {
            assert!(text.starts_with(first), "{name}: {text}");
        }
        // Short copy is one line, and never leaves a label or a dangling word behind.
        if matches!(*name, "tagline" | "ad-headline" | "email-subject") {
            let line = text.trim();
            assert!(!line.contains('\n'), "{name}: {text}");
            let last = line.rsplit(' ').next().unwrap_or("").to_lowercase();
            assert!(
                !["a", "the", "of", "and", "to", "for", "with"].contains(&last.as_str()),
                "{name}: {text}"
            );
            assert!(
                !line.to_lowercase().starts_with("subject:"),
                "{name}: {text}"
            );
        }
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
    let copy = stdout(&out);
    let length = copy.trim().chars().count();
    assert!(
        (1..=80).contains(&length),
        "{length} characters, not 1 to 80: {copy:?}"
    );
    assert!(stderr(&out).contains("broken.toml:2:"), "{}", stderr(&out));
}

#[test]
fn a_template_made_from_a_text_file_runs_headless() {
    let home = Home::new();
    let prompt = home.dir.path().join("launch.txt");
    std::fs::write(
        &prompt,
        "Write one short sentence announcing {{ product }} to {{ audience }}.\n",
    )
    .unwrap();
    let prompt = prompt.to_str().unwrap();
    let out = home.run(&["template", "new", "launch", "--from", prompt], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("fields: product, audience"),
        "{}",
        stdout(&out)
    );
    let saved = home.dir.path().join("config/quill/templates/launch.toml");
    let before = std::fs::read_to_string(&saved).unwrap();

    // Saving again under the same name, or over a built-in, needs --force.
    let again = home.run(&["template", "new", "launch", "--from", prompt], "");
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), before);
    let built_in = home.run(&["template", "new", "tagline", "--from", prompt], "");
    assert_eq!(built_in.status.code(), Some(2));

    let missing = home.run(&["template", "run", "launch", "--set", "product=Quill"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("needs audience"),
        "{}",
        stderr(&missing)
    );
    let out = home.run(
        &[
            "template",
            "run",
            "launch",
            "--set",
            "product=Quill",
            "--set",
            "audience=writers",
            "--seed",
            "3",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).trim().is_empty());
}

#[test]
fn a_saved_preset_runs_headless_with_its_values() {
    use quill::prompt::PromptLibrary;
    use quill::prompt::store::TemplateStore;
    let home = Home::new();
    // What the editor's "save as preset" does with a filled form.
    let library = PromptLibrary::built_in().unwrap();
    let values = std::collections::BTreeMap::from([
        (
            "product".to_string(),
            "Quill, a writing assistant".to_string(),
        ),
        ("audience".to_string(), "novelists".to_string()),
    ]);
    let preset = library
        .get("tagline")
        .unwrap()
        .preset("novel-tagline", &values)
        .unwrap();
    TemplateStore::new(home.dir.path().join("config/quill/templates"))
        .save("novel-tagline", &preset.to_toml().unwrap(), false)
        .unwrap();
    let out = home.run(&["template", "show", "novel-tagline"], "");
    assert!(
        stdout(&out).contains("[default: novelists]"),
        "{}",
        stdout(&out)
    );
    let out = home.run(
        &[
            "template",
            "run",
            "novel-tagline",
            "--variants",
            "2",
            "--seed",
            "5",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in text.lines().filter(|l| !l.starts_with("--- variant")) {
        assert!(line.chars().count() <= 60, "{line:?}");
    }
    assert!(text.contains("--- variant 1 ---"), "{text}");
}

#[test]
fn template_names_that_leave_the_folder_are_refused_everywhere() {
    let home = Home::new();
    let prompt = home.dir.path().join("p.txt");
    std::fs::write(&prompt, "Hello {{ who }}").unwrap();
    // An absolute name inside this test's own folder, so what it finds there is its own doing.
    let absolute = home.dir.path().join("outside").join("evil");
    std::fs::create_dir_all(absolute.parent().unwrap()).unwrap();
    let absolute = absolute.to_str().unwrap().to_string();
    for bad in ["../evil", absolute.as_str(), "a/b", ".hidden"] {
        let out = home.run(
            &["template", "new", bad, "--from", prompt.to_str().unwrap()],
            "",
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("not a usable template name"),
            "{}",
            stderr(&out)
        );
        let out = home.run(&["template", "run", bad], "");
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    assert!(!home.dir.path().join("config/quill/evil.toml").exists());
    let outside: Vec<_> = std::fs::read_dir(home.dir.path().join("outside"))
        .unwrap()
        .collect();
    assert!(
        outside.is_empty(),
        "written outside the folder: {outside:?}"
    );
    let parent = home.dir.path().join("config/evil.toml");
    assert!(!parent.exists(), "written beside the folder");
}
