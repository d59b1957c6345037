//! A small EDN reader (<https://github.com/edn-format/edn>) for Jepsen and
//! Knossos history files, with every error naming its line and column.
//!
//! It reads what Clojure's `pr`/`pprint` write for a history: `nil`,
//! `true`/`false`, integers (an `N` suffix allowed; too big for `i64`: kept
//! as their digits; hex `0x1F`, octal `017` and radix `2r101` too, as
//! Clojure's EDN reader takes them), floats (an `M` suffix allowed; read as `f64`), `##Inf`,
//! `##-Inf`, `##NaN`, strings (escapes `\t \r \n \b \f \\ \" \uXXXX`),
//! characters (`\a`, `\newline`, `\space`, `\tab`, `\return`,
//! `\backspace`, `\formfeed`, `\uXXXX`), keywords, symbols, lists, vectors,
//! maps, sets `#{}`, tagged values `#tag value` (the tag is kept), `#_`
//! (discard the next form), `;` comments, and commas as whitespace. Not
//! EDN, so not read: ratios (`1/2`), metadata (`^`), reader macros other
//! than the above.

use std::fmt;

use serde_json::Value;
use thiserror::Error;

/// One EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits `i64` (`12`, `-3`, `7N`).
    Int(i64),
    /// An integer too big for `i64`: its digits (sign kept, `N` dropped).
    BigInt(String),
    /// A float (`1.5`, `2e3`, `1.5M`, `##Inf`).
    Float(f64),
    /// A string, escapes decoded.
    Str(String),
    /// A character (`\a`).
    Char(char),
    /// A keyword, without its colon (`:ns/name` is `ns/name`).
    Keyword(String),
    /// A symbol (`foo`, `ns/foo`, `+`).
    Symbol(String),
    /// `( ... )`.
    List(Vec<Edn>),
    /// `[ ... ]`.
    Vector(Vec<Edn>),
    /// `#{ ... }`, in the order written.
    Set(Vec<Edn>),
    /// `{ ... }`, pairs in the order written.
    Map(Vec<(Edn, Edn)>),
    /// `#tag value`.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value of `:name` in a map (`None` for other values or a missing key).
    pub fn get(&self, name: &str) -> Option<&Edn> {
        match self {
            Edn::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as JSON, for an event's `value`. Lists and vectors become
    /// arrays (Clojure finds `[1 2]` and `(1 2)` equal); a set becomes an
    /// array sorted by its elements' JSON text, so equal sets are equal
    /// arrays; map keys become strings (a keyword `:k` is `":k"`, a string
    /// is itself, anything else its EDN text). A keyword is `":name"`, a
    /// symbol its name, a character `"\c"`, a tagged value its value (the tag
    /// dropped), a big integer its digits as a string, a non-finite float
    /// `"##Inf"`, `"##-Inf"` or `"##NaN"`.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::from(*i),
            Edn::BigInt(digits) => Value::String(digits.clone()),
            Edn::Float(f) if f.is_finite() => Value::from(*f),
            Edn::Float(_) => Value::String(self.to_string()),
            Edn::Str(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(format!("\\{c}")),
            Edn::Keyword(k) => Value::String(format!(":{k}")),
            Edn::Symbol(s) => Value::String(s.clone()),
            Edn::List(items) | Edn::Vector(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Set(items) => {
                let mut items: Vec<Value> = items.iter().map(Edn::to_json).collect();
                items.sort_by_cached_key(Value::to_string);
                Value::Array(items)
            }
            Edn::Map(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Edn::Str(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
            Edn::Tagged(_, value) => value.to_json(),
        }
    }
}

impl fmt::Display for Edn {
    /// The value as EDN text (compact, one line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(close)
        }
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::BigInt(digits) => write!(f, "{digits}N"),
            Edn::Float(x) if x.is_nan() => f.write_str("##NaN"),
            Edn::Float(x) if x.is_infinite() && *x > 0.0 => f.write_str("##Inf"),
            Edn::Float(x) if x.is_infinite() => f.write_str("##-Inf"),
            Edn::Float(x) => write!(f, "{x:?}"),
            Edn::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Edn::Char(c) => match c {
                '\n' => f.write_str("\\newline"),
                ' ' => f.write_str("\\space"),
                '\t' => f.write_str("\\tab"),
                '\r' => f.write_str("\\return"),
                c => write!(f, "\\{c}"),
            },
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::List(items) => seq(f, "(", items, ")"),
            Edn::Vector(items) => seq(f, "[", items, "]"),
            Edn::Set(items) => seq(f, "#{", items, "}"),
            Edn::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
            Edn::Tagged(tag, value) => write!(f, "#{tag} {value}"),
        }
    }
}

