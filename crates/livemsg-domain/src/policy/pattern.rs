//! `*`/`?` wildcard patterns, and the Action/Resource matchers built from them.

/// A `*`/`?` wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    text: String,
    ignore_case: bool,
}

impl Pattern {
    pub(super) fn new(text: &str, ignore_case: bool) -> Pattern {
        Pattern {
            text: if ignore_case {
                text.to_lowercase()
            } else {
                text.to_owned()
            },
            ignore_case,
        }
    }

    fn matches(&self, value: &str) -> bool {
        if self.ignore_case {
            wildcard_match(&self.text, &value.to_lowercase())
        } else {
            wildcard_match(&self.text, value)
        }
    }
}

/// Matches `value` against `pattern`, where `*` is any sequence (empty too) and `?` exactly one
/// character. Iterative, linear in practice, no recursion to blow up on hostile patterns.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `Action`/`Resource` (match any) or `NotAction`/`NotResource` (match none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Matcher {
    Any(Vec<Pattern>),
    NoneOf(Vec<Pattern>),
}

impl Matcher {
    pub(super) fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Any(patterns) => patterns.iter().any(|p| p.matches(value)),
            Matcher::NoneOf(patterns) => !patterns.iter().any(|p| p.matches(value)),
        }
    }
}
