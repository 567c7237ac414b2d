//! Quote-aware CSV tokenizer following the state machine of pandas' C tokenizer
//! (skip_blank_lines=True, doublequote=True, no comments, no escapechar).

use memchr::{memchr, memchr3};
use rayon::prelude::*;

/// A field: a byte range of the input, or of the tokens' arena when unescaping was needed
/// (top bit of `len`). 8 bytes, because writing these is a large part of the tokenizer's
/// memory traffic; inputs are limited to 4 GiB and fields to 2 GiB.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    start: u32,
    len: u32,
}

pub const MAX_INPUT: usize = u32::MAX as usize;
const ARENA_BIT: u32 = 1 << 31;
const EMPTY: Field = Field { start: 0, len: 0 };

/// Fields stored column by column; rows shorter than `ncols` are padded with empty fields,
/// as pandas pads them.
#[derive(Default, Debug)]
pub struct Tokens {
    pub cols: Vec<Vec<Field>>,
    pub rows: usize,
    /// Index of the first row with more than `ncols` fields (pandas raises, or makes an index).
    pub first_long_row: Option<usize>,
    /// Columns grow with the first row (header mode) instead of being fixed.
    grow: bool,
    col: usize,
    arena: Vec<u8>,
    /// A bare '\r' line ending was seen.
    pub bare_cr: bool,
    /// A line started with a space or tab (pandas backtracks there, unreliably with bare '\r').
    pub ws_line_start: bool,
    /// The range ended at a record boundary (not inside a record or a quoted field).
    pub clean_end: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenizeError {
    EofInQuotes,
    FieldTooLong,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    StartRecord,
    StartField,
    InField,
    InQuoted,
    QuoteInQuoted,
    InFieldCopy,
    EatCrnl,
    WhitespaceLine,
}

impl Field {
    pub fn len(&self) -> usize {
        (self.len & !ARENA_BIT) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Tokens {
    #[inline]
    pub fn get<'a>(&'a self, data: &'a [u8], f: Field) -> &'a [u8] {
        let (s, n) = (f.start as usize, f.len());
        if f.len & ARENA_BIT != 0 {
            &self.arena[s..s + n]
        } else {
            &data[s..s + n]
        }
    }

    fn push(&mut self, start: usize, end: usize) -> Result<(), TokenizeError> {
        let len = end - start;
        if len >= ARENA_BIT as usize {
            return Err(TokenizeError::FieldTooLong);
        }
        self.push_field(Field {
            start: start as u32,
            len: len as u32,
        });
        Ok(())
    }

    fn push_arena(&mut self, start: usize) -> Result<(), TokenizeError> {
        let len = self.arena.len() - start;
        if len >= ARENA_BIT as usize || self.arena.len() > MAX_INPUT {
            return Err(TokenizeError::FieldTooLong);
        }
        self.push_field(Field {
            start: start as u32,
            len: len as u32 | ARENA_BIT,
        });
        Ok(())
    }

    fn push_quoted(
        &mut self,
        start: usize,
        end: usize,
        copying: bool,
    ) -> Result<(), TokenizeError> {
        if copying {
            self.push_arena(start)
        } else {
            self.push(start, end)
        }
    }

    #[inline]
    fn push_field(&mut self, f: Field) {
        if self.col < self.cols.len() {
            self.cols[self.col].push(f);
        } else if self.grow {
            self.cols.push(vec![f]);
        } else if self.first_long_row.is_none() {
            self.first_long_row = Some(self.rows);
        }
        self.col += 1;
    }

    fn end_row(&mut self) {
        for c in self.col..self.cols.len() {
            self.cols[c].push(EMPTY);
        }
        self.rows += 1;
        self.col = 0;
    }
}

/// Tokenizes `data[start..end]`, which must begin at a record boundary, into `ncols` columns
/// (`None`: as many as the first row has). Stops after `max_rows` rows; returns the end offset.
pub fn tokenize_range(
    data: &[u8],
    (start, end): (usize, usize),
    sep: u8,
    ncols: Option<usize>,
    max_rows: usize,
) -> Result<(Tokens, usize), TokenizeError> {
    let mut t = Tokens {
        grow: ncols.is_none(),
        ..Default::default()
    };
    t.cols = (0..ncols.unwrap_or(0))
        .map(|_| Vec::with_capacity((end - start) / 64 + 1))
        .collect();
    let mut st = State::StartRecord;
    let mut i = start;
    let mut fstart = start; // start of the current field in data, or in the arena when copying
    let mut copying = false;
    let mut line_start = start;
    while i < end && t.rows < max_rows {
        let c = data[i];
        match st {
            State::StartRecord => {
                line_start = i;
                if c == b'\n' {
                    i += 1;
                } else if c == b'\r' {
                    t.bare_cr |= data.get(i + 1) != Some(&b'\n');
                    st = State::EatCrnl;
                    i += 1;
                } else if (c == b' ' || c == b'\t') && c != sep {
                    t.ws_line_start = true;
                    st = State::WhitespaceLine;
                    i += 1;
                } else {
                    st = State::StartField;
                }
            }
            State::WhitespaceLine => {
                if c == b'\n' || c == b'\r' {
                    st = State::StartRecord; // a whitespace-only line is a blank line
                } else if (c == b' ' || c == b'\t') && c != sep {
                    i += 1;
                } else {
                    i = line_start;
                    st = State::StartField;
                }
            }
            State::StartField => {
                if c == b'"' {
                    st = State::InQuoted;
                    copying = false;
                    fstart = i + 1;
                    i += 1;
                } else {
                    st = State::InField;
                    fstart = i;
                }
            }
            State::InField | State::InFieldCopy => {
                let stop = memchr3(sep, b'\n', b'\r', &data[i..end]).map_or(end, |k| i + k);
                if st == State::InField {
                    t.push(fstart, stop)?;
                } else {
                    t.arena.extend_from_slice(&data[i..stop]);
                    t.push_arena(fstart)?;
                }
                i = stop;
                if i < end {
                    i = end_of_field(&mut t, data, i, sep, &mut st);
                } else {
                    t.end_row();
                    st = State::StartRecord;
                }
            }
            State::InQuoted => {
                let q = memchr(b'"', &data[i..end]).map_or(end, |k| i + k);
                if copying {
                    t.arena.extend_from_slice(&data[i..q]);
                }
                if q == end {
                    return Err(TokenizeError::EofInQuotes);
                }
                i = q + 1;
                st = State::QuoteInQuoted;
            }
            State::QuoteInQuoted => {
                if c == sep || c == b'\n' || c == b'\r' {
                    t.push_quoted(fstart, i - 1, copying)?;
                    i = end_of_field(&mut t, data, i, sep, &mut st);
                } else {
                    // "" is a literal quote; any other char after the closing quote is kept as is
                    if !copying {
                        copying = true;
                        let a = t.arena.len();
                        t.arena.extend_from_slice(&data[fstart..i - 1]);
                        fstart = a;
                    }
                    t.arena.push(c);
                    i += 1;
                    st = if c == b'"' {
                        State::InQuoted
                    } else {
                        State::InFieldCopy
                    };
                }
            }
            State::EatCrnl => {
                st = State::StartRecord;
                if c == b'\n' {
                    i += 1;
                }
            }
        }
    }
    t.clean_end = st == State::StartRecord;
    match st {
        State::StartField => {
            t.push(i, i)?;
            t.end_row();
        }
        State::InQuoted => return Err(TokenizeError::EofInQuotes),
        State::QuoteInQuoted => {
            t.push_quoted(fstart, i - 1, copying)?;
            t.end_row();
        }
        _ => {}
    }
    t.grow = false;
    Ok((t, i))
}

/// Handles the separator or line terminator at `data[i]` that ends a field; returns the next index.
#[inline]
fn end_of_field(t: &mut Tokens, data: &[u8], i: usize, sep: u8, st: &mut State) -> usize {
    let c = data[i];
    if c == sep {
        *st = State::StartField;
    } else if c == b'\n' {
        t.end_row();
        *st = State::StartRecord;
    } else {
        t.bare_cr |= data.get(i + 1) != Some(&b'\n');
        t.end_row();
        *st = State::EatCrnl;
    }
    i + 1
}

/// Tokenizes the header row, then the rest into as many columns, in parallel pieces split at
/// newlines. With quote chars a piece may start inside a quoted field, so pieces start where
/// the count of quotes before them is even, and the split is kept only if every piece but the
/// last ends on a record boundary (each piece then starts on one, by induction); otherwise
/// the body is tokenized again in one piece.
pub fn tokenize(data: &[u8], sep: u8) -> Result<(Tokens, Vec<Tokens>), TokenizeError> {
    const MIN_PIECE: usize = 1 << 20;
    let (header, body_start) = tokenize_range(data, (0, data.len()), sep, None, 1)?;
    let ncols = Some(header.cols.len());
    let threads = rayon::current_num_threads();
    let body_len = data.len() - body_start;
    let serial = || {
        tokenize_range(data, (body_start, data.len()), sep, ncols, usize::MAX).map(|r| vec![r.0])
    };
    if body_len < 2 * MIN_PIECE || threads == 1 {
        return Ok((header, serial()?));
    }
    let target = (body_len / (threads * 4)).max(MIN_PIECE);
    let raw: Vec<usize> = (body_start..data.len())
        .step_by(target)
        .chain([data.len()])
        .collect();
    let quotes: Vec<usize> = raw
        .par_windows(2)
        .map(|w| memchr::memchr_iter(b'"', &data[w[0]..w[1]]).count())
        .collect();
    let mut bounds = vec![body_start];
    let mut parity = 0;
    for (k, &s) in raw.iter().enumerate().skip(1).take(raw.len() - 2) {
        parity += quotes[k - 1];
        let mut odd = parity % 2 == 1;
        let mut p = s.max(*bounds.last().unwrap_or(&0));
        let mut found = false;
        while let Some(k) = memchr::memchr2(b'"', b'\n', &data[p..]) {
            p += k + 1;
            if data[p - 1] == b'"' {
                odd = !odd;
            } else if !odd {
                found = true;
                break;
            }
        }
        if found && p < data.len() && p > *bounds.last().unwrap_or(&0) {
            bounds.push(p);
        }
    }
    bounds.push(data.len());
    let pieces: Vec<Result<Tokens, TokenizeError>> = bounds
        .par_windows(2)
        .map(|w| tokenize_range(data, (w[0], w[1]), sep, ncols, usize::MAX).map(|r| r.0))
        .collect();
    let last = pieces.len() - 1;
    if pieces
        .iter()
        .enumerate()
        .all(|(i, p)| p.as_ref().is_ok_and(|t| i == last || t.clean_end))
    {
        return Ok((header, pieces.into_iter().collect::<Result<_, _>>()?));
    }
    Ok((header, serial()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(s: &str, sep: u8) -> Vec<Vec<String>> {
        let d = s.as_bytes();
        let (t, _) = tokenize_range(d, (0, d.len()), sep, None, usize::MAX).unwrap();
        (0..t.rows)
            .map(|r| {
                let row = t
                    .cols
                    .iter()
                    .map(|c| String::from_utf8(t.get(d, c[r]).to_vec()).unwrap());
                row.collect()
            })
            .collect()
    }

    #[test]
    fn quotes_and_terminators() {
        assert_eq!(
            rows("a,b\n\"x,\"\"y\",1\n", b','),
            vec![vec!["a", "b"], vec!["x,\"y", "1"]]
        );
        assert_eq!(
            rows("a\r\n\"l1\nl2\"\r\n\r\nz", b','),
            vec![vec!["a"], vec!["l1\nl2"], vec!["z"]]
        );
        assert_eq!(
            rows("a\rb\r\rc", b','),
            vec![vec!["a"], vec!["b"], vec!["c"]]
        );
        assert_eq!(rows("\"ab\"cd,x\"y\n", b','), vec![vec!["abcd", "x\"y"]]);
        assert_eq!(rows("\"\"\"\",\"\"\n", b','), vec![vec!["\"", ""]]);
        assert_eq!(rows("\"ab\"c\"d\n", b','), vec![vec!["abc\"d"]]);
    }

    #[test]
    fn blank_and_whitespace_lines() {
        assert_eq!(
            rows("a,b\n\n  \n\t\n1,2", b','),
            vec![vec!["a", "b"], vec!["1", "2"]]
        );
        assert_eq!(
            rows("a,b\n  x,2\n ,\n", b','),
            vec![vec!["a", "b"], vec!["  x", "2"], vec![" ", ""]]
        );
        assert_eq!(
            rows("a\tb\n\t\n", b'\t'),
            vec![vec!["a", "b"], vec!["", ""]]
        );
        assert_eq!(rows("a,b\n1,\n", b','), vec![vec!["a", "b"], vec!["1", ""]]);
        assert_eq!(rows("a,b\n1,", b','), vec![vec!["a", "b"], vec!["1", ""]]);
    }

    #[test]
    fn parallel_split_with_quotes_equals_serial() {
        // literal quotes inside unquoted fields defeat the parity split: serial fallback
        for literal_quotes in [false, true] {
            let mut s = String::from("a,b\n");
            for i in 0..200_000 {
                match i % 5 {
                    0 => s.push_str(&format!("\"x\n{i}\",\"q\"\"\"\n")),
                    1 if literal_quotes => s.push_str(&format!("{i},x\"y\n")),
                    _ => s.push_str(&format!("\"{i}\",{i}\r\n")),
                }
            }
            let d = s.as_bytes();
            let (_, body) = tokenize(d, b',').unwrap();
            assert_eq!(body.len() > 1, !literal_quotes);
            let (serial, _) = tokenize_range(d, (4, d.len()), b',', Some(2), usize::MAX).unwrap();
            for c in 0..2 {
                let par: Vec<&[u8]> = body
                    .iter()
                    .flat_map(|t| t.cols[c].iter().map(move |f| t.get(d, *f)))
                    .collect();
                let ser: Vec<&[u8]> = serial.cols[c].iter().map(|f| serial.get(d, *f)).collect();
                assert_eq!(par, ser);
            }
        }
    }

    #[test]
    fn short_rows_are_padded_and_long_rows_flagged() {
        let d = b"1,2\n3\n4,5,6\n";
        let (t, _) = tokenize_range(d, (0, d.len()), b',', Some(2), usize::MAX).unwrap();
        assert_eq!((t.rows, t.cols[1].len(), t.first_long_row), (3, 3, Some(2)));
        assert_eq!(t.get(d, t.cols[1][1]), b"");
    }

    #[test]
    fn errors() {
        let d = b"a\n\"open";
        assert_eq!(
            tokenize_range(d, (0, d.len()), b',', None, 9).unwrap_err(),
            TokenizeError::EofInQuotes
        );
    }

    #[test]
    fn parallel_split_equals_serial() {
        let mut s = String::from("a;b\n");
        for i in 0..300_000 {
            s.push_str(&format!("{i};{}\r\n", i * 7));
            if i % 1000 == 0 {
                s.push_str("\n   \n");
            }
        }
        let d = s.as_bytes();
        let (header, body) = tokenize(d, b';').unwrap();
        assert!(body.len() > 1 && header.rows == 1);
        let (serial, _) = tokenize_range(d, (4, d.len()), b';', Some(2), usize::MAX).unwrap();
        for c in 0..2 {
            let par: Vec<&[u8]> = body
                .iter()
                .flat_map(|t| t.cols[c].iter().map(move |f| t.get(d, *f)))
                .collect();
            let ser: Vec<&[u8]> = serial.cols[c].iter().map(|f| serial.get(d, *f)).collect();
            assert_eq!(par, ser);
        }
        assert_eq!(body.iter().map(|t| t.rows).sum::<usize>(), 300_000);
    }
}
