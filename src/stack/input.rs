//! Inputs: IPv4 packets from the device (fragments to reassembly; TCP
//! demultiplexed to a connection, a listener or a closed port; ICMP echo
//! and destination unreachable) and expired timers.

use super::Stack;
use super::output::{Control, MAX_CONTROL_QUEUE};
use super::reassembly::Outcome;
use super::table::tuple_key;
use crate::tcp::{Conn, Fate, IcmpOutcome, ListenReply};
use crate::time::{Instant, PackedInstant};
use crate::wire::icmp::{IcmpRepr, parse_quoted_tcp};
use crate::wire::ipv4::{
    IPV4_HEADER_LEN, Ipv4Repr, PROTO_ICMP, PROTO_TCP, parse_ipv4, parse_ipv4_fragment,
};
use crate::wire::tcp::{TcpRepr, parse_tcp};
use crate::wire::{SeqNum, VnetHdr, WireError};
use std::net::SocketAddrV4;

impl Stack {
    /// Takes one IPv4 packet from the device. Malformed packets are dropped
    /// and counted in [`Stack::counters`]; nothing here panics on any input.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.handle_frame(now, &VnetHdr::default(), packet);
    }

    /// Takes one IPv4 packet that a device with offloads handed over with
    /// the virtio-net header `vnet` (already split off). The TCP checksum
    /// is not summed when the header says the device validated it, or that
    /// it is a partial checksum of a packet made on this host
    /// (`NEEDS_CSUM` laid out for TCP); every other packet is verified as
    /// [`Stack::handle_packet`] does. A TCP super-packet (`gso_type` set) is
    /// taken whole, as one large segment.
    pub fn handle_frame(&mut self, now: Instant, vnet: &VnetHdr, packet: &[u8]) {
        self.counters.packets_received += 1;
        let verify = self.cfg.verify_checksums;
        let (ip, payload) = match parse_ipv4(packet, verify) {
            Ok(v) => v,
            Err(WireError::BadChecksum) => {
                self.counters.ip_bad_checksum += 1;
                return;
            }
            Err(WireError::Fragmented) => {
                self.handle_fragment(now, packet);
                return;
            }
            Err(_) => {
                self.counters.ip_malformed += 1;
                return;
            }
        };
        if ip.dst != self.cfg.addr {
            self.counters.ip_not_for_us += 1;
            return;
        }
        // parse_ipv4 checked the header: IHL is in bounds.
        let l4_start = usize::from(packet[0] & 0x0f) * 4;
        self.handle_datagram(now, vnet, l4_start, &ip, payload);
    }

    /// A datagram addressed to us, whole or reassembled: its payload to
    /// TCP or ICMP. `vnet` and `l4_start` say what the device vouched for.
    fn handle_datagram(
        &mut self,
        now: Instant,
        vnet: &VnetHdr,
        l4_start: usize,
        ip: &Ipv4Repr,
        payload: &[u8],
    ) {
        let verify = self.cfg.verify_checksums;
        match ip.protocol {
            PROTO_TCP => {
                let trusted = vnet.checksum_trusted(l4_start);
                let gso_size = if vnet.is_gso() { vnet.gso_size } else { 0 };
                self.handle_tcp(now, ip, payload, verify, trusted, gso_size)
            }
            PROTO_ICMP => self.handle_icmp(now, ip, payload, verify),
            _ => self.counters.ip_unsupported_protocol += 1,
        }
    }

    /// An IPv4 fragment (its header already checked by `parse_ipv4`): held
    /// for reassembly (see [`super::reassembly`]); the datagram it
    /// completes goes on exactly as an unfragmented one, with a device
    /// header that vouches for nothing, so its checksum is verified over
    /// the whole payload.
    #[cold]
    #[inline(never)]
    fn handle_fragment(&mut self, now: Instant, packet: &[u8]) {
        self.counters.ip_fragments += 1;
        let Ok(frag) = parse_ipv4_fragment(packet, false) else {
            // parse_ipv4 has accepted this header: cannot happen.
            self.counters.ip_malformed += 1;
            return;
        };
        if frag.dst != self.cfg.addr {
            self.counters.ip_not_for_us += 1;
            return;
        }
        let mut out = core::mem::take(&mut self.reassembled);
        if let Outcome::Complete(d) =
            self.reassembler
                .push(now, &frag, &mut out, &mut self.counters)
        {
            let ip = Ipv4Repr {
                src: d.src,
                dst: d.dst,
                protocol: d.protocol,
                payload_len: out.len(),
                ttl: d.ttl,
            };
            self.handle_datagram(now, &VnetHdr::default(), IPV4_HEADER_LEN, &ip, &out);
        }
        out.clear();
        self.reassembled = out;
    }

    /// `trusted`: the device vouched for the checksum; `gso_size`: the
    /// segment size of a super-packet, 0 for a plain one.
    fn handle_tcp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        verify: bool,
        trusted: bool,
        gso_size: u16,
    ) {
        let seg = match parse_tcp(payload, ip.src, ip.dst, verify && !trusted) {
            Ok(s) => {
                if trusted {
                    self.counters.rx_checksum_trusted += 1;
                }
                if gso_size > 0 {
                    self.counters.rx_super_packets += 1;
                }
                s
            }
            Err(WireError::BadChecksum) => {
                self.counters.tcp_bad_checksum += 1;
                return;
            }
            Err(_) => {
                self.counters.tcp_malformed += 1;
                return;
            }
        };
        let remote = SocketAddrV4::new(ip.src, seg.src_port);
        if let Some(&idx) = self.tuples.get(&tuple_key(seg.dst_port, remote)) {
            self.segment_to_connection(now, idx, &seg, gso_size);
        } else if !self.segment_to_listener(now, remote, &seg) {
            self.segment_to_closed_port(remote, &seg);
        }
    }

    /// A segment for the connection at `idx` of the table.
    fn segment_to_connection(&mut self, now: Instant, idx: usize, seg: &TcpRepr, gso_size: u16) {
        let slot = &mut self.conns[idx];
        let Some(conn) = slot.conn.take() else {
            return;
        };
        if seg.flags.syn() && seg.flags.fin() && matches!(conn, Conn::SynSent(_)) {
            // A SYN-ACK with FIN would open the connection half-closed:
            // dropped as a SYN+FIN to a listener is.
            self.counters.tcp_syn_fin_dropped += 1;
            slot.conn = Some(conn);
            return;
        }
        let (mut conn, fate) = conn.handle_segment(now, seg, gso_size);
        match fate {
            Fate::Accepted => {}
            Fate::OutOfWindow => self.counters.tcp_out_of_window += 1,
            Fate::Challenged => {
                if self.challenge.take(now, self.cfg.challenge_ack_limit) {
                    self.counters.tcp_challenge_acks += 1;
                } else {
                    conn.withdraw_challenge();
                    self.counters.tcp_challenge_acks_suppressed += 1;
                }
            }
            Fate::ChallengeSuppressed => self.counters.tcp_challenge_acks_suppressed += 1,
        }
        slot.conn = Some(conn);
        self.after_update(idx);
    }

    /// A segment for no connection, to the listener on its port: a SYN
    /// may spawn a connection in SYN-RECEIVED, or draw a SYN cookie; an
    /// ACK may bring a cookie back. Returns `false` when no listener has
    /// the port.
    fn segment_to_listener(&mut self, now: Instant, remote: SocketAddrV4, seg: &TcpRepr) -> bool {
        if !self.listeners.contains_key(&seg.dst_port) {
            return false;
        }
        let local = SocketAddrV4::new(self.cfg.addr, seg.dst_port);
        let (syn, ack, rst) = (seg.flags.syn(), seg.flags.ack(), seg.flags.rst());
        if syn && seg.flags.fin() && !rst {
            // Never opens a connection (Linux's tcp_rcv_state_process in
            // LISTEN, FreeBSD's drop_synfin): a scanning pattern.
            self.counters.tcp_syn_fin_dropped += 1;
            return true;
        }
        if syn && !ack && !rst && !self.admit_syn(now, (local, remote), seg) {
            return true;
        }
        if ack && !syn && !rst && self.check_syn_cookie(now, (local, remote), seg) {
            return true;
        }
        let listener = &self.listeners[&seg.dst_port];
        let clocks = || {
            (
                self.iss(now, local, remote),
                self.isn.ts_offset(local, remote),
            )
        };
        match listener
            .listen
            .handle_segment(now, local, remote, seg, clocks)
        {
            ListenReply::Drop => {}
            ListenReply::Reset { seq } => self.queue_rst(remote, seg.dst_port, seq, None),
            ListenReply::Spawn(syn_rcvd) => {
                if self.conns.len() >= self.cfg.max_connections {
                    self.counters.tcp_table_full += 1;
                    return true;
                }
                let port = seg.dst_port;
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open += 1;
                    self.half_open += 1;
                    let peak = &mut self.counters.tcp_half_open_peak;
                    *peak = (*peak).max(self.half_open as u64);
                }
                let idx = self.insert(Conn::SynReceived(syn_rcvd), Some(port));
                self.tuples.insert(tuple_key(port, remote), idx);
                self.after_update(idx);
            }
        }
        true
    }

    /// Whether a SYN to a listener may have a half-open entry: its accept
    /// queue and half-open entries within its backlog, the stack's
    /// half-open entries within `max_half_open`. Otherwise it is answered
    /// with a SYN cookie, or dropped and counted; `false` then.
    fn admit_syn(
        &mut self,
        now: Instant,
        ends: (SocketAddrV4, SocketAddrV4),
        seg: &TcpRepr,
    ) -> bool {
        let l = &self.listeners[&seg.dst_port];
        if l.queue.len() >= l.backlog {
            // Cookies would only bring connections that cannot be queued
            // (Linux drops these too).
            self.counters.tcp_listen_overflow += 1;
            return false;
        }
        let listener_full = l.half_open + l.queue.len() >= l.backlog;
        let stack_full = self.half_open >= self.cfg.max_half_open;
        if !listener_full && !stack_full {
            return true;
        }
        if self.cfg.syn_cookies {
            self.send_syn_cookie(now, ends, seg);
        } else if listener_full {
            self.counters.tcp_listen_overflow += 1;
        } else {
            self.counters.tcp_half_open_overflow += 1;
        }
        false
    }

    /// A segment for a port with no connection and no listener.
    fn segment_to_closed_port(&mut self, remote: SocketAddrV4, seg: &TcpRepr) {
        // RFC 9293 3.10.7.1: CLOSED. A RST is dropped; otherwise reply with
        // a RST that the sender will accept.
        self.counters.tcp_no_socket += 1;
        if seg.flags.rst() {
            return;
        }
        if seg.flags.ack() {
            self.queue_rst(remote, seg.dst_port, seg.ack, None);
        } else {
            let ack = seg.seq + seg.segment_len();
            self.queue_rst(remote, seg.dst_port, SeqNum(0), Some(ack));
        }
    }

    fn handle_icmp(&mut self, now: Instant, ip: &Ipv4Repr, payload: &[u8], verify: bool) {
        match IcmpRepr::parse(payload, verify) {
            Ok(IcmpRepr::EchoRequest {
                ident,
                seq_no,
                data,
            }) => {
                if !self.cfg.answer_ping {
                    return;
                }
                if self.control.len() >= MAX_CONTROL_QUEUE {
                    self.counters.control_queue_full += 1;
                    return;
                }
                self.control.push_back(Control::EchoReply {
                    dst: ip.src,
                    ident,
                    seq_no,
                    data: data.to_vec(),
                });
            }
            Ok(IcmpRepr::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            }) => {
                self.counters.icmp_dest_unreachable += 1;
                self.icmp_unreachable(now, code, next_hop_mtu, original);
            }
            Ok(_) => self.counters.icmp_unsupported += 1,
            Err(WireError::UnsupportedIcmp) => self.counters.icmp_unsupported += 1,
            Err(_) => self.counters.icmp_malformed += 1,
        }
    }

    /// Hands a destination unreachable to the connection whose segment it
    /// quotes (see [`Conn::handle_icmp_unreachable`]).
    fn icmp_unreachable(&mut self, now: Instant, code: u8, next_hop_mtu: u16, original: &[u8]) {
        let quoted = match parse_quoted_tcp(original) {
            Ok(q) if q.src == self.cfg.addr => q,
            _ => {
                self.counters.icmp_unmatched += 1;
                return;
            }
        };
        let remote = SocketAddrV4::new(quoted.dst, quoted.dst_port);
        let Some(&idx) = self.tuples.get(&tuple_key(quoted.src_port, remote)) else {
            self.counters.icmp_unmatched += 1;
            return;
        };
        let slot = &mut self.conns[idx];
        let Some(conn) = slot.conn.take() else {
            return;
        };
        let (conn, outcome) =
            conn.handle_icmp_unreachable(now, code, next_hop_mtu, quoted.seq, quoted.total_len);
        slot.conn = Some(conn);
        match outcome {
            IcmpOutcome::Ignored => self.counters.icmp_unmatched += 1,
            IcmpOutcome::PathMtu => self.counters.icmp_path_mtu += 1,
            IcmpOutcome::Failed | IcmpOutcome::SoftError => self.counters.icmp_errors += 1,
        }
        self.after_update(idx);
    }

    /// Runs every timer that is due at `now`, and drops the datagrams whose
    /// reassembly timeout has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.reassembler.handle_timeout(now, &mut self.counters);
        self.sweep(now);
        let mut fired = core::mem::take(&mut self.fired);
        self.timers.expire(now, |_, key| fired.push(key));
        for &(index, timer_gen) in &fired {
            let idx = index as usize;
            let Some(slot) = self.conns.get_mut(idx) else {
                continue;
            };
            if slot.timer_gen != timer_gen {
                continue; // cancelled lazily
            }
            slot.scheduled = PackedInstant::NONE;
            if let Some(conn) = slot.conn.take() {
                slot.conn = Some(conn.handle_timeout(now));
            }
            self.after_update(idx);
        }
        fired.clear();
        self.fired = fired;
        self.arm_sweep(now);
    }
}
