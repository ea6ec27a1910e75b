//! FAISS parallelises searches with OpenMP, whose idle threads spin by default. On a small
//! machine they then fight ONNX Runtime's threads: a text query went from 8 to 20 ms at 10k
//! images. libgomp reads its wait policy once, when the program loads, so a process that has no
//! policy set restarts itself with `OMP_WAIT_POLICY=PASSIVE` (same pid, same arguments).

const VAR: &str = "OMP_WAIT_POLICY";

/// Call first thing in `main`. Returns only if the policy is already set or the restart failed.
pub fn ensure_passive_wait() {
    if std::env::var_os(VAR).is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if let Ok(exe) = std::env::current_exe() {
            let mut args = std::env::args_os();
            let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
            // exec only returns on failure; then carry on with spinning threads.
            let _ = std::process::Command::new(&exe).arg0(argv0).args(args).env(VAR, "PASSIVE").exec();
        }
    }
}
