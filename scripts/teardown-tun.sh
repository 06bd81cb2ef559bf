#!/usr/bin/env bash
# Undo scripts/setup-tun.sh: remove the persistent TUN device, the
# masquerade rule (iptables or nft) and restore net.ipv4.ip_forward to what
# it was before --nat. Safe to run again, or when nothing was set up.
set -euo pipefail

prog=$(basename "$0")
dev=tun0
net=192.0.2.0/24
state_dir=${RINGTCP_TUN_STATE_DIR:-/run/ringtcp-tun}

usage() {
	cat <<EOF
Usage: sudo $prog [--dev NAME]

Remove the TUN device NAME (default tun0) made by setup-tun.sh and, if
setup-tun.sh --nat ran, its masquerade rule for $net, and restore the
previous net.ipv4.ip_forward setting. Missing pieces are skipped.

  --dev NAME    the interface given to setup-tun.sh --dev
  -h, --help    show this help
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

orig_args="$*"
while (($# > 0)); do
	case $1 in
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

if ip link show dev "$dev" >/dev/null 2>&1; then
	[[ $(ip -details link show dev "$dev") == *"tun type tun"* ]] ||
		die "$dev is not a TUN device; not removing it"
	# Clears the persist flag; the device goes once no program holds it open.
	ip tuntap del dev "$dev" mode tun
	echo "$prog: removed $dev"
else
	echo "$prog: $dev does not exist"
fi

if command -v iptables >/dev/null; then
	rule_dev=$dev
	if [[ -r $state_dir/iptables-dev ]]; then
		rule_dev=$(<"$state_dir/iptables-dev")
	fi
	rule=(POSTROUTING -s "$net" ! -o "$rule_dev" -j MASQUERADE)
	while iptables -t nat -C "${rule[@]}" 2>/dev/null; do
		iptables -t nat -D "${rule[@]}"
		echo "$prog: removed the iptables masquerade rule for $net"
	done
fi
if command -v nft >/dev/null && nft list table ip ringtcp >/dev/null 2>&1; then
	nft delete table ip ringtcp
	echo "$prog: removed nft table ip ringtcp"
fi

if [[ -r $state_dir/ip_forward ]]; then
	before=$(<"$state_dir/ip_forward")
	echo "$before" >/proc/sys/net/ipv4/ip_forward
	echo "$prog: net.ipv4.ip_forward restored to $before"
fi
rm -f -- "$state_dir/ip_forward" "$state_dir/iptables-dev"
if [[ -d $state_dir ]]; then
	rmdir -- "$state_dir" 2>/dev/null || true
fi
