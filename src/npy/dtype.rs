//! numpy dtypes: the `descr` of a `.npy` header parsed into an element layout, and the one
//! mapping table from numpy types to Arrow/Polars types.

use polars_arrow::datatypes::{ArrowDataType, Field};

use super::literal::Literal;
pub(crate) use super::time::TimeUnit;
use crate::error::{invalid, Invalid};

/// Byte order of a multi-byte element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    /// `<`, or `=`/`|` on a little-endian machine.
    Little,
    /// `>`, or `=`/`|` on a big-endian machine.
    Big,
}

impl Endian {
    /// The byte order of this machine.
    pub const NATIVE: Endian = if cfg!(target_endian = "little") { Endian::Little } else { Endian::Big };
}

/// The kind of one array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Element {
    /// `?` / `b1`.
    Bool,
    /// `i1..i8` (signed) or `u1..u8`.
    Int {
        /// Signed or not.
        signed: bool,
    },
    /// `f2`, `f4`, `f8` (and long doubles, which are refused).
    Float,
    /// `c8`, `c16` (and `c32`, refused).
    Complex,
    /// `M8[unit]`, `mult` units per tick.
    Datetime {
        /// The unit.
        unit: TimeUnit,
        /// Units per tick (`M8[10s]` has 10).
        mult: u64,
    },
    /// `m8[unit]`.
    Timedelta {
        /// The unit.
        unit: TimeUnit,
        /// Units per tick.
        mult: u64,
    },
    /// `U<n>`: n UTF-32 code units.
    Unicode,
    /// `S<n>`: n bytes, trailing NULs stripped.
    Bytes,
    /// `V<n>`: n raw bytes.
    Void,
    /// `O`: Python objects (pickled); never loaded.
    Object,
    /// A structured (record) type.
    Record(Vec<RecordField>),
}

/// One named field of a structured dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordField {
    /// The field's name.
    pub name: String,
    /// Byte offset inside the record.
    pub offset: usize,
    /// The field's type (its own `shape` holds a sub-array shape).
    pub dtype: NpyDtype,
}

/// A parsed numpy dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpyDtype {
    /// What the element is.
    pub element: Element,
    /// Byte order (meaningful for multi-byte numeric types and `U`).
    pub endian: Endian,
    /// Size in bytes of one element (of the whole sub-array for fields with a shape).
    pub itemsize: usize,
    /// Size in bytes of one base element (equals `itemsize` without a sub-array shape).
    pub base_itemsize: usize,
    /// Sub-array shape (structured fields only; empty otherwise).
    pub shape: Vec<u64>,
    /// The descr text as numpy wrote it, for messages (`<f8`, `[...]` for records).
    pub text: String,
}

/// numpy's largest element (an `int` in C): 2^31 - 1 bytes.
const MAX_ITEMSIZE: usize = i32::MAX as usize;

impl NpyDtype {
    /// Parse a header `descr` value.
    pub fn from_descr(descr: &Literal) -> Result<NpyDtype, Invalid> {
        Self::from_descr_depth(descr, 0)
    }

    fn from_descr_depth(descr: &Literal, depth: usize) -> Result<NpyDtype, Invalid> {
        if depth > 32 {
            return Err(invalid!("structured dtype nests too deeply"));
        }
        match descr {
            Literal::Str(s) => parse_type_string(s),
            Literal::List(fields) => parse_record(fields, depth),
            other => Err(invalid!("header 'descr' is neither a type string nor a field list: {other:?}")),
        }
    }

    /// Size of one element of the base type (without the sub-array shape).
    pub fn base_size(&self) -> usize {
        self.base_itemsize
    }

    /// Whether the type holds Python objects (itself or a field): numpy then stores the array
    /// as a pickle, not as elements of `itemsize` bytes.
    pub fn has_object(&self) -> bool {
        match &self.element {
            Element::Object => true,
            Element::Record(fields) => fields.iter().any(|f| f.dtype.has_object()),
            _ => false,
        }
    }

    /// Whether bytes must be swapped to read this type natively.
    pub fn needs_swap(&self) -> bool {
        self.endian != Endian::NATIVE && self.base_size() > 1
    }
}

