//! Front matter: the YAML (`---`) or TOML (`+++`) block a draft may open with, as Hugo, Jekyll
//! and Obsidian write it, and the article's brief it carries. Reads the brief, and writes it back
//! touching only the brief's own keys: every other key, comment and blank line of the block, and
//! the body, stay byte for byte. A block that does not parse is never rewritten.

use std::fmt;
use std::fmt::Write as _;

use toml_edit::{DocumentMut, Item, Table};
// yaml-rust2: the maintained, pure-Rust fork of yaml-rust (YAML 1.2, no unsafe code, two small
// dependencies once its optional encoding feature is off). Its event parser marks every node
// with its line, so a wrong-typed key is reported on its own line and the block can be edited
// line by line. `saphyr`, the same authors' successor, still reshapes its API between minors.
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::sanitize::strip_controls;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Toml,
}

/// The article's brief, as the draft's front matter holds it. Empty strings / empty vecs / None =
/// not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Brief {
    pub title: String,
    pub audience: String,
    pub goal: String,
    pub tone: String,
    pub key_points: Vec<String>,
    pub avoid: Vec<String>,
    pub words: Option<u32>,
    pub sections: Option<u32>,
}

/// A front matter that does not parse: the 1-based line of the FILE where it went wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatterError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for FrontMatterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "front matter, line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FrontMatterError {}

/// Where the front matter block is: byte length from the start of `text` through the closing
/// fence's line break (0 when the text has no front matter, or the opening fence is never closed
/// — then it is body text). Works whether or not the inside parses.
pub fn block_len(text: &str) -> usize {
    locate(text).map_or(0, |block| block.end)
}

/// The block's syntax, if any.
pub fn syntax(text: &str) -> Option<Syntax> {
    locate(text).map(|block| block.syntax)
}

/// The brief in `text`'s front matter: Ok(None) when there is none; Err with the line when it
/// does not parse (YAML/TOML syntax error, or a brief key with the wrong type, e.g.
/// `words: many`). Unknown keys are ignored. `points` stands for `key_points` and `length` for
/// `words`; key_points/avoid take a list of strings or one string, words/sections an integer or a
/// string holding one.
pub fn parse(text: &str) -> Result<Option<Brief>, FrontMatterError> {
    match locate(text) {
        None => Ok(None),
        Some(block) => read(&block).map(|(_, brief)| Some(brief)),
    }
}

/// `text` with its front matter's brief keys set to `brief`: keys the brief sets are replaced in
/// place (or appended at the end of the block, in the order title, audience, goal, tone,
/// key_points, avoid, words, sections), keys it leaves empty are removed; everything else stays
/// byte for byte. A key whose value already equals the brief's is left as written (its style,
/// its comment, an empty `title:` placeholder). A text without front matter gets a new YAML block
/// before its body, unless the brief sets nothing. Err when the existing block does not parse
/// (we never rewrite what we cannot read), or when its layout cannot take the brief line by line
/// (a YAML flow mapping): the result always reads back as `brief`.
pub fn with_brief(text: &str, brief: &Brief) -> Result<String, FrontMatterError> {
    let Some(block) = locate(text) else {
        return Ok(with_new_block(text, brief));
    };
    let (entries, current) = read(&block)?;
    let inner = match block.syntax {
        Syntax::Yaml => yaml_with(&block, &entries, &current, brief)?,
        Syntax::Toml => toml_with(&block, &entries, &current, brief),
    };
    let mut out = String::with_capacity(text.len() + inner.len());
    out.push_str(&text[..block.inner_start]);
    out.push_str(&inner);
    out.push_str(&text[block.inner_end..]);
    // A layout the line editing did not foresee (a flow mapping, say) must not cost the draft
    // its front matter: only a block that reads back as `brief` is handed out.
    match parse(&out) {
        Ok(Some(written)) if written == *brief => Ok(out),
        _ => Err(FrontMatterError {
            line: 1,
            message: "the brief cannot be written into this block; edit it by hand".to_string(),
        }),
    }
}

/// One line for the editor's folded view, e.g. "brief: The title · for beginners · 800 words ·
/// 5 sections". Line breaks and terminal controls are gone: it is drawn as is.
pub fn folded_line(brief: &Brief) -> String {
    let mut parts: Vec<String> = Vec::new();
    let headline = if brief.title.is_empty() {
        &brief.goal
    } else {
        &brief.title
    };
    if !headline.is_empty() {
        parts.push(headline.clone());
    }
    if !brief.audience.is_empty() {
        parts.push(format!("for {}", brief.audience));
    }
    if !brief.tone.is_empty() {
        parts.push(brief.tone.clone());
    }
    let counts = [
        (brief.key_points.len(), "key point"),
        (brief.words.map_or(0, |n| n as usize), "word"),
        (brief.sections.map_or(0, |n| n as usize), "section"),
    ];
    for (n, noun) in counts.into_iter().filter(|(n, _)| *n > 0) {
        parts.push(format!("{n} {noun}{}", if n == 1 { "" } else { "s" }));
    }
    let line = if parts.is_empty() {
        "brief: not set".to_string()
    } else {
        format!("brief: {}", parts.join(" · "))
    };
    let line: String = line
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    strip_controls(&line).into_owned()
}

