//! CRC-32 (IEEE 802.3), the checksum of event-stream frames, computed eight bytes at a time.
//! Its lookup tables are built on first use instead of being stored: they would add 8 KiB of
//! incompressible constants to the Worker's wasm.

use std::sync::LazyLock;

/// The reflected IEEE polynomial.
const POLYNOMIAL: u32 = 0xEDB8_8320;

/// `TABLES[0]` is the byte-at-a-time table; `TABLES[k]` advances a byte through `k` more zero
/// bytes, so eight table lookups consume eight bytes ("slicing-by-8").
static TABLES: LazyLock<[[u32; 256]; 8]> = LazyLock::new(|| {
    let mut tables = [[0u32; 256]; 8];
    for (byte, entry) in (0u32..).zip(tables[0].iter_mut()) {
        *entry = (0..8).fold(byte, |crc, _| {
            if crc & 1 == 1 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            }
        });
    }
    for k in 1..8 {
        for byte in 0..256 {
            let previous = tables[k - 1][byte];
            tables[k][byte] = (previous >> 8) ^ tables[0][usize::from(previous as u8)];
        }
    }
    tables
});

/// The CRC-32 of `bytes`.
pub fn hash(bytes: &[u8]) -> u32 {
    let t = &*TABLES;
    let mut crc = !0u32;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let low = crc ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let [b0, b1, b2, b3] = low.to_le_bytes();
        crc = t[7][usize::from(b0)]
            ^ t[6][usize::from(b1)]
            ^ t[5][usize::from(b2)]
            ^ t[4][usize::from(b3)]
            ^ t[3][usize::from(chunk[4])]
            ^ t[2][usize::from(chunk[5])]
            ^ t[1][usize::from(chunk[6])]
            ^ t[0][usize::from(chunk[7])];
    }
    for &byte in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][usize::from(crc as u8 ^ byte)];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::hash;

    #[test]
    fn check_values() {
        assert_eq!(hash(b""), 0);
        assert_eq!(hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            hash(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn every_length_and_alignment_matches_the_bitwise_definition() {
        let bitwise = |bytes: &[u8]| {
            !bytes.iter().fold(!0u32, |crc, &b| {
                (0..8).fold(crc ^ u32::from(b), |c, _| {
                    if c & 1 == 1 {
                        (c >> 1) ^ super::POLYNOMIAL
                    } else {
                        c >> 1
                    }
                })
            })
        };
        let data: Vec<u8> = (0u32..300).map(|i| (i * 151 + 7) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(hash(&data[start..end]), bitwise(&data[start..end]));
            }
        }
    }
}
