//! DuckDB's SQL rewritten for SQLite, construct by construct, the way the original Anomstack
//! ran its DuckDB queries elsewhere through sqlglot (and fixing what sqlglot left invalid).
//! Each pass reads tokens and prints SQL; the next pass reads that SQL again, so one pass may
//! rely on the output of another (`x::timestamp - interval '1 day'` becomes `datetime(x)`,
//! then `datetime(datetime(x), '-1 days')`).

use super::TranslateError;
use super::lexer::{Kind, Token, additive_left, closing, lex, next, operand_backward, prev, print};

/// Passes in order; each takes and returns SQL.
/// Division goes first: later passes write integer divisions of their own.
type Pass = fn(&str) -> Result<String, TranslateError>;

const PASSES: &[Pass] = &[
    trailing_commas,
    float_division,
    double_colon_casts,
    time_casts,
    functions,
    table_functions,
    intervals,
    date_arithmetic,
];

pub fn translate(sql: &str, now: Option<&str>) -> Result<String, TranslateError> {
    let mut out = match now {
        Some(now) => pin_clock(sql, now, "datetime('{now}')", "date('{now}')"),
        None => sql.to_owned(),
    };
    for pass in PASSES {
        out = pass(&out)?;
    }
    Ok(out)
}

/// DuckDB's clock read as `now` (a `YYYY-MM-DD HH:MM:SS` text), in DuckDB's own SQL.
pub fn pin_clock_duckdb(sql: &str, now: &str) -> String {
    pin_clock(
        sql,
        now,
        "CAST('{now}' AS TIMESTAMP)",
        "CAST(CAST('{now}' AS TIMESTAMP) AS DATE)",
    )
}

/// Replaces the clock functions with `timestamp` and `date` (each with `{now}` in it).
fn pin_clock(sql: &str, now: &str, timestamp: &str, date: &str) -> String {
    // Only a time the app wrote may go into the SQL text.
    if chrono::NaiveDateTime::parse_from_str(now, "%Y-%m-%d %H:%M:%S").is_err() {
        return sql.to_owned();
    }
    let timestamp = timestamp.replace("{now}", now);
    let date = date.replace("{now}", now);
    let tokens = lex(sql);
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let qualified = prev(&tokens, i).is_some_and(|p| tokens[p].is_punct("."));
        let call_end = next(&tokens, i)
            .filter(|&o| tokens[o].is_punct("("))
            .and_then(|o| next(&tokens, o).filter(|&c| tokens[c].is_punct(")")));
        let is_call = |names: &[&str]| names.iter().any(|n| t.is_word(n)) && call_end.is_some();
        let bare = |names: &[&str]| {
            names.iter().any(|n| t.is_word(n))
                && !next(&tokens, i).is_some_and(|n| tokens[n].is_punct("("))
        };
        if qualified || t.kind != Kind::Word {
            out.push_str(&t.text);
            i += 1;
        } else if is_call(&[
            "now",
            "get_current_timestamp",
            "transaction_timestamp",
            "current_timestamp",
        ]) {
            out.push_str(&timestamp);
            i = call_end.map_or(i, |c| c) + 1;
        } else if is_call(&["today", "current_date"]) {
            out.push_str(&date);
            i = call_end.map_or(i, |c| c) + 1;
        } else if bare(&["current_timestamp", "localtimestamp"]) {
            out.push_str(&timestamp);
            i += 1;
        } else if bare(&["current_date"]) {
            out.push_str(&date);
            i += 1;
        } else {
            out.push_str(&t.text);
            i += 1;
        }
    }
    out
}

/// Upper bound on rewrites of one kind in one query, so a rewrite that failed to remove what
/// it matched cannot loop forever.
const MAX_REWRITES: usize = 10_000;

fn fail(construct: &str, reason: impl Into<String>) -> TranslateError {
    TranslateError {
        construct: construct.trim().chars().take(80).collect(),
        reason: reason.into(),
    }
}

/// Words that end a select list, so a comma right before one is a trailing comma.
const LIST_ENDS: &[&str] = &[
    "from",
    "union",
    "except",
    "intersect",
    "where",
    "group",
    "order",
    "limit",
    "having",
];

/// `select a, b, from t` and `(1, 2,)`: DuckDB accepts a trailing comma, SQLite does not.
fn trailing_commas(sql: &str) -> Result<String, TranslateError> {
    let tokens = lex(sql);
    let out: Vec<Token> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            let trailing = match next(&tokens, *i) {
                None => true,
                Some(n) => {
                    tokens[n].is_punct(")")
                        || tokens[n].is_punct(";")
                        || LIST_ENDS.iter().any(|w| tokens[n].is_word(w))
                }
            };
            !(t.is_punct(",") && trailing)
        })
        .map(|(_, t)| t.clone())
        .collect();
    Ok(print(&out))
}

/// `x::type` is `CAST(x AS type)`.
fn double_colon_casts(sql: &str) -> Result<String, TranslateError> {
    let mut sql = sql.to_owned();
    for _ in 0..MAX_REWRITES {
        let tokens = lex(&sql);
        let Some(op) = tokens.iter().position(|t| t.is_punct("::")) else {
            return Ok(sql);
        };
        let construct = || print(&tokens[op.saturating_sub(3)..tokens.len().min(op + 3)]);
        let start = prev(&tokens, op)
            .and_then(|p| operand_backward(&tokens, p))
            .ok_or_else(|| fail(&construct(), "no value before `::`"))?;
        let type_start =
            next(&tokens, op).ok_or_else(|| fail(&construct(), "no type after `::`"))?;
        let type_end = type_end(&tokens, type_start)
            .ok_or_else(|| fail(&construct(), "no type after `::`"))?;
        let value = print(&tokens[start..op]);
        let ty = print(&tokens[type_start..=type_end]);
        sql = splice(
            &tokens,
            start,
            type_end,
            &format!("CAST({} AS {})", value.trim_end(), ty),
        );
    }
    Err(fail("::", "too many casts"))
}

