//! Per-column type inference and conversion with pandas' rules, including the per-chunk
//! inference of its default `low_memory=True` reader.
//!
//! Fields are parsed once, in parallel over blocks of rows so that the bytes of a block stay
//! in cache while all its columns are parsed; inference and array building then read the
//! compact per-field results column by column.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, LargeStringArray};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use rayon::prelude::*;

use crate::parse::{is_na, parse_bool, parse_float, parse_int, precise_xstrtod, IntParse};
use crate::tokenize::Tokens;

/// A dtype requested through the `dtype` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    Int64,
    Float64,
    Bool,
    Str,
}

/// What one field parses as, in pandas' order of attempts (int64, float64, bool, object).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
enum Class {
    #[default]
    Na,
    Int,
    IntOverflow,
    Float,
    /// A spelled-out infinity: a float for pandas, though not for its `_column_has_float` check.
    FloatInf,
    Bool,
    Str,
}

/// What a low_memory chunk of a column is inferred as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    AllNa,
    Int,
    Float,
    Bool,
    Str,
}

impl Kind {
    fn join(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (AllNa, k) | (k, AllNa) => k,
            (a, b) if a == b => a,
            (Int, Float) | (Float, Int) => Float,
            _ => Str,
        }
    }
}

/// The data rows of a tokenized file (the header row excluded).
pub struct Rows<'a> {
    pub data: &'a [u8],
    pub chunks: &'a [Tokens],
    pub len: usize,
    /// The whole input is valid UTF-8, so every field is (fields end at ASCII bytes, and
    /// unescaping removes only ASCII quotes).
    pub utf8: bool,
    /// `na_values` beyond pandas' defaults, matched on the raw field text like them
    pub extra_na: &'a [Vec<u8>],
}

impl Rows<'_> {
    /// Whether a field is missing: a default NA string or one of `na_values`.
    #[inline]
    pub fn na(&self, b: &[u8]) -> bool {
        is_na(b) || (!self.extra_na.is_empty() && self.extra_na.iter().any(|v| v == b))
    }

    /// Calls `f(field)` for every data row of a column, in order.
    fn for_each(&self, col: usize, mut f: impl FnMut(&[u8])) {
        for t in self.chunks {
            for fl in &t.cols[col] {
                f(t.get(self.data, *fl));
            }
        }
    }

    fn field(&self, col: usize, mut row: usize) -> &[u8] {
        for t in self.chunks {
            if row < t.rows {
                return t.get(self.data, t.cols[col][row]);
            }
            row -= t.rows;
        }
        b""
    }
}

/// The parsed fields of one column: a class per row and its value (i64, f64 bits or bool).
struct Parsed {
    class: Vec<Class>,
    vals: Vec<u64>,
}

#[cfg(test)]
fn classify_field(b: &[u8]) -> (Class, u64) {
    classify(b, is_na(b))
}

/// What a field parses as, `na` telling whether it is one of the NA strings.
fn classify(b: &[u8], na: bool) -> (Class, u64) {
    if na {
        return (Class::Na, 0);
    }
    match parse_int(b) {
        IntParse::Ok(v) => (Class::Int, v as u64),
        IntParse::Overflow => (Class::IntOverflow, 0),
        IntParse::Invalid => match parse_float(b) {
            Some(x) if x.is_infinite() && precise_xstrtod(b).is_none() => {
                (Class::FloatInf, x.to_bits())
            }
            Some(x) => (Class::Float, x.to_bits()),
            None => match parse_bool(b) {
                Some(v) => (Class::Bool, v as u64),
                None => (Class::Str, 0),
            },
        },
    }
}

