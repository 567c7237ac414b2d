//! Field-level parsers that reproduce pandas' C parser (tokenizer.c / parsers.pyx) bit for bit.

use std::sync::LazyLock;

/// pandas' `isspace_ascii`: space and \t \n \v \f \r.
#[inline]
fn is_space(b: u8) -> bool {
    b == b' ' || (0x09..=0x0d).contains(&b)
}

/// The default `na_values` of `pd.read_csv`, matched on the raw field text (quoted or not).
#[inline]
pub fn is_na(b: &[u8]) -> bool {
    matches!(
        b,
        b"" | b"#N/A"
            | b"#N/A N/A"
            | b"#NA"
            | b"-1.#IND"
            | b"-1.#QNAN"
            | b"-NaN"
            | b"-nan"
            | b"1.#IND"
            | b"1.#QNAN"
            | b"<NA>"
            | b"N/A"
            | b"NA"
            | b"NULL"
            | b"NaN"
            | b"None"
            | b"n/a"
            | b"nan"
            | b"null"
    )
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum IntParse {
    Ok(i64),
    Overflow,
    Invalid,
}

/// pandas' `str_to_int64`: optional spaces, sign, at least one digit, optional trailing spaces.
pub fn parse_int(b: &[u8]) -> IntParse {
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return IntParse::Invalid;
    }
    let mut n: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        let d = (b[i] - b'0') as i64;
        let next = n.checked_mul(10).and_then(|m| {
            if neg {
                m.checked_sub(d)
            } else {
                m.checked_add(d)
            }
        });
        match next {
            Some(v) => n = v,
            None => {
                // pandas reports invalid chars over overflow when the tail is not numeric
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                while i < b.len() && is_space(b[i]) {
                    i += 1;
                }
                return if i == b.len() {
                    IntParse::Overflow
                } else {
                    IntParse::Invalid
                };
            }
        }
        i += 1;
    }
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    if i == b.len() {
        IntParse::Ok(n)
    } else {
        IntParse::Invalid
    }
}

static POW10: LazyLock<[f64; 309]> = LazyLock::new(|| {
    let mut t = [0.0; 309];
    for (i, v) in t.iter_mut().enumerate() {
        *v = format!("1e{i}").parse().expect("power of ten");
    }
    t
});

/// pandas' `precise_xstrtod` (the default float parser of `read_csv`), followed by the
/// "whole field consumed" check of `to_double`. Not correctly rounded on purpose: the
/// mantissa is accumulated in a double (up to 17 digits) and scaled by one table power.
pub fn precise_xstrtod(b: &[u8]) -> Option<f64> {
    let e = &*POW10;
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        negative = b[i] == b'-';
        i += 1;
    }
    const MAX_DIGITS: i64 = 17;
    let mut number = 0.0f64;
    let mut exponent: i64 = 0;
    let mut num_digits: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if num_digits < MAX_DIGITS {
            number = number * 10.0 + (b[i] - b'0') as f64;
            num_digits += 1;
        } else {
            exponent += 1;
        }
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let mut num_decimals = 0;
        while num_digits < MAX_DIGITS && i < b.len() && b[i].is_ascii_digit() {
            number = number * 10.0 + (b[i] - b'0') as f64;
            num_digits += 1;
            num_decimals += 1;
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        exponent -= num_decimals;
    }
    if num_digits == 0 {
        return None;
    }
    if negative {
        number = -number;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        // the exponent is read with C strtol: leading whitespace, sign, digits, saturating
        let mut j = i + 1;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        let mut eneg = false;
        if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
            eneg = b[j] == b'-';
            j += 1;
        }
        let digits_start = j;
        let mut n: i64 = 0;
        let mut saturated = false;
        while j < b.len() && b[j].is_ascii_digit() {
            let d = (b[j] - b'0') as i64;
            match n.checked_mul(10).and_then(|m| {
                if eneg {
                    m.checked_sub(d)
                } else {
                    m.checked_add(d)
                }
            }) {
                Some(v) => n = v,
                None => saturated = true,
            }
            j += 1;
        }
        if saturated {
            n = if eneg { i64::MIN } else { i64::MAX };
        }
        if j > digits_start {
            exponent = if saturated {
                n
            } else {
                exponent.checked_add(n).unwrap_or(n)
            };
            i = j;
        }
    }
    if exponent > 308 {
        number = if number == 0.0 {
            0.0
        } else if number < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    } else if exponent > 0 {
        number *= e[exponent as usize];
    } else if exponent < -308 {
        if exponent < -616 {
            number = 0.0;
        } else {
            number /= e[(-308 - exponent) as usize];
            number /= e[308];
        }
    } else {
        number /= e[(-exponent) as usize];
    }
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    (i == b.len()).then_some(number)
}

