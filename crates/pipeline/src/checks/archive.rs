//! Looks inside one attachment for what R-POL-3 forbids: executables by name or content, in the
//! file itself or in any archive layer (zip, 7z, rar, tar, gzip), and password-protected layers.
//!
//! Invariants:
//! - Nothing is unpacked to disk, and an entry is never held in memory whole unless it is itself
//!   a zip or 7z archive (those formats need random access); every other entry streams through
//!   a 512-byte head buffer and is drained.
//! - Every decompressed byte is counted against [`AttachmentPolicy::max_unpacked_bytes`] and the
//!   ratio limit as it is produced, so a bomb trips a limit long before it can fill memory;
//!   entries are counted across all layers; layers deeper than `max_depth` are refused.
//! - Executables and bombs end the inspection at once; an encrypted or unreadable layer is noted
//!   and the rest is still inspected, because a worse finding elsewhere decides the outcome.

use super::rar;
use crate::policy::{AttachmentPolicy, RATIO_FLOOR};
use std::cell::{Cell, RefCell};
use std::io::{self, Cursor, Read};

/// Bytes read from the start of an entry to recognise it; `ustar` sits at offset 257.
const HEAD_BYTES: usize = 512;
/// Memory a 7z decoder may reserve for its dictionary; larger claims are a bomb or an oddity.
const SEVEN_Z_MEMORY_KB: usize = 64 << 10;

/// What inspection found, with the path of the offending file (`outer.zip/inner/setup.exe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Refused by its name: the extension is in the blocked list.
    ExecutableName { path: String, extension: String },
    /// Refused by its content, whatever the name.
    ExecutableContent { path: String, kind: &'static str },
    /// An archive layer beyond the limits (size, ratio, entries, depth).
    Bomb { path: String, why: String },
    /// A password-protected layer: its contents cannot be inspected.
    Encrypted { path: String },
    /// A layer that claims to be an archive but cannot be read.
    Unreadable { path: String, error: String },
}

impl Finding {
    /// Forbidden outright, as opposed to restricted by policy (encrypted, unreadable).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            Finding::ExecutableName { .. }
                | Finding::ExecutableContent { .. }
                | Finding::Bomb { .. }
        )
    }
}

/// Inspects the attachment `name` whose decoded bytes are `data`.
pub fn inspect_attachment(policy: &AttachmentPolicy, name: &str, data: &[u8]) -> Option<Finding> {
    let inspector = Inspector {
        policy,
        packed: data.len() as u64,
        unpacked: Cell::new(0),
        entries: Cell::new(0),
        tripped: RefCell::new(None),
        restricted: RefCell::new(None),
    };
    match inspector.inspect_bytes(name, data, 0) {
        Err(finding) => Some(finding),
        Ok(()) => inspector.restricted.take(),
    }
}

/// The kind of executable `head` (the first bytes of a file) starts like, if any.
pub fn executable_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"MZ") && is_dos_header(head) {
        return Some("Windows PE/MZ");
    }
    if head.starts_with(b"\x7fELF") {
        return Some("ELF");
    }
    const MACHO: [[u8; 4]; 4] = [
        [0xFE, 0xED, 0xFA, 0xCE],
        [0xFE, 0xED, 0xFA, 0xCF],
        [0xCE, 0xFA, 0xED, 0xFE],
        [0xCF, 0xFA, 0xED, 0xFE],
    ];
    if MACHO.iter().any(|m| head.starts_with(m)) {
        return Some("Mach-O");
    }
    if head.starts_with(&[0xCA, 0xFE, 0xBA, 0xBE]) {
        return Some("Mach-O universal / Java class");
    }
    if let Some(rest) = head.strip_prefix(b"#!") {
        let rest = rest.trim_ascii_start();
        if rest.starts_with(b"/") {
            return Some("script (#!)");
        }
    }
    None
}