/// A place in the text: 1-based line and column (the column counts characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Malformed EDN: where, and what is wrong.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{at}: {message}")]
pub struct EdnError {
    /// Where the problem was found.
    pub at: Pos,
    /// What is wrong.
    pub message: String,
}

/// Reads EDN forms from a text, one at a time, knowing where each starts.
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    column: usize,
    /// Forms being read inside one another (bounded by [`MAX_DEPTH`]).
    depth: usize,
}

/// How deeply forms may nest (collections, tags, discards), so that a
/// malformed file is an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 256;

/// Characters that end a token.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
}

/// Characters a symbol or keyword may contain besides letters and digits.
fn is_symbol_char(c: char) -> bool {
    c.is_alphanumeric() || ".*+!-_?$%&=<>/:#'".contains(c)
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            at: 0,
            line: 1,
            column: 1,
            depth: 0,
        }
    }

    /// Reads with `read` one level deeper, or fails past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        at: Pos,
        read: impl FnOnce(&mut Self) -> Result<T, EdnError>,
    ) -> Result<T, EdnError> {
        if self.depth >= MAX_DEPTH {
            return self.error(at, format!("forms nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let result = read(self);
        self.depth -= 1;
        result
    }

    /// Where the reader is.
    pub fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn error<T>(&self, at: Pos, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            at,
            message: message.into(),
        })
    }

    /// The next character, not consumed.
    pub fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.at..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas, `;` comments and `#_` discarded forms.
    pub fn skip_ws(&mut self) -> Result<(), EdnError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == ',' => {
                    self.bump();
                }
                Some(';') => while !matches!(self.bump(), None | Some('\n')) {},
                Some('#') if self.peek2() == Some('_') => {
                    let at = self.pos();
                    self.bump();
                    self.bump();
                    self.nested(at, |r| {
                        r.skip_ws()?;
                        if r.peek().is_none() {
                            return r.error(at, "`#_` needs a form to discard");
                        }
                        r.form()
                    })?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next top-level form and where it starts, or `None` at the end.
    pub fn next_form(&mut self) -> Result<Option<(Pos, Edn)>, EdnError> {
        self.skip_ws()?;
        if self.peek().is_none() {
            return Ok(None);
        }
        let at = self.pos();
        Ok(Some((at, self.form()?)))
    }

    /// If the next form is a vector or a list, consumes its opening bracket
    /// and returns the closing one and where it opened.
    pub fn enter_sequence(&mut self) -> Result<Option<(char, Pos)>, EdnError> {
        self.skip_ws()?;
        let close = match self.peek() {
            Some('[') => ']',
            Some('(') => ')',
            _ => return Ok(None),
        };
        let at = self.pos();
        self.bump();
        Ok(Some((close, at)))
    }

    /// The next element of a sequence entered with [`Self::enter_sequence`]
    /// and where it starts, or `None` after its closing bracket.
    pub fn next_element(
        &mut self,
        close: char,
        opened: Pos,
    ) -> Result<Option<(Pos, Edn)>, EdnError> {
        self.skip_ws()?;
        match self.peek() {
            None => self.error(opened, format!("`{}` is never closed", opening(close))),
            Some(c) if c == close => {
                self.bump();
                Ok(None)
            }
            Some(c @ (')' | ']' | '}')) => self.error(
                self.pos(),
                format!(
                    "`{c}` does not close the `{}` opened at {opened}",
                    opening(close)
                ),
            ),
            Some(_) => {
                let at = self.pos();
                Ok(Some((at, self.form()?)))
            }
        }
    }

    /// One form; the reader is at its first character.
    fn form(&mut self) -> Result<Edn, EdnError> {
        let at = self.pos();
        let Some(c) = self.peek() else {
            return self.error(at, "unexpected end of input");
        };
        match c {
            '(' => {
                self.bump();
                Ok(Edn::List(self.elements(')', at)?))
            }
            '[' => {
                self.bump();
                Ok(Edn::Vector(self.elements(']', at)?))
            }
            '{' => {
                self.bump();
                let items = self.elements('}', at)?;
                if items.len() % 2 != 0 {
                    return self.error(
                        at,
                        format!(
                            "a map needs an even number of forms (keys and values), this one has {}",
                            items.len()
                        ),
                    );
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            ')' | ']' | '}' => self.error(at, format!("unexpected `{c}` (nothing to close)")),
            '"' => self.string(),
            '\\' => self.character(),
            '#' => self.dispatch(),
            _ => self.token(),
        }
    }

    /// Forms up to `close` (consumed); the opening bracket is consumed.
    fn elements(&mut self, close: char, opened: Pos) -> Result<Vec<Edn>, EdnError> {
        self.nested(opened, |r| {
            let mut items = Vec::new();
            while let Some((_, item)) = r.next_element(close, opened)? {
                items.push(item);
            }
            Ok(items)
        })
    }

    fn dispatch(&mut self) -> Result<Edn, EdnError> {
        let at = self.pos();
        self.bump();
        match self.peek() {
            Some('{') => {
                self.bump();
                Ok(Edn::Set(self.elements('}', at)?))
            }
            Some('#') => {
                self.bump();
                let name = self.raw_token();
                match name {
                    "Inf" => Ok(Edn::Float(f64::INFINITY)),
                    "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Edn::Float(f64::NAN)),
                    other => self.error(
                        at,
                        format!(
                            "unknown symbolic value `##{other}` (expected ##Inf, ##-Inf or ##NaN)"
                        ),
                    ),
                }
            }
            Some(c) if c.is_alphabetic() => {
                let tag = self.raw_token().to_string();
                if !tag.chars().all(is_symbol_char) {
                    return self.error(at, format!("invalid tag `#{tag}`"));
                }
                self.skip_ws()?;
                match self.peek() {
                    None | Some(')' | ']' | '}') => {
                        self.error(at, format!("the tag `#{tag}` needs a value"))
                    }
                    Some(_) => {
                        let value = self.nested(at, Self::form)?;
                        Ok(Edn::Tagged(tag, Box::new(value)))
                    }
                }
            }
            Some(c) => self.error(at, format!("unknown dispatch `#{c}`")),
            None => self.error(at, "`#` at the end of the input"),
        }
    }

    /// The text up to the next delimiter, consumed.
    fn raw_token(&mut self) -> &'a str {
        let start = self.at;
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            self.bump();
        }
        &self.text[start..self.at]
    }

    fn token(&mut self) -> Result<Edn, EdnError> {
        let at = self.pos();
        let token = self.raw_token();
        let mut chars = token.chars();
        let first = chars.next().expect("a token has a first character");
        let second = chars.next();
        match token {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        if first.is_ascii_digit()
            || (matches!(first, '+' | '-') && second.is_some_and(|c| c.is_ascii_digit()))
        {
            return number(token).ok_or_else(|| EdnError {
                at,
                message: format!("invalid number `{token}`"),
            });
        }
        if let Some(name) = token.strip_prefix(':') {
            let valid = !name.is_empty()
                && !name.starts_with(':')
                && !name.starts_with('/')
                && !name.ends_with('/')
                && name.chars().all(is_symbol_char);
            return match valid {
                true => Ok(Edn::Keyword(name.to_string())),
                false => self.error(at, format!("invalid keyword `{token}`")),
            };
        }
        let valid = token.chars().all(is_symbol_char)
            && (token == "/" || (!token.starts_with('/') && !token.ends_with('/')));
        match valid {
            true => Ok(Edn::Symbol(token.to_string())),
            false => self.error(at, format!("invalid symbol `{token}`")),
        }
    }

    fn string(&mut self) -> Result<Edn, EdnError> {
        let at = self.pos();
        self.bump();
        let mut out = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None => return self.error(at, "unterminated string"),
                Some('"') => return Ok(Edn::Str(out)),
                Some('\\') => {
                    let c = match self.bump() {
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('n') => '\n',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some('u') => self.unicode(here)?,
                        Some(c) => return self.error(here, format!("unknown escape `\\{c}`")),
                        None => return self.error(at, "unterminated string"),
                    };
                    out.push(c);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// The four hex digits after `\u`, as a character.
    fn unicode(&mut self, at: Pos) -> Result<char, EdnError> {
        let start = self.at;
        for _ in 0..4 {
            match self.peek() {
                Some(c) if c.is_ascii_hexdigit() => {
                    self.bump();
                }
                _ => return self.error(at, "`\\u` needs four hex digits"),
            }
        }
        let code = u32::from_str_radix(&self.text[start..self.at], 16).expect("four hex digits");
        char::from_u32(code).ok_or_else(|| EdnError {
            at,
            message: format!("`\\u{code:04x}` is not a character"),
        })
    }

    fn character(&mut self) -> Result<Edn, EdnError> {
        let at = self.pos();
        self.bump();
        let start = self.at;
        if self.bump().is_none() {
            return self.error(at, "`\\` at the end of the input");
        }
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            self.bump();
        }
        let name = &self.text[start..self.at];
        let c = match name {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "backspace" => '\u{8}',
            "formfeed" => '\u{c}',
            _ if name.chars().count() == 1 => name.chars().next().expect("one character"),
            _ if name.len() == 5
                && name.starts_with('u')
                && name[1..].chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                let code = u32::from_str_radix(&name[1..], 16).expect("four hex digits");
                char::from_u32(code).ok_or_else(|| EdnError {
                    at,
                    message: format!("`\\{name}` is not a character"),
                })?
            }
            _ => return self.error(at, format!("unknown character `\\{name}`")),
        };
        Ok(Edn::Char(c))
    }
}

/// The opening bracket of a closing one.
fn opening(close: char) -> char {
    match close {
        ']' => '[',
        ')' => '(',
        _ => '{',
    }
}

/// An integer or float token, or `None` if it is not one EDN allows.
fn number(token: &str) -> Option<Edn> {
    let (sign, body) = match token.strip_prefix('-') {
        Some(body) => ("-", body),
        None => ("", token.strip_prefix('+').unwrap_or(token)),
    };
    let digits = body.strip_suffix('N').unwrap_or(body);
    // Clojure's EDN reader also reads hex (0x1F), octal (017) and radix (2r101) integers.
    let radix = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        Some((16, hex))
    } else if digits.len() > 1 && digits.starts_with('0') {
        Some((8, &digits[1..]))
    } else {
        digits
            .split_once(['r', 'R'])
            .and_then(|(base, rest)| Some((base.parse::<u32>().ok()?, rest)))
            .filter(|(base, _)| (2..=36).contains(base))
    };
    if let Some((base, rest)) = radix {
        let value = i64::from_str_radix(rest, base).ok()?;
        if rest.starts_with(['+', '-']) {
            return None;
        }
        return Some(Edn::Int(if sign == "-" { -value } else { value }));
    }
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let text = format!("{sign}{digits}");
        return Some(match text.parse::<i64>() {
            Ok(i) => Edn::Int(i),
            Err(_) => Edn::BigInt(text),
        });
    }
    let decimal = body.strip_suffix('M').unwrap_or(body);
    let well_formed = decimal.starts_with(|c: char| c.is_ascii_digit())
        && decimal
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && (decimal.contains(['.', 'e', 'E']) || body.ends_with('M'));
    if !well_formed {
        return None;
    }
    format!("{sign}{decimal}")
        .parse::<f64>()
        .ok()
        .map(Edn::Float)
}