/// The last token of a type name starting at `start`: words (`double precision`, `timestamp
/// with time zone`), then optional `(p, s)` and `[]`.
fn type_end(tokens: &[Token], start: usize) -> Option<usize> {
    if tokens.get(start)?.kind != Kind::Word {
        return None;
    }
    let mut end = start;
    loop {
        match next(tokens, end) {
            Some(n)
                if tokens[n].kind == Kind::Word
                    && ["precision", "with", "without", "time", "zone", "varying"]
                        .iter()
                        .any(|w| tokens[n].is_word(w)) =>
            {
                end = n
            }
            Some(n) if tokens[n].is_punct("(") => end = closing(tokens, n)?,
            Some(n) if tokens[n].is_punct("[") => match next(tokens, n) {
                Some(m) if tokens[m].is_punct("]") => end = m,
                _ => return Some(end),
            },
            _ => return Some(end),
        }
    }
}

/// `CAST(x AS TIMESTAMP)` and `CAST(x AS DATE)`: SQLite has no such types (the cast would
/// read `2024-01-01 ...` as the number 2024), so they become `datetime(x)` and `date(x)`,
/// which give the text timestamps SQLite compares and the app stores. `TRY_CAST` is `CAST`.
fn time_casts(sql: &str) -> Result<String, TranslateError> {
    let tokens = lex(sql);
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let is_cast = t.is_word("cast") || t.is_word("try_cast");
        let open = next(&tokens, i).filter(|&n| tokens[n].is_punct("("));
        let (Some(open), true) = (open, is_cast) else {
            out.push_str(&t.text);
            i += 1;
            continue;
        };
        let close = closing(&tokens, open).ok_or_else(|| fail(&t.text, "unclosed CAST("))?;
        let inner = &tokens[open + 1..close];
        let Some(as_at) = top_level(inner)
            .into_iter()
            .rev()
            .find(|&j| inner[j].is_word("as"))
        else {
            out.push_str(&print(&tokens[i..=close]));
            i = close + 1;
            continue;
        };
        // Casts inside the value are rewritten too.
        let value = time_casts(&print(&inner[..as_at]))?;
        let ty = print(&inner[as_at + 1..]).trim().to_ascii_lowercase();
        let first = ty
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        let value = value.trim();
        let rewritten = match first {
            "timestamp" | "timestamptz" | "datetime" => format!("datetime({value})"),
            "date" => format!("date({value})"),
            "time" => format!("time({value})"),
            _ => format!("CAST({value} AS {})", print(&inner[as_at + 1..]).trim()),
        };
        out.push_str(&rewritten);
        i = close + 1;
    }
    Ok(out)
}

/// Indices of the tokens of `tokens` outside any parentheses.
fn top_level(tokens: &[Token]) -> Vec<usize> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            out.push(i);
        }
    }
    out
}

/// The arguments of a call whose parentheses are at `open` and `close`, as SQL text.
fn arguments(tokens: &[Token], open: usize, close: usize) -> Vec<String> {
    let inner = &tokens[open + 1..close];
    if inner.iter().all(Token::is_trivia) {
        return Vec::new();
    }
    let commas: Vec<usize> = top_level(inner)
        .into_iter()
        .filter(|&j| inner[j].is_punct(","))
        .collect();
    let mut out = Vec::new();
    let mut from = 0;
    for c in commas.into_iter().chain(std::iter::once(inner.len())) {
        out.push(print(&inner[from..c]).trim().to_owned());
        from = c + 1;
    }
    out
}

/// The text of a string literal argument, lower-cased, without its quotes.
fn literal(arg: &str) -> Option<String> {
    let inner = arg.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'").to_ascii_lowercase())
}

