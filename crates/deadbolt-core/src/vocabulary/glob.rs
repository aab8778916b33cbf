//! Minimal glob matching for protected-principal patterns: `*` matches any run of characters
//! (including `/` and `:`, so one pattern can cover ARNs), `?` matches one character.
//! Matching is ASCII case-insensitive because IAM names are unique regardless of case: a
//! pattern that protects `BreakGlass` must also protect `breakglass`.

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_ascii_lowercase(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    pub fn matches(&self, text: &str) -> bool {
        let p = self.pattern.as_bytes();
        let t: Vec<u8> = text.bytes().map(|b| b.to_ascii_lowercase()).collect();
        // Iterative wildcard matching with single-star backtracking: linear in practice and
        // never recursive, so a hostile name cannot blow the stack.
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        while pi < p.len() && p[pi] == b'*' {
            pi += 1;
        }
        pi == p.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn literal_star_and_question_mark() {
        assert!(Glob::new("break-glass").matches("break-glass"));
        assert!(!Glob::new("break-glass").matches("break-glass-2"));
        assert!(Glob::new("break-glass*").matches("break-glass-2"));
        assert!(Glob::new("*-admin").matches("ops-admin"));
        assert!(!Glob::new("*-admin").matches("ops-admin-x"));
        assert!(Glob::new("user-?").matches("user-1"));
        assert!(!Glob::new("user-?").matches("user-10"));
        assert!(Glob::new("arn:aws:iam::*:role/Deadbolt*")
            .matches("arn:aws:iam::123456789012:role/DeadboltResponder"));
        assert!(Glob::new("*").matches(""));
        assert!(!Glob::new("a").matches(""));
    }

    #[test]
    fn case_insensitive_like_iam_names() {
        assert!(Glob::new("BreakGlass*").matches("breakglass-admin"));
        assert!(Glob::new("breakglass*").matches("BREAKGLASS"));
    }

    #[test]
    fn backtracking_is_correct() {
        assert!(Glob::new("*a*b").matches("xaxxab"));
        assert!(!Glob::new("*a*b").matches("xaxxa"));
        assert!(Glob::new("a*b*c").matches("abbbc"));
    }
}
