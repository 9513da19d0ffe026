//! Fault points for the crash tests: in test builds (debug assertions), a
//! process whose `BURROW_FAULT_POINT` names a point dies there at once
//! (abort: no destructor, no journal write, like `kill -9`). Release builds
//! have none.

/// Dies here when `BURROW_FAULT_POINT` is `name` (test builds only).
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("BURROW_FAULT_POINT").is_ok_and(|p| p == name) {
        eprintln!("fault point {name}: the process dies here");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
