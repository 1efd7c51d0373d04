//! Which local ports are bound: a bitmap of all 65,536 ports (8 KiB, one bit test per
//! datagram), with ephemeral ports handed out from the IANA dynamic range.

use std::fmt;
use std::ops::RangeInclusive;

/// The ephemeral (dynamic/private) port range, RFC 6335 6.
pub const EPHEMERAL: RangeInclusive<u16> = 49152..=65535;

/// Why a bind failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// Port 0 is reserved; use [`PortSet::bind_ephemeral`] for "any port".
    PortZero,
    /// The port is already bound.
    InUse(u16),
    /// Every ephemeral port is bound.
    Exhausted,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::PortZero => f.write_str("port 0 cannot be bound"),
            BindError::InUse(p) => write!(f, "port {p} is already bound"),
            BindError::Exhausted => f.write_str("no free ephemeral port (49152..=65535)"),
        }
    }
}

impl std::error::Error for BindError {}

/// The set of bound ports.
#[derive(Clone)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
    count: usize,
    /// Where the next ephemeral search starts (round robin, so a port just released is not
    /// handed out again at once).
    cursor: u16,
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet {
            bits: Box::new([0; 1024]),
            count: 0,
            cursor: *EPHEMERAL.start(),
        }
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl PortSet {
    /// No port bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `port` is bound.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// Bind `port`.
    pub fn bind(&mut self, port: u16) -> Result<(), BindError> {
        if port == 0 {
            return Err(BindError::PortZero);
        }
        if self.contains(port) {
            return Err(BindError::InUse(port));
        }
        self.bits[usize::from(port >> 6)] |= 1 << (port & 63);
        self.count += 1;
        Ok(())
    }

    /// Bind a free port of the ephemeral range and return it.
    pub fn bind_ephemeral(&mut self) -> Result<u16, BindError> {
        let (lo, hi) = (*EPHEMERAL.start(), *EPHEMERAL.end());
        let span = u32::from(hi - lo) + 1;
        for i in 0..span {
            let port = lo + ((u32::from(self.cursor - lo) + i) % span) as u16;
            if self.bind(port).is_ok() {
                self.cursor = if port == hi { lo } else { port + 1 };
                return Ok(port);
            }
        }
        Err(BindError::Exhausted)
    }

    /// Release `port`; returns whether it was bound.
    pub fn unbind(&mut self, port: u16) -> bool {
        let was = self.contains(port);
        if was {
            self.bits[usize::from(port >> 6)] &= !(1 << (port & 63));
            self.count -= 1;
        }
        was
    }

    /// Ports bound.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No port bound.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bound ports in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&p| self.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bind_unbind_and_conflicts() {
        let mut s = PortSet::new();
        assert_eq!(s.bind(0), Err(BindError::PortZero));
        s.bind(53).unwrap();
        s.bind(65535).unwrap();
        assert_eq!(s.bind(53), Err(BindError::InUse(53)));
        assert!(s.contains(53) && s.contains(65535) && !s.contains(54));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![53, 65535]);
        assert!(s.unbind(53));
        assert!(!s.unbind(53));
        assert!(!s.contains(53));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn ephemeral_ports_come_round_robin_from_the_dynamic_range() {
        let mut s = PortSet::new();
        let a = s.bind_ephemeral().unwrap();
        let b = s.bind_ephemeral().unwrap();
        assert_eq!((a, b), (49152, 49153));
        s.unbind(a);
        // The port just released is not reused before the range wraps.
        assert_eq!(s.bind_ephemeral(), Ok(49154));
        s.bind(49155).unwrap();
        assert_eq!(s.bind_ephemeral(), Ok(49156), "bound ports are skipped");
    }

    #[test]
    fn ephemeral_range_exhausts_cleanly() {
        let mut s = PortSet::new();
        for _ in EPHEMERAL {
            let p = s.bind_ephemeral().unwrap();
            assert!(EPHEMERAL.contains(&p));
        }
        assert_eq!(s.len(), EPHEMERAL.len());
        assert_eq!(s.bind_ephemeral(), Err(BindError::Exhausted));
        s.unbind(60000);
        assert_eq!(s.bind_ephemeral(), Ok(60000), "wraps round to the free one");
    }

    proptest! {
        #[test]
        fn matches_a_reference_set(ops in proptest::collection::vec((any::<bool>(), any::<u16>()), 0..200)) {
            let mut s = PortSet::new();
            let mut reference = std::collections::BTreeSet::new();
            for (bind, port) in ops {
                if bind {
                    let r = s.bind(port);
                    prop_assert_eq!(r.is_ok(), port != 0 && reference.insert(port));
                } else {
                    prop_assert_eq!(s.unbind(port), reference.remove(&port));
                }
                prop_assert_eq!(s.len(), reference.len());
            }
            prop_assert!(s.iter().eq(reference.iter().copied()));
        }
    }
}
