//! `.npy` headers generated as text from fuzz bytes, for the structure-aware targets
//! (`npy_header_structured`, `decode_structured`).
//!
//! Every choice is drawn from an [`Unstructured`]; the first variant of each enum is the
//! common, valid choice, so short or all-zero inputs give well-formed headers and the fuzzer
//! mutates from there. In `sane` mode (used for most archive members) only choices that keep
//! the header parseable are made, so the decoders behind it are reached; the time multipliers,
//! sizes of strings, sub-array shapes and dims stay wide open in both modes.

#![allow(dead_code)]

use arbitrary::{Arbitrary, Result, Unstructured};

/// A generated `.npy` header.
#[derive(Debug)]
pub struct Header {
    /// The header dict as text (what `parse_header_dict` takes).
    pub dict: String,
    /// The whole header: magic, version, length, dict and padding.
    pub bytes: Vec<u8>,
    /// Bytes per element as the parser should compute them, when the descr looks valid.
    pub itemsize: Option<u64>,
    /// Elements in the array (product of the dims), when the shape looks valid.
    pub count: Option<u64>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum EndianChar {
    Little,
    Big,
    Pipe,
    Equal,
    Omitted,
    Bang,
    Caret,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Kind {
    Float,
    Int,
    UInt,
    Bool,
    BoolQ,
    Complex,
    Datetime,
    Timedelta,
    Unicode,
    Bytes,
    Void,
    Object,
    OldBytes,
    Odd(OddKind),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum OddKind {
    BigB,
    X,
    E,
    Q,
    Mu,
    Empty,
    Digit,
    Bracket,
    Nul,
}

/// The element size after the kind letter.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum SizeSpec {
    Natural(u8),
    Omit,
    Zero,
    Small(u8),
    Pow2(u8),
    I31Max,
    Pow31,
    Pow31Plus1,
    U64Max,
    U64MaxPlus1,
    Long(u8),
    LeadingZeros(u8),
    Signed,
    Fraction,
    Any(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum TimeSuffix {
    Unit(Mult, Unit),
    Omitted,
    Empty,
    Unclosed(Unit),
    Doubled,
    Trailing(Unit),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Mult {
    Omit,
    Small(u8),
    Zero,
    One,
    I31Max,
    Pow31,
    Pow32,
    I64Max,
    U64Max,
    U64MaxPlus1,
    Long(u8),
    Any(u64),
    Negative(u8),
    LeadingZeros(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Unit {
    Y,
    M,
    W,
    D,
    H,
    Min,
    S,
    Ms,
    Us,
    MicroSign,
    Ns,
    Ps,
    Fs,
    As,
    Generic,
    Empty,
    Odd(u8),
}

const ODD_UNITS: &[&str] = &["y", "d", "sec", "Ms", "\u{3bc}", "us ", "2", "[s]", "\0", "ss", "B", "S", "generic2", "\u{b5}s"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum DescrForm {
    TypeString,
    Record,
    Odd(OddDescr),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum OddDescr {
    Int,
    NoneLit,
    TupleForm,
    DictForm,
    EmptyList,
    BytesString,
    Deep(u8),
    Bool,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum NameSpec {
    Fresh,
    Dup,
    Empty,
    Unicode(u8),
    WithQuote,
    WithBackslash,
    Long(u8),
    NonString,
    Space,
}

const UNICODE_NAMES: &[&str] = &["\u{e9}t\u{e9}", "\u{540d}\u{524d}", "\u{1f600}", "\u{0}", "a\nb", "\u{ff}", "\u{100}"];

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum FieldForm {
    Pair,
    WithShape,
    Titled,
    TitledWithShape,
    One,
    Four,
    List,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum SubShape {
    Tuple(u8),
    Int,
    EmptyTuple,
    List(u8),
    NoneLit,
    Str,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Dim {
    Small(u8),
    Zero,
    One,
    Mid(u16),
    I31Max,
    Pow31,
    Pow32,
    I64Max,
    I64MaxPlus1,
    U64Max,
    I128Max,
    Long(u8),
    Negative(u8),
    NegZero,
    Any(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum IntForm {
    Plain,
    Plus,
    Underscore,
    LeadingZeros(u8),
    LSuffix,
    Spaced,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum ShapeForm {
    Tuple,
    List,
    Bare,
    NoneLit,
    Str,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum FortranSpec {
    False,
    True,
    Zero,
    One,
    NoneLit,
    Str,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum DictMutation {
    MissingKey(u8),
    DupKey(u8),
    ExtraKey,
    NonStrKey,
    BytesKey,
    NotADict,
    TrailingText,
    Unclosed,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Ws {
    Space,
    Two,
    Tab,
    Newline,
    CrLf,
    FormFeed,
    VTab,
    Many(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Escape {
    Literal,
    Hex,
    U4,
    U8,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum BrokenString {
    Unterminated,
    BadEscape,
    TruncatedHex,
    BadCodepoint,
    Surrogate,
    TrailingBackslash,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Version {
    V1,
    V2,
    V3,
    Odd(u8, u8),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum LenSpec {
    Exact,
    Plus(u8),
    Minus(u8),
    Any(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Pad {
    Numpy,
    Unpadded,
    NewlineOnly,
    Spaces(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Natural,
    Utf8,
    Latin1,
}

/// Maximum nesting of records (deeper only through `OddDescr::Deep`).
const MAX_DEPTH: usize = 6;

struct Gen<'a, 'b> {
    u: &'b mut Unstructured<'a>,
    sane: bool,
    out: String,
    names: Vec<String>,
}

impl<'a, 'b> Gen<'a, 'b> {
    fn ratio(&mut self, num: u8, den: u8) -> Result<bool> {
        chance(self.u, num, den)
    }

    fn ws(&mut self) -> Result<()> {
        // Usually nothing or one space.
        if !self.ratio(1, 4)? {
            return Ok(());
        }
        let w: Ws = self.u.arbitrary()?;
        let s = match w {
            Ws::Space => " ".to_string(),
            Ws::Two => "  ".to_string(),
            Ws::Tab => "\t".to_string(),
            Ws::Newline => "\n".to_string(),
            Ws::CrLf => "\r\n".to_string(),
            Ws::FormFeed => "\x0c".to_string(),
            Ws::VTab if !self.sane => "\x0b".to_string(),
            Ws::VTab => " ".to_string(),
            Ws::Many(n) => " \t\n".repeat(usize::from(n % 8)),
        };
        self.out.push_str(&s);
        Ok(())
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// A comma after the last item of a list, tuple (of two or more) or dict?
    fn trailing_comma(&mut self) -> Result<()> {
        if self.u.arbitrary()? {
            self.ws()?;
            self.push(",");
        }
        Ok(())
    }

    /// `s` as a Python string literal: either quote, escapes of several kinds, sometimes a
    /// `b` prefix, and (wild mode) sometimes broken.
    fn string(&mut self, s: &str) -> Result<()> {
        let quote = if self.u.arbitrary()? { '"' } else { '\'' };
        if self.ratio(1, 16)? {
            self.push("b");
        }
        let escaping = self.ratio(1, 6)?;
        self.out.push(quote);
        for c in s.chars() {
            let esc: Escape = if escaping { self.u.arbitrary()? } else { Escape::Literal };
            match (esc, c) {
                (Escape::Literal, c) if c == quote || c == '\\' => {
                    self.out.push('\\');
                    self.out.push(c);
                }
                (Escape::Literal, '\n') => self.push("\\n"),
                (Escape::Literal, '\r') => self.push("\\r"),
                (Escape::Literal, '\t') => self.push("\\t"),
                (Escape::Literal, '\0') => self.push("\\0"),
                (Escape::Literal, c) => self.out.push(c),
                (Escape::Hex, c) if (c as u32) < 256 => self.out.push_str(&format!("\\x{:02x}", c as u32)),
                (Escape::Hex | Escape::U4, c) if (c as u32) < 0x10000 => self.out.push_str(&format!("\\u{:04X}", c as u32)),
                (_, c) => self.out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        if !self.sane && self.ratio(1, 32)? {
            let b: BrokenString = self.u.arbitrary()?;
            match b {
                BrokenString::Unterminated => return Ok(()),
                BrokenString::BadEscape => self.push("\\q"),
                BrokenString::TruncatedHex => self.push("\\x4"),
                BrokenString::BadCodepoint => self.push("\\U00110000"),
                BrokenString::Surrogate => self.push("\\ud800"),
                BrokenString::TrailingBackslash => self.push("\\"),
            }
        }
        self.out.push(quote);
        Ok(())
    }

    /// An integer literal for `digits` (sign included) in one of Python's spellings.
    fn int_text(&mut self, digits: &str) -> Result<()> {
        let form: IntForm = if self.ratio(1, 4)? { self.u.arbitrary()? } else { IntForm::Plain };
        let (sign, body) = match digits.strip_prefix('-') {
            Some(b) => ("-", b),
            None => ("", digits),
        };
        let text = match form {
            IntForm::Plain => digits.to_string(),
            IntForm::Plus if sign.is_empty() => format!("+{body}"),
            IntForm::Plus => digits.to_string(),
            IntForm::Underscore if body.len() > 1 => format!("{sign}{}_{}", &body[..1], &body[1..]),
            IntForm::Underscore => format!("{sign}{body}_"),
            IntForm::LeadingZeros(n) => format!("{sign}{}{body}", "0".repeat(usize::from(n % 40))),
            IntForm::LSuffix => format!("{digits}L"),
            IntForm::Spaced if self.sane => digits.to_string(),
            IntForm::Spaced => format!("{sign} {body}"),
        };
        self.push(&text);
        Ok(())
    }

    /// A dimension; returns its value when it is a valid one.
    fn dim(&mut self, small: bool) -> Result<Option<u64>> {
        let d: Dim = self.u.arbitrary()?;
        let d = if small {
            match d {
                Dim::Small(_) | Dim::Zero | Dim::One => d,
                // Small shapes mostly, so archive members hold their data; large ones rarely.
                _ if self.ratio(1, 32)? => d,
                Dim::Mid(n) => Dim::Small(n as u8),
                _ => Dim::Small(2),
            }
        } else {
            d
        };
        let (text, value): (String, Option<u64>) = match d {
            Dim::Small(n) => {
                let n = u64::from(n % if small { 6 } else { 16 });
                (n.to_string(), Some(n))
            }
            Dim::Zero => ("0".into(), Some(0)),
            Dim::One => ("1".into(), Some(1)),
            Dim::Mid(n) => (n.to_string(), Some(u64::from(n))),
            Dim::I31Max => ((i32::MAX).to_string(), Some(i32::MAX as u64)),
            Dim::Pow31 => ((1u64 << 31).to_string(), Some(1 << 31)),
            Dim::Pow32 => ((1u64 << 32).to_string(), Some(1 << 32)),
            Dim::I64Max => (i64::MAX.to_string(), Some(i64::MAX as u64)),
            Dim::I64MaxPlus1 => ((i64::MAX as u64 + 1).to_string(), None),
            Dim::U64Max => (u64::MAX.to_string(), None),
            Dim::I128Max => (i128::MAX.to_string(), None),
            Dim::Long(n) => ("9".repeat(1 + usize::from(n % 80)), None),
            Dim::Negative(n) => (format!("-{}", 1 + u32::from(n)), None),
            Dim::NegZero => ("-0".into(), Some(0)),
            Dim::Any(n) => (n.to_string(), (n <= i64::MAX as u64).then_some(n)),
        };
        self.int_text(&text)?;
        Ok(value)
    }

    /// A tuple (or list) of dims; returns the product when every dim is valid.
    fn dims(&mut self, open: &str, close: &str, n: usize, small: bool) -> Result<Option<u64>> {
        self.push(open);
        let mut product = Some(1u64);
        for i in 0..n {
            self.ws()?;
            let d = self.dim(small)?;
            product = match (product, d) {
                (Some(p), Some(d)) => p.checked_mul(d),
                _ => None,
            };
            self.ws()?;
            if i + 1 < n {
                self.push(",");
            }
        }
        if n == 1 && open == "(" {
            // `(5,)` is a tuple; `(5)` is just 5.
            if self.sane || !self.ratio(1, 8)? {
                self.push(",");
            } else {
                product = None;
            }
        } else if n > 1 {
            self.trailing_comma()?;
        }
        self.ws()?;
        self.push(close);
        Ok(product)
    }

    fn mult(&mut self, m: Mult) -> Result<()> {
        let text = match m {
            Mult::Omit => String::new(),
            Mult::Small(n) => (1 + u32::from(n % 100)).to_string(),
            Mult::Zero => "0".into(),
            Mult::One => "1".into(),
            Mult::I31Max => i32::MAX.to_string(),
            Mult::Pow31 => (1u64 << 31).to_string(),
            Mult::Pow32 => (1u64 << 32).to_string(),
            Mult::I64Max => i64::MAX.to_string(),
            Mult::U64Max => u64::MAX.to_string(),
            Mult::U64MaxPlus1 => "18446744073709551616".into(),
            Mult::Long(n) => "9".repeat(1 + usize::from(n % 60)),
            Mult::Any(n) => n.to_string(),
            Mult::Negative(n) => format!("-{}", 1 + u32::from(n)),
            Mult::LeadingZeros(n) => format!("{}7", "0".repeat(usize::from(n % 30))),
        };
        self.push(&text);
        Ok(())
    }

    fn unit(&mut self, unit: Unit) {
        let s = match unit {
            Unit::Y => "Y",
            Unit::M => "M",
            Unit::W => "W",
            Unit::D => "D",
            Unit::H => "h",
            Unit::Min => "m",
            Unit::S => "s",
            Unit::Ms => "ms",
            Unit::Us => "us",
            Unit::MicroSign => "\u{3bc}s",
            Unit::Ns => "ns",
            Unit::Ps => "ps",
            Unit::Fs => "fs",
            Unit::As => "as",
            Unit::Generic => "generic",
            Unit::Empty => "",
            Unit::Odd(i) => ODD_UNITS[usize::from(i) % ODD_UNITS.len()],
        };
        self.push(s);
    }

    /// The text of a type string (unquoted), and its itemsize when it looks valid.
    fn type_string(&mut self) -> Result<(String, Option<u64>)> {
        let saved = std::mem::take(&mut self.out);
        let size = self.type_string_inner();
        let text = std::mem::replace(&mut self.out, saved);
        Ok((text, size?))
    }

    fn type_string_inner(&mut self) -> Result<Option<u64>> {
        let mut endian: EndianChar = self.u.arbitrary()?;
        let mut kind: Kind = self.u.arbitrary()?;
        let mut size: SizeSpec = if self.ratio(1, 5)? { self.u.arbitrary()? } else { SizeSpec::Natural(self.u.arbitrary()?) };
        if self.sane {
            if matches!(endian, EndianChar::Bang | EndianChar::Caret) {
                endian = EndianChar::Little;
            }
            if let Kind::Odd(_) = kind {
                kind = Kind::Float;
            }
            // Strings, bytes and raw bytes take any width; other kinds only their own.
            let free = matches!(kind, Kind::Unicode | Kind::Bytes | Kind::Void | Kind::OldBytes);
            size = match size {
                SizeSpec::Zero | SizeSpec::Small(_) | SizeSpec::Omit if free => size,
                SizeSpec::Pow2(n) if free && n % 64 < 31 => size,
                _ => SizeSpec::Natural(self.u.arbitrary()?),
            };
        }
        let e = match endian {
            EndianChar::Little => "<",
            EndianChar::Big => ">",
            EndianChar::Pipe => "|",
            EndianChar::Equal => "=",
            EndianChar::Omitted => "",
            EndianChar::Bang => "!",
            EndianChar::Caret => "^",
        };
        self.push(e);
        let k = match kind {
            Kind::Float => "f",
            Kind::Int => "i",
            Kind::UInt => "u",
            Kind::Bool => "b",
            Kind::BoolQ => "?",
            Kind::Complex => "c",
            Kind::Datetime => "M",
            Kind::Timedelta => "m",
            Kind::Unicode => "U",
            Kind::Bytes => "S",
            Kind::Void => "V",
            Kind::Object => "O",
            Kind::OldBytes => "a",
            Kind::Odd(o) => match o {
                OddKind::BigB => "B",
                OddKind::X => "x",
                OddKind::E => "e",
                OddKind::Q => "q",
                OddKind::Mu => "\u{3bc}",
                OddKind::Empty => "",
                OddKind::Digit => "4",
                OddKind::Bracket => "[",
                OddKind::Nul => "\0",
            },
        };
        self.push(k);
        // The size the parser sees (None: not a plain number it takes).
        let size_value: Option<u64> = match size {
            SizeSpec::Natural(n) => {
                let n = usize::from(n);
                let v: Option<u64> = match kind {
                    Kind::Int | Kind::UInt => Some([1, 2, 4, 8][n % 4]),
                    Kind::Float => Some([8, 4, 2, 16, 12][n % 5]),
                    Kind::Complex => Some([16, 8, 32, 24][n % 4]),
                    Kind::Bool => Some(1),
                    Kind::Datetime | Kind::Timedelta => Some(8),
                    Kind::Unicode | Kind::Bytes | Kind::Void | Kind::OldBytes => Some((n % 17) as u64),
                    Kind::BoolQ | Kind::Object => None,
                    Kind::Odd(_) => Some([1, 2, 4, 8][n % 4]),
                };
                if let Some(v) = v {
                    self.push(&v.to_string());
                }
                v.or(match kind {
                    Kind::BoolQ => Some(1),
                    Kind::Object => Some(8),
                    _ => None,
                })
            }
            SizeSpec::Omit => match kind {
                Kind::Bool | Kind::BoolQ => Some(1),
                Kind::Object | Kind::Datetime | Kind::Timedelta => Some(8),
                _ => Some(0),
            },
            SizeSpec::Zero => {
                self.push("0");
                Some(0)
            }
            SizeSpec::Small(n) => {
                self.push(&n.to_string());
                Some(u64::from(n))
            }
            SizeSpec::Pow2(n) => {
                let v = 1u64 << (n % 64);
                self.push(&v.to_string());
                Some(v)
            }
            SizeSpec::I31Max => {
                self.push(&i32::MAX.to_string());
                Some(i32::MAX as u64)
            }
            SizeSpec::Pow31 => {
                self.push(&(1u64 << 31).to_string());
                Some(1 << 31)
            }
            SizeSpec::Pow31Plus1 => {
                self.push(&((1u64 << 31) + 1).to_string());
                Some((1 << 31) + 1)
            }
            SizeSpec::U64Max => {
                self.push(&u64::MAX.to_string());
                Some(u64::MAX)
            }
            SizeSpec::U64MaxPlus1 => {
                self.push("18446744073709551616");
                None
            }
            SizeSpec::Long(n) => {
                self.push(&"9".repeat(1 + usize::from(n % 60)));
                None
            }
            SizeSpec::LeadingZeros(n) => {
                self.push(&format!("{}4", "0".repeat(usize::from(n % 20))));
                Some(4)
            }
            SizeSpec::Signed => {
                self.push("+4");
                None
            }
            SizeSpec::Fraction => {
                self.push("4.0");
                None
            }
            SizeSpec::Any(n) => {
                self.push(&n.to_string());
                Some(n)
            }
        };
        let is_time = matches!(kind, Kind::Datetime | Kind::Timedelta);
        // A time suffix for time kinds (usually), and now and then for others.
        if is_time || (!self.sane && self.ratio(1, 32)?) {
            let suffix: TimeSuffix = if self.ratio(1, 6)? { self.u.arbitrary()? } else { TimeSuffix::Unit(self.u.arbitrary()?, self.u.arbitrary()?) };
            let suffix = match suffix {
                TimeSuffix::Unit(..) | TimeSuffix::Omitted => suffix,
                _ if self.sane => TimeSuffix::Omitted,
                _ => suffix,
            };
            match suffix {
                TimeSuffix::Unit(m, unit) => {
                    self.push("[");
                    self.mult(m)?;
                    self.unit(unit);
                    self.push("]");
                }
                TimeSuffix::Omitted => {}
                TimeSuffix::Empty => self.push("[]"),
                TimeSuffix::Unclosed(unit) => {
                    self.push("[");
                    self.unit(unit);
                }
                TimeSuffix::Doubled => self.push("[s][s]"),
                TimeSuffix::Trailing(unit) => {
                    self.push("[");
                    self.unit(unit);
                    self.push("]x");
                }
            }
        }
        // The itemsize as the parser computes it: U counts UTF-32 code units.
        Ok(match (kind, size_value) {
            (Kind::Unicode, Some(v)) => v.checked_mul(4),
            (_, v) => v,
        })
    }

    fn name(&mut self) -> Result<()> {
        let spec: NameSpec = if self.ratio(1, 3)? { self.u.arbitrary()? } else { NameSpec::Fresh };
        let name = match spec {
            NameSpec::Dup if self.sane => format!("f{}", self.names.len()),
            NameSpec::Dup if !self.names.is_empty() => {
                let i = self.u.choose_index(self.names.len())?;
                self.names[i].clone()
            }
            NameSpec::Fresh | NameSpec::Dup => format!("f{}", self.names.len()),
            NameSpec::Empty => String::new(),
            NameSpec::Unicode(i) => format!("{}{}", UNICODE_NAMES[usize::from(i) % UNICODE_NAMES.len()], self.names.len()),
            NameSpec::WithQuote => format!("it's \"{}\"", self.names.len()),
            NameSpec::WithBackslash => format!("a\\b{}", self.names.len()),
            NameSpec::Long(n) => "n".repeat(1 + usize::from(n)),
            NameSpec::Space => format!(" {} ", self.names.len()),
            NameSpec::NonString if self.sane => format!("g{}", self.names.len()),
            NameSpec::NonString => {
                self.push("7");
                return Ok(());
            }
        };
        self.names.push(name.clone());
        self.string(&name)
    }

    /// A `descr` value; returns the itemsize when it looks valid.
    fn descr(&mut self, depth: usize) -> Result<Option<u64>> {
        // Records get rarer with depth; odd values only in wild mode.
        let form = if !self.sane && self.ratio(1, 16)? {
            DescrForm::Odd(self.u.arbitrary()?)
        } else if depth < MAX_DEPTH && self.ratio(1, 3 + 2 * depth as u8)? {
            DescrForm::Record
        } else {
            DescrForm::TypeString
        };
        match form {
            DescrForm::TypeString => {
                let (text, size) = self.type_string()?;
                self.string(&text)?;
                Ok(size)
            }
            DescrForm::Record => self.record(depth),
            DescrForm::Odd(o) => {
                match o {
                    OddDescr::Int => self.push("8"),
                    OddDescr::NoneLit => self.push("None"),
                    OddDescr::Bool => self.push("True"),
                    OddDescr::TupleForm => {
                        self.push("(");
                        let (t, _) = self.type_string()?;
                        self.string(&t)?;
                        self.push(", ");
                        self.dims("(", ")", 1, true)?;
                        self.push(")");
                    }
                    OddDescr::DictForm => {
                        self.push("{'names': [");
                        self.name()?;
                        self.push("], 'formats': [");
                        let (t, _) = self.type_string()?;
                        self.string(&t)?;
                        self.push("]}");
                    }
                    OddDescr::EmptyList => self.push("[]"),
                    OddDescr::BytesString => {
                        let (t, _) = self.type_string()?;
                        self.push("b");
                        self.string(&t)?;
                    }
                    OddDescr::Deep(n) => {
                        // Nested records past the parser's depth limits (32 for records, 64
                        // for literals).
                        let n = 20 + usize::from(n % 50);
                        for _ in 0..n {
                            self.push("[('a', ");
                        }
                        self.push("'<i4'");
                        for _ in 0..n {
                            self.push(")]");
                        }
                    }
                }
                Ok(None)
            }
        }
    }

    /// A structured descr: a list of `(name, descr[, shape])` tuples.
    fn record(&mut self, depth: usize) -> Result<Option<u64>> {
        let n = if self.sane { self.u.int_in_range(1..=4)? } else { self.u.int_in_range(0..=5)? };
        self.push("[");
        let mut total = Some(0u64);
        for i in 0..n {
            self.ws()?;
            let form: FieldForm = if self.ratio(1, 2)? { self.u.arbitrary()? } else { FieldForm::Pair };
            let form = match form {
                FieldForm::One | FieldForm::Four | FieldForm::List if self.sane => FieldForm::WithShape,
                f => f,
            };
            let (open, close) = if form == FieldForm::List { ("[", "]") } else { ("(", ")") };
            self.push(open);
            self.ws()?;
            if matches!(form, FieldForm::Titled | FieldForm::TitledWithShape) {
                self.push("(");
                let title = format!("title {}", self.names.len());
                self.string(&title)?;
                self.push(", ");
                self.name()?;
                self.push(")");
            } else {
                self.name()?;
            }
            if form == FieldForm::One {
                self.push(",");
                self.ws()?;
                self.push(close);
                total = None;
            } else {
                self.ws()?;
                self.push(",");
                self.ws()?;
                let size = self.descr(depth + 1)?;
                let mut field = size;
                if matches!(form, FieldForm::WithShape | FieldForm::TitledWithShape | FieldForm::Four) {
                    self.push(",");
                    self.ws()?;
                    let sub: SubShape = self.u.arbitrary()?;
                    let sub = match sub {
                        SubShape::NoneLit | SubShape::Str if self.sane => SubShape::Int,
                        s => s,
                    };
                    let count = match sub {
                        SubShape::Tuple(k) => self.dims("(", ")", usize::from(k % 4) + 1, true)?,
                        SubShape::List(k) => self.dims("[", "]", usize::from(k % 4), true)?,
                        SubShape::EmptyTuple => {
                            self.push("()");
                            Some(1)
                        }
                        SubShape::Int => self.dim(true)?,
                        SubShape::NoneLit => {
                            self.push("None");
                            None
                        }
                        SubShape::Str => {
                            self.push("'2'");
                            None
                        }
                    };
                    field = match (field, count) {
                        (Some(f), Some(c)) => f.checked_mul(c),
                        _ => None,
                    };
                }
                if form == FieldForm::Four {
                    self.push(", 'extra'");
                    field = None;
                }
                self.trailing_comma()?;
                self.ws()?;
                self.push(close);
                if form == FieldForm::List {
                    field = None;
                }
                total = match (total, field) {
                    (Some(t), Some(f)) => t.checked_add(f),
                    _ => None,
                };
            }
            self.ws()?;
            if i + 1 < n {
                self.push(",");
            }
        }
        if n > 0 {
            self.trailing_comma()?;
        }
        self.ws()?;
        self.push("]");
        Ok(total)
    }

    fn shape(&mut self) -> Result<Option<u64>> {
        let form: ShapeForm = if self.ratio(1, 6)? { self.u.arbitrary()? } else { ShapeForm::Tuple };
        let form = if self.sane && !matches!(form, ShapeForm::List) { ShapeForm::Tuple } else { form };
        let n = if self.sane {
            self.u.int_in_range(0..=3)?
        } else if self.ratio(1, 64)? {
            self.u.int_in_range(60..=70)?
        } else {
            self.u.int_in_range(0..=8)?
        };
        let small = self.sane;
        match form {
            ShapeForm::Tuple => self.dims("(", ")", n, small),
            ShapeForm::List => self.dims("[", "]", n, small),
            ShapeForm::Bare => {
                self.dim(small)?;
                Ok(None)
            }
            ShapeForm::NoneLit => {
                self.push("None");
                Ok(None)
            }
            ShapeForm::Str => {
                self.push("'(2,)'");
                Ok(None)
            }
        }
    }

    fn fortran(&mut self) -> Result<()> {
        let f: FortranSpec = self.u.arbitrary()?;
        let f = match f {
            FortranSpec::False | FortranSpec::True => f,
            _ if self.sane => FortranSpec::True,
            _ => f,
        };
        let s = match f {
            FortranSpec::False => "False",
            FortranSpec::True => "True",
            FortranSpec::Zero => "0",
            FortranSpec::One => "1",
            FortranSpec::NoneLit => "None",
            FortranSpec::Str => "'True'",
        };
        self.push(s);
        Ok(())
    }

    fn key(&mut self, k: &str) -> Result<()> {
        self.string(k)?;
        self.ws()?;
        self.push(":");
        self.ws()
    }

    /// The header dict; returns (itemsize, count).
    fn dict(&mut self) -> Result<(Option<u64>, Option<u64>)> {
        let mutation: Option<DictMutation> = if !self.sane && self.ratio(1, 16)? { Some(self.u.arbitrary()?) } else { None };
        if mutation == Some(DictMutation::NotADict) {
            self.push("[");
            self.descr(0)?;
            self.push("]");
            return Ok((None, None));
        }
        // numpy writes descr, fortran_order, shape; any order parses.
        let mut order = [0usize, 1, 2];
        if self.ratio(1, 8)? {
            let a = self.u.choose_index(3)?;
            let b = self.u.choose_index(3)?;
            order.swap(a, b);
        }
        let skip = match mutation {
            Some(DictMutation::MissingKey(k)) => Some(usize::from(k) % 3),
            _ => None,
        };
        let dup = match mutation {
            Some(DictMutation::DupKey(k)) => Some(usize::from(k) % 3),
            _ => None,
        };
        self.push("{");
        let (mut itemsize, mut count) = (None, None);
        let mut first = true;
        for &k in &order {
            for _ in 0..if dup == Some(k) { 2 } else { 1 } {
                if skip == Some(k) {
                    continue;
                }
                if !first {
                    self.push(",");
                }
                first = false;
                self.ws()?;
                match k {
                    0 => {
                        self.key("descr")?;
                        itemsize = self.descr(0)?;
                    }
                    1 => {
                        self.key("fortran_order")?;
                        self.fortran()?;
                    }
                    _ => {
                        self.key("shape")?;
                        count = self.shape()?;
                    }
                }
                self.ws()?;
            }
        }
        match mutation {
            Some(DictMutation::ExtraKey) => {
                self.push(", ");
                self.key("extra")?;
                self.push("1");
            }
            Some(DictMutation::NonStrKey) => self.push(", 1: 2"),
            Some(DictMutation::BytesKey) => self.push(", b'shape': ()"),
            _ => {}
        }
        // numpy writes `, }`.
        if self.u.arbitrary::<bool>()? || self.ratio(1, 2)? {
            self.push(", ");
        }
        match mutation {
            Some(DictMutation::Unclosed) => {}
            Some(DictMutation::TrailingText) => self.push("} x"),
            _ => self.push("}"),
        }
        Ok((itemsize, count))
    }
}

/// A `.npy` header generated from `u`; `sane` keeps it parseable (mostly).
pub fn header(u: &mut Unstructured<'_>, sane: bool) -> Result<Header> {
    let mut g = Gen { u, sane, out: String::new(), names: Vec::new() };
    g.ws()?;
    let (itemsize, count) = g.dict()?;
    g.ws()?;
    let dict = std::mem::take(&mut g.out);

    let version: Version = if g.ratio(1, 3)? { g.u.arbitrary()? } else { Version::V1 };
    let version = match version {
        Version::Odd(..) if sane => Version::V2,
        v => v,
    };
    let (major, minor) = match version {
        Version::V1 => (1, 0),
        Version::V2 => (2, 0),
        Version::V3 => (3, 0),
        Version::Odd(a, b) => (a % 5, b % 3),
    };
    let encoding: Encoding = if g.ratio(1, 8)? { g.u.arbitrary()? } else { Encoding::Natural };
    let encoding = if sane { Encoding::Natural } else { encoding };
    let latin1 = |s: &str| s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect::<Vec<u8>>();
    let mut text: Vec<u8> = match (encoding, major) {
        (Encoding::Utf8, _) | (Encoding::Natural, 3) => dict.as_bytes().to_vec(),
        (Encoding::Latin1, _) => latin1(&dict),
        // numpy writes v1/v2 headers in latin-1; chars past it need v3 (utf-8).
        (Encoding::Natural, _) if dict.chars().all(|c| (c as u32) < 256) => latin1(&dict),
        (Encoding::Natural, _) => dict.as_bytes().to_vec(),
    };
    let len_bytes = if major == 1 { 2 } else { 4 };
    let pad: Pad = if g.ratio(1, 6)? { g.u.arbitrary()? } else { Pad::Numpy };
    match pad {
        Pad::Numpy => {
            let unpadded = 8 + len_bytes + text.len() + 1;
            text.resize(text.len() + (64 - unpadded % 64) % 64, b' ');
            text.push(b'\n');
        }
        Pad::Unpadded => {}
        Pad::NewlineOnly => text.push(b'\n'),
        Pad::Spaces(n) => text.resize(text.len() + usize::from(n), b' '),
    }
    let len: LenSpec = if !sane && g.ratio(1, 16)? { g.u.arbitrary()? } else { LenSpec::Exact };
    let n = text.len() as u64;
    let len = match len {
        LenSpec::Exact => n,
        LenSpec::Plus(k) => n + u64::from(k),
        LenSpec::Minus(k) => n.saturating_sub(u64::from(k)),
        LenSpec::Any(k) => u64::from(k),
    };
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend([major, minor]);
    if major == 1 {
        bytes.extend((len as u16).to_le_bytes());
    } else {
        bytes.extend((len as u32).to_le_bytes());
    }
    bytes.extend(text);
    Ok(Header { dict, bytes, itemsize, count })
}

/// True with probability `num/den`; false once the data runs out (`Unstructured::ratio`
/// alone says true then, which would make every rare choice at once).
pub fn chance(u: &mut Unstructured<'_>, num: u8, den: u8) -> Result<bool> {
    if u.is_empty() {
        return Ok(false);
    }
    u.ratio(num, den)
}

/// Print generated inputs to stderr when `NPZ_FUZZ_PRINT` is set (to read a reproducer).
pub fn print_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("NPZ_FUZZ_PRINT").is_some())
}
