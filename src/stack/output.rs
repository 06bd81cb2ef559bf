//! Outputs: packets for the device (connectionless replies first, then
//! connections in round robin), the next timer deadline, and events.

use super::{Event, Stack};
#[cfg(doc)]
use crate::tcp::TcpConfig;
use crate::tcp::{CookieSyn, Transmit, write_segment};
use crate::time::Instant;
use crate::wire::icmp::IcmpRepr;
use crate::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr, MAX_IPV4_PACKET, PROTO_ICMP, PROTO_TCP};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use crate::wire::{SeqNum, VnetHdr};
use std::net::{Ipv4Addr, SocketAddrV4};

/// Where an IPv4 packet carrying a TCP segment goes: source, destination,
/// time to live.
type Route = (Ipv4Addr, Ipv4Addr, u8);

/// Writes an IPv4 packet around the TCP segment that `segment` writes in
/// the room after the header (no more than an IP packet holds) and says
/// where it goes; the packet's length and the segment's description. The
/// route is asked for only once there is a segment.
fn tcp_in_ipv4(
    buf: &mut [u8],
    segment: impl FnOnce(&mut [u8]) -> Option<(Transmit, Route)>,
) -> Option<(usize, Transmit)> {
    let room = buf.len().min(MAX_IPV4_PACKET);
    if room <= IPV4_HEADER_LEN {
        return None;
    }
    let (ip_hdr, seg) = buf[..room].split_at_mut(IPV4_HEADER_LEN);
    let (t, (src, dst, ttl)) = segment(seg)?;
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: PROTO_TCP,
        payload_len: t.len,
        ttl,
    };
    ip.emit(ip_hdr, 0).ok()?;
    Some((IPV4_HEADER_LEN + t.len, t))
}

/// A reply the stack sends without a connection.
#[derive(Debug)]
pub(super) enum Control {
    Rst {
        dst: SocketAddrV4,
        src_port: u16,
        seq: SeqNum,
        ack: Option<SeqNum>,
    },
    EchoReply {
        dst: Ipv4Addr,
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    /// A SYN-ACK carrying a SYN cookie (see `syncookie`).
    CookieSynAck {
        remote: SocketAddrV4,
        local_port: u16,
        syn: CookieSyn,
        iss: SeqNum,
        ts_offset: u32,
    },
    /// What is left to send of an ICMP message too long for the link, in
    /// fragments (RFC 791 3.2): `payload[offset..]` of datagram `ident`.
    Fragments {
        dst: Ipv4Addr,
        ident: u16,
        payload: Vec<u8>,
        offset: usize,
    },
}

/// Longest queue of connectionless replies before new ones are dropped.
pub(super) const MAX_CONTROL_QUEUE: usize = 1024;

impl Stack {
    pub(super) fn queue_rst(
        &mut self,
        dst: SocketAddrV4,
        src_port: u16,
        seq: SeqNum,
        ack: Option<SeqNum>,
    ) {
        let _ = self.queue_control(Control::Rst {
            dst,
            src_port,
            seq,
            ack,
        });
    }

    /// Queues a connectionless reply; `false` (counted) if the queue is
    /// full.
    pub(super) fn queue_control(&mut self, ctrl: Control) -> bool {
        if self.control.len() >= MAX_CONTROL_QUEUE {
            self.counters.control_queue_full += 1;
            return false;
        }
        self.control.push_back(ctrl);
        true
    }

    /// Whether [`Stack::poll_transmit`] may have a packet: a reply is
    /// queued or a connection is marked for output. (A marked connection
    /// can turn out to have nothing after all.)
    pub fn may_transmit(&self) -> bool {
        !self.control.is_empty() || !self.txq.is_empty()
    }

    /// Writes the next IPv4 packet to send into `buf` and returns its
    /// length; `None` when nothing is left to send. Call it until `None`
    /// after every input or command. `buf` should hold at least the MTU.
    ///
    /// With [`TcpConfig::checksum_offload`] or [`TcpConfig::tso_max`] on,
    /// packets need the header [`Stack::poll_transmit_frame`] gives.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_frame(now, buf).map(|(n, _)| n)
    }

