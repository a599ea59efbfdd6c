//! What a metric, batch or tag name may be. Names are keys in the database, parts of URLs
//! and model storage keys, and labels on every page: a bound keeps each of those working.

/// The longest name, in bytes of UTF-8 (200 ASCII characters, fewer of other scripts).
pub const MAX_NAME_BYTES: usize = 200;

/// Why `name` cannot be stored as a metric name, `None` if it can. Empty names, names over
/// [`MAX_NAME_BYTES`] and names with control characters (a NUL ends a string in C drivers,
/// a newline forges log lines) are refused; any other Unicode is fine.
pub fn problem(name: &str) -> Option<String> {
    problem_of("metric_name", name)
}

/// [`problem`] for a name of another kind (`what`: "metric_name", "tag name", ...).
pub fn problem_of(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{what} is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        let start: String = name.chars().take(40).filter(|c| !c.is_control()).collect();
        return Some(format!(
            "{what} `{start}…` is {} bytes; the limit is {MAX_NAME_BYTES}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        let shown: String = name
            .chars()
            .map(|c| if c.is_control() { '�' } else { c })
            .collect();
        return Some(format!(
            "{what} `{shown}` contains the control character U+{:04X}",
            c as u32
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_within_the_limit_pass_whatever_their_script() {
        assert_eq!(problem("revenue"), None);
        assert_eq!(problem("ventes_été/€ 📈 '\"<b>"), None);
        assert_eq!(problem(&"x".repeat(MAX_NAME_BYTES)), None);
        assert_eq!(problem(&"é".repeat(MAX_NAME_BYTES / 2)), None);
    }

    #[test]
    fn empty_long_and_control_names_are_refused_with_why() {
        assert_eq!(problem("").as_deref(), Some("metric_name is empty"));
        let long = problem(&"x".repeat(MAX_NAME_BYTES + 1)).unwrap_or_default();
        assert!(long.contains("201 bytes; the limit is 200"), "{long}");
        let multibyte = problem(&"é".repeat(101)).unwrap_or_default();
        assert!(multibyte.contains("202 bytes"), "{multibyte}");
        for (name, code) in [("a\0b", "U+0000"), ("a\nb", "U+000A"), ("\u{7f}", "U+007F")] {
            let why = problem(name).unwrap_or_default();
            assert!(
                why.contains(code) && !why.contains('\n') && !why.contains('\0'),
                "{why}"
            );
        }
    }
}
