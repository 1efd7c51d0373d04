//! Checks for command-line programs as a user meets them.

use std::process::Output;

/// Assert a failed run printed exactly one line on stderr, starting `prefix` (the
/// program's name and a colon, or "" for any) and containing `want`.
pub fn one_error_line(out: &Output, prefix: &str, want: &str) {
    assert!(!out.status.success(), "should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got {err:?}");
    assert!(lines[0].starts_with(prefix), "{:?}", lines[0]);
    assert!(
        lines[0].contains(want),
        "{:?} should contain {want:?}",
        lines[0]
    );
}
