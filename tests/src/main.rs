//! The server binary under test: the same entry point as `hoist`, built inside this crate
//! so the integration tests can spawn it (`CARGO_BIN_EXE_hoist-under-test`).

fn main() {
    if let Err(e) = hoist_server::main_entry() {
        eprintln!("hoist: {e:#}");
        std::process::exit(1);
    }
}
