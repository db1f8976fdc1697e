//! The `wafer` binary: everything lives in the library's `cli` module;
//! here only the allocator is chosen (`wafer::alloc` says why).

#[global_allocator]
static ALLOCATOR: wafer::alloc::Allocator = wafer::alloc::Allocator;

fn main() -> std::process::ExitCode {
    wafer::alloc::tune();
    wafer::cli::main()
}
