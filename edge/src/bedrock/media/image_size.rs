//! An image's size in pixels, as its header says (PNG, JPEG, GIF, WebP), without decoding it:
//! Bedrock refuses an image over 8000 px a side, and the edge says so before the call.

/// Width and height, when the header is one of the four formats and says them.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    png(bytes)
        .or_else(|| gif(bytes))
        .or_else(|| webp(bytes))
        .or_else(|| jpeg(bytes))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le16(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

/// The signature, then the IHDR chunk: width and height, big-endian.
fn png(bytes: &[u8]) -> Option<(u32, u32)> {
    (bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16)? == b"IHDR")
        .then(|| Some((be32(bytes, 16)?, be32(bytes, 20)?)))?
}

/// `GIF87a` / `GIF89a`, then the logical screen's width and height, little-endian.
fn gif(bytes: &[u8]) -> Option<(u32, u32)> {
    (bytes.starts_with(b"GIF8")).then(|| Some((le16(bytes, 6)?, le16(bytes, 8)?)))?
}

/// RIFF/WEBP with a lossy (`VP8 `), lossless (`VP8L`) or extended (`VP8X`) first chunk.
fn webp(bytes: &[u8]) -> Option<(u32, u32)> {
    if !(bytes.starts_with(b"RIFF") && bytes.get(8..12)? == b"WEBP") {
        return None;
    }
    match bytes.get(12..16)? {
        b"VP8 " => Some((le16(bytes, 26)? & 0x3fff, le16(bytes, 28)? & 0x3fff)),
        b"VP8L" => {
            let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Some((le24(bytes, 24)? + 1, le24(bytes, 27)? + 1)),
        _ => None,
    }
}

/// The first start-of-frame marker's height and width, big-endian.
fn jpeg(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut at = 2;
    loop {
        if *bytes.get(at)? != 0xff {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        let length = usize::try_from(be16(bytes, at + 2)?).ok()?;
        let start_of_frame = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if start_of_frame {
            return Some((be16(bytes, at + 7)?, be16(bytes, at + 5)?));
        }
        at += 2 + length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes
    }

    #[test]
    fn each_format_s_header_gives_its_size() {
        assert_eq!(dimensions(&png_of(8001, 20)), Some((8001, 20)));
        let gif = [b"GIF89a".as_slice(), &[0x40, 0x1f, 0x0a, 0x00]].concat();
        assert_eq!(dimensions(&gif), Some((8000, 10)));
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend([0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x0f, 0x1f, 0x41]);
        assert_eq!(dimensions(&jpeg), Some((8001, 15)));
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend([0x40, 0x1f, 0x00, 0x09, 0x00, 0x00]);
        assert_eq!(dimensions(&vp8x), Some((8001, 10)));
        assert_eq!(dimensions(b"not an image"), None);
        assert_eq!(dimensions(&png_of(1, 1)[..18]), None, "cut short");
    }
}
