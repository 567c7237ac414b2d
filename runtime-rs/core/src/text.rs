//! Word counting with scikit-learn's `CountVectorizer._count_vocab` semantics.
//!
//! Reproduces, for `analyzer="word"` with the default `token_pattern` `(?u)\b\w\w+\b`:
//! optional lowercasing (`str.lower`), tokens = maximal runs of two or more word characters
//! (Python's `\w`: `str.isalnum()` or `_`), stop-word removal, word n-grams joined by one space in
//! sklearn's order (all unigrams, then all bigrams, ...), a vocabulary numbered in order of first
//! occurrence over the whole corpus, and per-document counts with column indices sorted (what
//! `X.sort_indices()` leaves). With a fixed vocabulary, out-of-vocabulary features are skipped.
//!
//! Python's notion of a word character and of lowercase covers all of Unicode; this kernel
//! implements it exactly for U+0000..=U+00FF (ASCII and Latin-1) and declines any corpus with a
//! character beyond, so scikit-learn does that work itself.
//!
//! Documents are processed in parallel chunks; chunk-local vocabularies are merged in chunk order,
//! which gives exactly the global first-occurrence numbering.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

/// What the analyzer does besides tokenising.
#[derive(Debug, Clone)]
pub struct CountOptions {
    pub lowercase: bool,
    pub ngram_min: usize,
    pub ngram_max: usize,
    pub stop_words: Option<HashSet<String>>,
    /// term -> column; `None` learns the vocabulary (fit)
    pub vocabulary: Option<HashMap<String, i64>>,
}

/// A document-term count matrix in CSR form, plus the learned vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// learned terms, numbered by position (empty with a fixed vocabulary)
    pub terms: Vec<String>,
    pub indptr: Vec<i64>,
    pub indices: Vec<i64>,
    pub counts: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CountOutcome {
    Ok(Counts),
    Declined(String),
}

/// Python's `str.isalnum()` for U+0000..=U+00FF (plus `_`: the `\w` class).
fn is_word(c: char) -> bool {
    match c as u32 {
        0x30..=0x39 | 0x41..=0x5A | 0x61..=0x7A | 0x5F => true,
        // ª ² ³ µ ¹ º ¼ ½ ¾, letters except × and ÷
        0xAA | 0xB2 | 0xB3 | 0xB5 | 0xB9 | 0xBA | 0xBC..=0xBE => true,
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0xFF => true,
        _ => false,
    }
}

/// Python's `str.lower()` for U+0000..=U+00FF.
fn lower(c: char) -> char {
    match c as u32 {
        0x41..=0x5A | 0xC0..=0xD6 | 0xD8..=0xDE => char::from_u32(c as u32 + 0x20).unwrap_or(c),
        _ => c,
    }
}

/// Tokens of one document, or `Err(char)` for the first character this kernel cannot classify.
fn tokens(
    doc: &str,
    lowercase: bool,
    buf: &mut String,
    out: &mut Vec<std::ops::Range<usize>>,
) -> Result<(), char> {
    buf.clear();
    out.clear();
    let mut start: Option<usize> = None;
    let mut run = 0usize;
    for c in doc.chars() {
        if c as u32 > 0xFF {
            return Err(c);
        }
        let c = if lowercase { lower(c) } else { c };
        if is_word(c) {
            if start.is_none() {
                start = Some(buf.len());
                run = 0;
            }
            run += 1;
        } else if let Some(s) = start.take() {
            if run >= 2 {
                out.push(s..buf.len());
            }
        }
        buf.push(c);
    }
    if let Some(s) = start {
        if run >= 2 {
            out.push(s..buf.len());
        }
    }
    Ok(())
}

/// sklearn's `_word_ngrams`: stop words out, then n-grams for n in min..=max in that order.
fn features(
    buf: &str,
    spans: &[std::ops::Range<usize>],
    opts: &CountOptions,
    out: &mut Vec<String>,
) {
    out.clear();
    let toks: Vec<&str> = spans
        .iter()
        .map(|r| &buf[r.clone()])
        .filter(|t| opts.stop_words.as_ref().is_none_or(|s| !s.contains(*t)))
        .collect();
    let (mut min_n, max_n) = (opts.ngram_min, opts.ngram_max);
    if max_n == 1 {
        out.extend(toks.iter().map(|t| t.to_string()));
        return;
    }
    if min_n == 1 {
        out.extend(toks.iter().map(|t| t.to_string()));
        min_n += 1;
    }
    let n_tok = toks.len();
    for n in min_n..(max_n + 1).min(n_tok + 1) {
        for i in 0..=(n_tok - n) {
            out.push(toks[i..i + n].join(" "));
        }
    }
}