    /// [`Stack::poll_transmit`] for a device with offloads: also returns the
    /// virtio-net header to put in front of the packet. A TCP segment built
    /// with [`TcpConfig::checksum_offload`] carries a partial checksum
    /// (`NEEDS_CSUM`), and one of more than one MSS (with
    /// [`TcpConfig::tso_max`]) is a super-segment with `gso_size` set to
    /// the payload of each segment. Other packets (RSTs for unknown
    /// connections, ICMP) are complete and get an empty header. For TSO,
    /// `buf` should hold 65535 bytes.
    pub fn poll_transmit_frame(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(usize, VnetHdr)> {
        self.arm_sweep(now);
        // Connectionless replies and connections take turns when both have
        // something to send: under a SYN flood the cookie SYN-ACKs would
        // otherwise take every transmit buffer of every loop turn, and the
        // established connections none.
        let control_first = !self.control_sent_last;
        if control_first && let Some(r) = self.poll_control(now, buf) {
            return Some(r);
        }
        if let Some(r) = self.poll_connections(now, buf) {
            self.control_sent_last = false;
            return Some(r);
        }
        if control_first {
            return None;
        }
        self.poll_control(now, buf)
    }

    /// The next connectionless reply (RST, echo reply, cookie SYN-ACK).
    fn poll_control(&mut self, now: Instant, buf: &mut [u8]) -> Option<(usize, VnetHdr)> {
        while let Some(ctrl) = self.control.pop_front() {
            if let Some(n) = self.emit_control(now, ctrl, buf) {
                self.counters.packets_sent += 1;
                self.control_sent_last = true;
                return Some(n);
            }
        }
        None
    }

    /// The next segment of a connection in the transmit queue, round robin.
    fn poll_connections(&mut self, now: Instant, buf: &mut [u8]) -> Option<(usize, VnetHdr)> {
        while let Some(&idx) = self.txq.front() {
            let slot = &mut self.conns[idx];
            let conn = slot
                .conn
                .as_mut()
                .expect("connection present outside transitions");
            let segment = |seg: &mut [u8]| {
                let t = conn.poll_transmit(now, seg)?;
                Some((t, (*conn.local().ip(), *conn.remote().ip(), conn.ttl())))
            };
            match tcp_in_ipv4(buf, segment) {
                Some((n, t)) => {
                    let vnet = if t.partial_checksum {
                        if t.gso_size > 0 {
                            self.counters.tx_super_packets += 1;
                        }
                        VnetHdr::tcp4_partial(
                            IPV4_HEADER_LEN as u16,
                            IPV4_HEADER_LEN as u16 + t.header_len,
                            t.gso_size,
                        )
                    } else {
                        VnetHdr::default()
                    };
                    // Round robin: this connection goes to the back.
                    self.txq.rotate_left(1);
                    self.schedule(idx);
                    self.counters.packets_sent += 1;
                    return Some((n, vnet));
                }
                None => {
                    self.txq.pop_front();
                    slot.in_txq = false;
                    self.maybe_remove(idx);
                }
            }
        }
        None
    }

    /// When `handle_timeout` should next be called: never later than the
    /// earliest timer or reassembly deadline, possibly a little earlier.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next_deadline(),
            self.reassembler.poll_timeout(),
            self.sweep_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Writes a connectionless reply; its length and virtio-net header
    /// (empty but for a cookie SYN-ACK with a partial checksum).
    fn emit_control(
        &mut self,
        now: Instant,
        ctrl: Control,
        buf: &mut [u8],
    ) -> Option<(usize, VnetHdr)> {
        match ctrl {
            Control::Rst {
                dst,
                src_port,
                seq,
                ack,
            } => {
                let mut flags = TcpFlags::RST;
                if ack.is_some() {
                    flags |= TcpFlags::ACK;
                }
                let repr = TcpRepr {
                    src_port,
                    dst_port: dst.port(),
                    seq,
                    ack: ack.unwrap_or(SeqNum(0)),
                    flags,
                    window: 0,
                    urgent: 0,
                    options: TcpOptions::default(),
                    payload: &[],
                };
                let addrs = (self.cfg.addr, *dst.ip());
                let route = (addrs.0, addrs.1, self.cfg.tcp.ttl);
                let (n, _) = tcp_in_ipv4(buf, |seg| {
                    Some((write_segment(seg, &repr, addrs, 0, |_| {}, false)?, route))
                })?;
                self.counters.tcp_resets_sent += 1;
                Some((n, VnetHdr::default()))
            }
            Control::EchoReply {
                dst,
                ident,
                seq_no,
                data,
            } => {
                let icmp = IcmpRepr::EchoReply {
                    ident,
                    seq_no,
                    data: &data,
                };
                self.ip_ident = self.ip_ident.wrapping_add(1);
                let room = buf.len().min(self.cfg.mtu);
                let n = if IPV4_HEADER_LEN + icmp.buffer_len() > room {
                    // RFC 1122 3.2.2.6: the reply carries all the request's
                    // data; RFC 791 3.2: a datagram longer than the link
                    // takes goes in fragments, the first one now.
                    let mut payload = vec![0; icmp.buffer_len()];
                    icmp.emit(&mut payload).ok()?;
                    let rest = Control::Fragments {
                        dst,
                        ident: self.ip_ident,
                        payload,
                        offset: 0,
                    };
                    self.emit_control(now, rest, buf).map(|(n, _)| n)
                } else {
                    icmp.emit_datagram(self.cfg.addr, dst, self.cfg.tcp.ttl, self.ip_ident, buf)
                        .ok()
                }?;
                self.counters.icmp_echo_replies += 1;
                Some((n, VnetHdr::default()))
            }
            Control::CookieSynAck {
                remote,
                local_port,
                syn,
                iss,
                ts_offset,
            } => self.emit_cookie_syn_ack(now, (local_port, remote), &syn, (iss, ts_offset), buf),
            Control::Fragments {
                dst,
                ident,
                payload,
                offset,
            } => self
                .emit_fragment(dst, ident, payload, offset, buf)
                .map(|n| (n, VnetHdr::default())),
        }
    }

    /// Writes a SYN-ACK carrying a SYN cookie from the listener on
    /// `ends.0` to `ends.1`, with our ISS and timestamp offset.
    fn emit_cookie_syn_ack(
        &self,
        now: Instant,
        (local_port, remote): (u16, SocketAddrV4),
        syn: &CookieSyn,
        (iss, ts_offset): (SeqNum, u32),
        buf: &mut [u8],
    ) -> Option<(usize, VnetHdr)> {
        // The listener may have gone meanwhile: then nothing.
        let listen = &self.listeners.get(&local_port)?.listen;
        let local = SocketAddrV4::new(self.cfg.addr, local_port);
        let route = (self.cfg.addr, *remote.ip(), listen.config().ttl);
        let (n, t) = tcp_in_ipv4(buf, |seg| {
            let ends = (local, remote);
            let t = listen.write_cookie_syn_ack(now, ends, syn, iss, ts_offset, seg)?;
            Some((t, route))
        })?;
        let vnet = if t.partial_checksum {
            let l4 = IPV4_HEADER_LEN as u16;
            VnetHdr::tcp4_partial(l4, l4 + t.header_len, 0)
        } else {
            VnetHdr::default()
        };
        Some((n, vnet))
    }

    /// Writes the fragment of ICMP datagram `ident` that starts at
    /// `offset` of `payload`, as long as the link and `buf` allow (a
    /// multiple of 8 bytes unless it is the last), and queues the rest in
    /// front of every other reply.
    fn emit_fragment(
        &mut self,
        dst: Ipv4Addr,
        ident: u16,
        payload: Vec<u8>,
        offset: usize,
        buf: &mut [u8],
    ) -> Option<usize> {
        let room = buf.len().min(self.cfg.mtu).saturating_sub(IPV4_HEADER_LEN) & !7;
        let left = payload.len().checked_sub(offset)?;
        if room == 0 {
            return None;
        }
        let len = left.min(room);
        let more = len < left;
        let ip = Ipv4Repr {
            src: self.cfg.addr,
            dst,
            protocol: PROTO_ICMP,
            payload_len: len,
            ttl: self.cfg.tcp.ttl,
        };
        ip.emit_fragment(buf, ident, offset, more).ok()?;
        buf[IPV4_HEADER_LEN..IPV4_HEADER_LEN + len].copy_from_slice(&payload[offset..offset + len]);
        self.counters.ip_fragments_sent += 1;
        if more {
            self.control.push_front(Control::Fragments {
                dst,
                ident,
                payload,
                offset: offset + len,
            });
        }
        Some(IPV4_HEADER_LEN + len)
    }
}
