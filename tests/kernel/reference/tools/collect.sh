#!/bin/bash
# Builds the docker0-like reference topology in network namespaces, runs the
# scenarios and saves real-kernel ground truth into the parent directory.
# Requires root, iproute2, net-tools, tcpdump, tshark, curl, iputils-ping,
# bridge-utils, ethtool, python3.  Namespaces: emuref-host, emuref-c1,
# emuref-c2 (+ emuref-igmp-h / emuref-igmp-c for the link-up scenario).
# All namespaces and /etc/netns/emuref-* are removed on exit.
set -u
REF="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$REF/tools"
OUT="$REF"
H=emuref-host; C1=emuref-c1; C2=emuref-c2
IH=emuref-igmp-h; IC=emuref-igmp-c
ALLNS="$H $C1 $C2 $IH $IC"
TCPDUMP_PIDS=()

cleanup() {
    for p in "${TCPDUMP_PIDS[@]:-}"; do [ -n "$p" ] && kill -INT "$p" 2>/dev/null; done
    sleep 0.3
    for ns in $ALLNS; do ip netns del $ns 2>/dev/null; done
    for ns in $ALLNS; do rm -rf /etc/netns/$ns; done
    rmdir /etc/netns 2>/dev/null
    rm -f /tmp/emuref_ready
    true
}
trap cleanup EXIT
cleanup

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# save <label> <command...> : exact stdout to $OUT/<label>_<cmd>.txt
save() {
    local label=$1; shift
    local ns
    case $label in host) ns=$H;; c1) ns=$C1;; c2) ns=$C2;; esac
    local cmd="$*"
    local fname="${label}_$(echo "$cmd" | sed -e 's/[^A-Za-z0-9]\+/_/g' -e 's/^_//' -e 's/_$//').txt"
    ip netns exec "$ns" sh -c "$cmd" > "$OUT/$fname" 2> "$OUT/$fname.stderr"
    local rc=$?
    [ -s "$OUT/$fname.stderr" ] || rm -f "$OUT/$fname.stderr"
    printf '%-45s rc=%d  [%s] %s\n' "$fname" "$rc" "$label" "$cmd" >> "$OUT/commands_index.txt"
}

