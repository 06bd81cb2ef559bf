#!/usr/bin/env bash
# Create a persistent TUN device for ringtcp, owned by the invoking user, so
# that programs can attach to it without CAP_NET_ADMIN:
#
#   tun0, txqueuelen 10000 (the default 500 drops while a busy loop is not
#   reading), 192.0.2.1/24 on the kernel side, up.
#
# Our stack answers as 192.0.2.2 on the far side of the device. With --nat
# the host also forwards and masquerades 192.0.2.0/24, so the stack can reach
# other networks through the kernel. Safe to run again: every step checks
# first. Undo everything with scripts/teardown-tun.sh.
set -euo pipefail

prog=$(basename "$0")
dev=tun0
addr=192.0.2.1/24
net=192.0.2.0/24
txqueuelen=10000
nat=0
state_dir=${RINGTCP_TUN_STATE_DIR:-/run/ringtcp-tun}

usage() {
	cat <<EOF
Usage: sudo $prog [--nat] [--dev NAME]

Create the persistent TUN device NAME (default tun0) for user
\${SUDO_USER:-\$USER}, with txqueuelen $txqueuelen and address $addr, and
bring it up. Running it again changes nothing.

  --nat         also enable net.ipv4.ip_forward and masquerade $net
                (iptables if installed, else nft). A FORWARD policy of DROP
                (e.g. set by Docker) still needs its own ACCEPT rules.
  --dev NAME    use interface NAME instead of tun0 (at most 15 bytes)
  -h, --help    show this help

Undo with: sudo scripts/teardown-tun.sh [--dev NAME]
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

orig_args="$*"
while (($# > 0)); do
	case $1 in
	--nat) nat=1 ;;
	--dev)
		(($# >= 2)) || die "--dev needs an interface name (see --help)"
		dev=$2
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "$prog: unknown argument: $1" >&2
		usage >&2
		exit 2
		;;
	esac
	shift
done

((${#dev} >= 1 && ${#dev} <= 15)) || die "interface name must be 1 to 15 bytes: $dev"
((EUID == 0)) || die "must run as root (try: sudo $0${orig_args:+ $orig_args})"
command -v ip >/dev/null || die "the 'ip' command is missing (install iproute2)"
[[ -e /dev/net/tun ]] || modprobe tun 2>/dev/null || true
[[ -e /dev/net/tun ]] || die "/dev/net/tun is missing (load the tun module: modprobe tun)"

# Pick the NAT tool before changing anything.
nat_tool=
if ((nat)); then
	if command -v iptables >/dev/null; then
		nat_tool=iptables
	elif command -v nft >/dev/null; then
		nat_tool=nft
	else
		die "--nat needs iptables or nft, and neither is installed"
	fi
fi

owner=${SUDO_USER:-${USER:-$(id -un)}}
id -u "$owner" >/dev/null 2>&1 || die "unknown user: $owner"

if ip link show dev "$dev" >/dev/null 2>&1; then
	details=$(ip -details link show dev "$dev")
	[[ $details == *"tun type tun"* ]] ||
		die "$dev exists but is not a TUN device in tun mode; remove it or pick another --dev"
	want_uid=$(id -u "$owner")
	if [[ $details =~ user\ ([^[:space:]]+) ]]; then
		have=${BASH_REMATCH[1]}
		if [[ $have != "$owner" && $have != "$want_uid" ]]; then
			die "$dev already exists for user $have, not $owner; run scripts/teardown-tun.sh --dev $dev first"
		fi
	fi
	echo "$prog: $dev already exists"
else
	ip tuntap add dev "$dev" mode tun user "$owner"
	echo "$prog: created $dev for user $owner"
fi

ip link set dev "$dev" txqueuelen "$txqueuelen"
ip addr replace "$addr" dev "$dev"
ip link set dev "$dev" up
echo "$prog: $dev is up with $addr (the stack answers as 192.0.2.2)"

if ((nat)); then
	mkdir -p "$state_dir"
	# Remember the forwarding setting we found, once, for teardown.
	if [[ ! -e $state_dir/ip_forward ]]; then
		cat /proc/sys/net/ipv4/ip_forward >"$state_dir/ip_forward"
	fi
	echo 1 >/proc/sys/net/ipv4/ip_forward

	if [[ $nat_tool == iptables ]]; then
		rule=(POSTROUTING -s "$net" ! -o "$dev" -j MASQUERADE)
		if ! iptables -t nat -C "${rule[@]}" 2>/dev/null; then
			iptables -t nat -A "${rule[@]}"
		fi
		echo "$dev" >"$state_dir/iptables-dev"
	elif ! nft list table ip ringtcp >/dev/null 2>&1; then
		nft -f - <<EOF
table ip ringtcp {
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		ip saddr $net oifname != "$dev" masquerade
	}
}
EOF
	fi
	echo "$prog: forwarding on, $net masqueraded ($nat_tool)"
fi
