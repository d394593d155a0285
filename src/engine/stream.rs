//! Turning a stream of token pieces (raw bytes) into text that is safe to emit: one stateful
//! UTF-8 decoder per generation, so a character split across tokens is never replaced with
//! U+FFFD, and stop strings held back until they can no longer match.
//!
//! The stream also says how many continuation bytes the character in progress still needs, so
//! the worker can keep a small model from breaking a character in half; bytes that are malformed
//! all the same are dropped, never shown as U+FFFD.

use encoding_rs::{Decoder, DecoderResult, UTF_8};

use crate::sanitize::EscapeFilter;

pub struct TextStream {
    decoder: Decoder,
    stop: Vec<String>,
    /// Decoded text not yet emitted because it may be the start of a stop string.
    pending: String,
    stopped: bool,
    /// The bytes of a character whose remaining bytes have not arrived yet.
    partial: Vec<u8>,
    /// Some text other than whitespace has come: stop strings count only from then on, so a
    /// model that opens with a blank line is not stopped by a "\n" stop before it begins.
    has_text: bool,
    /// Where in `pending` stop strings are looked for: past the whitespace that came before
    /// the text, while that is still held back (it may be the start of a stop string).
    search_from: usize,
    /// Removes terminal escape sequences, even ones split across tokens.
    escapes: EscapeFilter,
}

/// What one piece of token bytes produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Text ready to show.
    pub text: String,
    /// A stop string was reached; `text` ends just before it.
    pub stopped: bool,
}

impl TextStream {
    pub fn new(stop: &[String]) -> Self {
        TextStream {
            decoder: UTF_8.new_decoder_without_bom_handling(),
            stop: stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
            stopped: false,
            partial: Vec::new(),
            has_text: false,
            search_from: 0,
            escapes: EscapeFilter::default(),
        }
    }

    /// How many continuation bytes (10xxxxxx) the next piece must start with to complete the
    /// character in progress; 0 when none is in progress.
    /// Whether some text other than whitespace has come.
    pub fn has_text(&self) -> bool {
        self.has_text
    }

    pub fn continuation_needed(&self) -> usize {
        match self.partial.first() {
            Some(&lead) => sequence_len(lead).saturating_sub(self.partial.len()),
            None => 0,
        }
    }

