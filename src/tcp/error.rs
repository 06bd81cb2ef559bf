//! Why a connection failed.

/// Why a connection ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnError {
    /// Our SYN was answered with a RST (RFC 9293 3.10.7.3), or with an ICMP
    /// port or protocol unreachable.
    Refused,
    /// The peer reset an established connection.
    Reset,
    /// Retransmissions or keepalive probes went unanswered.
    TimedOut,
    /// The application aborted the connection.
    Aborted,
    /// ICMP said the host cannot be reached: our SYN was answered so, or
    /// the connection timed out after such a message.
    HostUnreachable,
    /// ICMP said the network cannot be reached (as for `HostUnreachable`).
    NetworkUnreachable,
}

impl ConnError {
    /// The error an ICMP destination-unreachable code stands for (RFC 792,
    /// RFC 1122 3.2.2.1, RFC 1812 5.2.7.1), close to Linux's table: port
    /// and protocol unreachable are refusals (Linux reports the second as
    /// ENOPROTOOPT, which has no std kind), the network codes are
    /// unreachable networks, the rest (source route failed too) unreachable
    /// hosts. `None` for fragmentation needed, which is path MTU discovery,
    /// not an error, and for codes past 15, which Linux ignores.
    pub fn from_icmp_unreachable(code: u8) -> Option<ConnError> {
        use crate::wire::icmp::codes as c;
        Some(match code {
            c::FRAG_NEEDED | 16.. => return None,
            c::PROTO_UNREACHABLE | c::PORT_UNREACHABLE => ConnError::Refused,
            c::NET_UNREACHABLE | c::NET_UNKNOWN | c::NET_PROHIBITED | c::NET_UNREACHABLE_TOS => {
                ConnError::NetworkUnreachable
            }
            _ => ConnError::HostUnreachable,
        })
    }
}

impl core::fmt::Display for ConnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConnError::Refused => "connection refused",
            ConnError::Reset => "connection reset by peer",
            ConnError::TimedOut => "connection timed out",
            ConnError::Aborted => "connection aborted",
            ConnError::HostUnreachable => "no route to host",
            ConnError::NetworkUnreachable => "network is unreachable",
        })
    }
}

impl std::error::Error for ConnError {}