/// Functions DuckDB has that SQLite lacks or spells, orders or types differently.
fn functions(sql: &str) -> Result<String, TranslateError> {
    let tokens = lex(sql);
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let open = next(&tokens, i).filter(|&n| tokens[n].is_punct("("));
        let (Some(open), Kind::Word) = (open, t.kind) else {
            out.push_str(&t.text);
            i += 1;
            continue;
        };
        // A qualified name (`s.f(...)`) is the user's own function.
        if prev(&tokens, i).is_some_and(|p| tokens[p].is_punct(".")) {
            out.push_str(&t.text);
            i += 1;
            continue;
        }
        let close = closing(&tokens, open).ok_or_else(|| fail(&t.text, "unclosed call"))?;
        // Each argument is translated once, and the call kept as written reuses them (so
        // nesting costs time in proportion to depth, not 2^depth).
        let segments: Vec<String> = segments(&tokens, open, close)
            .iter()
            .map(|a| functions(a))
            .collect::<Result<_, _>>()?;
        let args: Vec<String> = segments
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty() || segments.len() > 1)
            .collect();
        let call = print(&tokens[i..=close]);
        let name = t.text.to_ascii_lowercase();
        let rewritten = match (name.as_str(), args.as_slice()) {
            (
                "now" | "get_current_timestamp" | "transaction_timestamp" | "current_timestamp",
                [],
            ) => Some("datetime('now')".to_owned()),
            ("today" | "current_date", []) => Some("date('now')".to_owned()),
            // DuckDB's random() is a double in [0, 1); SQLite's a 64-bit integer. The low 53
            // bits, scaled, are uniform in [0, 1) as a double can hold them.
            ("random", []) => {
                Some("((random() & 9007199254740991) / 9007199254740992.0)".to_owned())
            }
            ("date_trunc" | "datetrunc", [part, value]) => Some(date_trunc(&call, part, value)?),
            ("strftime", [value, format])
                if literal(value).is_none() && literal(format).is_some() =>
            {
                Some(format!("strftime({format}, {value})"))
            }
            ("epoch", [value]) => Some(format!("unixepoch({value})")),
            // Milliseconds to a time for a number, a time to milliseconds otherwise.
            ("epoch_ms", [value]) => Some(format!(
                "(CASE WHEN typeof({value}) IN ('integer', 'real') \
                 THEN datetime({value} / 1000.0, 'unixepoch') ELSE unixepoch({value}) * 1000 END)"
            )),
            ("to_timestamp", [value]) => Some(format!("datetime({value}, 'unixepoch')")),
            ("greatest" | "least", [one]) => Some(format!("({one})")),
            ("greatest", [_, _, ..]) => Some(skipping_nulls("max", &args)),
            ("least", [_, _, ..]) => Some(skipping_nulls("min", &args)),
            ("string_agg" | "listagg", [value]) => Some(format!("group_concat({value})")),
            ("string_agg" | "listagg", [value, sep]) => {
                Some(format!("group_concat({value}, {sep})"))
            }
            ("date_part" | "datepart", [part, value]) => {
                let part =
                    literal(part).ok_or_else(|| fail(&call, "the part must be a literal"))?;
                Some(extract(&call, &part, value)?)
            }
            ("date_diff" | "datediff", [part, from, to]) => {
                let part =
                    literal(part).ok_or_else(|| fail(&call, "the part must be a literal"))?;
                Some(date_diff(&call, &part, from, to)?)
            }
            ("extract", _) => {
                let inner = &tokens[open + 1..close];
                let from = top_level(inner)
                    .into_iter()
                    .find(|&j| inner[j].is_word("from"))
                    .ok_or_else(|| fail(&call, "expected EXTRACT(part FROM value)"))?;
                let part = print(&inner[..from]).trim().to_ascii_lowercase();
                let value = functions(print(&inner[from + 1..]).trim())?;
                Some(extract(&call, &part, &value)?)
            }
            _ => None,
        };
        match rewritten {
            Some(text) => out.push_str(&text),
            None => {
                // Keep the call, with its arguments translated.
                out.push_str(&print(&tokens[i..=open]));
                out.push_str(&segments.join(","));
                out.push_str(&tokens[close].text);
            }
        }
        i = close + 1;
    }
    Ok(out)
}

/// `greatest`/`least` as SQLite's scalar `max`/`min`, which answer NULL if any argument is
/// NULL where DuckDB skips NULLs: each argument falls back to the others, so a NULL one
/// repeats a value already compared and all NULLs still give NULL.
fn skipping_nulls(function: &str, args: &[String]) -> String {
    let each: Vec<String> = (0..args.len())
        .map(|i| {
            let order: Vec<&str> = std::iter::once(args[i].as_str())
                .chain(
                    args.iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, a)| a.as_str()),
                )
                .collect();
            format!("coalesce({})", order.join(", "))
        })
        .collect();
    format!("{function}({})", each.join(", "))
}

/// The arguments between `open` and `close` as written (spaces and comments kept), split at
/// top-level commas; none for an empty call.
fn segments(tokens: &[Token], open: usize, close: usize) -> Vec<String> {
    let inner = &tokens[open + 1..close];
    if inner.iter().all(Token::is_trivia) {
        return vec![print(inner)];
    }
    let mut out = Vec::new();
    let mut from = 0;
    for c in top_level(inner)
        .into_iter()
        .filter(|&j| inner[j].is_punct(","))
        .chain(std::iter::once(inner.len()))
    {
        out.push(print(&inner[from..c]));
        from = c + 1;
    }
    out
}

/// `date_trunc('hour', x)` as a timestamp text in the app's format.
fn date_trunc(call: &str, part: &str, value: &str) -> Result<String, TranslateError> {
    let part = literal(part).ok_or_else(|| fail(call, "the part must be a literal"))?;
    let format = match part.trim_end_matches('s') {
        "second" => "%Y-%m-%d %H:%M:%S",
        "minute" => "%Y-%m-%d %H:%M:00",
        "hour" => "%Y-%m-%d %H:00:00",
        "day" => "%Y-%m-%d 00:00:00",
        "month" => "%Y-%m-01 00:00:00",
        "year" => "%Y-01-01 00:00:00",
        // ISO weeks start on Monday: back to the last Monday on or before the day.
        "week" => {
            return Ok(format!(
                "datetime({value}, 'start of day', '-6 days', 'weekday 1')"
            ));
        }
        // Back to the quarter's first month; NULL stays NULL, as with the other parts.
        "quarter" => {
            return Ok(format!(
                "datetime({value}, 'start of month', \
                 '-' || ((CAST(strftime('%m', {value}) AS INTEGER) - 1) % 3) || ' months')"
            ));
        }
        other => return Err(fail(call, format!("unknown part `{other}`"))),
    };
    Ok(format!("strftime('{format}', {value})"))
}

/// `extract(hour FROM x)` / `date_part('hour', x)` as a number.
fn extract(call: &str, part: &str, value: &str) -> Result<String, TranslateError> {
    let format = match part.trim().trim_matches('\'').trim_end_matches('s') {
        "year" => "%Y",
        "month" => "%m",
        "day" => "%d",
        "hour" => "%H",
        "minute" => "%M",
        "second" => "%S",
        "dow" | "dayofweek" => "%w",
        "doy" | "dayofyear" => "%j",
        "week" => "%W",
        "epoch" => return Ok(format!("unixepoch({value})")),
        other => return Err(fail(call, format!("unknown part `{other}`"))),
    };
    Ok(format!("CAST(strftime('{format}', {value}) AS INTEGER)"))
}