/// "MZ" starts many text files too; a DOS header is 64 bytes with binary fields, and a PE file
/// has "PE\0\0" where the header's `e_lfanew` (offset 0x3C) points.
fn is_dos_header(head: &[u8]) -> bool {
    if head.len() < 64 {
        return false;
    }
    let lfanew = u32::from_le_bytes([head[0x3C], head[0x3D], head[0x3E], head[0x3F]]) as usize;
    if head.get(lfanew..lfanew.saturating_add(4)) == Some(b"PE\0\0") {
        return true;
    }
    head[2..64]
        .iter()
        .any(|b| *b < 0x09 || (0x0E..0x20).contains(b))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveKind {
    Zip,
    SevenZ,
    Rar,
    Gzip,
    Tar,
}

fn archive_kind(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.starts_with(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) {
        Some(ArchiveKind::SevenZ)
    } else if head.starts_with(b"Rar!\x1a\x07") {
        Some(ArchiveKind::Rar)
    } else if head.starts_with(&[0x1F, 0x8B]) {
        Some(ArchiveKind::Gzip)
    } else if head.get(257..262) == Some(b"ustar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// The extension Windows would act on: after the last dot, trailing dots and spaces ignored.
fn extension(path: &str) -> Option<String> {
    let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let file = file.trim_end_matches(['.', ' ']);
    let (_, ext) = file.rsplit_once('.')?;
    Some(ext.to_lowercase())
}

struct Inspector<'p> {
    policy: &'p AttachmentPolicy,
    packed: u64,
    unpacked: Cell<u64>,
    entries: Cell<u64>,
    /// Why a counting reader stopped (a limit), so its io error becomes a bomb, not "unreadable".
    tripped: RefCell<Option<String>>,
    /// The first encrypted or unreadable layer seen.
    restricted: RefCell<Option<Finding>>,
}

type Inspected = Result<(), Finding>;

impl Inspector<'_> {
    fn check_name(&self, path: &str) -> Inspected {
        if let Some(ext) = extension(path)
            && self
                .policy
                .blocked_extensions
                .iter()
                .any(|b| b.trim_start_matches('.').eq_ignore_ascii_case(&ext))
        {
            return Err(Finding::ExecutableName {
                path: path.to_string(),
                extension: ext,
            });
        }
        Ok(())
    }

    /// Records a restricted finding (the first one wins) or passes a forbidden one up.
    fn note(&self, finding: Finding) -> Inspected {
        if finding.is_forbidden() {
            return Err(finding);
        }
        let mut restricted = self.restricted.borrow_mut();
        if restricted.is_none() {
            *restricted = Some(finding);
        }
        Ok(())
    }

    fn io_finding(&self, path: &str, error: impl ToString) -> Finding {
        match self.tripped.borrow().clone() {
            Some(why) => Finding::Bomb {
                path: path.to_string(),
                why,
            },
            None => Finding::Unreadable {
                path: path.to_string(),
                error: error.to_string(),
            },
        }
    }

    fn count_entry(&self, path: &str) -> Inspected {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        if n > self.policy.max_entries {
            return Err(Finding::Bomb {
                path: path.to_string(),
                why: format!("more than {} entries", self.policy.max_entries),
            });
        }
        Ok(())
    }

    /// Counts `n` freshly decompressed bytes; an error once a limit is passed.
    fn count_unpacked(&self, n: usize) -> io::Result<()> {
        let total = self.unpacked.get().saturating_add(n as u64);
        self.unpacked.set(total);
        let why = if total > self.policy.max_unpacked_bytes {
            format!(
                "more than {} MiB unpacked",
                self.policy.max_unpacked_bytes >> 20
            )
        } else if total > RATIO_FLOOR && total > self.packed.saturating_mul(self.policy.max_ratio) {
            format!("compression ratio above {}:1", self.policy.max_ratio)
        } else {
            return Ok(());
        };
        *self.tripped.borrow_mut() = Some(why.clone());
        Err(io::Error::other(why))
    }

    fn inspect_bytes(&self, path: &str, data: &[u8], depth: u32) -> Inspected {
        self.check_name(path)?;
        let head = &data[..data.len().min(HEAD_BYTES)];
        if let Some(kind) = executable_kind(head) {
            return Err(Finding::ExecutableContent {
                path: path.to_string(),
                kind,
            });
        }
        let Some(kind) = archive_kind(head) else {
            return Ok(());
        };
        self.check_depth(path, depth)?;
        match kind {
            ArchiveKind::Zip => self.inspect_zip(path, data, depth),
            ArchiveKind::SevenZ => self.inspect_7z(path, data, depth),
            ArchiveKind::Rar => self.inspect_rar(path, data),
            ArchiveKind::Gzip => self.inspect_gzip(path, data, depth),
            ArchiveKind::Tar => self.inspect_tar(path, data, depth),
        }
    }

    fn check_depth(&self, path: &str, depth: u32) -> Inspected {
        if depth >= self.policy.max_depth {
            return Err(Finding::Bomb {
                path: path.to_string(),
                why: format!("archives nested more than {} deep", self.policy.max_depth),
            });
        }
        Ok(())
    }

    /// An entry of an archive at `depth - 1`, read once from `reader`.
    fn inspect_entry(&self, path: &str, reader: &mut dyn Read, depth: u32) -> Inspected {
        self.check_name(path)?;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        if let Err(e) = reader.take(HEAD_BYTES as u64).read_to_end(&mut head) {
            return self.note(self.io_finding(path, e));
        }
        if let Some(kind) = executable_kind(&head) {
            return Err(Finding::ExecutableContent {
                path: path.to_string(),
                kind,
            });
        }
        let mut rest = Cursor::new(head).chain(reader);
        let kind = archive_kind(rest.get_ref().0.get_ref());
        let result = match kind {
            None => io::copy(&mut rest, &mut io::sink()).map(|_| ()),
            Some(ArchiveKind::Gzip) => {
                self.check_depth(path, depth)?;
                return self.inspect_gzip(path, rest, depth);
            }
            Some(ArchiveKind::Tar) => {
                self.check_depth(path, depth)?;
                return self.inspect_tar(path, rest, depth);
            }
            Some(_) => {
                // Zip, 7z and rar need random access: hold this layer, bounded by the counters.
                let mut whole = Vec::new();
                match rest.read_to_end(&mut whole) {
                    Ok(_) => return self.inspect_bytes(path, &whole, depth),
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) => self.note(self.io_finding(path, e)),
        }
    }

    fn inspect_zip(&self, path: &str, data: &[u8], depth: u32) -> Inspected {
        let mut zip = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(zip) => zip,
            Err(e) => return self.note(self.io_finding(path, e)),
        };
        for i in 0..zip.len() {
            self.count_entry(path)?;
            let (name, encrypted, is_dir) = match zip.by_index_raw(i) {
                Ok(file) => (
                    file.name().map(|n| n.into_owned()).unwrap_or_default(),
                    // APPNOTE 4.4.4 bit 0, and method 99 for WinZip AES (AE-x extra field 0x9901).
                    file.encrypted() || file.compression() == zip::CompressionMethod::AES,
                    file.is_dir(),
                ),
                Err(e) => return self.note(self.io_finding(path, e)),
            };
            let entry_path = format!("{path}/{name}");
            self.check_name(&entry_path)?;
            if is_dir {
                continue;
            }
            if encrypted {
                self.note(Finding::Encrypted { path: entry_path })?;
                continue;
            }
            let file = match zip.by_index(i) {
                Ok(file) => file,
                Err(e) => {
                    self.note(self.io_finding(&entry_path, e))?;
                    continue;
                }
            };
            let mut counted = Counted {
                inner: file,
                inspector: self,
            };
            self.inspect_entry(&entry_path, &mut counted, depth + 1)?;
        }
        Ok(())
    }

    fn inspect_7z(&self, path: &str, data: &[u8], depth: u32) -> Inspected {
        let opened = sevenz_rust2::ArchiveReader::new_with_memory_limit(
            Cursor::new(data),
            sevenz_rust2::Password::empty(),
            SEVEN_Z_MEMORY_KB,
        );
        let mut reader = match opened {
            Ok(reader) => reader,
            Err(e) if is_7z_password_error(&e) => {
                // Encrypted headers (7z -mhe): not even the names can be read.
                return self.note(Finding::Encrypted {
                    path: path.to_string(),
                });
            }
            Err(e) => return self.note(self.io_finding(path, e)),
        };
        reader.set_thread_count(1);
        let mut any_encrypted = false;
        for (i, entry) in reader.archive().files.iter().enumerate() {
            self.count_entry(path)?;
            let entry_path = format!("{path}/{}", entry.name);
            self.check_name(&entry_path)?;
            if reader.archive().is_file_encrypted(i) {
                self.note(Finding::Encrypted { path: entry_path })?;
                any_encrypted = true;
            }
        }
        if any_encrypted {
            return Ok(());
        }
        let mut found: Option<Finding> = None;
        let walked = reader.for_each_entries(|entry, stream| {
            if entry.is_directory || !entry.has_stream {
                return Ok(true);
            }
            let entry_path = format!("{path}/{}", entry.name);
            let mut counted = Counted {
                inner: stream,
                inspector: self,
            };
            match self.inspect_entry(&entry_path, &mut counted, depth + 1) {
                Ok(()) => Ok(true),
                Err(finding) => {
                    found = Some(finding);
                    Ok(false)
                }
            }
        });
        if let Some(finding) = found {
            return Err(finding);
        }
        match walked {
            Ok(()) => Ok(()),
            Err(e) if is_7z_password_error(&e) => self.note(Finding::Encrypted {
                path: path.to_string(),
            }),
            Err(e) => self.note(self.io_finding(path, e)),
        }
    }

    /// RAR content cannot be unpacked here (the only decoder is under a non-free licence), so
    /// names and encryption flags are read from the headers; clamd looks inside.
    fn inspect_rar(&self, path: &str, data: &[u8]) -> Inspected {
        match rar::scan_headers(data) {
            Ok(listing) => {
                if listing.headers_encrypted {
                    return self.note(Finding::Encrypted {
                        path: path.to_string(),
                    });
                }
                for entry in listing.entries {
                    self.count_entry(path)?;
                    let entry_path = format!("{path}/{}", entry.name);
                    self.check_name(&entry_path)?;
                    if entry.encrypted {
                        self.note(Finding::Encrypted { path: entry_path })?;
                    }
                }
                Ok(())
            }
            Err(e) => self.note(Finding::Unreadable {
                path: path.to_string(),
                error: e.to_string(),
            }),
        }
    }

    fn inspect_gzip(&self, path: &str, reader: impl Read, depth: u32) -> Inspected {
        self.count_entry(path)?;
        let inner = match path.strip_suffix(".tgz") {
            Some(stem) => format!("{stem}.tar"),
            None => path
                .strip_suffix(".gz")
                .map(str::to_string)
                .unwrap_or_else(|| format!("{path}/(gunzip)")),
        };
        let mut counted = Counted {
            inner: flate2::read::MultiGzDecoder::new(reader),
            inspector: self,
        };
        self.inspect_entry(&inner, &mut counted, depth + 1)
    }

    /// Tar is a container, not a compressor: its bytes were counted by the layer that produced
    /// them, so entries are streamed without counting again.
    fn inspect_tar(&self, path: &str, reader: impl Read, depth: u32) -> Inspected {
        let mut archive = tar::Archive::new(reader);
        let entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => return self.note(self.io_finding(path, e)),
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(entry) => entry,
                Err(e) => return self.note(self.io_finding(path, e)),
            };
            self.count_entry(path)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let entry_path = format!("{path}/{name}");
            self.check_name(&entry_path)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            self.inspect_entry(&entry_path, &mut entry, depth + 1)?;
        }
        Ok(())
    }
}

