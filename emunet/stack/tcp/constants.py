"""TCP's states and constants: ``include/net/tcp_states.h`` and ``include/net/tcp.h``,
and the ``net.ipv4.tcp_*`` sysctls with their defaults (``Documentation/networking/
ip-sysctl.rst``)."""
from emunet.sim import MS, S, US

# -- states (``include/net/tcp_states.h``) ---------------------------------------
CLOSED = "CLOSED"
LISTEN = "LISTEN"
SYN_SENT = "SYN_SENT"
SYN_RECV = "SYN_RECV"
ESTABLISHED = "ESTABLISHED"
FIN_WAIT_1 = "FIN_WAIT_1"
FIN_WAIT_2 = "FIN_WAIT_2"
CLOSE_WAIT = "CLOSE_WAIT"
CLOSING = "CLOSING"
LAST_ACK = "LAST_ACK"
TIME_WAIT = "TIME_WAIT"
SYNCHRONISED = (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK)

# -- constants (``include/net/tcp.h``) --------------------------------------------
TCP_TIMEOUT_INIT = 1 * S
TCP_RTO_MIN = 200 * MS
TCP_RTO_MAX = 120 * S
TCP_TIMEWAIT_LEN = 60 * S
TCP_DELACK_MIN = 40 * MS
TCP_ATO_MIN = 40 * MS
TCP_INIT_CWND = 10
TCP_MAX_QUICKACKS = 16
TCP_MSS_DEFAULT = 536
TCP_MAX_WSCALE = 14
TCPOLEN_TSTAMP_ALIGNED = 12
#: the time between a segment reaching a socket and its process running (a wake-up)
APP_WAKEUP_NS = 10 * US
#: what a received skb costs beyond its payload (headers, ``skb_shared_info``, slack):
#: ``tcp_grow_window`` widens the window only for segments at least this large, which
#: is what the kernel showed (1448-byte segments grow it, 615-byte ones do not)
SKB_OVERHEAD = 704
#: ``CONFIG_HZ`` of the reference kernel (6.18 here, and most distributions' default):
#: the rate limits count in jiffies, ``tcp_jiffies32``
HZ = 250
JIFFY_NS = S // HZ
#: ``INT_MAX``: ``tcp_challenge_ack_limit``'s default since 6.0 (no per-netns limit)
INT_MAX = 0x7FFFFFFF

DEFAULT_SYSCTLS = {
    "net.ipv4.tcp_rmem": (4096, 131072, 6291456),
    "net.core.rmem_max": 212992,
    "net.ipv4.tcp_timestamps": 1,
    "net.ipv4.tcp_sack": 1,
    "net.ipv4.tcp_window_scaling": 1,
    "net.ipv4.tcp_syn_retries": 6,
    "net.ipv4.tcp_synack_retries": 5,
    "net.ipv4.tcp_syn_linear_timeouts": 0,
    "net.ipv4.tcp_retries2": 15,
    "net.ipv4.tcp_orphan_retries": 0,
    "net.ipv4.tcp_fin_timeout": 60,
    "net.ipv4.tcp_pingpong_thresh": 1,
    "net.ipv4.ip_local_port_range": (32768, 60999),
    #: ms between two ACKs a socket sends to out-of-window segments (``tcp_oow_rate_limited``)
    "net.ipv4.tcp_invalid_ratelimit": 500,
    #: challenge ACKs a namespace sends per second; ``INT_MAX``: no limit beyond the socket's
    "net.ipv4.tcp_challenge_ack_limit": INT_MAX,
}


def msecs_to_jiffies(ms: int) -> int:
    """``msecs_to_jiffies``: rounded up, as ``proc_dointvec_ms_jiffies`` stores a sysctl."""
    return -(-int(ms) * HZ // 1000)
