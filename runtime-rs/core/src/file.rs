//! Read-only file access shared by the kernels.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

/// Maps the file read-only and pre-faulted; an empty file (which cannot be mapped) reads as
/// empty bytes.
pub fn map_file(path: &Path) -> std::io::Result<Box<dyn Deref<Target = [u8]> + Send + Sync>> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(Box::new(Vec::new()));
    }
    // SAFETY: the map is read-only and private to the caller; a concurrent truncation of the
    // file by another process is the only hazard, as with any mmap-based reader.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file)? };
    Ok(Box::new(map))
}
