//! Helpers shared by the property checks: an input reader, a deterministic split generator and
//! reference implementations written independently of the crate under test.
//!
//! This file (like every `src/*.rs` of the fuzz crate except `lib.rs`) uses only `std` and
//! `smtp_proto`, so `smtp-proto/tests/fuzz_regressions.rs` can compile it with `#[path]` and replay
//! crashing inputs through the very same checks on stable Rust.

use smtp_proto::ReplyLimits;

/// Reads a fuzz input front to back. Reads past the end give zeros / empty slices, so every
/// input decodes to something.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte, or 0 at the end.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// xorshift64*: split points derived from the input, so a crash replays exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded by `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..=max`.
    pub fn up_to(&mut self, max: usize) -> usize {
        let m = u64::try_from(max).unwrap_or(u64::MAX);
        let v = if m == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (m + 1)
        };
        usize::try_from(v).unwrap_or(max)
    }
}

/// Chunk lengths adding up to `len`, shaped by `style`: whole, byte by byte, or random sizes
/// (empty chunks included) from small to large.
pub fn chunk_lengths(len: usize, style: u8, rng: &mut Rng) -> Vec<usize> {
    let max_chunk = match style % 6 {
        0 => return vec![len],
        1 => 1,
        2 => 3,
        3 => 17,
        4 => 300,
        _ => 5000,
    };
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        // Chunk sizes may be zero (a read that returned nothing new).
        let n = rng.up_to(max_chunk).min(left);
        out.push(n);
        left -= n;
    }
    out
}

/// Splits `data` into consecutive slices of the given lengths.
pub fn split<'a>(data: &'a [u8], lengths: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut rest = data;
    for &n in lengths {
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Reply limits from two input bytes: small enough that fuzz inputs reach every bound.
pub fn limits_from(a: u8, b: u8) -> ReplyLimits {
    ReplyLimits {
        max_line: usize::from(a) % 130,
        max_lines: usize::from(b & 0x3f) % 20,
        bare_lf: b & 0x80 == 0,
    }
}

/// Reference line-end normalisation: every bare CR, bare LF and CRLF becomes CRLF.
pub fn ref_normalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                i += if input.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Offset of the first CR not followed by LF, or LF not preceded by CR.
pub fn first_bare_line_end(input: &[u8]) -> Option<usize> {
    input.iter().enumerate().position(|(i, &b)| match b {
        b'\r' => input.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || input.get(i - 1) != Some(&b'\r'),
        _ => false,
    })
}

/// What a server's DATA decoder must hand on for `input`: the normalised body, plus a CRLF when
/// it is non-empty and does not end with a line end.
pub fn ref_data_content(input: &[u8]) -> Vec<u8> {
    let mut out = ref_normalize(input);
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The exact DATA encoding of `input`: content (as [`ref_data_content`]) with a `.` added in front
/// of every line that starts with one, then `.` CRLF.
pub fn ref_data_wire(input: &[u8]) -> Vec<u8> {
    let content = ref_data_content(input);
    let mut out = Vec::with_capacity(content.len() + 8);
    let mut line_start = true;
    for (i, &b) in content.iter().enumerate() {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n' && i > 0 && content.get(i - 1) == Some(&b'\r');
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Number of (possibly overlapping) occurrences of `needle` in `hay`.
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Short printable form of bytes for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 200;
    let s: String = bytes
        .iter()
        .take(MAX)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > MAX {
        format!("{s}... ({} bytes)", bytes.len())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(ref_normalize(b"a\rb\nc\r\nd\r"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(ref_data_wire(b""), b".\r\n");
        assert_eq!(ref_data_wire(b".a\n..b"), b"..a\r\n...b\r\n.\r\n");
        assert_eq!(first_bare_line_end(b"a\r\nb\n"), Some(4));
        assert_eq!(first_bare_line_end(b"\r\n\r"), Some(2));
    }
}