/// Reads exactly one form from `text` (whitespace and comments around it allowed).
pub fn read_one(text: &str) -> Result<Edn, EdnError> {
    let mut reader = Reader::new(text);
    let Some((_, form)) = reader.next_form()? else {
        return reader.error(reader.pos(), "no EDN form (the text is empty)");
    };
    reader.skip_ws()?;
    if reader.peek().is_some() {
        return reader.error(reader.pos(), "more text after the form");
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kw(name: &str) -> Edn {
        Edn::Keyword(name.into())
    }

    #[test]
    fn scalars() {
        let cases: Vec<(&str, Edn)> = vec![
            ("nil", Edn::Nil),
            ("true", Edn::Bool(true)),
            ("false", Edn::Bool(false)),
            ("42", Edn::Int(42)),
            ("-7", Edn::Int(-7)),
            ("+3", Edn::Int(3)),
            ("0", Edn::Int(0)),
            ("12N", Edn::Int(12)),
            ("0x1F", Edn::Int(31)),
            ("-0x10", Edn::Int(-16)),
            ("017", Edn::Int(15)),
            ("2r101", Edn::Int(5)),
            ("36rZ", Edn::Int(35)),
            (
                "123456789012345678901234567890",
                Edn::BigInt("123456789012345678901234567890".into()),
            ),
            (
                "-123456789012345678901234567890N",
                Edn::BigInt("-123456789012345678901234567890".into()),
            ),
            ("1.5", Edn::Float(1.5)),
            ("-2.5e3", Edn::Float(-2500.0)),
            ("1E2", Edn::Float(100.0)),
            ("1.25M", Edn::Float(1.25)),
            ("3M", Edn::Float(3.0)),
            ("##Inf", Edn::Float(f64::INFINITY)),
            ("##-Inf", Edn::Float(f64::NEG_INFINITY)),
            (":read", kw("read")),
            (":jepsen.history/op", kw("jepsen.history/op")),
            (":timed-out", kw("timed-out")),
            ("foo", Edn::Symbol("foo".into())),
            (
                "clojure.lang.RT/nth",
                Edn::Symbol("clojure.lang.RT/nth".into()),
            ),
            ("+", Edn::Symbol("+".into())),
            ("-", Edn::Symbol("-".into())),
            ("/", Edn::Symbol("/".into())),
            ("a#b'", Edn::Symbol("a#b'".into())),
            ("\\a", Edn::Char('a')),
            ("\\newline", Edn::Char('\n')),
            ("\\space", Edn::Char(' ')),
            ("\\tab", Edn::Char('\t')),
            ("\\u00e9", Edn::Char('é')),
            ("\\(", Edn::Char('(')),
        ];
        for (text, want) in cases {
            assert_eq!(read_one(text), Ok(want), "{text}");
        }
        assert!(matches!(read_one("##NaN"), Ok(Edn::Float(x)) if x.is_nan()));
        // Nesting up to the bound reads; chains of tags and discards count too.
        let nested = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read_one(&nested).is_ok());
        assert!(read_one(&"#_ ".repeat(10_000)).is_err());
        assert!(read_one(&format!("{}1", "#t ".repeat(10_000))).is_err());
    }

    #[test]
    fn strings_decode_their_escapes() {
        let cases = [
            (r#""plain""#, "plain"),
            (r#""""#, ""),
            (r#""a\"b""#, "a\"b"),
            (r#""back\\slash""#, "back\\slash"),
            (r#""t\tr\rn\nb\bf\f""#, "t\tr\rn\nb\u{8}f\u{c}"),
            (r#""\u0041\u00e9""#, "Aé"),
            ("\"two\nlines\"", "two\nlines"),
            (r#""x 9 1 yx 7 0 y""#, "x 9 1 yx 7 0 y"),
            (
                r#""; not a comment, [nor] {a} map""#,
                "; not a comment, [nor] {a} map",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(read_one(text), Ok(Edn::Str(want.into())), "{text}");
        }
    }

    #[test]
    fn collections() {
        assert_eq!(
            read_one("[1 (2 3) #{4} {:a 5}]"),
            Ok(Edn::Vector(vec![
                Edn::Int(1),
                Edn::List(vec![Edn::Int(2), Edn::Int(3)]),
                Edn::Set(vec![Edn::Int(4)]),
                Edn::Map(vec![(kw("a"), Edn::Int(5))]),
            ]))
        );
        assert_eq!(read_one("[]"), Ok(Edn::Vector(vec![])));
        assert_eq!(read_one("()"), Ok(Edn::List(vec![])));
        assert_eq!(read_one("{}"), Ok(Edn::Map(vec![])));
        assert_eq!(read_one("#{}"), Ok(Edn::Set(vec![])));
        assert_eq!(
            read_one("{[1 2] \"x\", nil {}}"),
            Ok(Edn::Map(vec![
                (
                    Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]),
                    Edn::Str("x".into())
                ),
                (Edn::Nil, Edn::Map(vec![])),
            ]))
        );
    }

    #[test]
    fn commas_comments_and_discards_are_whitespace() {
        let op = read_one(
            "; a history op\n{:process 22  :type :invoke, ; why\n :f :read,, :value #_ :ignored 3 #_[1 2]}",
        )
        .unwrap();
        assert_eq!(
            op,
            Edn::Map(vec![
                (kw("process"), Edn::Int(22)),
                (kw("type"), kw("invoke")),
                (kw("f"), kw("read")),
                (kw("value"), Edn::Int(3)),
            ])
        );
        assert_eq!(op.get("value"), Some(&Edn::Int(3)));
        assert_eq!(op.get("time"), None);
        assert_eq!(read_one("[1,2,,3]").unwrap().to_string(), "[1 2 3]");
    }

    #[test]
    fn tagged_values_keep_their_tag() {
        assert_eq!(
            read_one("#inst \"2024-01-01T00:00:00Z\""),
            Ok(Edn::Tagged(
                "inst".into(),
                Box::new(Edn::Str("2024-01-01T00:00:00Z".into()))
            ))
        );
        let record = read_one("#jepsen.history.Op{:index 0, :type :ok}").unwrap();
        assert!(matches!(&record, Edn::Tagged(tag, _) if tag == "jepsen.history.Op"));
        assert_eq!(
            read_one("#object[java.lang.Exception 0x1f \"boom\"]")
                .unwrap()
                .to_json(),
            json!(["java.lang.Exception", 31, "boom"])
        );
    }

    #[test]
    fn values_become_json() {
        let cases = [
            ("nil", json!(null)),
            ("[3 0]", json!([3, 0])),
            ("(3 0)", json!([3, 0])),
            ("#{2 1 3}", json!([1, 2, 3])),
            (":timed-out", json!(":timed-out")),
            ("\"s\"", json!("s")),
            ("sym", json!("sym")),
            ("\\c", json!("\\c")),
            ("{:x 1, \"y\" 2, 3 [4]}", json!({":x": 1, "y": 2, "3": [4]})),
            ("#tag [1]", json!([1])),
            ("99999999999999999999", json!("99999999999999999999")),
            ("1.5", json!(1.5)),
            ("##Inf", json!("##Inf")),
        ];
        for (text, want) in cases {
            assert_eq!(read_one(text).unwrap().to_json(), want, "{text}");
        }
        // Equal sets are equal values, whatever order they were written in.
        assert_eq!(
            read_one("#{[1 2] :a}").unwrap().to_json(),
            read_one("#{:a [1 2]}").unwrap().to_json()
        );
    }

    #[test]
    fn printing_reads_back() {
        for text in [
            "{:type :invoke, :f :cas, :value [1 2], :process :nemesis}",
            "[nil true 1.5 -3 #{:a} (x y) \"q\\\"uote\\n\" \\space 12345678901234567890N]",
            "#inst \"2024\"",
        ] {
            let form = read_one(text).unwrap();
            assert_eq!(read_one(&form.to_string()), Ok(form), "{text}");
        }
    }

    #[test]
    fn forms_and_elements_know_where_they_start() {
        let mut r = Reader::new("; header\n[{:a 1}\n {:b 2}]  {:c 3}");
        let (close, opened) = r.enter_sequence().unwrap().unwrap();
        assert_eq!((close, opened), (']', Pos { line: 2, column: 1 }));
        let (at, _) = r.next_element(close, opened).unwrap().unwrap();
        assert_eq!(at, Pos { line: 2, column: 2 });
        let (at, form) = r.next_element(close, opened).unwrap().unwrap();
        assert_eq!(
            (at, form.get("b")),
            (Pos { line: 3, column: 2 }, Some(&Edn::Int(2)))
        );
        assert_eq!(r.next_element(close, opened), Ok(None));
        let (at, _) = r.next_form().unwrap().unwrap();
        assert_eq!(
            at,
            Pos {
                line: 3,
                column: 11
            }
        );
        assert_eq!(r.next_form(), Ok(None));
        assert_eq!(r.enter_sequence(), Ok(None));
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases = [
            ("[1 2", "line 1, column 1: `[` is never closed"),
            ("\n  {:a 1", "line 2, column 3: `{` is never closed"),
            ("{:a}", "line 1, column 1: a map needs an even number of forms (keys and values), this one has 1"),
            ("[1 2))", "line 1, column 5: `)` does not close the `[` opened at line 1, column 1"),
            ("\"abc", "line 1, column 1: unterminated string"),
            ("\"a\\qb\"", "line 1, column 3: unknown escape `\\q`"),
            ("\"\\u12\"", "line 1, column 2: `\\u` needs four hex digits"),
            ("\\foo", "line 1, column 1: unknown character `\\foo`"),
            ("[:]", "line 1, column 2: invalid keyword `:`"),
            ("::a", "line 1, column 1: invalid keyword `::a`"),
            ("12abc", "line 1, column 1: invalid number `12abc`"),
            ("1/2", "line 1, column 1: invalid number `1/2`"),
            ("08", "line 1, column 1: invalid number `08`"),
            ("0xG", "line 1, column 1: invalid number `0xG`"),
            ("37r1", "line 1, column 1: invalid number `37r1`"),
            ("[a\n b@c]", "line 2, column 2: invalid symbol `b@c`"),
            ("#_", "line 1, column 1: `#_` needs a form to discard"),
            ("#inst", "line 1, column 1: the tag `#inst` needs a value"),
            ("#?(:clj 1)", "line 1, column 1: unknown dispatch `#?`"),
            ("##Foo", "line 1, column 1: unknown symbolic value `##Foo` (expected ##Inf, ##-Inf or ##NaN)"),
            ("}", "line 1, column 1: unexpected `}` (nothing to close)"),
            ("1 2", "line 1, column 3: more text after the form"),
            ("  ; only a comment", "line 1, column 19: no EDN form (the text is empty)"),
        ];
        let deep = "[".repeat(MAX_DEPTH + 1);
        let want = format!(
            "line 1, column {}: forms nested more than {MAX_DEPTH} deep",
            MAX_DEPTH + 1
        );
        let cases: Vec<(&str, &str)> = cases
            .into_iter()
            .chain([(deep.as_str(), want.as_str())])
            .collect();
        for (text, want) in cases {
            assert_eq!(read_one(text).unwrap_err().to_string(), want, "{text:?}");
        }
    }
}
