#!/usr/bin/env bash
# Usage: launch/two-hosts.sh [--rate RATE] [--ranks-per-host K] [--] PROGRAM [ARGS...]
#
# Runs `mpirun -np 2K PROGRAM ARGS` across two "hosts" made on this machine: two network
# namespaces joined by a veth pair on a private subnet (10.216.16.1 and 10.216.16.2), so the
# ranks talk over TCP as on two nodes of a cluster instead of through shared memory. K ranks
# (default 1) run in each. mpirun starts in the first namespace with a hostfile of both
# addresses and reaches the second through an rsh agent that runs the command there with
# `ip netns exec`; only OpenMPI's TCP transport is used, on the pair's subnet. --rate gives
# the link a bandwidth (tc's tbf on each end: 1gbit, 100mbit, ...; default unlimited).
#   launch/two-hosts.sh --rate 1gbit .build/release/rnn-dist configs/berkshire.json
#
# Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip` and `tc`. Where network
# namespaces cannot be made it says so in one line and exits 77 (the tests skip then).
# SIGTERM, SIGINT or SIGUSR1 to this script reach the ranks as SIGUSR1 (a clean stop with a
# checkpoint, as with launch/mpirun.sh); the namespaces are deleted whatever happens (but a
# SIGKILL of this script), and the script exits with mpirun's status. Both hosts see the same
# file system, so PROGRAM and its files are at the same paths on both, as on a cluster with a
# shared file system. The second host's address is printed on stderr first: failures there
# are reported under that name.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
rate=""
per_host=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) [ $# -ge 2 ] || usage; rate=$2; shift 2 ;;
        --ranks-per-host) [ $# -ge 2 ] || usage; per_host=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) usage ;;
        -*) echo "two-hosts.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
case "$per_host" in ''|*[!0-9]*|0) echo "two-hosts.sh: --ranks-per-host must be a positive integer (got '$per_host')" >&2; exit 2 ;; esac
command -v mpirun >/dev/null 2>&1 || { echo "two-hosts.sh: mpirun not found (Debian: apt-get install -y openmpi-bin libopenmpi-dev)" >&2; exit 2; }
for tool in ip tc; do
    command -v "$tool" >/dev/null 2>&1 || { echo "two-hosts.sh: '$tool' not found (Debian: apt-get install -y iproute2); cannot make two hosts here" >&2; exit 77; }
done

# Unique names, so that concurrent runs (two CI jobs, a test beside a benchmark) never collide:
# the namespaces and their interfaces live apart, so every pair may use the same subnet.
suffix=$(printf '%x%04x' $$ $((RANDOM)))
ns_a="rnnd-a-$suffix" ns_b="rnnd-b-$suffix"
dev_a="rda$suffix" dev_b="rdb$suffix"
dev_a=${dev_a:0:15} dev_b=${dev_b:0:15}   # interface names have at most 15 characters
addr_a=10.216.16.1 addr_b=10.216.16.2 subnet=10.216.16.0/24
scratch=$(mktemp -d "${TMPDIR:-/tmp}/two-hosts.XXXXXX")

cleanup() {
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

if ! error=$(ip netns add "$ns_a" 2>&1); then
    echo "two-hosts.sh: cannot make network namespaces here (ip netns add: ${error:-not permitted}); needs root or CAP_SYS_ADMIN" >&2
    exit 77
fi
ip netns add "$ns_b"
ip link add "$dev_a" netns "$ns_a" type veth peer name "$dev_b" netns "$ns_b"
ip -n "$ns_a" addr add "$addr_a/24" dev "$dev_a"
ip -n "$ns_b" addr add "$addr_b/24" dev "$dev_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$dev_a" up
ip -n "$ns_b" link set "$dev_b" up
if [ -n "$rate" ]; then
    # A token bucket on each end's egress: the link's bandwidth in both directions. The burst
    # holds one 64 KB segment (what the kernel hands a veth at once, with offloads) and no more,
    # so that no transfer goes faster than the rate for long.
    for end in "$ns_a:$dev_a" "$ns_b:$dev_b"; do
        ip netns exec "${end%%:*}" tc qdisc add dev "${end#*:}" root tbf rate "$rate" burst 64kb latency 100ms
    done
fi

# OpenMPI's rsh launcher calls the agent as ssh: [options] HOST COMMAND...; the agent drops
# the options and runs the command in that host's namespace, in a shell as sshd would.
cat > "$scratch/agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do
    case "\$1" in
        -o|-p|-l|-i|-F|-E) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
host=\$1; shift
case "\$host" in
    $addr_a) ns=$ns_a ;;
    $addr_b) ns=$ns_b ;;
    *) echo "two-hosts agent: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
EOF
chmod +x "$scratch/agent"
printf '%s slots=%s\n%s slots=%s\n' "$addr_a" "$per_host" "$addr_b" "$per_host" > "$scratch/hostfile"

flags=(-np $((2 * per_host)) --hostfile "$scratch/hostfile" --map-by slot --bind-to none
       --mca plm_rsh_agent "$scratch/agent" --mca plm_rsh_no_tree_spawn 1
       --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
       --mca odls_base_sigkill_timeout "${OMPI_MCA_odls_base_sigkill_timeout:-3}")
if [ "$(id -u)" -eq 0 ]; then
    flags+=(--allow-run-as-root)
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # for the remote daemon too
fi
echo "two-hosts.sh: hosts $addr_a ($ns_a) and $addr_b ($ns_b), link ${rate:-unlimited}, $per_host rank(s) each" >&2

# shellcheck source=lib/forward-stops.sh
source "$(dirname "$0")/lib/forward-stops.sh"
run_forwarding_stops ip netns exec "$ns_a" mpirun "${flags[@]}" "$@"
