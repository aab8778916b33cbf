//! `deadbolt-bench-measure CMD [ARG...]`: run one command, print its wall time and peak RSS as
//! JSON: `{"ms": ..., "rss_kib": ..., "rc": ...}` (stdout discarded; stderr's tail shown when
//! it fails).
//!
//! Why a program of its own, and not Python's `resource.getrusage(RUSAGE_CHILDREN)`: Linux
//! carries a process's peak RSS across `exec` from the memory it had before, and a child
//! spawned with `vfork` (Python's `subprocess` and Rust's `Command` both do) had its parent's
//! memory until then. Measured from Python every command peaked at least at the
//! interpreter's size: `/bin/true` "used" 14.1 MiB, and so, until session 13, did every
//! `deadbolt replay` figure in the README. This program is a small Rust binary, so the floor
//! under what it reports is its own resident size (`/bin/true` through it: ~1.5 MiB), and the
//! child's own peak above it is the child's.
//!
//! The time runs from just before the spawn to the child's exit.

use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: deadbolt-bench-measure CMD [ARG...]");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let mut child = match Command::new(program)
        .args(rest)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("deadbolt-bench-measure: cannot run {program:?}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_end(&mut stderr);
    }
    // wait4, not Child::wait: only wait4 returns the child's own resource usage.
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data (all-zero is a valid value), and both pointers are to
    // locals that outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is this process's own unreaped child; status and usage are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if waited != pid {
        eprintln!(
            "deadbolt-bench-measure: wait4: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(2);
    }
    let rc = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    if rc != 0 {
        let tail = stderr.len().saturating_sub(2000);
        eprint!("{}", String::from_utf8_lossy(&stderr[tail..]));
    }
    println!(
        "{{\"ms\": {ms}, \"rss_kib\": {}, \"rc\": {rc}}}",
        usage.ru_maxrss
    );
    ExitCode::SUCCESS
}
