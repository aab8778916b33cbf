//! Text for people, bounded, and the pieces of console links.

/// `text` in at most `max` characters, cut with `…` when longer: Security Hub notes, SVG
/// labels, one-line error messages.
pub fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The console's host for `region`'s partition.
pub fn console_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("{region}.console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        "console.amazonaws-us-gov.com".to_string()
    } else {
        format!("{region}.console.aws.amazon.com")
    }
}

/// Percent-encode everything but unreserved characters (RFC 3986).
pub fn url_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounded_keeps_short_text_and_cuts_long_text_to_max_characters() {
        assert_eq!(super::bounded("abc", 3), "abc");
        assert_eq!(super::bounded("abcd", 3), "ab…");
        assert_eq!(super::bounded("ééééé", 4).chars().count(), 4);
    }
}
