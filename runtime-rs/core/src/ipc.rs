//! Arrow IPC *file* output, published atomically (write to `<out>.tmp`, then rename).
//!
//! The columns are written straight from their Arrow buffers into the file, in parallel.
//! arrow-ipc's `FileWriter` first gathers the whole body into one growing `Vec` and then
//! writes that out: two copies of every byte, each into fresh pages (80 ms for the 72 MB of a
//! 1M-row CSV; 20 ms this way). Only the metadata comes from arrow-ipc. Layouts this writer
//! does not handle (sliced arrays, dictionaries, views, structs) go through `FileWriter`.

use std::fs::{self, File};
use std::io::BufWriter;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::bit_util;
use arrow_data::ArrayData;
use arrow_ipc::writer::{
    write_message, DictionaryTracker, EncodedData, FileWriter, IpcDataGenerator, IpcWriteOptions,
    StreamWriter,
};
use arrow_ipc::{
    Block, FieldNode, FooterBuilder, MessageBuilder, MessageHeader, MetadataVersion,
    RecordBatchBuilder,
};
use arrow_schema::{DataType, SchemaRef};
use flatbuffers::FlatBufferBuilder;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Store files whose pages are allocated ahead of need (`fill_spares`), for kernel outputs. On
/// tmpfs a fresh file's pages cost as much as the copy into them (72 MB: ~16 ms to allocate,
/// ~16 ms to fill) and that allocation lay on the path of every result; an output in the same
/// folder takes a spare (a rename), writes over its pages and truncates it to its size.
static SPARES: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
static SPARE_SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Makes spare files of `bytes` each in `dir` until it holds `count`; returns how many it holds.
/// Spares of other folders that no longer exist are forgotten.
pub fn fill_spares(dir: &Path, count: usize, bytes: u64) -> Result<usize> {
    let held = |dir: &Path| {
        let mut spares = SPARES.lock().expect("spares lock");
        spares.retain(|p| p.exists());
        spares.iter().filter(|p| p.parent() == Some(dir)).count()
    };
    while held(dir) < count {
        let n = SPARE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".spare-{}-{n}", std::process::id()));
        let file = File::create(&path).map_err(Error::io("create a spare store file", &path))?;
        allocate(&file, bytes).map_err(|e| {
            let _ = fs::remove_file(&path);
            Error::io("allocate a spare store file", &path)(e)
        })?;
        SPARES.lock().expect("spares lock").push(path);
    }
    Ok(held(dir))
}

#[cfg(target_os = "linux")]
fn allocate(file: &File, bytes: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on an open descriptor we own; no memory is passed.
    match unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, bytes as libc::off_t) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn allocate(file: &File, bytes: u64) -> std::io::Result<()> {
    file.set_len(bytes)
}

/// Outputs expected to be at least this large take a spare (a small one would free most of its
/// pages again, allocated for nothing).
const SPARE_MIN: usize = 16 << 20;

/// A new file at `tmp` for an output of about `expected` bytes: a spare of its folder renamed
/// there when there is one and the output is large. The caller sets the file's final length
/// (which frees a spare's pages beyond it).
fn create_output(tmp: &Path, expected: usize) -> std::io::Result<File> {
    if expected < SPARE_MIN {
        return File::create(tmp);
    }
    let spare = {
        let mut spares = SPARES.lock().expect("spares lock");
        let i = spares.iter().position(|p| p.parent() == tmp.parent());
        i.map(|i| spares.swap_remove(i))
    };
    if let Some(spare) = spare {
        if fs::rename(&spare, tmp).is_ok() {
            if let Ok(f) = fs::OpenOptions::new().write(true).open(tmp) {
                return Ok(f);
            }
        }
        let _ = fs::remove_file(&spare);
    }
    File::create(tmp)
}

/// Every buffer starts on a 64-byte boundary, like arrow-ipc's default.
const ALIGN: usize = 64;
/// Large buffers are copied in pieces of this size, so both cores share one big column.
const PIECE: usize = 4 << 20;

/// Writes `batch` to `out` and returns the size of the file in bytes.
pub fn write_ipc_file(batch: &RecordBatch, out: &Path) -> Result<u64> {
    write_ipc_batches(batch.schema_ref(), std::slice::from_ref(batch), out)
}

/// Writes record batches of `schema` to `out` (one IPC file) and returns its size in bytes.
pub fn write_ipc_batches(schema: &SchemaRef, batches: &[RecordBatch], out: &Path) -> Result<u64> {
    let columns: Vec<Vec<ArrayData>> = batches
        .iter()
        .map(|b| b.columns().iter().map(|c| c.to_data()).collect())
        .collect();
    let layouts: Option<Vec<Layout>> = columns.iter().map(|c| Layout::of(c)).collect();
    publish(out, |tmp| match &layouts {
        Some(layouts) => write_direct(schema, batches, layouts, tmp),
        None => write_with_arrow(schema, batches, tmp, false),
    })
}

/// Writes record batches as an Arrow IPC *stream* (which, unlike the file format, lets each
/// batch carry its own dictionaries) and returns its size in bytes.
pub fn write_ipc_stream(schema: &SchemaRef, batches: &[RecordBatch], out: &Path) -> Result<u64> {
    publish(out, |tmp| write_with_arrow(schema, batches, tmp, true))
}

