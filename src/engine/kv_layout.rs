//! A sequence's KV cache, as llama.cpp serialises it (`llama_state_seq_get_data`), moved from a
//! context with flash attention to one without.
//!
//! The two settings lay out the cached values differently: with flash attention each cell's
//! values are a row (`v_trans = 0`), without it each value dimension is a row across the cells
//! (`v_trans = 1`), and llama.cpp refuses to load one into the other. Flash attention reads long
//! prompts faster on some CPUs while generating slower from some depth on (see `tune`), so the
//! worker may read a long prompt in a context with it and generate in one without: this turns
//! the first's state into the second's, transposing the values and copying the rest as it is.
//!
//! The format, per llama.cpp's `llama_kv_cache::state_write` (little-endian, as written by
//! the host): magic u32, seq_id i32; n_stream u32; per stream: cell_count u32, then per cell
//! pos i32, n_seq_id u32, seq_id i32 x n_seq_id; then v_trans u32, n_layer u32, n_rot_k u32,
//! n_rot_v u32; per layer: k_type i32, k_row_bytes u64, the rows; then per layer with values,
//! untransposed: v_type i32, v_row_bytes u64, the rows; transposed: v_type i32, element
//! bytes u32, n_embd_v u32, the elements of each dimension across the cells.
//!
//! Anything else (several streams, cells that carry more per-cell data, a quantised value
//! cache, a length that does not add up) is refused: the caller then reads the prompt again
//! where it generates, slower but never wrong.

use anyhow::{Result, bail, ensure};

/// ggml's type ids for the value types a transposed cache can hold, and their element sizes.
const F32: i32 = 0;
const F16: i32 = 1;
const BF16: i32 = 30;

fn element_bytes(ty: i32) -> Option<usize> {
    match ty {
        F32 => Some(4),
        F16 | BF16 => Some(2),
        _ => None,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            bail!(
                "the cache state ends early (at byte {} of {})",
                self.at,
                self.bytes.len()
            );
        };
        let part = &self.bytes[self.at..end];
        self.at = end;
        Ok(part)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// The state of one sequence, serialised by a context with flash attention, as a context
/// without it (and the same model, cache types and a cache at least as large) loads it.
/// `n_layer` is the model's layer count, checked against the state's.
pub fn untransposed_to_transposed(state: &[u8], n_layer: u32) -> Result<Vec<u8>> {
    if cfg!(target_endian = "big") {
        bail!("cache states are only converted on little-endian machines");
    }
    let mut r = Reader {
        bytes: state,
        at: 0,
    };
    let mut out = Vec::with_capacity(state.len());
    let _magic = r.u32()?;
    let seq_id = r.i32()?;
    out.extend_from_slice(&state[..8]);
    let n_stream = r.u32()?;
    ensure!(
        n_stream == 1,
        "a cache of {n_stream} streams is not converted"
    );
    out.extend_from_slice(&n_stream.to_le_bytes());
    let cells = r.u32()? as usize;
    out.extend_from_slice(&(cells as u32).to_le_bytes());
    if cells == 0 {
        ensure!(r.done(), "an empty cache state with more after it");
        return Ok(out);
    }
    let meta_start = r.at;
    let mut positions = Vec::with_capacity(cells);
    for _ in 0..cells {
        let pos = r.i32()?;
        let n_seq = r.u32()?;
        ensure!(
            n_seq == 1,
            "a cell of {n_seq} sequences: not one sequence's state"
        );
        // Each cell names the sequence, and holds one position of it, in whatever order the
        // cells were filled (variants decoded side by side leave the sequence's cells among
        // freed ones). Anything else means cells carry more than this parser knows
        // (llama.cpp's per-cell extensions), so it stops here.
        ensure!(
            r.i32()? == seq_id && pos >= 0,
            "a cell that is not one position of the sequence: not a layout this converter knows"
        );
        positions.push(pos);
    }
    positions.sort_unstable();
    ensure!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "two cells at one position: not a layout this converter knows"
    );
    out.extend_from_slice(&state[meta_start..r.at]);
    let v_trans = r.u32()?;
    ensure!(v_trans == 0, "the cache's values are transposed already");
    let layers = r.u32()?;
    ensure!(
        layers == n_layer,
        "the cache has {layers} layers, the model {n_layer}"
    );
    let (n_rot_k, n_rot_v) = (r.u32()?, r.u32()?);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&layers.to_le_bytes());
    out.extend_from_slice(&n_rot_k.to_le_bytes());
    out.extend_from_slice(&n_rot_v.to_le_bytes());
    for _ in 0..layers {
        let k_type = r.i32()?;
        let row = usize::try_from(r.u64()?)?;
        let rows = r.take(row.saturating_mul(cells))?;
        out.extend_from_slice(&k_type.to_le_bytes());
        out.extend_from_slice(&(row as u64).to_le_bytes());
        out.extend_from_slice(rows);
    }
    // Value sections run to the end: llama.cpp skips layers that hold none.
    let mut value_layers = 0;
    while !r.done() {
        ensure!(
            value_layers < layers,
            "more value sections than layers in the cache state"
        );
        value_layers += 1;
        let v_type = r.i32()?;
        let Some(el) = element_bytes(v_type) else {
            bail!("a value cache of ggml type {v_type} cannot be transposed");
        };
        let row = usize::try_from(r.u64()?)?;
        ensure!(
            row > 0 && row % el == 0,
            "a value row of {row} bytes for {el}-byte elements"
        );
        let n_embd = row / el;
        let rows = r.take(row.saturating_mul(cells))?;
        out.extend_from_slice(&v_type.to_le_bytes());
        out.extend_from_slice(&(el as u32).to_le_bytes());
        out.extend_from_slice(&(n_embd as u32).to_le_bytes());
        let start = out.len();
        out.resize(start + rows.len(), 0);
        transpose(rows, &mut out[start..], cells, n_embd, el);
    }
    Ok(out)
}

