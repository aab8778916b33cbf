//! Text for people, bounded.

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

#[cfg(test)]
mod tests {
    #[test]
    fn bounded_keeps_short_text_and_cuts_long_text_to_max_characters() {
        assert_eq!(super::bounded("abc", 3), "abc");
        assert_eq!(super::bounded("abcd", 3), "ab…");
        assert_eq!(super::bounded("ééééé", 4).chars().count(), 4);
    }
}
