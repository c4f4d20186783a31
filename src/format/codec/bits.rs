//! The bit stream of a version-5 payload: [`BitWriter`] and
//! [`BitReader`], Rice codes and long numbers.

use super::*;

/// A Rice code's quotient at which it escapes to a [`BitWriter::long`] value.
pub(super) const RICE_ESCAPE: u32 = 12;
/// The largest Rice parameter a payload may name.
pub(super) const RICE_MAX_K: u32 = 40;

#[inline(always)]
pub(super) fn bit_len(v: u64) -> usize {
    64 - v.leading_zeros() as usize
}

/// Writes bits least significant first into a byte vector, through a
/// 64-bit accumulator that goes out eight bytes at a time.
pub(super) struct BitWriter<'a> {
    pub(super) out: &'a mut Vec<u8>,
    /// Bits not yet in `out`, the first in bit 0; those above `n` are zero.
    pub(super) acc: u64,
    /// How many bits `acc` holds (below 64).
    pub(super) n: u32,
}

impl BitWriter<'_> {
    /// Bits written so far, counted from the vector's start.
    #[inline(always)]
    pub(super) fn pos(&self) -> u64 {
        self.out.len() as u64 * 8 + u64::from(self.n)
    }

    /// [`Self::pos`] when `T` counts bits, else 0.
    #[inline(always)]
    pub(super) fn pos_if<T: Tally>(&self) -> u64 {
        if T::COUNTS {
            self.pos()
        } else {
            0
        }
    }

    /// Appends the low `bits` bits of `v` (`bits` ≤ 64, `v` < 2^bits).
    #[inline(always)]
    pub(super) fn put(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 64 && (bits == 64 || v >> bits == 0));
        debug_assert!(self.n < 64);
        let n = self.n + bits;
        if n < 64 {
            self.acc |= v << self.n;
            self.n = n;
        } else {
            self.out.extend_from_slice(&(self.acc | v << self.n).to_le_bytes());
            // The bits of `v` that did not fit (none when `n` was 0: a
            // shift by 64 is not a shift in Rust, hence two).
            self.acc = (v >> 1) >> (63 - self.n);
            self.n = n - 64;
        }
    }

    /// A number of any size: its bit length n in 7 bits, then its low n − 1
    /// bits (the top one is implied).
    #[inline(always)]
    pub(super) fn long(&mut self, v: u64) {
        let n = bit_len(v) as u32;
        if n <= 57 {
            // One write: the length, then the bits below the top one.
            let low = v & !(1u64 << n >> 1);
            self.put(low << 7 | u64::from(n), 7 + n.saturating_sub(1));
        } else {
            self.put(u64::from(n), 7);
            self.put(v & !(1u64 << (n - 1)), n - 1);
        }
    }

    /// A Rice code with parameter `k`: the quotient `v >> k` in unary (ones
    /// ended by a zero), then the low `k` bits; a quotient of
    /// [`RICE_ESCAPE`] or more is that many ones and then `v` as [`Self::long`].
    #[inline(always)]
    pub(super) fn rice(&mut self, v: u64, k: u32) {
        debug_assert!(k <= RICE_MAX_K);
        let q = v >> k;
        if q < u64::from(RICE_ESCAPE) {
            // One write of at most 12 + 40 bits: the ones, the zero, the low bits.
            let q = q as u32;
            let low = v & ((1u64 << k) - 1);
            self.put(low << (q + 1) | ((1u64 << q) - 1), q + 1 + k);
        } else {
            self.put((1 << RICE_ESCAPE) - 1, RICE_ESCAPE);
            self.long(v);
        }
    }

    /// Pads the last byte with zero bits.
    pub(super) fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// Reads what [`BitWriter`] wrote; every read past the end is an error.
pub(super) struct BitReader<'a> {
    pub(super) buf: &'a [u8],
    /// Bytes before `buf` in the payload (for error offsets).
    pub(super) base: usize,
    pub(super) pos: u64,
    pub(super) end: u64,
}

impl BitReader<'_> {
    pub(super) fn err(&self, what: &'static str) -> PayloadError {
        PayloadError { offset: self.base + (self.pos.min(self.end) / 8) as usize, what }
    }

    /// The next 57 bits or more (zeros past the end).
    #[inline(always)]
    pub(super) fn peek(&self) -> u64 {
        let at = (self.pos / 8) as usize;
        let mut word = [0u8; 8];
        match self.buf.get(at..at + 8) {
            Some(s) => word.copy_from_slice(s),
            None => {
                let rest = self.buf.get(at..).unwrap_or_default();
                word[..rest.len()].copy_from_slice(rest);
            }
        }
        u64::from_le_bytes(word) >> (self.pos % 8)
    }

    #[inline(always)]
    pub(super) fn skip(&mut self, bits: u32) -> Result<(), PayloadError> {
        self.pos += u64::from(bits);
        if self.pos > self.end {
            return Err(self.err("payload ends inside an event"));
        }
        Ok(())
    }

    /// The next `bits` bits (≤ 56).
    #[inline(always)]
    pub(super) fn take(&mut self, bits: u32) -> Result<u64, PayloadError> {
        let v = self.peek() & ((1u64 << bits) - 1);
        self.skip(bits)?;
        Ok(v)
    }

    /// The next `bits` bits (≤ 64).
    #[inline(always)]
    pub(super) fn take_wide(&mut self, bits: u32) -> Result<u64, PayloadError> {
        if bits > 32 {
            let lo = self.take(32)?;
            Ok(lo | self.take(bits - 32)? << 32)
        } else {
            self.take(bits)
        }
    }

    #[inline]
    pub(super) fn long(&mut self) -> Result<u64, PayloadError> {
        let n = self.take(7)? as u32;
        match n {
            0 | 1 => Ok(u64::from(n)),
            2..=64 => Ok(1 << (n - 1) | self.take_wide(n - 1)?),
            _ => Err(self.err("number longer than 64 bits")),
        }
    }

    #[inline(always)]
    pub(super) fn rice(&mut self, k: u32) -> Result<u64, PayloadError> {
        let q = (!self.peek()).trailing_zeros();
        if q >= RICE_ESCAPE {
            self.skip(RICE_ESCAPE)?;
            return self.long();
        }
        self.skip(q + 1)?;
        Ok(u64::from(q) << k | self.take_wide(k)?)
    }
}
