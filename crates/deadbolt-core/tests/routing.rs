//! The template's EventBridge rule against every fixture, with EventBridge's matching rules:
//! every finding that names a principal reaches the responder (IAM findings, attack sequences,
//! S3 and EKS findings with `accessKeyDetails`), and nothing else does.

mod common;
use common::*;

use serde_json::{json, Map, Value};

/// The `EventPattern` of `GuardDutyFindingRule` in template.yaml, as JSON.
fn rule_pattern() -> Value {
    pattern_of("GuardDutyFindingRule")
}

/// The `EventPattern` of the rule `name` in template.yaml, as JSON.
fn pattern_of(name: &str) -> Value {
    pattern_in("template.yaml", name)
}

/// The `EventPattern` of the rule `name` in the repository's `file`.
fn pattern_in(file: &str, name: &str) -> Value {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(file),
    )
    .unwrap();
    let lines: Vec<&str> = template.lines().collect();
    let rule = lines
        .iter()
        .position(|l| l.trim() == format!("{name}:"))
        .unwrap_or_else(|| panic!("{name} in template.yaml"));
    let start = rule
        + lines[rule..]
            .iter()
            .position(|l| l.trim() == "EventPattern:")
            .expect("its EventPattern");
    let indent = indent_of(lines[start]);
    let block: Vec<(usize, String)> = lines[start + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .take_while(|l| indent_of(l) > indent)
        .map(|l| (indent_of(l), l.trim().to_string()))
        .collect();
    let (value, used) = yaml_block(&block, 0);
    assert_eq!(used, block.len(), "the whole pattern was read");
    value
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The YAML subset CloudFormation event patterns use: nested maps, lists of scalars and lists
/// of one-key maps, plain or double-quoted scalars.
fn yaml_block(lines: &[(usize, String)], at: usize) -> (Value, usize) {
    let indent = lines[at].0;
    if lines[at].1.starts_with("- ") {
        let mut items = Vec::new();
        let mut i = at;
        while i < lines.len() && lines[i].0 == indent && lines[i].1.starts_with("- ") {
            let rest = lines[i].1[2..].trim().to_string();
            if rest.contains(": ") || rest.ends_with(':') {
                // A map item: its first key on the dash line, the others below it.
                let mut sub = vec![(indent + 2, rest)];
                let mut j = i + 1;
                while j < lines.len() && lines[j].0 > indent {
                    sub.push(lines[j].clone());
                    j += 1;
                }
                let (v, _) = yaml_block(&sub, 0);
                items.push(v);
                i = j;
            } else {
                items.push(scalar(&rest));
                i += 1;
            }
        }
        return (Value::Array(items), i);
    }
    let mut map = Map::new();
    let mut i = at;
    while i < lines.len() && lines[i].0 == indent {
        let (key, rest) = lines[i].1.split_once(':').expect("key: value");
        let rest = rest.trim();
        if rest.is_empty() {
            let (v, next) = yaml_block(lines, i + 1);
            map.insert(key.trim().to_string(), v);
            i = next;
        } else {
            map.insert(key.trim().to_string(), scalar(rest));
            i += 1;
        }
    }
    (Value::Object(map), i)
}

fn scalar(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        t if t.starts_with('"') => Value::String(t.trim_matches('"').to_string()),
        t => Value::String(t.to_string()),
    }
}

/// EventBridge's rules: every key of a pattern object must match (`$or`: one of its patterns);
/// a list of matchers matches a leaf if any matcher does (and a list in the event if any of
/// its elements does); `prefix`, `wildcard` and `exists` as documented.
fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(pattern) = pattern.as_object() else {
        return false;
    };
    pattern.iter().all(|(key, p)| {
        if key == "$or" {
            return p
                .as_array()
                .is_some_and(|alts| alts.iter().any(|alt| matches(alt, event)));
        }
        let field = event.get(key);
        match p {
            Value::Object(_) => field.is_some_and(|f| f.is_object() && matches(p, f)),
            Value::Array(matchers) => matchers.iter().any(|m| leaf(m, field)),
            _ => false,
        }
    })
}

