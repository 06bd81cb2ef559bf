//! Packet capture in the classic libpcap file format, readable by tcpdump
//! and Wireshark.
//!
//! Layout (all fields little-endian, as written by a little-endian host; the
//! magic tells readers the byte order): a 24-byte global header (magic
//! `0xa1b2c3d4` = microsecond timestamps, version 2.4, zone 0, sigfigs 0,
//! snaplen 65535, link type) and then, per packet, a 16-byte record header
//! (seconds, microseconds, captured length, original length) followed by the
//! captured bytes. Packets longer than the snaplen are truncated, keeping
//! their original length. Timestamps come from the caller, so captures made
//! under a virtual clock are reproducible.
//!
//! TUN packets are bare IP packets: [`LinkType::Raw`] (101, IPv4 or IPv6 by
//! the version nibble) or [`LinkType::Ipv4`] (228). A vnet header, if any,
//! is not part of the captured packet.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Largest packet captured whole.
pub const SNAPLEN: u32 = 65_535;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// The link-layer header type of the capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum LinkType {
    /// `LINKTYPE_RAW`: raw IPv4 or IPv6, no link header.
    #[default]
    Raw = 101,
    /// `LINKTYPE_IPV4`: raw IPv4 only.
    Ipv4 = 228,
}

/// Writes packets to a pcap stream. Call [`PcapWriter::flush`] (or drop a
/// buffered writer, which flushes) before reading the file.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl PcapWriter<BufWriter<File>> {
    /// Create (or truncate) the file at `path` as a [`LinkType::Raw`] capture.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::create_with(path, LinkType::Raw)
    }

    /// Create (or truncate) the file at `path` with the given link type.
    pub fn create_with(path: impl AsRef<Path>, link: LinkType) -> io::Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create capture file {}: {e}", path.display()),
            )
        })?;
        PcapWriter::new(BufWriter::new(file), link)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Start a capture on `out`: writes the global header.
    pub fn new(mut out: W, link: LinkType) -> io::Result<Self> {
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (i32) and sigfigs (u32) stay 0.
        hdr[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        hdr[20..24].copy_from_slice(&(link as u32).to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter { out })
    }

    /// Append one packet seen at `ts_micros` microseconds since the Unix
    /// epoch (or since any origin the caller likes, e.g. a virtual clock).
    pub fn write_packet(&mut self, ts_micros: u64, data: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let incl = orig.min(SNAPLEN);
        // The format has 32-bit seconds; wrap rather than fail (year 2106).
        let secs = (ts_micros / 1_000_000) as u32;
        let micros = (ts_micros % 1_000_000) as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&micros.to_le_bytes());
        rec[8..12].copy_from_slice(&incl.to_le_bytes());
        rec[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&data[..incl as usize])
    }

    /// Flush the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flush and hand back the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal IPv4/UDP packet 192.0.2.1:1234 -> 192.0.2.2:9, 4 bytes of
    /// payload, valid header checksum, UDP checksum 0.
    fn ipv4_udp() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, // IPv4
            0x04, 0xd2, 0, 9, 0, 12, 0, 0, // UDP
            b'p', b'i', b'n', b'g',
        ];
        let mut sum = 0u32;
        for c in p[..20].chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        p
    }

    #[test]
    fn byte_layout_matches_libpcap() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ipv4).unwrap();
        w.write_packet(1_700_000_000_123_456, &[1, 2, 3]).unwrap();
        let bytes = w.into_inner().unwrap();
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0xd4, 0xc3, 0xb2, 0xa1][..], // magic, microseconds
            &[2, 0, 4, 0],                 // version 2.4
            &[0; 4], &[0; 4],              // thiszone, sigfigs
            &[0xff, 0xff, 0, 0],           // snaplen 65535
            &[228, 0, 0, 0],               // LINKTYPE_IPV4
            &1_700_000_000u32.to_le_bytes(),
            &123_456u32.to_le_bytes(),
            &[3, 0, 0, 0], &[3, 0, 0, 0],  // incl_len, orig_len
            &[1, 2, 3],
        ]
        .concat();
        assert_eq!(bytes, expected);
        let raw = PcapWriter::new(Vec::new(), LinkType::default())
            .unwrap()
            .into_inner()
            .unwrap();
        assert_eq!(raw[20..24], [101, 0, 0, 0]);
    }

    #[test]
    fn oversized_packets_are_truncated_to_the_snaplen() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Raw).unwrap();
        let big = vec![0xab; 70_000];
        w.write_packet(0, &big).unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(bytes.len(), 24 + 16 + SNAPLEN as usize);
        assert_eq!(bytes[32..36], SNAPLEN.to_le_bytes());
        assert_eq!(bytes[36..40], 70_000u32.to_le_bytes());
    }

    #[test]
    fn tcpdump_reads_the_file() {
        let dir = std::env::temp_dir().join(format!("ringtcp-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("udp.pcap");
        let mut w = PcapWriter::create(&path).unwrap();
        w.write_packet(1_000_000_000_000_001, &ipv4_udp()).unwrap();
        w.write_packet(1_000_000_000_500_000, &ipv4_udp()).unwrap();
        drop(w);

        let out = match std::process::Command::new("tcpdump")
            .args(["-n", "-tt", "-r"])
            .arg(&path)
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                eprintln!(
                    "SKIPPED tcpdump_reads_the_file (tcpdump part): cannot run tcpdump: {e} (install it: apt-get install -y tcpdump)"
                );
                let _ = std::fs::remove_dir_all(&dir);
                return;
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "tcpdump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(
            lines[0]
                .starts_with("1000000000.000001 IP 192.0.2.1.1234 > 192.0.2.2.9: UDP, length 4"),
            "{stdout}"
        );
        assert!(lines[1].starts_with("1000000000.500000 "), "{stdout}");
    }
}
