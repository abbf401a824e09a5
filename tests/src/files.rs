//! Files the tests hand to the daemon: pcap captures, and temporary files removed when
//! dropped.

use std::path::PathBuf;

use crate::names::unique;

/// Writes `frames` as a classic little-endian pcap file (Ethernet link type), e.g. for a
/// `net_pcap` port's `rx_pcap=`.
///
/// # Panics
/// If the file cannot be written.
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    const LINKTYPE_ETHERNET: u32 = 1;
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for f in frames {
        let len = u32::try_from(f.len()).expect("frame length");
        out.extend_from_slice(&[0u8; 8]); // timestamp
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A file removed when dropped.
#[derive(Debug)]
pub struct TempFile {
    /// Its path.
    pub path: PathBuf,
}

impl TempFile {
    /// A unique path under the system temporary directory, ending in `suffix`.
    pub fn new(suffix: &str) -> TempFile {
        TempFile {
            path: std::env::temp_dir().join(format!("{}{suffix}", unique("dpsw"))),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
