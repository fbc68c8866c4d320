//! The shape of the code, checked: the edge's layers import only downwards, and no file of
//! the edge or the front end closes a circle of imports.
//!
//! Imports are read from the source: every `use crate::…`, `use super::…` and inline
//! `crate::…` / `super::…` path outside test code, resolved to the file of the longest module
//! path it names. A module using its own submodules is composition, not a dependency, and is
//! not counted; test files (`tests.rs`, `*_tests.rs`, `test_support.rs`) and inline
//! `#[cfg(test)] mod tests` are skipped.

#![allow(clippy::expect_used, clippy::panic)]

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The edge's layers, lowest first. A module may import only modules of a lower rank; the
/// leaves (rank 0) import nothing of the crate but themselves.
const EDGE_LAYERS: [(&str, u32); 9] = [
    ("config", 0),
    ("text", 0),
    ("crypto", 0),
    ("platform", 1),
    ("bedrock", 2),
    ("routing", 3),
    ("jobs", 4),
    ("http", 5),
    ("worker", 6),
];

/// A crate's source files by module path (`["routing", "health"]`), with the module paths each
/// one imports.
struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
    imports: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_owned()
}

fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    name == "tests" || name.ends_with("_tests") || name == "test_support"
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("source folder is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !is_test_file(&path) {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` and `main.rs` the root.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source without comments, string literals and test-only code.
fn code_of(source: &str) -> String {
    let mut code = String::new();
    let mut skip_next_item = false;
    for line in source.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            skip_next_item = true;
            continue;
        }
        if skip_next_item {
            skip_next_item = false;
            if trimmed.starts_with("mod tests {") || trimmed.starts_with("pub(crate) mod tests {") {
                break; // inline test modules close the file
            }
            continue;
        }
        let without_comment = match trimmed.find("//") {
            Some(at) => &trimmed[..at],
            None => trimmed,
        };
        code.push_str(&strip_strings(without_comment));
        code.push('\n');
    }
    code
}

fn strip_strings(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let prefix = &tree[..open];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    for (i, c) in tree.char_indices().take(close).skip(open + 1) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tree[start..close]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| expand(&format!("{prefix}{item}")))
        .collect()
}

/// Every `crate::…` or `super::…` path the code names, as written.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let statement_start = at + 4;
        let end = rest[statement_start..]
            .find(';')
            .map(|e| statement_start + e);
        match end {
            Some(end) if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') => {
                let tree: String = rest[statement_start..end]
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                paths.extend(expand(&tree));
                rest = &rest[end..];
            }
            _ => rest = &rest[statement_start..],
        }
    }
    for root in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(root) {
            let start = from + at;
            let before = code[..start].chars().last();
            let path: String = code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':');
            // `crate::{…}` is a use tree, read above.
            let names_a_module = path.len() > root.len() - 2;
            if names_a_module && before.is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != ':')
            {
                paths.push(path.to_owned());
            }
            from = start + root.len();
        }
    }
    paths
}

impl Crate {
    fn read(src: &Path) -> Self {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let files: BTreeMap<_, _> = files
            .into_iter()
            .map(|f| (module_path(src, &f), f))
            .collect();
        let mut imports = BTreeMap::new();
        for (module, file) in &files {
            let source = fs::read_to_string(file).expect("source file is readable");
            let mut targets = BTreeSet::new();
            for path in named_paths(&code_of(&source)) {
                let segments: Vec<&str> = path
                    .split("::")
                    .map(|s| s.split(" as ").next().unwrap_or(s))
                    .collect();
                let absolute = match segments.first() {
                    Some(&"crate") => segments[1..].iter().map(|s| s.to_string()).collect(),
                    Some(&"super") => {
                        // `super` of `a/b.rs` and of `a/b/mod.rs` is `a`.
                        let mut base = module.clone();
                        let mut rest = &segments[..];
                        while rest.first() == Some(&"super") {
                            base.pop();
                            rest = &rest[1..];
                        }
                        base.extend(rest.iter().map(|s| s.to_string()));
                        base
                    }
                    _ => continue,
                };
                if let Some(target) = Self::resolve(&files, &absolute) {
                    let own_descendant = target.len() > module.len() && target.starts_with(module);
                    if target != *module && !own_descendant {
                        targets.insert(target);
                    }
                }
            }
            imports.insert(module.clone(), targets);
        }
        Self { files, imports }
    }

