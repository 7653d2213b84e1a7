//! A parser for the small subset of Python literal syntax that `.npy` headers use:
//! dicts, lists, tuples, strings (single or double quoted, with escapes), integers, `True`,
//! `False` and `None`. It is strict, bounded in nesting depth and never panics.

use crate::error::{invalid, Invalid};

/// A parsed Python literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Literal {
    /// A `str` (or `bytes` written `b'...'`, whose content is kept as text).
    Str(String),
    /// An integer (arbitrary Python ints beyond `i128` are refused).
    Int(i128),
    /// `True` / `False`.
    Bool(bool),
    /// `None`.
    None,
    /// A tuple.
    Tuple(Vec<Literal>),
    /// A list.
    List(Vec<Literal>),
    /// A dict, keys in source order.
    Dict(Vec<(Literal, Literal)>),
}

const MAX_DEPTH: usize = 64;

/// Parse `text` as one Python literal, allowing surrounding whitespace.
pub(crate) fn parse(text: &str) -> Result<Literal, Invalid> {
    let mut p = Parser { s: text.as_bytes(), text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(invalid!("unexpected text after the header dict at byte {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(c) = self.s.get(self.i) {
            if c.is_ascii_whitespace() {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Literal, Invalid> {
        if depth > MAX_DEPTH {
            return Err(invalid!("header nests deeper than {MAX_DEPTH} levels"));
        }
        self.ws();
        match self.peek() {
            None => Err(invalid!("header ends where a value was expected")),
            Some(b'{') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Literal::Dict(items));
                    }
                    let k = self.value(depth + 1)?;
                    self.ws();
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    if !self.sep(b'}')? {
                        self.i += 1;
                        return Ok(Literal::Dict(items));
                    }
                }
            }
            Some(open @ (b'[' | b'(')) => {
                let close = if open == b'[' { b']' } else { b')' };
                self.i += 1;
                let mut items = Vec::new();
                let mut trailing_comma = false;
                loop {
                    self.ws();
                    if self.peek() == Some(close) {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    trailing_comma = self.sep(close)?;
                    if !trailing_comma {
                        self.i += 1;
                        break;
                    }
                }
                if open == b'[' {
                    Ok(Literal::List(items))
                } else if items.len() == 1 && !trailing_comma {
                    // `(x)` is just `x` in Python.
                    Ok(items.pop().unwrap_or(Literal::None))
                } else {
                    Ok(Literal::Tuple(items))
                }
            }
            Some(b'b') if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) => {
                self.i += 1;
                self.string()
            }
            Some(b'\'' | b'"') => self.string(),
            Some(c) if c == b'-' || c == b'+' || c.is_ascii_digit() => self.int(),
            Some(_) => {
                for (word, v) in [("True", Literal::Bool(true)), ("False", Literal::Bool(false)), ("None", Literal::None)] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(invalid!("unexpected character in header at byte {}", self.i))
            }
        }
    }

    /// After an item: a comma (returns true, comma consumed) or the closing bracket (returns
    /// false, bracket not consumed).
    fn sep(&mut self, close: u8) -> Result<bool, Invalid> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(c) if c == close => Ok(false),
            _ => Err(invalid!("expected ',' or '{}' in header at byte {}", close as char, self.i)),
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Invalid> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(invalid!("expected '{}' in header at byte {}", c as char, self.i))
        }
    }

    fn int(&mut self) -> Result<Literal, Invalid> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == b'_') {
            self.i += 1;
        }
        // Python 2 headers may write `10L`.
        let end = self.i;
        if self.peek() == Some(b'L') {
            self.i += 1;
        }
        let digits: String = self.text[start..end].chars().filter(|&c| c != '_').collect();
        digits
            .parse::<i128>()
            .map(Literal::Int)
            .map_err(|_| invalid!("invalid or too large integer '{}' in header", &self.text[start..end]))
    }

    fn string(&mut self) -> Result<Literal, Invalid> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.i..];
            let mut chars = rest.chars();
            let Some(c) = chars.next() else {
                return Err(invalid!("unterminated string in header"));
            };
            self.i += c.len_utf8();
            if c as u32 == quote as u32 {
                return Ok(Literal::Str(out));
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = chars.next() else {
                return Err(invalid!("unterminated string in header"));
            };
            self.i += e.len_utf8();
            match e {
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'x' => out.push(self.hex(2)?),
                'u' => out.push(self.hex(4)?),
                'U' => out.push(self.hex(8)?),
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
        }
    }

    fn hex(&mut self, n: usize) -> Result<char, Invalid> {
        let digits = self.text.get(self.i..self.i + n).ok_or_else(|| invalid!("truncated escape in header string"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| invalid!("bad escape in header string"))?;
        self.i += n;
        char::from_u32(v).ok_or_else(|| invalid!("bad escape in header string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let v = parse("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }").unwrap();
        let Literal::Dict(items) = v else { panic!() };
        assert_eq!(items[0], (Literal::Str("descr".into()), Literal::Str("<f8".into())));
        assert_eq!(items[1].1, Literal::Bool(false));
        assert_eq!(items[2].1, Literal::Tuple(vec![Literal::Int(3), Literal::Int(4)]));
        assert_eq!(parse("(5,)").unwrap(), Literal::Tuple(vec![Literal::Int(5)]));
        assert_eq!(parse("()").unwrap(), Literal::Tuple(vec![]));
        assert_eq!(parse("(5)").unwrap(), Literal::Int(5));
        assert_eq!(parse("\"a\\\"b\"").unwrap(), Literal::Str("a\"b".into()));
        assert_eq!(parse("'\\u00e9x'").unwrap(), Literal::Str("\u{e9}x".into()));
        assert_eq!(parse("[('a', '<i4'), ('b', '|V4', (2,))]").unwrap().clone(), parse("[('a','<i4'),('b','|V4',(2,)),]").unwrap());
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["{", "{'a' 1}", "(1,2", "'abc", "1 2", "[1,,2]", "{1:}", "x", "99999999999999999999999999999999999999999999"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse(&deep).is_err());
    }
}