struct Chunk {
    /// chunk-local terms in first-occurrence order (learning) — empty with a fixed vocabulary
    terms: Vec<String>,
    /// per document: (column, count); column is chunk-local when learning, global when fixed
    docs: Vec<Vec<(i64, i32)>>,
}

fn count_chunk<S: AsRef<str>>(docs: &[Option<S>], opts: &CountOptions) -> Result<Chunk, String> {
    let mut local: HashMap<String, i64> = HashMap::new();
    let mut terms = Vec::new();
    let mut out_docs = Vec::with_capacity(docs.len());
    let (mut buf, mut spans, mut feats) = (String::new(), Vec::new(), Vec::new());
    let mut doc_counts: HashMap<i64, i32> = HashMap::new();
    for doc in docs {
        let Some(doc) = doc else {
            return Err("a document is missing (None/NaN)".into());
        };
        tokens(doc.as_ref(), opts.lowercase, &mut buf, &mut spans)
            .map_err(|c| format!("character U+{:04X} is outside Latin-1", c as u32))?;
        features(&buf, &spans, opts, &mut feats);
        doc_counts.clear();
        for f in feats.drain(..) {
            let col = match &opts.vocabulary {
                Some(v) => match v.get(&f) {
                    Some(&c) => c,
                    None => continue,
                },
                None => match local.get(&f) {
                    Some(&c) => c,
                    None => {
                        let c = terms.len() as i64;
                        local.insert(f.clone(), c);
                        terms.push(f);
                        c
                    }
                },
            };
            *doc_counts.entry(col).or_insert(0) += 1;
        }
        out_docs.push(doc_counts.iter().map(|(&c, &n)| (c, n)).collect());
    }
    Ok(Chunk {
        terms,
        docs: out_docs,
    })
}

/// Counts the features of `docs` (`None` = a missing document, which sklearn rejects: declined).
pub fn count_vocab<S: AsRef<str> + Sync>(docs: &[Option<S>], opts: &CountOptions) -> CountOutcome {
    if opts.ngram_min < 1 || opts.ngram_max < opts.ngram_min {
        return CountOutcome::Declined(format!(
            "ngram_range ({}, {})",
            opts.ngram_min, opts.ngram_max
        ));
    }
    let threads = rayon::current_num_threads().max(1);
    let chunk_len = docs.len().div_ceil(threads * 8).max(256);
    let chunks: Result<Vec<Chunk>, String> = docs
        .par_chunks(chunk_len)
        .map(|c| count_chunk(c, opts))
        .collect();
    let mut chunks = match chunks {
        Ok(c) => c,
        Err(why) => return CountOutcome::Declined(why),
    };

    // global numbering: chunk by chunk, each in its own first-occurrence order
    let mut terms: Vec<String> = Vec::new();
    let mut remaps: Vec<Vec<i64>> = Vec::with_capacity(chunks.len());
    if opts.vocabulary.is_none() {
        let mut global: HashMap<String, i64> = HashMap::new();
        for ch in &mut chunks {
            let mut remap = Vec::with_capacity(ch.terms.len());
            for t in ch.terms.drain(..) {
                let next = terms.len() as i64;
                let id = *global.entry(t.clone()).or_insert_with(|| {
                    terms.push(t);
                    next
                });
                remap.push(id);
            }
            remaps.push(remap);
        }
    }

    let mut indptr = Vec::with_capacity(docs.len() + 1);
    indptr.push(0i64);
    let mut nnz = 0i64;
    for ch in &chunks {
        for d in &ch.docs {
            nnz += d.len() as i64;
            indptr.push(nnz);
        }
    }
    let mut indices = vec![0i64; nnz as usize];
    let mut counts = vec![0i32; nnz as usize];
    let mut idx_parts: Vec<&mut [i64]> = Vec::with_capacity(chunks.len());
    let mut cnt_parts: Vec<&mut [i32]> = Vec::with_capacity(chunks.len());
    {
        let (mut ri, mut rc) = (&mut indices[..], &mut counts[..]);
        for ch in &chunks {
            let len: usize = ch.docs.iter().map(|d| d.len()).sum();
            let (a, b) = ri.split_at_mut(len);
            let (c, d) = rc.split_at_mut(len);
            idx_parts.push(a);
            cnt_parts.push(c);
            ri = b;
            rc = d;
        }
    }
    chunks
        .par_iter_mut()
        .zip(idx_parts.into_par_iter().zip(cnt_parts.into_par_iter()))
        .enumerate()
        .for_each(|(k, (ch, (idx, cnt)))| {
            let mut at = 0;
            for d in &mut ch.docs {
                if let Some(remap) = remaps.get(k) {
                    for e in d.iter_mut() {
                        e.0 = remap[e.0 as usize];
                    }
                }
                d.sort_unstable_by_key(|e| e.0);
                for &(c, n) in d.iter() {
                    idx[at] = c;
                    cnt[at] = n;
                    at += 1;
                }
            }
        });
    CountOutcome::Ok(Counts {
        terms,
        indptr,
        indices,
        counts,
    })
}

