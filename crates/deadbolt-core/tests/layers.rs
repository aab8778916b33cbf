//! The layering of `deadbolt-core`, checked: vocabulary at the bottom (what a finding, a
//! principal, a record and the settings are), the rules above it (what to decide, which
//! strategy, which document, what to tell people), the ports and their decorators beside the
//! engine, and the engine on top (the responder and what it runs). A module may use its own
//! layer and the ones below, never one above.
//!
//! How it is checked: every `crate::MODULE` path in a module's code (comments and its
//! `#[cfg(test)]` part left out) is an import of MODULE. The imports that still point upwards
//! are listed in [`KNOWN_UPWARD`], to be cut one by one: a new one fails this test, and so
//! does an entry that is no longer true (the list only shrinks).

use std::collections::BTreeSet;

/// Each module's layer: 0 vocabulary, 1 rules, 2 ports, 3 engine.
const LAYERS: &[(&str, u8)] = &[
    // vocabulary
    ("clock", 0),
    ("glob", 0),
    ("text", 0),
    ("error", 0),
    ("finding", 0),
    ("sequence", 0),
    ("principal", 0),
    ("record", 0),
    ("approval", 0),
    ("config", 0),
    ("settings", 0),
    ("report_object", 0),
    // rules
    ("policy", 1),
    ("strategy", 1),
    ("decision", 1),
    ("tamper", 1),
    ("notice", 1),
    ("metrics", 1),
    ("securityhub", 1),
    // ports, and the decorators of the IAM port
    ("ports", 2),
    ("runtime", 2),
    ("decorate", 2),
    ("prefetch", 2),
    ("timing", 2),
    // engine (and the in-memory adapters, which implement ports with the engine's types)
    ("breaker", 3),
    ("containment", 3),
    ("followup", 3),
    ("ledger", 3),
    ("responder", 3),
    ("simulate", 3),
    ("memory", 3),
];

/// Upward imports not yet cut: (module, the module above it that it uses).
const KNOWN_UPWARD: &[(&str, &str)] = &[
    ("config", "strategy"),
    ("decision", "followup"),
    ("decision", "ports"),
    ("settings", "runtime"),
    ("settings", "securityhub"),
    ("settings", "strategy"),
];

fn src() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules `code` names as `crate::MODULE`.
fn imports(code: &str) -> BTreeSet<String> {
    let code = code.split("#[cfg(test)]\nmod tests").next().unwrap_or(code);
    let mut out = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_it_beyond_the_known_list() {
    let layer = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l);
    let mut upward = BTreeSet::new();
    let mut unplaced = Vec::new();
    for entry in std::fs::read_dir(src()).expect("src") {
        let path = entry.expect("entry").path();
        let Some(module) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if module == "lib" {
            continue;
        }
        let Some(own) = layer(module) else {
            unplaced.push(module.to_string());
            continue;
        };
        let code = std::fs::read_to_string(&path).expect("module source");
        for used in imports(&code) {
            // `crate::code_enum!` and other crate-root macros are no module.
            if let Some(theirs) = layer(&used) {
                if theirs > own {
                    upward.insert((module.to_string(), used));
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules with no layer (add them to LAYERS): {unplaced:?}"
    );
    let known: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = upward.difference(&known).collect();
    assert!(
        new.is_empty(),
        "these modules now use a module above their layer: {new:?}"
    );
    let cut: Vec<_> = known.difference(&upward).collect();
    assert!(
        cut.is_empty(),
        "no longer true, remove from KNOWN_UPWARD: {cut:?}"
    );
}

#[test]
fn the_import_reader_sees_paths_and_skips_comments_and_tests() {
    let code = "use crate::ports::X;\n/// crate::engine in a doc\nfn f() { crate::record::g(); }\n#[cfg(test)]\nmod tests { use crate::responder; }\n";
    let seen: Vec<String> = imports(code).into_iter().collect();
    assert_eq!(seen, ["ports", "record"]);
}