# cap_start <ns> <iface> <file.pcap>
cap_start() {
    local ns=$1 ifc=$2 f=$3
    local log="$OUT/.tcpdump_${f//\//_}.log"
    ip netns exec "$ns" tcpdump -i "$ifc" -U -n --immediate-mode -Z root -w "$OUT/$f" > "$log" 2>&1 &
    TCPDUMP_PIDS+=($!)
    for i in $(seq 50); do grep -q listening "$log" 2>/dev/null && break; sleep 0.1; done
}
cap_stop_all() {
    sleep 1.5
    for p in "${TCPDUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    for p in "${TCPDUMP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    TCPDUMP_PIDS=()
    for l in "$OUT"/.tcpdump_*.log; do [ -e "$l" ] || continue; echo "== $(basename "$l")"; cat "$l"; done >> "$OUT/tcpdump_stderr.log"
    rm -f "$OUT"/.tcpdump_*.log
}
flush_neigh() { for ns in $H $C1 $C2; do ip -n $ns neigh flush all; done; }

mk_ns() {
    local ns=$1
    ip netns add $ns
    nsx $ns sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
    nsx $ns sysctl -q -w net.ipv6.conf.default.disable_ipv6=1
    nsx $ns sysctl -q -w net.ipv6.conf.lo.disable_ipv6=1
    # `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc: make name
    # lookups of `route`, `arp`, `netstat` (without -n) fail locally, with
    # no DNS packet at all (the output is the same as a failing DNS lookup)
    mkdir -p /etc/netns/$ns
    printf 'hosts: files\nnetworks: files\n' > /etc/netns/$ns/nsswitch.conf
    printf '127.0.0.1\tlocalhost\n' > /etc/netns/$ns/hosts
    : > /etc/netns/$ns/networks
    ip -n $ns link set lo up
}

decode_pcaps() {   # dir
    local p
    for p in "$1"/*.pcap; do
        tshark -r "$p" -V -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE > "${p%.pcap}.txt" 2>/dev/null
        tshark -r "$p" -x > "${p%.pcap}.hex.txt" 2>/dev/null
        tshark -r "$p" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
            -T fields -E header=y -E separator='|' -e frame.number -e frame.time_relative -e frame.len \
            -e eth.src -e eth.dst -e ip.src -e ip.dst -e ip.id -e ip.flags.df -e ip.ttl -e ip.dsfield -e ip.len \
            -e tcp.flags.str -e tcp.seq_raw -e tcp.ack_raw -e tcp.window_size_value -e tcp.len -e tcp.options \
            -e tcp.checksum.status -e udp.checksum.status -e _ws.col.Protocol -e _ws.col.Info \
            > "${p%.pcap}.summary.txt" 2>/dev/null
    done
}

###########################################################################
# 0. link-up noise: what a bridge emits when it comes up with a port
#    (separate namespaces; a real docker0 comes up long before containers)
###########################################################################
mk_ns $IH; mk_ns $IC
ip -n $IH link add docker0 type bridge
ip -n $IH link set docker0 address 02:42:2e:8d:21:d6
ip -n $IH addr add 172.17.0.1/16 brd + dev docker0
ip -n $IH link add veth1a2b3c4 type veth peer name vethtmp
ip -n $IH link set vethtmp netns $IC
ip -n $IC link set vethtmp name eth0
ip -n $IC link set eth0 address 02:42:ac:11:00:07
ip -n $IC addr add 172.17.0.7/16 brd + dev eth0
ip -n $IC link set eth0 up
ip -n $IH link set veth1a2b3c4 master docker0
ip -n $IH link set veth1a2b3c4 up
sleep 1
cap_start $IC eth0 linkup_c1_eth0.pcap
ip -n $IH link set docker0 up
sleep 4
cap_stop_all
ip -n $IH -s link show docker0 > "$OUT/linkup_host_ip_s_link_show_docker0.txt"
ip -n $IH maddr show dev docker0 > "$OUT/linkup_host_ip_maddr_show_dev_docker0.txt"
ip netns del $IH; ip netns del $IC

###########################################################################
# topology
###########################################################################
for ns in $H $C1 $C2; do mk_ns $ns; done
nsx $H sysctl -q -w net.ipv4.ip_forward=1

ip -n $H link add docker0 type bridge
ip -n $H link set docker0 address 02:42:2e:8d:21:d6
ip -n $H addr add 172.17.0.1/16 brd + dev docker0
ip -n $H link set docker0 up
sleep 3   # let docker0's own link-up IGMP reports (see scenario 0) go out before any port exists

mk_container() {   # ns hostveth tmpname mac ip
    local ns=$1 hv=$2 tmp=$3 mac=$4 ip4=$5
    ip -n $H link add $hv type veth peer name $tmp
    ip -n $H link set $tmp netns $ns
    ip -n $ns link set $tmp name eth0
    ip -n $ns link set eth0 address $mac
    ip -n $ns addr add $ip4/16 brd + dev eth0
    ip -n $ns link set eth0 up
    ip -n $ns route add default via 172.17.0.1
    ip -n $H link set $hv master docker0
    ip -n $H link set $hv up
}
mk_container $C1 veth1a2b3c4 vethtmpc1 02:42:ac:11:00:07 172.17.0.7
mk_container $C2 veth5d6e7f8 vethtmpc2 02:42:ac:11:00:08 172.17.0.8
sleep 2

{
  echo "uname -r: $(uname -r)"
  echo "uname -a: $(uname -a)"
  echo "ip -V: $(ip -V)"
  echo "ping -V: $(ping -V | head -1)"
  echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
  echo "tshark: $(tshark -v 2>/dev/null | head -1)"
  echo "curl: $(curl --version | head -1)"
  echo "python3: $(python3 --version)"
  echo "net-tools: $(ifconfig --version 2>&1 | head -1)"
  echo "bridge-utils: $(brctl -V 2>&1 | head -1)"
  echo "ethtool -k eth0 (c1), tx-checksumming: $(nsx $C1 ethtool -k eth0 | grep tx-checksumming)"
  echo "date: $(date -u +%FT%TZ)"
} > "$OUT/env.txt"

###########################################################################
# scenario functions; $1 = file prefix ("" or "txcsumoff/")
###########################################################################
scen_ping() {
    local P=$1
    flush_neigh
    cap_start $H docker0 ${P}docker0.pcap
    cap_start $C1 eth0 ${P}c1_eth0.pcap
    cap_start $C2 eth0 ${P}c2_eth0.pcap
    cap_start $H lo ${P}host_lo.pcap
    cap_start $C1 lo ${P}c1_lo.pcap
    nsx $C1 ping -c 1 172.17.0.8 > "$OUT/${P}c1_ping.txt" 2> "$OUT/${P}c1_ping.stderr.txt"
    echo "rc=$?" > "$OUT/${P}c1_ping.rc.txt"
    nsx $C1 ip neigh > "$OUT/${P}c1_ip_neigh_right_after_ping.txt"
    nsx $C2 ip neigh > "$OUT/${P}c2_ip_neigh_right_after_ping.txt"
    sleep 7     # delayed unicast ARP probe from c2 (delay_first_probe_time=5s)
    cap_stop_all
    nsx $C2 ip neigh > "$OUT/${P}c2_ip_neigh_after_probe.txt"
}

scen_udp() {
    local P=$1
    flush_neigh
    cap_start $H docker0 ${P}udp_docker0.pcap
    cap_start $C1 eth0 ${P}udp_c1_eth0.pcap
    nsx $C1 python3 "$TOOLS/udp_send.py" > "$OUT/${P}udp_c1_udp_send.txt" 2>&1
    cap_stop_all
}

scen_tcp_http() {   # prefix name mode
    local P=$1 N=$2 MODE=$3
    flush_neigh
    cap_start $H docker0 ${P}${N}_docker0.pcap
    cap_start $C1 eth0 ${P}${N}_c1_eth0.pcap
    rm -f /tmp/emuref_ready
    nsx $C2 python3 "$TOOLS/http_server.py" /tmp/emuref_ready $MODE > "$OUT/${P}${N}_c2_http_server.txt" 2>&1 &
    local SRV=$!
    for i in $(seq 50); do [ -f /tmp/emuref_ready ] && break; sleep 0.1; done
    nsx $C2 ss -ltn > "$OUT/${P}${N}_c2_ss_ltn.txt"
    nsx $C1 curl -s http://172.17.0.8/ > "$OUT/${P}${N}_c1_curl.txt" 2> "$OUT/${P}${N}_c1_curl.stderr.txt"
    echo "rc=$?" > "$OUT/${P}${N}_c1_curl.rc.txt"
    wait $SRV
    nsx $C1 ss -tan > "$OUT/${P}${N}_c1_ss_tan_after.txt"
    nsx $C2 ss -tan > "$OUT/${P}${N}_c2_ss_tan_after.txt"
    cap_stop_all
    rm -f /tmp/emuref_ready
}

scen_tcp() {
    local P=$1
    scen_tcp_http "$P" tcp server-close
    scen_tcp_http "$P" tcpcc client-close

    flush_neigh
    cap_start $H docker0 ${P}tcprst_docker0.pcap
    nsx $C1 curl -s http://172.17.0.8:81/ > "$OUT/${P}tcprst_c1_curl_s.txt" 2>&1; echo "rc=$?" > "$OUT/${P}tcprst_c1_curl_s.rc.txt"
    nsx $C1 curl -sS http://172.17.0.8:81/ > "$OUT/${P}tcprst_c1_curl_sS.txt" 2>&1
    nsx $C1 python3 -c '
import socket
s=socket.socket(); s.settimeout(3)
try:
    s.connect(("172.17.0.8",81))
except OSError as e:
    print("errno=%d %r" % (e.errno, str(e)))
' > "$OUT/${P}tcprst_c1_python_connect.txt" 2>&1
    cap_stop_all
}

: > "$OUT/tcpdump_stderr.log"
: > "$OUT/commands_index.txt"

###########################################################################
# 1. ping c1 -> c2 (cold caches)
###########################################################################
scen_ping ""

###########################################################################
# 2. show commands (right after scenario 1)
###########################################################################
for c in "ip addr" "ip -s link" "ip route" "ip route get 172.17.0.8" "ip route get 8.8.8.8" \
         "ip route show table local" "ip neigh" "ifconfig" "ifconfig -a" "route" "route -n" \
         "arp" "arp -n" "netstat -rn"; do
    save c1 "$c"
done
for c in "ip addr" "ip link" "ip route" "bridge fdb show" "bridge link" "brctl show" "ip neigh" \
         "ifconfig" "ip -d link show docker0"; do
    save host "$c"
done
# extras
for c in "ip addr" "ip neigh" "ip route"; do save c2 "$c"; done
for c in "ip -d link show eth0" "ip -4 addr show dev eth0" "ip -o addr" "ip -br addr" "ip -br link" \
         "ip link" "ip -s neigh" "netstat -i" "netstat -rne" "route -ne" "cat /proc/net/arp" \
         "cat /proc/net/route" "cat /proc/net/dev" "ip route show table all" "ip rule"; do
    save c1 "$c"
done
for c in "ip -s link" "brctl showmacs docker0" "ip route show table local" "bridge -d link" \
         "bridge fdb show br docker0" "ip -d link show veth1a2b3c4" "ip -br link" "ip maddr" \
         "arp -n" "netstat -rn"; do
    save host "$c"
done

# "docker view": real docker does not name container netns in /run/netns, so
# iproute2 prints "link-netnsid N" instead of "link-netns NAME".  Reproduce by
# hiding /run/netns in a private mount namespace.
save_nsid() {
    local label=$1; shift
    local ns
    case $label in host) ns=$H;; c1) ns=$C1;; c2) ns=$C2;; esac
    local cmd="$*"
    local fname="${label}_$(echo "$cmd" | sed -e 's/[^A-Za-z0-9]\+/_/g' -e 's/^_//' -e 's/_$//').linknetnsid.txt"
    ip netns exec "$ns" unshare -m sh -c "mount -t tmpfs none /run/netns && $cmd" > "$OUT/$fname" 2> "$OUT/$fname.stderr"
    local rc=$?
    [ -s "$OUT/$fname.stderr" ] || rm -f "$OUT/$fname.stderr"
    printf '%-45s rc=%d  [%s, /run/netns hidden] %s\n' "$fname" "$rc" "$label" "$cmd" >> "$OUT/commands_index.txt"
}
for c in "ip addr" "ip link" "ip -s link" "ip -d link show eth0"; do save_nsid c1 "$c"; done
for c in "ip addr" "ip link" "ip -d link show veth1a2b3c4"; do save_nsid host "$c"; done
save_nsid c2 "ip addr"

###########################################################################
# 3. ping an address nobody has
###########################################################################
flush_neigh
cap_start $H docker0 arpfail_docker0.pcap
cap_start $C1 eth0 arpfail_c1_eth0.pcap
cap_start $C1 lo arpfail_c1_lo.pcap
nsx $C1 python3 -c '
import subprocess, sys, time
t = time.monotonic()
p = subprocess.run(["ping", "-c", "1", "-W", "5", "172.17.0.99"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
el = time.monotonic() - t
open(sys.argv[1], "wb").write(p.stdout)
sys.stderr.write("rc=%d elapsed=%.3fs stderr=%r\n" % (p.returncode, el, p.stderr.decode()))
' "$OUT/arpfail_c1_ping.txt" 2> "$OUT/arpfail_c1_ping.rc_and_time.txt" &
PINGPID=$!
sleep 0.5
nsx $C1 ip neigh          > "$OUT/arpfail_c1_ip_neigh_at_0.5s.txt"
nsx $C1 arp -n            > "$OUT/arpfail_c1_arp_n_at_0.5s.txt"
nsx $C1 arp               > "$OUT/arpfail_c1_arp_at_0.5s.txt"
nsx $C1 cat /proc/net/arp > "$OUT/arpfail_c1_proc_net_arp_at_0.5s.txt"
wait $PINGPID
nsx $C1 ip neigh          > "$OUT/arpfail_c1_ip_neigh_after.txt"
nsx $C1 ip -s neigh       > "$OUT/arpfail_c1_ip_s_neigh_after.txt"
nsx $C1 arp -n            > "$OUT/arpfail_c1_arp_n_after.txt"
nsx $C1 cat /proc/net/arp > "$OUT/arpfail_c1_proc_net_arp_after.txt"
cap_stop_all
# 3b. three echo requests 1 s apart to the same dead address (queued behind one resolution)
flush_neigh
cap_start $C1 eth0 arpfail3_c1_eth0.pcap
cap_start $C1 lo arpfail3_c1_lo.pcap
nsx $C1 ping -c 3 -W 2 172.17.0.99 > "$OUT/arpfail3_c1_ping_c3_W2.txt" 2>&1; echo "rc=$?" > "$OUT/arpfail3_c1_ping_c3_W2.rc.txt"
nsx $C1 ip neigh > "$OUT/arpfail3_c1_ip_neigh_after.txt"
# 3c. again, while the entry is FAILED (does it re-resolve? how fast does the error come?)
nsx $C1 ping -c 1 -W 5 172.17.0.99 > "$OUT/arpfail3_c1_ping_again_while_failed.txt" 2>&1
nsx $C1 ip neigh > "$OUT/arpfail3_c1_ip_neigh_after_again.txt"
cap_stop_all

###########################################################################
# 4. UDP to a closed port
###########################################################################
scen_udp ""

###########################################################################
# 5. TCP
###########################################################################
scen_tcp ""

###########################################################################
# 5b. same ping/UDP/TCP with TX checksum offload disabled in the containers,
#     so that TCP/UDP checksums on the wire are complete (see FINDINGS)
###########################################################################
mkdir -p "$OUT/txcsumoff"
nsx $C1 ethtool -K eth0 tx off > /dev/null 2>&1
nsx $C2 ethtool -K eth0 tx off > /dev/null 2>&1
nsx $C1 ethtool -k eth0 > "$OUT/txcsumoff/c1_ethtool_k_eth0.txt"
scen_ping "txcsumoff/"
scen_udp "txcsumoff/"
scen_tcp "txcsumoff/"
nsx $C1 ethtool -K eth0 tx on > /dev/null 2>&1
nsx $C2 ethtool -K eth0 tx on > /dev/null 2>&1

###########################################################################
# 6. bind conflicts (host ns)
###########################################################################
nsx $H python3 "$TOOLS/bind_conflict.py" > "$OUT/host_bind_conflict.txt" 2>&1

###########################################################################
# 7. sysctls
###########################################################################
{
  echo "# /proc/sys/net/ipv4/neigh/default/* exists only in the initial netns; read there:"
  for f in /proc/sys/net/ipv4/neigh/default/*; do printf '%s = %s\n' "$f" "$(tr '\t' ' ' < $f)"; done
  echo
  echo "# container netns $C1: /proc/sys/net/ipv4/neigh/ has: $(nsx $C1 ls /proc/sys/net/ipv4/neigh/ | tr '\n' ' ')"
  nsx $C1 sh -c 'for f in /proc/sys/net/ipv4/neigh/eth0/* /proc/sys/net/ipv4/icmp_*; do printf "%s = %s\n" "$f" "$(tr "\t" " " < $f)"; done'
  for k in net.ipv4.ip_local_port_range net.ipv4.ip_default_ttl net.ipv4.ip_forward \
           net.ipv4.tcp_timestamps net.ipv4.tcp_window_scaling net.ipv4.tcp_sack \
           net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.ipv4.tcp_syn_retries net.ipv4.tcp_synack_retries \
           net.ipv4.tcp_ecn net.ipv4.tcp_fin_timeout net.core.rmem_default net.core.rmem_max net.core.wmem_default \
           net.ipv4.ip_no_pmtu_disc net.ipv4.conf.all.arp_announce net.ipv4.conf.all.arp_ignore \
           net.ipv4.conf.eth0.arp_announce net.ipv4.conf.eth0.rp_filter net.ipv4.conf.all.rp_filter \
           net.ipv4.ping_group_range net.ipv4.tcp_base_mss net.ipv4.tcp_mtu_probing \
           net.ipv4.igmp_max_memberships net.ipv4.conf.eth0.force_igmp_version; do
      nsx $C1 sysctl $k
  done
  echo
  echo "# host netns $H"
  nsx $H sysctl net.ipv4.ip_forward net.ipv4.ip_local_port_range
  nsx $H sh -c 'for f in /proc/sys/net/ipv4/neigh/docker0/*; do printf "%s = %s\n" "$f" "$(tr "\t" " " < $f)"; done'
  echo
  echo "# initial netns (for comparison)"
  sysctl net.ipv4.tcp_rmem net.ipv4.ip_local_port_range
} > "$OUT/sysctls.txt" 2>&1

###########################################################################
# decode pcaps
###########################################################################
decode_pcaps "$OUT"
decode_pcaps "$OUT/txcsumoff"
echo DONE