/// `_try_double` of parsers.pyx: xstrtod, then the spelled-out infinities.
pub fn parse_float(b: &[u8]) -> Option<f64> {
    if let Some(v) = precise_xstrtod(b) {
        return Some(v);
    }
    let eq = |s: &[u8]| b.eq_ignore_ascii_case(s);
    if eq(b"inf") || eq(b"+inf") || eq(b"infinity") || eq(b"+infinity") {
        Some(f64::INFINITY)
    } else if eq(b"-inf") || eq(b"-infinity") {
        Some(f64::NEG_INFINITY)
    } else {
        None
    }
}

/// `_try_bool_flex` with the default true/false sets, whose fallback is a case-insensitive match.
#[inline]
pub fn parse_bool(b: &[u8]) -> Option<bool> {
    if b.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if b.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(s: &str) -> u64 {
        precise_xstrtod(s.as_bytes()).unwrap().to_bits()
    }

    #[test]
    fn xstrtod_matches_known_pandas_values() {
        // values read back from pandas 3.0.6 read_csv; the first differs from correct rounding
        assert_eq!(bits("7.7595856743571698e-06"), 0x3EE045E5559F2B36);
        assert_ne!(
            bits("7.7595856743571698e-06"),
            "7.7595856743571698e-06".parse::<f64>().unwrap().to_bits()
        );
        assert_eq!(bits("1.5"), 1.5f64.to_bits());
        assert_eq!(bits(" 1.5 "), 1.5f64.to_bits());
        assert_eq!(bits("5."), 5.0f64.to_bits());
        assert_eq!(bits(".5"), 0.5f64.to_bits());
        assert_eq!(bits("1e 5"), 1e5f64.to_bits());
        assert_eq!(bits("-0.0"), (-0.0f64).to_bits());
        assert_eq!(bits("-0e400"), 0.0f64.to_bits());
        assert_eq!(bits("1e400"), f64::INFINITY.to_bits());
        assert_eq!(bits("9e308"), f64::INFINITY.to_bits());
        assert_eq!(bits("1e-99999999999999999999"), 0.0f64.to_bits());
        assert_eq!(bits("1e-330"), 0.0f64.to_bits());
    }

    #[test]
    fn xstrtod_rejects_partial_fields() {
        for s in [
            "", ".", "1e", "1e+", "0x10", "1.5x", "--1", "inf", "nan", "1 2",
        ] {
            assert_eq!(precise_xstrtod(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn infinities_and_bools() {
        assert_eq!(parse_float(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"+INF"), Some(f64::INFINITY));
        assert_eq!(parse_float(b" inf"), None);
        assert_eq!(parse_bool(b"tRuE"), Some(true));
        assert_eq!(parse_bool(b" true"), None);
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int(b" +5\t"), IntParse::Ok(5));
        assert_eq!(parse_int(b"-9223372036854775808"), IntParse::Ok(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), IntParse::Overflow);
        assert_eq!(parse_int(b"1.0"), IntParse::Invalid);
        assert_eq!(parse_int(b"- 5"), IntParse::Invalid);
        assert!(is_na(b"NA") && is_na(b"") && !is_na(b"NAN") && !is_na(b" NA"));
    }
}
