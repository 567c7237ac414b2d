//! Arrow IPC *file* output, published atomically (write to `<out>.tmp`, then rename).

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_ipc::writer::FileWriter;

use crate::error::{Error, Result};

/// Writes `batch` to `out` and returns the size of the file in bytes.
pub fn write_ipc_file(batch: &RecordBatch, out: &Path) -> Result<u64> {
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let to_io = |e: arrow_schema::ArrowError| std::io::Error::other(e.to_string());
    let write = || -> std::io::Result<u64> {
        let file = File::create(tmp)?;
        let mut w = FileWriter::try_new(BufWriter::with_capacity(1 << 20, file), &batch.schema())
            .map_err(to_io)?;
        w.write(batch).map_err(to_io)?;
        w.finish().map_err(to_io)?;
        let file = w
            .into_inner()
            .map_err(to_io)?
            .into_inner()
            .map_err(|e| e.into_error())?;
        Ok(file.metadata()?.len())
    };
    let bytes = write().map_err(|e| {
        let _ = fs::remove_file(tmp);
        Error::io("write Arrow IPC file", tmp)(e)
    })?;
    fs::rename(tmp, out).map_err(Error::io("rename into place", out))?;
    Ok(bytes)
}
