//! No two source files import each other, directly or round a circle: layers point one way
//! (ARCHITECTURE.md). A file's `use` of another module is an edge; a submodule's use of its own
//! parent or an ancestor is not, since a submodule is a part of that module. Test code is left
//! out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every source file under `src/`, by module path ("engine::llama::worker"; the crate root is "").
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut name = rel.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_string();
            }
            if name == "lib" || name == "main" {
                name = String::new();
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            // Test modules may import anything they test.
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or("")
                .to_string();
            found.insert(name, code);
        }
    }
    found
}

/// The paths a file's `use` declarations name, braces expanded: "crate::a::b", "super::c".
fn used_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = find_use(rest) {
        let after = &rest[at..];
        let end = after.find(';').unwrap_or(after.len());
        let tree: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand(&tree, "", &mut paths);
        rest = &after[end..];
    }
    paths
}

/// Where the next `use` declaration's tree starts (after "use "), at the start of a line.
fn find_use(code: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let trimmed = trimmed
            .strip_prefix("pub(crate) ")
            .or_else(|| trimmed.strip_prefix("pub(super) "))
            .or_else(|| trimmed.strip_prefix("pub "))
            .unwrap_or(trimmed);
        if let Some(tree) = trimmed.strip_prefix("use ") {
            return Some(offset + line.len() - tree.len());
        }
        offset += line.len();
    }
    None
}

/// Expands a use tree ("a::{b,c::{d,e}}") into whole paths.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let join = |p: &str, q: &str| {
        if p.is_empty() {
            q.to_string()
        } else if q.is_empty() || q == "self" {
            p.to_string()
        } else {
            format!("{p}::{q}")
        }
    };
    match tree.find('{') {
        None => out.push(join(prefix, tree.split("as").next().unwrap_or(tree))),
        Some(open) => {
            let head = tree[..open].trim_end_matches("::");
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &join(prefix, head), out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < inner.len() {
                expand(&inner[start..], &join(prefix, head), out);
            }
        }
    }
}

/// The source file `path`, used from module `from`, lives in; None outside the crate.
fn resolve(from: &str, path: &str, files: &BTreeMap<String, String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let mut base: Vec<&str> = from.split("::").filter(|p| !p.is_empty()).collect();
    match parts.first() {
        Some(&"crate") => {
            base.clear();
            parts.remove(0);
        }
        Some(&"self") => {
            parts.remove(0);
        }
        Some(&"super") => {
            while parts.first() == Some(&"super") {
                base.pop();
                parts.remove(0);
            }
        }
        Some(first) => {
            // A child module of `from`, else an outside crate.
            let child = [base.clone(), vec![*first]].concat().join("::");
            if !files.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    (0..=parts.len())
        .rev()
        .map(|n| [base.clone(), parts[..n].to_vec()].concat().join("::"))
        .find(|m| files.contains_key(m))
}

fn edges(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    files
        .iter()
        .map(|(from, code)| {
            let to = used_paths(code)
                .iter()
                .filter_map(|p| resolve(from, p, files))
                // A submodule using its own ancestors is part of them.
                .filter(|to| to != from && !to.is_empty() && !from.starts_with(&format!("{to}::")))
                .collect();
            (from.clone(), to)
        })
        .collect()
}

/// A circle of imports, if there is one: the modules round it, the first repeated at the end.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_source_files_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = modules(&src);
    assert!(files.len() > 50, "the sources were found");
    let graph = edges(&files);
    assert!(
        graph["engine::llama::worker"].contains("engine::protocol"),
        "imports were read"
    );
    if let Some(circle) = find_circle(&graph) {
        panic!("an import circle: {}", circle.join(" -> "));
    }
}

#[test]
fn a_circle_is_found_and_a_use_of_a_parent_is_not_one() {
    let mut files = BTreeMap::new();
    files.insert("a".to_string(), "use crate::b::{self, X};\n".to_string());
    files.insert("b".to_string(), "use super::c::Y;\n".to_string());
    files.insert(
        "c".to_string(),
        "pub(crate) use crate::{a::Z, d};\n".to_string(),
    );
    files.insert("d".to_string(), "use std::fmt;\n".to_string());
    files.insert("a::part".to_string(), "use super::Whole;\n".to_string());
    let graph = edges(&files);
    assert_eq!(
        find_circle(&graph).unwrap(),
        ["a", "b", "c", "a"].map(String::from)
    );
    files.insert("c".to_string(), "use crate::d;\n".to_string());
    assert_eq!(find_circle(&edges(&files)), None);
}