fn parse_type_string(s: &str) -> Result<NpyDtype, Invalid> {
    let bad = || invalid!("unknown numpy type string '{s}'");
    let mut rest = s;
    let endian = match rest.chars().next() {
        Some('<') => Endian::Little,
        Some('>') => Endian::Big,
        Some('|') | Some('=') => Endian::NATIVE,
        _ => Endian::NATIVE,
    };
    if matches!(rest.chars().next(), Some('<' | '>' | '|' | '=')) {
        rest = &rest[1..];
    }
    let mut chars = rest.chars();
    let kind = chars.next().ok_or_else(bad)?;
    let rest = chars.as_str();
    let (digits, unit) = match rest.find('[') {
        Some(i) => {
            let unit = rest[i + 1..].strip_suffix(']').ok_or_else(bad)?;
            (&rest[..i], Some(unit))
        }
        None => (rest, None),
    };
    let size: usize = if digits.is_empty() {
        match kind {
            '?' | 'b' | 'B' => 1,
            'O' => 8,
            'M' | 'm' => 8,
            _ => 0,
        }
    } else {
        digits.parse().map_err(|_| bad())?
    };
    // numpy's limit is on bytes: `U` counts 4 per character.
    if size.checked_mul(if kind == 'U' { 4 } else { 1 }).is_none_or(|b| b > MAX_ITEMSIZE) {
        return Err(invalid!("type '{s}' has an element size of 2 GiB or more (numpy's limit is 2^31 - 1 bytes)"));
    }
    let element = match (kind, size) {
        ('?', 1) | ('b', 1) if kind == '?' || digits == "1" => Element::Bool,
        ('i', 1 | 2 | 4 | 8) => Element::Int { signed: true },
        ('u', 1 | 2 | 4 | 8) => Element::Int { signed: false },
        ('f', 2 | 4 | 8 | 12 | 16) => Element::Float,
        ('c', 8 | 16 | 24 | 32) => Element::Complex,
        ('M', 8) => parse_time(unit, s).map(|(unit, mult)| Element::Datetime { unit, mult })?,
        ('m', 8) => parse_time(unit, s).map(|(unit, mult)| Element::Timedelta { unit, mult })?,
        ('U', _) => Element::Unicode,
        ('S' | 'a', _) => Element::Bytes,
        ('V', _) => Element::Void,
        ('O', _) => Element::Object,
        _ => return Err(bad()),
    };
    let itemsize = if let Element::Unicode = element { size.checked_mul(4).ok_or_else(bad)? } else { size };
    Ok(NpyDtype { element, endian, itemsize, base_itemsize: itemsize, shape: Vec::new(), text: s.to_string() })
}

fn parse_time(unit: Option<&str>, s: &str) -> Result<(TimeUnit, u64), Invalid> {
    let Some(unit) = unit else { return Ok((TimeUnit::Other("generic"), 1)) };
    let split = unit.find(|c: char| !c.is_ascii_digit()).unwrap_or(unit.len());
    let mult: u64 = if split == 0 { 1 } else { unit[..split].parse().map_err(|_| invalid!("bad time unit in '{s}'"))? };
    let unit = match &unit[split..] {
        "Y" => TimeUnit::Year,
        "M" => TimeUnit::Month,
        "W" => TimeUnit::Week,
        "D" => TimeUnit::Day,
        "h" => TimeUnit::Hour,
        "m" => TimeUnit::Minute,
        "s" => TimeUnit::Second,
        "ms" => TimeUnit::Milli,
        "us" | "μs" => TimeUnit::Micro,
        "ns" => TimeUnit::Nano,
        "ps" => TimeUnit::Other("ps"),
        "fs" => TimeUnit::Other("fs"),
        "as" => TimeUnit::Other("as"),
        "generic" => TimeUnit::Other("generic"),
        _ => return Err(invalid!("bad time unit in '{s}'")),
    };
    // numpy keeps the multiplier in a C int and refuses a descriptor whose multiplier does
    // not fit (`M8[2147483648Y]`); so do we.
    if mult == 0 || mult > i32::MAX as u64 {
        return Err(invalid!("bad time unit in '{s}': the multiplier must be from 1 to 2147483647, as numpy requires"));
    }
    Ok((unit, mult))
}

