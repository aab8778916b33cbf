//! When each protected pattern was first written, from the parameter's history.

use super::*;
use crate::runtime::StoredVersion;

fn version(n: i64, day: u32, protected: &str) -> StoredVersion {
    StoredVersion {
        version: n,
        value: format!(r#"{{"version":1,"protected_principals":[{protected}]}}"#),
        modified_at: chrono::NaiveDate::from_ymd_opt(2026, 11, day)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc()),
        modified_by: None,
    }
}

/// A pattern dates from the oldest version of the unbroken run that carries it: removed
/// and added again, it dates from when it came back; an invalid version in between was
/// never in force and breaks nothing.
#[test]
fn a_pattern_dates_from_the_start_of_its_unbroken_run() {
    let history = vec![
        version(5, 20, r#""break-glass-*","ops-*""#),
        StoredVersion {
            value: "{not json".into(),
            ..version(4, 18, "")
        },
        version(3, 15, r#""break-glass-*""#),
        version(2, 10, r#""ops-*""#),
        version(1, 5, r#""break-glass-*","ops-*""#),
    ];
    let mut s = Settings::parse(&history[0].value).unwrap();
    s.date_protections(&history);
    let day = |d: u32| {
        history
            .iter()
            .find(|v| {
                v.modified_at
                    .is_some_and(|t| t.format("%d").to_string() == format!("{d:02}"))
            })
            .and_then(|v| v.modified_at)
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!(s.protected_since.get("break-glass-*"), Some(&day(15)));
    assert_eq!(s.protected_since.get("ops-*"), Some(&day(20)));
}