/// The record batches of the Arrow IPC file `input`, without copying: the arrays are views of
/// a read-only mapping of the file (kernel inputs written by the shim into the store).
pub fn read_ipc_file(input: &Path) -> Result<Vec<RecordBatch>> {
    let as_io = |e: arrow_schema::ArrowError| {
        Error::io("read Arrow IPC file", input)(std::io::Error::other(e.to_string()))
    };
    let bad = |what: &str| as_io(arrow_schema::ArrowError::IpcError(what.into()));
    let file = File::open(input).map_err(Error::io("open", input))?;
    // SAFETY: read-only and private; kernel inputs are written once (write-then-rename) and
    // never modified, so the mapping cannot change under the arrays that view it. Populated:
    // the kernel reads all of it, and one call maps the pages faster than a fault per page.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
        .map_err(Error::io("map", input))?;
    if map.len() < 10 {
        return Err(bad("file too short"));
    }
    let len = map.len();
    let ptr =
        std::ptr::NonNull::new(map.as_ptr() as *mut u8).ok_or_else(|| bad("empty mapping"))?;
    // SAFETY: ptr and len describe the mapping, which the buffer keeps alive (its owner).
    let buffer = unsafe { arrow_buffer::Buffer::from_custom_allocation(ptr, len, Arc::new(map)) };
    let trailer: [u8; 10] = buffer[len - 10..].try_into().expect("10 bytes");
    let footer_len = arrow_ipc::reader::read_footer_length(trailer).map_err(as_io)?;
    if footer_len + 10 > len {
        return Err(bad("footer longer than the file"));
    }
    let footer = arrow_ipc::root_as_footer(&buffer[len - 10 - footer_len..len - 10])
        .map_err(|e| bad(&format!("bad footer: {e}")))?;
    let schema = arrow_ipc::convert::fb_to_schema(footer.schema().ok_or_else(|| bad("no schema"))?);
    let mut decoder = arrow_ipc::reader::FileDecoder::new(Arc::new(schema), footer.version());
    let block_data = |b: &Block| {
        let start = b.offset() as usize;
        let end = start + b.metaDataLength() as usize + b.bodyLength() as usize;
        (end <= len)
            .then(|| buffer.slice_with_length(start, end - start))
            .ok_or_else(|| bad("block beyond the file"))
    };
    for b in footer.dictionaries().iter().flatten() {
        decoder.read_dictionary(b, &block_data(b)?).map_err(as_io)?;
    }
    let mut out = Vec::new();
    for b in footer.recordBatches().iter().flatten() {
        if let Some(batch) = decoder
            .read_record_batch(b, &block_data(b)?)
            .map_err(as_io)?
        {
            out.push(batch);
        }
    }
    Ok(out)
}

/// A kernel input passed by reference: an array whose buffers lie in a store result file the
/// shim has mapped (and not written to), described by the shim's `bridge.column_ref`.
#[derive(serde::Deserialize, Debug, Clone)]
pub struct ColumnRef {
    pub path: String,
    /// the inode the shim mapped: a result evicted and published again is another file
    pub ino: u64,
    /// pyarrow's name of the type: int64, double, string or large_string
    #[serde(rename = "type")]
    pub type_name: String,
    pub len: usize,
    pub offset: usize,
    pub null_count: usize,
    /// (offset in the file, size) of each buffer, in Arrow's order (validity first)
    pub buffers: Vec<Option<(usize, usize)>>,
}

/// A kernel's options and the one record batch the shim wrote; `Ok(Err(reason))` declines
/// (options that do not parse, another number of batches).
pub fn kernel_input<O: serde::de::DeserializeOwned>(
    input: &Path,
    options_json: &str,
) -> Result<std::result::Result<(O, arrow_array::RecordBatch), String>> {
    let opts: O = match serde_json::from_str(options_json) {
        Ok(o) => o,
        Err(e) => return Ok(Err(format!("bad options: {e}"))),
    };
    let mut batches = read_ipc_file(input)?;
    match (batches.pop(), batches.is_empty()) {
        (Some(batch), true) => Ok(Ok((opts, batch))),
        _ => Ok(Err("the input must be one record batch".into())),
    }
}

/// Kernel input column `name`: referenced in `refs` (see [`ColumnRef`]) or in the input batch;
/// None when it is in neither, `Err` (a reason to decline) when its reference does not check.
pub fn input_column(
    batch: &arrow_array::RecordBatch,
    refs: &std::collections::HashMap<String, ColumnRef>,
    name: &str,
) -> std::result::Result<Option<arrow_array::ArrayRef>, String> {
    match refs.get(name) {
        Some(r) => referenced_column(r).map(Some),
        None => Ok(batch.column_by_name(name).cloned()),
    }
}

/// Columns `{prefix}0` .. `{prefix}{n-1}` of a kernel's input, each from the batch or by
/// reference ([`input_column`]); why not, when one is missing or unreadable (the kernel
/// declines).
pub fn input_columns(
    batch: &arrow_array::RecordBatch,
    refs: &std::collections::HashMap<String, ColumnRef>,
    prefix: &str,
    n: usize,
) -> std::result::Result<Vec<arrow_array::ArrayRef>, String> {
    (0..n)
        .map(|j| {
            let name = format!("{prefix}{j}");
            input_column(batch, refs, &name)?.ok_or_else(|| format!("no column {name}"))
        })
        .collect()
}

