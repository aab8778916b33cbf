#![allow(dead_code)]
use std::path::PathBuf;

pub const ACCOUNT: &str = "123456789012";
pub const OWN_ARN: &str = "arn:aws:sts::123456789012:assumed-role/deadbolt-responder/responder";

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/guardduty")
}

pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A fixture with a JSON pointer replaced, for building variants of real findings.
pub fn fixture_with(name: &str, edits: &[(&str, serde_json::Value)]) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    for (pointer, value) in edits {
        match v.pointer_mut(pointer) {
            Some(slot) => *slot = value.clone(),
            None => {
                // A new key: insert it into its parent object.
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                let obj = v.pointer_mut(parent).and_then(|p| p.as_object_mut());
                let obj = obj.unwrap_or_else(|| panic!("no object at {parent} in {name}"));
                obj.insert(key.to_string(), value.clone());
            }
        }
    }
    v.to_string()
}
