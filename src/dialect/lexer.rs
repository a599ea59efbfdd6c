//! SQL text as tokens that keep every byte (so unchanged parts print back exactly), with the
//! few structural questions the rewrites ask: which token is the next significant one, where
//! does the operand before or after a token begin and end.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Space,
    Comment,
    /// `'...'`, quotes included.
    Str,
    /// `"..."` or `` `...` ``, quotes included.
    QuotedIdent,
    Number,
    /// A name or keyword.
    Word,
    /// An operator or punctuation, one or more characters (`::`, `<=`, `(`).
    Punct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: String,
}

impl Token {
    pub fn new(kind: Kind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }

    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, Kind::Space | Kind::Comment)
    }

    /// A word equal to `keyword`, ignoring case.
    pub fn is_word(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }
}

/// Operators of more than one character, longest first.
const MULTI: &[&str] = &[
    "->>", "::", "||", "<=", ">=", "<>", "!=", "==", "->", "//", "**", "<<", ">>",
];

/// Splits `sql` into tokens. Unterminated strings and comments run to the end, so nothing is
/// lost; the engine reports them.
pub fn lex(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let take = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            Kind::Space
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            Kind::Comment
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            Kind::Comment
        } else if matches!(c, 'e' | 'E')
            && chars.get(i + 1) == Some(&'\'')
            && !(i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            // E'...': a backslash escapes the next character, a quote included.
            i += 2;
            while let Some(&ch) = chars.get(i) {
                i += 1;
                if ch == '\\' {
                    i += 1;
                } else if ch == '\'' {
                    if chars.get(i) == Some(&'\'') {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            i = i.min(chars.len());
            Kind::Str
        } else if let Some(tag) = dollar_tag(&chars, i) {
            // $$...$$ or $name$...$name$: nothing inside is SQL.
            i += tag.len();
            while i < chars.len() && !chars[i..].starts_with(&tag) {
                i += 1;
            }
            i = (i + tag.len()).min(chars.len());
            Kind::Str
        } else if c == '\'' || c == '"' || c == '`' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => break,
                    Some(&q) if q == c => {
                        // A doubled quote is an escaped one.
                        if chars.get(i + 1) == Some(&c) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            if c == '\'' {
                Kind::Str
            } else {
                Kind::QuotedIdent
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                let exponent = matches!(chars[i], 'e' | 'E')
                    && matches!(chars.get(i + 1), Some('+') | Some('-'));
                i += if exponent { 2 } else { 1 };
            }
            Kind::Number
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            Kind::Word
        } else {
            let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
            let len = MULTI
                .iter()
                .find(|op| rest.starts_with(**op))
                .map_or(1, |op| op.len());
            i += len;
            Kind::Punct
        };
        out.push(Token::new(kind, take(start, i)));
    }
    out
}

/// The opening tag of a dollar-quoted string at `i` (`$$`, `$name$`), as characters.
fn dollar_tag(chars: &[char], i: usize) -> Option<Vec<char>> {
    if chars.get(i) != Some(&'$') {
        return None;
    }
    let mut j = i + 1;
    while let Some(&c) = chars.get(j) {
        if c == '$' {
            return Some(chars[i..=j].to_vec());
        }
        if !(c.is_alphanumeric() || c == '_') || (j == i + 1 && c.is_ascii_digit()) {
            return None;
        }
        j += 1;
    }
    None
}

/// Prints tokens back as SQL.
pub fn print(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.text.as_str()).collect()
}

/// The index of the next significant token after `i`, if any.
pub fn next(tokens: &[Token], i: usize) -> Option<usize> {
    (i + 1..tokens.len()).find(|&j| !tokens[j].is_trivia())
}

/// The index of the previous significant token before `i`, if any.
pub fn prev(tokens: &[Token], i: usize) -> Option<usize> {
    (0..i).rev().find(|&j| !tokens[j].is_trivia())
}