/// The array a `ColumnRef` describes, viewing a read-only mapping of its file (no copy).
/// Everything is checked: the file is the one the shim mapped, the buffers lie inside it and
/// are aligned, and the array data is validated in full (offsets, UTF-8) as Arrow defines it.
pub fn referenced_column(r: &ColumnRef) -> std::result::Result<arrow_array::ArrayRef, String> {
    use std::os::unix::fs::MetadataExt;
    let data_type = match r.type_name.as_str() {
        "int64" => DataType::Int64,
        "double" => DataType::Float64,
        "string" => DataType::Utf8,
        "large_string" => DataType::LargeUtf8,
        other => return Err(format!("a referenced column of type {other}")),
    };
    let file = File::open(&r.path).map_err(|e| format!("cannot open {}: {e}", r.path))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat {}: {e}", r.path))?;
    if meta.ino() != r.ino {
        return Err(format!(
            "{} is no longer the file the script mapped",
            r.path
        ));
    }
    // SAFETY: read-only; store results are published once (write, then rename) and never
    // written again (the shim maps them copy-on-write), so the mapping cannot change.
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map {}: {e}", r.path))?;
    let len = map.len();
    let ptr = std::ptr::NonNull::new(map.as_ptr() as *mut u8).ok_or("an empty file")?;
    // SAFETY: ptr and len describe the mapping, which the buffer keeps alive (its owner).
    let whole = unsafe { arrow_buffer::Buffer::from_custom_allocation(ptr, len, Arc::new(map)) };
    let slice = |b: &(usize, usize), align: usize| {
        let (off, size) = *b;
        if off.checked_add(size).is_none_or(|end| end > len) || off % align != 0 {
            return Err(format!(
                "a buffer at {off}+{size} outside {} or misaligned",
                r.path
            ));
        }
        Ok(whole.slice_with_length(off, size))
    };
    let (validity, rest) = r.buffers.split_first().ok_or("no buffers")?;
    let width = if matches!(data_type, DataType::Utf8) {
        4
    } else {
        8
    };
    let mut builder = ArrayData::builder(data_type)
        .len(r.len)
        .offset(r.offset)
        .null_count(r.null_count);
    if let Some(v) = validity {
        builder = builder.null_bit_buffer(Some(slice(v, 1)?));
    }
    for (i, b) in rest.iter().enumerate() {
        let b = b.as_ref().ok_or("a missing data buffer")?;
        // the values of strings are bytes; offsets and numbers are aligned to their width
        builder = builder.add_buffer(slice(b, if i == 1 { 1 } else { width })?);
    }
    let data = builder
        .build()
        .map_err(|e| format!("invalid referenced column: {e}"))?;
    Ok(arrow_array::make_array(data))
}

/// Runs `write` on `<out>.tmp`, then renames it into place (removed if the write failed).
fn publish(out: &Path, write: impl FnOnce(&Path) -> std::io::Result<u64>) -> Result<u64> {
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let bytes = write(tmp).map_err(|e| {
        let _ = fs::remove_file(tmp);
        Error::io("write Arrow IPC file", tmp)(e)
    })?;
    fs::rename(tmp, out).map_err(Error::io("rename into place", out))?;
    Ok(bytes)
}