fn leaf(matcher: &Value, field: Option<&Value>) -> bool {
    let values: Vec<&Value> = match field {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(_)) => Vec::new(),
        Some(v) => vec![v],
        None => Vec::new(),
    };
    match matcher {
        Value::Object(m) => {
            if let Some(exists) = m.get("exists").and_then(Value::as_bool) {
                return exists != values.is_empty();
            }
            if let Some(prefix) = m.get("prefix").and_then(Value::as_str) {
                return values
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.starts_with(prefix)));
            }
            if let Some(suffix) = m.get("suffix").and_then(Value::as_str) {
                return values
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.ends_with(suffix)));
            }
            if let Some(w) = m.get("wildcard").and_then(Value::as_str) {
                let glob = deadbolt_core::glob::Glob::new(w);
                return values
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| glob.matches(s)));
            }
            panic!("matcher {matcher} is not one this test knows");
        }
        scalar => values.contains(&scalar),
    }
}

/// Every fixture, and whether the rule must deliver it.
const ROUTED: &[(&str, bool)] = &[
    ("anomalous-credential-access.json", true),
    ("anomalous-defense-evasion.json", true),
    ("anomalous-discovery.json", true),
    ("anomalous-exfiltration.json", true),
    ("anomalous-impact.json", true),
    ("anomalous-initial-access.json", true),
    ("anomalous-persistence.json", true),
    ("anomalous-privilege-escalation.json", true),
    ("archived-finding.json", true),
    ("attack-sequence-compromised-credentials.json", true),
    ("bedrock-logging-disabled.json", true),
    ("cloudtrail-logging-disabled-sso.json", true),
    ("cloudtrail-logging-disabled.json", true),
    ("ec2-finding.json", false),
    ("federated-user.json", true),
    ("foreign-account.json", true),
    ("instance-credential-exfiltration-inside-aws.json", true),
    ("instance-credential-exfiltration-outside-aws.json", true),
    ("kubernetes-role-caller.json", true),
    ("malicious-ip-caller-custom-threat-list.json", true),
    ("malicious-ip-caller.json", true),
    ("member-account-finding.json", true),
    ("password-policy-change.json", true),
    ("pentest-kali-linux.json", true),
    ("protected-break-glass.json", true),
    ("resource-credential-exfiltration-inside-aws.json", true),
    ("resource-credential-exfiltration-outside-aws.json", true),
    ("root-credential-usage.json", true),
    ("s3-malicious-ip-caller.json", true),
    ("s3-policy-public-access-disabled.json", true),
    ("sample-finding.json", true),
    ("service-linked-role.json", true),
    ("short-term-root-credential-usage.json", true),
    ("tor-ip-caller-context-variants.json", true),
    ("tor-ip-caller.json", true),
];

#[test]
fn the_rule_routes_every_finding_that_names_a_principal_and_nothing_else() {
    let pattern = rule_pattern();
    let mut files: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let listed: Vec<&str> = ROUTED.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "the table lists every fixture");
    for (file, routed) in ROUTED {
        let event: Value = serde_json::from_str(&fixture(file)).unwrap();
        assert_eq!(matches(&pattern, &event), *routed, "{file}");
        // The rule delivers exactly the findings that name a principal.
        let parsed = deadbolt_core::parse_event(&fixture(file)).unwrap();
        let names = !deadbolt_core::sequence::principals(&parsed.detail).is_empty();
        assert_eq!(names, *routed, "{file}: names a principal");
    }
}

