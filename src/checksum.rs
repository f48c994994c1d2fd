//! The checksum meltr stores in the files it writes (checkpoints, backbone
//! and head files): a CRC-32 of the tensors' bytes and the metadata that
//! matters, in a fixed order, so that a flipped bit is refused on reading
//! rather than trained on. Files without one (older ones, or heads saved by
//! the reference PyTorch code) are read without the check.

/// The metadata key the checksum is stored under.
pub(crate) const KEY: &str = "checksum";

/// CRC-32 of `parts`, in order.
pub(crate) fn crc32<B: AsRef<[u8]>>(parts: &[B]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p.as_ref());
    }
    h.finalize()
}

/// [`crc32`] as 8 hex digits, as stored in a file's metadata.
pub(crate) fn crc32_hex<B: AsRef<[u8]>>(parts: &[B]) -> String {
    format!("{:08x}", crc32(parts))
}

/// `Err(reason)` when `stored` (if any) is not the checksum of `parts`.
pub(crate) fn verify<B: AsRef<[u8]>>(
    stored: Option<&String>,
    parts: &[B],
) -> std::result::Result<(), String> {
    match stored {
        None => Ok(()),
        Some(stored) => {
            let found = crc32_hex(parts);
            if *stored == found {
                Ok(())
            } else {
                Err(format!(
                    "checksum mismatch (stored {stored}, contents {found}): the file is corrupted"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_crc32_and_catches_any_single_bit_flip() {
        // The check value of CRC-32/ISO-HDLC (zlib's crc32).
        assert_eq!(crc32_hex(&[&b"1234"[..], b"56789"]), "cbf43926");
        let data = b"meltr checkpoint".to_vec();
        let stored = crc32_hex(&[&data]);
        for bit in 0..data.len() * 8 {
            let mut flipped = data.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(verify(Some(&stored), &[&flipped]).is_err(), "bit {bit}");
        }
        assert!(verify(Some(&stored), &[&data]).is_ok());
        assert!(verify(None, &[&data]).is_ok());
    }
}
