//! [`TcpOptions`]: parsing and emitting the options this stack understands
//! (RFC 9293 section 3.2, RFC 7323, RFC 2018).

use super::{MAX_OPTIONS_LEN, MAX_SACK_BLOCKS, MAX_WINDOW_SCALE, kind};
use crate::wire::{SeqNum, WireError, be16, be32};

/// The options this stack understands, parsed from or to be emitted into a
/// header.
///
/// Equality compares the meaningful SACK blocks only (`sack()`), not the
/// unused slots of `sack_blocks`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 section 3.7.1), SYN only.
    pub mss: Option<u16>,
    /// Window scale shift count (RFC 7323 section 2), SYN only. Parsing
    /// clamps values above 14 to 14, as RFC 7323 section 2.3 requires.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 section 2), SYN only.
    pub sack_permitted: bool,
    /// Timestamps `(TSval, TSecr)` (RFC 7323 section 3).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks `(left edge, right edge)` (RFC 2018 section 3); only the
    /// first `sack_count` are meaningful. The first block should be the most
    /// recently received one.
    pub sack_blocks: [(SeqNum, SeqNum); MAX_SACK_BLOCKS],
    /// How many of `sack_blocks` are in use, 0 to [`MAX_SACK_BLOCKS`].
    pub sack_count: u8,
}

impl PartialEq for TcpOptions {
    fn eq(&self, other: &TcpOptions) -> bool {
        self.mss == other.mss
            && self.window_scale == other.window_scale
            && self.sack_permitted == other.sack_permitted
            && self.timestamps == other.timestamps
            && self.sack() == other.sack()
    }
}

impl Eq for TcpOptions {}

impl TcpOptions {
    /// Parses option bytes (RFC 9293 section 3.2):
    ///
    /// - End of Option List (kind 0) ends parsing; No-Operation (kind 1) is
    ///   skipped;
    /// - every other option has a length byte; a length below 2 or running
    ///   past the end of `bytes` is [`WireError::BadOptionLength`];
    /// - a known option with a length wrong for its kind (MSS 4, window
    ///   scale 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n with n >= 1)
    ///   is [`WireError::BadOptionLength`];
    /// - unknown kinds are skipped by their length;
    /// - a SACK option with more than 4 blocks keeps the first 4; a window
    ///   scale above 14 is read as 14; when an option repeats, the last one
    ///   wins.
    pub fn parse(bytes: &[u8]) -> Result<TcpOptions, WireError> {
        let mut opts = TcpOptions::default();
        let mut i = 0;
        while let Some(&k) = bytes.get(i) {
            match k {
                kind::EOL => break,
                kind::NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let len = match bytes.get(i + 1) {
                Some(&l) => usize::from(l),
                None => return Err(WireError::BadOptionLength),
            };
            if len < 2 {
                return Err(WireError::BadOptionLength);
            }
            let Some(opt) = bytes.get(i..i + len) else {
                return Err(WireError::BadOptionLength);
            };
            let data = &opt[2..];
            match (k, len) {
                (kind::MSS, 4) => opts.mss = Some(be16(data, 0)),
                (kind::WINDOW_SCALE, 3) => {
                    opts.window_scale = Some(data[0].min(MAX_WINDOW_SCALE));
                }
                (kind::SACK_PERMITTED, 2) => opts.sack_permitted = true,
                (kind::TIMESTAMPS, 10) => opts.timestamps = Some((be32(data, 0), be32(data, 4))),
                (kind::SACK, _) if len >= 10 && (len - 2) % 8 == 0 => {
                    let mut n = 0;
                    for block in data.chunks_exact(8).take(MAX_SACK_BLOCKS) {
                        opts.sack_blocks[n] = (SeqNum(be32(block, 0)), SeqNum(be32(block, 4)));
                        n += 1;
                    }
                    for slot in &mut opts.sack_blocks[n..] {
                        *slot = Default::default();
                    }
                    opts.sack_count = n as u8;
                }
                (
                    kind::MSS
                    | kind::WINDOW_SCALE
                    | kind::SACK_PERMITTED
                    | kind::TIMESTAMPS
                    | kind::SACK,
                    _,
                ) => return Err(WireError::BadOptionLength),
                _ => {} // unknown kind: skipped by length
            }
            i += len;
        }
        Ok(opts)
    }

    /// The meaningful SACK blocks.
    #[inline]
    pub fn sack(&self) -> &[(SeqNum, SeqNum)] {
        &self.sack_blocks[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// Replaces the SACK blocks with the first (at most 4) of `blocks`,
    /// clearing the unused slots.
    pub fn set_sack(&mut self, blocks: &[(SeqNum, SeqNum)]) {
        let n = blocks.len().min(MAX_SACK_BLOCKS);
        self.sack_blocks = Default::default();
        self.sack_blocks[..n].copy_from_slice(&blocks[..n]);
        self.sack_count = n as u8;
    }

    /// Bytes of every option but SACK, as [`emit`](Self::emit) lays them
    /// out.
    fn base_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        len += match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// How many SACK blocks [`emit`](Self::emit) writes: the first
    /// `sack().len()` blocks, fewer if they would not fit in the 40 bytes of
    /// option space next to the other options (with timestamps, at most 3).
    pub fn sack_blocks_emitted(&self) -> usize {
        let base = self.base_len();
        let mut n = self.sack().len();
        while n > 0 && base + 4 + 8 * n > MAX_OPTIONS_LEN {
            n -= 1;
        }
        n
    }

    /// Length of the encoded options: always a multiple of 4 and at most
    /// 40.
    pub fn encoded_len(&self) -> usize {
        let n = self.sack_blocks_emitted();
        self.base_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Writes the options into `buf`, in the layout Linux uses, each group
    /// padded with NOPs to a 4-byte boundary:
    ///
    /// ```text
    /// MSS            02 04 mm mm
    /// SACKOK + TS    04 02 08 0a <TSval> <TSecr>   (or 01 01 08 0a ... without SACKOK)
    /// SACKOK alone   01 01 04 02
    /// WS             01 03 03 ss
    /// SACK           01 01 05 len <blocks>
    /// ```
    ///
    /// Returns the number of bytes written, [`encoded_len`](Self::encoded_len).
    /// The total never exceeds 40 bytes: SACK blocks that do not fit are
    /// dropped from the end (see [`sack_blocks_emitted`](Self::sack_blocks_emitted)),
    /// so timestamps with 4 blocks emit only 3. If `buf` is shorter than
    /// `encoded_len()`, nothing is written and 0 is returned.
    #[must_use]
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let total = self.encoded_len();
        let Some(out) = buf.get_mut(..total) else {
            return 0;
        };
        let mut i = 0;
        let mut put = |bytes: &[u8]| {
            out[i..i + bytes.len()].copy_from_slice(bytes);
            i += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[kind::MSS, 4, m[0], m[1]]);
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_ok, Some((tsval, tsecr))) => {
                if sack_ok {
                    put(&[kind::SACK_PERMITTED, 2]);
                } else {
                    put(&[kind::NOP, kind::NOP]);
                }
                put(&[kind::TIMESTAMPS, 10]);
                put(&tsval.to_be_bytes());
                put(&tsecr.to_be_bytes());
            }
            (true, None) => put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws]);
        }
        let n = self.sack_blocks_emitted();
        if n > 0 {
            put(&[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * n) as u8]);
            for &(left, right) in &self.sack()[..n] {
                put(&left.0.to_be_bytes());
                put(&right.0.to_be_bytes());
            }
        }
        i
    }
}