#[test]
fn findings_without_a_principal_or_from_elsewhere_are_not_routed() {
    let pattern = rule_pattern();
    let without = |file: &str, pointer: &str| {
        let mut v: Value = serde_json::from_str(&fixture(file)).unwrap();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|o| o.remove(key))
            .unwrap_or_else(|| panic!("{pointer} in {file}"));
        v
    };
    // An S3 or EKS finding without an IAM caller (anonymous access, a Kubernetes user).
    assert!(!matches(
        &pattern,
        &without(
            "s3-malicious-ip-caller.json",
            "/detail/resource/accessKeyDetails"
        )
    ));
    assert!(!matches(
        &pattern,
        &without(
            "kubernetes-role-caller.json",
            "/detail/resource/accessKeyDetails"
        )
    ));
    // An EC2 type with an access key's shape is not an IAM, S3 or EKS finding.
    let mut ec2: Value = serde_json::from_str(&fixture("tor-ip-caller.json")).unwrap();
    ec2["detail"]["type"] = json!("UnauthorizedAccess:EC2/TorClient");
    assert!(!matches(&pattern, &ec2));
    // Another source or detail type.
    let mut hub: Value = serde_json::from_str(&fixture("tor-ip-caller.json")).unwrap();
    hub["source"] = json!("aws.securityhub");
    assert!(!matches(&pattern, &hub));
    // Every attack sequence is delivered, whatever its family (the settings decide).
    let mut s3_sequence: Value =
        serde_json::from_str(&fixture("attack-sequence-compromised-credentials.json")).unwrap();
    s3_sequence["detail"]["type"] = json!("AttackSequence:S3/CompromisedData");
    assert!(matches(&pattern, &s3_sequence));
}

#[test]
fn the_matcher_follows_eventbridge_semantics() {
    let p = json!({"a": {"b": [{"exists": false}], "c": ["x", {"prefix": "y"}]}});
    assert!(matches(&p, &json!({"a": {"c": "yz"}})));
    assert!(matches(&p, &json!({"a": {"c": ["q", "x"]}})));
    assert!(!matches(&p, &json!({"a": {"b": 1, "c": "x"}})));
    assert!(!matches(&p, &json!({"a": {"c": "z"}})));
    assert!(!matches(&p, &json!({"a": "flat"})));
    let or = json!({"$or": [{"k": ["1"]}, {"j": [{"wildcard": "*:S3/*"}]}]});
    assert!(matches(&or, &json!({"j": "Policy:S3/Foo"})));
    assert!(!matches(&or, &json!({"j": "Policy:IAMUser/Foo", "k": "2"})));
}

/// The tamper watch's rule delivers exactly the IAM calls that undo a containment: every
/// fixture under tests/fixtures/tamper (EventBridge's wrapper), and not the same calls on
/// other policies, failed calls, or a key set inactive.
#[test]
fn the_tamper_watch_rule_routes_the_undoing_calls_and_nothing_else() {
    let pattern = pattern_of("TamperWatchRule");
    let dir = fixtures_dir().join("../tamper");
    let mut routed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".record.json") {
            continue; // a bare CloudTrail record (replay's input), not an EventBridge event
        }
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(matches(&pattern, &event), "{name} is not routed");
        routed += 1;
    }
    assert!(routed >= 3, "only {routed} tamper fixtures");
    let delete: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("delete-user-policy-deny-all.json")).unwrap(),
    )
    .unwrap();
    let variant = |pointer: &str, value: Value| {
        let mut e = delete.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        e.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(key.to_string(), value);
        e
    };
    for (why, event) in [
        (
            "another policy",
            variant("/detail/requestParameters/policyName", json!("AppAccess")),
        ),
        (
            "a failed call",
            variant("/detail/errorCode", json!("AccessDenied")),
        ),
        ("another service", variant("/source", json!("aws.s3"))),
        (
            "a key set inactive",
            variant("/detail/eventName", json!("UpdateAccessKey")),
        ),
    ] {
        assert!(!matches(&pattern, &event), "{why} is routed");
    }
}

/// The us-east-1 forwarder (infra/tamper-forwarder.yaml) forwards exactly what the home
/// region's TamperWatchRule routes: one pattern, two places.
#[test]
fn the_forwarder_forwards_what_the_tamper_watch_routes() {
    assert_eq!(
        pattern_in("infra/tamper-forwarder.yaml", "TamperForwardRule"),
        pattern_of("TamperWatchRule")
    );
}
