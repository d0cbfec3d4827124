//! How an id's bytes are kept: inline when short, else in a [`Buffer`] shared by the
//! ids of one shard (or of one room's fan-out table), compacted once half of it is dead.

/// Ids of up to this many bytes are kept inline.
pub(crate) const INLINE: usize = 12;
// A long id's offset in its buffer takes the first four inline bytes.
const _: () = assert!(INLINE >= 4);

/// The `len` of a spelling that spells nothing (a free place).
const FREE: u32 = u32::MAX;
/// Dead bytes a buffer tolerates before it compacts (and then only when they are half).
const COMPACT_AFTER: usize = 1 << 12;

/// Where an id's bytes are: inline if it is short (finding it costs no second memory
/// access), else in a buffer, whose offset then fills the first four inline bytes.
/// 16 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spelling {
    inline: [u8; INLINE],
    len: u32,
}

impl Spelling {
    /// Spells `id`, copying it into `buffer` if it is long.
    ///
    /// # Panics
    ///
    /// If `buffer` would pass 4 GiB (ids are at most `Limits::max_id_len` bytes each).
    pub fn new(id: &str, buffer: &mut Buffer) -> Spelling {
        let mut inline = [0; INLINE];
        if id.len() <= INLINE {
            inline[..id.len()].copy_from_slice(id.as_bytes());
        } else {
            let start = u32::try_from(buffer.bytes.len())
                .ok()
                .filter(|s| s.checked_add(id.len() as u32).is_some_and(|e| e < FREE))
                .expect("an id buffer holds under 4 GiB");
            inline[..4].copy_from_slice(&start.to_le_bytes());
            buffer.bytes.extend_from_slice(id.as_bytes());
        }
        Spelling {
            inline,
            len: id.len() as u32,
        }
    }

    /// Whether this spelling was given back.
    #[inline]
    pub fn is_free(&self) -> bool {
        self.len == FREE
    }

    /// The offset of a long id in its buffer.
    #[inline]
    fn buffered(&self) -> Option<usize> {
        (!self.is_free() && self.len as usize > INLINE).then(|| {
            let start: [u8; 4] = self.inline[..4].try_into().expect("four bytes");
            u32::from_le_bytes(start) as usize
        })
    }

    /// The id's bytes (`buffer`: the one it was spelled into).
    #[inline]
    pub fn bytes<'a>(&'a self, buffer: &'a Buffer) -> &'a [u8] {
        match self.buffered() {
            Some(start) => &buffer.bytes[start..start + self.len as usize],
            None if self.is_free() => &[],
            None => &self.inline[..self.len as usize],
        }
    }

    /// The id as a `&str`.
    pub fn id<'a>(&'a self, buffer: &'a Buffer) -> &'a str {
        // Only whole `&str`s are spelled, and compaction moves whole ids.
        std::str::from_utf8(self.bytes(buffer)).expect("spellings hold whole ids")
    }

    /// Gives the spelling back: its bytes in `buffer` count as dead.
    pub fn free(&mut self, buffer: &mut Buffer) {
        if self.buffered().is_some() {
            buffer.dead += self.len as usize;
        }
        self.len = FREE;
    }
}

/// The bytes of long ids, some of them dead.
#[derive(Clone, Debug, Default)]
pub(crate) struct Buffer {
    bytes: Vec<u8>,
    /// Bytes no spelling uses any more.
    dead: usize,
}

impl Buffer {
    /// Bytes held, dead ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether enough of the buffer is dead to compact it.
    pub fn wants_compaction(&self) -> bool {
        self.dead > COMPACT_AFTER && self.dead * 2 > self.bytes.len()
    }

    /// Copies the ids still spelled into a fresh buffer; `spellings` must be every
    /// spelling (free ones included) that was spelled into this buffer.
    pub fn compact<'a>(&mut self, spellings: impl Iterator<Item = &'a mut Spelling>) {
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.dead);
        for s in spellings {
            if let Some(start) = s.buffered() {
                let moved = bytes.len() as u32;
                bytes.extend_from_slice(&self.bytes[start..start + s.len as usize]);
                s.inline[..4].copy_from_slice(&moved.to_le_bytes());
            }
        }
        self.bytes = bytes;
        self.dead = 0;
    }
}