/// `date_diff('hour', a, b)`: unit boundaries crossed from a to b, as DuckDB counts them
/// (10:59 to 11:01 is one hour): both ends truncated to the unit, then subtracted.
fn date_diff(call: &str, part: &str, from: &str, to: &str) -> Result<String, TranslateError> {
    let (per_day, truncated) = match part.trim_end_matches('s') {
        "day" => (1, "%Y-%m-%d 00:00:00"),
        "hour" => (24, "%Y-%m-%d %H:00:00"),
        "minute" => (1_440, "%Y-%m-%d %H:%M:00"),
        "second" => (86_400, "%Y-%m-%d %H:%M:%S"),
        other => return Err(fail(call, format!("unknown part `{other}`"))),
    };
    Ok(format!(
        "CAST(round((julianday(strftime('{truncated}', {to})) - \
         julianday(strftime('{truncated}', {from}))) * {per_day}) AS INTEGER)"
    ))
}

/// `FROM range(10) t(i)` and `FROM generate_series(1, 10)`: DuckDB's table functions, as a
/// recursive query (SQLite's own generate_series is an extension the app database may lack).
/// `range` stops before its end, `generate_series` at it; both name their column after
/// themselves unless an alias names it.
fn table_functions(sql: &str) -> Result<String, TranslateError> {
    let mut sql = sql.to_owned();
    for n in 0..MAX_REWRITES {
        let tokens = lex(&sql);
        let found = (0..tokens.len()).find(|&i| {
            (tokens[i].is_word("range") || tokens[i].is_word("generate_series"))
                && next(&tokens, i).is_some_and(|o| tokens[o].is_punct("("))
                && prev(&tokens, i).is_some_and(|p| {
                    tokens[p].is_word("from") || tokens[p].is_word("join") || {
                        tokens[p].is_punct(",") && in_from_clause(&tokens, p)
                    }
                })
        });
        let Some(i) = found else {
            return Ok(sql);
        };
        let open = next(&tokens, i).ok_or_else(|| fail(&tokens[i].text, "no arguments"))?;
        let close = closing(&tokens, open).ok_or_else(|| fail(&tokens[i].text, "unclosed call"))?;
        let call = print(&tokens[i..=close]);
        let inclusive = tokens[i].is_word("generate_series");
        let args = arguments(&tokens, open, close);
        let (start, stop, step) = match args.as_slice() {
            [stop] => ("0".to_owned(), stop.clone(), "1".to_owned()),
            [start, stop] => (start.clone(), stop.clone(), "1".to_owned()),
            [start, stop, step] => (start.clone(), stop.clone(), step.clone()),
            _ => return Err(fail(&call, "expected 1 to 3 arguments")),
        };
        if [&start, &stop, &step]
            .iter()
            .any(|a| a.to_ascii_lowercase().contains("interval"))
        {
            return Err(fail(
                &call,
                "series of timestamps are not translated; run the batch on DuckDB",
            ));
        }
        // An alias, and the column name an alias may give: `t(i)`, `AS t(i)`, `t`.
        let mut end = close;
        let mut alias = None;
        let mut column = tokens[i].text.to_ascii_lowercase();
        let mut at = next(&tokens, end);
        if let Some(a) = at.filter(|&a| tokens[a].is_word("as")) {
            end = a;
            at = next(&tokens, a);
        }
        if let Some(a) = at.filter(|&a| {
            matches!(tokens[a].kind, Kind::Word | Kind::QuotedIdent)
                && !super::lexer::is_keyword(&tokens[a])
        }) {
            alias = Some(tokens[a].text.clone());
            end = a;
            if let Some(o) = next(&tokens, a).filter(|&o| tokens[o].is_punct("(")) {
                let c = closing(&tokens, o).ok_or_else(|| fail(&call, "unclosed alias"))?;
                if let Some(name) = arguments(&tokens, o, c).first() {
                    column = name.clone();
                }
                end = c;
            }
        }
        let cmp = if inclusive { "=" } else { "" };
        let cte = format!("__series{n}");
        let alias = alias.unwrap_or_else(|| tokens[i].text.to_ascii_lowercase());
        let rewritten = format!(
            "(WITH RECURSIVE {cte}(v) AS (\
             SELECT {start} WHERE ({step}) > 0 AND {start} <{cmp} {stop} \
             OR ({step}) < 0 AND {start} >{cmp} {stop} \
             UNION ALL SELECT v + ({step}) FROM {cte} \
             WHERE ({step}) > 0 AND v + ({step}) <{cmp} {stop} \
             OR ({step}) < 0 AND v + ({step}) >{cmp} {stop}) \
             SELECT v AS {column} FROM {cte}) AS {alias}"
        );
        sql = splice(&tokens, i, end, &rewritten);
    }
    Err(fail("range", "too many table functions"))
}

/// Whether the comma at `comma` separates tables of a FROM clause (the nearest clause keyword
/// before it at the same depth is FROM or JOIN).
fn in_from_clause(tokens: &[Token], comma: usize) -> bool {
    let mut depth = 0i32;
    for j in (0..comma).rev() {
        let t = &tokens[j];
        if t.is_punct(")") {
            depth += 1;
        } else if t.is_punct("(") {
            if depth == 0 {
                return false;
            }
            depth -= 1;
        } else if depth == 0 && t.kind == Kind::Word {
            if t.is_word("from") || t.is_word("join") {
                return true;
            }
            if [
                "select", "where", "group", "order", "having", "on", "set", "values",
            ]
            .iter()
            .any(|k| t.is_word(k))
            {
                return false;
            }
        }
    }
    false
}

