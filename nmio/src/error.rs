//! Configuration and start-up errors.
//!
//! Per-frame problems are never errors: they are counted in [`crate::PortStats`]. An
//! [`Error`] is something a user has to fix (a bad interface name, a missing privilege, a
//! missing device) and its `Display` is one line that names the input that was wrong.

use std::fmt;
use std::io;

/// A configuration, start-up or system-call failure of a port.
#[derive(Debug)]
pub enum Error {
    /// An interface name that Linux would refuse (empty, too long, `/`, whitespace, ...).
    InvalidInterfaceName { name: String, reason: &'static str },
    /// No network device of that name exists (in the caller's network namespace).
    NoSuchDevice { name: String },
    /// The operation needs a privilege the process does not have.
    PermissionDenied { what: String, need: &'static str },
    /// A setting that cannot work (ring sizes, frame sizes, pool capacity, ...).
    InvalidConfig { what: String },
    /// A frame or image larger than a slot of this port.
    FrameTooLarge { len: usize, max: usize },
    /// The prepared-packet pool is full.
    PoolFull { capacity: usize },
    /// Any other failed system call, with what was being done and to which object.
    Io { what: String, source: io::Error },
}

impl Error {
    /// Classify an `io::Error` from a system call made for `what` on device `dev`.
    ///
    /// `ENODEV`/`ENXIO` become [`Error::NoSuchDevice`], `EPERM`/`EACCES` become
    /// [`Error::PermissionDenied`] naming `need`, anything else is [`Error::Io`].
    pub fn from_io(what: impl Into<String>, dev: &str, need: &'static str, e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) => Error::NoSuchDevice { name: dev.into() },
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
                what: what.into(),
                need,
            },
            _ => Error::Io {
                what: what.into(),
                source: e,
            },
        }
    }

    /// The last OS error as an [`Error`] for `what` on `dev`.
    pub fn last_os(what: impl Into<String>, dev: &str, need: &'static str) -> Self {
        Self::from_io(what, dev, need, io::Error::last_os_error())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInterfaceName { name, reason } => {
                write!(f, "invalid interface name {name:?}: {reason}")
            }
            Error::NoSuchDevice { name } => write!(f, "no such network device {name:?}"),
            Error::PermissionDenied { what, need } => {
                write!(f, "{what}: permission denied ({need})")
            }
            Error::InvalidConfig { what } => write!(f, "invalid configuration: {what}"),
            Error::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes does not fit a {max}-byte slot")
            }
            Error::PoolFull { capacity } => {
                write!(f, "prepared-packet pool is full ({capacity} packets)")
            }
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Check an interface name the way the kernel's `dev_valid_name` does, so a bad name is
/// reported as such instead of as a confusing `ENODEV` or `EINVAL` later.
pub fn check_ifname(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidInterfaceName {
            name: name.into(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() >= libc::IFNAMSIZ {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("reserved name");
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return bad("contains '/', ':', whitespace or NUL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_like_the_kernel() {
        assert!(check_ifname("veth0").is_ok());
        assert!(check_ifname("a-b_c.1").is_ok());
        for bad in [
            "",
            "0123456789abcdef",
            "a/b",
            "a b",
            "a:1",
            ".",
            "..",
            "a\0",
        ] {
            let e = check_ifname(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInterfaceName { .. }), "{bad:?}");
            assert!(e.to_string().starts_with("invalid interface name"));
        }
    }

    #[test]
    fn io_errors_are_classified() {
        let e = Error::from_io(
            "open",
            "x0",
            "needs root",
            io::Error::from_raw_os_error(libc::ENODEV),
        );
        assert_eq!(e.to_string(), "no such network device \"x0\"");
        let e = Error::from_io(
            "AF_PACKET socket",
            "x0",
            "needs CAP_NET_RAW",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert_eq!(
            e.to_string(),
            "AF_PACKET socket: permission denied (needs CAP_NET_RAW)"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
