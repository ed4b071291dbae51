//! The engine's layers, checked from its source (ARCHITECTURE.md, "Layers").
//!
//! Each module of `engine/src` (a file, or a directory with its children) belongs to one
//! layer, and may name (`crate::module`) only modules of its own layer or of layers below
//! it; the whole graph has no cycle. Comments and `#[cfg(test)]` code are not counted:
//! tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first. Keep in step with ARCHITECTURE.md.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "ids",
            "hashing",
            "chunked",
            "clock",
            "error",
            "order",
            "cursor",
            "validate",
            "timer",
            "store",
            "records",
            "upgrade",
            "seen",
            "item_seqs",
        ],
    ),
    (
        "shapes",
        &["item_view", "changes", "page", "walls", "deadline_index"],
    ),
    ("state", &["state"]),
    ("checkpoint", &["checkpoint"]),
    ("writer", &["engine"]),
    ("backup", &["backup"]),
    ("entries and rules", &["entry", "rules"]),
    ("follows", &["follow"]),
    ("feed", &["feed"]),
    ("focus and posts", &["focus", "posts"]),
    ("timelines", &["timeline"]),
    ("activities", &["activity"]),
    ("items", &["item"]),
    (
        "commands over items",
        &["board", "events", "auth", "counters", "view", "deadlines"],
    ),
    ("jobs", &["jobs"]),
    ("auto-follow rules", &["autofollow"]),
    ("open", &["open"]),
];

/// The source of `path` without comments and without its `#[cfg(test)]` part.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    code_of(&text)
}

fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::name` in `code`.
fn named(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// Module → the modules it names, for every module under `src`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .expect("a file name")
                .trim_end_matches(".rs")
                .to_string();
            if top == "lib" {
                continue;
            }
            let names = named(&code(&path));
            graph.entry(top).or_default().extend(names);
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (m, deps) in &mut graph {
        deps.retain(|d| d != m && modules.contains(d));
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let placed: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let unique: BTreeSet<&str> = placed.iter().copied().collect();
    assert_eq!(placed.len(), unique.len(), "a module is in two layers");
    let modules: BTreeSet<String> = graph().into_keys().collect();
    let missing: Vec<&String> = modules
        .iter()
        .filter(|m| !unique.contains(m.as_str()))
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
    let gone: Vec<&&str> = unique.iter().filter(|m| !modules.contains(**m)).collect();
    assert!(
        gone.is_empty(),
        "layers name modules that do not exist: {gone:?}"
    );
}

#[test]
fn modules_name_only_their_layer_and_below() {
    let layer_of: BTreeMap<&str, (usize, &str)> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (name, ms))| ms.iter().map(move |m| (*m, (i, *name))))
        .collect();
    let mut upward = Vec::new();
    for (m, deps) in graph() {
        let Some((from, from_name)) = layer_of.get(m.as_str()) else {
            continue;
        };
        for d in deps {
            if let Some((to, to_name)) = layer_of.get(d.as_str()) {
                if to > from {
                    upward.push(format!("{m} ({from_name}) names {d} ({to_name})"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports up the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = graph();
    // Depth-first search; a grey node met again closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Grey,
        Black,
    }
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(m.to_string(), Mark::Grey);
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            match marks.get(d) {
                Some(Mark::Grey) => {
                    let start = path.iter().position(|p| p == d).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                Some(Mark::Black) => {}
                None => {
                    if let Some(c) = visit(d, graph, marks, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        marks.insert(m.to_string(), Mark::Black);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.contains_key(m) {
            continue;
        }
        if let Some(cycle) = visit(m, &graph, &mut marks, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_checker_sees_imports() {
    // The checks above are only as good as `named`: it must find real imports and skip
    // comments, or every layer would pass vacuously.
    let graph = graph();
    let item = graph.get("item").expect("item.rs is a module");
    assert!(
        item.contains("activity") && item.contains("state"),
        "{item:?}"
    );
    assert_eq!(
        named("use crate::a::{b, c};\nlet x = crate::d_e::f(1);"),
        BTreeSet::from(["a".to_string(), "d_e".to_string()])
    );
    let text = "//! see crate::x\nuse crate::y;\n    // crate::z\n#[cfg(test)]\nuse crate::w;";
    assert_eq!(named(&code_of(text)), BTreeSet::from(["y".to_string()]));
}
