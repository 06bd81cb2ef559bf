//! Building the ring, the receive buffers and the transmit pool for a device,
//! with fallbacks for kernels that refuse the newer io_uring features.

use super::RuntimeConfig;
use super::RuntimeStats;
use super::rx::Rx;
use super::uring::{BufRing, TxPool};
use crate::device::Tun;
use crate::wire::MAX_IPV4_PACKET;
use io_uring::IoUring;
use std::io;

const BGID: u16 = 7;

/// Bytes of buffer one frame from or to `tun` may need: the vnet header and
/// the MTU, or a whole 64 KiB IPv4 super-packet when the device offloads.
pub(super) fn frame_size(tun: &Tun) -> usize {
    let packet = if tun.offloads_enabled() {
        MAX_IPV4_PACKET
    } else {
        tun.mtu().max(2048)
    };
    (tun.header_len() + packet).next_multiple_of(64)
}

/// The ring, the receive side and the transmit pool for `tun`.
pub(super) fn build_io(
    cfg: &RuntimeConfig,
    tun: &Tun,
    stats: &mut RuntimeStats,
) -> io::Result<(IoUring, Rx, TxPool, bool)> {
    let entries = (u32::from(cfg.rx_buffers) + u32::from(cfg.tx_buffers) + 8).next_power_of_two();
    let (ring, taskrun_flag) = build_ring(entries)?;
    let buf_size = frame_size(tun);
    stats.multishot = false;
    let rx = if cfg.multishot {
        match BufRing::new(
            &ring,
            cfg.rx_buffers.max(2).next_power_of_two(),
            buf_size,
            BGID,
        ) {
            Ok(br) => {
                stats.multishot = true;
                Rx::Multi(br)
            }
            // Kernels before 5.19 have no buffer rings: plain reads.
            Err(_) => Rx::Poll(vec![0u8; buf_size]),
        }
    } else {
        Rx::Poll(vec![0u8; buf_size])
    };
    let tx = TxPool::new(cfg.tx_buffers.max(2), buf_size)?;
    Ok((ring, rx, tx, taskrun_flag))
}

/// One way to set up the ring, and whether it raises `IORING_SQ_TASKRUN`.
type RingSetup = (fn(&mut io_uring::Builder), bool);

/// Builds the ring with the flags that help a single-threaded loop, falling
/// back to a plain ring on kernels that refuse them. The flag says whether
/// the ring raises `IORING_SQ_TASKRUN`.
fn build_ring(entries: u32) -> io::Result<(IoUring, bool)> {
    let attempts: [RingSetup; 4] = [
        (
            |b| {
                b.setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            },
            true,
        ),
        (
            |b| {
                b.setup_single_issuer().setup_defer_taskrun();
            },
            false,
        ),
        (
            |b| {
                b.setup_coop_taskrun();
            },
            false,
        ),
        (|_| {}, false),
    ];
    let mut last = None;
    for (f, taskrun_flag) in attempts {
        let mut b = IoUring::builder();
        b.setup_cqsize(entries * 4);
        f(&mut b);
        match b.build(entries) {
            Ok(r) => return Ok((r, taskrun_flag)),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("io_uring setup failed"));
    Err(io::Error::new(
        e.kind(),
        format!(
            "cannot create an io_uring ({e}); is io_uring disabled (sysctl kernel.io_uring_disabled)?"
        ),
    ))
}