fn parse_record(fields: &[Literal], depth: usize) -> Result<NpyDtype, Invalid> {
    let mut out: Vec<RecordField> = Vec::new();
    let mut offset = 0usize;
    for f in fields {
        let Literal::Tuple(parts) = f else {
            return Err(invalid!("structured dtype field is not a tuple: {f:?}"));
        };
        let (name, descr, shape) = match parts.as_slice() {
            [n, d] => (n, d, None),
            [n, d, s] => (n, d, Some(s)),
            _ => return Err(invalid!("structured dtype field has {} parts", parts.len())),
        };
        let name = match name {
            Literal::Str(n) => n.clone(),
            // (title, name)
            Literal::Tuple(t) if t.len() == 2 => match &t[1] {
                Literal::Str(n) => n.clone(),
                _ => return Err(invalid!("structured dtype field name is not a string")),
            },
            _ => return Err(invalid!("structured dtype field name is not a string")),
        };
        let mut dtype = NpyDtype::from_descr_depth(descr, depth + 1)?;
        if let Some(shape) = shape {
            let dims = match shape {
                Literal::Tuple(d) | Literal::List(d) => crate::npy::header::parse_shape(d)?,
                Literal::Int(n) => crate::npy::header::parse_shape(&[Literal::Int(*n)])?,
                _ => return Err(invalid!("structured dtype field shape is not a tuple")),
            };
            let count = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let size = count
                .and_then(|c| usize::try_from(c).ok())
                .and_then(|c| c.checked_mul(dtype.itemsize))
                .filter(|&s| s <= MAX_ITEMSIZE)
                .ok_or_else(|| invalid!("structured dtype field '{name}' is too large"))?;
            dtype.itemsize = size;
            dtype.shape = dims;
        }
        let size = dtype.itemsize;
        if !name.is_empty() {
            if out.iter().any(|f| f.name == name) {
                return Err(invalid!("structured dtype repeats the field name '{name}'"));
            }
            out.push(RecordField { name, offset, dtype });
        }
        offset = offset.checked_add(size).filter(|&s| s <= MAX_ITEMSIZE).ok_or_else(|| invalid!("structured dtype is too large"))?;
    }
    Ok(NpyDtype {
        element: Element::Record(out),
        endian: Endian::NATIVE,
        itemsize: offset,
        base_itemsize: offset,
        shape: Vec::new(),
        text: "[structured]".to_string(),
    })
}

/// The Arrow type of one element of `dtype` (with a sub-array shape applied), or why it is
/// refused.
pub(crate) fn arrow_type(dtype: &NpyDtype) -> Result<ArrowDataType, String> {
    let base = base_arrow_type(dtype)?;
    Ok(wrap_fixed_size(base, &dtype.shape))
}

/// Wrap `inner` in one fixed-size list per dimension, outermost first.
pub(crate) fn wrap_fixed_size(inner: ArrowDataType, dims: &[u64]) -> ArrowDataType {
    dims.iter().rev().fold(inner, |acc, &d| ArrowDataType::FixedSizeList(Box::new(Field::new("item".into(), acc, true)), d as usize))
}

