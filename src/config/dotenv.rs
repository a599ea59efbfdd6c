//! `.env` files as Anomstack users write them (python-dotenv and Docker `env_file` style):
//! `KEY=value`, optional `export`, `#` comments, single or double quotes, and unquoted values
//! with spaces, such as `ANOMSTACK__X__INGEST_CRON_SCHEDULE=*/1 * * * *`.

/// `(name, value)` pairs in file order.
pub type Pairs = Vec<(String, String)>;
/// `(line number, reason)` for each bad line.
pub type LineErrors = Vec<(usize, String)>;

/// Parses `.env` text into pairs, or lists every bad line.
pub fn parse(text: &str) -> Result<Pairs, LineErrors> {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            errors.push((line_no, "expected KEY=VALUE".to_owned()));
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            // The "name" may be a piece of a multi-line secret (a PEM key split at `=`), so
            // the message never quotes it.
            errors.push((
                line_no,
                "the text before `=` is not a variable name (letters, digits, `_`, `.`); \
                 values spanning several lines must be quoted on one line"
                    .to_owned(),
            ));
            continue;
        }
        match parse_value(value.trim()) {
            Ok(v) => pairs.push((key.to_owned(), v)),
            Err(reason) => errors.push((line_no, reason)),
        }
    }
    if errors.is_empty() {
        Ok(pairs)
    } else {
        Err(errors)
    }
}

fn parse_value(value: &str) -> Result<String, String> {
    let mut chars = value.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => {
            let rest = &value[1..];
            let Some(end) = closing_quote(rest, q) else {
                return Err(format!("unterminated {q} quote"));
            };
            let inner = &rest[..end];
            let after = rest[end + 1..].trim();
            if !after.is_empty() && !after.starts_with('#') {
                // Quoting `after` would print part of the value (a password with a quote).
                return Err(format!(
                    "unexpected text after the closing {q} quote (a quote inside the value? \
                     escape it or use the other quote)"
                ));
            }
            Ok(if q == '"' {
                unescape(inner)
            } else {
                inner.to_owned()
            })
        }
        _ => {
            // An unquoted value ends at ` #` (an inline comment).
            let end = value.find(" #").unwrap_or(value.len());
            Ok(value[..end].trim_end().to_owned())
        }
    }
}

fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if quote == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == quote && !escaped {
            return Some(i);
        }
        escaped = false;
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> (String, String) {
        parse(line).unwrap().remove(0)
    }

    #[test]
    fn unquoted_values_keep_their_spaces() {
        assert_eq!(
            one("ANOMSTACK__X__INGEST_CRON_SCHEDULE=*/1 * * * *"),
            (
                "ANOMSTACK__X__INGEST_CRON_SCHEDULE".into(),
                "*/1 * * * *".into()
            )
        );
        assert_eq!(one("A=b # note").1, "b");
        assert_eq!(one("A=b#c").1, "b#c");
        assert_eq!(one("A=").1, "");
    }

    #[test]
    fn quotes_exports_and_comments() {
        let text = "# comment\n\nexport A='x y'\nB=\"line\\nnext \\\"q\\\"\" # c\nC={\"geos\": [\"eu\"]}\n";
        let pairs = parse(text).unwrap();
        assert_eq!(
            pairs,
            [
                ("A".into(), "x y".into()),
                ("B".into(), "line\nnext \"q\"".into()),
                ("C".into(), "{\"geos\": [\"eu\"]}".into()),
            ]
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_numbers() {
        let errors = parse("A=1\nnot a pair\nB='open\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].0, 2);
        assert_eq!(errors[1], (3, "unterminated ' quote".into()));

        // A pretty-printed JSON key split over lines, and a password with a stray quote:
        // the errors give the line, never the text.
        let errors =
            parse("\"private_key\": \"MIIEsecretbase64==\"\nPASSWORD='it's-x'\n").unwrap_err();
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        for (_, message) in &errors {
            assert!(
                !message.contains("MIIE") && !message.contains("s-x"),
                "{message}"
            );
        }
    }
}
