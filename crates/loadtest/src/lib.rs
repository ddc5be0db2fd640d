//! Load against real nodes: the 8:00 flash crowd (issue 7; the `flash-crowd` binary and
//! the CI correctness test share it) and the ten-minute soak (issue 20, `soak`), on
//! deployments `deploy` starts.
pub mod crowd;
pub mod deploy;
pub mod report;
pub mod soak;

/// Ends a benchmark's `main`: exit 0 when its checks passed, 1 when one failed, 2 (with
/// the reason) when it could not run.
pub fn exit_with(name: &str, outcome: anyhow::Result<bool>) -> ! {
    match outcome {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("{name}: {e:#}");
            std::process::exit(2);
        }
    }
}
