//! Reads the block headers of a RAR archive (versions 1.5–4.x and 5.0) for entry names and the
//! encryption flags, without decompressing anything: the only RAR decoder is under a non-free
//! licence, so R-POL-3 checks names and passwords here and leaves contents to clamd.
//!
//! Facts used (from the published RAR format descriptions):
//! - RAR4: marker `Rar!\x1a\x07\x00`; each block is CRC16, type, flags (u16), size (u16), and a
//!   u32 data size when flag 0x8000 is set (always for files). Main header (0x73) flag 0x0080:
//!   headers are encrypted. File header (0x74) flag 0x0004: the file is encrypted; 0x0100: 64-bit
//!   sizes follow; the name is at offset 32 (40 with 64-bit sizes).
//! - RAR5: marker `Rar!\x1a\x07\x01\x00`; each block is CRC32, header size (vint), type, flags
//!   (vint), extra size if flag 1, data size if flag 2. Type 4 means the headers that follow are
//!   encrypted; a file (2) or service (3) header whose extra area holds a record of type 1 is
//!   encrypted.
//!
//! Invariant: every read is bounds-checked and each step moves forward, so any input ends.

use std::fmt;

/// Headers beyond this are not read: no real archive has more, and the walk stays bounded.
const MAX_BLOCKS: usize = 100_000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RarListing {
    /// The archive's headers are encrypted: nothing, not even names, can be read.
    pub headers_encrypted: bool,
    pub entries: Vec<RarEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RarEntry {
    pub name: String,
    pub encrypted: bool,
    pub is_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RarError(&'static str);

impl fmt::Display for RarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed RAR archive: {}", self.0)
    }
}

const RAR4_MARK: &[u8] = b"Rar!\x1a\x07\x00";
const RAR5_MARK: &[u8] = b"Rar!\x1a\x07\x01\x00";

pub fn scan_headers(data: &[u8]) -> Result<RarListing, RarError> {
    if let Some(rest) = data.strip_prefix(RAR5_MARK) {
        scan_rar5(rest)
    } else if let Some(rest) = data.strip_prefix(RAR4_MARK) {
        scan_rar4(rest)
    } else {
        Err(RarError("no RAR marker"))
    }
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn scan_rar4(d: &[u8]) -> Result<RarListing, RarError> {
    let mut listing = RarListing::default();
    let mut pos = 0usize;
    for _ in 0..MAX_BLOCKS {
        if pos >= d.len() {
            return Ok(listing);
        }
        let block = &d[pos..];
        let kind = *block.get(2).ok_or(RarError("truncated block"))?;
        let flags = u16_at(block, 3).ok_or(RarError("truncated block"))?;
        let size = u16_at(block, 5).ok_or(RarError("truncated block"))? as usize;
        if size < 7 {
            return Err(RarError("block smaller than its header"));
        }
        let mut data_size = if flags & 0x8000 != 0 {
            u64::from(u32_at(block, 7).ok_or(RarError("truncated block"))?)
        } else {
            0
        };
        match kind {
            0x73 if flags & 0x0080 != 0 => {
                listing.headers_encrypted = true;
                return Ok(listing);
            }
            0x74 => {
                let large = flags & 0x0100 != 0;
                let name_len = u16_at(block, 26).ok_or(RarError("truncated file header"))? as usize;
                let name_at = if large { 40 } else { 32 };
                if large {
                    let high = u32_at(block, 32).ok_or(RarError("truncated file header"))?;
                    data_size |= u64::from(high) << 32;
                }
                let raw = block
                    .get(name_at..name_at + name_len)
                    .filter(|_| name_at + name_len <= size)
                    .ok_or(RarError("file name outside its header"))?;
                // With flag 0x0200 the name is "ASCII\0encoded Unicode"; the first form suffices.
                let raw = raw.split(|b| *b == 0).next().unwrap_or(raw);
                listing.entries.push(RarEntry {
                    name: String::from_utf8_lossy(raw).into_owned(),
                    encrypted: flags & 0x0004 != 0,
                    is_dir: flags & 0x00E0 == 0x00E0,
                });
            }
            0x7B => return Ok(listing),
            _ => {}
        }
        let next = (size as u64)
            .checked_add(data_size)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| pos.checked_add(n))
            .ok_or(RarError("block size overflows"))?;
        pos = next;
    }
    Ok(listing)
}

/// RAR5 variable-length integer: 7 bits per byte, low first, high bit = more follow.
fn vint(d: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *d.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7F).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn scan_rar5(d: &[u8]) -> Result<RarListing, RarError> {
    let truncated = RarError("truncated header");
    let mut listing = RarListing::default();
    let mut pos = 0usize;
    for _ in 0..MAX_BLOCKS {
        if pos >= d.len() {
            return Ok(listing);
        }
        let mut p = pos + 4; // CRC32
        let header_size = vint(d, &mut p).ok_or(truncated.clone())?;
        let header_start = p;
        let header_end = usize::try_from(header_size)
            .ok()
            .and_then(|n| header_start.checked_add(n))
            .filter(|end| *end <= d.len() && header_size > 0)
            .ok_or(truncated.clone())?;
        let header = &d[..header_end];
        let kind = vint(header, &mut p).ok_or(truncated.clone())?;
        let flags = vint(header, &mut p).ok_or(truncated.clone())?;
        let extra_size = if flags & 1 != 0 {
            vint(header, &mut p).ok_or(truncated.clone())?
        } else {
            0
        };
        let data_size = if flags & 2 != 0 {
            vint(header, &mut p).ok_or(truncated.clone())?
        } else {
            0
        };
        match kind {
            4 => {
                listing.headers_encrypted = true;
                return Ok(listing);
            }
            2 | 3 => {
                let file_flags = vint(header, &mut p).ok_or(truncated.clone())?;
                vint(header, &mut p).ok_or(truncated.clone())?; // unpacked size
                vint(header, &mut p).ok_or(truncated.clone())?; // attributes
                if file_flags & 2 != 0 {
                    p += 4; // mtime
                }
                if file_flags & 4 != 0 {
                    p += 4; // data CRC32
                }
                vint(header, &mut p).ok_or(truncated.clone())?; // compression info
                vint(header, &mut p).ok_or(truncated.clone())?; // host OS
                let name_len = vint(header, &mut p).ok_or(truncated.clone())? as usize;
                let name = header
                    .get(p..p.saturating_add(name_len))
                    .ok_or(RarError("file name outside its header"))?;
                let extra_start = usize::try_from(extra_size)
                    .ok()
                    .and_then(|n| header_end.checked_sub(n))
                    .filter(|s| *s >= header_start)
                    .ok_or(RarError("extra area outside its header"))?;
                let encrypted = extra_has_encryption(&header[extra_start..header_end]);
                // Service headers (3) carry comments and other metadata, not user files.
                if kind == 2 {
                    listing.entries.push(RarEntry {
                        name: String::from_utf8_lossy(name).into_owned(),
                        encrypted,
                        is_dir: file_flags & 1 != 0,
                    });
                } else if encrypted {
                    listing.entries.push(RarEntry {
                        name: String::from_utf8_lossy(name).into_owned(),
                        encrypted,
                        is_dir: false,
                    });
                }
            }
            5 => return Ok(listing),
            _ => {}
        }
        pos = usize::try_from(data_size)
            .ok()
            .and_then(|n| header_end.checked_add(n))
            .ok_or(RarError("block size overflows"))?;
    }
    Ok(listing)
}

fn extra_has_encryption(mut extra: &[u8]) -> bool {
    while !extra.is_empty() {
        let mut p = 0;
        let Some(size) = vint(extra, &mut p) else {
            return false;
        };
        let record_start = p;
        let Some(kind) = vint(extra, &mut p) else {
            return false;
        };
        if kind == 1 {
            return true;
        }
        let Some(next) = usize::try_from(size)
            .ok()
            .and_then(|s| record_start.checked_add(s))
            .filter(|n| *n <= extra.len())
        else {
            return false;
        };
        extra = &extra[next..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rar4_file(name: &str, flags: u16, packed: u32) -> Vec<u8> {
        let size = (32 + name.len()) as u16;
        let mut b = vec![0, 0, 0x74];
        b.extend((flags | 0x8000).to_le_bytes());
        b.extend(size.to_le_bytes());
        b.extend(packed.to_le_bytes()); // pack size
        b.extend(packed.to_le_bytes()); // unpacked size
        b.push(2); // host OS
        b.extend([0; 4]); // CRC
        b.extend([0; 4]); // time
        b.push(29); // version
        b.push(0x30); // stored
        b.extend((name.len() as u16).to_le_bytes());
        b.extend([0x20, 0, 0, 0]); // attributes
        b.extend(name.as_bytes());
        b.extend(std::iter::repeat_n(b'x', packed as usize));
        b
    }

    fn rar4(main_flags: u16, files: &[Vec<u8>]) -> Vec<u8> {
        let mut d = RAR4_MARK.to_vec();
        d.extend([0, 0, 0x73]);
        d.extend(main_flags.to_le_bytes());
        d.extend(13u16.to_le_bytes());
        d.extend([0; 6]);
        for f in files {
            d.extend(f);
        }
        d.extend([0, 0, 0x7B, 0, 0x40, 7, 0]);
        d
    }

    #[test]
    fn rar4_names_and_flags() {
        let d = rar4(
            0,
            &[
                rar4_file("docs/a.txt", 0, 5),
                rar4_file("setup.exe", 0x0004, 3),
            ],
        );
        let l = scan_headers(&d).unwrap();
        assert!(!l.headers_encrypted);
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[0].name, "docs/a.txt");
        assert!(!l.entries[0].encrypted);
        assert_eq!(l.entries[1].name, "setup.exe");
        assert!(l.entries[1].encrypted);
        let l = scan_headers(&rar4(0x0080, &[])).unwrap();
        assert!(l.headers_encrypted);
    }

    fn v(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = n;
        loop {
            let b = (n & 0x7F) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn rar5_block(kind: u64, body: &[u8], extra: &[u8], data: &[u8]) -> Vec<u8> {
        let mut h = v(kind);
        let flags = (if extra.is_empty() { 0 } else { 1 }) | (if data.is_empty() { 0 } else { 2 });
        h.extend(v(flags));
        if !extra.is_empty() {
            h.extend(v(extra.len() as u64));
        }
        if !data.is_empty() {
            h.extend(v(data.len() as u64));
        }
        h.extend(body);
        h.extend(extra);
        let mut b = vec![0; 4];
        b.extend(v(h.len() as u64));
        b.extend(h);
        b.extend(data);
        b
    }

    fn rar5_file(name: &str, encrypted: bool) -> Vec<u8> {
        let mut body = v(0); // file flags
        body.extend(v(3)); // unpacked size
        body.extend(v(0x20)); // attributes
        body.extend(v(0)); // compression
        body.extend(v(0)); // host OS
        body.extend(v(name.len() as u64));
        body.extend(name.as_bytes());
        let extra = if encrypted {
            let mut rec = v(1); // type: encryption
            rec.extend([0u8; 10]);
            let mut e = v(rec.len() as u64);
            e.extend(rec);
            e
        } else {
            Vec::new()
        };
        rar5_block(2, &body, &extra, b"abc")
    }

    #[test]
    fn rar5_names_and_flags() {
        let mut d = RAR5_MARK.to_vec();
        d.extend(rar5_block(1, &v(0), &[], &[]));
        d.extend(rar5_file("report.pdf", false));
        d.extend(rar5_file("run.bat", true));
        d.extend(rar5_block(5, &v(0), &[], &[]));
        let l = scan_headers(&d).unwrap();
        assert_eq!(l.entries.len(), 2, "{l:?}");
        assert_eq!(l.entries[0].name, "report.pdf");
        assert!(!l.entries[0].encrypted);
        assert_eq!(l.entries[1].name, "run.bat");
        assert!(l.entries[1].encrypted);

        let mut d = RAR5_MARK.to_vec();
        d.extend(rar5_block(4, &[0; 8], &[], &[]));
        assert!(scan_headers(&d).unwrap().headers_encrypted);
    }

    #[test]
    fn garbage_never_panics() {
        let mut d = RAR5_MARK.to_vec();
        for i in 0..2000u32 {
            d.push((i.wrapping_mul(2654435761) >> 13) as u8);
            let _ = scan_headers(&d);
        }
        let mut d = RAR4_MARK.to_vec();
        for i in 0..2000u32 {
            d.push((i.wrapping_mul(40503) >> 5) as u8);
            let _ = scan_headers(&d);
        }
    }
}