/// Where the block lies in the text, in bytes.
#[derive(Debug, Clone, Copy)]
struct Block<'a> {
    syntax: Syntax,
    /// Between the fences: whole lines, each ending with its line break.
    inner: &'a str,
    inner_start: usize,
    /// Where the closing fence's line starts.
    inner_end: usize,
    /// Just past the closing fence's line break (or the text's end).
    end: usize,
    /// The opening fence ends with `\r\n`: new lines written into the block do too.
    crlf: bool,
}

/// Something wrong inside the block: the line counted from the block's first inner line (1), and
/// why.
type InnerError = (usize, String);

impl Block<'_> {
    fn eol(&self) -> &'static str {
        if self.crlf { "\r\n" } else { "\n" }
    }

    /// `error` with its line counted in the file (the opening fence is line 1), kept within the
    /// block: a parser that fails at the end of input points past the last inner line.
    fn error(&self, (line, message): InnerError) -> FrontMatterError {
        let closing_fence = self.inner.matches('\n').count() + 2;
        FrontMatterError {
            line: (line + 1).clamp(2, closing_fence),
            message,
        }
    }
}

fn locate(text: &str) -> Option<Block<'_>> {
    let inner_start = text.find('\n')? + 1;
    let syntax = match fence(&text[..inner_start]) {
        "---" => Syntax::Yaml,
        "+++" => Syntax::Toml,
        _ => return None,
    };
    let mut start = inner_start;
    while start < text.len() {
        let end = text[start..]
            .find('\n')
            .map_or(text.len(), |i| start + i + 1);
        let closes = matches!(
            (syntax, fence(&text[start..end])),
            (Syntax::Yaml, "---" | "...") | (Syntax::Toml, "+++")
        );
        if closes {
            return Some(Block {
                syntax,
                inner: &text[inner_start..start],
                inner_start,
                inner_end: start,
                end,
                crlf: text[..inner_start].ends_with("\r\n"),
            });
        }
        start = end;
    }
    None
}

/// `line` without its line break and trailing blanks: what a fence line must equal.
fn fence(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    line.trim_end_matches([' ', '\t'])
}

/// The brief's keys, in the order new ones are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Audience,
    Goal,
    Tone,
    KeyPoints,
    Avoid,
    Words,
    Sections,
}

impl Field {
    const ALL: [Field; 8] = [
        Field::Title,
        Field::Audience,
        Field::Goal,
        Field::Tone,
        Field::KeyPoints,
        Field::Avoid,
        Field::Words,
        Field::Sections,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Audience => "audience",
            Field::Goal => "goal",
            Field::Tone => "tone",
            Field::KeyPoints => "key_points",
            Field::Avoid => "avoid",
            Field::Words => "words",
            Field::Sections => "sections",
        }
    }

    /// The field a key of the block stands for, if any (`Title` is `title` too).
    fn of_key(key: &str) -> Option<Field> {
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "points" => Some(Field::KeyPoints),
            "length" => Some(Field::Words),
            _ => Field::ALL.into_iter().find(|field| field.name() == key),
        }
    }
}

/// A field's value when the brief sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValue<'a> {
    Text(&'a str),
    List(&'a [String]),
    Number(u32),
}

fn value_of(brief: &Brief, field: Field) -> Option<FieldValue<'_>> {
    fn text(s: &str) -> Option<&str> {
        (!s.is_empty()).then_some(s)
    }
    fn list(v: &[String]) -> Option<&[String]> {
        (!v.is_empty()).then_some(v)
    }
    match field {
        Field::Title => text(&brief.title).map(FieldValue::Text),
        Field::Audience => text(&brief.audience).map(FieldValue::Text),
        Field::Goal => text(&brief.goal).map(FieldValue::Text),
        Field::Tone => text(&brief.tone).map(FieldValue::Text),
        Field::KeyPoints => list(&brief.key_points).map(FieldValue::List),
        Field::Avoid => list(&brief.avoid).map(FieldValue::List),
        Field::Words => brief.words.map(FieldValue::Number),
        Field::Sections => brief.sections.map(FieldValue::Number),
    }
}

/// A value as read from either syntax, as much as the brief needs.
#[derive(Debug)]
enum Raw {
    Null,
    Text(String),
    List(Vec<Raw>),
    /// A mapping, table, alias: no brief key takes one.
    Other,
}

/// A top-level key of the block.
#[derive(Debug)]
struct Entry {
    key: String,
    /// 1-based, counted from the block's first inner line.
    line: usize,
    /// 0-based column where the key starts.
    col: usize,
    value: Raw,
}

/// The block's top-level entries and the brief they hold.
fn read(block: &Block) -> Result<(Vec<Entry>, Brief), FrontMatterError> {
    let entries = match block.syntax {
        Syntax::Yaml => yaml_entries(block.inner),
        Syntax::Toml => toml_entries(block.inner),
    }
    .map_err(|e| block.error(e))?;
    let brief = brief_of(&entries).map_err(|e| block.error(e))?;
    Ok((entries, brief))
}

