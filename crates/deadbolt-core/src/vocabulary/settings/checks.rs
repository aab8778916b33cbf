//! One rule per value, used by the document reader and by `config set` alike. Each returns
//! the problem as `<value> <what is wrong>`, so messages read "min_severity 11 is out of range".

use super::*;

pub(super) fn check_severity(n: f64) -> Result<f64, String> {
    if n.is_finite() && (0.0..=10.0).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range"))
    }
}

pub(super) fn check_finding_type(entry: &str, allow_star: bool) -> Result<String, String> {
    if entry == "*" && !allow_star {
        return Err("\"*\" cannot be overridden per finding type".into());
    }
    if entry == "*" || is_finding_type_prefix(entry) {
        Ok(entry.to_string())
    } else {
        Err(format!(
            "{:?} is not a finding-type prefix",
            truncate(entry)
        ))
    }
}

pub(super) fn check_non_empty(types: Vec<String>) -> Result<Vec<String>, String> {
    if types.is_empty() {
        // Acting on no type at all is what `mode: off` is for; an empty list is a slip.
        Err("is empty (to act on no finding, set mode off)".into())
    } else {
        Ok(types)
    }
}

pub(super) fn check_pattern(entry: &str) -> Result<String, String> {
    if !entry.is_empty() && is_principal_pattern(entry) {
        Ok(entry.to_string())
    } else {
        Err(format!("{:?} is not a principal pattern", truncate(entry)))
    }
}

pub(super) fn check_account(id: &str) -> Result<String, String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(format!("{:?} is not a 12-digit account id", truncate(id)))
    }
}

/// A member account entry: a 12-digit id, or `*` for every account GuardDuty hands over.
pub(crate) fn check_member_account(entry: &str) -> Result<String, String> {
    if entry == "*" {
        return Ok(entry.to_string());
    }
    check_account(entry)
}

/// An IAM role name as IAM accepts it: it ends up in the member role's ARN.
pub(crate) fn check_member_role(name: &str) -> Result<String, String> {
    if (1..=64).contains(&name.len()) && name.chars().all(crate::finding::is_iam_name_char) {
        Ok(name.to_string())
    } else {
        Err(format!("{:?} is not an IAM role name", truncate(name)))
    }
}

pub(super) fn check_max_per_hour(n: u64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if n <= MAX_ENFORCED_PER_HOUR_LIMIT => Ok(n),
        _ => Err(format!("{n} is out of range")),
    }
}

pub(super) fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

/// A duration such as `7d` or `90m` in seconds (what `max_finding_age` accepts, for CLI flags).
pub fn parse_duration(text: &str) -> Option<u64> {
    check_duration(text).ok()
}

/// `24h`, `90m`, `3600s`, `7d`: a whole number and one unit, from one minute to 30 days.
pub(super) fn check_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(format!("{:?} has no unit", truncate(text))),
    };
    let digits = &text[..text.len() - 1];
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{:?} is not a whole number of units", truncate(text)))?;
    if (60..=30 * 86_400).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!("{:?} is out of range", truncate(text)))
    }
}

/// The document's spelling of a duration: the largest unit that divides it.
pub(super) fn format_duration(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A string value, validated by `check` (which says what is wrong with it).
pub(super) fn checked_string<T>(
    key: &str,
    found: Value,
    accepted: &'static str,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Problem> {
    match found {
        Value::String(text) => check(&text).map_err(|p| Problem::invalid(key, p, accepted)),
        other => Err(Problem::wrong_type(key, &other, accepted)),
    }
}

/// One of an enum's documented spellings.
pub(super) fn word<T: DeserializeOwned>(
    key: &str,
    found: Value,
    accepted: &'static str,
) -> Result<T, Problem> {
    match found {
        Value::String(s) => parse_word(&s).ok_or_else(|| {
            Problem::invalid(key, format!("{:?} is not accepted", truncate(&s)), accepted)
        }),
        other => Err(Problem::wrong_type(key, &other, accepted)),
    }
}

pub(super) fn version(found: Value) -> Result<(), Problem> {
    match &found {
        Value::Number(n) if !n.is_f64() => {
            if n.as_u64() == Some(u64::from(SETTINGS_VERSION)) {
                Ok(())
            } else {
                Err(Problem::invalid(
                    "version",
                    format!("{n} is not a version this deadbolt reads"),
                    VERSION_ACCEPTED,
                ))
            }
        }
        _ => Err(Problem::wrong_type("version", &found, VERSION_ACCEPTED)),
    }
}

pub(super) fn severity(found: Value) -> Result<f64, Problem> {
    match found.as_f64() {
        Some(n) => {
            check_severity(n).map_err(|p| Problem::invalid("min_severity", p, SEVERITY_ACCEPTED))
        }
        None => Err(Problem::wrong_type(
            "min_severity",
            &found,
            SEVERITY_ACCEPTED,
        )),
    }
}

pub(super) fn max_per_hour(found: Value) -> Result<u32, Problem> {
    const KEY: &str = "circuit_breaker.max_enforced_per_hour";
    let checked = match &found {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(n), _) => check_max_per_hour(n),
            (None, Some(negative)) => Err(format!("{negative} is out of range")),
            // A fraction is not a count.
            (None, None) => return Err(Problem::wrong_type(KEY, &found, MAX_PER_HOUR_ACCEPTED)),
        },
        _ => return Err(Problem::wrong_type(KEY, &found, MAX_PER_HOUR_ACCEPTED)),
    };
    checked.map_err(|p| Problem::invalid(KEY, p, MAX_PER_HOUR_ACCEPTED))
}