/// MurmurHash3 (x86, 32-bit) of `key` with `seed`, as a signed 32-bit value: what
/// scikit-learn's `murmurhash3_bytes_s32` returns.
pub fn murmurhash3_32(key: &[u8], seed: u32) -> i32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut blocks = key.chunks_exact(4);
    for b in &mut blocks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    let mut k: u32 = 0;
    if tail.len() >= 3 {
        k ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        k ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        k ^= tail[0] as u32;
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= key.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}

/// Hashed features in scikit-learn's `FeatureHasher` order (per document, in analyzer order,
/// duplicates not summed: the caller's `sum_duplicates` does that, as sklearn's does).
#[derive(Debug, Clone, PartialEq)]
pub struct Hashed {
    pub indptr: Vec<i64>,
    pub indices: Vec<i64>,
    pub values: Vec<f64>,
}

/// `HashingVectorizer.transform`'s hashing of `analyzer(doc)` for every document.
pub fn hash_features<S: AsRef<str> + Sync>(
    docs: &[Option<S>],
    opts: &CountOptions,
    n_features: i64,
    alternate_sign: bool,
) -> Result<Hashed, String> {
    if opts.ngram_min < 1 || opts.ngram_max < opts.ngram_min {
        return Err(format!(
            "ngram_range ({}, {})",
            opts.ngram_min, opts.ngram_max
        ));
    }
    if n_features < 1 {
        return Err(format!("n_features {n_features}"));
    }
    let threads = rayon::current_num_threads().max(1);
    let chunk_len = docs.len().div_ceil(threads * 8).max(256);
    // per chunk: cumulative feature counts per document, indices, values
    type Part = (Vec<i64>, Vec<i64>, Vec<f64>);
    let parts: Result<Vec<Part>, String> = docs
        .par_chunks(chunk_len)
        .map(|chunk| {
            let (mut lens, mut idx, mut val) =
                (Vec::with_capacity(chunk.len()), Vec::new(), Vec::new());
            let (mut buf, mut spans, mut feats) = (String::new(), Vec::new(), Vec::new());
            for doc in chunk {
                let Some(doc) = doc else {
                    return Err("a document is missing (None/NaN)".to_string());
                };
                tokens(doc.as_ref(), opts.lowercase, &mut buf, &mut spans)
                    .map_err(|c| format!("character U+{:04X} is outside Latin-1", c as u32))?;
                features(&buf, &spans, opts, &mut feats);
                for f in feats.drain(..) {
                    let h = murmurhash3_32(f.as_bytes(), 0);
                    idx.push(if h == i32::MIN {
                        (2_147_483_647 - (n_features - 1)) % n_features
                    } else {
                        (h.unsigned_abs() as i64) % n_features
                    });
                    val.push(if alternate_sign && h < 0 { -1.0 } else { 1.0 });
                }
                lens.push(idx.len() as i64);
            }
            Ok((lens, idx, val))
        })
        .collect();
    let parts = parts?;
    let mut out = Hashed {
        indptr: Vec::with_capacity(docs.len() + 1),
        indices: Vec::new(),
        values: Vec::new(),
    };
    out.indptr.push(0);
    for (lens, idx, val) in parts {
        let base = out.indices.len() as i64;
        out.indptr.extend(lens.iter().map(|l| base + l));
        out.indices.extend(idx);
        out.values.extend(val);
    }
    Ok(out)
}

