//! [`CheckedText`]: a message held in memory, checked once for the bytes that encoding for
//! DATA would change, so that it can be sent any number of times without being checked (or
//! copied) again: what smtp-source and bulk senders do with a message encoded ahead.

use std::sync::Arc;

use super::{flagged, RUN};

/// The fewest text bytes per stop a [`CheckedText`] keeps (see [`stops_of`]).
const BYTES_PER_STOP: usize = 64;

/// A message held in memory, checked once: where DATA's encoding would change it (a bare CR
/// or LF, an LF followed by a dot). Between those places it goes on the wire as it is, lent to
/// the core ([`BodyWriter::lend_checked`](crate::client::BodyWriter::lend_checked)) with no
/// check and no copy; at them, the encoder does its work as for any body. Immutable, and
/// cheap to clone (shared).
///
/// ```
/// use smtp_proto::body::CheckedText;
///
/// let text = CheckedText::new(b"Subject: hi\r\n\r\n.dot\r\nbare\nend\r\n".to_vec());
/// // Clean from the start up to the line end before the dot, which is left to the encoder.
/// assert_eq!(text.clean_from(0), 13);
/// assert_eq!(text.len(), 31);
/// ```
#[derive(Clone, Debug)]
pub struct CheckedText {
    bytes: Arc<Vec<u8>>,
    /// In order: each `i` whose pair `bytes[i], bytes[i + 1]` is flagged for DATA, then the
    /// last index (the last byte is always left to the encoder, which ends the line) — or,
    /// for a text with too many, the stop where [`stops_of`] gave up.
    stops: Arc<[usize]>,
}

impl CheckedText {
    /// Checks `bytes` (one pass, at vector speed), taking them as they are (a `Vec` is not
    /// copied).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        let stops = stops_of(&bytes).into();
        Self {
            bytes: Arc::new(bytes),
            stops,
        }
    }

    /// The whole text.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many bytes from `at` on encode to themselves, as far as the text itself tells:
    /// every CR among them is followed by its LF among them, every LF after the first is
    /// preceded by a CR, and no dot after the first follows an LF. The first byte's own
    /// case (an LF, a dot at the start of a line) depends on what went before, which the
    /// encoder knows.
    pub fn clean_from(&self, at: usize) -> usize {
        // The first stop at or after `at`: bytes before it pair cleanly with their successor.
        let next = self.stops.partition_point(|&stop| stop < at);
        let Some(&stop) = self.stops.get(next) else {
            return 0;
        };
        let mut end = stop;
        // Its pair with the stop byte was clean: a CR there waits for its LF.
        if end > at && self.bytes.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        end - at
    }
}

/// The stops of `bytes` (see the field `CheckedText::stops`). A text with stops more often than one in
/// [`BYTES_PER_STOP`] bytes gives up at the stop that reaches that many: from there on the
/// encoder takes everything, and the list stays within an eighth of the text's size.
fn stops_of(bytes: &[u8]) -> Vec<usize> {
    let Some(last) = bytes.len().checked_sub(1) else {
        return Vec::new();
    };
    let most = bytes.len() / BYTES_PER_STOP + 16;
    let mut stops = Vec::new();
    let mut pos = 0;
    while pos < last {
        // Whole clean runs at vector speed, then pair by pair to the next run.
        let rest = bytes.get(pos..).unwrap_or_default();
        pos += super::clean_prefix(true, true, rest);
        let stop = pos.saturating_add(RUN).min(last);
        while pos < stop {
            let (a, b) = (bytes.get(pos).copied(), bytes.get(pos + 1).copied());
            if flagged::<true>(a.unwrap_or(0), b.unwrap_or(0)) {
                stops.push(pos);
                if stops.len() >= most {
                    // The last stop: nothing from here on is lent.
                    return stops;
                }
            }
            pos += 1;
        }
    }
    stops.push(last);
    stops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_of_stops_gives_up_within_its_bound() {
        let bytes = b"\n.\r".repeat(10_000);
        let text = CheckedText::new(bytes.clone());
        assert_eq!(text.stops.len(), bytes.len() / BYTES_PER_STOP + 16);
        let given_up = text.stops.last().copied().unwrap_or(0);
        assert!(given_up < bytes.len() / 2);
        // Past the give-up point nothing is clean, whatever the bytes.
        for at in [given_up, given_up + 1, bytes.len() - 1, bytes.len()] {
            assert_eq!(text.clean_from(at), 0, "at {at}");
        }
    }

    #[test]
    fn clean_text_has_one_stop() {
        let text = CheckedText::new(b"a line of text\r\n".repeat(1000));
        assert_eq!(text.stops.len(), 1);
        assert_eq!(
            text.clean_from(0),
            text.len() - 2,
            "the last CRLF is the encoder's"
        );
    }
}