fn to_io(e: arrow_schema::ArrowError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// arrow-ipc's own writers: the IPC file (`stream` false) or stream format.
fn write_with_arrow(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    tmp: &Path,
    stream: bool,
) -> std::io::Result<u64> {
    let out = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
    let out = if stream {
        let mut w = StreamWriter::try_new(out, schema).map_err(to_io)?;
        for batch in batches {
            w.write(batch).map_err(to_io)?;
        }
        w.finish().map_err(to_io)?;
        w.into_inner().map_err(to_io)?
    } else {
        let mut w = FileWriter::try_new(out, schema).map_err(to_io)?;
        for batch in batches {
            w.write(batch).map_err(to_io)?;
        }
        w.finish().map_err(to_io)?;
        w.into_inner().map_err(to_io)?
    };
    let file = out.into_inner().map_err(|e| e.into_error())?;
    Ok(file.metadata()?.len())
}

/// The record batch's body as IPC lays it out: field nodes and (offset, bytes) buffers.
struct Layout<'a> {
    nodes: Vec<FieldNode>,
    /// each buffer's offset in the body and its bytes
    buffers: Vec<(usize, &'a [u8])>,
    body_len: usize,
}

/// Where the values of a batch's int64 and float64 columns go, at the start of the body: the
/// int64 columns' values one right after the other in column order, then (from the next
/// 64-byte boundary) the float64 columns' (8-byte values keep each one 8-byte aligned). pyarrow's
/// conversion to pandas (read_parquet) gives a frame one 2-D block per such dtype; laid out this
/// way, the shim hands pandas those columns as one block without a copy
/// (`bridge.parquet_table_to_frame`), so a frame's `to_numpy()` and scikit-learn's validation
/// of it are views, not copies, as with pandas. (IPC readers follow each buffer's
/// offset in the metadata; the order of buffers in the body is free.) Returns each column's
/// values offset (`None` for other columns, and for a column that is not `rows` long) and where
/// the other buffers start.
fn grouped_values<'t>(
    columns: impl Iterator<Item = (&'t DataType, usize)>,
    rows: usize,
) -> (Vec<Option<usize>>, usize) {
    let columns: Vec<(&DataType, usize)> = columns.collect();
    let mut at = vec![None; columns.len()];
    let mut end = 0;
    for grouped in [DataType::Int64, DataType::Float64] {
        for (i, &(t, len)) in columns.iter().enumerate() {
            if *t == grouped && len == rows {
                at[i] = Some(end);
                end += rows * 8;
            }
        }
        end = end.div_ceil(ALIGN) * ALIGN;
    }
    (at, end)
}

impl<'a> Layout<'a> {
    /// The layout of a record batch's columns (int64 / float64 values grouped first:
    /// `grouped_values`), or `None` when an array needs arrow-ipc's slicing or encoding rules.
    fn of(columns: &'a [ArrayData]) -> Option<Layout<'a>> {
        let rows = columns.first().map_or(0, |c| c.len());
        let (values_at, start) =
            grouped_values(columns.iter().map(|c| (c.data_type(), c.len())), rows);
        Layout::placed(columns, &values_at, start)
    }

    /// The layout with the values of column i at `values_at[i]` where given (a primitive column
    /// of 8-byte values) and every other buffer one after the other from `start`.
    fn placed(
        columns: &'a [ArrayData],
        values_at: &[Option<usize>],
        start: usize,
    ) -> Option<Layout<'a>> {
        let mut l = Layout {
            nodes: Vec::new(),
            buffers: Vec::new(),
            body_len: start,
        };
        columns
            .iter()
            .zip(values_at)
            .all(|(c, &at)| l.add(c, at))
            .then_some(l)
    }

    fn push(&mut self, bytes: &'a [u8]) {
        self.buffers.push((self.body_len, bytes));
        self.body_len += bytes.len().div_ceil(ALIGN) * ALIGN;
    }

    /// Adds one array (and its children), its values at `values_at` when given; false when
    /// its layout is not handled here.
    fn add(&mut self, d: &'a ArrayData, values_at: Option<usize>) -> bool {
        if d.offset() != 0 {
            return false;
        }
        self.nodes
            .push(FieldNode::new(d.len() as i64, d.null_count() as i64));
        // the validity bitmap, or an empty buffer when nothing is null (allowed by the format)
        match d.nulls().filter(|n| n.null_count() > 0) {
            Some(n) if n.offset() == 0 => {
                self.push(&n.buffer().as_slice()[..bit_util::ceil(d.len(), 8)])
            }
            Some(_) => return false,
            None => self.push(&[]),
        }
        let b = d.buffers();
        match d.data_type() {
            t if t.is_primitive() => {
                let width = t.primitive_width().expect("primitive width");
                let values = &b[0].as_slice()[..d.len() * width];
                match values_at {
                    Some(at) if width == 8 => self.buffers.push((at, values)),
                    Some(_) => return false,
                    None => self.push(values),
                }
            }
            DataType::Boolean => self.push(&b[0].as_slice()[..bit_util::ceil(d.len(), 8)]),
            DataType::Utf8 | DataType::Binary => {
                let offsets: &[i32] = b[0].typed_data();
                let offsets = &offsets[..d.len() + 1];
                if offsets[0] != 0 {
                    return false;
                }
                self.push(&b[0].as_slice()[..(d.len() + 1) * 4]);
                self.push(&b[1].as_slice()[..offsets[d.len()] as usize]);
            }
            DataType::LargeUtf8 | DataType::LargeBinary => {
                let offsets: &[i64] = b[0].typed_data();
                let offsets = &offsets[..d.len() + 1];
                if offsets[0] != 0 {
                    return false;
                }
                self.push(&b[0].as_slice()[..(d.len() + 1) * 8]);
                self.push(&b[1].as_slice()[..offsets[d.len()] as usize]);
            }
            DataType::List(_) | DataType::LargeList(_) => {
                let (first, last, width) = match d.data_type() {
                    DataType::List(_) => {
                        let o: &[i32] = b[0].typed_data();
                        (o[0] as usize, o[d.len()] as usize, 4)
                    }
                    _ => {
                        let o: &[i64] = b[0].typed_data();
                        (o[0] as usize, o[d.len()] as usize, 8)
                    }
                };
                let child = &d.child_data()[0];
                if first != 0 || child.len() != last {
                    return false;
                }
                self.push(&b[0].as_slice()[..(d.len() + 1) * width]);
                return self.add(child, None);
            }
            _ => return false,
        }
        true
    }
}

/// The metadata message of one record batch: its field nodes, its buffers as (offset in the
/// body, bytes) and the body's length.
fn batch_message(
    rows: usize,
    nodes: &[FieldNode],
    buffers: &[(usize, usize)],
    body_len: usize,
) -> EncodedData {
    let mut fbb = FlatBufferBuilder::new();
    let buffers: Vec<arrow_ipc::Buffer> = buffers
        .iter()
        .map(|&(off, len)| arrow_ipc::Buffer::new(off as i64, len as i64))
        .collect();
    let buffers = fbb.create_vector(&buffers);
    let nodes = fbb.create_vector(nodes);
    let header = {
        let mut rb = RecordBatchBuilder::new(&mut fbb);
        rb.add_length(rows as i64);
        rb.add_nodes(nodes);
        rb.add_buffers(buffers);
        rb.finish().as_union_value()
    };
    let mut m = MessageBuilder::new(&mut fbb);
    m.add_version(MetadataVersion::V5);
    m.add_header_type(MessageHeader::RecordBatch);
    m.add_bodyLength(body_len as i64);
    m.add_header(header);
    let m = m.finish();
    fbb.finish(m, None);
    EncodedData {
        ipc_message: fbb.finished_data().to_vec(),
        arrow_data: Vec::new(),
    }
}

impl Layout<'_> {
    /// the buffers as (offset in the body, bytes)
    fn extents(&self) -> Vec<(usize, usize)> {
        self.buffers.iter().map(|&(o, b)| (o, b.len())).collect()
    }
}