/// Reads the documents (column 0, utf8 / large_utf8 / utf8 view) of the Arrow IPC file `input`
/// and hands them to `f`; `Ok(Err(reason))` declines the input.
fn with_docs<R>(
    input: &std::path::Path,
    f: impl FnOnce(&[Option<&str>]) -> R,
) -> crate::error::Result<Result<R, String>> {
    use arrow_array::Array;

    let batches = crate::ipc::read_ipc_file(input)?;
    let mut docs: Vec<Option<&str>> = Vec::new();
    for b in &batches {
        if b.num_columns() == 0 {
            return Ok(Err("no document column".into()));
        }
        let col = b.column(0);
        if let Some(a) = col.as_any().downcast_ref::<arrow_array::LargeStringArray>() {
            docs.extend(a.iter());
        } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::StringArray>() {
            docs.extend(a.iter());
        } else if let Some(a) = col.as_any().downcast_ref::<arrow_array::StringViewArray>() {
            docs.extend(a.iter());
        } else {
            return Ok(Err(format!("documents of type {}", col.data_type())));
        }
    }
    Ok(Ok(f(&docs)))
}

/// The IPC face of [`count_vocab`]: documents from the Arrow IPC file `input`, options as JSON,
/// the result as a one-row Arrow IPC file at `out` with list columns `terms` (utf8), `indptr`,
/// `indices` (int64) and `counts` (int32).
///
/// Options: `{"lowercase": bool, "ngram_range": [min, max], "stop_words": [..] | null,
/// "vocabulary": {"terms": [..], "indices": [..]} | null}`.
pub fn count_vocab_ipc(
    input: &std::path::Path,
    options_json: &str,
    out: &std::path::Path,
) -> crate::error::Result<crate::Outcome> {
    use arrow_array::{Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    let t0 = std::time::Instant::now();
    let opts = match parse_options(options_json) {
        Ok(o) => o,
        Err(why) => return Ok(crate::Outcome::Declined(why)),
    };
    let (rows, counts) = match with_docs(input, |docs| (docs.len(), count_vocab(docs, &opts)))? {
        Ok((rows, CountOutcome::Ok(c))) => (rows, c),
        Ok((_, CountOutcome::Declined(why))) | Err(why) => {
            return Ok(crate::Outcome::Declined(why))
        }
    };
    let cols = match &opts.vocabulary {
        Some(v) => v.values().copied().max().map_or(0, |m| m as usize + 1),
        None => counts.terms.len(),
    };
    let batch = list_batch(vec![
        (
            "terms",
            Arc::new(StringArray::from_iter_values(counts.terms)),
        ),
        ("indptr", Arc::new(Int64Array::from(counts.indptr))),
        ("indices", Arc::new(Int64Array::from(counts.indices))),
        ("counts", Arc::new(Int32Array::from(counts.counts))),
    ]);
    let bytes = crate::ipc::write_ipc_file(&batch, out)?;
    Ok(crate::Outcome::Ok {
        rows,
        cols,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The IPC face of [`hash_features`]: options as for [`count_vocab_ipc`] (no vocabulary) plus
/// `"n_features"` and `"alternate_sign"`; the result has list columns `indptr`, `indices`
/// (int64) and `values` (float64).
pub fn hash_features_ipc(
    input: &std::path::Path,
    options_json: &str,
    out: &std::path::Path,
) -> crate::error::Result<crate::Outcome> {
    use arrow_array::{Float64Array, Int64Array};
    use std::sync::Arc;

    let t0 = std::time::Instant::now();
    let v: serde_json::Value = match serde_json::from_str(options_json) {
        Ok(v) => v,
        Err(e) => return Ok(crate::Outcome::Declined(format!("bad options: {e}"))),
    };
    let opts = match options_from(&v) {
        Ok(o) if o.vocabulary.is_none() => o,
        Ok(_) => {
            return Ok(crate::Outcome::Declined(
                "a vocabulary makes no sense for hashing".into(),
            ))
        }
        Err(why) => return Ok(crate::Outcome::Declined(why)),
    };
    let Some(n_features) = v.get("n_features").and_then(serde_json::Value::as_i64) else {
        return Ok(crate::Outcome::Declined(
            "n_features must be an integer".into(),
        ));
    };
    let alternate_sign = v
        .get("alternate_sign")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true);
    let (rows, h) = match with_docs(input, |docs| {
        (
            docs.len(),
            hash_features(docs, &opts, n_features, alternate_sign),
        )
    })? {
        Ok((rows, Ok(h))) => (rows, h),
        Ok((_, Err(why))) | Err(why) => return Ok(crate::Outcome::Declined(why)),
    };
    let batch = list_batch(vec![
        ("indptr", Arc::new(Int64Array::from(h.indptr))),
        ("indices", Arc::new(Int64Array::from(h.indices))),
        ("values", Arc::new(Float64Array::from(h.values))),
    ]);
    let bytes = crate::ipc::write_ipc_file(&batch, out)?;
    Ok(crate::Outcome::Ok {
        rows,
        cols: n_features as usize,
        bytes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

fn parse_options(json: &str) -> Result<CountOptions, String> {
    options_from(&serde_json::from_str(json).map_err(|e| format!("bad options: {e}"))?)
}

/// The analyzer options of a parsed options object.
fn options_from(v: &serde_json::Value) -> Result<CountOptions, String> {
    use serde_json::Value;
    let lowercase = v.get("lowercase").and_then(Value::as_bool).unwrap_or(true);
    let (ngram_min, ngram_max) = match v.get("ngram_range").and_then(Value::as_array) {
        Some(r) if r.len() == 2 => match (r[0].as_u64(), r[1].as_u64()) {
            (Some(a), Some(b)) => (a as usize, b as usize),
            _ => return Err("ngram_range must be two integers".into()),
        },
        None => (1, 1),
        Some(_) => return Err("ngram_range must be two integers".into()),
    };
    let strings = |x: &Value| -> Result<Vec<String>, String> {
        x.as_array()
            .ok_or("expected a list of strings")?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected a list of strings".to_string())
            })
            .collect()
    };
    let stop_words = match v.get("stop_words") {
        None | Some(Value::Null) => None,
        Some(x) => Some(strings(x)?.into_iter().collect()),
    };
    let vocabulary = match v.get("vocabulary") {
        None | Some(Value::Null) => None,
        Some(x) => {
            let terms = strings(x.get("terms").ok_or("vocabulary.terms missing")?)?;
            let idx: Vec<i64> = x
                .get("indices")
                .and_then(Value::as_array)
                .ok_or("vocabulary.indices missing")?
                .iter()
                .map(|i| {
                    i.as_i64()
                        .filter(|&i| i >= 0)
                        .ok_or_else(|| "vocabulary indices must be integers >= 0".to_string())
                })
                .collect::<Result<_, _>>()?;
            if idx.len() != terms.len() {
                return Err("vocabulary terms and indices differ in length".into());
            }
            Some(terms.into_iter().zip(idx).collect())
        }
    };
    Ok(CountOptions {
        lowercase,
        ngram_min,
        ngram_max,
        stop_words,
        vocabulary,
    })
}

/// One row whose columns are lists: arrays of different lengths in one IPC file.
fn list_batch(cols: Vec<(&str, arrow_array::ArrayRef)>) -> arrow_array::RecordBatch {
    use arrow_array::{ArrayRef, ListArray};
    use arrow_buffer::OffsetBuffer;
    use arrow_schema::Field;
    use std::sync::Arc;

    let cols = cols.into_iter().map(|(name, values)| {
        let field = Arc::new(Field::new("item", values.data_type().clone(), false));
        let offsets = OffsetBuffer::from_lengths([values.len()]);
        (
            name,
            Arc::new(ListArray::new(field, offsets, values, None)) as ArrayRef,
        )
    });
    arrow_array::RecordBatch::try_from_iter(cols).expect("list columns of one row each")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(min: usize, max: usize) -> CountOptions {
        CountOptions {
            lowercase: true,
            ngram_min: min,
            ngram_max: max,
            stop_words: None,
            vocabulary: None,
        }
    }

    fn run(docs: &[&str], o: &CountOptions) -> Counts {
        let d: Vec<Option<&str>> = docs.iter().map(|s| Some(*s)).collect();
        match count_vocab(&d, o) {
            CountOutcome::Ok(c) => c,
            CountOutcome::Declined(w) => panic!("declined: {w}"),
        }
    }

    #[test]
    fn tokens_are_runs_of_two_word_chars_numbered_by_first_occurrence() {
        let c = run(
            &["The cat, the HAT! a b_c", "hat cat x9 é café"],
            &opts(1, 1),
        );
        assert_eq!(c.terms, vec!["the", "cat", "hat", "b_c", "x9", "café"]);
        assert_eq!(c.indptr, vec![0, 4, 8]);
        assert_eq!(c.indices, vec![0, 1, 2, 3, 1, 2, 4, 5]);
        assert_eq!(c.counts, vec![2, 1, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn ngrams_follow_sklearn_order_and_stop_words_go_first() {
        let mut o = opts(1, 2);
        o.stop_words = Some(["the".to_string()].into_iter().collect());
        let c = run(&["the red the car", "car red"], &o);
        assert_eq!(c.terms, vec!["red", "car", "red car", "car red"]);
        let c2 = run(&["aa bb cc"], &opts(2, 3));
        assert_eq!(c2.terms, vec!["aa bb", "bb cc", "aa bb cc"]);
    }

    #[test]
    fn chunked_numbering_equals_sequential_numbering() {
        let docs: Vec<String> = (0..5000)
            .map(|i| format!("w{} common w{} t{}", i % 97, (i * 7) % 13, i))
            .collect();
        let refs: Vec<&str> = docs.iter().map(|s| s.as_str()).collect();
        let c = run(&refs, &opts(1, 2));
        // sequential reference
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut terms = Vec::new();
        let mut buf = String::new();
        let mut spans = Vec::new();
        let mut f = Vec::new();
        for d in &refs {
            tokens(d, true, &mut buf, &mut spans).unwrap();
            features(&buf, &spans, &opts(1, 2), &mut f);
            for t in f.drain(..) {
                if !seen.contains_key(&t) {
                    seen.insert(t.clone(), terms.len() as i64);
                    terms.push(t);
                }
            }
        }
        assert_eq!(c.terms, terms);
        assert_eq!(*c.indptr.last().unwrap() as usize, c.indices.len());
        for w in c.indptr.windows(2) {
            let row = &c.indices[w[0] as usize..w[1] as usize];
            assert!(row.windows(2).all(|p| p[0] < p[1]));
        }
    }

    #[test]
    fn fixed_vocabulary_skips_unknown_features() {
        let mut o = opts(1, 1);
        o.vocabulary = Some(
            [("cat".to_string(), 5i64), ("dog".to_string(), 0)]
                .into_iter()
                .collect(),
        );
        let c = run(&["cat dog bird cat", "fish"], &o);
        assert!(c.terms.is_empty());
        assert_eq!(c.indptr, vec![0, 2, 2]);
        assert_eq!(c.indices, vec![0, 5]);
        assert_eq!(c.counts, vec![1, 2]);
    }

    #[test]
    fn declines_beyond_latin1_and_missing_documents() {
        let d = vec![Some("ok text"), Some("Ωmega")];
        assert!(
            matches!(count_vocab(&d, &opts(1, 1)), CountOutcome::Declined(w) if w.contains("U+03A9"))
        );
        let d: Vec<Option<&str>> = vec![Some("a"), None];
        assert!(matches!(
            count_vocab(&d, &opts(1, 1)),
            CountOutcome::Declined(_)
        ));
    }

    #[test]
    fn murmurhash_matches_known_values() {
        // reference values of MurmurHash3_x86_32 (seed 0 and 42), as sklearn's murmurhash3_32
        assert_eq!(murmurhash3_32(b"", 0), 0);
        assert_eq!(murmurhash3_32(b"foo", 0), -156908512);
        assert_eq!(murmurhash3_32(b"foo", 42), -1322301282);
        assert_eq!(murmurhash3_32(b"hello world", 0) as u32, 0x5e92_8f0f);
    }

    #[test]
    fn hashing_keeps_analyzer_order_and_signs() {
        let d = vec![Some("bb aa bb"), Some("")];
        let h = hash_features(&d, &opts(1, 1), 16, true).unwrap();
        assert_eq!(h.indptr, vec![0, 3, 3]);
        assert_eq!(h.indices[0], h.indices[2]);
        let hb = murmurhash3_32(b"bb", 0);
        assert_eq!(h.indices[0], (hb.unsigned_abs() as i64) % 16);
        assert_eq!(h.values[0], if hb < 0 { -1.0 } else { 1.0 });
        let unsigned = hash_features(&d, &opts(1, 1), 16, false).unwrap();
        assert!(unsigned.values.iter().all(|&v| v == 1.0));
    }
}
