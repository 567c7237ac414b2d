//! Memory between kernel calls: the coordinator's heap (`trimMemory(): boolean`) and spare
//! store files (`fillSpares(dir, count, megabytes): Promise<number>`).
//!
//! glibc serves allocations of 128 KB and more (its threshold grows with use, at most 32 MB)
//! with fresh mappings and returns them to the system when freed, so every kernel call faulted
//! in all of its buffers again: ~20k page faults for read_parquet's 1M x 6 table, ~2 us each on
//! this machine (a fresh 72 MB costs ~40 ms to touch, more than decoding it). From the first
//! kernel call on, allocations up to 32 MB come from the heap and freed memory stays there for
//! the next call (read_parquet's decode 37-47 -> 23-25 ms, faults ~20k -> ~10). Bounded: a
//! thread other than the main one allocates from its own arena, whose heaps are at most 64 MB and
//! go back to the system whole once empty, so each such thread keeps at most one heap's free top;
//! `trimMemory`, which the coordinator calls once no kernel has run for a while (runtime.ts),
//! returns the main arena's free top and every arena's free chunks.

use std::path::PathBuf;
use std::sync::Once;

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::to_napi;

static RETAIN: Once = Once::new();

/// Keeps freed kernel buffers in the heap (once per process; glibc only).
pub fn retain() {
    RETAIN.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only sets allocator parameters; called before any kernel allocates.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    });
}

/// Returns the heap's free memory to the system; true when some was released.
#[napi(js_name = "trimMemory")]
pub fn trim_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0) != 0
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

pub struct FillSpares {
    dir: PathBuf,
    count: u32,
    megabytes: u32,
}

impl Task for FillSpares {
    type Output = u32;
    type JsValue = u32;

    fn compute(&mut self) -> napi::Result<u32> {
        let bytes = u64::from(self.megabytes) << 20;
        stratum_core::fill_spares(&self.dir, self.count as usize, bytes)
            .map(|n| n as u32)
            .map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, output: u32) -> napi::Result<u32> {
        Ok(output)
    }
}

/// Keeps `count` spare store files of `megabytes` each, their pages allocated, in `dir`, for
/// large kernel outputs (ipc.rs); resolves with how many the folder holds.
#[napi(js_name = "fillSpares", ts_return_type = "Promise<number>")]
pub fn fill_spares(dir: String, count: u32, megabytes: u32) -> AsyncTask<FillSpares> {
    AsyncTask::new(FillSpares {
        dir: dir.into(),
        count,
        megabytes,
    })
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// this thread's minor page faults so far
    fn faults() -> i64 {
        // SAFETY: getrusage fills the zeroed struct it is given.
        unsafe {
            let mut u: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut u);
            u.ru_minflt
        }
    }

    /// the page faults of filling a fresh 24 MB buffer (6144 pages) and freeing it
    fn fill() -> i64 {
        let before = faults();
        let v = vec![7u8; 24 << 20];
        std::hint::black_box(&v);
        drop(v);
        faults() - before
    }

    #[test]
    fn freed_buffers_are_reused() {
        let fresh = fill();
        super::retain();
        fill();
        let reused = fill();
        assert!(
            fresh > 5000,
            "a fresh 24 MB buffer faulted only {fresh} pages in"
        );
        assert!(
            reused < 600,
            "a buffer freed in the heap faulted {reused} pages in again"
        );
    }
}