/// The file's start: magic and the schema message.
fn file_head(schema: &SchemaRef) -> std::io::Result<Vec<u8>> {
    let opts = IpcWriteOptions::default();
    let mut head: Vec<u8> = b"ARROW1\0\0".to_vec();
    let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        schema,
        &mut DictionaryTracker::new(true),
        &opts,
    );
    write_message(&mut head, encoded, &opts).map_err(to_io)?;
    Ok(head)
}

/// The file's end: end-of-stream marker, footer (schema and record batch blocks), footer
/// length, magic.
fn file_tail(schema: &SchemaRef, blocks: &[Block]) -> Vec<u8> {
    let mut tail: Vec<u8> = vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    let mut fbb = FlatBufferBuilder::new();
    let dictionaries = fbb.create_vector::<Block>(&[]);
    let blocks = fbb.create_vector(blocks);
    let fb_schema = arrow_ipc::convert::IpcSchemaEncoder::new()
        .with_dictionary_tracker(&mut DictionaryTracker::new(true))
        .schema_to_fb_offset(&mut fbb, schema);
    let mut f = FooterBuilder::new(&mut fbb);
    f.add_version(MetadataVersion::V5);
    f.add_schema(fb_schema);
    f.add_dictionaries(dictionaries);
    f.add_recordBatches(blocks);
    let f = f.finish();
    fbb.finish(f, None);
    let footer = fbb.finished_data();
    tail.extend_from_slice(footer);
    tail.extend_from_slice(&(footer.len() as i32).to_le_bytes());
    tail.extend_from_slice(b"ARROW1");
    tail
}

fn write_direct(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    layouts: &[Layout],
    tmp: &Path,
) -> std::io::Result<u64> {
    let opts = IpcWriteOptions::default();
    // magic and the schema message, then per batch its metadata and its body (written below)
    let head = file_head(schema)?;
    let file = create_output(tmp, layouts.iter().map(|l| l.body_len).sum())?;
    let mut at = head.len();
    file.write_all_at(&head, 0)?;
    let mut blocks = Vec::with_capacity(batches.len());
    let mut pieces: Vec<(usize, &[u8])> = Vec::new();
    for (batch, l) in batches.iter().zip(layouts) {
        let mut meta = Vec::new();
        let message = batch_message(batch.num_rows(), &l.nodes, &l.extents(), l.body_len);
        let (meta_len, _) = write_message(&mut meta, message, &opts).map_err(to_io)?;
        file.write_all_at(&meta, at as u64)?;
        blocks.push(Block::new(at as i64, meta_len as i32, l.body_len as i64));
        let body_at = at + meta.len();
        pieces.extend(l.buffers.iter().flat_map(|&(off, b)| {
            b.chunks(PIECE)
                .enumerate()
                .map(move |(i, c)| (body_at + off + i * PIECE, c))
        }));
        at = body_at + l.body_len;
    }
    let tail = file_tail(schema, &blocks);
    let total = at + tail.len();
    // the padding between buffers reads as zeros
    file.set_len(total as u64)?;
    file.write_all_at(&tail, at as u64)?;
    pieces
        .into_par_iter()
        .try_for_each(|(at, bytes)| file.write_all_at(bytes, at as u64))?;
    Ok(total as u64)
}

/// An IPC file of one record batch whose columns are written as soon as each is computed, in
/// any order, while the others are still being computed (read_parquet: the store write of a
/// decoded column overlaps the decoding of the next; 72 MB to tmpfs cost ~30 ms after a ~25 ms
/// decode). Each column's buffers go to the next free place in the body; the batch's metadata
/// (the buffers' offsets, which IPC readers follow, in column order) is written last, into
/// room reserved before the body: its size depends only on the schema and the row count.
pub struct BatchSink {
    schema: SchemaRef,
    rows: usize,
    file: File,
    tmp: std::path::PathBuf,
    out: std::path::PathBuf,
    meta_at: usize,
    meta_room: usize,
    body_at: usize,
    /// the next free place in the body (after the grouped values), and per column its field
    /// nodes and its buffers as (offset in the body, bytes)
    placed: std::sync::Mutex<(usize, Vec<Option<ColumnPlace>>)>,
    /// where each int64 / float64 column's values go (`grouped_values`)
    values_at: Vec<Option<usize>>,
    /// renamed into place; until then dropping the sink removes the file
    done: bool,
}