fn is_7z_password_error(e: &sevenz_rust2::Error) -> bool {
    // Built without the aes256 feature, an AES coder shows up as an unsupported method.
    matches!(
        e,
        sevenz_rust2::Error::PasswordRequired | sevenz_rust2::Error::MaybeBadPassword(_)
    ) || e.to_string().to_ascii_uppercase().contains("AES")
}

/// A decompressing reader whose output is counted against the inspector's limits.
struct Counted<'i, 'p, R> {
    inner: R,
    inspector: &'i Inspector<'p>,
}

impl<R: Read> Read for Counted<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.inspector.count_unpacked(n)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_as_windows_sees_them() {
        assert_eq!(extension("a/b/Setup.EXE").as_deref(), Some("exe"));
        assert_eq!(extension("invoice.pdf.exe. . ").as_deref(), Some("exe"));
        assert_eq!(extension("README"), None);
        assert_eq!(extension("dir.d/file"), None);
    }

    #[test]
    fn executable_signatures() {
        let mut pe = vec![0u8; 128];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert_eq!(executable_kind(&pe), Some("Windows PE/MZ"));
        assert_eq!(executable_kind(b"\x7fELF\x02\x01\x01"), Some("ELF"));
        assert_eq!(executable_kind(b"#! /bin/sh\necho"), Some("script (#!)"));
        assert_eq!(executable_kind(b"#!important note"), None);
        let text =
            b"MZ is how the minutes of the meeting were signed, and this line is long enough.";
        assert_eq!(executable_kind(text), None);
    }
}
