//! SIGTERM/SIGINT handling. A process that is PID 1 in a container ignores
//! SIGTERM unless it installs a handler; without one `docker stop` waits its
//! full timeout. std-only: libc's `signal`, `write` and `_exit` (all
//! async-signal-safe) are declared here.

use std::os::raw::c_int;

extern "C" {
    fn signal(signum: c_int, handler: usize) -> usize;
    fn write(fd: c_int, buf: *const u8, count: usize) -> isize;
    fn _exit(status: c_int) -> !;
}

const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;

extern "C" fn on_signal(sig: c_int) {
    let msg: &[u8] = if sig == SIGTERM {
        b"standin: received SIGTERM, shutting down\n"
    } else {
        b"standin: received SIGINT, shutting down\n"
    };
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is static.
    unsafe {
        write(2, msg.as_ptr(), msg.len());
        _exit(0);
    }
}

pub fn install() {
    let handler: extern "C" fn(c_int) = on_signal;
    // SAFETY: installs a handler that only calls async-signal-safe functions.
    unsafe {
        signal(SIGTERM, handler as usize);
        signal(SIGINT, handler as usize);
    }
}