type ColumnPlace = (Vec<FieldNode>, Vec<(usize, usize)>);

impl BatchSink {
    /// Starts `<out>.tmp` for a body of about `expected` bytes; None when a column type needs
    /// arrow-ipc's writer (`write_ipc_batches`).
    pub fn create(
        schema: &SchemaRef,
        rows: usize,
        expected: usize,
        out: &Path,
    ) -> Result<Option<BatchSink>> {
        let empty: Vec<ArrayData> = schema
            .fields()
            .iter()
            .map(|f| arrow_array::new_empty_array(f.data_type()).to_data())
            .collect();
        let Some(shape) = Layout::of(&empty) else {
            return Ok(None);
        };
        let mut tmp = out.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let io = |e| Error::io("write Arrow IPC file", &tmp)(e);
        let head = file_head(schema).map_err(io)?;
        // the metadata's size with any non-zero body length (zero would leave the field out)
        let probe = batch_message(rows, &shape.nodes, &shape.extents(), 1 << 40);
        let meta_at = head.len();
        let room = (8 + probe.ipc_message.len()).div_ceil(8) * 8 + 64;
        let body_at = (meta_at + room).div_ceil(ALIGN) * ALIGN;
        let file = create_output(&tmp, expected).map_err(io)?;
        file.write_all_at(&head, 0).map_err(io)?;
        let (values_at, start) =
            grouped_values(schema.fields().iter().map(|f| (f.data_type(), rows)), rows);
        Ok(Some(BatchSink {
            schema: schema.clone(),
            rows,
            file,
            tmp,
            out: out.to_path_buf(),
            meta_at,
            meta_room: body_at - meta_at,
            body_at,
            placed: std::sync::Mutex::new((start, vec![None; schema.fields().len()])),
            values_at,
            done: false,
        }))
    }

    /// Writes column `index`; Ok(false) when its layout is not one this writer handles (then
    /// drop the sink, which removes its file, and write the batch with `write_ipc_batches`).
    pub fn put(&self, index: usize, column: &ArrayData) -> Result<bool> {
        let one = std::slice::from_ref(column);
        let at = [self.values_at[index]];
        // the size of its other buffers, then their place
        let Some(size) = Layout::placed(one, &at, 0).map(|l| l.body_len) else {
            return Ok(false);
        };
        if column.len() != self.rows {
            return Ok(false);
        }
        let start = {
            let mut placed = self.placed.lock().expect("sink lock");
            let start = placed.0;
            placed.0 += size;
            start
        };
        let l = Layout::placed(one, &at, start).expect("laid out above");
        for &(off, bytes) in &l.buffers {
            self.file
                .write_all_at(bytes, (self.body_at + off) as u64)
                .map_err(Error::io("write Arrow IPC file", &self.tmp))?;
        }
        let extents = l.extents();
        self.placed.lock().expect("sink lock").1[index] = Some((l.nodes, extents));
        Ok(true)
    }

    /// Writes the metadata and the footer, renames the file into place; returns its size.
    pub fn finish(mut self) -> Result<u64> {
        let io = |e| Error::io("write Arrow IPC file", &self.tmp)(e);
        let (body_len, columns) = std::mem::take(&mut *self.placed.lock().expect("sink lock"));
        let mut nodes = Vec::new();
        let mut buffers = Vec::new();
        for (i, c) in columns.into_iter().enumerate() {
            let (n, b) = c.ok_or_else(|| {
                io(std::io::Error::other(format!(
                    "column {i} was never written"
                )))
            })?;
            nodes.extend(n);
            buffers.extend(b);
        }
        let message = batch_message(self.rows, &nodes, &buffers, body_len).ipc_message;
        if 8 + message.len() > self.meta_room {
            return Err(io(std::io::Error::other(
                "the batch metadata outgrew its reserved room",
            )));
        }
        // continuation marker, the metadata's length (its zero padding included), the metadata
        let mut meta = Vec::with_capacity(self.meta_room);
        meta.extend_from_slice(&[0xff; 4]);
        meta.extend_from_slice(&((self.meta_room - 8) as i32).to_le_bytes());
        meta.extend_from_slice(&message);
        meta.resize(self.meta_room, 0);
        self.file
            .write_all_at(&meta, self.meta_at as u64)
            .map_err(io)?;
        let block = Block::new(self.meta_at as i64, self.meta_room as i32, body_len as i64);
        let tail = file_tail(&self.schema, &[block]);
        let end = self.body_at + body_len;
        self.file.set_len((end + tail.len()) as u64).map_err(io)?;
        self.file.write_all_at(&tail, end as u64).map_err(io)?;
        fs::rename(&self.tmp, &self.out).map_err(Error::io("rename into place", &self.out))?;
        self.done = true;
        Ok((end + tail.len()) as u64)
    }
}

