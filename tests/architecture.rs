//! The module graph, checked: no import cycle between any two files of `src/`, and the layers
//! of docs/architecture.md hold (data flows one way: a module imports only modules below it).
//!
//! It reads the sources as text: every `use` (braces expanded) and every inline `crate::…`
//! path, resolved to the longest module prefix that is a file of the crate. A `mod` declaration
//! is not an import, nor is a module's use of its own descendants (a façade re-exporting them):
//! their use of it, of each other and of everything else is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a module may import only from its own top-level module or from a
/// lower layer. (Order and names as in docs/architecture.md.)
const LAYERS: &[&[&str]] = &[
    &["config", "protocol", "json_policy"],
    &["error", "metrics"],
    // The accept loop answers its own refusals (413, 408) with the one error type.
    &["credentials", "serve"],
    &["store"],
    &["bus"],
    &["hub"],
    &["chat"],
    &["state"],
    &["auth"],
    &["gateway"],
    &["http"],
    &["app"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

/// Every module of the library and its file: `a::b` for src/a/b.rs or src/a/b/mod.rs.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(src).unwrap();
            if rel.starts_with("bin") || rel == Path::new("main.rs") {
                continue; // separate crates
            }
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut parts: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => out.push(tree.split(" as ").next().unwrap().trim().to_string()),
        Some(open) => {
            let prefix = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let (mut depth, mut start) = (0, 0);
            let mut items = Vec::new();
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            for item in items.into_iter().filter(|i| !i.trim().is_empty()) {
                expand(&format!("{prefix}{}", item.trim()), out);
            }
        }
    }
}

/// The paths a file names: its `use` trees and inline `crate::`/`super::` paths, outside
/// comment lines and unit tests. Rough, but enough for this code base.
fn paths(source: &str) -> Vec<String> {
    // Unit tests sit at the end of a file; their `use super::*` is the file itself.
    let source = source.split("#[cfg(test)]").next().unwrap();
    let code: String = source
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let tail = &rest[at + 4..];
        rest = tail;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(end) = tail.find(';') {
            let tree = &tail[..end];
            if tree.contains('\n') && !tree.contains('{') {
                continue;
            }
            expand(tree, &mut out);
        }
    }
    for prefix in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                out.push(tail[..end].trim_end_matches(':').to_string());
            }
            rest = &tail[prefix.len()..];
        }
    }
    out
}

/// The module a path from `module` lands in: the longest prefix that is a module, or `None`
/// for paths outside the crate.
fn resolve(
    module: &str,
    is_dir_module: bool,
    path: &str,
    known: &BTreeMap<String, PathBuf>,
) -> Option<String> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = if module.is_empty() {
        vec![]
    } else {
        module.split("::").collect()
    };
    let mut rest = &segments[..];
    match rest.first().copied() {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first() == Some(&"super") {
                // A file module's `super` is its parent; so is a mod.rs's.
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A bare path names a child module (from a mod.rs or lib.rs) or something outside.
            let child = if base.is_empty() {
                first.to_string()
            } else {
                format!("{}::{first}", base.join("::"))
            };
            if !(is_dir_module || module.is_empty()) || !known.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    let mut best = None;
    let mut candidate = base.clone();
    if known.contains_key(&candidate.join("::")) {
        best = Some(candidate.join("::"));
    }
    for segment in rest {
        candidate.push(segment);
        let name = candidate.join("::");
        if known.contains_key(&name) {
            best = Some(name);
        }
    }
    best
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &known {
        let source = std::fs::read_to_string(file).unwrap();
        let is_dir_module = file.file_name().is_some_and(|n| n == "mod.rs");
        let out = edges.entry(module.clone()).or_default();
        for path in paths(&source) {
            if let Some(target) = resolve(module, is_dir_module, &path, &known) {
                // A module may use what it declares: a parent composing (or re-exporting) its
                // own children is not a cycle with them; their use of it, or of each other, is
                // counted.
                let own_child = module.is_empty() || target.starts_with(&format!("{module}::"));
                if &target != module && !target.is_empty() && !own_child {
                    out.insert(target);
                }
            }
        }
    }
    edges
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        if let Some(targets) = w.edges.get(v) {
            for t in targets {
                let t = t.as_str();
                if !w.index.contains_key(t) {
                    visit(w, t);
                    let low = w.low[t].min(w.low[v]);
                    w.low.insert(v, low);
                } else if w.on_stack.contains(t) {
                    let low = w.index[t].min(w.low[v]);
                    w.low.insert(v, low);
                }
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top.to_string());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let edges = graph();
    assert!(edges.len() > 20, "the graph was read: {edges:?}");
    assert!(
        edges["chat::rooms"].contains("chat::access"),
        "imports are seen: {:?}",
        edges["chat::rooms"]
    );
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles: {found:#?}");
}

#[test]
fn every_module_imports_only_from_itself_or_a_lower_layer() {
    let mut wrong = Vec::new();
    for (module, targets) in graph() {
        if module.is_empty() {
            continue; // the crate root declares and re-exports
        }
        let Some(from) = layer_of(top(&module)) else {
            wrong.push(format!("{module}: not in any layer"));
            continue;
        };
        for target in targets {
            if top(&target) == top(&module) {
                continue;
            }
            match layer_of(top(&target)) {
                Some(to) if to < from => {}
                _ => wrong.push(format!("{module} -> {target}")),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
}

#[test]
fn the_reader_resolves_the_forms_of_import_the_code_uses() {
    let mut out = Vec::new();
    expand("crate::{a::{b, c as d}, e}", &mut out);
    assert_eq!(out, ["crate::a::b", "crate::a::c", "crate::e"]);
    let known: BTreeMap<String, PathBuf> = ["", "a", "a::b", "c"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    assert_eq!(
        resolve("c", false, "crate::a::b::X", &known).as_deref(),
        Some("a::b")
    );
    assert_eq!(
        resolve("a::b", false, "super::Y", &known).as_deref(),
        Some("a")
    );
    assert_eq!(resolve("a", true, "b::Z", &known).as_deref(), Some("a::b"));
    assert_eq!(
        resolve("c", false, "b::Z", &known),
        None,
        "not a child of a file module"
    );
    assert_eq!(resolve("a", true, "std::sync::Arc", &known), None);
}