    fn track_partial(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let n = self.partial.len();
        // The last lead byte within the final four bytes starts the character in progress.
        let start = (n.saturating_sub(4)..n)
            .rev()
            .find(|&i| !is_continuation(self.partial[i]));
        match start {
            Some(i) if sequence_len(self.partial[i]) > n - i => {
                self.partial.drain(..i);
            }
            _ => self.partial.clear(),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) -> Step {
        self.decode(bytes, false)
    }

    /// Flushes what is held back at the end of a generation.
    pub fn finish(&mut self) -> Step {
        self.decode(&[], true)
    }

    fn decode(&mut self, bytes: &[u8], last: bool) -> Step {
        if self.stopped {
            return Step {
                text: String::new(),
                stopped: true,
            };
        }
        self.track_partial(bytes);
        let mut decoded = String::with_capacity(bytes.len() + 4);
        let mut input = bytes;
        loop {
            decoded.reserve(
                self.decoder
                    .max_utf8_buffer_length_without_replacement(input.len())
                    .unwrap_or(input.len() * 3 + 16),
            );
            let (result, read) =
                self.decoder
                    .decode_to_string_without_replacement(input, &mut decoded, last);
            input = &input[read..];
            match result {
                DecoderResult::InputEmpty => break,
                // Malformed bytes are skipped: the decoder has already consumed them.
                DecoderResult::Malformed(_, _) | DecoderResult::OutputFull => {}
            }
        }
        // A model's escape sequences go here, whole, before anything can show them.
        self.escapes.push(&decoded, &mut self.pending);
        // The whitespace before the text never counts towards a stop string, in whichever
        // pieces it came: the same tokens must stop at the same place however they are split.
        if !self.has_text {
            match self.pending.find(|c: char| !c.is_whitespace()) {
                Some(i) => {
                    self.has_text = true;
                    self.search_from = i;
                }
                None => self.search_from = self.pending.len(),
            }
        }

        if let Some(at) = self.earliest_stop(self.search_from) {
            self.pending.truncate(at);
            self.stopped = true;
            return Step {
                text: std::mem::take(&mut self.pending),
                stopped: true,
            };
        }
        let hold = if last { 0 } else { self.partial_stop_len() };
        let emit_to = self.pending.len() - hold;
        let rest = self.pending.split_off(emit_to);
        self.search_from = self.search_from.saturating_sub(emit_to);
        Step {
            text: std::mem::replace(&mut self.pending, rest),
            stopped: false,
        }
    }

    /// Where the text ends for the stop string that is complete first, reading on from
    /// `from` (of two ending at once, the longer). The first to complete, not the first to
    /// start: a stream stops the moment one completes, so the same tokens stop at the same
    /// place whether they come one by one or all at once.
    fn earliest_stop(&self, from: usize) -> Option<usize> {
        let haystack = &self.pending[from..];
        self.stop
            .iter()
            .filter_map(|s| haystack.find(s.as_str()).map(|at| (at + s.len(), at)))
            .min()
            .map(|(_, at)| at + from)
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of some stop string.
    fn partial_stop_len(&self) -> usize {
        let mut longest = 0;
        for stop in &self.stop {
            for (i, _) in stop.char_indices().skip(1) {
                let prefix = &stop[..i];
                if i > longest && self.pending.ends_with(prefix) {
                    longest = i;
                }
            }
        }
        longest
    }
}

pub fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

/// The length of the sequence a lead byte starts (1 for ASCII and for invalid lead bytes).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Whether a token whose piece starts with `leading_continuations` continuation bytes (of
/// `len` bytes in all) can follow text that owes `needed` continuation bytes.
pub fn piece_fits(needed: usize, leading_continuations: usize, len: usize) -> bool {
    len == 0 || leading_continuations == needed.min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(stream: &mut TextStream, pieces: &[&[u8]]) -> (String, bool) {
        let mut out = String::new();
        for piece in pieces {
            let step = stream.push(piece);
            out.push_str(&step.text);
            if step.stopped {
                return (out, true);
            }
        }
        let step = stream.finish();
        out.push_str(&step.text);
        (out, step.stopped)
    }

    #[test]
    fn chinese_and_emoji_split_across_pieces_decode_whole() {
        let text = "中文输出😀好";
        let bytes = text.as_bytes();
        // Split every character in the middle of its bytes.
        let pieces: Vec<&[u8]> = bytes.chunks(2).collect();
        let mut stream = TextStream::new(&[]);
        let (out, stopped) = collect(&mut stream, &pieces);
        assert_eq!(out, text);
        assert!(!out.contains('\u{FFFD}'));
        assert!(!stopped);
    }

    #[test]
    fn a_split_character_is_held_until_complete() {
        let mut stream = TextStream::new(&[]);
        let bytes = "好".as_bytes();
        assert_eq!(stream.push(&bytes[..1]).text, "");
        assert_eq!(stream.push(&bytes[1..]).text, "好");
    }

    #[test]
    fn stop_string_split_over_pieces_ends_the_text_before_it() {
        let mut stream = TextStream::new(&["\n\n".to_string()]);
        let (out, stopped) = collect(&mut stream, &[b"Hello", b" world.\n", b"\nMore"]);
        assert_eq!(out, "Hello world.");
        assert!(stopped);
    }

    #[test]
    fn stop_strings_count_only_once_the_text_has_begun() {
        let mut stream = TextStream::new(&["\n".to_string()]);
        let (out, stopped) = collect(&mut stream, &[b"\n", b"\n  Hello", b" there\nmore"]);
        assert_eq!(out, "\n\n  Hello there");
        assert!(stopped);
    }

    /// The text and whether it stopped, from `pieces` one by one and from them all at once,
    /// which must agree.
    fn whole_and_split(stops: &[&str], pieces: &[&[u8]]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let split = collect(&mut TextStream::new(&stops), pieces);
        let whole = collect(&mut TextStream::new(&stops), &[&pieces.concat()]);
        assert_eq!(split, whole, "{pieces:?}");
        split
    }

    /// Found by the stream fuzz target: the leading tabs were held back as a possible start of
    /// "\t\tF\t", and the next piece searched them for "\t" as if the text had begun there.
    #[test]
    fn whitespace_before_the_text_never_stops_it_however_the_pieces_fall() {
        let out = whole_and_split(&["\t", "\t\tF\t"], &[b"\t\tF", b";"]);
        assert_eq!(out, ("\t\tF;".to_string(), false));
    }

    /// Found by the stream fuzz target: "*\t" completes the stop "\t" before "*\t\t" could
    /// complete, whether the tokens come one by one or together.
    #[test]
    fn the_stop_string_complete_first_ends_the_text() {
        let out = whole_and_split(&["*\t\t", "\t"], &[b"*\t", b"\t"]);
        assert_eq!(out, ("*".to_string(), true));
    }

    #[test]
    fn a_false_start_of_a_stop_string_is_released() {
        let mut stream = TextStream::new(&["END".to_string()]);
        assert_eq!(stream.push(b"the EN").text, "the ");
        assert_eq!(stream.push(b"TER").text, "ENTER");
    }

    #[test]
    fn held_text_is_flushed_at_the_end() {
        let mut stream = TextStream::new(&["END".to_string()]);
        assert_eq!(stream.push(b"the EN").text, "the ");
        let last = stream.finish();
        assert_eq!(last.text, "EN");
        assert!(!last.stopped);
    }

    #[test]
    fn malformed_bytes_are_dropped_not_shown_as_replacement_characters() {
        let mut stream = TextStream::new(&[]);
        let (out, _) = collect(&mut stream, &[b"a\xff", b"b"]);
        assert_eq!(out, "ab");
        // A character cut short by the next token, and one left unfinished at the end.
        let mut stream = TextStream::new(&[]);
        let (out, _) = collect(&mut stream, &[b"\xe7\xbc", b"oblast ", b"\xe5"]);
        assert_eq!(out, "oblast ");
    }

    #[test]
    fn pieces_fit_only_where_they_keep_utf8_whole() {
        assert!(piece_fits(0, 0, 5)); // plain text after plain text
        assert!(!piece_fits(0, 1, 2)); // a stray continuation byte
        assert!(piece_fits(2, 2, 4)); // completes the character, then more
        assert!(!piece_fits(2, 1, 4)); // completes only half of it
        assert!(!piece_fits(2, 0, 3)); // starts something new instead
        assert!(piece_fits(2, 1, 1)); // one of the two owed bytes
        assert!(piece_fits(2, 0, 0)); // a control token renders as nothing
    }

    #[test]
    fn the_stream_knows_how_many_continuation_bytes_are_owed() {
        let mut stream = TextStream::new(&[]);
        let bytes = "好😀".as_bytes(); // 3 bytes, then 4 bytes
        stream.push(&bytes[..1]);
        assert_eq!(stream.continuation_needed(), 2);
        stream.push(&bytes[1..2]);
        assert_eq!(stream.continuation_needed(), 1);
        stream.push(&bytes[2..4]);
        assert_eq!(stream.continuation_needed(), 3);
        stream.push(&bytes[4..]);
        assert_eq!(stream.continuation_needed(), 0);
        stream.push(b"plain");
        assert_eq!(stream.continuation_needed(), 0);
    }
}
