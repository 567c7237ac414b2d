//! Times the phases of read_csv on a file: `cargo run --release --example readcsv -- FILE.csv`.

use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: readcsv FILE.csv");
    let t = Instant::now();
    let data = stratum_core::file::map_file(std::path::Path::new(&path)).expect("read");
    let t_read = t.elapsed();
    let t = Instant::now();
    let toks = stratum_core::tokenize::tokenize(&data, b',').expect("tokenize");
    let t_tok = t.elapsed();
    drop(toks);
    let t = Instant::now();
    let opts = stratum_core::csv::parse_options("").unwrap();
    let batch = stratum_core::csv::read_csv(&data, &opts).expect("read_csv");
    let t_all = t.elapsed();
    let t = Instant::now();
    stratum_core::ipc::write_ipc_file(
        &batch,
        std::path::Path::new("/dev/shm/readcsv-example.arrow"),
    )
    .unwrap();
    let t_ipc = t.elapsed();
    println!(
        "read {t_read:?} tokenize {t_tok:?} read_csv(total) {t_all:?} ipc {t_ipc:?} rows {}",
        batch.num_rows()
    );
}