fn brief_of(entries: &[Entry]) -> Result<Brief, InnerError> {
    let mut brief = Brief::default();
    let mut seen: Vec<(Field, &str)> = Vec::new();
    for entry in entries {
        let Some(field) = Field::of_key(&entry.key) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(f, _)| *f == field) {
            let message = format!("`{}` repeats `{first}`", entry.key);
            return Err((entry.line, message));
        }
        seen.push((field, &entry.key));
        set_field(&mut brief, field, &entry.key, &entry.value).map_err(|m| (entry.line, m))?;
    }
    Ok(brief)
}

fn set_field(brief: &mut Brief, field: Field, key: &str, raw: &Raw) -> Result<(), String> {
    match field {
        Field::Title => brief.title = text_of(key, raw)?,
        Field::Audience => brief.audience = text_of(key, raw)?,
        Field::Goal => brief.goal = text_of(key, raw)?,
        Field::Tone => brief.tone = text_of(key, raw)?,
        Field::KeyPoints => brief.key_points = list_of(key, raw)?,
        Field::Avoid => brief.avoid = list_of(key, raw)?,
        Field::Words => brief.words = number_of(key, raw)?,
        Field::Sections => brief.sections = number_of(key, raw)?,
    }
    Ok(())
}

fn text_of(key: &str, raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Null => Ok(String::new()),
        Raw::Text(text) => Ok(text.clone()),
        Raw::List(_) | Raw::Other => Err(format!("`{key}` should be text")),
    }
}

fn list_of(key: &str, raw: &Raw) -> Result<Vec<String>, String> {
    let wrong = || format!("`{key}` should be a list of text");
    match raw {
        Raw::Null => Ok(Vec::new()),
        Raw::Text(text) if text.is_empty() => Ok(Vec::new()),
        Raw::Text(text) => Ok(vec![text.clone()]),
        Raw::List(items) => items
            .iter()
            .filter(|item| !matches!(item, Raw::Null))
            .map(|item| match item {
                Raw::Text(text) => Ok(text.clone()),
                _ => Err(wrong()),
            })
            .collect(),
        Raw::Other => Err(wrong()),
    }
}

fn number_of(key: &str, raw: &Raw) -> Result<Option<u32>, String> {
    match raw {
        Raw::Null => Ok(None),
        Raw::Text(text) if text.trim().is_empty() => Ok(None),
        Raw::Text(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("`{key}` should be a whole number, not `{text}`")),
        Raw::List(_) | Raw::Other => Err(format!("`{key}` should be a whole number")),
    }
}

/// A YAML node, as much as the brief needs.
#[derive(Debug)]
enum Node {
    Scalar(String, TScalarStyle),
    Seq(Vec<Marked>),
    /// Keys and values, alternating.
    Map(Vec<Marked>),
    Alias,
}

#[derive(Debug)]
struct Marked {
    node: Node,
    /// 1-based.
    line: usize,
    /// 0-based.
    col: usize,
}

/// Builds the tree of the block's first YAML document from the parser's events.
#[derive(Default)]
struct TreeBuilder {
    open: Vec<Marked>,
    root: Option<Marked>,
}

impl TreeBuilder {
    fn add(&mut self, done: Marked) {
        match self.open.last_mut() {
            Some(Marked {
                node: Node::Seq(items) | Node::Map(items),
                ..
            }) => items.push(done),
            _ => {
                if self.root.is_none() {
                    self.root = Some(done);
                }
            }
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = |node| Marked {
            node,
            line: mark.line(),
            col: mark.col(),
        };
        match event {
            Event::Scalar(text, style, ..) => self.add(at(Node::Scalar(text, style))),
            Event::Alias(_) => self.add(at(Node::Alias)),
            Event::SequenceStart(..) => self.open.push(at(Node::Seq(Vec::new()))),
            Event::MappingStart(..) => self.open.push(at(Node::Map(Vec::new()))),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(done) = self.open.pop() {
                    self.add(done);
                }
            }
            _ => {}
        }
    }
}

fn yaml_entries(inner: &str) -> Result<Vec<Entry>, InnerError> {
    let mut tree = TreeBuilder::default();
    Parser::new_from_str(inner)
        .load(&mut tree, false)
        .map_err(|e| (e.marker().line(), e.info().to_string()))?;
    let Some(root) = tree.root else {
        return Ok(Vec::new());
    };
    let items = match root.node {
        Node::Map(items) => items,
        Node::Scalar(text, TScalarStyle::Plain) if is_null(&text) => return Ok(Vec::new()),
        _ => return Err((root.line, "expected `key: value` lines".to_string())),
    };
    let mut entries = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        let name = match key.node {
            Node::Scalar(text, _) => text,
            _ => String::new(),
        };
        let value = raw_of_yaml(value.node);
        entries.push(Entry {
            key: name,
            line: key.line,
            col: key.col,
            value,
        });
    }
    Ok(entries)
}

fn raw_of_yaml(node: Node) -> Raw {
    match node {
        Node::Scalar(text, TScalarStyle::Plain) if is_null(&text) => Raw::Null,
        Node::Scalar(text, _) => Raw::Text(text),
        Node::Seq(items) => Raw::List(items.into_iter().map(|m| raw_of_yaml(m.node)).collect()),
        Node::Map(_) | Node::Alias => Raw::Other,
    }
}