fn base_arrow_type(dtype: &NpyDtype) -> Result<ArrowDataType, String> {
    let size = dtype.base_size();
    // Raw bytes of width 0 (`|V0`, which numpy reads) are empty binaries; other types of 0
    // bytes have no values to hold.
    if dtype.itemsize == 0 && dtype.shape.is_empty() && !matches!(dtype.element, Element::Void | Element::Bytes) {
        return Err(format!("'{}' has elements of 0 bytes, which have no Polars equivalent", dtype.text));
    }
    Ok(match (&dtype.element, size) {
        (Element::Bool, _) => ArrowDataType::Boolean,
        (Element::Int { signed: true }, 1) => ArrowDataType::Int8,
        (Element::Int { signed: true }, 2) => ArrowDataType::Int16,
        (Element::Int { signed: true }, 4) => ArrowDataType::Int32,
        (Element::Int { signed: true }, 8) => ArrowDataType::Int64,
        (Element::Int { signed: false }, 1) => ArrowDataType::UInt8,
        (Element::Int { signed: false }, 2) => ArrowDataType::UInt16,
        (Element::Int { signed: false }, 4) => ArrowDataType::UInt32,
        (Element::Int { signed: false }, 8) => ArrowDataType::UInt64,
        (Element::Float, 2) => ArrowDataType::Float16,
        (Element::Float, 4) => ArrowDataType::Float32,
        (Element::Float, 8) => ArrowDataType::Float64,
        (Element::Complex, 8 | 16) => {
            let part = if size == 8 { ArrowDataType::Float32 } else { ArrowDataType::Float64 };
            wrap_fixed_size(part, &[2])
        }
        (Element::Float | Element::Complex, _) => {
            return Err(format!(
                "'{}' is a long double ({} bits); Polars has no type that holds it exactly: convert it with `arr.astype('{}')` before saving",
                dtype.text,
                size * 8,
                if dtype.element == Element::Float { "f8" } else { "c16" }
            ))
        }
        (Element::Datetime { unit, mult }, _) => {
            crate::npy::time::Target::new(*unit, *mult, true, &dtype.text)?.arrow_type(true)
        }
        (Element::Timedelta { unit, mult }, _) => {
            crate::npy::time::Target::new(*unit, *mult, false, &dtype.text)?.arrow_type(false)
        }
        (Element::Unicode, _) => ArrowDataType::Utf8View,
        (Element::Bytes | Element::Void, _) => ArrowDataType::BinaryView,
        (Element::Record(fields), _) => {
            if fields.is_empty() {
                return Err("a structured dtype with no fields has no Polars equivalent".to_string());
            }
            let fields = fields
                .iter()
                .map(|f| Ok(Field::new(f.name.as_str().into(), arrow_type(&f.dtype)?, true)))
                .collect::<Result<Vec<_>, String>>()?;
            ArrowDataType::Struct(fields)
        }
        (Element::Object, _) => {
            return Err(format!(
                "'{}' is an object array (Python objects or StringDType, stored as a pickle); pickles are never loaded: save it with a fixed-width dtype (e.g. `arr.astype(str)`)",
                dtype.text
            ))
        }
        _ => return Err(format!("numpy type '{}' is not supported", dtype.text)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::literal::parse;

    fn dt(s: &str) -> NpyDtype {
        NpyDtype::from_descr(&parse(s).unwrap()).unwrap()
    }

    #[test]
    fn type_strings() {
        let f = dt("'<f8'");
        assert_eq!((f.element.clone(), f.endian, f.itemsize), (Element::Float, Endian::Little, 8));
        assert_eq!(dt("'>i2'").endian, Endian::Big);
        assert_eq!(dt("'|b1'").element, Element::Bool);
        assert_eq!(dt("'<U5'").itemsize, 20);
        assert_eq!(dt("'<M8[10s]'").element, Element::Datetime { unit: TimeUnit::Second, mult: 10 });
        assert_eq!(arrow_type(&dt("'<u4'")).unwrap(), ArrowDataType::UInt32);
        assert!(arrow_type(&dt("'|O'")).unwrap_err().contains("pickle"));
        assert!(dt("'|O'").has_object() && dt("[('a', '<i4'), ('b', [('c', '|O')])]").has_object());
        assert!(!dt("[('a', '<i4')]").has_object() && !dt("'<f8'").has_object());
        assert!(arrow_type(&dt("'<f16'")).unwrap_err().contains("long double"));
        assert!(arrow_type(&dt("'<c32'")).unwrap_err().contains("long double"));
        assert!(arrow_type(&dt("'<m8[Y]'")).unwrap_err().contains("no fixed length"));
        assert_eq!(arrow_type(&dt("'<M8[D]'")).unwrap(), ArrowDataType::Date32);
        assert_eq!(arrow_type(&dt("'<U3'")).unwrap(), ArrowDataType::Utf8View);
        for bad in ["'<x4'", "'<i3'", "'<M8[parsec]'", "'<f'", "1", "'<U99999999999999'"] {
            assert!(NpyDtype::from_descr(&parse(bad).unwrap()).is_err(), "{bad}");
        }
        // numpy reads raw bytes of width 0: empty binaries.
        assert_eq!(arrow_type(&dt("'|V0'")).unwrap(), ArrowDataType::BinaryView);
    }

    /// Multipliers as numpy takes them: 1 to 2^31-1 (a C int), in every unit; larger ones are
    /// refused at parse time (once they overflowed a multiplication and panicked).
    #[test]
    fn time_multipliers_as_numpy_accepts_them() {
        for unit in ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "as"] {
            for kind in ["M8", "m8"] {
                let ok = dt(&format!("'<{kind}[2147483647{unit}]'"));
                let _ = arrow_type(&ok);
                for big in ["2147483648", "999999999999999999", "18446744073709551615", "99999999999999999999999"] {
                    let text = format!("'<{kind}[{big}{unit}]'");
                    let err = NpyDtype::from_descr(&parse(&text).unwrap()).unwrap_err().to_string();
                    assert!(err.contains("bad time unit"), "{text}: {err}");
                }
            }
        }
        assert!(NpyDtype::from_descr(&parse("'<M8[0D]'").unwrap()).is_err());
    }

    #[test]
    fn records() {
        let d = dt("[('a', '<i4'), ('', '|V4'), ('b', '<f8', (2, 3)), ('c', [('x', '|u1')])]");
        let Element::Record(fields) = &d.element else { panic!() };
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[1].offset, 8);
        assert_eq!(fields[1].dtype.itemsize, 48);
        assert_eq!(fields[1].dtype.base_size(), 8);
        assert_eq!(fields[2].offset, 56);
        assert_eq!(d.itemsize, 57);
    }
}