/// `x - INTERVAL '90 day'`, `x + INTERVAL 1 HOUR`, `x - INTERVAL '90' DAY`: SQLite moves times
/// with modifiers, `datetime(x, '-90 days')`.
fn intervals(sql: &str) -> Result<String, TranslateError> {
    let mut sql = sql.to_owned();
    for _ in 0..MAX_REWRITES {
        let tokens = lex(&sql);
        let Some(at) = tokens.iter().position(|t| t.is_word("interval")) else {
            return Ok(sql);
        };
        let (modifiers, end) = interval_literal(&tokens, at)?;
        let construct = print(&tokens[at..=end]);
        let op = prev(&tokens, at)
            .filter(|&p| tokens[p].is_punct("-") || tokens[p].is_punct("+"))
            .ok_or_else(|| {
                fail(
                    &construct,
                    "only `<time> + INTERVAL ...` and `<time> - INTERVAL ...` are translated",
                )
            })?;
        let start = additive_left(&tokens, op)
            .ok_or_else(|| fail(&construct, "no time before the interval"))?;
        let negate = tokens[op].is_punct("-");
        let mut moved = print(&tokens[start..op]).trim().to_owned();
        let mut plain: Vec<String> = Vec::new();
        for (amount, unit) in modifiers {
            // `+ 0.0` on a zero: `-0` would print as a modifier SQLite refuses.
            let amount = if negate { -amount } else { amount } + 0.0;
            if unit == "months" || unit == "years" {
                if !plain.is_empty() {
                    moved = format!("datetime({moved}, {})", plain.join(", "));
                    plain.clear();
                }
                let months = if unit == "years" {
                    amount * 12.0
                } else {
                    amount
                };
                moved = add_months(&moved, months, &construct)?;
            } else {
                plain.push(format!(
                    "'{}{amount} {unit}'",
                    if amount >= 0.0 { "+" } else { "" }
                ));
            }
        }
        let rewritten = if plain.is_empty() {
            moved
        } else {
            format!("datetime({moved}, {})", plain.join(", "))
        };
        sql = splice(&tokens, start, end, &rewritten);
    }
    Err(fail("interval", "too many intervals"))
}

/// `value` moved by whole `months`, as DuckDB does it: a day past the end of the target month
/// becomes its last day (March 31 minus a month is February 29 in 2024). SQLite's own
/// `'-1 months'` would overflow to March 2.
fn add_months(value: &str, months: f64, construct: &str) -> Result<String, TranslateError> {
    if months.fract() != 0.0 {
        return Err(fail(construct, "months and years must be whole"));
    }
    let shift = format!(
        "'{}{} months'",
        if months >= 0.0 { "+" } else { "" },
        months + 0.0
    );
    Ok(format!(
        "datetime(min(date({value}, 'start of month', {shift}, \
         '+' || (CAST(strftime('%d', {value}) AS INTEGER) - 1) || ' days'), \
         date({value}, 'start of month', {shift}, '+1 months', '-1 days')) || ' ' || time({value}))"
    ))
}

/// `current_date - 7` and `CAST(x AS DATE) + 1` (by now `date(...) + 1`): DuckDB adds days to
/// a date; SQLite would subtract from the year its text starts with. Only a whole-number
/// literal on the right of a date that is not itself the right side of `+`/`-` is a day count.
fn date_arithmetic(sql: &str) -> Result<String, TranslateError> {
    let mut sql = sql.to_owned();
    for _ in 0..MAX_REWRITES {
        let tokens = lex(&sql);
        let Some((start, inner, end, shift)) = (0..tokens.len()).find_map(|i| {
            let t = &tokens[i];
            if t.kind != Kind::Word
                || prev(&tokens, i).is_some_and(|p| {
                    ["-", "+", "*", "/", "."]
                        .iter()
                        .any(|o| tokens[p].is_punct(o))
                })
            {
                return None;
            }
            let (inner, last) = if t.is_word("date") {
                let open = next(&tokens, i).filter(|&o| tokens[o].is_punct("("))?;
                let close = closing(&tokens, open)?;
                (print(&tokens[open + 1..close]), close)
            } else if t.is_word("current_date")
                && !next(&tokens, i).is_some_and(|o| tokens[o].is_punct("("))
            {
                ("'now'".to_owned(), i)
            } else {
                return None;
            };
            let op = next(&tokens, last)
                .filter(|&o| tokens[o].is_punct("-") || tokens[o].is_punct("+"))?;
            let number = next(&tokens, op).filter(|&n| {
                tokens[n].kind == Kind::Number && tokens[n].text.bytes().all(|b| b.is_ascii_digit())
            })?;
            if next(&tokens, number).is_some_and(|a| {
                ["*", "/", "%", ".", "("]
                    .iter()
                    .any(|o| tokens[a].is_punct(o))
            }) {
                return None;
            }
            let sign = if tokens[op].is_punct("-") { "-" } else { "+" };
            Some((
                i,
                inner,
                number,
                format!("'{sign}{} days'", tokens[number].text),
            ))
        }) else {
            return Ok(sql);
        };
        sql = splice(
            &tokens,
            start,
            end,
            &format!("date({}, {shift})", inner.trim()),
        );
    }
    Err(fail("date arithmetic", "too many rewrites"))
}