/// Parses every field of the `cols` columns, in parallel over blocks of rows.
/// `chunk`: the rows per low_memory chunk.
fn parse_columns(rows: &Rows, cols: &[usize], chunk: usize) -> Vec<Parsed> {
    const BLOCK: usize = 2048;
    let mut out: Vec<Parsed> = cols
        .iter()
        .map(|_| Parsed {
            class: vec![Class::Na; rows.len],
            vals: vec![0; rows.len],
        })
        .collect();
    // (chunk, first row, row count) of each block, in row order
    let blocks: Vec<(usize, usize, usize)> = rows
        .chunks
        .iter()
        .enumerate()
        .flat_map(|(ci, t)| {
            (0..t.rows)
                .step_by(BLOCK)
                .map(move |r| (ci, r, BLOCK.min(t.rows - r)))
        })
        .collect();
    let mut work: Vec<Vec<(&mut [Class], &mut [u64])>> =
        blocks.iter().map(|_| Vec::new()).collect();
    for p in out.iter_mut() {
        let (mut cl, mut vs) = (&mut p.class[..], &mut p.vals[..]);
        for (w, &(_, _, n)) in work.iter_mut().zip(&blocks) {
            let (c0, c1) = std::mem::take(&mut cl).split_at_mut(n);
            let (v0, v1) = std::mem::take(&mut vs).split_at_mut(n);
            w.push((c0, v0));
            (cl, vs) = (c1, v1);
        }
    }
    // the first row of each tokenized piece in the whole file
    let piece_start: Vec<usize> = rows
        .chunks
        .iter()
        .scan(0, |acc, t| {
            let s = *acc;
            *acc += t.rows;
            Some(s)
        })
        .collect();
    work.into_par_iter()
        .zip(blocks.par_iter())
        .for_each(|(slices, &(ci, r0, n))| {
            let t = &rows.chunks[ci];
            let g0 = piece_start[ci] + r0;
            for ((cl, vs), &col) in slices.into_iter().zip(cols) {
                let fields = &t.cols[col][r0..r0 + n];
                // A string makes its whole low_memory chunk a string chunk, whatever the other
                // fields are, and a requested numeric or bool dtype is declined at the first
                // string: the rest of that chunk needs only NA tests.
                let mut lazy_until = 0;
                for (k, f) in fields.iter().enumerate() {
                    let b = t.get(rows.data, *f);
                    let row = g0 + k;
                    if row < lazy_until {
                        cl[k] = if rows.na(b) { Class::Na } else { Class::Str };
                        continue;
                    }
                    (cl[k], vs[k]) = classify(b, rows.na(b));
                    if cl[k] == Class::Str {
                        lazy_until = (row / chunk + 1) * chunk;
                    }
                }
            }
        });
    out
}

/// The number of rows pandas' C reader converts at a time with `low_memory=True`
/// (`buffer_lines` in parsers.pyx), from the width of the header.
pub fn low_memory_chunk(ncols: usize) -> usize {
    let heuristic = (1usize << 20) / ncols.max(1);
    let mut b = 1;
    while b * 2 < heuristic {
        b *= 2;
    }
    b
}

/// Converts the `cols` columns (named `names`), with the dtypes requested for them;
/// `Err` holds the reason to decline.
pub fn convert_columns(
    rows: &Rows,
    cols: &[usize],
    names: &[&str],
    dtypes: &[Option<Dtype>],
    chunk: usize,
) -> Result<Vec<ArrayRef>, String> {
    let parsed = parse_columns(rows, cols, chunk);
    parsed
        .into_par_iter()
        .enumerate()
        .map(|(i, p)| convert(rows, cols[i], names[i], p, chunk, dtypes[i]))
        .collect()
}

fn convert(
    rows: &Rows,
    col: usize,
    name: &str,
    p: Parsed,
    chunk: usize,
    dtype: Option<Dtype>,
) -> Result<ArrayRef, String> {
    if let Some(d) = dtype {
        return convert_as(rows, col, name, p, d);
    }
    let kinds = chunk_kinds(name, &p, chunk)?;
    let all = |k: Kind| kinds.iter().all(|c| *c == k);
    if all(Kind::Str) {
        convert_as(rows, col, name, p, Dtype::Str)
    } else if all(Kind::Bool) {
        convert_as(rows, col, name, p, Dtype::Bool)
    } else if all(Kind::Int) {
        convert_as(rows, col, name, p, Dtype::Int64)
    } else if kinds
        .iter()
        .all(|c| matches!(c, Kind::Int | Kind::Float | Kind::AllNa))
    {
        let Parsed { class, mut vals } = p;
        for (k, (cs, vs)) in class.chunks(chunk).zip(vals.chunks_mut(chunk)).enumerate() {
            let base = k * chunk;
            for (i, (&c, v)) in cs.iter().zip(vs).enumerate() {
                *v = if kinds[k] == Kind::Int {
                    // pandas casts whole int64 chunks when it concatenates them with float chunks
                    *v as i64 as f64
                } else {
                    float_value(rows, col, base + i, c, *v)
                }
                .to_bits();
            }
        }
        Ok(Arc::new(Float64Array::new(reinterpret(vals), None)))
    } else {
        Err(format!(
            "column '{name}' gets different types in different {chunk}-row chunks of pandas' low_memory reader, which pandas returns as a mixed object column"
        ))
    }
}