/// A plain scalar YAML reads as null.
fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn toml_entries(inner: &str) -> Result<Vec<Entry>, InnerError> {
    // The read-only `Document` keeps spans, which `DocumentMut` drops: they give each key's line.
    let doc = toml_edit::Document::parse(inner).map_err(|e| toml_error(inner, &e))?;
    let table = doc.as_table();
    let entries = table
        .iter()
        .map(|(key, item)| {
            let span = table.key(key).and_then(toml_edit::Key::span);
            Entry {
                key: key.to_string(),
                line: span.map_or(1, |span| line_at(inner, span.start)),
                col: 0,
                value: raw_of_toml(item),
            }
        })
        .collect();
    Ok(entries)
}

fn toml_error(inner: &str, error: &toml_edit::TomlError) -> InnerError {
    let line = error.span().map_or(1, |span| line_at(inner, span.start));
    (line, error.message().trim().to_string())
}

/// The 1-based line of byte `at` in `text`.
fn line_at(text: &str, at: usize) -> usize {
    text.bytes().take(at).filter(|&b| b == b'\n').count() + 1
}

fn raw_of_toml(item: &Item) -> Raw {
    match item {
        Item::None => Raw::Null,
        Item::Value(value) => raw_of_toml_value(value),
        Item::Table(_) | Item::ArrayOfTables(_) => Raw::Other,
    }
}

fn raw_of_toml_value(value: &toml_edit::Value) -> Raw {
    match value {
        toml_edit::Value::String(s) => Raw::Text(s.value().clone()),
        toml_edit::Value::Integer(n) => Raw::Text(n.value().to_string()),
        toml_edit::Value::Array(items) => Raw::List(items.iter().map(raw_of_toml_value).collect()),
        toml_edit::Value::InlineTable(_) => Raw::Other,
        // A float, a boolean or a date: text fields take it as written, numbers refuse it.
        other => Raw::Text(other.clone().decorated("", "").to_string()),
    }
}

fn with_new_block(text: &str, brief: &Brief) -> String {
    let crlf = text.find('\n').is_some_and(|i| text[..i].ends_with('\r'));
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut inner = String::new();
    for field in Field::ALL {
        if let Some(value) = value_of(brief, field) {
            push_yaml_entry(&mut inner, field.name(), value, eol);
        }
    }
    if inner.is_empty() {
        return text.to_string();
    }
    format!("---{eol}{inner}---{eol}{text}")
}

/// The YAML block's inside with the brief written in, line by line: an entry is its key's line
/// through the line before the next top-level key, less the blank lines and column-0 comments
/// that end it (those stay, with every line outside the brief's entries).
fn yaml_with(
    block: &Block,
    entries: &[Entry],
    current: &Brief,
    brief: &Brief,
) -> Result<String, FrontMatterError> {
    if Field::ALL
        .into_iter()
        .all(|field| value_of(brief, field) == value_of(current, field))
    {
        return Ok(block.inner.to_string());
    }
    for (i, entry) in entries.iter().enumerate() {
        let follows = i == 0 || entries[i - 1].line < entry.line;
        if entry.col != 0 || !follows {
            let why = "a brief can only be written where each key starts its own line";
            return Err(block.error((entry.line, why.to_string())));
        }
    }
    let lines: Vec<&str> = block.inner.split_inclusive('\n').collect();
    let eol = block.eol();
    let mut out = String::with_capacity(block.inner.len() + 256);
    let mut copied = 0;
    let mut present = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(field) = Field::of_key(&entry.key) else {
            continue;
        };
        present.push(field);
        let wanted = value_of(brief, field);
        if wanted == value_of(current, field) {
            continue;
        }
        let start = entry.line.saturating_sub(1).max(copied);
        let next = entries.get(i + 1).map(|next| next.line.saturating_sub(1));
        let end = entry_end(&lines, start, next);
        out.extend(lines.get(copied..start).unwrap_or_default().iter().copied());
        copied = end;
        if let Some(value) = wanted {
            push_yaml_entry(&mut out, &entry.key, value, eol);
        }
    }
    out.extend(lines.get(copied..).unwrap_or_default().iter().copied());
    for field in Field::ALL
        .into_iter()
        .filter(|field| !present.contains(field))
    {
        if let Some(value) = value_of(brief, field) {
            push_yaml_entry(&mut out, field.name(), value, eol);
        }
    }
    Ok(out)
}

/// Where the entry starting at line index `start` ends (exclusive): at the next key's line, or
/// the block's end, less the blank lines and column-0 comments before it.
fn entry_end(lines: &[&str], start: usize, next: Option<usize>) -> usize {
    let mut end = next.unwrap_or(lines.len()).min(lines.len()).max(start + 1);
    while end > start + 1 {
        let line = lines[end - 1];
        if line.trim().is_empty() || line.starts_with('#') {
            end -= 1;
        } else {
            break;
        }
    }
    end
}

fn push_yaml_entry(out: &mut String, key: &str, value: FieldValue, eol: &str) {
    match value {
        FieldValue::Text(text) => {
            let _ = write!(out, "{key}: {}{eol}", yaml_scalar(text));
        }
        FieldValue::Number(n) => {
            let _ = write!(out, "{key}: {n}{eol}");
        }
        FieldValue::List(items) => {
            let _ = write!(out, "{key}:{eol}");
            for item in items {
                let _ = write!(out, "  - {}{eol}", yaml_scalar(item));
            }
        }
    }
}

