//! Quote-aware CSV tokenizer following the state machine of pandas' C tokenizer
//! (skip_blank_lines=True, doublequote=True, no comments, no escapechar).

use memchr::{memchr, memchr3, memchr3_iter};
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
    if let (Some(n), usize::MAX) = (ncols, max_rows) {
        if memchr(b'"', &data[start..end]).is_none() {
            if let Some(t) = tokenize_plain(data, (start, end), sep, n)? {
                return Ok((t, end));
            }
        }
    }
    tokenize_machine(data, (start, end), sep, ncols, max_rows)
}

fn new_tokens(data: &[u8], (start, end): (usize, usize), ncols: Option<usize>) -> Tokens {
    let mut t = Tokens {
        grow: ncols.is_none(),
        ..Default::default()
    };
    // one field per line and column, unless lines end with a bare '\r' (the vectors grow then)
    let lines = if ncols.is_some() {
        memchr::memchr_iter(b'\n', &data[start..end]).count() + 1
    } else {
        0
    };
    t.cols = (0..ncols.unwrap_or(0))
        .map(|_| Vec::with_capacity(lines))
        .collect();
    t
}

/// The tokenizer for a range without quote characters, where pandas' state machine reduces to
/// splitting at separators and line terminators and skipping blank lines: one SIMD search per
/// field instead of a state transition per field. `None` (use the state machine) when a line
/// starts with a space or tab, where pandas treats whitespace-only lines as blank.
fn tokenize_plain(
    data: &[u8],
    (start, end): (usize, usize),
    sep: u8,
    ncols: usize,
) -> Result<Option<Tokens>, TokenizeError> {
    let mut t = new_tokens(data, (start, end), Some(ncols));
    let ws_start = |i: usize| i < end && (data[i] == b' ' || data[i] == b'\t') && data[i] != sep;
    if ws_start(start) {
        return Ok(None);
    }
    let (mut fstart, mut line_start) = (start, start);
    for k in memchr3_iter(sep, b'\n', b'\r', &data[start..end]) {
        let p = start + k;
        let c = data[p];
        if c == sep {
            t.push(fstart, p)?;
            fstart = p + 1;
            continue;
        }
        // a line terminator; an empty line is skipped (so is the '\n' of a "\r\n")
        if p > line_start {
            t.push(fstart, p)?;
            t.end_row();
        }
        if c == b'\r' {
            t.bare_cr |= data.get(p + 1) != Some(&b'\n');
        }
        (fstart, line_start) = (p + 1, p + 1);
        if ws_start(line_start) {
            return Ok(None);
        }
    }
    if line_start < end {
        t.push(fstart, end)?;
        t.end_row();
    }
    // as the state machine: not after a separator or a '\r' (the '\n' may come next)
    t.clean_end = end == start || (data[end - 1] != sep && data[end - 1] != b'\r');
    t.grow = false;
    Ok(Some(t))
}

fn tokenize_machine(
    data: &[u8],
    (start, end): (usize, usize),
    sep: u8,
    ncols: Option<usize>,
    max_rows: usize,
) -> Result<(Tokens, usize), TokenizeError> {
    let mut t = new_tokens(data, (start, end), ncols);
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
                let stop = field_end(&data[..end], i, sep);
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

/// The index of the first separator or line terminator at or after `i` (`data.len()` if none).
/// Most fields are a few bytes long: a plain loop finds their end before memchr3 has set up.
#[inline]
fn field_end(data: &[u8], i: usize, sep: u8) -> usize {
    const SHORT: usize = 24;
    let short = data.len().min(i + SHORT);
    for (k, &c) in data[i..short].iter().enumerate() {
        if c == sep || c == b'\n' || c == b'\r' {
            return i + k;
        }
    }
    memchr3(sep, b'\n', b'\r', &data[short..]).map_or(data.len(), |k| short + k)
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
///
/// `header_row`: the first row holds the column names (else it is data too, and only gives the
/// number of columns); `max_rows`: stop after this many data rows (serially).
pub fn tokenize(
    data: &[u8],
    sep: u8,
    header_row: bool,
    max_rows: Option<usize>,
) -> Result<(Tokens, Vec<Tokens>), TokenizeError> {
    const MIN_PIECE: usize = 1 << 20;
    let (header, header_end) = tokenize_range(data, (0, data.len()), sep, None, 1)?;
    let body_start = if header_row { header_end } else { 0 };
    let ncols = Some(header.cols.len());
    let threads = rayon::current_num_threads();
    let body_len = data.len() - body_start;
    let serial = || {
        let max = max_rows.unwrap_or(usize::MAX);
        tokenize_range(data, (body_start, data.len()), sep, ncols, max).map(|r| vec![r.0])
    };
    if body_len < 2 * MIN_PIECE || threads == 1 || max_rows.is_some() {
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
            let (_, body) = tokenize(d, b',', true, None).unwrap();
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
        let (header, body) = tokenize(d, b';', true, None).unwrap();
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

    /// Every field, row count and flag of two tokenizations.
    fn summary(t: &Tokens, d: &[u8]) -> (Vec<Vec<Vec<u8>>>, usize, Option<usize>, bool, bool) {
        let cols = t
            .cols
            .iter()
            .map(|c| c.iter().map(|f| t.get(d, *f).to_vec()).collect())
            .collect();
        (cols, t.rows, t.first_long_row, t.bare_cr, t.clean_end)
    }

    #[test]
    fn plain_path_equals_state_machine() {
        // random quote-free inputs over the bytes that matter: separators, both terminators,
        // blanks at line starts, empty fields and lines, short and long rows
        let alphabet: [&[u8]; 9] = [b"a", b"12", b",", b";", b"\n", b"\r", b"\r\n", b" ", b"\t"];
        let mut next = crate::xorshift(0x9e3779b97f4a7c15u64);
        let (mut plain, mut fallback) = (0, 0);
        for case in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut d = Vec::new();
            for _ in 0..len {
                d.extend_from_slice(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            let sep = if case % 2 == 0 { b',' } else { b'\t' };
            for ncols in [1, 2, 3] {
                let m = tokenize_machine(&d, (0, d.len()), sep, Some(ncols), usize::MAX).unwrap();
                match tokenize_plain(&d, (0, d.len()), sep, ncols).unwrap() {
                    Some(p) => {
                        plain += 1;
                        assert_eq!(
                            summary(&p, &d),
                            summary(&m.0, &d),
                            "{:?} sep {sep} ncols {ncols}",
                            String::from_utf8_lossy(&d)
                        );
                    }
                    None => {
                        fallback += 1;
                        assert!(m.0.ws_line_start, "{:?}", String::from_utf8_lossy(&d));
                    }
                }
            }
        }
        assert!(plain > 20_000 && fallback > 1_000, "{plain} {fallback}");
    }
}