fn chunk_kinds(name: &str, p: &Parsed, chunk: usize) -> Result<Vec<Kind>, String> {
    p.class
        .chunks(chunk)
        .map(|cs| {
            let (mut kind, mut na, mut overflow, mut decimal) = (Kind::AllNa, false, false, false);
            for c in cs {
                kind = kind.join(match c {
                    Class::Na => {
                        na = true;
                        Kind::AllNa
                    }
                    Class::Int => Kind::Int,
                    Class::IntOverflow => {
                        overflow = true;
                        Kind::Int
                    }
                    Class::Float => {
                        decimal = true;
                        Kind::Float
                    }
                    Class::FloatInf => Kind::Float,
                    Class::Bool => Kind::Bool,
                    Class::Str => Kind::Str,
                });
            }
            match kind {
                // with a decimal value pandas skips its int64 attempt and reads all as floats
                Kind::Int | Kind::Float if overflow && !decimal => {
                    Err(format!("column '{name}' holds integers outside the int64 range"))
                }
                Kind::Bool if na => Err(format!(
                    "column '{name}' holds booleans with missing values, which pandas returns as object"
                )),
                Kind::Int if na => Ok(Kind::Float),
                k => Ok(k),
            }
        })
        .collect()
}

/// The parsed values as a column of `T` (i64 or f64 bits), without copying them.
fn reinterpret<T: arrow_buffer::ArrowNativeType>(vals: Vec<u64>) -> ScalarBuffer<T> {
    let n = vals.len();
    ScalarBuffer::new(Buffer::from_vec(vals), 0, n)
}