    /// The module of the longest prefix of `path` that is a file.
    fn resolve(files: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| files.contains_key(prefix))
    }

    fn name(module: &[String]) -> String {
        if module.is_empty() {
            "crate".into()
        } else {
            module.join("::")
        }
    }

    /// Every circle of imports, as the modules in it.
    fn circles(&self) -> Vec<Vec<String>> {
        // Tarjan's strongly connected components.
        struct Walk<'a> {
            graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
            index: BTreeMap<&'a [String], usize>,
            low: BTreeMap<&'a [String], usize>,
            stack: Vec<&'a [String]>,
            found: Vec<Vec<String>>,
        }
        impl<'a> Walk<'a> {
            fn visit(&mut self, v: &'a [String]) {
                let n = self.index.len();
                self.index.insert(v, n);
                self.low.insert(v, n);
                self.stack.push(v);
                for w in self.graph.get(v).into_iter().flatten() {
                    let w = w.as_slice();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let low = self.low[v].min(self.low[w]);
                        self.low.insert(v, low);
                    } else if self.stack.contains(&w) {
                        let low = self.low[v].min(self.index[w]);
                        self.low.insert(v, low);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        component.push(Crate::name(w));
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort();
                        self.found.push(component);
                    }
                }
            }
        }
        let mut walk = Walk {
            graph: &self.imports,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            found: Vec::new(),
        };
        for module in self.files.keys() {
            if !walk.index.contains_key(module.as_slice()) {
                walk.visit(module);
            }
        }
        walk.found
    }
}

fn layer_of(module: &[String]) -> Option<(&'static str, u32)> {
    let top = module.first()?;
    EDGE_LAYERS.iter().copied().find(|(name, _)| name == top)
}

#[test]
fn edge_layers_import_only_downwards() {
    let edge = Crate::read(&workspace_dir().join("edge/src"));
    let mut wrong = Vec::new();
    for (module, targets) in &edge.imports {
        let Some((layer, rank)) = layer_of(module) else {
            assert!(module.is_empty(), "{} is in no layer", Crate::name(module));
            continue;
        };
        for target in targets {
            let (target_layer, target_rank) = layer_of(target)
                .unwrap_or_else(|| panic!("{} is in no layer", Crate::name(target)));
            if target_layer != layer && target_rank >= rank {
                wrong.push(format!(
                    "{} ({layer}) imports {} ({target_layer}), a layer not below it",
                    Crate::name(module),
                    Crate::name(target)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports running up or across:\n{}",
        wrong.join("\n")
    );
    assert!(edge.files.len() > 40, "read the edge's files");
}

#[test]
fn no_circles_of_imports_in_the_edge_or_the_front_end() {
    for src in ["edge/src", "frontend/src"] {
        let code = Crate::read(&workspace_dir().join(src));
        let circles = code.circles();
        assert!(circles.is_empty(), "{src}: circles of imports: {circles:?}");
    }
}

#[test]
fn the_reader_sees_imports_and_circles() {
    let paths = named_paths(&code_of(
        "use crate::{a::{b, c::d}, e};\nfn f() { super::g::h(); }\n// use crate::z;\n",
    ));
    assert_eq!(
        paths,
        ["crate::a::b", "crate::a::c::d", "crate::e", "super::g::h"]
    );
    let module = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    let graph = Crate {
        files: ["a", "b", "c"].map(|m| (module(m), PathBuf::new())).into(),
        imports: [
            (module("a"), [module("b")].into()),
            (module("b"), [module("a")].into()),
            (module("c"), [module("a")].into()),
        ]
        .into(),
    };
    assert_eq!(graph.circles(), vec![vec!["a".to_owned(), "b".to_owned()]]);
}
