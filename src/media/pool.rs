//! The RTP/RTCP port pool: even/odd pairs from a configured range
//! (RFC 3550 §11: RTP on an even port, RTCP on the next one).
//!
//! Freed pairs go to the back of the queue, so a port is reused as late as
//! possible and stray packets of an ended call rarely reach a new one. Running
//! out is an error value; the switch answers the new call 503.

use std::collections::VecDeque;

/// Most port pairs a pool can hold (the whole UDP space, halved).
pub const PORT_PAIRS_MAX: usize = 32_768;

/// What went wrong building the pool or taking a pair from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("RTP port range {min}-{max} holds no even/odd pair")]
    EmptyRange { min: u16, max: u16 },
    #[error("all {capacity} RTP port pairs are in use")]
    Exhausted { capacity: usize },
    #[error("RTP port {0} is not an allocated pair of this pool")]
    NotAllocated(u16),
}

/// The pairs of `min..=max`, each named by its even RTP port.
#[derive(Debug, Clone)]
pub struct PortPool {
    first: u16,
    free: VecDeque<u16>,
    in_use: Vec<bool>,
}

impl PortPool {
    /// Pairs `(p, p+1)` for every even `p` with `min <= p` and `p+1 <= max`.
    pub fn new(min: u16, max: u16) -> Result<Self, PoolError> {
        let first = min.saturating_add(min & 1);
        if first == 0 || u32::from(first) + 1 > u32::from(max) {
            return Err(PoolError::EmptyRange { min, max });
        }
        let pairs = (usize::from(max) - usize::from(first))
            .div_ceil(2)
            .min(PORT_PAIRS_MAX);
        let free = (0..pairs).map(|i| first + 2 * i as u16).collect();
        Ok(Self {
            first,
            free,
            in_use: vec![false; pairs],
        })
    }

    /// Takes the least recently used free pair; returns its RTP port.
    pub fn allocate(&mut self) -> Result<u16, PoolError> {
        let port = self.free.pop_front().ok_or(PoolError::Exhausted {
            capacity: self.capacity(),
        })?;
        let i = self.index(port).expect("free list holds only pool ports");
        self.in_use[i] = true;
        Ok(port)
    }

    /// Returns the pair named by `rtp_port` to the back of the free queue.
    pub fn release(&mut self, rtp_port: u16) -> Result<(), PoolError> {
        match self.index(rtp_port) {
            Some(i) if self.in_use[i] => {
                self.in_use[i] = false;
                self.free.push_back(rtp_port);
                Ok(())
            }
            _ => Err(PoolError::NotAllocated(rtp_port)),
        }
    }

    /// Pairs in the pool.
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }

    /// Pairs allocated now.
    pub fn in_use(&self) -> usize {
        self.capacity() - self.free.len()
    }

    fn index(&self, port: u16) -> Option<usize> {
        let off = port.checked_sub(self.first)?;
        let i = usize::from(off / 2);
        (off % 2 == 0 && i < self.in_use.len()).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_bounds_are_narrowed_to_whole_even_odd_pairs() {
        let mut p = PortPool::new(10_001, 10_006).unwrap();
        assert_eq!(p.capacity(), 2);
        assert_eq!(p.allocate(), Ok(10_002));
        assert_eq!(p.allocate(), Ok(10_004));
    }

    #[test]
    fn running_out_is_an_error_and_release_makes_room() {
        let mut p = PortPool::new(20_000, 20_003).unwrap();
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        assert_eq!(p.allocate(), Err(PoolError::Exhausted { capacity: 2 }));
        assert_eq!(p.in_use(), 2);
        p.release(a).unwrap();
        assert_eq!(p.allocate(), Ok(a));
        assert_ne!(a, b);
    }

    #[test]
    fn freed_pairs_are_reused_last() {
        let mut p = PortPool::new(30_000, 30_005).unwrap();
        let a = p.allocate().unwrap();
        p.release(a).unwrap();
        assert_eq!(p.allocate(), Ok(30_002));
        assert_eq!(p.allocate(), Ok(30_004));
        assert_eq!(p.allocate(), Ok(a));
    }

    #[test]
    fn double_release_and_foreign_ports_are_refused() {
        let mut p = PortPool::new(40_000, 40_009).unwrap();
        let a = p.allocate().unwrap();
        p.release(a).unwrap();
        assert_eq!(p.release(a), Err(PoolError::NotAllocated(a)));
        assert_eq!(p.release(40_001), Err(PoolError::NotAllocated(40_001)));
        assert_eq!(p.release(50_000), Err(PoolError::NotAllocated(50_000)));
    }

    #[test]
    fn a_range_without_a_pair_is_refused() {
        assert!(matches!(
            PortPool::new(5_001, 5_002),
            Err(PoolError::EmptyRange { .. })
        ));
        assert!(matches!(
            PortPool::new(0, 1),
            Err(PoolError::EmptyRange { .. })
        ));
        assert!(PortPool::new(65_534, 65_535).is_ok());
    }
}