impl Drop for BatchSink {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::builder::{LargeStringBuilder, ListBuilder, UInt32Builder};
    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array};
    use arrow_schema::{Field, Schema};

    #[test]
    fn referenced_columns_are_checked_views() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("stratum-ref-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.bin");
        // int64 [7, -1, 9] at 0; string offsets [0, 2, 2, 5] at 64 (i64); bytes "héllo"[..] at 128
        let mut bytes = vec![0u8; 160];
        for (i, v) in [7i64, -1, 9].iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        for (i, v) in [0i64, 2, 2, 6].iter().enumerate() {
            bytes[64 + i * 8..72 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        bytes[128..134].copy_from_slice("abc\u{e9}d".as_bytes());
        fs::write(&path, &bytes).unwrap();
        let ino = fs::metadata(&path).unwrap().ino();
        let r = |type_name: &str, len, buffers: Vec<Option<(usize, usize)>>| ColumnRef {
            path: path.to_string_lossy().into(),
            ino,
            type_name: type_name.into(),
            len,
            offset: 0,
            null_count: 0,
            buffers,
        };
        let ints = referenced_column(&r("int64", 3, vec![None, Some((0, 24))])).unwrap();
        assert_eq!(
            ints.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec(),
            [7, -1, 9]
        );
        let mut sliced = r("int64", 2, vec![None, Some((0, 24))]);
        sliced.offset = 1;
        let tail = referenced_column(&sliced).unwrap();
        assert_eq!(
            tail.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec(),
            [-1, 9]
        );
        let strs = referenced_column(&r(
            "large_string",
            3,
            vec![None, Some((64, 32)), Some((128, 6))],
        ))
        .unwrap();
        let strs = strs
            .as_any()
            .downcast_ref::<arrow_array::LargeStringArray>()
            .unwrap();
        assert_eq!(
            strs.iter().collect::<Vec<_>>(),
            [Some("ab"), Some(""), Some("c\u{e9}d")]
        );
        // beyond the file, misaligned, too short for its length, another inode, a bad type
        assert!(referenced_column(&r("int64", 3, vec![None, Some((150, 24))])).is_err());
        assert!(referenced_column(&r("int64", 2, vec![None, Some((4, 16))])).is_err());
        assert!(referenced_column(&r("int64", 4, vec![None, Some((0, 24))])).is_err());
        let mut other = r("int64", 3, vec![None, Some((0, 24))]);
        other.ino += 1;
        assert!(referenced_column(&other).is_err());
        assert!(referenced_column(&r("bool", 3, vec![None, Some((0, 1))])).is_err());
        // offsets that run past the values, and bytes that are not UTF-8
        bytes[64 + 24..64 + 32].copy_from_slice(&9i64.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(referenced_column(&r(
            "large_string",
            3,
            vec![None, Some((64, 32)), Some((128, 6))]
        ))
        .is_err());
        bytes[64 + 24..64 + 32].copy_from_slice(&6i64.to_le_bytes());
        bytes[129] = 0xff;
        fs::write(&path, &bytes).unwrap();
        assert!(referenced_column(&r(
            "large_string",
            3,
            vec![None, Some((64, 32)), Some((128, 6))]
        ))
        .is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn data(b: &RecordBatch) -> Vec<ArrayData> {
        b.columns().iter().map(|c| c.to_data()).collect()
    }

    fn round_trip(batch: &RecordBatch) -> RecordBatch {
        let dir = std::env::temp_dir().join(format!("stratum-ipc-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("{}.arrow", batch.num_rows()));
        let bytes = write_ipc_file(batch, &out).unwrap();
        assert_eq!(bytes, fs::metadata(&out).unwrap().len());
        // arrow-ipc's reader and the zero-copy one read the same batch
        let mut r =
            arrow_ipc::reader::FileReader::try_new(File::open(&out).unwrap(), None).unwrap();
        let back = r.next().unwrap().unwrap();
        assert!(r.next().is_none());
        assert_eq!(read_ipc_file(&out).unwrap(), vec![back.clone()]);
        fs::remove_file(&out).unwrap();
        back
    }

    /// int64, float64 with nulls, boolean, large strings with nulls, lists: n rows
    fn sample_batch(n: usize) -> RecordBatch {
        let mut s = LargeStringBuilder::new();
        let mut l = ListBuilder::new(UInt32Builder::new());
        for i in 0..n {
            if i % 3 == 0 {
                s.append_null();
            } else {
                s.append_value("é".repeat(i % 5));
            }
            for k in 0..(i % 4) as u32 {
                l.values().append_value(k * i as u32);
            }
            l.append(true);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                (0..n as i64).map(|i| i * 7 - 3),
            )),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 5 != 0).then_some(i as f64 / 3.0)),
            )),
            Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
            Arc::new(s.finish()),
            Arc::new(l.finish()),
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| -i))),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 3 != 1).then_some(i as f64 * 0.25)),
            )),
        ];
        let schema = Schema::new(
            cols.iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), cols).unwrap()
    }

    /// The sample batch's int64 columns (0 and 5) have their values one right after the other,
    /// and so do its float64 columns (1 and 6): `grouped_values`.
    fn assert_grouped(b: &RecordBatch) {
        let n = b.num_rows();
        let at = |i: usize| b.column(i).to_data().buffers()[0].as_ptr() as usize;
        assert_eq!(at(5), at(0) + n * 8, "int64 values not grouped ({n} rows)");
        assert_eq!(
            at(6),
            at(1) + n * 8,
            "float64 values not grouped ({n} rows)"
        );
        assert_eq!(at(0) % 8, 0);
        assert_eq!(at(1) % 8, 0);
    }

    #[test]
    fn direct_layout_round_trips() {
        let dir = std::env::temp_dir().join(format!("stratum-grouped-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for n in [0usize, 1, 7, 64, 1000, 3_000_000] {
            let batch = sample_batch(n);
            assert!(Layout::of(&data(&batch)).is_some());
            assert_eq!(round_trip(&batch), batch, "{n} rows");
            let out = dir.join("g.arrow");
            write_ipc_file(&batch, &out).unwrap();
            assert_grouped(&read_ipc_file(&out).unwrap()[0]);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sink_takes_columns_in_any_order() {
        let dir = std::env::temp_dir().join(format!("stratum-sink-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for n in [0usize, 1, 7, 1000, 300_000] {
            let batch = sample_batch(n);
            let out = dir.join(format!("{n}.arrow"));
            let sink = BatchSink::create(batch.schema_ref(), n, n * 8, &out)
                .unwrap()
                .unwrap();
            // last column first, two at a time: the body is in the order they arrived
            let order: Vec<usize> = (0..batch.num_columns()).rev().collect();
            order.par_iter().for_each(|&i| {
                assert!(sink.put(i, &batch.column(i).to_data()).unwrap());
            });
            assert!(!dir.join(format!("{n}.arrow")).exists());
            let bytes = sink.finish().unwrap();
            assert_eq!(bytes, fs::metadata(&out).unwrap().len());
            let mut r =
                arrow_ipc::reader::FileReader::try_new(File::open(&out).unwrap(), None).unwrap();
            assert_eq!(r.next().unwrap().unwrap(), batch, "{n} rows");
            assert!(r.next().is_none());
            let back = read_ipc_file(&out).unwrap();
            assert_eq!(back, vec![batch], "{n} rows");
            assert_grouped(&back[0]);
        }
        // a column it cannot lay out (a boolean array with a bit offset) is refused, not written
        let b: ArrayRef =
            Arc::new(BooleanArray::from_iter((0..100).map(|i| Some(i % 3 == 0))).slice(5, 50));
        let batch = RecordBatch::try_from_iter([("b", b)]).unwrap();
        let out = dir.join("refused.arrow");
        let sink = BatchSink::create(batch.schema_ref(), 50, 0, &out)
            .unwrap()
            .unwrap();
        assert!(!sink.put(0, &batch.column(0).to_data()).unwrap());
        drop(sink);
        assert!(fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .path()
            .to_string_lossy()
            .ends_with(".tmp")));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn large_outputs_take_spares() {
        let dir = std::env::temp_dir().join(format!("stratum-spares-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(fill_spares(&dir, 2, 32 << 20).unwrap(), 2);
        assert_eq!(
            fill_spares(&dir, 2, 32 << 20).unwrap(),
            2,
            "only up to the count"
        );
        // a small output leaves them alone
        let small = sample_batch(1000);
        write_ipc_file(&small, &dir.join("small.arrow")).unwrap();
        assert_eq!(
            read_ipc_file(&dir.join("small.arrow")).unwrap(),
            vec![small]
        );
        assert_eq!(fill_spares(&dir, 0, 0).unwrap(), 2);
        // a large one (24 MB) writes over a spare's pages and truncates it to its own size
        let big = RecordBatch::try_from_iter([(
            "a",
            Arc::new(Int64Array::from_iter_values(0..3_000_000)) as ArrayRef,
        )])
        .unwrap();
        let out = dir.join("big.arrow");
        let bytes = write_ipc_file(&big, &out).unwrap();
        assert_eq!(bytes, fs::metadata(&out).unwrap().len());
        assert!(bytes < 32 << 20);
        assert_eq!(fill_spares(&dir, 0, 0).unwrap(), 1);
        assert_eq!(read_ipc_file(&out).unwrap(), vec![big.clone()]);
        // so does a sink's output
        let out = dir.join("sink.arrow");
        let sink = BatchSink::create(big.schema_ref(), 3_000_000, 24 << 20, &out)
            .unwrap()
            .unwrap();
        assert!(sink.put(0, &big.column(0).to_data()).unwrap());
        assert_eq!(sink.finish().unwrap(), fs::metadata(&out).unwrap().len());
        assert_eq!(read_ipc_file(&out).unwrap(), vec![big]);
        assert_eq!(fill_spares(&dir, 0, 0).unwrap(), 0);
        // spares of a folder that is gone are forgotten
        fill_spares(&dir, 1, 1 << 20).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(fill_spares(&dir, 0, 0).unwrap(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sliced_arrays() {
        // a sliced primitive array slices its buffer: written directly
        let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100).slice(10, 20));
        let batch = RecordBatch::try_from_iter([("a", a)]).unwrap();
        assert!(Layout::of(&data(&batch)).is_some());
        assert_eq!(round_trip(&batch), batch);
        // a sliced boolean array keeps a bit offset: arrow-ipc's writer shifts the bits
        let b: ArrayRef =
            Arc::new(BooleanArray::from_iter((0..100).map(|i| Some(i % 3 == 0))).slice(5, 50));
        let batch = RecordBatch::try_from_iter([("b", b)]).unwrap();
        assert!(Layout::of(&data(&batch)).is_none());
        assert_eq!(round_trip(&batch), batch);
    }
}