/// `text` as a YAML scalar that reads back as exactly this string: plain when that is safe,
/// double-quoted with escapes otherwise.
fn yaml_scalar(text: &str) -> String {
    if is_plain_safe(text) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters YAML does not allow raw (controls, including NEL) or that some readers take for
/// line breaks or a byte order mark.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// True when `text` written plain reads back as this same string, in YAML 1.1 readers too.
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let indicator = "-?:,[]{}#&*!|>'\"%@`~".contains(first);
    let blank_edge = first.is_whitespace() || text.ends_with(char::is_whitespace);
    let breaks_mapping = text.contains(": ") || text.contains(" #") || text.ends_with(':');
    // Numbers, and the words YAML 1.1 reads as booleans or null.
    let numberish =
        (first.is_ascii_digit() || "+.".contains(first)) && !text.contains(char::is_whitespace);
    let keyword = matches!(
        text.to_ascii_lowercase().as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    !(indicator
        || blank_edge
        || breaks_mapping
        || numberish
        || keyword
        || text.chars().any(|c| needs_escape(c) || c == '\t'))
}

/// The TOML block's inside with the brief written in through `toml_edit`, which keeps every
/// untouched key, comment and blank line as written.
fn toml_with(block: &Block, entries: &[Entry], current: &Brief, brief: &Brief) -> String {
    // `read` parsed the same text a moment ago; this cannot fail, but never rewrite blind.
    let Ok(mut doc) = block.inner.parse::<DocumentMut>() else {
        return block.inner.to_string();
    };
    let mut changed = false;
    for field in Field::ALL {
        let wanted = value_of(brief, field);
        let existing = entries
            .iter()
            .find(|e| Field::of_key(&e.key) == Some(field));
        match (existing, wanted) {
            (Some(_), _) if wanted == value_of(current, field) => continue,
            (Some(entry), Some(value)) => replace_toml(doc.as_table_mut(), &entry.key, value),
            (Some(entry), None) => remove_toml(&mut doc, &entry.key),
            (None, Some(value)) => {
                doc.as_table_mut()
                    .insert(field.name(), Item::Value(toml_value(value)));
            }
            (None, None) => continue,
        }
        changed = true;
    }
    if !changed {
        return block.inner.to_string();
    }
    // toml_edit writes `\n` throughout; a CRLF block gets its line ends back.
    let out = doc.to_string();
    if block.crlf { to_crlf(&out) } else { out }
}

/// Sets `key`'s value, keeping the spacing and trailing comment around the old one.
fn replace_toml(table: &mut Table, key: &str, value: FieldValue) {
    let mut new = toml_value(value);
    if let Some(item) = table.get_mut(key) {
        if let Some(old) = item.as_value() {
            *new.decor_mut() = old.decor().clone();
        }
        *item = Item::Value(new);
    }
}

/// Removes `key`, handing the comment and blank lines above it to whatever comes next, so they
/// stay where they were.
fn remove_toml(doc: &mut DocumentMut, key: &str) {
    let table = doc.as_table_mut();
    let Some(index) = table.iter().position(|(k, _)| k == key) else {
        return;
    };
    let Some((removed, _)) = table.remove_entry(key) else {
        return;
    };
    let prefix = removed
        .leaf_decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("");
    // Only whole lines: what follows the last line break is the key's own indentation.
    let Some(above) = prefix.rfind('\n').map(|i| &prefix[..=i]) else {
        return;
    };
    let next_key = table
        .iter()
        .skip(index)
        .find(|(_, item)| item.is_value())
        .map(|(k, _)| k.to_string());
    if let Some(mut next) = next_key.and_then(|k| table.key_mut(&k)) {
        prepend(next.leaf_decor_mut(), above);
    } else if let Some(decor) = first_table_decor(table) {
        prepend(decor, above);
    } else {
        let trailing = doc.trailing().as_str().unwrap_or("");
        let trailing = format!("{above}{trailing}");
        doc.set_trailing(trailing);
    }
}

fn prepend(decor: &mut toml_edit::Decor, text: &str) {
    let own = decor.prefix().and_then(|p| p.as_str()).unwrap_or("");
    let joined = format!("{text}{own}");
    decor.set_prefix(joined);
}

/// The decor of the `[table]` written first, where the root's keys end.
fn first_table_decor(table: &mut Table) -> Option<&mut toml_edit::Decor> {
    table
        .iter_mut()
        .filter_map(|(_, item)| match item {
            Item::Table(t) => Some((t.position()?, t.decor_mut())),
            Item::ArrayOfTables(tables) => {
                let first = tables.iter_mut().next()?;
                Some((first.position()?, first.decor_mut()))
            }
            Item::None | Item::Value(_) => None,
        })
        .min_by_key(|(position, _)| *position)
        .map(|(_, decor)| decor)
}

fn toml_value(value: FieldValue) -> toml_edit::Value {
    match value {
        FieldValue::Text(text) => toml_string(text),
        FieldValue::Number(n) => toml_edit::Value::from(i64::from(n)),
        FieldValue::List(items) => {
            let mut array: toml_edit::Array = items.iter().map(|item| toml_string(item)).collect();
            array.fmt();
            toml_edit::Value::Array(array)
        }
    }
}

/// `text` as a one-line TOML basic string: toml_edit would pick a multi-line string for text with
/// line breaks, and raw line breaks inside a value would meet the CRLF conversion.
fn toml_string(text: &str) -> toml_edit::Value {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
        .parse()
        .unwrap_or_else(|_| toml_edit::Value::from(text))
}

/// `text` with every `\n` not already after `\r` turned into `\r\n`.
fn to_crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn brief_of_text(text: &str) -> Brief {
        parse(text).unwrap().unwrap()
    }

    #[test]
    fn a_text_without_front_matter_has_none() {
        for text in [
            "",
            "# Title\n\nBody.\n",
            "\n---\ntitle: x\n---\n",
            "--- x\ntitle: x\n---\n",
            "---",
        ] {
            assert_eq!(block_len(text), 0, "{text:?}");
            assert_eq!(syntax(text), None);
            assert_eq!(parse(text), Ok(None));
        }
    }

    #[test]
    fn an_unclosed_fence_is_body_text() {
        let text = "---\ntitle: x\n\nA thematic break above, and no closing fence.\n";
        assert_eq!(block_len(text), 0);
        assert_eq!(parse(text), Ok(None));
        assert_eq!(block_len("+++\ntitle = 'x'\n---\n"), 0);
    }

    #[test]
    fn yaml_front_matter_gives_the_brief() {
        let text = "---\ntitle: 写作入门\naudience: 面向初学者\ngoal: \"Learn: the basics\"\n\
            tone: friendly # for now\npoints:\n  - one\n  - 二\navoid: jargon\nlength: \"800\"\n\
            sections: 5\ndate: 2024-05-01\ntags: [a, b]\n---\n# Body\n";
        assert_eq!(syntax(text), Some(Syntax::Yaml));
        assert_eq!(&text[block_len(text)..], "# Body\n");
        let expected = Brief {
            title: "写作入门".into(),
            audience: "面向初学者".into(),
            goal: "Learn: the basics".into(),
            tone: "friendly".into(),
            key_points: vec!["one".into(), "二".into()],
            avoid: vec!["jargon".into()],
            words: Some(800),
            sections: Some(5),
        };
        assert_eq!(brief_of_text(text), expected);
    }

    #[test]
    fn toml_front_matter_gives_the_brief() {
        let text = "+++ \ntitle = \"Rust 入门\"\ndraft = true\nkey_points = [\"a\", \"b\"]\n\
            avoid = \"hype\"\nwords = 1_200\nsections = \"4\"\n[params]\ntone = \"not the brief's\"\n+++\nBody";
        assert_eq!(syntax(text), Some(Syntax::Toml));
        assert_eq!(&text[block_len(text)..], "Body");
        let expected = Brief {
            title: "Rust 入门".into(),
            key_points: vec!["a".into(), "b".into()],
            avoid: vec!["hype".into()],
            words: Some(1200),
            sections: Some(4),
            ..Brief::default()
        };
        assert_eq!(brief_of_text(text), expected);
    }

    #[test]
    fn empty_values_and_empty_blocks_set_nothing() {
        assert_eq!(brief_of_text("---\n---\n"), Brief::default());
        assert_eq!(
            brief_of_text("---\n# only a comment\n...\n"),
            Brief::default()
        );
        assert_eq!(brief_of_text("+++\n+++"), Brief::default());
        let text = "---\ntitle:\ngoal: ''\nkey_points: []\nwords: ~\nsections: \"\"\n---\n";
        assert_eq!(brief_of_text(text), Brief::default());
    }

    #[test]
    fn crlf_and_trailing_blanks_on_fences_are_tolerated() {
        let text = "---  \r\ntitle: Hi\r\nwords: 300\r\n--- \r\nBody\r\n";
        assert_eq!(&text[block_len(text)..], "Body\r\n");
        let brief = brief_of_text(text);
        assert_eq!((brief.title.as_str(), brief.words), ("Hi", Some(300)));
        let changed = Brief {
            title: "Hello".into(),
            tone: "calm".into(),
            ..brief
        };
        let written = with_brief(text, &changed).unwrap();
        assert_eq!(
            written,
            "---  \r\ntitle: Hello\r\nwords: 300\r\ntone: calm\r\n--- \r\nBody\r\n"
        );
        let toml = "+++\r\n# c\r\ntitle = \"Hi\"\r\n+++\r\nBody\r\n";
        let written = with_brief(
            toml,
            &Brief {
                words: Some(9),
                ..brief_of_text(toml)
            },
        )
        .unwrap();
        assert_eq!(
            written,
            "+++\r\n# c\r\ntitle = \"Hi\"\r\nwords = 9\r\n+++\r\nBody\r\n"
        );
    }

    #[test]
    fn a_yaml_syntax_error_names_its_file_line() {
        let text = "---\ntitle: ok\nfoo: b\n c: d\n---\nBody\n";
        let error = parse(text).unwrap_err();
        assert_eq!(error.line, 4, "{error}");
        assert!(
            error.to_string().starts_with("front matter, line 4: "),
            "{error}"
        );
        let unterminated = "---\ntitle: ok\ngoal: \"never closed\n---\n";
        assert_eq!(parse(unterminated).unwrap_err().line, 3);
        assert_eq!(parse("---\nJust a sentence.\n---\n").unwrap_err().line, 2);
    }

    #[test]
    fn a_toml_syntax_error_names_its_file_line() {
        let text = "+++\ntitle = \"x\"\n\nwords = \n+++\n";
        let error = parse(text).unwrap_err();
        assert_eq!(error.line, 4, "{error}");
    }

    #[test]
    fn a_wrongly_typed_key_names_its_line() {
        let error = parse("---\ntitle: x\n\nwords: many\n---\n").unwrap_err();
        assert_eq!(error.line, 4);
        assert!(
            error.message.contains("`words`") && error.message.contains("many"),
            "{error}"
        );
        let error = parse("---\ntitle:\n  nested: map\n---\n").unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse("---\nkey_points:\n  - ok\n  - [nested]\n---\n").unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse("+++\ntitle = \"x\"\nkey_points = { a = 1 }\n+++\n").unwrap_err();
        assert_eq!(error.line, 3);
        let error = parse("+++\nsections = 2.5\n+++\n").unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse("---\nkey_points: [a]\ndate: 1\npoints: [b]\n---\n").unwrap_err();
        assert_eq!(
            (error.line, error.message.as_str()),
            (4, "`points` repeats `key_points`")
        );
    }

    #[test]
    fn writing_yaml_keeps_everything_but_the_brief_byte_for_byte() {
        let text = "---\n# Hugo front matter\ndate: 2024-05-01\ntitle: Old title   # working title\n\
            tags: [rust, cli]\nkey_points:\n  - one\n  # about two\n  - two\n\ndraft: true\n\
            words: 500\n---\nBody text: stays.\n\n---\nNot front matter.\n";
        let brief = Brief {
            title: "New: a guide".into(),
            audience: "面向初学者".into(),
            key_points: vec!["α".into(), "yes".into()],
            sections: Some(5),
            ..Brief::default()
        };
        let expected = "---\n# Hugo front matter\ndate: 2024-05-01\ntitle: \"New: a guide\"\n\
            tags: [rust, cli]\nkey_points:\n  - α\n  - \"yes\"\n\ndraft: true\n\
            audience: 面向初学者\nsections: 5\n---\nBody text: stays.\n\n---\nNot front matter.\n";
        assert_eq!(with_brief(text, &brief).unwrap(), expected);
    }

    #[test]
    fn writing_toml_keeps_everything_but_the_brief_byte_for_byte() {
        let text = "+++\n# Hugo\ndate = 2024-05-01\ntitle = \"Old\" # working title\n\n\
            # who reads it\naudience = \"devs\"\ndraft = true\nwords = \"500\"\n\n[params]\nx = 1\n+++\nBody\n";
        let brief = Brief {
            title: "New \"quoted\"".into(),
            key_points: vec!["a".into(), "面向初学者".into()],
            words: Some(800),
            ..Brief::default()
        };
        let expected = "+++\n# Hugo\ndate = 2024-05-01\ntitle = \"New \\\"quoted\\\"\" # working title\n\n\
            # who reads it\ndraft = true\nwords = 800\nkey_points = [\"a\", \"面向初学者\"]\n\n[params]\nx = 1\n+++\nBody\n";
        assert_eq!(with_brief(text, &brief).unwrap(), expected);
    }

    #[test]
    fn a_brief_already_written_leaves_the_text_as_it_is() {
        for text in [
            "---\ntitle:   'Spaced'  # note\nkey_points: [a, b]\nwords: \"800\"\nempty:\n---\nBody",
            "+++\ntitle = 'x'   # note\npoints = [ 'a' ,'b' ]\n+++\nBody",
            "---\r\ntitle: 面向初学者\r\n---\r\n",
        ] {
            assert_eq!(with_brief(text, &brief_of_text(text)).unwrap(), text);
        }
    }

    #[test]
    fn removing_a_key_removes_its_lines_only() {
        let text =
            "---\ntitle: T\ntone: dry\n# keep me\n\nkey_points:\n- a\n- b\n\n# and me\n---\nBody\n";
        let brief = Brief {
            title: "T".into(),
            ..Brief::default()
        };
        let expected = "---\ntitle: T\n# keep me\n\n\n# and me\n---\nBody\n";
        assert_eq!(with_brief(text, &brief).unwrap(), expected);
        let toml = "+++\ntitle = \"T\"\n\n# about the tone\ntone = \"dry\" # gone with it\n+++\n";
        let expected = "+++\ntitle = \"T\"\n\n# about the tone\n+++\n";
        assert_eq!(with_brief(toml, &brief).unwrap(), expected);
        let with_table = "+++\ntone = \"dry\"\n# params next\n\n[params]\n+++\n";
        let expected = "+++\n# params next\n\n[params]\n+++\n";
        assert_eq!(with_brief(with_table, &Brief::default()).unwrap(), expected);
    }

    #[test]
    fn a_text_without_front_matter_gets_a_yaml_block() {
        let brief = Brief {
            title: "面向初学者: 入门".into(),
            words: Some(800),
            ..Brief::default()
        };
        let written = with_brief("# Body\n", &brief).unwrap();
        assert_eq!(
            written,
            "---\ntitle: \"面向初学者: 入门\"\nwords: 800\n---\n# Body\n"
        );
        let crlf = with_brief("Body\r\nmore\r\n", &brief).unwrap();
        assert_eq!(
            crlf,
            "---\r\ntitle: \"面向初学者: 入门\"\r\nwords: 800\r\n---\r\nBody\r\nmore\r\n"
        );
        assert_eq!(
            with_brief("# Body\n", &Brief::default()).unwrap(),
            "# Body\n"
        );
        assert_eq!(with_brief("", &Brief::default()).unwrap(), "");
        let unclosed = "---\nnot closed\n";
        assert_eq!(
            with_brief(unclosed, &brief).unwrap(),
            format!("---\ntitle: \"面向初学者: 入门\"\nwords: 800\n---\n{unclosed}")
        );
    }

    #[test]
    fn a_block_that_does_not_parse_is_never_rewritten() {
        let brief = Brief {
            title: "x".into(),
            ..Brief::default()
        };
        assert_eq!(
            with_brief("---\ntitle: [a\n---\nBody", &brief)
                .unwrap_err()
                .line,
            3
        );
        assert!(with_brief("+++\ntitle = \n+++\n", &brief).is_err());
        assert!(with_brief("---\nwords: lots\n---\n", &brief).is_err());
        // A flow mapping cannot be edited line by line: refused, not broken.
        let flow = "---\n{title: a, goal: b}\n---\n";
        assert!(with_brief(flow, &brief).is_err());
        assert_eq!(brief_of_text(flow).goal, "b");
    }

    #[test]
    fn the_folded_line_sums_the_brief_up() {
        let brief = Brief {
            title: "The title".into(),
            audience: "beginners".into(),
            words: Some(800),
            sections: Some(5),
            ..Brief::default()
        };
        assert_eq!(
            folded_line(&brief),
            "brief: The title · for beginners · 800 words · 5 sections"
        );
        let brief = Brief {
            goal: "教会读者\n写作".into(),
            tone: "\u{1b}[31mred".into(),
            key_points: vec!["a".into()],
            sections: Some(1),
            ..Brief::default()
        };
        assert_eq!(
            folded_line(&brief),
            "brief: 教会读者 写作 · red · 1 key point · 1 section"
        );
        assert_eq!(folded_line(&Brief::default()), "brief: not set");
    }

    const TRICKY: &[&str] = &[
        "面向初学者",
        "say \"hi\"",
        "it's",
        "key: value",
        "a # not a comment",
        "- dash",
        "yes",
        "No",
        "123",
        "1.5",
        "0x1F",
        "~",
        "null",
        "",
        " padded ",
        "#tag",
        "[list]",
        "{map}",
        "*star",
        "&anchor",
        "!bang",
        "|pipe",
        ">fold",
        "%pct",
        "@at",
        "`tick`",
        "ends:",
        "tab\there",
        "line\nbreak",
        "crlf\r\n",
        "back\\slash",
        "\u{1b}[31m",
        "emoji 🎉",
        "--- ",
        "...",
        "+++",
        "true",
        "2024-05-01",
        "a:b",
        "\u{2028}",
        "\u{feff}x",
        "'single'",
        "?q",
        ",comma",
        "  ",
        "\t",
        "\u{85}",
        "12:30",
        ".inf",
        "=",
        "<<",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(TRICKY).prop_map(String::from),
            any::<String>(),
            "[a-z 面向初学者:#\"'\\-]{0,12}",
        ]
    }

    fn brief() -> impl Strategy<Value = Brief> {
        let texts = (text(), text(), text(), text());
        let lists = (
            prop::collection::vec(text(), 0..3),
            prop::collection::vec(text(), 0..3),
        );
        let numbers = (any::<Option<u32>>(), any::<Option<u32>>());
        (texts, lists, numbers).prop_map(
            |((title, audience, goal, tone), (key_points, avoid), (words, sections))| Brief {
                title,
                audience,
                goal,
                tone,
                key_points,
                avoid,
                words,
                sections,
            },
        )
    }

    proptest! {
        #[test]
        fn every_brief_reads_back_as_written(brief in brief()) {
            let bases = [
                ("---\ndate: 2024-05-01\ntitle: old\n# comment\n---\n", "Body: text\n", "date: 2024-05-01\n"),
                ("+++\ndate = 2024-05-01\ntitle = \"old\"\n+++\n", "Body\n", "date = 2024-05-01\n"),
                ("---\r\ntags: [a]\r\nwords: 3\r\n---\r\n", "Body\r\n", "tags: [a]\r\n"),
                ("", "Body only\n", ""),
            ];
            for (block, body, kept) in bases {
                let text = format!("{block}{body}");
                let written = with_brief(&text, &brief).unwrap();
                prop_assert_eq!(parse(&written).unwrap().unwrap_or_default(), brief.clone());
                prop_assert_eq!(&written[block_len(&written)..], body);
                prop_assert!(written[..block_len(&written)].contains(kept));
                if body.ends_with("\r\n") {
                    prop_assert!(!written.replace("\r\n", "").contains('\n'));
                }
                prop_assert_eq!(with_brief(&written, &brief).unwrap(), written);
            }
        }
    }
}
