//! The layering of `deadbolt-core`, read from its folders and checked: `vocabulary/` at the
//! bottom (what a finding, a principal, a record and the settings are), `rules/` above it (what
//! to decide, which strategy, which document, what to tell people), `ports/` (the traits the
//! engine talks to AWS through, and their decorators) and `engine/` on top (the responder and
//! what it runs). A module may use its own layer and the ones below, never one above.
//!
//! How it is checked: a module is a file or a folder directly in a layer folder
//! (`ports/mod.rs` is `ports` itself), and every `crate::MODULE` (or `crate::LAYER::MODULE`)
//! path in its code, comments and its test code left out, is an import of MODULE. No file of
//! the crate may sit outside a layer folder but `lib.rs`, which only declares and re-exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer folders, bottom up.
const LAYERS: &[&str] = &["vocabulary", "rules", "ports", "engine"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files under `dir`, test-only folders (`tests/`) left out.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                out.extend(rust_files(&path));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Every module with its layer and its files, from the folders.
fn modules() -> BTreeMap<String, (usize, Vec<PathBuf>)> {
    let mut out = BTreeMap::new();
    for (layer, folder) in LAYERS.iter().enumerate() {
        let dir = src().join(folder);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let (name, files) = if path.is_dir() {
                (stem.to_string(), rust_files(&path))
            } else if stem == "mod" {
                (folder.to_string(), vec![path.clone()])
            } else {
                (stem.to_string(), vec![path.clone()])
            };
            let previous = out.insert(name.clone(), (layer, files));
            assert!(previous.is_none(), "module {name} is in two places");
        }
    }
    out
}

/// The modules `code` names as `crate::MODULE` or `crate::LAYER::MODULE`.
fn imports(code: &str) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or(code);
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let mut name = word(rest);
            if name != "ports" && LAYERS.contains(&name.as_str()) {
                name = word(rest[name.len()..].trim_start_matches("::"));
            }
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_it() {
    let modules = modules();
    // The modules the old flat layout had, all placed: a lost module would pass vacuously.
    assert!(modules.len() >= 33, "modules found: {:?}", modules.keys());
    let mut upward = Vec::new();
    for (module, (own, files)) in &modules {
        for file in files {
            let code = std::fs::read_to_string(file).expect("module source");
            for used in imports(&code) {
                // `crate::code_enum!` and other crate-root macros are no module.
                if let Some((theirs, _)) = modules.get(&used) {
                    if theirs > own {
                        upward.push(format!(
                            "{module} ({}) uses {used} ({}) in {}",
                            LAYERS[*own],
                            LAYERS[*theirs],
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up: {upward:#?}");
}

#[test]
fn every_file_is_in_a_layer_folder() {
    let mut stray: Vec<String> = std::fs::read_dir(src())
        .expect("src")
        .flatten()
        .map(|e| e.path())
        .filter(|p| !LAYERS.iter().any(|l| p.ends_with(l)) && !p.ends_with("lib.rs"))
        .map(|p| p.display().to_string())
        .collect();
    stray.sort();
    assert!(stray.is_empty(), "put these in a layer folder: {stray:?}");
}

#[test]
fn the_import_reader_sees_paths_and_skips_comments_and_tests() {
    let code = "use crate::ports::X;\n/// crate::engine in a doc\nfn f() { crate::record::g(); crate::rules::policy::h(); }\n#[cfg(test)]\nmod tests { use crate::responder; }\n";
    let seen: Vec<String> = imports(code).into_iter().collect();
    assert_eq!(seen, ["policy", "ports", "record"]);
}

/// The check can fail: an engine type named from the vocabulary is an upward import.
#[test]
fn an_upward_import_is_seen() {
    let modules = modules();
    let used = imports("use crate::responder::Responder;\n");
    let (vocabulary, _) = modules["finding"];
    let (engine, _) = modules[used.iter().next().expect("one import")];
    assert!(engine > vocabulary);
}