/// `src` holds `cells` rows of `n_embd` elements of `el` bytes; `dst` gets `n_embd` rows of
/// `cells` elements.
fn transpose(src: &[u8], dst: &mut [u8], cells: usize, n_embd: usize, el: usize) {
    match el {
        2 => transpose_elements::<2>(src, dst, cells, n_embd),
        4 => transpose_elements::<4>(src, dst, cells, n_embd),
        _ => unreachable!("element_bytes allows 2 and 4"),
    }
}

/// In blocks, so both sides stay in cache; whole elements at a time (a 1,500-token cache holds
/// some 8 million values).
fn transpose_elements<const N: usize>(src: &[u8], dst: &mut [u8], cells: usize, n_embd: usize) {
    const BLOCK: usize = 64;
    let (src, _) = src.as_chunks::<N>();
    let (dst, _) = dst.as_chunks_mut::<N>();
    for c0 in (0..cells).step_by(BLOCK) {
        let c1 = (c0 + BLOCK).min(cells);
        for j0 in (0..n_embd).step_by(BLOCK) {
            let j1 = (j0 + BLOCK).min(n_embd);
            for c in c0..c1 {
                for (k, &value) in src[c * n_embd + j0..c * n_embd + j1].iter().enumerate() {
                    dst[(j0 + k) * cells + c] = value;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state as llama.cpp writes it for `cells` cells at positions 0.., `layers` layers of
    /// f16 keys (`k_embd` wide) and values (`v_embd` wide); each value is its cell, layer and
    /// dimension, so a transposition shows where everything went.
    fn state(cells: u32, layers: u32, k_embd: usize, v_embd: usize, v_trans: bool) -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(&0x6767_7371u32.to_le_bytes());
        s.extend_from_slice(&0i32.to_le_bytes());
        s.extend_from_slice(&1u32.to_le_bytes());
        s.extend_from_slice(&cells.to_le_bytes());
        for pos in 0..cells as i32 {
            s.extend_from_slice(&pos.to_le_bytes());
            s.extend_from_slice(&1u32.to_le_bytes());
            s.extend_from_slice(&0i32.to_le_bytes());
        }
        if cells == 0 {
            return s;
        }
        s.extend_from_slice(&u32::from(v_trans).to_le_bytes());
        s.extend_from_slice(&layers.to_le_bytes());
        s.extend_from_slice(&64u32.to_le_bytes());
        s.extend_from_slice(&64u32.to_le_bytes());
        let value = |c: u32, l: u32, j: usize| (c * 1000 + l * 100 + j as u32) as u16;
        for l in 0..layers {
            s.extend_from_slice(&F16.to_le_bytes());
            s.extend_from_slice(&((k_embd * 2) as u64).to_le_bytes());
            for c in 0..cells {
                for j in 0..k_embd {
                    s.extend_from_slice(&(value(c, l, j) ^ 0x8000).to_le_bytes());
                }
            }
        }
        for l in 0..layers {
            s.extend_from_slice(&F16.to_le_bytes());
            if v_trans {
                s.extend_from_slice(&2u32.to_le_bytes());
                s.extend_from_slice(&(v_embd as u32).to_le_bytes());
                for j in 0..v_embd {
                    for c in 0..cells {
                        s.extend_from_slice(&value(c, l, j).to_le_bytes());
                    }
                }
            } else {
                s.extend_from_slice(&((v_embd * 2) as u64).to_le_bytes());
                for c in 0..cells {
                    for j in 0..v_embd {
                        s.extend_from_slice(&value(c, l, j).to_le_bytes());
                    }
                }
            }
        }
        s
    }

    #[test]
    fn values_are_transposed_and_the_rest_kept_byte_for_byte() {
        for (cells, k, v) in [(1, 8, 8), (37, 24, 40), (70, 192, 192), (5, 3, 1)] {
            let flat = state(cells, 3, k, v, false);
            let want = state(cells, 3, k, v, true);
            assert_eq!(untransposed_to_transposed(&flat, 3).unwrap(), want);
        }
    }

    /// Cell `cell`'s position, in a state from `state`.
    fn set_pos(state: &mut [u8], cell: usize, pos: i32) {
        let at = 16 + 12 * cell;
        state[at..at + 4].copy_from_slice(&pos.to_le_bytes());
    }

    #[test]
    fn cells_in_any_order_keep_their_positions() {
        // A sequence whose cells were filled among freed ones: positions out of cell order.
        let (mut flat, mut want) = (state(5, 2, 8, 8, false), state(5, 2, 8, 8, true));
        for (cell, pos) in [3, 0, 4, 1, 2].into_iter().enumerate() {
            set_pos(&mut flat, cell, pos);
            set_pos(&mut want, cell, pos);
        }
        assert_eq!(untransposed_to_transposed(&flat, 2).unwrap(), want);
    }

    #[test]
    fn an_empty_sequence_converts_to_itself() {
        let empty = state(0, 3, 8, 8, false);
        assert_eq!(untransposed_to_transposed(&empty, 3).unwrap(), empty);
    }

    #[test]
    fn what_it_does_not_know_is_refused() {
        let flat = state(4, 2, 8, 8, false);
        // Another layer count, values transposed already, any cut, one byte more.
        assert!(untransposed_to_transposed(&flat, 3).is_err());
        assert!(untransposed_to_transposed(&state(4, 2, 8, 8, true), 2).is_err());
        for cut in [0, 7, 12, 20, 40, flat.len() - 1] {
            assert!(
                untransposed_to_transposed(&flat[..cut], 2).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = flat.clone();
        longer.push(0);
        assert!(untransposed_to_transposed(&longer, 2).is_err());
        // Two streams; a cell in two sequences; a quantised value cache (q8_0 is type 8).
        let mut streams = flat.clone();
        streams[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(untransposed_to_transposed(&streams, 2).is_err());
        let mut shared = flat.clone();
        shared[20..24].copy_from_slice(&2u32.to_le_bytes());
        assert!(untransposed_to_transposed(&shared, 2).is_err());
        // A cell of another sequence; two cells at one position; a negative position.
        let mut other = flat.clone();
        other[24..28].copy_from_slice(&1i32.to_le_bytes());
        assert!(untransposed_to_transposed(&other, 2).is_err());
        let mut twice = flat.clone();
        set_pos(&mut twice, 2, 1);
        assert!(untransposed_to_transposed(&twice, 2).is_err());
        let mut negative = flat.clone();
        set_pos(&mut negative, 0, -1);
        assert!(untransposed_to_transposed(&negative, 2).is_err());
        let v_start = flat.len() - 2 * (4 + 8 + 4 * 16);
        let mut quantised = flat.clone();
        quantised[v_start..v_start + 4].copy_from_slice(&8i32.to_le_bytes());
        assert!(untransposed_to_transposed(&quantised, 2).is_err());
    }
}
