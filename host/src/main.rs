//! The `wafer` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    wafer::cli::main()
}