/// The float64 that pandas' xstrtod gives for a field of class `c` and parsed value `v`.
#[inline]
fn float_value(rows: &Rows, col: usize, row: usize, c: Class, v: u64) -> f64 {
    match c {
        Class::Float | Class::FloatInf => f64::from_bits(v),
        Class::Int => {
            let n = v as i64;
            // below 2^53 xstrtod's digit accumulation is exact; "-0" must stay -0.0
            if n != 0 && n.unsigned_abs() < (1 << 53) {
                n as f64
            } else {
                parse_float(rows.field(col, row)).unwrap_or(f64::NAN)
            }
        }
        Class::IntOverflow => parse_float(rows.field(col, row)).unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn convert_as(
    rows: &Rows,
    col: usize,
    name: &str,
    p: Parsed,
    dtype: Dtype,
) -> Result<ArrayRef, String> {
    let ok =
        |accept: &dyn Fn(Class) -> bool, what: &str| match p.class.iter().position(|c| !accept(*c))
        {
            None => Ok(()),
            Some(i) => Err(format!(
                "column '{name}' has value {:?} that pandas cannot read as {what}",
                String::from_utf8_lossy(rows.field(col, i))
            )),
        };
    Ok(match dtype {
        Dtype::Str => {
            let bytes = rows
                .chunks
                .iter()
                .flat_map(|t| t.cols[col].iter())
                .map(|f| f.len())
                .sum();
            let mut offsets: Vec<i64> = Vec::with_capacity(rows.len + 1);
            let mut values: Vec<u8> = Vec::with_capacity(bytes);
            let mut valid = BooleanBufferBuilder::new(rows.len);
            let mut bad = false;
            offsets.push(0);
            rows.for_each(col, |b| {
                let na = rows.na(b);
                if !na {
                    // pandas decodes the fields it returns as strings, strictly
                    bad |= !rows.utf8 && std::str::from_utf8(b).is_err();
                    values.extend_from_slice(b);
                }
                valid.append(!na);
                offsets.push(values.len() as i64);
            });
            if bad {
                return Err(format!(
                    "column '{name}' is not valid UTF-8 (pandas raises)"
                ));
            }
            let nulls = NullBuffer::new(valid.finish());
            let nulls = (nulls.null_count() > 0).then_some(nulls);
            // SAFETY: offsets start at 0, grow monotonically and end at values.len(), and
            // every value is valid UTF-8 (checked above, or the whole input was)
            Arc::new(unsafe {
                LargeStringArray::new_unchecked(
                    OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)),
                    Buffer::from_vec(values),
                    nulls,
                )
            })
        }
        Dtype::Float64 => {
            ok(&|c| !matches!(c, Class::Bool | Class::Str), "float64")?;
            let Parsed { class, mut vals } = p;
            for (i, (&c, v)) in class.iter().zip(&mut vals).enumerate() {
                *v = float_value(rows, col, i, c, *v).to_bits();
            }
            Arc::new(Float64Array::new(reinterpret(vals), None))
        }
        Dtype::Int64 => {
            ok(&|c| c == Class::Int, "int64 without missing values")?;
            Arc::new(Int64Array::new(reinterpret(p.vals), None))
        }
        Dtype::Bool => {
            ok(&|c| c == Class::Bool, "bool without missing values")?;
            Arc::new(BooleanArray::from_iter(
                p.vals.iter().map(|&v| Some(v != 0)),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::tokenize_range;

    #[test]
    fn kind_join_is_pandas_order() {
        use Kind::*;
        assert_eq!(AllNa.join(Int), Int);
        assert_eq!(Int.join(Float), Float);
        assert_eq!(Int.join(Bool), Str);
        assert_eq!(Bool.join(Bool), Bool);
        assert_eq!(Float.join(Str), Str);
    }

    #[test]
    fn field_classes() {
        assert_eq!(classify_field(b"NA").0, Class::Na);
        assert_eq!(classify_field(b" 7 "), (Class::Int, 7));
        assert_eq!(
            classify_field(b"99999999999999999999").0,
            Class::IntOverflow
        );
        assert_eq!(
            classify_field(b"-inf"),
            (Class::FloatInf, f64::NEG_INFINITY.to_bits())
        );
        assert_eq!(
            classify_field(b"1e999"),
            (Class::Float, f64::INFINITY.to_bits())
        );
        assert_eq!(classify_field(b"FALSE"), (Class::Bool, 0));
        assert_eq!(classify_field(b"NAN").0, Class::Str);
    }

    #[test]
    fn strings_mark_only_their_own_low_memory_chunk() {
        // two tokenized pieces, the second starting at row 1000, so its first block
        // (rows 1000..3048) spans the chunk boundaries at 1024 and 2048
        let mut text = String::new();
        for r in 0..4000 {
            text.push_str(if r == 1010 {
                "x\n"
            } else if r % 7 == 0 {
                "NA\n"
            } else {
                "5\n"
            });
        }
        let d = text.as_bytes();
        let split = 1000 * 2;
        let (a, _) = tokenize_range(d, (0, split), b',', Some(1), usize::MAX).unwrap();
        let (b, _) = tokenize_range(d, (split, d.len()), b',', Some(1), usize::MAX).unwrap();
        let chunks = [a, b];
        let rows = Rows {
            data: d,
            chunks: &chunks,
            len: 4000,
            utf8: true,
            extra_na: &[],
        };
        let p = &parse_columns(&rows, &[0], 1024)[0];
        let expect = |r: usize| match r {
            1010 => Class::Str,
            _ if r % 7 == 0 => Class::Na,
            // the rest of the string's chunk is only tested for NA
            1011..1024 => Class::Str,
            _ => Class::Int,
        };
        for (r, c) in p.class.iter().enumerate() {
            assert_eq!(*c, expect(r), "row {r}");
        }
        let kinds = chunk_kinds("c", p, 1024).unwrap();
        assert_eq!(
            kinds,
            vec![Kind::Str, Kind::Float, Kind::Float, Kind::Float]
        );
    }
}