/// An amount of a SQLite time modifier unit (`-90`, `days`).
type Modifier = (f64, &'static str);

/// The amounts and SQLite units of the interval literal at `at`, and its last token.
fn interval_literal(tokens: &[Token], at: usize) -> Result<(Vec<Modifier>, usize), TranslateError> {
    let construct = || print(&tokens[at..tokens.len().min(at + 6)]);
    let value = next(tokens, at).ok_or_else(|| fail(&construct(), "no amount"))?;
    let unit_after = |i: usize| next(tokens, i).filter(|&u| unit(&tokens[u].text).is_some());
    match tokens[value].kind {
        // '90 day', '1 day 2 hours', or '90' DAY
        Kind::Str => {
            let text = literal(&tokens[value].text).unwrap_or_default();
            if let Some(u) = unit_after(value) {
                let amount =
                    parse_amount(&text).ok_or_else(|| fail(&construct(), "not a number"))?;
                let (scale, name) = unit(&tokens[u].text).unwrap_or((1.0, "days"));
                return Ok((vec![(amount * scale, name)], u));
            }
            let words: Vec<&str> = text.split_whitespace().collect();
            let mut out = Vec::new();
            for pair in words.chunks(2) {
                let [amount, name] = pair else {
                    return Err(fail(&construct(), "expected amounts with units"));
                };
                let amount =
                    parse_amount(amount).ok_or_else(|| fail(&construct(), "not a number"))?;
                let (scale, name) = unit(name).ok_or_else(|| fail(&construct(), "unknown unit"))?;
                out.push((amount * scale, name));
            }
            if out.is_empty() {
                return Err(fail(&construct(), "empty interval"));
            }
            Ok((out, value))
        }
        // 90 DAY
        Kind::Number => {
            let u = unit_after(value).ok_or_else(|| fail(&construct(), "no unit"))?;
            let amount = parse_amount(&tokens[value].text)
                .ok_or_else(|| fail(&construct(), "not a number"))?;
            let (scale, name) = unit(&tokens[u].text).unwrap_or((1.0, "days"));
            Ok((vec![(amount * scale, name)], u))
        }
        _ => Err(fail(
            &construct(),
            "the amount must be a number (computed amounts are not translated)",
        )),
    }
}

fn parse_amount(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A unit name as SQLite's modifier names it, with a factor (weeks are 7 days).
fn unit(name: &str) -> Option<(f64, &'static str)> {
    let name = name.trim().to_ascii_lowercase();
    let singular = name.strip_suffix('s').unwrap_or(&name);
    Some(match singular {
        "second" | "sec" => (1.0, "seconds"),
        "minute" | "min" => (1.0, "minutes"),
        "hour" | "h" => (1.0, "hours"),
        "day" | "d" => (1.0, "days"),
        "week" | "w" => (7.0, "days"),
        "month" | "mon" => (1.0, "months"),
        "quarter" => (3.0, "months"),
        "year" | "y" => (1.0, "years"),
        _ => return None,
    })
}

/// DuckDB's `/` divides as floating point; SQLite's divides integers as integers (`7 / 2`
/// is 3). Multiplying the left side by 1.0 first keeps DuckDB's answer.
fn float_division(sql: &str) -> Result<String, TranslateError> {
    let tokens = lex(sql);
    let out: String = tokens
        .iter()
        .map(|t| {
            if t.is_punct("/") {
                "* 1.0 /"
            } else if t.is_punct("//") {
                // DuckDB's integer division is SQLite's `/` on whole numbers.
                "/"
            } else {
                t.text.as_str()
            }
        })
        .collect();
    Ok(out)
}

/// `tokens` with `start..=end` replaced by `text`.
fn splice(tokens: &[Token], start: usize, end: usize, text: &str) -> String {
    let mut out = print(&tokens[..start]);
    out.push_str(text);
    out.push_str(&print(&tokens[end + 1..]));
    out
}

#[cfg(test)]
mod tests {
    use super::translate;

    /// Runs `sql` on an in-memory SQLite (libsql, as the app database) and returns the first
    /// row's columns as text.
    async fn first_row(sql: &str) -> Vec<String> {
        let db = libsql::Builder::new_local(":memory:")
            .build()
            .await
            .unwrap();
        let conn = db.connect().unwrap();
        let mut rows = conn
            .query(sql, ())
            .await
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        let row = rows.next().await.unwrap().expect("a row");
        (0..rows.column_count())
            .map(|i| match row.get_value(i).unwrap() {
                libsql::Value::Null => "NULL".to_owned(),
                libsql::Value::Integer(n) => n.to_string(),
                libsql::Value::Real(x) => format!("{x:?}"),
                libsql::Value::Text(t) => t,
                libsql::Value::Blob(_) => "blob".to_owned(),
            })
            .collect()
    }

    async fn run(duckdb: &str) -> Vec<String> {
        let sql = translate(duckdb, None).unwrap_or_else(|e| panic!("{e}"));
        first_row(&sql).await
    }

    fn is_timestamp(text: &str) -> bool {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok()
    }

    #[tokio::test]
    async fn current_time_functions_give_utc_timestamps() {
        for f in [
            "get_current_timestamp()",
            "now()",
            "current_timestamp",
            "transaction_timestamp()",
        ] {
            let row = run(&format!("select {f} as ts")).await;
            assert!(is_timestamp(&row[0]), "{f}: {row:?}");
        }
        let row = run("select today(), current_date").await;
        assert_eq!(row[0], row[1]);
        assert_eq!(row[0].len(), 10);
    }

    #[tokio::test]
    async fn random_is_a_number_between_zero_and_one() {
        let sql = translate("select min(v), max(v) from (select random() as v from (select 1 union all select 2 union all select 3) a, (select 1 union all select 2 union all select 3 union all select 4) b, (select 1 union all select 2 union all select 3 union all select 4 union all select 5) c)", None).unwrap();
        let row = first_row(&sql).await;
        let (lo, hi): (f64, f64) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        assert!(
            (0.0..1.0).contains(&lo) && (0.0..1.0).contains(&hi),
            "{row:?}"
        );
        assert!(hi > lo);
        // random()*100, as the original's examples scale it.
        let v: f64 = run("select random()*100").await[0].parse().unwrap();
        assert!((0.0..100.0).contains(&v));
    }

    #[tokio::test]
    async fn intervals_move_times_in_every_spelling() {
        let base = "'2024-03-10 12:00:00'";
        for (interval, expected) in [
            ("- interval '90 day'", "2023-12-11 12:00:00"),
            ("- interval '90 days'", "2023-12-11 12:00:00"),
            ("- interval '90' day", "2023-12-11 12:00:00"),
            ("- interval 1 hour", "2024-03-10 11:00:00"),
            ("+ interval '30 minutes'", "2024-03-10 12:30:00"),
            ("- interval '1 day 2 hours'", "2024-03-09 10:00:00"),
            ("+ interval 2 week", "2024-03-24 12:00:00"),
            ("- INTERVAL '1' MONTH", "2024-02-10 12:00:00"),
        ] {
            let row = run(&format!("select cast({base} as timestamp) {interval}")).await;
            assert_eq!(row[0], expected, "{interval}");
        }
        // The original's job-query shape: a comparison against now minus an interval.
        let row = run("select cast('2000-01-01 00:00:00' as timestamp) >= current_timestamp - interval '90 day', now() - interval '1 day' < now()").await;
        assert_eq!(row, ["0", "1"]);
        // The left side is the whole arithmetic, not just its last operand.
        let row = run(&format!("select date({base}) + interval '1 day'")).await;
        assert_eq!(row[0], "2024-03-11 00:00:00");
    }

    #[tokio::test]
    async fn date_trunc_keeps_the_timestamp_format() {
        let ts = "'2024-05-17 13:47:29'";
        for (part, expected) in [
            ("second", "2024-05-17 13:47:29"),
            ("minute", "2024-05-17 13:47:00"),
            ("hour", "2024-05-17 13:00:00"),
            ("day", "2024-05-17 00:00:00"),
            ("week", "2024-05-13 00:00:00"),
            ("month", "2024-05-01 00:00:00"),
            ("quarter", "2024-04-01 00:00:00"),
            ("year", "2024-01-01 00:00:00"),
        ] {
            let row = run(&format!("select date_trunc('{part}', {ts})")).await;
            assert_eq!(row[0], expected, "{part}");
        }
        // As the original's examples compare days of two timestamps.
        let row = run("select date_trunc('day', '2024-01-01 10:00:00') = date_trunc('day', '2024-01-01 23:59:59')").await;
        assert_eq!(row[0], "1");
    }

    #[tokio::test]
    async fn double_colon_casts_become_casts() {
        let row = run("select 1::double, '2'::int, 3::varchar, '2024-01-01 10:11:12.5'::timestamp, '2024-01-01 10:11:12'::date, (1 + 2)::double precision").await;
        assert_eq!(
            row,
            ["1.0", "2", "3", "2024-01-01 10:11:12", "2024-01-01", "3.0"]
        );
        let row = run("select cast('2024-01-01T10:11:12' as timestamp), try_cast('7' as integer), cast(now() as date) = today()").await;
        assert_eq!(row, ["2024-01-01 10:11:12", "7", "1"]);
        // A cast feeding an interval.
        let row = run("select '2024-01-02'::timestamp - interval '1 day'").await;
        assert_eq!(row[0], "2024-01-01 00:00:00");
    }

    #[tokio::test]
    async fn table_functions_become_recursive_queries() {
        assert_eq!(
            run("select count(*), min(range), max(range) from range(10)").await,
            ["10", "0", "9"]
        );
        assert_eq!(
            run("select count(*), sum(x) from generate_series(1, 10) t(x)").await,
            ["10", "55"]
        );
        assert_eq!(
            run("select count(*), max(i) from range(0, 10, 2) as r(i)").await,
            ["5", "8"]
        );
        assert_eq!(
            run("select count(*), min(x) from range(5, 0, -1) t(x)").await,
            ["5", "1"]
        );
        assert_eq!(
            run("select count(*) from generate_series(1, 3) as a(x), range(2) b(y)").await,
            ["6"]
        );
        assert_eq!(
            run("select count(*) from (select 1) s join generate_series(1, 4) g(x) on true").await,
            ["4"]
        );
    }

    #[tokio::test]
    async fn other_functions_and_syntax() {
        let row = run("select strftime(cast('2024-05-17 13:47:29' as timestamp), '%Y-%m-%d %H'), epoch(cast('1970-01-02' as timestamp)), extract(hour from cast('2024-05-17 13:47:29' as timestamp)), date_part('month', '2024-05-17'), greatest(1, 5, 3), least(4, 2)").await;
        assert_eq!(row, ["2024-05-17 13", "86400", "13", "5", "5", "2"]);
        let row = run("select date_diff('day', '2024-01-01', '2024-01-31'), date_diff('hour', '2024-01-01 00:00:00', '2024-01-01 05:00:00'), to_timestamp(0)").await;
        assert_eq!(row, ["30", "5", "1970-01-01 00:00:00"]);
        // Division is DuckDB's (floating point), and a trailing comma before FROM is dropped.
        let row = run("select 7 / 2 as half, 1 as x, from (select 1)").await;
        assert_eq!(row, ["3.5", "1"]);
        let row =
            run("select string_agg(v, '-') from (select 'a' as v union all select 'b')").await;
        assert!(row[0] == "a-b" || row[0] == "b-a", "{row:?}");
    }

    #[tokio::test]
    async fn an_original_example_query_runs_unchanged_in_meaning() {
        // Shaped like the original's examples: a Jinja loop rendered into a UNION ALL, DuckDB
        // functions, a trailing comma, and a comment in the middle.
        let sql = "
            select get_current_timestamp() as metric_timestamp,
                   'users_total_' || 'ireland' as metric_name,
                   (random()*100)+(random()*100) as metric_value,
            -- a comment with -- dashes and 'quotes'
            union all
            select date_trunc('hour', now()) as metric_timestamp,
                   'users_active_rate' as metric_name,
                   sum(random()*25) / 25 as metric_value
            from range(4)
        ";
        let translated = translate(sql, None).unwrap();
        let db = libsql::Builder::new_local(":memory:")
            .build()
            .await
            .unwrap();
        let conn = db.connect().unwrap();
        let mut rows = conn
            .query(&translated, ())
            .await
            .unwrap_or_else(|e| panic!("{e}\n{translated}"));
        let mut n = 0;
        while let Some(row) = rows.next().await.unwrap() {
            let ts: String = row.get(0).unwrap();
            assert!(is_timestamp(&ts), "{ts}");
            let value: f64 = row.get(2).unwrap();
            assert!((0.0..200.0).contains(&value), "{value}");
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn the_clock_reads_the_runs_logical_time() {
        let now = Some("2021-06-01 08:30:00");
        let sql = translate(
            "select now(), get_current_timestamp(), current_timestamp, current_date, today(), now() - interval '1 day'",
            now,
        )
        .unwrap();
        assert_eq!(
            first_row(&sql).await,
            [
                "2021-06-01 08:30:00",
                "2021-06-01 08:30:00",
                "2021-06-01 08:30:00",
                "2021-06-01",
                "2021-06-01",
                "2021-05-31 08:30:00"
            ]
        );
        // DuckDB's own SQL gets the same time, in DuckDB's spelling.
        assert_eq!(
            super::pin_clock_duckdb("select now(), current_date", "2021-06-01 08:30:00"),
            "select CAST('2021-06-01 08:30:00' AS TIMESTAMP), CAST(CAST('2021-06-01 08:30:00' AS TIMESTAMP) AS DATE)"
        );
        // Anything but a time the app wrote is not spliced into SQL.
        assert_eq!(
            super::pin_clock_duckdb("select now()", "x'); drop table t; --"),
            "select now()"
        );
    }

    #[tokio::test]
    async fn month_arithmetic_clamps_to_the_months_last_day_as_duckdb_does() {
        for (sql, expected) in [
            (
                "'2024-03-31'::timestamp - interval 1 month",
                "2024-02-29 00:00:00",
            ),
            (
                "'2024-01-31 10:30:00'::timestamp + interval '1 month'",
                "2024-02-29 10:30:00",
            ),
            (
                "'2023-03-31'::timestamp - interval 1 month",
                "2023-02-28 00:00:00",
            ),
            (
                "'2024-02-29'::timestamp + interval 1 year",
                "2025-02-28 00:00:00",
            ),
            (
                "'2024-05-15 08:00:00'::timestamp - interval '1 month 2 days'",
                "2024-04-13 08:00:00",
            ),
            (
                "'2024-05-15'::timestamp - interval '1 quarter'",
                "2024-02-15 00:00:00",
            ),
            (
                "'2024-05-15 08:00:00'::timestamp - interval '0 day'",
                "2024-05-15 08:00:00",
            ),
        ] {
            assert_eq!(run(&format!("select {sql}")).await[0], expected, "{sql}");
        }
    }

    #[tokio::test]
    async fn a_date_plus_a_whole_number_moves_days() {
        let row = run("select '2024-03-01'::date - 7, cast('2024-03-01' as date) + 1, date_diff('day', current_date - 7, current_date)").await;
        assert_eq!(row, ["2024-02-23", "2024-03-02", "7"]);
        // Not a day count: part of a product, or the right side of another subtraction.
        let row =
            run("select '2024-03-01'::date - 7 * 0, 10 - cast('2024-03-01' as date) - 7").await;
        assert_eq!(row[1], "-2021", "{row:?}");
    }

    #[tokio::test]
    async fn functions_answer_as_duckdb_does_at_the_edges() {
        let row = run("select greatest(1, null, 3), least(null, 2), greatest(null, null), greatest(4), date_diff('hour', '2024-01-01 10:59:00', '2024-01-01 11:01:00'), date_trunc('quarter', null), epoch_ms(1700000000000), epoch_ms('1970-01-01 00:00:02'::timestamp), 7 // 2").await;
        assert_eq!(
            row,
            [
                "3",
                "2",
                "NULL",
                "4",
                "1",
                "NULL",
                "2023-11-14 22:13:20",
                "2000",
                "3"
            ]
        );
    }

    #[test]
    fn deep_nesting_translates_in_time_proportional_to_depth() {
        // 2^depth work would take minutes here; each level is translated once.
        let sql = format!("select {}x{}", "abs(".repeat(200), ")".repeat(200));
        let out = translate(&sql, None).unwrap();
        assert_eq!(out, sql);
    }

    #[test]
    fn text_outside_the_rewritten_constructs_is_kept() {
        let sql = "select 'now()' as a, \"random\" as b -- random()\nfrom t where x = 'interval ''1 day'''";
        assert_eq!(translate(sql, None).unwrap(), sql);
        // Escape strings and dollar quotes are strings too.
        for sql in [
            r"select E'it\'s now()' as a",
            "select $$now() - interval '1 day'$$ as a",
            "select $q$it's random()$q$ as a",
        ] {
            assert_eq!(translate(sql, None).unwrap(), sql);
        }
        // A user's qualified function is left alone.
        assert_eq!(
            translate("select my.now()", None).unwrap(),
            "select my.now()"
        );
    }

    #[test]
    fn constructs_without_a_translation_say_which() {
        let err = translate("select interval '1 day'", None).unwrap_err();
        assert!(err.to_string().contains("interval '1 day'"), "{err}");
        let err = translate("select now() - interval (n) day from t", None).unwrap_err();
        assert!(err.reason.contains("computed"), "{err}");
        let err = translate("select date_trunc('fortnight', now())", None).unwrap_err();
        assert!(err.reason.contains("fortnight"), "{err}");
        let err = translate(
            "select * from generate_series(now(), now() + interval 1 day, interval 1 hour)",
            None,
        )
        .unwrap_err();
        assert!(err.reason.contains("timestamps"), "{err}");
    }
}