/// The `)` that closes the `(` at `open`.
pub fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// The `(` that the `)` at `close` closes.
pub fn opening(tokens: &[Token], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for j in (0..=close).rev() {
        let t = &tokens[j];
        if t.is_punct(")") {
            depth += 1;
        } else if t.is_punct("(") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// Words that end an operand rather than name one.
const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "on",
    "as",
    "by",
    "group",
    "order",
    "having",
    "limit",
    "union",
    "all",
    "join",
    "left",
    "right",
    "inner",
    "outer",
    "cross",
    "when",
    "then",
    "else",
    "end",
    "case",
    "in",
    "is",
    "like",
    "between",
    "with",
    "distinct",
    "interval",
    "over",
    "partition",
    "asc",
    "desc",
    "offset",
    "using",
    "values",
    "set",
    "into",
    "qualify",
    "window",
    "filter",
    "escape",
    "glob",
    "exists",
    "recursive",
    "materialized",
    "except",
    "intersect",
];

pub fn is_keyword(token: &Token) -> bool {
    token.kind == Kind::Word && KEYWORDS.iter().any(|k| token.is_word(k))
}

/// The operand that ends at significant token `end`: a literal, a (qualified) name, a call,
/// a parenthesised expression or `CASE ... END`. Returns the index of its first token.
pub fn operand_backward(tokens: &[Token], end: usize) -> Option<usize> {
    let t = tokens.get(end)?;
    let mut start = if t.is_punct(")") {
        let open = opening(tokens, end)?;
        match prev(tokens, open) {
            Some(p)
                if matches!(tokens[p].kind, Kind::Word | Kind::QuotedIdent)
                    && !is_keyword(&tokens[p]) =>
            {
                p
            }
            _ => open,
        }
    } else if t.is_word("end") {
        let mut depth = 0usize;
        let mut found = None;
        for j in (0..=end).rev() {
            if tokens[j].is_word("end") {
                depth += 1;
            } else if tokens[j].is_word("case") {
                depth -= 1;
                if depth == 0 {
                    found = Some(j);
                    break;
                }
            }
        }
        found?
    } else {
        match t.kind {
            Kind::Str | Kind::Number | Kind::QuotedIdent => end,
            Kind::Word if !is_keyword(t) => end,
            Kind::Punct if t.text == "*" => end,
            _ => return None,
        }
    };
    // `schema.table.column`: take the qualifiers too.
    while let Some(dot) = prev(tokens, start).filter(|&d| tokens[d].is_punct(".")) {
        match prev(tokens, dot) {
            Some(q) if matches!(tokens[q].kind, Kind::Word | Kind::QuotedIdent) => start = q,
            _ => break,
        }
    }
    Some(start)
}

/// The left side of a binary `+` or `-` at `op`: operands joined by arithmetic operators, back
/// to the first token of lower precedence (a comparison, a keyword, a comma, an open paren).
pub fn additive_left(tokens: &[Token], op: usize) -> Option<usize> {
    let mut start = operand_backward(tokens, prev(tokens, op)?)?;
    loop {
        let Some(p) = prev(tokens, start) else {
            return Some(start);
        };
        let t = &tokens[p];
        let arithmetic = ["+", "-", "*", "/", "%"].iter().any(|o| t.is_punct(o));
        if !arithmetic {
            // A sign right before the operand belongs to it.
            return Some(start);
        }
        let Some(before) = prev(tokens, p) else {
            return Some(p);
        };
        match operand_backward(tokens, before) {
            Some(s) => start = s,
            // `(-x - interval ...)`: the minus is a sign.
            None => return Some(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_print_back_byte_for_byte() {
        let sql = "select 'it''s' as \"a b\", 1.5e-3, x::int -- note\n/* c */ from t where a<=b";
        assert_eq!(print(&lex(sql)), sql);
        let kinds: Vec<Kind> = lex("x::int").iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [Kind::Word, Kind::Punct, Kind::Word]);
    }

    #[test]
    fn operands_span_calls_qualifiers_and_parentheses() {
        let tokens = lex("a.b + f(x, (y)) - (1 + 2)");
        let sig: Vec<usize> = (0..tokens.len())
            .filter(|&i| !tokens[i].is_trivia())
            .collect();
        // a . b
        assert_eq!(operand_backward(&tokens, sig[2]), Some(sig[0]));
        // f ( x , ( y ) )
        let f = sig[4];
        assert_eq!(tokens[f].text, "f");
        let end = closing(&tokens, sig[5]).unwrap();
        assert_eq!(operand_backward(&tokens, end), Some(f));
        // The left side of the last minus is everything before it.
        let minus = sig
            .iter()
            .copied()
            .rfind(|&i| tokens[i].is_punct("-"))
            .unwrap();
        assert_eq!(additive_left(&tokens, minus), Some(sig[0]));
    }

    #[test]
    fn the_left_side_stops_at_comparisons_and_keywords() {
        let tokens = lex("where ts >= now() - 1");
        let minus = tokens.iter().position(|t| t.is_punct("-")).unwrap();
        let start = additive_left(&tokens, minus).unwrap();
        assert_eq!(tokens[start].text, "now");
    }
}
